// TUN through the real XDP program: IPIP, IP6IP6, IPv4-in-IPv6, IPv6-in-IPv4
// and GUE, compared byte for byte with outer headers the test builds itself;
// then xlb_decap (the real servers' program) turns each back into the
// client's original packet.

#include "support/cmd.h"
#include "support/netns.h"
#include "support/packet.h"
#include "support/priv.h"
#include "support/xdp_lab.h"

#include "xlb_decap.skel.h"

#include <xlb/dataplane/xdp_dataplane.h>
#include <xlb/util/clock.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <gtest/gtest.h>

#include <cstring>
#include <memory>
#include <thread>
#include <tuple>

using namespace xlb;
using namespace xlb::test;

namespace {

[[maybe_unused]] auto* const g_env = ::testing::AddGlobalTestEnvironment(new lab_environment(true));

ip_address addr(const char* s) { return *ip_address::parse(s); }

void put16(std::vector<uint8_t>& v, uint16_t x) {
    v.push_back(static_cast<uint8_t>(x >> 8));
    v.push_back(static_cast<uint8_t>(x));
}

// The outer headers xlb must write, built independently of the data path.
std::vector<uint8_t> outer_ipv4(const ip_address& src, const ip_address& dst, uint8_t proto, size_t payload) {
    std::vector<uint8_t> h = {0x45, 0};
    put16(h, static_cast<uint16_t>(20 + payload));
    put16(h, 0);      // id
    put16(h, 0x4000); // DF
    h.push_back(64);
    h.push_back(proto);
    put16(h, 0);
    h.insert(h.end(), src.bytes().begin(), src.bytes().begin() + 4);
    h.insert(h.end(), dst.bytes().begin(), dst.bytes().begin() + 4);
    uint16_t c = inet_csum(h.data(), h.size());
    h[10] = static_cast<uint8_t>(c >> 8);
    h[11] = static_cast<uint8_t>(c);
    return h;
}

std::vector<uint8_t> outer_ipv6(const ip_address& src, const ip_address& dst, uint8_t next, size_t payload) {
    std::vector<uint8_t> h = {0x60, 0, 0, 0};
    put16(h, static_cast<uint16_t>(payload));
    h.push_back(next);
    h.push_back(64);
    h.insert(h.end(), src.bytes().begin(), src.bytes().end());
    h.insert(h.end(), dst.bytes().begin(), dst.bytes().end());
    return h;
}

class tun : public ::testing::Test {
protected:
    void SetUp() override {
        XLB_REQUIRE_PRIVILEGE();
        _xlb.emplace();
        _ifindex = ifindex(xdp_lab::dir_if);
        _decap = xlb_decap_bpf__open_and_load();
        ASSERT_NE(_decap, nullptr);
    }
    void TearDown() override {
        if (_decap) {
            xlb_decap_bpf__destroy(_decap);
        }
    }
    xdp_dataplane& dp() { return _xlb->dp(); }

    void add(const char* vip, uint16_t port, const ip_address& dest, tun_type t = tun_type::ipip,
             uint16_t tun_port = 0, uint8_t flags = 0) {
        service_key k{protocol::tcp, {addr(vip), port}};
        // IPVS takes an IPv6 service only with a prefix length (ipvsadm's default 128).
        ASSERT_TRUE(dp().add_service({k, scheduler::rr, 0, 0, k.vip.addr.is_v4() ? 0xffffffffu : 128u}));
        auto r = dp().add_dest(k, {{dest, port}, forwarding::tun, 1, 0, 0, t, tun_port, flags});
        ASSERT_TRUE(r) << r.error().message();
    }

    static packet_spec syn(const char* src, const char* vip, uint16_t port) {
        packet_spec p;
        p.dst = parse_mac(xdp_lab::dir_mac);
        p.saddr = addr(src);
        p.daddr = addr(vip);
        p.dport = port;
        p.payload = {'x', 'y', 'z'};
        return p;
    }

    // Expected frame: L2 to the dest's MAC, EtherType, outer headers, inner packet.
    static std::vector<uint8_t> expect(const std::vector<uint8_t>& inner_frame, int backend, uint16_t ethertype,
                                       const std::vector<uint8_t>& outer) {
        std::vector<uint8_t> f;
        auto dm = xdp_lab::backend_mac(backend);
        auto sm = parse_mac(xdp_lab::dir_mac);
        f.insert(f.end(), dm.begin(), dm.end());
        f.insert(f.end(), sm.begin(), sm.end());
        put16(f, ethertype);
        f.insert(f.end(), outer.begin(), outer.end());
        f.insert(f.end(), inner_frame.begin() + 14, inner_frame.end());
        return f;
    }

    // xlb_decap gives back the client's packet behind the new L2 header.
    void expect_decap(const std::vector<uint8_t>& encapsulated, const std::vector<uint8_t>& original) {
        auto r = run_xdp(bpf_program__fd(_decap->progs.xlb_decap), encapsulated, _ifindex);
        ASSERT_EQ(r.action, XDP_PASS);
        ASSERT_EQ(r.out.size(), original.size());
        EXPECT_TRUE(std::equal(r.out.begin(), r.out.begin() + 12, encapsulated.begin())) << "L2 addresses kept";
        EXPECT_TRUE(std::equal(r.out.begin() + 12, r.out.end(), original.begin() + 12))
            << "EtherType and inner packet as the client sent them";
    }

    run_result run(const std::vector<uint8_t>& f) { return run_xdp(dp().prog_fd(), f, _ifindex); }

    std::optional<loaded_xlb> _xlb;
    int _ifindex = 0;
    xlb_decap_bpf* _decap = nullptr;
};

TEST_F(tun, ipip) {
    add("10.1.0.180", 80, xdp_lab::backend4(1));
    auto in = build(syn("10.1.0.200", "10.1.0.180", 80));
    auto r = run(in);
    ASSERT_EQ(r.action, XDP_TX);
    auto want = expect(in, 1, 0x0800, outer_ipv4(addr("10.1.0.1"), xdp_lab::backend4(1), 4, in.size() - 14));
    EXPECT_EQ(r.out, want) << "outer source: the director's address toward the dest";
    expect_decap(r.out, in);
}

TEST_F(tun, ip6ip6) {
    add("fd01::180", 443, xdp_lab::backend6(3));
    auto in = build(syn("fd01::200", "fd01::180", 443));
    auto r = run(in);
    ASSERT_EQ(r.action, XDP_TX);
    EXPECT_EQ(r.out, expect(in, 3, 0x86dd, outer_ipv6(addr("fd01::1"), xdp_lab::backend6(3), 41, in.size() - 14)));
    expect_decap(r.out, in);
}

TEST_F(tun, ipv4_vip_to_ipv6_dest_and_back) {
    add("10.1.0.181", 80, xdp_lab::backend6(4));
    auto in4 = build(syn("10.1.0.200", "10.1.0.181", 80));
    auto r = run(in4);
    ASSERT_EQ(r.action, XDP_TX);
    EXPECT_EQ(r.out, expect(in4, 4, 0x86dd, outer_ipv6(addr("fd01::1"), xdp_lab::backend6(4), 4, in4.size() - 14)));
    expect_decap(r.out, in4);

    add("fd01::181", 80, xdp_lab::backend4(5));
    auto in6 = build(syn("fd01::200", "fd01::181", 80));
    auto r6 = run(in6);
    ASSERT_EQ(r6.action, XDP_TX);
    EXPECT_EQ(r6.out,
              expect(in6, 5, 0x0800, outer_ipv4(addr("10.1.0.1"), xdp_lab::backend4(5), 41, in6.size() - 14)));
    expect_decap(r6.out, in6);
}

TEST_F(tun, gue) {
    add("10.1.0.182", 80, xdp_lab::backend4(6), tun_type::gue, 6080);
    auto in = build(syn("10.1.0.200", "10.1.0.182", 80));
    auto r = run(in);
    ASSERT_EQ(r.action, XDP_TX);
    size_t inner = in.size() - 14;
    std::vector<uint8_t> udp_gue;
    // The source port carries the flow's entropy: read it, check its range.
    ASSERT_GT(r.out.size(), 14u + 20 + 2);
    uint16_t sport = static_cast<uint16_t>(r.out[34] << 8 | r.out[35]);
    EXPECT_GE(sport, 49152);
    put16(udp_gue, sport);
    put16(udp_gue, 6080);
    put16(udp_gue, static_cast<uint16_t>(8 + 4 + inner));
    put16(udp_gue, 0); // --tun-nocsum
    udp_gue.insert(udp_gue.end(), {0, 4, 0, 0}); // GUE variant 0, inner protocol 4
    auto outer = outer_ipv4(addr("10.1.0.1"), xdp_lab::backend4(6), 17, udp_gue.size() + inner);
    outer.insert(outer.end(), udp_gue.begin(), udp_gue.end());
    EXPECT_EQ(r.out, expect(in, 6, 0x0800, outer));
    expect_decap(r.out, in);
    // The same flow keeps its source port.
    auto again = run(build(syn("10.1.0.200", "10.1.0.182", 80)));
    EXPECT_EQ(again.out[34], r.out[34]);
    EXPECT_EQ(again.out[35], r.out[35]);
}

// --tun-csum: a real UDP checksum over the whole inner packet, checked here
// by summing every byte; --tun-remcsum leaves forwarded packets as they are.
TEST_F(tun, gue_checksum_covers_the_inner_packet) {
    add("10.1.0.186", 80, xdp_lab::backend4(9), tun_type::gue, 6080, XLB_TUN_F_CSUM);
    add("fd01::186", 80, xdp_lab::backend6(9), tun_type::gue, 6080, XLB_TUN_F_CSUM);
    for (auto [src, vip, dst, outer_ip] : {std::tuple{"10.1.0.200", "10.1.0.186", xdp_lab::backend4(9), 20},
                                           std::tuple{"fd01::200", "fd01::186", xdp_lab::backend6(9), 40}}) {
        auto p = syn(src, vip, 80);
        p.payload.assign(333, 'q');
        auto in = build(p);
        auto r = run(in);
        ASSERT_EQ(r.action, XDP_TX) << vip;
        std::vector<uint8_t> udp(r.out.begin() + 14 + outer_ip, r.out.end());
        ASSERT_NE(udp[6] | udp[7], 0) << "a checksum is there";
        ip_address from = outer_ip == 20 ? addr("10.1.0.1") : addr("fd01::1");
        std::vector<uint8_t> ps;
        if (outer_ip == 20) {
            ps.insert(ps.end(), from.bytes().begin(), from.bytes().begin() + 4);
            ps.insert(ps.end(), dst.bytes().begin(), dst.bytes().begin() + 4);
            ps.insert(ps.end(), {0, 17, static_cast<uint8_t>(udp.size() >> 8), static_cast<uint8_t>(udp.size())});
        } else {
            ps.insert(ps.end(), from.bytes().begin(), from.bytes().end());
            ps.insert(ps.end(), dst.bytes().begin(), dst.bytes().end());
            ps.insert(ps.end(),
                      {0, 0, static_cast<uint8_t>(udp.size() >> 8), static_cast<uint8_t>(udp.size()), 0, 0, 0, 17});
        }
        ps.insert(ps.end(), udp.begin(), udp.end());
        EXPECT_EQ(inet_csum(ps.data(), ps.size()), 0) << vip << ": the UDP checksum verifies over every byte";
        expect_decap(r.out, in);
    }
}

TEST_F(tun, vlan_tags_stay_in_front) {
    add("10.1.0.183", 80, xdp_lab::backend4(7));
    auto p = syn("10.1.0.200", "10.1.0.183", 80);
    p.vlans = {{0x8100, 42}};
    auto in = build(p);
    auto r = run(in);
    ASSERT_EQ(r.action, XDP_TX);
    ASSERT_EQ(r.out.size(), in.size() + 20);
    EXPECT_EQ(r.out[12], 0x81);
    EXPECT_EQ(r.out[13], 0x00);
    EXPECT_EQ(r.out[15], 42) << "the tag survives";
    EXPECT_EQ(r.out[16], 0x08);
    EXPECT_EQ(r.out[17], 0x00) << "and announces the outer IPv4 header";
    EXPECT_TRUE(std::equal(r.out.begin() + 18 + 20, r.out.end(), in.begin() + 18)) << "inner packet intact";
}

// A packet the tunnel header would push past the egress MTU (1500 on the
// test veth) is answered with ICMP, quoting what the client sent, as IPVS's
// ensure_mtu_is_adequate() does.
TEST_F(tun, too_big_for_the_tunnel_gets_icmp_fragmentation_needed) {
    add("10.1.0.185", 80, xdp_lab::backend4(8));
    auto p = syn("10.1.0.200", "10.1.0.185", 80);
    p.frag_off = 0x4000; // DF
    p.payload.assign(1481 - 20 - 20, 'p'); // 1481 bytes of IP, 1501 with the outer header
    auto in = build(p);
    auto before = dp().reasons().value();
    auto r = run(in);
    ASSERT_EQ(r.action, XDP_TX);
    EXPECT_EQ(dp().reasons().value()[XLB_R_TX_ICMP_TOO_BIG] - before[XLB_R_TX_ICMP_TOO_BIG], 1u);

    // [client MAC <- our MAC][VIP -> client, ICMP][3/4, MTU 1480][IP header + 8]
    std::vector<uint8_t> want(in.begin() + 6, in.begin() + 12); // back to the sender
    want.insert(want.end(), in.begin(), in.begin() + 6);
    put16(want, 0x0800);
    std::vector<uint8_t> icmp = {3, 4, 0, 0, 0, 0};
    put16(icmp, 1480);
    icmp.insert(icmp.end(), in.begin() + 14, in.begin() + 14 + 28);
    uint16_t ic = inet_csum(icmp.data(), icmp.size());
    icmp[2] = static_cast<uint8_t>(ic >> 8);
    icmp[3] = static_cast<uint8_t>(ic);
    std::vector<uint8_t> ip = {0x45, 0};
    put16(ip, 20 + 36);
    put16(ip, 0);
    put16(ip, 0);
    ip.push_back(64);
    ip.push_back(1);
    put16(ip, 0);
    auto vip = addr("10.1.0.185"), client = addr("10.1.0.200");
    ip.insert(ip.end(), vip.bytes().begin(), vip.bytes().begin() + 4);
    ip.insert(ip.end(), client.bytes().begin(), client.bytes().begin() + 4);
    uint16_t c = inet_csum(ip.data(), ip.size());
    ip[10] = static_cast<uint8_t>(c >> 8);
    ip[11] = static_cast<uint8_t>(c);
    want.insert(want.end(), ip.begin(), ip.end());
    want.insert(want.end(), icmp.begin(), icmp.end());
    EXPECT_EQ(r.out, want);

    // One byte less fits exactly once encapsulated.
    p.payload.pop_back();
    p.sport++;
    EXPECT_EQ(run(build(p)).out.size(), build(p).size() + 20);
    // Without DF xlb cannot fragment: dropped and counted.
    p.payload.push_back('p');
    p.sport++;
    p.frag_off = 0;
    auto b2 = dp().reasons().value();
    EXPECT_EQ(run(build(p)).action, XDP_DROP);
    EXPECT_EQ(dp().reasons().value()[XLB_R_DROP_TOO_BIG] - b2[XLB_R_DROP_TOO_BIG], 1u);
}

TEST_F(tun, too_big_ipv6_gets_packet_too_big) {
    add("fd01::185", 80, xdp_lab::backend6(8));
    auto p = syn("fd01::200", "fd01::185", 80);
    p.payload.assign(1500 - 40 - 20, 'p');
    auto in = build(p);
    auto r = run(in);
    ASSERT_EQ(r.action, XDP_TX);
    ASSERT_EQ(r.out.size(), 14u + 40 + 8 + 48);
    EXPECT_EQ(r.out[14 + 6], 58) << "ICMPv6";
    EXPECT_EQ(r.out[14 + 40], 2) << "packet too big";
    uint32_t mtu = static_cast<uint32_t>(r.out[58] << 24 | r.out[59] << 16 | r.out[60] << 8 | r.out[61]);
    EXPECT_EQ(mtu, 1460u) << "1500 less the 40-byte outer IPv6 header";
    EXPECT_TRUE(std::equal(r.out.begin() + 62, r.out.end(), in.begin() + 14)) << "quotes the client's packet";
    // The ICMPv6 checksum, recomputed over the pseudo-header.
    std::vector<uint8_t> ps(r.out.begin() + 22, r.out.begin() + 54); // src, dst
    ps.insert(ps.end(), {0, 0, 0, 56, 0, 0, 0, 58});
    ps.insert(ps.end(), r.out.begin() + 54, r.out.end());
    EXPECT_EQ(inet_csum(ps.data(), ps.size()), 0) << "a valid checksum sums to zero";
}

// --- The path-MTU errors' rate limit (bpf/icmp.h) ------------------------------
// Expected counts follow the kernel's code, not xlb's: inet_peer_xrlim_allow()
// (net/ipv4/inetpeer.c: tokens in jiffies, capped at 6 errors' worth; a new
// peer starts 60 s back, so full), and icmp_global_allow() with
// icmp_global_consume() (net/ipv4/icmp.c since 6.12: refill only when empty,
// after HZ/50, by msgs_per_sec * min(delta, HZ) / HZ, capped at the burst;
// spent only once the peer check passed), with one credit per error.

class icmp_limit : public tun {
protected:
    void SetUp() override {
        tun::SetUp();
        if (IsSkipped()) {
            return;
        }
        add("10.1.0.186", 80, xdp_lab::backend4(9));
        add("fd01::186", 80, xdp_lab::backend6(9));
    }

    // Sets the limits as `load` would, and the global bucket to `credit`,
    // last refilled 2 s ago: its next refill counts a whole second.
    void limits(uint32_t ratelimit_ms, uint32_t per_sec, uint32_t burst, int32_t credit) {
        auto cfg = dp().config();
        ASSERT_TRUE(cfg);
        cfg->icmp_ratelimit_ms = ratelimit_ms;
        cfg->icmp_msgs_per_sec = per_sec;
        cfg->icmp_msgs_burst = burst;
        ASSERT_TRUE(dp().set_config(*cfg));
        _hz = cfg->hz;
        auto now = clock::jiffies();
        ASSERT_TRUE(now);
        struct {
            uint32_t lock;
            int32_t credit;
            uint32_t stamp;
        } v{0, credit, static_cast<uint32_t>(*now - 2 * _hz)};
        uint32_t zero = 0;
        ASSERT_EQ(bpf_map_update_elem(dp().map_fds().icmp_credit.get(), &zero, &v, BPF_ANY), 0);
    }

    // n packets too big for the tunnel from client; how many got their ICMP
    // error. The others must be dropped as drop_too_big_limited.
    int send(const char* client, int n) {
        const bool v6 = std::strchr(client, ':') != nullptr;
        auto before = dp().reasons().value();
        int sent = 0;
        for (int i = 0; i < n; ++i) {
            auto p = syn(client, v6 ? "fd01::186" : "10.1.0.186", 80);
            p.frag_off = v6 ? 0 : 0x4000;
            p.payload.assign(v6 ? 1500 - 40 - 20 : 1481 - 20 - 20, 'p');
            p.sport = static_cast<uint16_t>(_sport++);
            auto r = run(build(p));
            EXPECT_TRUE(r.action == XDP_TX || r.action == XDP_DROP) << r.action;
            sent += r.action == XDP_TX;
        }
        auto after = dp().reasons().value();
        EXPECT_EQ(after[XLB_R_TX_ICMP_TOO_BIG] - before[XLB_R_TX_ICMP_TOO_BIG], static_cast<uint64_t>(sent));
        EXPECT_EQ(after[XLB_R_DROP_TOO_BIG_LIMITED] - before[XLB_R_DROP_TOO_BIG_LIMITED],
                  static_cast<uint64_t>(n - sent));
        return sent;
    }

    uint32_t _hz = 0;
    int _sport = 20000;
};

TEST_F(icmp_limit, six_in_a_row_per_client_then_one_per_ratelimit) {
    limits(10000, 0, 0, 1000); // 10 s a token; the global bucket never runs dry here
    EXPECT_EQ(send("10.1.0.210", 8), 6) << "XRLIM_BURST_FACTOR errors, then none for 10 s";
    EXPECT_EQ(send("10.1.0.211", 8), 6) << "another client has its own bucket";
    EXPECT_EQ(send("fd01::210", 8), 6) << "IPv6 packet too big, the same";
    EXPECT_EQ(send("10.1.0.210", 2), 0) << "the first client still has none";

    // One token per 100 ms: after a pause, one error per 100 ms of it.
    limits(100, 0, 0, 1000);
    ASSERT_EQ(send("10.1.0.212", 7), 6);
    auto t0 = clock::jiffies();
    std::this_thread::sleep_for(std::chrono::milliseconds(330));
    int again = send("10.1.0.212", 8);
    auto t1 = clock::jiffies();
    ASSERT_TRUE(t0 && t1);
    const uint64_t token = (100 * _hz + 999) / 1000; // msecs_to_jiffies()
    EXPECT_GE(again, 3) << "330 ms earn three tokens";
    EXPECT_LE(static_cast<uint64_t>(again), (*t1 - *t0) / token + 1) << "and no more than the time passed";
}

TEST_F(icmp_limit, a_client_over_its_limit_does_not_spend_the_global_budget) {
    limits(10000, 0, 0, 7); // 7 credits, never refilled (icmp_msgs_per_sec 0)
    EXPECT_EQ(send("10.1.0.220", 10), 6) << "six spend six credits; the other four are refused by the client's bucket";
    EXPECT_EQ(send("10.1.0.221", 3), 1) << "so one credit is left for the next client";
    EXPECT_EQ(send("10.1.0.222", 3), 0) << "and then none";
}

TEST_F(icmp_limit, the_global_budget_refills_at_msgs_per_sec_up_to_the_burst) {
    limits(0, 10, 3, 0); // no limit per client; 10 a second, 3 at once
    EXPECT_EQ(send("10.1.0.230", 10), 3) << "a second's worth is 10, capped at the burst of 3";
    std::this_thread::sleep_for(std::chrono::milliseconds(1100));
    EXPECT_EQ(send("10.1.0.230", 10), 3) << "refilled once empty, after a whole second";
    // With the default limits, a fresh instance sends a burst of 50, 6 a client.
    limits(XLB_DEFAULT_ICMP_RATELIMIT_MS, XLB_DEFAULT_ICMP_MSGS_PER_SEC, XLB_DEFAULT_ICMP_MSGS_BURST, 0);
    int sent = 0;
    for (int c = 0; c < 10; ++c) {
        sent += send(fmt::format("10.1.1.{}", c).c_str(), 6);
    }
    EXPECT_EQ(sent, 50) << "then the next refill waits for HZ/50 and 1000 * delta / HZ >= 1";
}

// What the data path has posted to neigh_events so far (and drains it).
std::vector<xlb_neigh_event> drain_events(const std::string& pin_dir) {
    std::vector<xlb_neigh_event> evs;
    file_desc fd(bpf_obj_get((pin_dir + "/neigh_events").c_str()));
    EXPECT_TRUE(fd) << "open " << pin_dir << "/neigh_events";
    auto cb = [](void* c, void* data, size_t size) -> int {
        xlb_neigh_event ev{};
        std::memcpy(&ev, data, std::min(size, sizeof(ev)));
        static_cast<std::vector<xlb_neigh_event>*>(c)->push_back(ev);
        return 0;
    };
    std::unique_ptr<ring_buffer, void (*)(ring_buffer*)> rb(ring_buffer__new(fd.get(), cb, &evs, nullptr),
                                                            ring_buffer__free);
    EXPECT_TRUE(rb);
    if (rb) {
        ring_buffer__poll(rb.get(), 100);
    }
    return evs;
}

// A tunnel server with no route when it is added (ipvsadm accepts it): its
// packets are dropped and counted (drop_no_tun_src) with an event for
// userspace; once the route exists, `xlbctl resolve` gives it the route's
// preferred source, and its packets leave encapsulated from there.
TEST_F(tun, server_without_a_route_gets_its_source_once_the_route_exists) {
    const auto dst = addr("10.9.0.4"), dst2 = addr("10.9.0.5"), src = addr("192.0.2.1");
    // Through the library, and through xlbctl as an operator would.
    add("10.1.0.187", 80, dst);
    ASSERT_TRUE(dp().add_service({{protocol::tcp, {addr("10.1.0.188"), 80}}, scheduler::rr}));
    auto cli = run_cmd(fmt::format("{} --pin-dir {} -a -t 10.1.0.188:80 -r 10.9.0.5 -i", xlbctl_bin(),
                                   _xlb->pin_dir()));
    EXPECT_EQ(cli.code, 0) << cli.err;
    EXPECT_NE(cli.err.find("route to 10.9.0.5: Network is unreachable"), std::string::npos)
        << "one warning line names it: " << cli.err;

    auto in = build(syn("10.1.0.200", "10.1.0.187", 80));
    auto in2 = build(syn("10.1.0.200", "10.1.0.188", 80));
    auto before = dp().reasons().value();
    auto r = run(in);
    EXPECT_EQ(r.action, XDP_DROP);
    auto after = dp().reasons().value();
    for (int i = 0; i < XLB_R_MAX; ++i) {
        EXPECT_EQ(after[i] - before[i], i == XLB_R_DROP_NO_TUN_SRC ? 1u : 0u)
            << "counter " << reason_name(static_cast<xlb_reason>(i));
    }
    EXPECT_EQ(reason_name(XLB_R_DROP_NO_TUN_SRC), "drop_no_tun_src");
    auto evs = drain_events(_xlb->pin_dir());
    ASSERT_EQ(evs.size(), 1u);
    EXPECT_EQ(evs[0].kind, XLB_NEIGH_EV_TUN_SRC);
    EXPECT_EQ(evs[0].af, XLB_AF_INET);
    EXPECT_EQ(evs[0].ifindex, 0u);
    EXPECT_EQ(ip_address::from_abi(evs[0].af, evs[0].addr), dst);

    // Without a route, resolving changes nothing; the packets still drop.
    EXPECT_EQ(run(in).action, XDP_DROP);
    EXPECT_EQ(run(in2).action, XDP_DROP);
    auto none = run_cmd(fmt::format("{} --pin-dir {} resolve", xlbctl_bin(), _xlb->pin_dir()));
    EXPECT_EQ(none.code, 0) << none.err;
    EXPECT_EQ(run(in).action, XDP_DROP);
    EXPECT_EQ(run(in2).action, XDP_DROP);

    // The route appears, with a source of its own: 10.9.0.0/24 through
    // 10.1.0.11 (backend 1, a permanent neighbour) from 192.0.2.1.
    struct route_guard {
        ~route_guard() { sh("ip route del 10.9.0.0/24 2>/dev/null; ip addr del 192.0.2.1/32 dev ya 2>/dev/null"); }
    } guard;
    ASSERT_EQ(sh("ip addr add 192.0.2.1/32 dev ya && ip route add 10.9.0.0/24 via 10.1.0.11 dev xa src 192.0.2.1"),
              0);
    auto res = run_cmd(fmt::format("{} --pin-dir {} resolve", xlbctl_bin(), _xlb->pin_dir()));
    EXPECT_EQ(res.code, 0) << res.err;
    EXPECT_NE(res.out.find("requested resolution of"), std::string::npos) << res.out;
    EXPECT_EQ(res.err, "");

    for (const auto& [frame, d] : {std::pair{in, dst}, std::pair{in2, dst2}}) {
        auto b = dp().reasons().value();
        auto e = run(frame);
        ASSERT_EQ(e.action, XDP_TX) << d.to_string();
        EXPECT_EQ(dp().reasons().value()[XLB_R_TX] - b[XLB_R_TX], 1u);
        // Field by field: L2 to the gateway, then the outer IPv4 header from
        // the route's source, then the client's packet.
        ASSERT_EQ(e.out.size(), frame.size() + 20);
        auto want = expect(frame, 1, 0x0800, outer_ipv4(src, d, 4, frame.size() - 14));
        EXPECT_TRUE(std::equal(e.out.begin(), e.out.begin() + 6, want.begin())) << "dest MAC: the gateway's";
        EXPECT_TRUE(std::equal(e.out.begin() + 6, e.out.begin() + 12, want.begin() + 6)) << "source MAC: ours";
        EXPECT_EQ(e.out[12], 0x08);
        EXPECT_EQ(e.out[13], 0x00);
        EXPECT_EQ(e.out[14], 0x45) << "IPv4, 20-byte header";
        EXPECT_EQ(e.out[14 + 9], 4) << "IPIP";
        EXPECT_EQ(ip_address::parse(fmt::format("{}.{}.{}.{}", e.out[26], e.out[27], e.out[28], e.out[29])), src)
            << "outer source: the route's preferred source";
        EXPECT_EQ(ip_address::parse(fmt::format("{}.{}.{}.{}", e.out[30], e.out[31], e.out[32], e.out[33])), d)
            << "outer destination: the server";
        EXPECT_EQ(e.out, want) << "the whole frame, checksum included";
        expect_decap(e.out, frame);
    }
}

TEST_F(tun, decap_leaves_other_traffic_alone) {
    auto plain = build(syn("10.1.0.200", "10.1.0.184", 80));
    auto r = run_xdp(bpf_program__fd(_decap->progs.xlb_decap), plain, _ifindex);
    EXPECT_EQ(r.action, XDP_PASS);
    EXPECT_EQ(r.out, plain);
}

} // namespace
