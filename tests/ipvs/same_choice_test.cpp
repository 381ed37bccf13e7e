// The XDP data path and kernel IPVS pick the same real server for the same
// sh and mh configuration and the same client address and port (tests/vm
// runs it in Debian 12's 6.1 kernel, in the ipvs tier's boot).
//
// One lab (vm_lab.h): xlb is loaded once and attached natively to the
// director's veths (the client's and the servers': redirects leave through
// attached interfaces only). Each configuration runs twice with the
// same xlbctl commands and the same flows (500 client addresses, each with
// its own port): once as an XDP table (DR: xlb redirects each SYN to its
// server's link), once as an IPVS table (`--backend ipvs`; the XDP table is
// empty then, so xlb passes the packets to the stack). Every flow is a real
// connection, and the server that greets it is the choice. The comparison
// is the oracle: nothing is derived from xlb alone.

#include "ipvs/vm_lab.h"

#include "support/netns.h"
#include "support/priv.h"

#include <fmt/format.h>

#include <gtest/gtest.h>

#include <linux/ethtool.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <map>
#include <memory>
#include <string>
#include <vector>

using namespace xlb::test;
using namespace xlb::test::vm_lab;

namespace {

constexpr int flows_per_config = 500;

// ethtool -K IFACE tx off, in the calling thread's namespace: a veth sender
// leaves the TCP checksum to offload, and a frame XDP redirects is never
// completed, so the server would drop it (the DESIGN's lab facts).
bool tx_checksum_off(const std::string& ifname) {
    int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    ethtool_value v{ETHTOOL_STXCSUM, 0};
    ifreq ifr{};
    std::snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname.c_str());
    ifr.ifr_data = reinterpret_cast<char*>(&v);
    bool ok = fd >= 0 && ::ioctl(fd, SIOCETHTOOL, &ifr) == 0;
    if (fd >= 0) {
        ::close(fd);
    }
    return ok;
}

struct config {
    const char* name;
    const char* sched; // -s and -b
    std::vector<int> weights;
};

const std::vector<config> configs = {
    {"sh", "sh", {3, 1, 2}},
    {"sh_port", "sh -b sh-port", {1, 2, 1}},
    {"mh", "mh", {2, 3, 1}},
    {"mh_port", "mh -b mh-port", {1, 1, 4}},
};

class same_choice : public ::testing::TestWithParam<size_t> {
protected:
    static void SetUpTestSuite() {
        if (!missing_privilege().empty()) {
            return;
        }
        s_lab = std::make_unique<lab>(prefix(), 3);
        s_pin = fmt::format("/sys/fs/bpf/xlb/ipvs-same-{}", getpid());
        // XDP_REDIRECT into a veth reaches its peer only if the peer runs XDP itself.
        for (int i = 1; i <= 3; ++i) {
            if (s_lab->sh_in(s_lab->srv(i), fmt::format("ip link set dev sd xdpdrv obj {}/bpf/xdp_pass.bpf.o sec xdp",
                                                        XLB_BINARY_DIR)) != 0) {
                s_error = "cannot attach xdp_pass on server " + std::to_string(i);
                return;
            }
        }
        bool off = false;
        in_netns(s_lab->cli(), [&] { off = tx_checksum_off("cd"); });
        if (!off) {
            s_error = "cannot turn TX checksum offload off on the client";
            return;
        }
        if (s_lab->xlbctl(xdp("load")) != 0) {
            s_error = "xlbctl load failed";
            return;
        }
        s_loaded = true;
        // dc receives; d1..d3 are the egresses (XDP_REDIRECT goes through tx_ports,
        // which only attached interfaces are in).
        for (const auto* i : {"dc", "d1", "d2", "d3"}) {
            if (s_lab->xlbctl(xdp(fmt::format("attach {}", i))) != 0) {
                s_error = fmt::format("xlbctl attach {} failed", i);
                return;
            }
        }
    }
    static void TearDownTestSuite() {
        if (s_loaded) {
            s_lab->xlbctl(xdp("unload"));
            s_loaded = false;
            EXPECT_NE(::access(s_pin.c_str(), F_OK), 0) << s_pin << " left behind";
        }
        if (s_lab) {
            s_lab.reset();
            EXPECT_EQ(leftovers(prefix()), "") << "namespaces left behind";
        }
    }
    static std::string prefix() { return fmt::format("s{}", getpid() % 100000); }
    void SetUp() override {
        XLB_REQUIRE_PRIVILEGE();
        ASSERT_TRUE(s_lab);
        ASSERT_EQ(s_error, "");
    }

    static std::string xdp(const std::string& args) {
        return fmt::format("--backend xdp --pin-dir {} {}", s_pin, args);
    }
    static std::string ipvs(const std::string& args) { return "--backend ipvs " + args; }

    // Programs the configuration through one backend, runs the flows, checks
    // that this backend scheduled them all (its own counters), and clears it.
    static std::vector<std::string> run(const config& c, const std::vector<flow>& flows,
                                        std::string (*backend)(const std::string&)) {
        const auto svc = fmt::format("{}:80", vip);
        std::vector<std::string> none;
        // Both tables empty first: only `backend` may see the flows (a leftover
        // XDP service would take them before IPVS could).
        if (s_lab->xlbctl(xdp("-C")) != 0 || s_lab->xlbctl(ipvs("-C")) != 0 ||
            s_lab->xlbctl(backend(fmt::format("-A -t {} -s {}", svc, c.sched))) != 0) {
            ADD_FAILURE() << "cannot add the service";
            return none;
        }
        for (int i = 1; i <= 3; ++i) {
            if (s_lab->xlbctl(backend(fmt::format("-a -t {} -r {} -g -w {}", svc, rip(i), c.weights[i - 1]))) != 0) {
                ADD_FAILURE() << "cannot add server " << i;
                return none;
            }
        }
        auto names = s_lab->connect(s_lab->cli(), flows);
        if (std::count(names.begin(), names.end(), std::string()) != 0) {
            s_lab->diagnose();
            std::string out;
            s_lab->xlbctl(backend("status"), &out);
            std::fprintf(stderr, "%s", out.c_str());
        }
        EXPECT_EQ(s_lab->stats(backend(""), svc, flows.size()).conns, flows.size())
            << "the backend did not schedule every flow";
        EXPECT_EQ(s_lab->xlbctl(backend("-C")), 0);
        return names;
    }

    static std::unique_ptr<lab> s_lab;
    static std::string s_pin, s_error;
    static bool s_loaded;
};

std::unique_ptr<lab> same_choice::s_lab;
std::string same_choice::s_pin, same_choice::s_error;
bool same_choice::s_loaded = false;

TEST_P(same_choice, xdp_and_ipvs_pick_the_same_server) {
    const auto idx = GetParam();
    const auto& c = configs[idx];
    // Flow k: its own address 10.9.<2 idx + k / 250>.<k % 250 + 1> (sh hashes
    // the address alone) and a port spread over the whole range.
    std::vector<flow> flows;
    for (int k = 0; k < flows_per_config; ++k) {
        auto port = static_cast<uint16_t>(1024 + (k * 7919 + static_cast<int>(idx) * 104729) % 64000);
        flows.push_back({fmt::format("10.9.{}.{}", 2 * idx + k / 250, k % 250 + 1), port});
    }
    auto by_xdp = run(c, flows, xdp);
    auto by_ipvs = run(c, flows, ipvs);
    ASSERT_EQ(by_xdp.size(), flows.size());
    ASSERT_EQ(by_ipvs.size(), flows.size());

    int differ = 0, failed = 0;
    std::map<std::string, int> tally;
    for (size_t k = 0; k < flows.size(); ++k) {
        if (by_xdp[k].empty() || by_ipvs[k].empty()) {
            ++failed;
            continue;
        }
        ++tally[by_ipvs[k]];
        if (by_xdp[k] != by_ipvs[k]) {
            if (++differ <= 10) {
                ADD_FAILURE() << fmt::format("{}:{}: XDP chose {}, IPVS {}", flows[k].src, flows[k].sport,
                                             by_xdp[k], by_ipvs[k]);
            }
        }
    }
    EXPECT_EQ(failed, 0) << "flows that did not connect on one side";
    EXPECT_EQ(differ, 0) << "flows on different servers, of " << flows.size();
    // Every server has weight > 0, so each gets flows: the comparison covered them all.
    for (int i = 1; i <= 3; ++i) {
        EXPECT_GT(tally[server_name(i)], 0) << server_name(i);
    }
    std::printf("%s: %zu flows, %d differ; IPVS chose b1 %d, b2 %d, b3 %d\n", c.name, flows.size(), differ,
                tally["b1"], tally["b2"], tally["b3"]);
}

INSTANTIATE_TEST_SUITE_P(configs, same_choice, ::testing::Range<size_t>(0, configs.size()),
                         [](const auto& info) { return std::string(configs[info.param].name); });

// The same lab, loaded afresh: a table move from XDP to kernel IPVS (`xlbctl
// attach` on a macvlan, which has no native XDP) carries the flows XDP
// tracks through IPVS's own sync protocol, and the move back carries IPVS's
// connections into XDP's flow tables, so established connections keep their
// servers both ways under lc, whose choice is no function of the packet.
// Neither backend schedules a TCP segment without SYN: without the carry,
// each held connection's next segment would go to the director's stack,
// which holds the VIP and knows no such connection.
class carried : public same_choice {};

TEST_F(carried, a_move_to_ipvs_keeps_every_established_flow_on_its_server) {
    const std::string run_dir = fmt::format("/tmp/xlb-carry-run-{}", getpid());
    setenv("XLB_RUN_DIR", run_dir.c_str(), 1); // the fallback record, away from /run
    const auto svc = fmt::format("{}:80", vip);
    ASSERT_EQ(s_lab->xlbctl(xdp("-C")), 0);
    ASSERT_EQ(s_lab->xlbctl(ipvs("-C")), 0);
    ASSERT_EQ(s_lab->xlbctl(xdp(fmt::format("-A -t {} -s lc", svc))), 0);
    for (int i = 1; i <= 3; ++i) {
        ASSERT_EQ(s_lab->xlbctl(xdp(fmt::format("-a -t {} -r {} -g -w 1", svc, rip(i)))), 0);
    }
    // Three connections through XDP, held open.
    std::vector<std::unique_ptr<held>> conns;
    std::vector<std::string> names;
    for (int k = 0; k < 3; ++k) {
        std::string name;
        conns.push_back(s_lab->hold({fmt::format("10.9.77.{}", k + 1), 0}, &name));
        ASSERT_NE(name, "") << "connection " << k << " through XDP";
        names.push_back(name);
        EXPECT_EQ(conns.back()->ask(), name);
    }
    // XDP leaves every interface; an attach where native XDP is missing moves
    // the table, and the flows, into IPVS.
    for (const auto* i : {"dc", "d1", "d2", "d3"}) {
        ASSERT_EQ(s_lab->xlbctl(xdp(fmt::format("detach {}", i))), 0) << i;
    }
    ASSERT_EQ(s_lab->sh_in(s_lab->dir(), "ip link add link dc name xmv0 type macvlan mode bridge && "
                                         "ip link set dev xmv0 up"),
              0);
    std::string out;
    EXPECT_EQ(s_lab->xlbctl(xdp("attach xmv0"), &out), 0);
    std::printf("%s", out.c_str());
    EXPECT_NE(out.find("kernel IPVS now serves the table"), std::string::npos) << out;
    EXPECT_NE(out.find("3 of 3 connection(s) carried into kernel IPVS"), std::string::npos) << out;

    // The same servers answer, through IPVS now.
    for (size_t k = 0; k < conns.size(); ++k) {
        EXPECT_EQ(conns[k]->ask(), names[k]) << "connection " << k << " after the move";
    }
    std::string listed;
    EXPECT_EQ(s_lab->xlbctl(ipvs("-L -c -n"), &listed), 0);
    for (int k = 0; k < 3; ++k) {
        EXPECT_NE(listed.find(fmt::format("ESTABLISHED 10.9.77.{}:", k + 1)), std::string::npos) << listed;
    }
    // A new connection is IPVS's to schedule, and works.
    auto fresh = s_lab->connect(s_lab->cli(), {{"10.9.77.9", 0}});
    ASSERT_EQ(fresh.size(), 1u);
    EXPECT_NE(fresh[0], "");
    std::string st;
    s_lab->xlbctl(ipvs("-L -n"), &st);
    std::printf("%s", st.c_str());

    // And back: a native attach moves the table, and IPVS's connections,
    // into XDP; the held connections keep their servers through XDP.
    out.clear();
    EXPECT_EQ(s_lab->xlbctl(xdp("attach dc"), &out), 0);
    std::printf("%s", out.c_str());
    EXPECT_NE(out.find("the table moved back from kernel IPVS"), std::string::npos) << out;
    EXPECT_NE(out.find("connection(s) carried from kernel IPVS into XDP's flow tables"), std::string::npos) << out;
    for (const auto* i : {"d1", "d2", "d3"}) {
        ASSERT_EQ(s_lab->xlbctl(xdp(fmt::format("attach {}", i))), 0) << i;
    }
    std::string before;
    s_lab->xlbctl(xdp("-L -n --stats --exact"), &before);
    for (size_t k = 0; k < conns.size(); ++k) {
        EXPECT_EQ(conns[k]->ask(), names[k]) << "connection " << k << " after the move back";
    }
    listed.clear();
    EXPECT_EQ(s_lab->xlbctl(xdp("-L -c -n"), &listed), 0);
    for (int k = 0; k < 3; ++k) {
        EXPECT_NE(listed.find(fmt::format("ESTABLISHED 10.9.77.{}:", k + 1)), std::string::npos) << listed;
    }
    // XDP, not the stack, carried the answers' requests: its counters moved.
    std::string after;
    s_lab->xlbctl(xdp("-L -n --stats --exact"), &after);
    EXPECT_GT(stats_of(after, svc).inpkts, stats_of(before, svc).inpkts) << before << after;

    conns.clear();
    EXPECT_EQ(s_lab->xlbctl(xdp("unload")), 0) << "unload removes the fallback record";
    s_loaded = false;
    EXPECT_EQ(s_lab->xlbctl(ipvs("-C")), 0);
    s_lab->sh_in(s_lab->dir(), "ip link del xmv0");
    EXPECT_EQ(std::system(fmt::format("test -z \"$(ls -A {}/fallback 2>/dev/null)\"", run_dir).c_str()), 0)
        << "the fallback record outlived the unload";
    (void)std::system(fmt::format("rm -rf {}", run_dir).c_str());
    unsetenv("XLB_RUN_DIR");
}

} // namespace
