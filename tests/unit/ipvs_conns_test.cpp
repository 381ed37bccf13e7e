// The ipvs backend's reading of /proc/net/ip_vs_conn, against text written
// as ip_vs_conn_seq_show() (6.1) writes it: "%-3s %08X %04X %08X %04X %s
// %04X %-11s %7u%s\n" for IPv4 entries, %pI6 for IPv6 ones, the dest in
// its own family.

#include "conns.h"

#include <gtest/gtest.h>

#include <fmt/format.h>

#include <iterator>
#include <string>

using namespace xlb;

namespace {

endpoint ep(const char* s) { return *endpoint::parse(s); }

} // namespace

TEST(ipvs_conns, flows_and_templates_as_the_kernel_writes_them) {
    const char* text =
        "Pro FromIP   FPrt ToIP     TPrt DestIP   DPrt State       Expires PEName PEData\n"
        "TCP 0A000001 9C40 0A000064 0050 0A010002 1F90 ESTABLISHED     898\n"
        "TCP 0A000001 9C41 0A000064 0050 0A010002 1F90 FIN_WAIT          7\n"
        "UDP 0A000002 A000 0A000064 0035 0A010003 0035 UDP             299\n"
        "TCP 0A000000 0000 0A000064 0050 0A010002 1F90 ASSURED         359\n"
        "UDP 0A000000 0000 0A000064 0000 0A010003 0000 NONE            300\n"
        "TCP 2001:0db8:0000:0000:0000:0000:0000:0002 C350 2001:0db8:0000:0000:0000:0000:0000:0001 01BB "
        "2001:0db8:0000:0000:0000:0000:0000:0010 01BB SYN_RECV         59\n"
        "TCP 0A000001 9C42 0A000064 0050 2001:0db8:0000:0000:0000:0000:0000:0010 0050 CLOSE_WAIT       60\n"
        "SCTP 0A000001 9C42 0A000064 0D44 0A010002 0D44 ESTABLISHED     10\n"
        "IP  0A000000 0000 00000007 0000 0A010002 0000 NONE            300\n"
        "UDP 0A000002 A001 0A000064 14C4 0A010003 14C4 UDP              29 sip 1234@host\n";
    auto r = ipvs::parse_proc_conns(text);
    ASSERT_TRUE(r) << r.error().message();
    ASSERT_EQ(r->size(), 10u);
    const auto& v = *r;

    EXPECT_EQ(v[0].proto, protocol::tcp);
    EXPECT_EQ(v[0].client, ep("10.0.0.1:40000"));
    EXPECT_EQ(v[0].vip, ep("10.0.0.100:80"));
    EXPECT_EQ(v[0].dest, ep("10.1.0.2:8080"));
    EXPECT_EQ(v[0].state, XLB_TCP_S_ESTABLISHED);
    EXPECT_EQ(v[0].expire_s, 898u);
    EXPECT_FALSE(v[0].is_template);
    EXPECT_EQ(conn_state_name(v[0]), "ESTABLISHED");

    EXPECT_EQ(v[1].state, XLB_TCP_S_FIN_WAIT);
    EXPECT_EQ(v[1].expire_s, 7u);

    EXPECT_EQ(v[2].proto, protocol::udp);
    EXPECT_EQ(conn_state_name(v[2]), "UDP");
    EXPECT_EQ(v[2].client, ep("10.0.0.2:40960"));

    EXPECT_TRUE(v[3].is_template);
    EXPECT_TRUE(v[3].assured);
    EXPECT_EQ(conn_state_name(v[3]), "ASSURED");
    EXPECT_EQ(v[3].client, ep("10.0.0.0:0"));

    EXPECT_TRUE(v[4].is_template);
    EXPECT_FALSE(v[4].assured);
    EXPECT_EQ(conn_state_name(v[4]), "NONE");
    EXPECT_EQ(v[4].vip, ep("10.0.0.100:0"));

    EXPECT_EQ(v[5].client, ep("[2001:db8::2]:50000"));
    EXPECT_EQ(v[5].vip, ep("[2001:db8::1]:443"));
    EXPECT_EQ(v[5].dest, ep("[2001:db8::10]:443"));
    EXPECT_EQ(v[5].state, XLB_TCP_S_SYN_RECV);

    // A tunnel dest of the other family keeps its own.
    EXPECT_EQ(v[6].vip, ep("10.0.0.100:80"));
    EXPECT_EQ(v[6].dest, ep("[2001:db8::10]:80"));
    EXPECT_EQ(v[6].state, XLB_TCP_S_CLOSE_WAIT);

    // sctp_state_name_table[]: the state is SCTP's own.
    EXPECT_EQ(v[7].proto, protocol::sctp);
    EXPECT_EQ(v[7].state, static_cast<uint8_t>(sctp_state::established));
    EXPECT_EQ(v[7].vip, ep("10.0.0.100:3396"));
    EXPECT_EQ(conn_state_name(v[7]), "ESTABLISHED");
    EXPECT_EQ(conn_protocol_name(v[7]), "SCTP");

    // ip_vs_sched_persist(): <IPPROTO_IP, caddr, 0, fwmark, 0, daddr, 0>.
    EXPECT_TRUE(v[8].is_template);
    EXPECT_EQ(v[8].fwmark, 7u);
    EXPECT_EQ(v[8].vip, ep("0.0.0.7:0"));
    EXPECT_EQ(v[8].dest, ep("10.1.0.2:0"));
    EXPECT_EQ(conn_protocol_name(v[8]), "IP");
    EXPECT_EQ(conn_state_name(v[8]), "NONE");

    // PE data after the expiry is not in the model.
    EXPECT_EQ(v[9].vip, ep("10.0.0.100:5316"));
    EXPECT_EQ(v[9].pe_hash, 0u);
}

TEST(ipvs_conns, every_sctp_state_and_an_ipv6_fwmark_template) {
    const char* names[] = {"NONE",          "INIT1",         "INIT",
                           "COOKIE_SENT",   "COOKIE_REPLIED", "COOKIE_WAIT",
                           "COOKIE_ECHOED", "ESTABLISHED",   "SHUTDOWN_SENT",
                           "SHUTDOWN_RECEIVED", "SHUTDOWN_ACK_SENT", "REJECTED",
                           "CLOSED"};
    std::string text = "Pro FromIP   FPrt ToIP     TPrt DestIP   DPrt State       Expires PEName PEData\n";
    for (const char* n : names) {
        text += fmt::format("SCTP 0A000001 9C42 0A000064 0D44 0A010002 0D44 {:<11} {:>7}\n", n, 3);
    }
    text += "IP  2001:0db8:0000:0000:0000:0000:0000:0000 0000 0000:0009:0000:0000:0000:0000:0000:0000 0000 "
            "2001:0db8:0000:0000:0000:0000:0000:0010 0000 ASSURED         100\n";
    auto r = ipvs::parse_proc_conns(text);
    ASSERT_TRUE(r) << r.error().message();
    ASSERT_EQ(r->size(), std::size(names) + 1);
    for (size_t i = 0; i < std::size(names); ++i) {
        EXPECT_EQ(conn_state_name(r->at(i)), names[i]);
        EXPECT_EQ(r->at(i).state, i);
    }
    const auto& t = r->back();
    EXPECT_EQ(t.fwmark, 9u);
    EXPECT_TRUE(t.assured);
    EXPECT_EQ(t.vip, ep("[0:9::]:0"));
    EXPECT_EQ(t.client, ep("[2001:db8::]:0"));
}

TEST(ipvs_conns, an_empty_table_is_the_title_alone) {
    auto r = ipvs::parse_proc_conns("Pro FromIP   FPrt ToIP     TPrt DestIP   DPrt State       Expires PEName PEData\n");
    ASSERT_TRUE(r);
    EXPECT_TRUE(r->empty());
}

TEST(ipvs_conns, text_that_is_not_the_kernels_is_refused) {
    for (const char* bad : {"TCP 0A000001 9C40 0A000064 0050 0A010002 1F90 ESTABLISHED\n",
                            "TCP 0A0001 9C40 0A000064 0050 0A010002 1F90 ESTABLISHED 1\n",
                            "TCP 0A000001 9C40 0A000064 0050 0A010002 1F90 BOGUS 1\n",
                            "UDP 0A000001 9C40 0A000064 0050 0A010002 1F90 ESTABLISHED 1\n",
                            "TCP 0A000001 9C40 0A000064 0050 0A010002 1F90 ESTABLISHED x\n",
                            "SCTP 0A000001 9C40 0A000064 0050 0A010002 1F90 SYN_RECV 1\n",
                            "ICMP 0A000001 9C40 0A000064 0050 0A010002 1F90 NONE 1\n",
                            "IP  0A000000 0000 00000000 0000 0A010002 0000 NONE 300\n",
                            "IP  0A000001 9C40 00000007 0000 0A010002 0000 ESTABLISHED 300\n"}) {
        auto r = ipvs::parse_proc_conns(bad);
        ASSERT_FALSE(r) << bad;
        EXPECT_EQ(r.error().code, EINVAL);
    }
}
