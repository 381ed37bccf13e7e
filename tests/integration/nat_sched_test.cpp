// NAT, least-connection balance, persistence and thresholds end to end:
// real TCP connections from the client namespace through xlb on the director.

#include "support/lab_fixture.h"

using namespace xlb::test;

namespace {

class nat_lab : public lab_fixture {
protected:
    nat_lab() : lab_fixture("nat") {}
};

TEST_F(nat_lab, clients_see_replies_from_the_vip) {
    ASSERT_EQ(xlbctl("-A -t 10.77.0.100:80 -s rr"), 0);
    for (const char* b : {"b1", "b2", "b3"}) {
        ASSERT_EQ(xlbctl(fmt::format("-a -t 10.77.0.100:80 -r {}:80 -m", server_ip(b))), 0);
    }
    // The servers' default route is the director: a connection only completes
    // if their replies are rewritten to come from the VIP.
    auto t = connect("10.77.0.100", 60);
    EXPECT_EQ(t["failed"], 0);
    for (const char* b : {"b1", "b2", "b3"}) {
        EXPECT_NEAR(t[b], 20, 3) << b;
    }
    auto held = hold("10.77.0.100");
    ASSERT_FALSE(held.empty());
    EXPECT_EQ(last_held().ask(), held) << "a long-lived NAT connection keeps working";

    auto list = xlbctl_out("-L -n");
    EXPECT_NE(list.find("10.78.0.11:80                Masq    1"), std::string::npos) << list;
    auto stats = xlbctl_out("-L -n --stats --exact");
    // OutPkts of the service: at least one reply per connection.
    std::istringstream in(stats.substr(stats.find("TCP  10.77.0.100:80")));
    std::string prot, vip;
    uint64_t conns, inpkts, outpkts;
    in >> prot >> vip >> conns >> inpkts >> outpkts;
    EXPECT_EQ(conns, 61u);
    EXPECT_GE(outpkts, 61u) << stats;
}

class dr_sched_lab : public lab_fixture {};

TEST_F(dr_sched_lab, lc_balances_long_lived_connections) {
    // b1 alone first: it takes 6 long-lived connections.
    ASSERT_EQ(xlbctl("-A -t 10.77.0.100:80 -s lc"), 0);
    ASSERT_EQ(xlbctl("-a -t 10.77.0.100:80 -r 10.77.0.11 -g -w 1"), 0);
    ASSERT_EQ(xlbctl("-a -t 10.77.0.100:80 -r 10.77.0.12 -g -w 0"), 0);
    ASSERT_EQ(xlbctl("-a -t 10.77.0.100:80 -r 10.77.0.13 -g -w 0"), 0);
    std::map<std::string, int> held;
    for (int i = 0; i < 6; ++i) {
        ++held[hold("10.77.0.100")];
    }
    ASSERT_EQ(held["b1"], 6);
    // Then all three take new connections: lc fills b2 and b3 first, where
    // rr would have given each server a third.
    ASSERT_EQ(xlbctl("-e -t 10.77.0.100:80 -r 10.77.0.12 -g -w 1"), 0);
    ASSERT_EQ(xlbctl("-e -t 10.77.0.100:80 -r 10.77.0.13 -g -w 1"), 0);
    for (int i = 0; i < 12; ++i) {
        ++held[hold("10.77.0.100")];
    }
    EXPECT_EQ(held["b1"], 6);
    EXPECT_EQ(held["b2"], 6);
    EXPECT_EQ(held["b3"], 6);
    EXPECT_EQ(held[""], 0) << "no connection failed";
}

TEST_F(dr_sched_lab, persistence_keeps_one_client_on_one_server) {
    ASSERT_EQ(xlbctl("-A -t 10.77.0.100:80 -s rr -p 60"), 0);
    for (const char* ip : {"10.77.0.11", "10.77.0.12", "10.77.0.13"}) {
        ASSERT_EQ(xlbctl(fmt::format("-a -t 10.77.0.100:80 -r {} -g", ip)), 0);
    }
    auto t = connect("10.77.0.100", 30);
    EXPECT_EQ(t["failed"], 0);
    int servers = 0;
    for (const char* b : {"b1", "b2", "b3"}) {
        servers += t[b] > 0;
    }
    EXPECT_EQ(servers, 1) << "every connection of the client went to one server";
    auto list = xlbctl_out("-L -n --persistent-conn");
    EXPECT_NE(list.find("TCP  10.77.0.100:80 rr persistent 60"), std::string::npos) << list;
}

TEST_F(dr_sched_lab, upper_threshold_stops_new_connections) {
    // fo sends everything to the heaviest server, b1, until it is overloaded.
    ASSERT_EQ(xlbctl("-A -t 10.77.0.100:80 -s fo"), 0);
    ASSERT_EQ(xlbctl("-a -t 10.77.0.100:80 -r 10.77.0.11 -g -w 3 -x 2"), 0);
    ASSERT_EQ(xlbctl("-a -t 10.77.0.100:80 -r 10.77.0.12 -g -w 2"), 0);
    ASSERT_EQ(hold("10.77.0.100"), "b1");
    ASSERT_EQ(hold("10.77.0.100"), "b1");
    EXPECT_EQ(hold("10.77.0.100"), "b2") << "b1 reached -x 2";
    EXPECT_EQ(hold("10.77.0.100"), "b2");
    auto th = xlbctl_out("-L -n --thresholds");
    EXPECT_NE(th.find("10.77.0.11:80                2          0"), std::string::npos) << th;
}

} // namespace

namespace {

// TUN: this host's kernel has no ipip, ip6_tunnel or fou, so the real servers
// run xlb's own decapsulation program (bpf/xlb_decap.bpf.c) on eth0.
TEST_F(dr_sched_lab, tun_ipip_and_gue_through_xlb_decap) {
    for (const char* b : {"b1", "b2", "b3"}) {
        ASSERT_EQ(sh(fmt::format("ip -n {}-{} link set dev eth0 xdpdrv obj {}/bpf/xlb_decap.bpf.o sec xdp", _prefix, b,
                                 XLB_BINARY_DIR)),
                  0);
    }
    ASSERT_EQ(xlbctl("-A -t 10.77.0.100:80 -s rr"), 0);
    ASSERT_EQ(xlbctl("-a -t 10.77.0.100:80 -r 10.77.0.11 -i"), 0);
    ASSERT_EQ(xlbctl("-a -t 10.77.0.100:80 -r 10.77.0.12 -i --tun-type gue --tun-port 6080"), 0);
    ASSERT_EQ(xlbctl("-a -t 10.77.0.100:80 -r 10.77.0.13 -i --tun-type ipip"), 0);
    auto t = connect("10.77.0.100", 60);
    EXPECT_EQ(t["failed"], 0);
    for (const char* b : {"b1", "b2", "b3"}) {
        EXPECT_NEAR(t[b], 20, 3) << b;
    }
    auto list = xlbctl_out("-L -n");
    EXPECT_NE(list.find("10.77.0.12:80                Tunnel  1"), std::string::npos) << list;
}

// An IPv6 VIP carried to the servers over IPv4 (6in4), as IPVS allows.
TEST_F(dr_sched_lab, tun_ipv6_vip_over_ipv4) {
    for (const char* b : {"b1", "b2", "b3"}) {
        ASSERT_EQ(sh(fmt::format("ip -n {}-{} link set dev eth0 xdpdrv obj {}/bpf/xlb_decap.bpf.o sec xdp", _prefix, b,
                                 XLB_BINARY_DIR)),
                  0);
    }
    ASSERT_EQ(xlbctl("-A -t [fd77::100]:80 -s rr"), 0);
    for (const char* ip : {"10.77.0.11", "10.77.0.12", "10.77.0.13"}) {
        ASSERT_EQ(xlbctl(fmt::format("-a -t [fd77::100]:80 -r {} -i", ip)), 0);
    }
    auto t = connect("fd77::100", 30);
    EXPECT_EQ(t["failed"], 0);
    EXPECT_EQ(t["b1"] + t["b2"] + t["b3"], 30);
}

} // namespace
