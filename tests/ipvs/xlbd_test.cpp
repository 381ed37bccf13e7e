// xlbd on kernel IPVS (the ipvs tier's VM, Debian 12's 6.1 kernel): the same
// failover as tests/integration/xlbd_test.cpp runs on XDP. xlbd programs
// IPVS through `--backend ipvs`; real TCP health checks go from the
// director to the lab's servers (vm_lab.h), and real client connections
// through IPVS (NAT) show where new connections go.

#include "ipvs/vm_lab.h"

#include "support/netns.h"
#include "support/poll.h"
#include "support/priv.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <chrono>
#include <csignal>
#include <fstream>
#include <map>
#include <sstream>
#include <thread>

using namespace xlb::test;
using namespace xlb::test::vm_lab;
using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;

namespace {

class xlbd_ipvs : public ::testing::Test {
protected:
    void SetUp() override {
        XLB_REQUIRE_PRIVILEGE();
        _lab = std::make_unique<lab>(fmt::format("k{}", getpid() % 100000), 3);
        _dir = fmt::format("/tmp/xlbd-ipvs-{}", getpid());
        xlb::test::sh(fmt::format("rm -rf {0} && mkdir -p {0}", _dir));
        ASSERT_EQ(_lab->xlbctl("--backend ipvs -C"), 0);
    }
    void TearDown() override {
        if (_pid > 0) {
            ::kill(_pid, SIGKILL);
        }
        if (_lab) {
            _lab->xlbctl("--backend ipvs -C");
            _lab.reset();
        }
        xlb::test::sh(fmt::format("rm -rf {}", _dir));
    }

    // The VIP's dests: address -> weight.
    std::map<std::string, int> dests() {
        std::string out;
        _lab->xlbctl(fmt::format("--backend ipvs -L -n -t {}:80", vip), &out);
        return dest_weights(out);
    }

    template <class Pred>
    static bool wait_for(Pred pred, std::chrono::milliseconds limit) {
        return xlb::test::wait_for(pred, limit, 50ms); // each xlbctl runs under emulation
    }

    std::string log() {
        std::ifstream in(_dir + "/xlbd.log");
        std::stringstream s;
        s << in.rdbuf();
        return s.str();
    }

    std::unique_ptr<lab> _lab;
    std::string _dir;
    int _pid = -1;
};

TEST_F(xlbd_ipvs, fails_over_and_recovers_on_kernel_ipvs) {
    std::string conf = fmt::format("virtual_server {} 80 {{\n delay_loop 1\n lb_algo rr\n lb_kind NAT\n"
                                   " protocol TCP\n",
                                   vip);
    for (int i = 1; i <= 3; ++i) {
        conf += fmt::format(" real_server {} 80 {{\n  weight 1\n  TCP_CHECK {{\n   connect_timeout 1\n   retry 1\n"
                            "   delay_before_retry 1\n  }}\n }}\n",
                            rip(i));
    }
    conf += "}\n";
    std::ofstream(_dir + "/keepalived.conf") << conf;
    const auto xlbd = std::string(XLB_BINARY_DIR) + "/bin/xlbd";
    ASSERT_EQ(_lab->sh_in(_lab->dir(),
                          fmt::format("XLB_RUN_DIR={0} {1} -f {0}/keepalived.conf --backend ipvs --socket {0}/sock "
                                      "--log-level debug >{0}/xlbd.log 2>&1 & echo $! >{0}/pid",
                                      _dir, xlbd)),
              0);
    std::ifstream(_dir + "/pid") >> _pid;
    ASSERT_GT(_pid, 0);
    ASSERT_TRUE(wait_for([&] { return dests().size() == 3; }, 10s)) << log();

    const std::string b2 = fmt::format("{}:80", rip(2));
    const auto stopped = steady::now();
    _lab->stop_server(2);
    // delay_loop 1 * (retry 1 + 1) + connect_timeout 1 = 3 s; under TCG the
    // stated slack is 3 s.
    ASSERT_TRUE(wait_for([&] { return !dests().contains(b2); }, 6s)) << log();
    EXPECT_LE(std::chrono::duration_cast<std::chrono::milliseconds>(steady::now() - stopped).count(), 6000);
    auto names = _lab->connect(_lab->cli(), std::vector<flow>(30, flow{"10.9.1.1", 0}));
    std::map<std::string, int> tally;
    for (const auto& n : names) {
        ++tally[n.empty() ? "failed" : n];
    }
    EXPECT_EQ(tally[server_name(2)], 0);
    EXPECT_EQ(tally["failed"], 0);
    EXPECT_EQ(tally[server_name(1)] + tally[server_name(3)], 30);

    _lab->start_server(2);
    ASSERT_TRUE(wait_for([&] { return dests().contains(b2); }, 5s)) << log();
    names = _lab->connect(_lab->cli(), std::vector<flow>(30, flow{"10.9.2.1", 0}));
    tally.clear();
    for (const auto& n : names) {
        ++tally[n.empty() ? "failed" : n];
    }
    EXPECT_EQ(tally["failed"], 0);
    // rr over three servers: each gets every third new connection.
    EXPECT_EQ(tally[server_name(2)], 10);

    // SIGTERM leaves kernel IPVS as it is.
    ::kill(_pid, SIGTERM);
    ASSERT_TRUE(wait_for([&] { return ::kill(_pid, 0) != 0; }, 5s));
    _pid = -1;
    EXPECT_EQ(dests().size(), 3u);
}

} // namespace
