#include "virtual_server.h"

#include "checkers.h"

#include <xlb/abi.h>

#include <fmt/format.h>

#include <algorithm>
#include <cctype>

namespace xlb::keepalived::detail {
namespace {

using std::chrono::milliseconds;

result<method> read_method(const statement& st) {
    if (auto r = need_args(st, 1, "NAT, DR or TUN"); !r) {
        return r.error();
    }
    method m;
    const std::string& name = st.arg(1).text;
    if (name == "NAT") {
        m.fwd = forwarding::nat;
    } else if (name == "DR") {
        m.fwd = forwarding::dr;
    } else if (name == "TUN") {
        m.fwd = forwarding::tun;
    } else {
        return syntax_error(st.arg(1).where, fmt::format("unknown {} '{}' (NAT, DR or TUN)", st.keyword(), name));
    }
    // svr_forwarding_handler(): type ipip|gue|gre, port N, nocsum|csum|remcsum.
    for (size_t i = 2; i <= st.args(); ++i) {
        const token& t = st.arg(i);
        if (m.fwd != forwarding::tun) {
            return syntax_error(t.where, fmt::format("tunnel option '{}' needs TUN", t.text));
        }
        if (t.text == "type" || t.text == "port") {
            if (i == st.args()) {
                return syntax_error(t.where, fmt::format("tunnel {} needs a value", t.text));
            }
            const token& v = st.arg(++i);
            if (t.text == "port") {
                auto p = read_uint(v, 1, 65535, "tunnel port");
                if (!p) {
                    return p.error();
                }
                m.port = static_cast<uint16_t>(*p);
            } else if (v.text == "ipip" || v.text == "gue" || v.text == "gre") {
                m.tunnel = v.text == "ipip" ? tun_type::ipip : v.text == "gue" ? tun_type::gue : tun_type::gre;
            } else {
                return syntax_error(v.where, fmt::format("unknown tunnel type '{}' (ipip, gue or gre)", v.text));
            }
        } else if (t.text == "nocsum" || t.text == "csum" || t.text == "remcsum") {
            m.flags = t.text == "csum" ? XLB_TUN_F_CSUM : t.text == "remcsum" ? XLB_TUN_F_REMCSUM : 0;
        } else {
            return syntax_error(t.where, fmt::format("unknown tunnel option '{}'", t.text));
        }
    }
    if ((m.tunnel == tun_type::gue) != (m.port != 0)) {
        return syntax_error(st.where(), "a gue tunnel needs a port, and only gue takes one");
    }
    if (m.tunnel == tun_type::ipip && m.flags != 0) {
        return syntax_error(st.where(), "ipip tunnels take no checksum option");
    }
    if (m.tunnel == tun_type::gre && m.flags == XLB_TUN_F_REMCSUM) {
        return syntax_error(st.where(), "gre tunnels take no remcsum");
    }
    return m;
}

// Keywords both virtual_server and real_server take for the checkers.
result<bool> timing_keyword(const statement& st, inherited& set) {
    const std::string& kw = st.keyword();
    if (kw == "inhibit_on_failure") {
        auto f = read_flag(st);
        if (!f) {
            return f.error();
        }
        set.inhibit = *f;
        return true;
    }
    if (kw == "virtualhost") {
        if (auto r = need_args(st, 1, "a host name"); !r) {
            return r.error();
        }
        set.virtualhost = st.arg(1).text;
        return true;
    }
    if (kw == "retry" || kw == "rise" || kw == "fall") {
        if (auto r = need_args(st, 1); !r) {
            return r.error();
        }
        // vs_retry_handler() / rs_retry_handler(): 1 and up.
        auto v = read_uint(st.arg(1), 1, kw == "retry" ? UINT32_MAX : 1000000, kw);
        if (!v) {
            return v.error();
        }
        (kw == "retry" ? set.retry : kw == "rise" ? set.rise : set.fall) = *v;
        return true;
    }
    std::optional<milliseconds>* slot = kw == "connect_timeout"      ? &set.connect_timeout
                                        : kw == "delay_loop"         ? &set.delay_loop
                                        : kw == "delay_before_retry" ? &set.delay_before_retry
                                        : kw == "warmup"             ? &set.warmup
                                        : kw == "drain_time"         ? &set.drain_time
                                                                     : nullptr;
    if (!slot) {
        return false;
    }
    if (auto r = need_args(st, 1); !r) {
        return r.error();
    }
    bool positive = kw == "connect_timeout" || kw == "delay_loop";
    auto t = read_seconds(st.arg(1), milliseconds(positive ? 1 : 0), kw);
    if (!t) {
        return t.error();
    }
    *slot = *t;
    return true;
}

result<std::string> read_command(const statement& st) {
    if (auto r = need_args(st, 1, "a command"); !r) {
        return r.error();
    }
    return st.rest(1);
}

result<void> real_keyword(session& s, real_draft& rd, const statement& st) {
    const std::string& kw = st.keyword();
    if (auto k = checker_keyword(kw)) {
        auto c = parse_checker(s, st, *k);
        if (!c) {
            return c.error();
        }
        if (*c) {
            rd.checkers.push_back(std::move(**c));
        }
        return {};
    }
    if (unsupported_checker(kw)) {
        s.note(st.where(), fmt::format("{} not supported: checker ignored", kw));
        return s.stream.skip_block_if_any(st);
    }
    auto t = timing_keyword(st, rd.set);
    if (!t) {
        return t.error();
    }
    if (*t) {
        return {};
    }
    if (kw == "weight") {
        if (auto r = need_args(st, 1); !r) {
            return r;
        }
        auto w = read_uint(st.arg(1), 0, max_weight, "weight");
        if (!w) {
            return w.error();
        }
        rd.weight = static_cast<int32_t>(*w);
    } else if (kw == "lvs_method") {
        auto m = read_method(st);
        if (!m) {
            return m.error();
        }
        rd.how = *m;
    } else if (kw == "uthreshold" || kw == "lthreshold") {
        if (auto r = need_args(st, 1); !r) {
            return r;
        }
        auto v = read_uint(st.arg(1), 0, UINT32_MAX, kw);
        if (!v) {
            return v.error();
        }
        (kw == "uthreshold" ? rd.spec.u_threshold : rd.spec.l_threshold) = *v;
    } else if (kw == "notify_up" || kw == "notify_down") {
        auto c = read_command(st);
        if (!c) {
            return c.error();
        }
        (kw == "notify_up" ? rd.spec.notify_up : rd.spec.notify_down) = *c;
    } else {
        return s.unsupported(st, "real_server");
    }
    return {};
}

// `real_server ADDR [PORT]` or `sorry_server ADDR [PORT]`.
result<real_draft> read_server_head(const statement& st) {
    if (auto r = need_args(st, 1, "an address"); !r) {
        return r.error();
    }
    real_draft rd;
    rd.spec.where = st.where();
    auto a = read_address(st.arg(1), st.keyword());
    if (!a) {
        return a.error();
    }
    rd.spec.addr.addr = *a;
    if (st.args() >= 2) {
        auto p = read_port(st.arg(2), fmt::format("{} port", st.keyword()));
        if (!p) {
            return p.error();
        }
        rd.spec.addr.port = *p;
    }
    return rd;
}

result<void> read_real(session& s, vs_draft& vs, const statement& st) {
    auto rd = read_server_head(st);
    if (!rd) {
        return rd.error();
    }
    if (s.stream.block_follows()) {
        auto r = s.stream.each_in_block(st, [&](const statement& inner) { return real_keyword(s, *rd, inner); });
        if (!r) {
            return r;
        }
    }
    vs.reals.push_back(std::move(*rd));
    return {};
}

result<bool> service_keyword(vs_draft& vs, const statement& st) {
    const std::string& kw = st.keyword();
    auto& spec = vs.spec;
    if (kw == "lb_algo" || kw == "lvs_sched") {
        if (auto r = need_args(st, 1, "a scheduler"); !r) {
            return r.error();
        }
        // check_parser.c lvs_schedulers[]: the 14 IPVS schedulers.
        auto sched = parse_scheduler(st.arg(1).text);
        if (!sched) {
            return syntax_error(st.arg(1).where, fmt::format("unknown {} '{}'", kw, st.arg(1).text));
        }
        spec.sched = *sched;
    } else if (kw == "lb_kind" || kw == "lvs_method") {
        auto m = read_method(st);
        if (!m) {
            return m.error();
        }
        vs.how = *m;
    } else if (kw == "ops") {
        spec.one_packet = true;
    } else if (kw == "sh-port" || kw == "sh-fallback" || kw == "mh-port" || kw == "mh-fallback" ||
               kw == "flag-1" || kw == "flag-2" || kw == "flag-3") {
        vs.sched_flag_words.push_back(st.words.front());
    } else if (kw == "persistence_timeout") {
        if (st.args() == 0) {
            spec.persistence_timeout = default_persistence; // pto_handler(): bare keyword
        } else {
            auto v = read_uint(st.arg(1), 1, max_persistence, kw);
            if (!v) {
                return v.error();
            }
            spec.persistence_timeout = *v;
        }
    } else if (kw == "persistence_engine") {
        if (auto r = need_args(st, 1, "a name"); !r) {
            return r.error();
        }
        spec.persistence_engine = st.arg(1).text;
    } else if (kw == "persistence_granularity") {
        if (auto r = need_args(st, 1, "a netmask or prefix length"); !r) {
            return r.error();
        }
        vs.granularity = st.arg(1);
    } else if (kw == "protocol") {
        if (auto r = need_args(st, 1, "TCP, UDP or SCTP"); !r) {
            return r.error();
        }
        std::string p = st.arg(1).text;
        std::transform(p.begin(), p.end(), p.begin(), [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
        if (p != "TCP" && p != "UDP" && p != "SCTP") {
            return syntax_error(st.arg(1).where, fmt::format("unknown protocol '{}' (TCP, UDP or SCTP)", st.arg(1).text));
        }
        spec.proto = p == "TCP" ? protocol::tcp : p == "UDP" ? protocol::udp : protocol::sctp;
    } else {
        return false;
    }
    return true;
}

result<bool> quorum_keyword(vs_draft& vs, const statement& st) {
    const std::string& kw = st.keyword();
    auto& spec = vs.spec;
    if (kw == "alpha" || kw == "omega") {
        (kw == "alpha" ? spec.alpha : spec.omega) = true;
    } else if (kw == "quorum" || kw == "hysteresis") {
        if (auto r = need_args(st, 1); !r) {
            return r.error();
        }
        auto v = read_uint(st.arg(1), kw == "quorum" ? 1 : 0, UINT32_MAX, kw);
        if (!v) {
            return v.error();
        }
        (kw == "quorum" ? spec.quorum : spec.hysteresis) = *v;
    } else if (kw == "quorum_up" || kw == "quorum_down") {
        auto c = read_command(st);
        if (!c) {
            return c.error();
        }
        (kw == "quorum_up" ? spec.quorum_up : spec.quorum_down) = *c;
    } else if (kw == "weight") {
        if (auto r = need_args(st, 1); !r) {
            return r.error();
        }
        auto w = read_uint(st.arg(1), 1, max_weight, "weight"); // vs_weight_handler(): 1 and up
        if (!w) {
            return w.error();
        }
        vs.weight = static_cast<int32_t>(*w);
    } else if (kw == "ip_family") {
        if (auto r = need_args(st, 1, "inet or inet6"); !r) {
            return r.error();
        }
        const std::string& f = st.arg(1).text;
        if (f != "inet" && f != "inet6") {
            return syntax_error(st.arg(1).where, fmt::format("unknown ip_family '{}' (inet or inet6)", f));
        }
        vs.ip_family = f == "inet" ? family::inet : family::inet6;
    } else {
        return false;
    }
    return true;
}

result<void> sorry_keyword(vs_draft& vs, const statement& st) {
    const std::string& kw = st.keyword();
    if (kw == "sorry_server") {
        auto rd = read_server_head(st);
        if (!rd) {
            return rd.error();
        }
        vs.sorry = std::move(*rd);
    } else if (kw == "sorry_server_inhibit") {
        auto f = read_flag(st);
        if (!f) {
            return f.error();
        }
        vs.spec.sorry_server_inhibit = *f;
    } else {
        auto m = read_method(st); // sorry_server_lvs_method
        if (!m) {
            return m.error();
        }
        vs.sorry_how = *m;
    }
    return {};
}

result<void> vs_keyword(session& s, vs_draft& vs, const statement& st) {
    const std::string& kw = st.keyword();
    if (kw == "real_server") {
        return read_real(s, vs, st);
    }
    if (kw == "sorry_server" || kw == "sorry_server_inhibit" || kw == "sorry_server_lvs_method") {
        return sorry_keyword(vs, st);
    }
    for (auto* f : {&service_keyword, &quorum_keyword}) {
        auto r = f(vs, st);
        if (!r) {
            return r.error();
        }
        if (*r) {
            return {};
        }
    }
    auto t = timing_keyword(st, vs.set);
    if (!t) {
        return t.error();
    }
    if (*t) {
        return {};
    }
    if (checker_keyword(kw) || unsupported_checker(kw)) {
        return syntax_error(st.where(), fmt::format("{} outside real_server", kw));
    }
    return s.unsupported(st, "virtual_server");
}

result<vs_draft> read_vs_head(const statement& st) {
    if (auto r = need_args(st, 1, "an address and port, fwmark N or group NAME"); !r) {
        return r.error();
    }
    vs_draft vs;
    auto& spec = vs.spec;
    spec.where = st.where();
    const token& first = st.arg(1);
    if (first.text == "fwmark" || first.text == "group") {
        if (auto r = need_args(st, 2, fmt::format("a {} after {}", first.text == "fwmark" ? "mark" : "name", first.text)); !r) {
            return r.error();
        }
        if (first.text == "group") {
            spec.what = virtual_server_spec::kind::group;
            spec.group = st.arg(2).text;
            return vs;
        }
        auto m = read_uint(st.arg(2), 1, UINT32_MAX, "fwmark");
        if (!m) {
            return m.error();
        }
        spec.what = virtual_server_spec::kind::fwmark;
        spec.fwmark = *m;
        return vs;
    }
    auto a = read_address(first, "virtual_server");
    if (!a) {
        return a.error();
    }
    spec.vip.addr = *a;
    spec.af = a->af();
    if (st.args() >= 2) {
        auto p = read_port(st.arg(2), "virtual_server port");
        if (!p) {
            return p.error();
        }
        spec.vip.port = *p;
    }
    return vs;
}

std::string vs_name(const virtual_server_spec& spec) {
    switch (spec.what) {
    case virtual_server_spec::kind::fwmark:
        return fmt::format("fwmark {}", spec.fwmark);
    case virtual_server_spec::kind::group:
        return fmt::format("group {}", spec.group);
    case virtual_server_spec::kind::address:
        break;
    }
    return spec.vip.to_string();
}

} // namespace

result<std::optional<virtual_server_spec>> parse_virtual_server(session& s, const statement& st) {
    auto vs = read_vs_head(st);
    if (!vs) {
        return vs.error();
    }
    auto r = s.stream.each_in_block(st, [&](const statement& inner) { return vs_keyword(s, *vs, inner); });
    if (!r) {
        return r.error();
    }
    if (vs->reals.empty()) {
        s.note(st.where(), fmt::format("virtual_server {} has no real_server: ignored (as keepalived does)",
                                       vs_name(vs->spec)));
        return std::optional<virtual_server_spec>();
    }
    return finish_virtual_server(s, std::move(*vs));
}

} // namespace xlb::keepalived::detail
