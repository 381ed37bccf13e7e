// NAT through the real XDP program: client packets rewritten to the dest,
// replies rewritten back to the VIP, compared byte for byte with packets the
// test builds from scratch (so every checksum is checked independently).

#include "support/netns.h"
#include "support/packet.h"
#include "support/priv.h"
#include "support/xdp_lab.h"

#include <xlb/dataplane/xdp_dataplane.h>

#include <gtest/gtest.h>

using namespace xlb;
using namespace xlb::test;

namespace {

[[maybe_unused]] auto* const g_env = ::testing::AddGlobalTestEnvironment(new lab_environment(true));

ip_address addr(const char* s) { return *ip_address::parse(s); }

const mac client_mac = parse_mac("02:00:00:00:00:c1");

class nat : public ::testing::Test {
protected:
    void SetUp() override {
        XLB_REQUIRE_PRIVILEGE();
        _xlb.emplace();
        _ifindex = ifindex(xdp_lab::dir_if);
    }
    xdp_dataplane& dp() { return _xlb->dp(); }

    service_key add(const char* vip, uint16_t vport, protocol proto, const ip_address& dest, uint16_t dport) {
        service_key k{proto, {addr(vip), vport}};
        // IPVS takes an IPv6 service only with a prefix length (ipvsadm's default 128).
        EXPECT_TRUE(dp().add_service({k, scheduler::rr, 0, 0, k.vip.addr.is_v4() ? 0xffffffffu : 128u}));
        EXPECT_TRUE(dp().add_dest(k, {{dest, dport}, forwarding::nat, 1, 0, 0}));
        return k;
    }

    run_result run(const std::vector<uint8_t>& f) { return run_xdp(dp().prog_fd(), f, _ifindex); }

    // A packet as the wire carries it: client -> director, or dest -> director.
    static packet_spec pkt(const ip_address& src, uint16_t sport, const ip_address& dst, uint16_t dport,
                           uint8_t proto, uint8_t flags) {
        packet_spec p;
        p.src = client_mac;
        p.dst = parse_mac(xdp_lab::dir_mac);
        p.saddr = src;
        p.daddr = dst;
        p.sport = sport;
        p.dport = dport;
        p.proto = proto;
        p.tcp_flags = flags;
        p.payload = {'h', 'e', 'l', 'l', 'o'};
        return p;
    }

    std::optional<loaded_xlb> _xlb;
    int _ifindex = 0;
};

TEST_F(nat, ipv4_tcp_both_ways_byte_exact) {
    auto vip = addr("10.1.0.170"), client = addr("10.1.0.200"), dest = xdp_lab::backend4(1);
    add("10.1.0.170", 80, protocol::tcp, dest, 8080);

    auto in = pkt(client, 40000, vip, 80, 6, tcp_syn);
    auto want = in;
    want.daddr = dest;
    want.dport = 8080;
    want.dst = xdp_lab::backend_mac(1);
    want.src = parse_mac(xdp_lab::dir_mac);
    auto r = run(build(in));
    ASSERT_EQ(r.action, XDP_TX);
    EXPECT_EQ(r.out, build(want)) << "DNAT to the dest with correct IP and TCP checksums";

    // The dest answers the client; the director puts the VIP back.
    auto reply = pkt(dest, 8080, client, 40000, 6, tcp_syn | tcp_ack);
    reply.src = xdp_lab::backend_mac(1);
    auto back = reply;
    back.saddr = vip;
    back.sport = 80;
    back.dst = client_mac;
    back.src = parse_mac(xdp_lab::dir_mac);
    auto rr = run(build(reply));
    ASSERT_EQ(rr.action, XDP_TX);
    EXPECT_EQ(rr.out, build(back)) << "SNAT back to the VIP";

    auto ack = run(build(pkt(client, 40000, vip, 80, 6, tcp_ack)));
    ASSERT_EQ(ack.action, XDP_TX);
    auto s = dp().list().value()[0];
    EXPECT_EQ(s.stats.inpkts, 2u);
    EXPECT_EQ(s.stats.outpkts, 1u) << "NAT replies count as OutPkts";
    EXPECT_EQ(s.stats.outbytes, build(reply).size() - 14);
    EXPECT_EQ(s.dests[0].stats.outpkts, 1u);
    EXPECT_EQ(s.dests[0].active_conns, 1u) << "ESTABLISHED after SYN, SYN-ACK, ACK";
}

TEST_F(nat, ipv4_udp_with_and_without_checksum) {
    auto vip = addr("10.1.0.171"), client = addr("10.1.0.200"), dest = xdp_lab::backend4(2);
    add("10.1.0.171", 53, protocol::udp, dest, 5353);
    auto in = pkt(client, 41000, vip, 53, 17, 0);
    auto want = in;
    want.daddr = dest;
    want.dport = 5353;
    want.dst = xdp_lab::backend_mac(2);
    want.src = parse_mac(xdp_lab::dir_mac);
    auto r = run(build(in));
    ASSERT_EQ(r.action, XDP_TX);
    EXPECT_EQ(r.out, build(want));

    // A datagram sent without a checksum keeps none.
    auto f = build(pkt(client, 41001, vip, 53, 17, 0));
    f[14 + 20 + 6] = 0;
    f[14 + 20 + 7] = 0;
    auto r0 = run(f);
    ASSERT_EQ(r0.action, XDP_TX);
    EXPECT_EQ(r0.out[14 + 20 + 6], 0);
    EXPECT_EQ(r0.out[14 + 20 + 7], 0);
    auto w0 = build(want);
    EXPECT_EQ(std::vector<uint8_t>(r0.out.begin() + 14, r0.out.begin() + 34),
              std::vector<uint8_t>(w0.begin() + 14, w0.begin() + 34))
        << "the IP header is rewritten with a correct checksum";
}

TEST_F(nat, ipv6_tcp_both_ways_byte_exact) {
    auto vip = addr("fd01::170"), client = addr("fd01::200"), dest = xdp_lab::backend6(3);
    add("fd01::170", 443, protocol::tcp, dest, 8443);
    auto in = pkt(client, 42000, vip, 443, 6, tcp_syn);
    auto want = in;
    want.daddr = dest;
    want.dport = 8443;
    want.dst = xdp_lab::backend_mac(3);
    want.src = parse_mac(xdp_lab::dir_mac);
    auto r = run(build(in));
    ASSERT_EQ(r.action, XDP_TX);
    EXPECT_EQ(r.out, build(want));

    auto reply = pkt(dest, 8443, client, 42000, 6, tcp_syn | tcp_ack);
    auto back = reply;
    back.saddr = vip;
    back.sport = 443;
    back.dst = client_mac;
    back.src = parse_mac(xdp_lab::dir_mac);
    auto rr = run(build(reply));
    ASSERT_EQ(rr.action, XDP_TX);
    EXPECT_EQ(rr.out, build(back));
}

TEST_F(nat, a_reply_without_a_flow_is_not_touched) {
    add("10.1.0.172", 80, protocol::tcp, xdp_lab::backend4(4), 8080);
    auto stray = build(pkt(xdp_lab::backend4(4), 8080, addr("10.1.0.200"), 49999, 6, tcp_ack));
    auto r = run(stray);
    EXPECT_EQ(r.action, XDP_PASS);
    EXPECT_EQ(r.out, stray);
}

} // namespace

namespace {

// An ICMP error about a VIP's reply (a router on the client's path, say)
// reaches the director, which owns the VIP; it goes on to the flow's server.
std::vector<uint8_t> icmp_about(const ip_address& router, const ip_address& vip, const ip_address& client,
                                uint16_t vport, uint16_t cport) {
    packet_spec quoted;
    quoted.saddr = vip;
    quoted.daddr = client;
    quoted.sport = vport;
    quoted.dport = cport;
    quoted.tcp_flags = tcp_syn | tcp_ack;
    auto q = build(quoted);
    std::vector<uint8_t> icmp = {3, 4, 0, 0, 0, 0, 0x05, 0x78}; // fragmentation needed, MTU 1400
    icmp.insert(icmp.end(), q.begin() + 14, q.begin() + 14 + 28);
    uint16_t c = inet_csum(icmp.data(), icmp.size());
    icmp[2] = static_cast<uint8_t>(c >> 8);
    icmp[3] = static_cast<uint8_t>(c);
    packet_spec p;
    p.src = parse_mac("02:00:00:00:00:ee");
    p.dst = parse_mac(xdp_lab::dir_mac);
    p.saddr = router;
    p.daddr = vip;
    p.proto = 1;
    p.payload = icmp;
    return build(p);
}

TEST_F(nat, icmp_error_about_a_dr_flow_goes_to_its_server) {
    service_key k{protocol::tcp, {addr("10.1.0.190"), 80}};
    ASSERT_TRUE(dp().add_service({k, scheduler::rr}));
    ASSERT_TRUE(dp().add_dest(k, {{xdp_lab::backend4(1), 80}, forwarding::dr, 1, 0, 0}));
    ASSERT_EQ(run(build(pkt(addr("10.1.0.200"), 45000, addr("10.1.0.190"), 80, 6, tcp_syn))).action, XDP_TX);

    auto err = icmp_about(addr("10.1.0.250"), addr("10.1.0.190"), addr("10.1.0.200"), 80, 45000);
    auto r = run(err);
    ASSERT_EQ(r.action, XDP_TX);
    auto want = err;
    auto dm = xdp_lab::backend_mac(1);
    auto sm = parse_mac(xdp_lab::dir_mac);
    std::copy(dm.begin(), dm.end(), want.begin());
    std::copy(sm.begin(), sm.end(), want.begin() + 6);
    EXPECT_EQ(r.out, want) << "DR: only the MACs change";

    auto unknown = icmp_about(addr("10.1.0.250"), addr("10.1.0.190"), addr("10.1.0.200"), 80, 45999);
    auto u = run(unknown);
    EXPECT_EQ(u.action, XDP_PASS) << "about no flow: the kernel's business";
    EXPECT_EQ(u.out, unknown);
}

TEST_F(nat, icmp_error_about_a_nat_flow_is_rewritten_for_its_server) {
    auto vip = addr("10.1.0.191"), client = addr("10.1.0.200"), dest = xdp_lab::backend4(2);
    add("10.1.0.191", 80, protocol::tcp, dest, 8080);
    ASSERT_EQ(run(build(pkt(client, 46000, vip, 80, 6, tcp_syn))).action, XDP_TX);

    auto r = run(icmp_about(addr("10.1.0.250"), vip, client, 80, 46000));
    ASSERT_EQ(r.action, XDP_TX);
    ASSERT_EQ(r.out.size(), 14u + 20 + 8 + 28);
    const uint8_t* ip = r.out.data() + 14;
    EXPECT_EQ(inet_csum(ip, 20), 0) << "outer IPv4 checksum";
    EXPECT_TRUE(std::equal(ip + 16, ip + 20, dest.bytes().begin())) << "to the server";
    EXPECT_EQ(inet_csum(ip + 20, 8 + 28), 0) << "ICMP checksum";
    const uint8_t* quoted = ip + 28;
    EXPECT_EQ(inet_csum(quoted, 20), 0) << "quoted IPv4 checksum";
    EXPECT_TRUE(std::equal(quoted + 12, quoted + 16, dest.bytes().begin())) << "quoted source: the server";
    EXPECT_EQ(quoted[20] << 8 | quoted[21], 8080) << "quoted source port: the server's";
    EXPECT_EQ(quoted[22] << 8 | quoted[23], 46000);
}

TEST_F(nat, icmp_echo_to_a_vip_is_left_to_the_kernel) {
    add("10.1.0.192", 80, protocol::tcp, xdp_lab::backend4(3), 80);
    packet_spec p = pkt(addr("10.1.0.200"), 0, addr("10.1.0.192"), 0, 1, 0);
    p.payload = {8, 0, 0xf7, 0xff, 0, 0, 0, 0};
    auto f = build(p);
    auto r = run(f);
    EXPECT_EQ(r.action, XDP_PASS);
    EXPECT_EQ(r.out, f);
}

} // namespace

namespace {

uint16_t icmp6_csum(const ip_address& src, const ip_address& dst, const std::vector<uint8_t>& icmp) {
    std::vector<uint8_t> ps(src.bytes().begin(), src.bytes().end());
    ps.insert(ps.end(), dst.bytes().begin(), dst.bytes().end());
    ps.insert(ps.end(), {0, 0, static_cast<uint8_t>(icmp.size() >> 8), static_cast<uint8_t>(icmp.size()), 0, 0, 0,
                         58});
    ps.insert(ps.end(), icmp.begin(), icmp.end());
    return inet_csum(ps.data(), ps.size());
}

TEST_F(nat, icmpv6_packet_too_big_about_a_nat_flow) {
    auto vip = addr("fd01::191"), client = addr("fd01::200"), dest = xdp_lab::backend6(4), router = addr("fd01::250");
    add("fd01::191", 443, protocol::tcp, dest, 8443);
    ASSERT_EQ(run(build(pkt(client, 47000, vip, 443, 6, tcp_syn))).action, XDP_TX);

    packet_spec quoted;
    quoted.saddr = vip;
    quoted.daddr = client;
    quoted.sport = 443;
    quoted.dport = 47000;
    auto q = build(quoted);
    std::vector<uint8_t> icmp = {2, 0, 0, 0, 0, 0, 0x05, 0x00}; // packet too big, MTU 1280
    icmp.insert(icmp.end(), q.begin() + 14, q.begin() + 14 + 48);
    uint16_t c = icmp6_csum(router, vip, icmp);
    icmp[2] = static_cast<uint8_t>(c >> 8);
    icmp[3] = static_cast<uint8_t>(c);
    packet_spec p;
    p.dst = parse_mac(xdp_lab::dir_mac);
    p.saddr = router;
    p.daddr = vip;
    p.proto = 58;
    p.payload = icmp;
    auto r = run(build(p));
    ASSERT_EQ(r.action, XDP_TX);
    std::vector<uint8_t> out_icmp(r.out.begin() + 14 + 40, r.out.end());
    EXPECT_EQ(icmp6_csum(router, dest, out_icmp), 0) << "ICMPv6 checksum valid for the new destination";
    EXPECT_TRUE(std::equal(r.out.begin() + 14 + 24, r.out.begin() + 14 + 40, dest.bytes().begin()));
    EXPECT_TRUE(std::equal(out_icmp.begin() + 8 + 8, out_icmp.begin() + 8 + 24, dest.bytes().begin()))
        << "quoted source: the server";
    EXPECT_EQ(out_icmp[8 + 40] << 8 | out_icmp[8 + 41], 8443);
}

} // namespace
