// DR end to end: real TCP connections from a client namespace, through xlb
// attached natively to the director's veth, to three real servers that own
// the VIP on lo (arp_ignore=1, arp_announce=2). The lab is scripts/lab, the
// same one the demo uses.

#include "support/netns.h"
#include "support/priv.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <map>
#include <sstream>

using namespace xlb::test;

namespace {

const std::string src = XLB_SOURCE_DIR;
const std::string bin = std::string(XLB_BINARY_DIR) + "/bin";

class dr_lab : public ::testing::Test {
protected:
    void SetUp() override {
        XLB_REQUIRE_PRIVILEGE();
        _prefix = fmt::format("xt{}", getpid() % 100000);
        _pin = fmt::format("/sys/fs/bpf/xlb/it-{}", getpid());
        ASSERT_EQ(sh(fmt::format("XLB_BUILD={} {}/scripts/lab up {}", XLB_BINARY_DIR, src, _prefix)), 0);
        _up = true;
        ASSERT_EQ(xlbctl("load --max-flows 65536"), 0);
        ASSERT_EQ(xlbctl("attach eth0"), 0);
    }

    void TearDown() override {
        if (_up) {
            xlbctl("unload");
            sh(fmt::format("{}/scripts/lab down {}", src, _prefix));
        }
    }

    // xlbctl in the director's network namespace. nsenter, not `ip netns
    // exec`: the latter remounts /sys and would hide the pinned maps.
    int xlbctl(const std::string& args) {
        return sh(fmt::format("nsenter --net=/run/netns/{}-dir {}/xlbctl --pin-dir {} {}", _prefix, bin, _pin, args));
    }

    std::string xlbctl_out(const std::string& args) {
        return sh_out(
            fmt::format("nsenter --net=/run/netns/{}-dir {}/xlbctl --pin-dir {} {}", _prefix, bin, _pin, args));
    }

    // Opens n connections from the client; returns server name -> count ("failed" included).
    std::map<std::string, int> connect(const std::string& vip, int n) {
        auto out = sh_out(fmt::format("ip netns exec {}-cli {}/xlb-lab connect {} 80 {} || true", _prefix, bin, vip, n));
        std::map<std::string, int> tally;
        std::istringstream in(out);
        std::string name;
        int count;
        while (in >> name >> count) {
            tally[name] = count;
        }
        return tally;
    }

    void add_rr(const std::string& sched, const std::map<std::string, int>& weights) {
        ASSERT_EQ(xlbctl(fmt::format("-A -t 10.77.0.100:80 -s {}", sched)), 0);
        for (const auto& [b, w] : weights) {
            ASSERT_EQ(xlbctl(fmt::format("-a -t 10.77.0.100:80 -r {} -g -w {}", server_ip(b), w)), 0);
        }
    }

    static std::string server_ip(const std::string& b) { return fmt::format("10.77.0.1{}", b.back()); }

    std::string _prefix, _pin;
    bool _up = false;
};

// A TCP connection from the client namespace that stays open.
struct held_connection {
    int fd = -1;
    ~held_connection() {
        if (fd >= 0) {
            ::close(fd);
        }
    }
    // Sends a line; returns the server's answer (its name), empty on failure.
    std::string ask() const {
        if (::write(fd, "which\n", 6) != 6) {
            return {};
        }
        return read_line();
    }
    std::string read_line() const {
        char buf[64];
        ssize_t n = ::read(fd, buf, sizeof(buf));
        if (n <= 0) {
            return {};
        }
        std::string s(buf, static_cast<size_t>(n));
        return s.substr(0, s.find('\n'));
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
    held_connection conn;
    std::string first;
    in_netns(_prefix + "-cli", [&] {
        conn.fd = ::socket(AF_INET, SOCK_STREAM, 0);
        timeval tv{3, 0};
        setsockopt(conn.fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_port = htons(80);
        inet_pton(AF_INET, "10.77.0.100", &a.sin_addr);
        ASSERT_EQ(::connect(conn.fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
    });
    first = conn.read_line();
    ASSERT_FALSE(first.empty());
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
        ASSERT_EQ(xlbctl(fmt::format("-a -t [fd77::100]:80 -r [{}] -g", b)), 0);
    }
    auto t = connect("fd77::100", 60);
    EXPECT_EQ(t["failed"], 0);
    for (const char* b : {"b1", "b2", "b3"}) {
        EXPECT_NEAR(t[b], 20, 3) << b;
    }
}

} // namespace
