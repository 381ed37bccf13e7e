// DR end to end: real TCP connections from a client namespace, through xlb
// attached natively to the director's veth, to three real servers that own
// the VIP on lo (arp_ignore=1, arp_announce=2). The lab is scripts/lab, the
// same one the demo uses.

#include "support/lab_fixture.h"

using namespace xlb::test;

namespace {

class dr_lab : public lab_fixture {
protected:
    void add_rr(const std::string& sched, const std::map<std::string, int>& weights) {
        ASSERT_EQ(xlbctl(fmt::format("-A -t 10.77.0.100:80 -s {}", sched)), 0);
        for (const auto& [b, w] : weights) {
            ASSERT_EQ(xlbctl(fmt::format("-a -t 10.77.0.100:80 -r {} -g -w {}", server_ip(b), w)), 0);
        }
    }
};

TEST_F(dr_lab, rr_spreads_real_connections_evenly) {
    add_rr("rr", {{"b1", 1}, {"b2", 1}, {"b3", 1}});
    auto t = connect("10.77.0.100", 300);
    EXPECT_EQ(t["failed"], 0);
    // Each CPU runs the exact rr sequence; with per-CPU cursors a server's
    // count is off by at most one per CPU. Tolerance: 100 +- 5.
    for (const char* b : {"b1", "b2", "b3"}) {
        EXPECT_NEAR(t[b], 100, 5) << b;
    }
    auto stats = xlbctl_out("-L -n --stats");
    EXPECT_NE(stats.find("TCP  10.77.0.100:80                    300"), std::string::npos) << stats;
}

TEST_F(dr_lab, wrr_follows_weights) {
    add_rr("wrr", {{"b1", 3}, {"b2", 2}, {"b3", 1}});
    auto t = connect("10.77.0.100", 300);
    EXPECT_EQ(t["failed"], 0);
    // 50 periods of 6. A partial period per CPU skews a server by at most its
    // weight per CPU: tolerance +- 8.
    EXPECT_NEAR(t["b1"], 150, 8);
    EXPECT_NEAR(t["b2"], 100, 8);
    EXPECT_NEAR(t["b3"], 50, 8);
}

TEST_F(dr_lab, weight_zero_keeps_open_connections_and_takes_no_new_ones) {
    add_rr("rr", {{"b1", 1}, {"b2", 1}, {"b3", 1}});
    std::string first = hold("10.77.0.100");
    ASSERT_FALSE(first.empty());
    const auto& conn = last_held();
    ASSERT_EQ(xlbctl(fmt::format("-e -t 10.77.0.100:80 -r {} -g -w 0", server_ip(first))), 0);

    EXPECT_EQ(conn.ask(), first) << "the open connection survives weight 0";
    auto t = connect("10.77.0.100", 60);
    EXPECT_EQ(t["failed"], 0);
    EXPECT_EQ(t[first], 0) << "new connections avoid the drained server";
    EXPECT_EQ(t["b1"] + t["b2"] + t["b3"], 60);
    EXPECT_EQ(conn.ask(), first) << "and it is still served after new traffic";
    auto list = xlbctl_out("-L -n");
    EXPECT_NE(list.find(fmt::format("{}:80                Route   0      1", server_ip(first))), std::string::npos)
        << "the drained server still counts its active connection:\n"
        << list;
}

TEST_F(dr_lab, deleted_server_gets_no_new_connections) {
    add_rr("rr", {{"b1", 1}, {"b2", 1}, {"b3", 1}});
    auto before = connect("10.77.0.100", 30);
    EXPECT_EQ(before["b2"], 10);
    ASSERT_EQ(xlbctl("-d -t 10.77.0.100:80 -r 10.77.0.12"), 0);
    auto t = connect("10.77.0.100", 60);
    EXPECT_EQ(t["failed"], 0);
    EXPECT_EQ(t["b2"], 0);
    EXPECT_NEAR(t["b1"], 30, 3);
    EXPECT_NEAR(t["b3"], 30, 3);
}

TEST_F(dr_lab, ipv6_dr) {
    ASSERT_EQ(xlbctl("-A -t [fd77::100]:80 -s rr"), 0);
    for (const char* b : {"fd77::11", "fd77::12", "fd77::13"}) {
        ASSERT_EQ(xlbctl(fmt::format("-a -t [fd77::100]:80 -r {} -g", b)), 0);
    }
    auto t = connect("fd77::100", 60);
    EXPECT_EQ(t["failed"], 0);
    for (const char* b : {"b1", "b2", "b3"}) {
        EXPECT_NEAR(t[b], 20, 3) << b;
    }
}

} // namespace
