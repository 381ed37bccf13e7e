// The sync messages that carry xlb's connections into kernel IPVS: how
// they split and what they refuse. Whether the kernel takes them is the
// ipvs tier's (ipvs_carry, a backup sync daemon on Debian's 6.1); the
// layout here is ip_vs_sync.c's struct ip_vs_sync_mesg and ip_vs_sync_v4/v6.

#include "sync_feed.h"

#include <gtest/gtest.h>

#include <fmt/format.h>

using namespace xlb;

namespace {

conn_state tcp(int i, bool v6 = false) {
    conn_state c;
    c.proto = protocol::tcp;
    c.client = *endpoint::parse(v6 ? fmt::format("[2001:db8::{:x}]:{}", i + 1, 10000 + i)
                                   : fmt::format("10.0.{}.{}:{}", i / 250, i % 250 + 1, 10000 + i));
    c.vip = *endpoint::parse(v6 ? "[2001:db8:1::1]:80" : "10.1.0.1:80");
    c.dest = *endpoint::parse(v6 ? "[2001:db8:2::1]:8080" : "10.2.0.1:8080");
    c.state = XLB_TCP_S_ESTABLISHED;
    c.expire_s = 900;
    return c;
}

uint16_t be16(const ipvs::sync_message& m, size_t at) { return static_cast<uint16_t>(m[at] << 8 | m[at + 1]); }

} // namespace

TEST(ipvs_sync, one_ipv4_flow_as_ip_vs_sync_v4) {
    auto r = ipvs::sync_messages({tcp(0)}, 9, 1472);
    ASSERT_TRUE(r) << r.error().message();
    ASSERT_EQ(r->size(), 1u);
    const auto& m = r->front();
    ASSERT_EQ(m.size(), 8u + 36u);
    // Header: reserved 0, syncid, size, count, version 1, spare 0.
    EXPECT_EQ(m[0], 0);
    EXPECT_EQ(m[1], 9);
    EXPECT_EQ(be16(m, 2), m.size());
    EXPECT_EQ(m[4], 1);
    EXPECT_EQ(m[5], 1);
    EXPECT_EQ(be16(m, 6), 0);
    // The conn: type 0 (IPv4), TCP, version 0 and its size.
    EXPECT_EQ(m[8], 0);
    EXPECT_EQ(m[9], 6);
    EXPECT_EQ(be16(m, 10), 36);
    EXPECT_EQ(be16(m, 16), XLB_TCP_S_ESTABLISHED); // after 32 bits of flags
    EXPECT_EQ(be16(m, 18), 10000);                 // cport
    EXPECT_EQ(be16(m, 20), 80);                    // vport
    EXPECT_EQ(be16(m, 22), 8080);                  // dport
    EXPECT_EQ(be16(m, 30), 900);                   // the low half of the timeout
    EXPECT_EQ(m[32], 10);                          // caddr 10.0.0.1
    EXPECT_EQ(m[35], 1);
    EXPECT_EQ(m[36], 10); // vaddr 10.1.0.1
    EXPECT_EQ(m[41], 2);  // daddr 10.2.0.1
}

TEST(ipvs_sync, messages_split_at_maxlen_and_at_255_conns) {
    std::vector<conn_state> many;
    for (int i = 0; i < 600; ++i) {
        many.push_back(tcp(i));
    }
    // 1472 bytes hold (1472 - 8) / 36 = 40 IPv4 conns.
    auto r = ipvs::sync_messages(many, 0, 1472);
    ASSERT_TRUE(r);
    size_t total = 0;
    for (const auto& m : *r) {
        EXPECT_LE(m.size(), 1472u);
        EXPECT_EQ(be16(m, 2), m.size());
        EXPECT_EQ(m.size(), 8u + 36u * m[4]);
        total += m[4];
    }
    EXPECT_EQ(total, 600u);
    EXPECT_EQ(r->front()[4], 40);
    // A 64k message stops at 255 conns: the count is a byte.
    auto big = ipvs::sync_messages(many, 0, 65000);
    ASSERT_TRUE(big);
    ASSERT_EQ(big->size(), 3u);
    EXPECT_EQ(big->at(0)[4], 255);
    EXPECT_EQ(big->at(2)[4], 600 - 510);
    // IPv6 conns are 72 bytes (three 16-byte addresses), type bit 0 set.
    auto v6 = ipvs::sync_messages({tcp(1, true)}, 0, 1472);
    ASSERT_TRUE(v6);
    EXPECT_EQ(v6->front().size(), 8u + 72u);
    EXPECT_EQ(v6->front()[8], 1);
    EXPECT_TRUE(ipvs::sync_messages({}, 0, 1472)->empty());
}

TEST(ipvs_sync, what_the_protocol_cannot_carry_is_refused) {
    auto mixed = tcp(0);
    mixed.dest = *endpoint::parse("[2001:db8:2::1]:80");
    auto r = ipvs::sync_messages({tcp(1), mixed}, 0, 1472);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, EINVAL);
    auto fwm = tcp(2);
    fwm.is_template = true;
    fwm.fwmark = 5;
    EXPECT_FALSE(ipvs::sync_messages({fwm}, 0, 1472));
    EXPECT_FALSE(ipvs::sync_messages({tcp(3)}, 0, 79)) << "no room for one IPv6 conn";
}

// The flags word: IP_VS_CONN_F_INACTIVE (0x0100) unless IPVS's
// tcp_state_active_table counts the state active (SYN_SENT, SYN_RECV,
// SYNACK, ESTABLISHED); IP_VS_CONN_F_TEMPLATE (0x1000) for a template.
TEST(ipvs_sync, flags_say_inactive_and_template_as_ipvs_does) {
    auto flags_of = [](const conn_state& c) {
        auto r = ipvs::sync_messages({c}, 0, 1472);
        EXPECT_TRUE(r);
        const auto& m = r->front();
        return uint32_t{be16(m, 12)} << 16 | be16(m, 14);
    };
    auto c = tcp(0);
    for (uint8_t s = 0; s < XLB_TCP_S_LAST; ++s) {
        c.state = s;
        bool active = s == XLB_TCP_S_SYN_SENT || s == XLB_TCP_S_SYN_RECV || s == XLB_TCP_S_SYNACK ||
                      s == XLB_TCP_S_ESTABLISHED;
        EXPECT_EQ(flags_of(c), active ? 0u : 0x0100u) << conn_state_name(c);
    }
    auto u = tcp(1);
    u.proto = protocol::udp;
    u.state = XLB_UDP_S_NORMAL;
    EXPECT_EQ(flags_of(u), 0x0100u);
    auto t = tcp(2);
    t.is_template = true;
    t.client.port = 0;
    EXPECT_EQ(flags_of(t), 0x1000u);
}
