// Resolving the next hops of many real servers at once (neigh::resolve_all(),
// and xlbctl -R through it): one bounded wait however many stay silent, and
// the ones that answer end up REACHABLE. In a private namespace: v0
// (10.9.0.1/16) faces a peer with no addresses, so nothing behind it ever
// answers; w0 (10.8.0.1/24, fd08::1/64) faces 10.8.0.2 and fd08::2 in a second
// namespace the test creates and deletes, which do. No end sits in the root
// namespace.

#include "support/cmd.h"
#include "support/netns.h"
#include "support/priv.h"

#include <xlb/dataplane/neigh.h>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <functional>

using namespace xlb;
using namespace xlb::test;
using namespace std::chrono_literals;

namespace {

ip_address addr(const std::string& s) { return *ip_address::parse(s); }

class neigh_lab : public ::testing::Test {
protected:
    static void SetUpTestSuite() {
        if (!missing_privilege().empty()) {
            return;
        }
        enter_private_netns();
        _peer_ns = fmt::format("xnb{}", getpid() % 100000);
        _ok = sh(fmt::format("set -e\n"
                             "ip netns add {0}\n"
                             "ip link add v0 type veth peer name v1\n"
                             "ip addr add 10.9.0.1/16 dev v0\n"
                             "ip link set dev v0 up\n"
                             "ip link set dev v1 up\n"
                             "ip neigh replace 10.9.0.250 lladdr 02:00:00:00:09:fa dev v0 nud permanent\n"
                             "ip link add w0 type veth peer name w1\n"
                             "ip link set dev w1 netns {0}\n"
                             // No DAD: while w0's link-local address is tentative
                             // its first neighbour solicitation goes nowhere.
                             "sysctl -qw net.ipv6.conf.w0.accept_dad=0\n"
                             "ip netns exec {0} sysctl -qw net.ipv6.conf.w1.accept_dad=0\n"
                             "ip addr add 10.8.0.1/24 dev w0\n"
                             "ip link set dev w0 up\n"
                             "ip -6 addr add fd08::1/64 dev w0 nodad\n"
                             "ip -n {0} addr add 10.8.0.2/24 dev w1\n"
                             "ip -n {0} -6 addr add fd08::2/64 dev w1 nodad\n"
                             "ip -n {0} link set dev w1 up\n",
                             _peer_ns)) == 0;
    }
    static void TearDownTestSuite() {
        if (!_peer_ns.empty()) {
            sh("ip netns del " + _peer_ns + " 2>/dev/null"); // takes w1 with it; the rest goes with the process
        }
    }
    void SetUp() override {
        XLB_REQUIRE_PRIVILEGE();
        ASSERT_TRUE(_ok) << "setting up the namespaces failed";
        sh("ip neigh flush dev v0 nud incomplete nud failed nud reachable nud stale; ip neigh flush dev w0; ip -6 neigh flush dev w0");
    }

    // The entry's state as `ip neigh` prints it (REACHABLE, PERMANENT, ...).
    static std::string nud(const std::string& a, const std::string& dev) {
        return run_cmd(fmt::format("ip neigh show {} dev {}", a, dev)).out;
    }

    static inline std::string _peer_ns;
    static inline bool _ok = false;
};

TEST_F(neigh_lab, a_hundred_silent_next_hops_cost_one_bounded_wait) {
    std::vector<ip_address> dsts;
    for (int i = 1; i <= 100; ++i) {
        dsts.push_back(addr(fmt::format("10.9.1.{}", i)));
    }
    dsts.push_back(addr("10.8.0.2"));   // answers
    dsts.push_back(addr("fd08::2"));    // answers, through neighbour discovery
    dsts.push_back(addr("10.9.0.250")); // static: left alone
    dsts.push_back(addr("10.77.0.4"));  // no route
    dsts.push_back(addr("10.9.1.1"));   // twice: once in the report
    auto t0 = std::chrono::steady_clock::now();
    auto rep = neigh::resolve_all(dsts, 1000ms);
    auto took = std::chrono::steady_clock::now() - t0;
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(took).count();
    fmt::print("resolve_all: {} destinations, 100 silent, wait 1000 ms: {} ms\n", dsts.size(), ms);
    ASSERT_TRUE(rep) << rep.error().message();
    EXPECT_LT(took, 4s) << "one wait for all, not one per server";
    EXPECT_GE(took, 900ms) << "it waited for the silent ones";

    EXPECT_EQ(rep->resolved, (std::vector{addr("10.8.0.2"), addr("fd08::2"), addr("10.9.0.250")}));
    ASSERT_EQ(rep->unresolved.size(), 100u);
    EXPECT_EQ(rep->unresolved.front(), addr("10.9.1.1"));
    EXPECT_EQ(rep->unresolved.back(), addr("10.9.1.100"));
    ASSERT_EQ(rep->no_route.size(), 1u);
    EXPECT_EQ(rep->no_route[0].dst, addr("10.77.0.4"));
    EXPECT_EQ(rep->no_route[0].why.message(), "route to 10.77.0.4: Network is unreachable");
    EXPECT_FALSE(rep->complete());

    EXPECT_NE(nud("10.8.0.2", "w0").find("REACHABLE"), std::string::npos) << nud("10.8.0.2", "w0");
    EXPECT_NE(nud("fd08::2", "w0").find("REACHABLE"), std::string::npos) << nud("fd08::2", "w0");
    EXPECT_NE(nud("10.9.0.250", "v0").find("PERMANENT"), std::string::npos) << "a static entry is never touched";
    auto silent = nud("10.9.1.42", "v0");
    EXPECT_TRUE(silent.find("INCOMPLETE") != std::string::npos || silent.find("FAILED") != std::string::npos)
        << "the kernel was asked: " << silent;

    auto line = neigh::describe_unresolved(*rep, 1000ms);
    EXPECT_EQ(line.find('\n'), std::string::npos) << line;
    EXPECT_NE(line.find("within 1000 ms for 100 real server(s): 10.9.1.1 10.9.1.2 "), std::string::npos) << line;
    EXPECT_NE(line.find("10.9.1.8 and 92 more; route to 10.77.0.4: Network is unreachable"), std::string::npos)
        << "the first eight, then a count: " << line;

    // Everything valid already: no wait at all.
    t0 = std::chrono::steady_clock::now();
    auto again = neigh::resolve_all({addr("10.8.0.2"), addr("10.9.0.250")}, 1000ms);
    took = std::chrono::steady_clock::now() - t0;
    fmt::print("resolve_all: 2 valid next hops: {} ms\n",
               std::chrono::duration_cast<std::chrono::milliseconds>(took).count());
    ASSERT_TRUE(again) << again.error().message();
    EXPECT_TRUE(again->complete());
    EXPECT_EQ(neigh::describe_unresolved(*again, 1000ms), "");
    EXPECT_LT(took, 500ms);
}

// The same through xlbctl -R: a batch of 100 servers whose next hops never
// answer, one that does and one without a route, then exit 0 with one
// warning line naming what stayed unresolved.
TEST_F(neigh_lab, xlbctl_restore_of_a_hundred_silent_servers_waits_once) {
    auto pin = fmt::format("/sys/fs/bpf/xlb/it-neigh-{}", getpid());
    auto x = [&](const std::string& args) { return run_cmd(fmt::format("{} --pin-dir {} {}", xlbctl_bin(), pin, args)); };
    ASSERT_EQ(x("load --max-services 8 --max-dests 128 --max-flows 1024").code, 0);
    struct unload_guard {
        std::function<void()> f;
        ~unload_guard() { f(); }
    } guard{[&] { x("unload"); }};

    auto file = fmt::format("/tmp/xlb-neigh-test-{}.rules", getpid());
    {
        std::ofstream f(file);
        f << "-A -t 10.0.0.1:80 -s rr\n";
        for (int i = 1; i <= 100; ++i) {
            f << fmt::format("-a -t 10.0.0.1:80 -r 10.9.1.{} -g\n", i);
        }
        f << "-a -t 10.0.0.1:80 -r 10.8.0.2 -g\n";
        f << "-A -t 10.0.0.2:80 -s rr\n-a -t 10.0.0.2:80 -r 10.77.0.4 -i\n";
    }
    auto t0 = std::chrono::steady_clock::now();
    auto r = x("-R <" + file);
    auto took = std::chrono::steady_clock::now() - t0;
    ::unlink(file.c_str());
    fmt::print("xlbctl -R, 102 servers, 100 silent: {} ms\n",
               std::chrono::duration_cast<std::chrono::milliseconds>(took).count());
    EXPECT_EQ(r.code, 0) << r.err;
    EXPECT_LT(took, 4s) << "one wait for all, not one per server";
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    EXPECT_EQ(r.err.rfind("xlb: warning: next hop not resolved within 1000 ms for 100 real server(s): 10.9.1.1 ", 0),
              0u)
        << r.err;
    EXPECT_NE(r.err.find("10.9.1.8 and 92 more; route to 10.77.0.4: Network is unreachable\n"), std::string::npos) << r.err;
    EXPECT_EQ(r.err.find("10.8.0.2"), std::string::npos) << "it answered: " << r.err;
    EXPECT_NE(nud("10.8.0.2", "w0").find("REACHABLE"), std::string::npos) << nud("10.8.0.2", "w0");
    auto list = x("-L -n");
    EXPECT_NE(list.out.find("10.77.0.4:80"), std::string::npos) << "the tunnel server without a route is in";
    EXPECT_EQ(std::count(list.out.begin(), list.out.end(), '\n'), 3 + 2 + 102) << list.out;
}

} // namespace
