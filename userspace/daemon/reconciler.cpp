#include <xlb/daemon/reconciler.h>

#include <xlb/util/log.h>

#include <algorithm>

namespace xlb::daemon {

namespace {

// The service flags xlbd sets; a backend may list others (hashed).
constexpr uint32_t managed_flags = XLB_IPVS_SVC_F_PERSISTENT | XLB_IPVS_SVC_F_ONEPACKET | XLB_IPVS_SVC_F_SCHED1 |
                                   XLB_IPVS_SVC_F_SCHED2 | XLB_IPVS_SVC_F_SCHED3;

bool same_service(const service_config& a, const service_config& b) {
    return a.sched == b.sched && (a.flags & managed_flags) == (b.flags & managed_flags) && a.timeout == b.timeout &&
           (!a.persistent() || a.netmask == b.netmask) && a.pe_name == b.pe_name;
}

bool same_dest(const dest_config& a, const dest_config& b) {
    if (a.fwd != b.fwd || a.weight != b.weight || a.u_threshold != b.u_threshold || a.l_threshold != b.l_threshold) {
        return false;
    }
    if (a.fwd != forwarding::tun) {
        return true;
    }
    return a.tunnel == b.tunnel && a.tun_port == b.tun_port && a.tun_flags == b.tun_flags;
}

const dest_state* find_dest(const service_state& s, const endpoint& addr) {
    auto it = std::find_if(s.dests.begin(), s.dests.end(),
                           [&](const dest_state& d) { return d.config.addr == addr; });
    return it == s.dests.end() ? nullptr : &*it;
}

sync_report count(const change_set& set) {
    sync_report r;
    r.changes = set.size();
    for (const auto& c : set) {
        switch (c.what) {
        case change::kind::add_service:
            ++r.services_added;
            break;
        case change::kind::edit_service:
            ++r.services_edited;
            break;
        case change::kind::del_service:
            ++r.services_deleted;
            break;
        case change::kind::add_dest:
            ++r.dests_added;
            break;
        case change::kind::edit_dest:
            ++r.dests_edited;
            break;
        case change::kind::del_dest:
            ++r.dests_deleted;
            break;
        default:
            break;
        }
    }
    return r;
}

} // namespace

result<> reconciler::refresh() {
    auto listed = _dp.list();
    if (!listed) {
        return listed.error();
    }
    _table.clear();
    for (auto& s : *listed) {
        auto key = s.config.key;
        _table.insert_or_assign(key, std::move(s));
    }
    return {};
}

const service_state* reconciler::find(const service_key& key) const {
    auto it = _table.find(key);
    return it == _table.end() ? nullptr : &it->second;
}

const dest_state* reconciler::find(const service_key& key, const endpoint& dest) const {
    const auto* s = find(key);
    return s ? find_dest(*s, dest) : nullptr;
}

void reconciler::diff_service(const desired_service& want, change_set& out) const {
    const auto& key = want.config.key;
    const service_state* have = find(key);
    if (!have) {
        out.push_back(change::add_service(want.config));
        for (const auto& d : want.dests) {
            out.push_back(change::add_dest(key, d));
        }
        return;
    }
    if (!same_service(have->config, want.config)) {
        out.push_back(change::edit_service(want.config));
    }
    // Deletions first: a dest that leaves and one that comes never meet
    // in a table at its size limit.
    for (const auto& d : have->dests) {
        const bool wanted = std::any_of(want.dests.begin(), want.dests.end(),
                                        [&](const dest_config& w) { return w.addr == d.config.addr; });
        if (!wanted && want.owned.contains(d.config.addr)) {
            out.push_back(change::del_dest(key, d.config.addr));
        }
    }
    for (const auto& d : want.dests) {
        const dest_state* cur = find_dest(*have, d.addr);
        if (!cur) {
            out.push_back(change::add_dest(key, d));
        } else if (!same_dest(cur->config, d)) {
            out.push_back(change::edit_dest(key, d));
        }
    }
}

change_set reconciler::diff(const std::vector<desired_service>& want, const std::vector<service_key>& remove) const {
    change_set out;
    for (const auto& key : remove) {
        if (find(key)) {
            out.push_back(change::del_service(key));
        }
    }
    for (const auto& w : want) {
        diff_service(w, out);
    }
    return out;
}

void reconciler::record(const change_set& applied) {
    for (const auto& c : applied) {
        const auto& key = c.service.key;
        switch (c.what) {
        case change::kind::add_service: {
            service_state s;
            s.config = c.service;
            s.fwmark = key.fwmark;
            _table.insert_or_assign(key, std::move(s));
            break;
        }
        case change::kind::edit_service:
            _table.at(key).config = c.service;
            break;
        case change::kind::del_service:
            _table.erase(key);
            break;
        case change::kind::add_dest: {
            dest_state d;
            d.config = c.dest;
            auto& dests = _table.at(key).dests;
            dests.insert(dests.begin(), std::move(d)); // IPVS lists the newest first
            break;
        }
        case change::kind::edit_dest:
            for (auto& d : _table.at(key).dests) {
                if (d.config.addr == c.dest.addr) {
                    d.config = c.dest;
                }
            }
            break;
        case change::kind::del_dest:
            std::erase_if(_table.at(key).dests, [&](const dest_state& d) { return d.config.addr == c.dest.addr; });
            break;
        default:
            break;
        }
    }
}

result<sync_report> reconciler::sync(const std::vector<desired_service>& want, const std::vector<service_key>& remove) {
    for (int attempt = 0;; ++attempt) {
        change_set set = diff(want, remove);
        if (set.empty()) {
            return sync_report{};
        }
        auto applied = _dp.apply(set);
        if (applied) {
            record(set);
            return count(set);
        }
        const auto& e = applied.error();
        // The copy was wrong: somebody changed the table under xlbd.
        const int code = e.err.code;
        const bool stale = code == EEXIST || code == ESRCH || code == ENOENT;
        if (!stale || attempt > 0) {
            return error{code, fmt::format("{} (change {} of {})", e.err.context, e.index + 1, set.size())};
        }
        log::info("the table changed under xlbd ({}); reading it again", e.err.message());
        if (auto r = refresh(); !r) {
            return r.error();
        }
    }
}

} // namespace xlb::daemon
