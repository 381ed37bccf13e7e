// Real TCP through kernel IPVS programmed by `xlbctl --backend ipvs` (tests/vm
// runs it in Debian 12's 6.1 kernel, in the ipvs tier's boot). The lab
// (vm_lab.h) is a client, a director namespace (IPVS is per namespace) and
// three real servers that answer with their names, so the client learns
// where each connection went. Expected choices come from the kernel's rr
// and wrr, transcribed in support/ipvs_sched.h, never from xlb's output.

#include "ipvs/vm_lab.h"

#include "support/ipvs_sched.h"
#include "support/priv.h"

#include <fmt/format.h>

#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

using namespace xlb::test;
using namespace xlb::test::vm_lab;

namespace {

class traffic : public ::testing::Test {
protected:
    static void SetUpTestSuite() {
        if (missing_privilege().empty()) {
            s_lab = std::make_unique<lab>(prefix(), 3);
        }
    }
    static void TearDownTestSuite() {
        if (s_lab) {
            s_lab->xlbctl("--backend ipvs -C");
            s_lab.reset();
            EXPECT_EQ(leftovers(prefix()), "") << "namespaces left behind";
        }
    }
    static std::string prefix() { return fmt::format("t{}", getpid() % 100000); }
    void SetUp() override {
        XLB_REQUIRE_PRIVILEGE();
        ASSERT_TRUE(s_lab);
        ASSERT_EQ(ipvs("-C"), 0);
    }

    static int ipvs(const std::string& args, std::string* out = nullptr) {
        return s_lab->xlbctl("--backend ipvs " + args, out);
    }
    // -L -n --stats --exact, for the service or dest `what`, once it counts `conns`.
    static stats_line stats(const std::string& what, unsigned long long conns) {
        return s_lab->stats("--backend ipvs", what, conns);
    }
    static std::string svc() { return fmt::format("{}:80", vip); }
    static std::string dest_opts(const std::string& mode) { return mode == "nat" ? "-m" : "-g"; }

    // n connections, one after another, from 10.9.<net>.1 (any port).
    static std::vector<std::string> connections(int net, int n) {
        return s_lab->connect(s_lab->cli(), std::vector<flow>(n, flow{fmt::format("10.9.{}.1", net), 0}));
    }

    // A service VIP:80 with the given scheduler and servers 1..3 added in
    // order with their weights; each connection must land where the
    // kernel's algorithm says.
    template <typename oracle>
    void distribution(const std::string& mode, const std::string& sched, const std::vector<int>& weights, int n,
                      int net) {
        ASSERT_EQ(ipvs(fmt::format("-A -t {} -s {}", svc(), sched)), 0);
        oracle o;
        for (int i = 1; i <= 3; ++i) {
            ASSERT_EQ(ipvs(fmt::format("-a -t {} -r {}:80 {} -w {}", svc(), rip(i), dest_opts(mode), weights[i - 1])),
                      0);
            o.add(static_cast<uint32_t>(i), weights[i - 1]);
        }
        auto got = connections(net, n);
        std::map<std::string, int> tally, want;
        for (int k = 0; k < n; ++k) {
            auto expect = server_name(static_cast<int>(o.next()));
            EXPECT_EQ(got[k], expect) << "connection " << k;
            ++tally[got[k]];
            ++want[expect];
        }
        EXPECT_EQ(tally, want);
        // IPVS counted each connection; DR replies bypass the director, NAT's pass it.
        auto s = stats(svc(), static_cast<unsigned long long>(n));
        EXPECT_EQ(s.conns, static_cast<unsigned long long>(n));
        if (mode == "dr") {
            EXPECT_EQ(s.outpkts, 0u) << "DR replies must not pass the director";
        } else {
            EXPECT_GE(s.outpkts, static_cast<unsigned long long>(n)) << "NAT replies pass the director";
        }
    }

    // rr over three servers; a held connection on one; that server drained
    // (-w 0): the held connection still answers from it, new ones go elsewhere.
    void drain(const std::string& mode, int net) {
        ASSERT_EQ(ipvs(fmt::format("-A -t {} -s rr", svc())), 0);
        ipvs_rr o;
        for (int i = 1; i <= 3; ++i) {
            ASSERT_EQ(ipvs(fmt::format("-a -t {} -r {}:80 {} -w 1", svc(), rip(i), dest_opts(mode))), 0);
            o.add(static_cast<uint32_t>(i), 1);
        }
        std::string first;
        auto h = s_lab->hold({fmt::format("10.9.{}.1", net), 0}, &first);
        const auto drained = static_cast<int>(o.next());
        ASSERT_EQ(first, server_name(drained));
        ASSERT_EQ(h->ask(), first);

        ASSERT_EQ(ipvs(fmt::format("-e -t {} -r {}:80 {} -w 0", svc(), rip(drained), dest_opts(mode))), 0);
        o.edit(static_cast<uint32_t>(drained), 0);
        auto got = connections(net, 8);
        for (int k = 0; k < 8; ++k) {
            EXPECT_EQ(got[k], server_name(static_cast<int>(o.next()))) << "connection " << k;
            EXPECT_NE(got[k], first) << "a new connection reached the drained server";
        }
        EXPECT_EQ(h->ask(), first) << "the held connection must stay on its drained server";
        // The drained dest still has the held connection, as an active one.
        std::string out;
        ASSERT_EQ(ipvs("-L -n", &out), 0);
        auto line = fmt::format("  -> {}:80", rip(drained));
        auto at = out.find(line);
        ASSERT_NE(at, std::string::npos) << out;
        std::istringstream w(out.substr(at, out.find('\n', at) - at));
        std::string arrow, addr, fwd;
        int weight = -1, active = -1;
        w >> arrow >> addr >> fwd >> weight >> active;
        EXPECT_EQ(weight, 0) << out;
        EXPECT_EQ(active, 1) << out;
        h.reset();
    }

    static std::unique_ptr<lab> s_lab;
};

std::unique_ptr<lab> traffic::s_lab;

TEST_F(traffic, dr_rr) { distribution<ipvs_rr>("dr", "rr", {1, 1, 1}, 30, 1); }
TEST_F(traffic, nat_rr) { distribution<ipvs_rr>("nat", "rr", {1, 1, 1}, 30, 2); }
// 4/3/2: IPVS's gcd-stepped interleaving, three full cycles.
TEST_F(traffic, dr_wrr) { distribution<ipvs_wrr>("dr", "wrr", {4, 3, 2}, 27, 3); }
TEST_F(traffic, nat_wrr) { distribution<ipvs_wrr>("nat", "wrr", {4, 3, 2}, 27, 4); }
// Unequal weights with a gcd of 2 (di = 2), part of a cycle.
TEST_F(traffic, nat_wrr_gcd) { distribution<ipvs_wrr>("nat", "wrr", {6, 2, 4}, 20, 5); }
TEST_F(traffic, dr_drain) { drain("dr", 6); }
TEST_F(traffic, nat_drain) { drain("nat", 7); }

// A fwmark service. skb->mark does not survive the veth into the director's
// namespace, and the VM has no iptables/nft to mark there, so the client is
// local to the director and marks its sockets (SO_MARK): IPVS schedules
// locally generated connections at LOCAL_OUT, where skb->mark is the
// socket's. NAT, since a DR server would answer the director's own address
// over its link to the client. Marked connections must take the fwmark
// service (rr over b1 and b2, looked up first), unmarked ones the TCP
// service VIP:80 (b3 alone).
TEST_F(traffic, nat_fwmark) {
    ASSERT_EQ(ipvs("-A -f 7 -s rr"), 0);
    ipvs_rr o;
    for (int i = 1; i <= 2; ++i) {
        ASSERT_EQ(ipvs(fmt::format("-a -f 7 -r {}:80 -m", rip(i))), 0);
        o.add(static_cast<uint32_t>(i), 1);
    }
    ASSERT_EQ(ipvs(fmt::format("-A -t {} -s rr", svc())), 0);
    ASSERT_EQ(ipvs(fmt::format("-a -t {} -r {}:80 -m", svc(), rip(3))), 0);

    const std::vector<flow> local(6, flow{director_addr, 0});
    auto marked = s_lab->connect(s_lab->dir(), local, 7);
    for (size_t k = 0; k < marked.size(); ++k) {
        EXPECT_EQ(marked[k], server_name(static_cast<int>(o.next()))) << "marked connection " << k;
    }
    auto unmarked = s_lab->connect(s_lab->dir(), std::vector<flow>(2, flow{director_addr, 0}));
    for (const auto& s : unmarked) {
        EXPECT_EQ(s, server_name(3));
    }
    // Another mark matches no fwmark service: the TCP service again.
    auto other = s_lab->connect(s_lab->dir(), std::vector<flow>(2, flow{director_addr, 0}), 8);
    for (const auto& s : other) {
        EXPECT_EQ(s, server_name(3));
    }
    EXPECT_EQ(stats("7", 6).conns, 6u);
    EXPECT_EQ(stats(svc(), 4).conns, 4u);
}

} // namespace
