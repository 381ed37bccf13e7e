#include <xlb/dataplane/xdp/convert.h>
#include <xlb/model/address.h>
#include <xlb/model/service.h>

#include <gtest/gtest.h>

#include <arpa/inet.h>

#include <unordered_set>

using namespace xlb;

TEST(ip_address, parses_and_formats_v4_and_v6) {
    auto a = ip_address::parse("192.168.100.1");
    ASSERT_TRUE(a);
    EXPECT_TRUE(a->is_v4());
    EXPECT_EQ(a->to_string(), "192.168.100.1");
    auto b = ip_address::parse("2001:db8::1");
    ASSERT_TRUE(b);
    EXPECT_FALSE(b->is_v4());
    EXPECT_EQ(b->to_string(), "2001:db8::1");
    // v4 bytes beyond the first four are zero, so ABI keys compare bytewise.
    auto abi = a->to_abi();
    EXPECT_EQ(abi.v6[1], 0u);
    EXPECT_EQ(ip_address::from_abi(XLB_AF_INET, abi), *a);
}

TEST(ip_address, rejects_what_inet_aton_would_take) {
    for (const char* bad : {"", "10.1", "0x0a000001", "300.1.1.1", "1.2.3.4.5", "::g", "host.example"}) {
        EXPECT_FALSE(ip_address::parse(bad)) << bad;
    }
}

TEST(endpoint, round_trips) {
    for (const char* text : {"10.0.0.1:80", "[2001:db8::1]:443", "0.0.0.0:0", "[::1]:65535"}) {
        auto e = endpoint::parse(text);
        ASSERT_TRUE(e) << text;
        EXPECT_EQ(e->to_string(), text);
    }
}

TEST(endpoint, port_is_optional_and_bounded) {
    auto e = endpoint::parse("10.0.0.1");
    ASSERT_TRUE(e);
    EXPECT_EQ(e->port, 0);
    auto v6 = endpoint::parse("2001:db8::10");
    ASSERT_TRUE(v6);
    EXPECT_EQ(v6->addr.to_string(), "2001:db8::10");
    auto br = endpoint::parse("[2001:db8::10]");
    ASSERT_TRUE(br);
    EXPECT_EQ(br->port, 0);
    for (const char* bad : {"10.0.0.1:65536", "10.0.0.1:", "10.0.0.1:-1", "[2001:db8::1", "[2001:db8::1]80",
                            "[10.0.0.1]:80", "300.1.1.1:80", "10.0.0.1:8x"}) {
        EXPECT_FALSE(endpoint::parse(bad)) << bad;
    }
}

TEST(endpoint, ordered_and_hashable) {
    auto a = *endpoint::parse("10.0.0.1:80");
    auto b = *endpoint::parse("10.0.0.1:81");
    auto c = *endpoint::parse("[::1]:80");
    EXPECT_LT(a, b);
    EXPECT_NE(a, c);
    std::unordered_set<endpoint> s{a, b, c, a};
    EXPECT_EQ(s.size(), 3u);
}

TEST(service_key, abi_round_trip_keeps_network_order) {
    service_key k{protocol::udp, *endpoint::parse("[2001:db8::1]:53")};
    auto abi = xdp::svc_key_to_abi(k);
    EXPECT_EQ(abi.af, XLB_AF_INET6);
    EXPECT_EQ(abi.proto, 17);
    EXPECT_EQ(abi.vport, htons(53));
    EXPECT_EQ(xdp::svc_key_from_abi(abi), k);
}

TEST(scheduler, names_match_ipvs) {
    for (const char* n : {"rr", "wrr", "lc", "wlc", "sed", "nq", "sh", "dh", "mh", "fo", "ovf", "twos", "lblc",
                          "lblcr"}) {
        auto s = parse_scheduler(n);
        ASSERT_TRUE(s) << n;
        EXPECT_EQ(to_string(*s), n);
    }
    EXPECT_FALSE(parse_scheduler("bogus"));
    EXPECT_TRUE(supported(scheduler::rr));
    EXPECT_TRUE(supported(scheduler::wrr));
    EXPECT_TRUE(supported(scheduler::wlc));
    EXPECT_TRUE(supported(scheduler::mh));
    EXPECT_FALSE(supported(scheduler::lblc)) << "refused: no per-address table in the data path";
    EXPECT_FALSE(supported(scheduler::lblcr));
}
