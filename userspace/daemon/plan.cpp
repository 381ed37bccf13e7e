#include <xlb/daemon/plan.h>

#include <fmt/format.h>

#include <algorithm>
#include <map>

namespace xlb::daemon {

namespace ka = keepalived;

std::string service_name(const service_key& key) {
    if (key.is_fwmark()) {
        return key.vip.addr.is_v4() ? fmt::format("FWM  {}", key.fwmark) : fmt::format("FWM  {} IPv6", key.fwmark);
    }
    return fmt::format("{:<4} {}", to_string(key.proto), key.vip.to_string());
}

namespace {

service_config base_service(const ka::virtual_server_spec& vs) {
    service_config c;
    c.key.proto = vs.proto;
    c.sched = vs.sched;
    c.flags = vs.sched_flags;
    if (vs.one_packet) {
        c.flags |= XLB_IPVS_SVC_F_ONEPACKET;
    }
    if (vs.persistence_timeout) {
        c.flags |= XLB_IPVS_SVC_F_PERSISTENT;
        c.timeout = *vs.persistence_timeout;
    }
    c.pe_name = vs.persistence_engine;
    return c;
}

// The persistence granularity: a v4 netmask (host order) or a v6 prefix
// length, as service_config keeps it; the parser's default is the full mask
// of v4, which for a v6 service means 128.
uint32_t granularity(const ka::virtual_server_spec& vs, family f) {
    if (f == family::inet6 && vs.persistence_granularity == 0xffffffff) {
        return 128;
    }
    return vs.persistence_granularity;
}

// IPVS finds a fwmark service by family and mark alone; backends list it
// as TCP with no address or port.
service_key fwmark_key(uint32_t mark, family af) {
    return service_key{protocol::tcp, endpoint{ip_address(af, {}), 0}, mark};
}

service_config with_key(service_config c, const ka::virtual_server_spec& vs, const service_key& key) {
    c.key = key;
    c.netmask = granularity(vs, key.vip.addr.af());
    return c;
}

// The addresses "A-B" stands for: the last byte (v4) or last 16-bit group
// (v6) of A counted up to B.
result<std::vector<ip_address>> expand_range(const ka::group_entry& e) {
    const ip_address first = e.first->addr;
    if (e.range_end == 0) {
        return std::vector<ip_address>{first};
    }
    auto bytes = first.bytes();
    const bool v4 = first.is_v4();
    const uint32_t start = v4 ? bytes[3] : (uint32_t{bytes[14]} << 8 | bytes[15]);
    const uint32_t limit = v4 ? 255 : 0xffff;
    if (e.range_end < start || e.range_end > limit) {
        return make_error(EINVAL, "{}: range end {} is not between {} and {}", e.where.to_string(), e.range_end,
                          start, limit);
    }
    std::vector<ip_address> out;
    for (uint32_t i = start; i <= e.range_end; ++i) {
        if (v4) {
            bytes[3] = static_cast<uint8_t>(i);
        } else {
            bytes[14] = static_cast<uint8_t>(i >> 8);
            bytes[15] = static_cast<uint8_t>(i);
        }
        out.emplace_back(first.af(), bytes);
    }
    return out;
}

result<std::vector<service_config>> group_services(const ka::config& cfg, const ka::virtual_server_spec& vs) {
    auto g = std::find_if(cfg.groups.begin(), cfg.groups.end(),
                          [&](const ka::virtual_server_group& x) { return x.name == vs.group; });
    if (g == cfg.groups.end()) {
        return make_error(EINVAL, "{}: virtual_server_group {} is not defined", vs.where.to_string(), vs.group);
    }
    const service_config base = base_service(vs);
    std::vector<service_config> out;
    for (const auto& e : g->entries) {
        service_key key;
        key.proto = vs.proto;
        if (e.fwmark) {
            key = fwmark_key(e.fwmark, e.fwmark_family.value_or(vs.af));
            out.push_back(with_key(base, vs, key));
            continue;
        }
        auto addrs = expand_range(e);
        if (!addrs) {
            return addrs.error();
        }
        for (const auto& a : *addrs) {
            key.vip = endpoint{a, e.first->port};
            out.push_back(with_key(base, vs, key));
        }
    }
    return out;
}

std::string plan_id(const ka::virtual_server_spec& vs) {
    switch (vs.what) {
    case ka::virtual_server_spec::kind::address:
        return fmt::format("{} {}", to_string(vs.proto), vs.vip.to_string());
    case ka::virtual_server_spec::kind::fwmark:
        return fmt::format("FWM {} {}", vs.fwmark, vs.af == family::inet ? "IPv4" : "IPv6");
    case ka::virtual_server_spec::kind::group:
        return fmt::format("group {} {}", vs.group, to_string(vs.proto));
    }
    return {};
}

} // namespace

result<std::vector<vs_plan>> plan_services(const ka::config& cfg) {
    std::vector<vs_plan> out;
    std::map<service_key, size_t> owners; // service -> its block's index in out
    for (const auto& vs : cfg.virtual_servers) {
        vs_plan p;
        p.id = plan_id(vs);
        p.spec = vs;
        const service_config base = base_service(vs);
        if (vs.what == ka::virtual_server_spec::kind::group) {
            auto services = group_services(cfg, vs);
            if (!services) {
                return services.error();
            }
            p.services = std::move(*services);
        } else {
            service_key key;
            key.proto = vs.proto;
            if (vs.what == ka::virtual_server_spec::kind::fwmark) {
                key = fwmark_key(vs.fwmark, vs.af);
            } else {
                key.vip = vs.vip;
            }
            p.services.push_back(with_key(base, vs, key));
        }
        auto dup = std::find_if(out.begin(), out.end(), [&](const vs_plan& o) { return o.id == p.id; });
        if (dup != out.end()) {
            return make_error(EINVAL, "{}: virtual_server {} is defined twice (first at {})", vs.where.to_string(),
                              p.id, dup->spec.where.to_string());
        }
        // One service, one block: a group entry or range that overlaps a
        // service of its own block or of another would have two owners.
        for (const auto& mine : p.services) {
            auto [at, fresh] = owners.emplace(mine.key, out.size());
            if (!fresh) {
                const auto& o = at->second < out.size() ? out[at->second] : p;
                return make_error(EINVAL, "{}: virtual_server {}: service {} is also in virtual_server {} (at {})",
                                  vs.where.to_string(), p.id, service_name(mine.key), o.id,
                                  o.spec.where.to_string());
            }
        }
        out.push_back(std::move(p));
    }
    return out;
}

dest_config make_dest(const ka::virtual_server_spec& vs, const ka::real_server_spec& rs, const service_config& svc,
                      int32_t weight) {
    dest_config d;
    d.addr = rs.addr;
    if (svc.key.vip.port != 0 && d.addr.port == 0) {
        d.addr.port = svc.key.vip.port;
    }
    d.fwd = rs.fwd.value_or(vs.fwd);
    d.weight = weight;
    d.u_threshold = rs.u_threshold;
    d.l_threshold = rs.l_threshold;
    d.tunnel = rs.fwd ? rs.tunnel : vs.tunnel;
    d.tun_port = rs.fwd ? rs.tun_port : vs.tun_port;
    d.tun_flags = rs.fwd ? rs.tun_flags : vs.tun_flags;
    // IPVS forces the virtual port on DR and TUN dests.
    if (d.fwd != forwarding::nat && !svc.key.is_fwmark()) {
        d.addr.port = svc.key.vip.port;
    }
    return d;
}

int32_t effective_weight(const ka::real_server_spec& rs, const real_health& h, clock::time_point now) {
    const int32_t full = h.dynamic_weight.value_or(rs.weight);
    if (!h.ramp_from || rs.ramp.count() <= 0 || full <= 0) {
        return full;
    }
    const auto elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(now - *h.ramp_from);
    if (elapsed >= rs.ramp) {
        return full;
    }
    const int64_t w = (int64_t{full} * std::max<int64_t>(elapsed.count(), 0) + rs.ramp.count() - 1) /
                      rs.ramp.count();
    return static_cast<int32_t>(std::clamp<int64_t>(w, 1, full));
}

int64_t live_weight(const ka::virtual_server_spec& vs, const std::vector<real_health>& reals,
                    clock::time_point now) {
    int64_t sum = 0;
    for (size_t i = 0; i < vs.reals.size() && i < reals.size(); ++i) {
        if (reals[i].alive) {
            sum += effective_weight(vs.reals[i], reals[i], now);
        }
    }
    return sum;
}

bool quorum_state(const ka::virtual_server_spec& vs, bool was_up, int64_t live) {
    const int64_t quorum = vs.quorum;
    const int64_t hyst = vs.hysteresis;
    if (!was_up) {
        return live >= quorum + hyst;
    }
    return !(live == 0 || live < quorum - hyst);
}

std::vector<dest_config> plan_dests(const ka::virtual_server_spec& vs, const service_config& svc,
                                    const std::vector<real_health>& reals, bool quorum_up, clock::time_point now) {
    std::vector<dest_config> out;
    const bool sorry_in = vs.sorry_server && !quorum_up;
    for (size_t i = 0; i < vs.reals.size() && i < reals.size(); ++i) {
        const auto& rs = vs.reals[i];
        const auto& h = reals[i];
        if (h.alive && !sorry_in) {
            out.push_back(make_dest(vs, rs, svc, effective_weight(rs, h, now)));
        } else if (rs.inhibit_on_failure || (h.drain_until && now < *h.drain_until)) {
            out.push_back(make_dest(vs, rs, svc, 0));
        }
    }
    if (vs.sorry_server) {
        const auto& s = *vs.sorry_server;
        auto same = std::find_if(out.begin(), out.end(), [&](const dest_config& d) {
            return d.addr == make_dest(vs, s, svc, 0).addr;
        });
        if (same == out.end()) {
            if (sorry_in) {
                out.push_back(make_dest(vs, s, svc, s.weight));
            } else if (vs.sorry_server_inhibit) {
                out.push_back(make_dest(vs, s, svc, 0));
            }
        }
    }
    return out;
}

std::optional<clock::time_point> next_event(const ka::virtual_server_spec& vs, const std::vector<real_health>& reals,
                                            clock::time_point now) {
    std::optional<clock::time_point> next;
    auto consider = [&](clock::time_point t) {
        if (t > now && (!next || t < *next)) {
            next = t;
        }
    };
    for (size_t i = 0; i < vs.reals.size() && i < reals.size(); ++i) {
        const auto& h = reals[i];
        if (h.drain_until) {
            consider(*h.drain_until);
        }
        const auto& rs = vs.reals[i];
        if (h.alive && h.ramp_from && rs.ramp.count() > 0) {
            // Step often enough that every weight of the ramp is seen, at
            // most ten times a second.
            const int32_t full = std::max(h.dynamic_weight.value_or(rs.weight), 1);
            const auto step = std::max<std::chrono::milliseconds>(rs.ramp / full, std::chrono::milliseconds(100));
            const auto end = *h.ramp_from + rs.ramp;
            if (now < end) {
                consider(std::min(end, now + step));
            }
        }
    }
    return next;
}

} // namespace xlb::daemon
