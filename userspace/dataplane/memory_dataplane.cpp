#include <xlb/dataplane/memory_dataplane.h>
#include <xlb/model/validate.h>

#include "ipvs_checks.h"

#include <algorithm>
#include <string>
#include <utility>

namespace xlb {

namespace {

std::string service_name(const service_key& k) {
    if (k.is_fwmark()) {
        return fmt::format("service FWM {}{}", k.fwmark, k.vip.addr.is_v4() ? "" : " IPv6");
    }
    return fmt::format("service {} {}", to_string(k.proto), k.vip.to_string());
}

// IPVS finds a fwmark service by its family and mark alone
// (__ip_vs_svc_fwm_find()): the protocol, address and port play no part.
service_key canonical(const service_key& k) {
    if (!k.is_fwmark()) {
        return k;
    }
    return service_key{protocol::tcp, endpoint{ip_address(k.vip.addr.af(), {}), 0}, k.fwmark};
}

std::vector<dest_state>::iterator find_dest(std::vector<dest_state>& dests, const endpoint& addr) {
    // ip_vs_lookup_dest(): by family, address and port.
    return std::find_if(dests.begin(), dests.end(), [&](const dest_state& d) { return d.config.addr == addr; });
}

// ip_vs_zero_stats() and ip_vs_zero_estimator(): counters and rates restart.
template <class T>
void zero_counters(T& s) {
    s.stats = {};
    s.rate = {};
}

} // namespace

capabilities memory_capabilities() {
    capabilities c;
    c.backend = "memory";
    for (uint32_t i = 0; i < XLB_SCHED_MAX; ++i) {
        c.schedulers.push_back(static_cast<scheduler>(i));
    }
    c.methods = {forwarding::dr, forwarding::tun, forwarding::nat};
    c.protocols = {protocol::tcp, protocol::udp, protocol::sctp};
    c.tunnels = {tun_type::ipip, tun_type::gue, tun_type::gre};
    c.fwmark_services = true;
    c.persistence_engines = {"sip"};
    c.verdict_counters = false;
    c.rates = true;
    c.conn_listing = true;
    return c;
}

memory_dataplane::memory_dataplane() : memory_dataplane(memory_capabilities(), memory_limits{}) {}

memory_dataplane::memory_dataplane(capabilities caps, memory_limits limits)
    : _caps(std::move(caps)), _limits(limits) {}

void memory_dataplane::assign(std::vector<service_state> services, timeouts t) {
    table fresh;
    fresh.times = t;
    for (auto& s : services) {
        fresh.ndests += s.dests.size();
        s.config.key = canonical(s.config.key);
        auto key = s.config.key;
        fresh.services.insert_or_assign(key, entry{fresh.next_seq++, std::move(s)});
    }
    _table = std::move(fresh);
}

apply_result memory_dataplane::apply(const change_set& changes) {
    table next = _table;
    for (size_t i = 0; i < changes.size(); ++i) {
        if (auto r = step(next, changes[i]); !r) {
            return change_error{i, r.error()};
        }
    }
    _table = std::move(next);
    return {};
}

result<std::vector<service_state>> memory_dataplane::list() const {
    std::vector<const entry*> order;
    order.reserve(_table.services.size());
    for (const auto& [key, e] : _table.services) {
        order.push_back(&e);
    }
    std::sort(order.begin(), order.end(), [](const entry* a, const entry* b) { return a->seq < b->seq; });
    std::vector<service_state> out;
    out.reserve(order.size());
    for (const auto* e : order) {
        out.push_back(e->state);
    }
    return out;
}

const service_state* memory_dataplane::find(const service_key& key) const noexcept {
    auto it = _table.services.find(canonical(key));
    return it == _table.services.end() ? nullptr : &it->second.state;
}

result<> memory_dataplane::step(table& t, const change& given) const {
    change c = given;
    c.service.key = canonical(given.service.key);
    const auto& key = c.service.key;
    switch (c.what) {
    case change::kind::clear:
        // ip_vs_flush()
        t.services.clear();
        t.ndests = 0;
        return {};
    case change::kind::set_timeouts:
        // ip_vs_set_timeout(): a zero keeps the current value.
        if (c.set.tcp) {
            t.times.tcp = c.set.tcp;
        }
        if (c.set.tcp_fin) {
            t.times.tcp_fin = c.set.tcp_fin;
        }
        if (c.set.udp) {
            t.times.udp = c.set.udp;
        }
        return {};
    case change::kind::zero:
        if (c.all) {
            // ip_vs_zero_all()
            for (auto& [k, e] : t.services) {
                zero_counters(e.state);
                for (auto& d : e.state.dests) {
                    zero_counters(d);
                }
            }
            return {};
        }
        break;
    case change::kind::add_service:
        return do_add_service(t, c.service);
    default:
        break;
    }
    // ip_vs_genl_set_cmd(): everything below needs the service to exist.
    auto it = t.services.find(key);
    if (it == t.services.end()) {
        return make_error(ESRCH, "{}", service_name(key));
    }
    switch (c.what) {
    case change::kind::edit_service:
        return do_edit_service(t, c.service);
    case change::kind::del_service:
        t.ndests -= it->second.state.dests.size();
        t.services.erase(it);
        return {};
    case change::kind::add_dest:
        return do_add_dest(t, key, c.dest);
    case change::kind::edit_dest:
        return do_edit_dest(t, key, c.dest);
    case change::kind::del_dest:
        return do_del_dest(t, key, c.dest.addr);
    case change::kind::zero:
        // ip_vs_zero_service()
        zero_counters(it->second.state);
        for (auto& d : it->second.state.dests) {
            zero_counters(d);
        }
        return {};
    default:
        break;
    }
    return make_error(EINVAL, "unknown change");
}

result<> memory_dataplane::do_add_service(table& t, const service_config& s) const {
    if (t.services.contains(s.key)) {
        return make_error(EEXIST, "{}", service_name(s.key));
    }
    if (auto r = check_service_values(s, _caps); !r) {
        return r;
    }
    if (_limits.max_services && t.services.size() + _limits.outside_services >= _limits.max_services) {
        return make_error(ENOSPC, "all {} service slots are in use (xlbctl load --max-services)",
                          _limits.max_services);
    }
    entry e;
    e.seq = t.next_seq++;
    e.state.config = s;
    e.state.fwmark = s.key.fwmark;
    t.services.emplace(s.key, std::move(e));
    return {};
}

result<> memory_dataplane::do_edit_service(table& t, const service_config& s) const {
    auto& st = t.services.at(s.key).state;
    if (auto r = check_service_values(s, _caps); !r) {
        return r;
    }
    // A scheduler that holds fewer dests than the service has cannot take it.
    if (uint32_t most = _caps.max_dests(s.sched); most && st.dests.size() > most) {
        return make_error(ENOSPC, "a service has at most {} dests", most);
    }
    st.config = s;
    return {};
}

result<> memory_dataplane::do_add_dest(table& t, const service_key& key, const dest_config& d) const {
    auto& st = t.services.at(key).state;
    if (auto r = check_dest_values(key, d, _caps); !r) {
        return r;
    }
    if (find_dest(st.dests, d.addr) != st.dests.end()) {
        return make_error(EEXIST, "destination {}", d.addr.to_string());
    }
    // ip_vs_new_dest(): the address must be one IPVS can send to.
    if (auto r = check_dest_address(key, d); !r) {
        return r;
    }
    if (uint32_t most = _caps.max_dests(st.config.sched); most && st.dests.size() >= most) {
        return make_error(ENOSPC, "a service has at most {} dests", most);
    }
    if (_limits.max_dests && t.ndests + _limits.outside_dests >= _limits.max_dests) {
        return make_error(ENOSPC, "all {} dest slots are in use (xlbctl load --max-dests)", _limits.max_dests);
    }
    dest_state ds;
    ds.config = d;
    // __ip_vs_update_dest(): list_add_rcu() puts it at the head.
    st.dests.insert(st.dests.begin(), std::move(ds));
    ++t.ndests;
    return {};
}

result<> memory_dataplane::do_edit_dest(table& t, const service_key& key, const dest_config& d) const {
    auto& st = t.services.at(key).state;
    if (auto r = check_dest_values(key, d, _caps); !r) {
        return r;
    }
    auto it = find_dest(st.dests, d.addr);
    if (it == st.dests.end()) {
        return make_error(ENOENT, "destination {}", d.addr.to_string());
    }
    if (auto r = check_dest_address(key, d); !r) {
        return r;
    }
    // __ip_vs_update_dest(): a new upper threshold, none or a higher one,
    // ends the overload; the place in the list, counters and connections stay.
    if (d.u_threshold == 0 || d.u_threshold > it->config.u_threshold) {
        it->overloaded = false;
    }
    it->config = d;
    return {};
}

result<> memory_dataplane::do_del_dest(table& t, const service_key& key, const endpoint& a) const {
    auto& st = t.services.at(key).state;
    auto it = find_dest(st.dests, a);
    if (it == st.dests.end()) {
        return make_error(ENOENT, "destination {}", a.to_string());
    }
    st.dests.erase(it);
    --t.ndests;
    return {};
}

} // namespace xlb
