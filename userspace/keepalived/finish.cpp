// A closed virtual_server block: keepalived's defaults and inheritance
// (check_data.c validate_check_config()) and its consistency checks.

#include "draft.h"

#include <xlb/abi.h>

#include <fmt/format.h>


namespace xlb::keepalived::detail {
namespace {

void apply_method(real_server_spec& spec, const method& m) {
    spec.fwd = m.fwd;
    spec.tunnel = m.tunnel;
    spec.tun_port = m.port;
    spec.tun_flags = m.flags;
}

// The family of a fwmark or group service: ip_family, else the first real
// (or sorry) server not tunnelled, else the first of any (vs_end_handler()).
family service_family(const vs_draft& vs, const method& vs_method) {
    if (vs.spec.what == virtual_server_spec::kind::address) {
        return vs.spec.af;
    }
    if (vs.ip_family) {
        return *vs.ip_family;
    }
    for (const auto& rd : vs.reals) {
        if (rd.how.value_or(vs_method).fwd != forwarding::tun) {
            return rd.spec.addr.addr.af();
        }
    }
    if (vs.sorry) {
        return vs.sorry->spec.addr.addr.af();
    }
    return vs.reals.front().spec.addr.addr.af();
}

// check_data.c: a NAT real server without a port takes the service's; DR
// and TUN ones take the service's port, or none for a fwmark service.
void settle_port(session& s, const virtual_server_spec& spec, real_server_spec& rs, std::string_view what) {
    if (spec.what == virtual_server_spec::kind::group) {
        return;
    }
    bool fwmark = spec.what == virtual_server_spec::kind::fwmark;
    if (*rs.fwd == forwarding::nat) {
        if (!fwmark && rs.addr.port == 0) {
            rs.addr.port = spec.vip.port;
        }
        return;
    }
    uint16_t want = fwmark ? 0 : spec.vip.port;
    if (rs.addr.port != 0 && rs.addr.port != want) {
        s.note(rs.where, fmt::format("{} {} port {} differs from the service's: {} as keepalived does", what,
                                     rs.addr.addr.to_string(), rs.addr.port, fwmark ? "cleared" : "reset"));
    }
    rs.addr.port = want;
}

checker_spec finish_checker(checker_draft&& c, const inherited& outer, const real_server_spec& rs) {
    inherited eff = overlay(c.set, outer);
    checker_spec spec = std::move(c.spec);
    spec.connect_to = endpoint{c.connect_ip.value_or(rs.addr.addr), c.connect_port.value_or(rs.addr.port)};
    spec.connect_timeout = eff.connect_timeout.value_or(default_connect_timeout);
    spec.delay_loop = eff.delay_loop.value_or(default_delay_loop);
    spec.retry = eff.retry.value_or(c.default_retry);
    spec.warmup = eff.warmup.value_or(spec.delay_loop);
    spec.delay_before_retry =
        eff.delay_before_retry.value_or(c.default_delay_before_retry.value_or(spec.delay_loop));
    spec.rise = eff.rise.value_or(0);
    spec.fall = eff.fall.value_or(0);
    if (spec.kind == checker_kind::http || spec.kind == checker_kind::ssl) {
        spec.virtualhost = eff.virtualhost;
    }
    if (spec.kind == checker_kind::misc) {
        spec.misc_timeout = c.misc_timeout.value_or(spec.delay_loop);
    }
    return spec;
}

result<void> finish_real(session& s, vs_draft& vs, const method& vs_method, real_draft&& rd,
                         std::vector<real_server_spec>& out) {
    auto& spec = vs.spec;
    real_server_spec rs = std::move(rd.spec);
    apply_method(rs, rd.how.value_or(vs_method));
    if (*rs.fwd != forwarding::tun && rs.addr.addr.af() != spec.af) {
        return syntax_error(rs.where, fmt::format("real_server {} is not of the virtual_server's address family "
                                                  "(only TUN may mix them)", rs.addr.addr.to_string()));
    }
    settle_port(s, spec, rs, "real_server");
    for (const auto& other : out) {
        if (other.addr == rs.addr) {
            s.note(rs.where, fmt::format("real_server {} given twice: the second ignored (as keepalived does)",
                                         rs.addr.to_string()));
            return {};
        }
    }
    inherited eff = overlay(rd.set, vs.set);
    rs.weight = rd.weight.value_or(vs.weight);
    rs.inhibit_on_failure = eff.inhibit.value_or(false);
    rs.delay_loop = eff.delay_loop.value_or(default_delay_loop);
    rs.drain_time = eff.drain_time.value_or(milliseconds(0));
    // Slow start: a warmup given to the real server or its service also
    // ramps the weight after a recovery (plan.h); a checker's own warmup
    // is only keepalived's delay before its first check.
    rs.ramp = eff.warmup.value_or(milliseconds(0));
    for (auto& c : rd.checkers) {
        rs.checkers.push_back(finish_checker(std::move(c), eff, rs));
    }
    out.push_back(std::move(rs));
    return {};
}

// sh-port / sh-fallback apply to sh only, mh-* to mh only (lbflags_handler()).
void settle_sched_flags(session& s, vs_draft& vs) {
    auto& spec = vs.spec;
    for (const auto& t : vs.sched_flag_words) {
        const std::string& w = t.text;
        bool sh = w.rfind("sh-", 0) == 0;
        bool mh = w.rfind("mh-", 0) == 0;
        if ((sh && spec.sched != scheduler::sh) || (mh && spec.sched != scheduler::mh)) {
            s.note(t.where, fmt::format("{} applies to the {} scheduler only: ignored", w, sh ? "sh" : "mh"));
            continue;
        }
        if (w == "sh-fallback" || w == "mh-fallback" || w == "flag-1") {
            spec.sched_flags |= XLB_IPVS_SVC_F_SCHED1;
        } else if (w == "sh-port" || w == "mh-port" || w == "flag-2") {
            spec.sched_flags |= XLB_IPVS_SVC_F_SCHED2;
        } else {
            spec.sched_flags |= XLB_IPVS_SVC_F_SCHED3;
        }
    }
}

// pgr_handler(): an IPv4 netmask, or an IPv6 prefix length; giving one
// makes the service persistent (360 s) if it was not.
result<void> settle_persistence(session& s, vs_draft& vs) {
    auto& spec = vs.spec;
    if (vs.granularity) {
        const token& t = *vs.granularity;
        if (spec.af == family::inet) {
            auto a = ip_address::parse(t.text);
            if (!a || !a->is_v4()) {
                return syntax_error(t.where, fmt::format("bad IPv4 persistence_granularity '{}' (a netmask)", t.text));
            }
            spec.persistence_granularity = a->host_words()[0];
        } else {
            auto p = read_uint(t, 1, 128, "IPv6 persistence_granularity");
            if (!p) {
                return p.error();
            }
            spec.persistence_granularity = *p;
        }
        if (!spec.persistence_timeout) {
            spec.persistence_timeout = default_persistence;
        }
    } else if (spec.af == family::inet6) {
        spec.persistence_granularity = 128;
    }
    if (spec.what == virtual_server_spec::kind::address && spec.vip.port == 0 && !spec.persistence_timeout) {
        s.note(spec.where, "port 0 needs persistence: persistence_timeout 360 set (as keepalived does)");
        spec.persistence_timeout = default_persistence;
    }
    return {};
}

} // namespace

result<std::optional<virtual_server_spec>> finish_virtual_server(session& s, vs_draft&& vs) {
    auto& spec = vs.spec;
    method vs_method = vs.how.value_or(method{});
    spec.fwd = vs_method.fwd;
    spec.tunnel = vs_method.tunnel;
    spec.tun_port = vs_method.port;
    spec.tun_flags = vs_method.flags;
    if (vs.ip_family && spec.what == virtual_server_spec::kind::address && *vs.ip_family != spec.af) {
        return syntax_error(spec.where, "ip_family conflicts with the virtual_server's address");
    }
    spec.af = service_family(vs, vs_method);
    spec.delay_loop = vs.set.delay_loop.value_or(default_delay_loop);
    spec.inhibit_on_failure = vs.set.inhibit.value_or(false);
    spec.virtualhost = vs.set.virtualhost;
    settle_sched_flags(s, vs);
    if (auto r = settle_persistence(s, vs); !r) {
        return r.error();
    }
    for (auto& rd : vs.reals) {
        if (auto r = finish_real(s, vs, vs_method, std::move(rd), spec.reals); !r) {
            return r.error();
        }
    }
    if (vs.sorry) {
        real_server_spec sorry = std::move(vs.sorry->spec);
        apply_method(sorry, vs.sorry_how.value_or(vs_method));
        if (*sorry.fwd != forwarding::tun && sorry.addr.addr.af() != spec.af) {
            return syntax_error(sorry.where, fmt::format("sorry_server {} is not of the virtual_server's address family",
                                                         sorry.addr.addr.to_string()));
        }
        settle_port(s, spec, sorry, "sorry_server");
        sorry.weight = 1; // alloc_ssvr()
        sorry.inhibit_on_failure = spec.sorry_server_inhibit;
        sorry.delay_loop = spec.delay_loop;
        spec.sorry_server = std::move(sorry);
    }
    return std::optional<virtual_server_spec>(std::move(spec));
}

} // namespace xlb::keepalived::detail
