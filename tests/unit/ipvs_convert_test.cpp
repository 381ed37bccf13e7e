// The IPVS backend's attribute conversion, against messages built the way
// ip_vs_ctl.c fills them (ip_vs_genl_fill_service(), ip_vs_genl_fill_dest()):
// byte orders, the kernel's own HASHED flag, 64-bit counters. No kernel IPVS
// needed; tests/ipvs holds what only the kernel can show.

#include "convert.h"

#include <gtest/gtest.h>

#include <netlink/attr.h>
#include <netlink/genl/genl.h>
#include <netlink/msg.h>

#include <arpa/inet.h>
#include <linux/ip_vs.h>

#include <array>
#include <cstring>
#include <memory>

using namespace xlb;

namespace {

struct msg_free {
    void operator()(nl_msg* m) const noexcept { nlmsg_free(m); }
};
using msg = std::unique_ptr<nl_msg, msg_free>;

msg reply(uint8_t cmd) {
    msg m(nlmsg_alloc());
    genlmsg_put(m.get(), NL_AUTO_PORT, NL_AUTO_SEQ, 1, 0, 0, cmd, IPVS_GENL_VERSION);
    return m;
}

// ip_vs_genl_fill_stats64(): every field a u64.
void put_stats64(nl_msg* m, int type, uint64_t base) {
    nlattr* s = nla_nest_start(m, type);
    nla_put_u64(m, IPVS_STATS_ATTR_CONNS, base + 1);
    nla_put_u64(m, IPVS_STATS_ATTR_INPKTS, base + 2);
    nla_put_u64(m, IPVS_STATS_ATTR_OUTPKTS, base + 3);
    nla_put_u64(m, IPVS_STATS_ATTR_INBYTES, base + 4);
    nla_put_u64(m, IPVS_STATS_ATTR_OUTBYTES, base + 5);
    nla_put_u64(m, IPVS_STATS_ATTR_CPS, 6);
    nla_put_u64(m, IPVS_STATS_ATTR_INPPS, 7);
    nla_put_u64(m, IPVS_STATS_ATTR_OUTPPS, 8);
    nla_put_u64(m, IPVS_STATS_ATTR_INBPS, 9);
    nla_put_u64(m, IPVS_STATS_ATTR_OUTBPS, 10);
    nla_nest_end(m, s);
}

TEST(ipvs_convert, a_service_as_the_kernel_fills_it) {
    auto m = reply(IPVS_CMD_NEW_SERVICE);
    nlattr* s = nla_nest_start(m.get(), IPVS_CMD_ATTR_SERVICE);
    nla_put_u16(m.get(), IPVS_SVC_ATTR_AF, AF_INET);
    nla_put_u16(m.get(), IPVS_SVC_ATTR_PROTOCOL, IPPROTO_UDP);
    std::array<uint8_t, 16> addr{10, 0, 0, 1};
    nla_put(m.get(), IPVS_SVC_ATTR_ADDR, 16, addr.data());
    const uint8_t port[2] = {0x13, 0xc4}; // 5060, network order
    nla_put(m.get(), IPVS_SVC_ATTR_PORT, 2, port);
    nla_put_string(m.get(), IPVS_SVC_ATTR_SCHED_NAME, "sh");
    nla_put_string(m.get(), IPVS_SVC_ATTR_PE_NAME, "sip");
    // The kernel keeps HASHED set on every hashed service.
    ip_vs_flags f{IP_VS_SVC_F_HASHED | IP_VS_SVC_F_PERSISTENT | IP_VS_SVC_F_SCHED_SH_PORT, ~0u};
    nla_put(m.get(), IPVS_SVC_ATTR_FLAGS, sizeof(f), &f);
    nla_put_u32(m.get(), IPVS_SVC_ATTR_TIMEOUT, 360);
    const uint8_t mask[4] = {255, 255, 255, 0}; // nla_put_be32(svc->netmask)
    nla_put(m.get(), IPVS_SVC_ATTR_NETMASK, 4, mask);
    put_stats64(m.get(), IPVS_SVC_ATTR_STATS64, 1ull << 40);
    nla_nest_end(m.get(), s);

    auto got = ipvs::parse_service(m.get());
    ASSERT_TRUE(got) << got.error().message();
    EXPECT_EQ(got->config.key, (service_key{protocol::udp, *endpoint::parse("10.0.0.1:5060")}));
    EXPECT_EQ(got->config.sched, scheduler::sh);
    EXPECT_EQ(got->config.pe_name, "sip");
    EXPECT_EQ(got->config.flags, uint32_t{XLB_IPVS_SVC_F_PERSISTENT | XLB_IPVS_SVC_F_SCHED2});
    EXPECT_EQ(got->config.timeout, 360u);
    EXPECT_EQ(got->config.netmask, 0xffffff00u);
    EXPECT_EQ(got->stats.conns, (1ull << 40) + 1) << "64-bit counters keep their high bits";
    EXPECT_EQ(got->stats.inpkts, (1ull << 40) + 2);
    EXPECT_EQ(got->stats.outpkts, (1ull << 40) + 3);
    EXPECT_EQ(got->stats.inbytes, (1ull << 40) + 4);
    EXPECT_EQ(got->stats.outbytes, (1ull << 40) + 5);
    EXPECT_EQ(got->rate.cps, 6u);
    EXPECT_EQ(got->rate.outbps, 10u);
}

TEST(ipvs_convert, a_fwmark_service_of_ipv6) {
    auto m = reply(IPVS_CMD_NEW_SERVICE);
    nlattr* s = nla_nest_start(m.get(), IPVS_CMD_ATTR_SERVICE);
    nla_put_u16(m.get(), IPVS_SVC_ATTR_AF, AF_INET6);
    nla_put_u32(m.get(), IPVS_SVC_ATTR_FWMARK, 7);
    nla_put_string(m.get(), IPVS_SVC_ATTR_SCHED_NAME, "rr");
    ip_vs_flags f{IP_VS_SVC_F_HASHED, ~0u};
    nla_put(m.get(), IPVS_SVC_ATTR_FLAGS, sizeof(f), &f);
    nla_put_u32(m.get(), IPVS_SVC_ATTR_TIMEOUT, 0);
    nla_put_u32(m.get(), IPVS_SVC_ATTR_NETMASK, 128); // a prefix length, as is
    nla_nest_end(m.get(), s);

    auto got = ipvs::parse_service(m.get());
    ASSERT_TRUE(got) << got.error().message();
    EXPECT_EQ(got->config.key.fwmark, 7u);
    EXPECT_FALSE(got->config.key.vip.addr.is_v4());
    EXPECT_EQ(got->config.key.vip.port, 0);
    EXPECT_EQ(got->config.netmask, 128u);
    EXPECT_EQ(got->config.flags, 0u);
}

TEST(ipvs_convert, a_scheduler_outside_the_model_is_refused_with_its_name) {
    auto m = reply(IPVS_CMD_NEW_SERVICE);
    nlattr* s = nla_nest_start(m.get(), IPVS_CMD_ATTR_SERVICE);
    nla_put_u16(m.get(), IPVS_SVC_ATTR_AF, AF_INET);
    nla_put_u32(m.get(), IPVS_SVC_ATTR_FWMARK, 1);
    nla_put_string(m.get(), IPVS_SVC_ATTR_SCHED_NAME, "none");
    nla_nest_end(m.get(), s);
    auto got = ipvs::parse_service(m.get());
    ASSERT_FALSE(got);
    EXPECT_EQ(got.error().code, EOPNOTSUPP);
    EXPECT_NE(got.error().context.find("'none'"), std::string::npos);
}

TEST(ipvs_convert, a_dest_as_the_kernel_fills_it) {
    auto m = reply(IPVS_CMD_NEW_DEST);
    nlattr* d = nla_nest_start(m.get(), IPVS_CMD_ATTR_DEST);
    std::array<uint8_t, 16> addr{0x20, 0x01, 0x0d, 0xb8};
    addr[15] = 0x11;
    nla_put(m.get(), IPVS_DEST_ATTR_ADDR, 16, addr.data());
    const uint8_t port[2] = {0x1f, 0x90}; // 8080
    nla_put(m.get(), IPVS_DEST_ATTR_PORT, 2, port);
    nla_put_u32(m.get(), IPVS_DEST_ATTR_FWD_METHOD, IP_VS_CONN_F_TUNNEL);
    nla_put_u32(m.get(), IPVS_DEST_ATTR_WEIGHT, 0);
    nla_put_u8(m.get(), IPVS_DEST_ATTR_TUN_TYPE, IP_VS_CONN_F_TUNNEL_TYPE_GUE);
    const uint8_t tport[2] = {0x17, 0xc0}; // 6080
    nla_put(m.get(), IPVS_DEST_ATTR_TUN_PORT, 2, tport);
    nla_put_u16(m.get(), IPVS_DEST_ATTR_TUN_FLAGS, IP_VS_TUNNEL_ENCAP_FLAG_REMCSUM);
    nla_put_u32(m.get(), IPVS_DEST_ATTR_U_THRESH, 100);
    nla_put_u32(m.get(), IPVS_DEST_ATTR_L_THRESH, 90);
    nla_put_u32(m.get(), IPVS_DEST_ATTR_ACTIVE_CONNS, 4);
    nla_put_u32(m.get(), IPVS_DEST_ATTR_INACT_CONNS, 5);
    nla_put_u32(m.get(), IPVS_DEST_ATTR_PERSIST_CONNS, 6);
    nla_put_u16(m.get(), IPVS_DEST_ATTR_ADDR_FAMILY, AF_INET6);
    put_stats64(m.get(), IPVS_DEST_ATTR_STATS64, 1ull << 33);
    nla_nest_end(m.get(), d);

    // An IPv6 dest of an IPv4 service: the dest's own family decides.
    auto got = ipvs::parse_dest(m.get(), family::inet);
    ASSERT_TRUE(got) << got.error().message();
    EXPECT_EQ(got->config.addr, *endpoint::parse("[2001:db8::11]:8080"));
    EXPECT_EQ(got->config.fwd, forwarding::tun);
    EXPECT_EQ(got->config.weight, 0);
    EXPECT_EQ(got->config.tunnel, tun_type::gue);
    EXPECT_EQ(got->config.tun_port, 6080);
    EXPECT_EQ(got->config.tun_flags, XLB_TUN_F_REMCSUM);
    EXPECT_EQ(got->config.u_threshold, 100u);
    EXPECT_EQ(got->config.l_threshold, 90u);
    EXPECT_EQ(got->active_conns, 4u);
    EXPECT_EQ(got->inactive_conns, 5u);
    EXPECT_EQ(got->persist_conns, 6u);
    EXPECT_EQ(got->stats.inbytes, (1ull << 33) + 4);
}

// What the backend sends reads as ip_vs_genl_parse_service() would: the
// IPv4 mask in network order, HASHED never set, the mask covering all flags.
TEST(ipvs_convert, a_service_request_as_the_kernel_reads_it) {
    auto m = reply(IPVS_CMD_NEW_SERVICE);
    service_config c;
    c.key = service_key{protocol::tcp, *endpoint::parse("10.0.0.1:80")};
    c.sched = scheduler::wrr;
    c.flags = XLB_IPVS_SVC_F_HASHED | XLB_IPVS_SVC_F_ONEPACKET;
    c.netmask = 0xffff0000;
    ASSERT_TRUE(ipvs::put_service(m.get(), c));
    nlattr* top[IPVS_CMD_ATTR_MAX + 1] = {};
    ASSERT_EQ(genlmsg_parse(nlmsg_hdr(m.get()), 0, top, IPVS_CMD_ATTR_MAX, nullptr), 0);
    nlattr* tb[IPVS_SVC_ATTR_MAX + 1] = {};
    ASSERT_EQ(nla_parse_nested(tb, IPVS_SVC_ATTR_MAX, top[IPVS_CMD_ATTR_SERVICE], nullptr), 0);
    ASSERT_TRUE(tb[IPVS_SVC_ATTR_NETMASK] && tb[IPVS_SVC_ATTR_FLAGS] && tb[IPVS_SVC_ATTR_PORT]);
    const auto* mask = static_cast<const uint8_t*>(nla_data(tb[IPVS_SVC_ATTR_NETMASK]));
    EXPECT_EQ(mask[0], 255);
    EXPECT_EQ(mask[1], 255);
    EXPECT_EQ(mask[2], 0);
    EXPECT_EQ(mask[3], 0);
    const auto* port = static_cast<const uint8_t*>(nla_data(tb[IPVS_SVC_ATTR_PORT]));
    EXPECT_EQ(port[0], 0);
    EXPECT_EQ(port[1], 80);
    ip_vs_flags f{};
    std::memcpy(&f, nla_data(tb[IPVS_SVC_ATTR_FLAGS]), sizeof(f));
    EXPECT_EQ(f.flags, uint32_t{IP_VS_SVC_F_ONEPACKET});
    EXPECT_EQ(f.mask, ~0u);
    EXPECT_STREQ(nla_get_string(tb[IPVS_SVC_ATTR_SCHED_NAME]), "wrr");
    EXPECT_EQ(tb[IPVS_SVC_ATTR_PE_NAME], nullptr) << "no engine: no attribute";
}

} // namespace
