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
        EXPECT_TRUE(dp().add_service({k, scheduler::rr}));
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
