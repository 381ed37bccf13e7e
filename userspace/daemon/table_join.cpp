#include <xlb/daemon/table_join.h>
#include <xlb/ipvsadm/format.h>

#include <fmt/format.h>

#include <algorithm>

namespace xlb::daemon {

service_key listed_key(const service_state& s) {
    service_key k = s.config.key;
    if (!k.fwmark && s.fwmark) {
        k.fwmark = s.fwmark;
    }
    return k;
}

bool same_service(const service_key& a, const service_key& b) noexcept {
    if (a.is_fwmark() || b.is_fwmark()) {
        return a.fwmark == b.fwmark && a.vip.addr.af() == b.vip.addr.af();
    }
    return a.proto == b.proto && a.vip == b.vip;
}

std::string service_label(const service_key& k) {
    if (k.is_fwmark()) {
        return k.vip.addr.is_v4() ? fmt::format("FWM {}", k.fwmark) : fmt::format("FWM {} IPv6", k.fwmark);
    }
    return fmt::format("{} {}", to_string(k.proto), k.vip.to_string());
}

std::string protocol_label(const service_key& k) {
    if (k.is_fwmark()) {
        return "fwm";
    }
    switch (k.proto) {
    case protocol::udp: return "udp";
    case protocol::sctp: return "sctp";
    case protocol::tcp: break;
    }
    return "tcp";
}

namespace {

const service_view* find_view(const view& v, const service_key& k) {
    for (const auto& s : v.services) {
        if (same_service(s.key, k)) {
            return &s;
        }
    }
    return nullptr;
}

// The view's reals the table does not hold, appended in the view's order.
void add_view_only(joined_service& j) {
    if (!j.health) {
        return;
    }
    for (const auto& r : j.health->reals) {
        auto known = std::any_of(j.reals.begin(), j.reals.end(), [&](const joined_real& x) { return x.addr == r.addr; });
        if (!known) {
            j.reals.push_back({r.addr, &r, nullptr});
        }
    }
}

} // namespace

std::vector<joined_service> join_table(const view& v, const std::vector<service_state>& table) {
    // Sort pointers in ipvsadm's order without copying the table: sort a
    // copy, then find each sorted entry back by key.
    auto sorted = table;
    ipvsadm::sort_services(sorted);
    std::vector<joined_service> out;
    out.reserve(table.size() + v.services.size());
    for (const auto& s : sorted) {
        auto key = listed_key(s);
        auto it = std::find_if(table.begin(), table.end(),
                               [&](const service_state& t) { return same_service(listed_key(t), key); });
        if (it == table.end()) {
            continue;
        }
        joined_service j;
        j.key = key;
        j.table = &*it;
        j.health = find_view(v, key);
        // The sorted copy has the dests in ipvsadm's order; point at the originals.
        for (const auto& d : s.dests) {
            for (const auto& orig : it->dests) {
                if (orig.config.addr == d.config.addr) {
                    const real_server_view* h = nullptr;
                    if (j.health) {
                        for (const auto& r : j.health->reals) {
                            if (r.addr == d.config.addr) {
                                h = &r;
                                break;
                            }
                        }
                    }
                    j.reals.push_back({d.config.addr, h, &orig});
                    break;
                }
            }
        }
        add_view_only(j);
        out.push_back(std::move(j));
    }
    for (const auto& sv : v.services) {
        auto listed = std::any_of(out.begin(), out.end(), [&](const joined_service& j) {
            return same_service(j.key, sv.key);
        });
        if (listed) {
            continue;
        }
        joined_service j;
        j.key = sv.key;
        j.health = &sv;
        add_view_only(j);
        out.push_back(std::move(j));
    }
    return out;
}

} // namespace xlb::daemon
