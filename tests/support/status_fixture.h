#pragma once
// A table and a daemon view for the metrics and status page tests: built
// through dataplane::apply() as xlbd would build it, then given counters,
// connection counts and rates (memory_dataplane::assign()). The view adds
// what only xlbd knows: health, a real server down and out of the table,
// and a service whose quorum is lost (not in the table at all).

#include <xlb/daemon/view.h>
#include <xlb/dataplane/memory_dataplane.h>

#include <gtest/gtest.h>

#include <chrono>
#include <string>

namespace xlb::test {

inline endpoint ep(const char* text) {
    return *endpoint::parse(text);
}

inline service_key tcp_web() { return {protocol::tcp, ep("10.0.0.1:80")}; }
inline service_key udp_dns6() { return {protocol::udp, ep("[2001:db8::1]:53")}; }
inline service_key fwm7() {
    service_key k;
    k.fwmark = 7;
    k.vip = ep("0.0.0.0:0");
    return k;
}
inline service_key tcp_lost() { return {protocol::tcp, ep("10.0.0.2:443")}; }

// The table: three services with counters that differ everywhere.
inline void fill_dataplane(memory_dataplane& dp) {
    auto svc = [](service_key k, scheduler s) {
        service_config c;
        c.key = k;
        c.sched = s;
        c.netmask = k.vip.addr.is_v4() ? 0xffffffff : 128;
        return c;
    };
    auto dest = [](const char* addr, int32_t w, forwarding f = forwarding::dr) {
        dest_config d;
        d.addr = ep(addr);
        d.weight = w;
        d.fwd = f;
        return d;
    };
    change_set cs{
        change::add_service(svc(tcp_web(), scheduler::wlc)),
        change::add_dest(tcp_web(), dest("10.1.0.11:80", 3, forwarding::nat)),
        change::add_dest(tcp_web(), dest("10.1.0.12:80", 0, forwarding::nat)),
        change::add_service(svc(udp_dns6(), scheduler::rr)),
        change::add_dest(udp_dns6(), dest("[2001:db8::11]:53", 1)),
        change::add_service(svc(fwm7(), scheduler::sh)),
        change::add_dest(fwm7(), dest("10.1.0.21:0", 2)),
        change::add_dest(fwm7(), dest("10.1.0.22:0", 5)),
    };
    auto r = dp.apply(cs);
    ASSERT_TRUE(r) << r.error().err.message();
    auto table = dp.list();
    ASSERT_TRUE(table);
    uint64_t n = 1;
    auto next = [&] {
        const uint64_t v = n++;
        return v * 1237 + 3000000000ull * (v % 3);
    };
    for (auto& s : *table) {
        s.stats = {next(), next(), next(), next(), next()};
        s.rate = {next(), next(), next(), next(), next()};
        for (auto& d : s.dests) {
            d.stats = {next(), next(), next(), next(), next()};
            d.rate = {next(), next(), next(), next(), next()};
            d.active_conns = static_cast<uint32_t>(next() % 1000);
            d.inactive_conns = static_cast<uint32_t>(next() % 1000);
        }
    }
    dp.assign(*table, {900, 120, 300});
}

inline std::chrono::system_clock::time_point at(int64_t unix_seconds) {
    return std::chrono::system_clock::time_point(std::chrono::seconds(unix_seconds));
}

inline daemon::checker_view checker(const char* kind, bool up, const char* result, int latency_us, uint64_t checks,
                            uint64_t failures) {
    daemon::checker_view c;
    c.kind = kind;
    c.up = up;
    c.last_result = result;
    c.last_latency = std::chrono::microseconds(latency_us);
    c.last_check = at(1796680000);
    c.last_transition = at(1796670000);
    c.checks = checks;
    c.failures = failures;
    c.transitions = failures ? 2 : 0;
    return c;
}

inline daemon::real_server_view real(const char* addr, bool up, int32_t config_weight, int32_t weight, bool in_table) {
    daemon::real_server_view r;
    r.addr = ep(addr);
    r.up = up;
    r.config_weight = config_weight;
    r.weight = weight;
    r.in_table = in_table;
    r.last_transition = at(1796670000);
    r.transitions = up ? 1 : 3;
    return r;
}

// What xlbd knows. The fwmark service's 10.1.0.22 is in the table but not
// in the view (added by hand); 10.1.0.13 is down and out of the table.
inline daemon::view make_view() {
    daemon::view v;
    v.backend = "memory";
    v.config_file = "/etc/keepalived/\"odd\\name\".conf";
    v.started = at(1796600000);
    v.last_reload = at(1796650000);
    v.reloads = 4;
    v.reload_failures = 1;

    daemon::service_view web;
    web.key = tcp_web();
    web.name = "TCP  10.0.0.1:80";
    web.quorum = 1;
    auto a = real("10.1.0.11:80", true, 3, 3, true);
    a.checkers = {checker("HTTP_GET", true, "HTTP 200 <ok> & \"fine\"", 1500, 100, 0),
                  checker("TCP_CHECK", true, "connected", 250, 100, 0)};
    auto b = real("10.1.0.12:80", true, 2, 0, true);
    b.draining = true;
    b.checkers = {checker("TCP_CHECK", true, "connected", 300, 50, 0)};
    auto c = real("10.1.0.13:80", false, 1, 0, false);
    c.checkers = {checker("TCP_CHECK", false, "connect: Connection refused\nretrying", 120, 40, 7)};
    web.reals = {a, b, c};

    daemon::service_view dns;
    dns.key = udp_dns6();
    dns.name = "UDP  [2001:db8::1]:53";
    dns.reals = {real("[2001:db8::11]:53", true, 1, 1, true)};

    daemon::service_view mark;
    mark.key = fwm7();
    mark.name = "FWM  7";
    auto s = real("10.1.0.21:0", true, 2, 2, true);
    s.sorry = true;
    mark.reals = {s};

    daemon::service_view lost;
    lost.key = tcp_lost();
    lost.name = "TCP  10.0.0.2:443";
    lost.quorum_up = false;
    lost.quorum = 2;
    lost.reals = {real("10.1.0.31:443", false, 1, 0, false)};

    v.services = {web, dns, mark, lost};
    return v;
}

} // namespace xlb::test
