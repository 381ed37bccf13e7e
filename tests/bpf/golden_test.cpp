// tests/fixtures/ipvsadm/more.cmds through xlb, section by section, against
// more.golden: what Debian 12's ipvsadm 1.31 printed for the same lines on
// kernel IPVS (captured with scripts/ipvsadm-golden in the qemu VM).

#include "support/cmd.h"
#include "support/golden.h"
#include "support/priv.h"
#include "support/xdp_lab.h"

#include <xlb/dataplane/xdp_dataplane.h>
#include <xlb/ipvsadm/command.h>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

using namespace xlb;
using namespace xlb::test;

namespace {

// Tunnel real servers need routes: the lab has 10.1.0.0/24 and fd01::/64.
[[maybe_unused]] auto* const g_env = ::testing::AddGlobalTestEnvironment(new lab_environment(false));

// What ipvsadm-golden records for one command: stdout and stderr, then
// rc=N when it failed. The program is called "ipvsadm" in messages.
std::string run(dataplane& dp, const std::string& line) {
    auto o = run_ipvsadm(dp, line, "ipvsadm");
    auto text = o.out + o.err;
    if (o.exit_code != 0) {
        text += fmt::format("rc={}\n", o.exit_code);
    }
    return text;
}

TEST(ipvsadm_captured, every_section_matches_real_ipvsadm) {
    XLB_REQUIRE_PRIVILEGE();
    // size=4096 in the header is the connection table size: --max-flows.
    loaded_xlb xlb(load_options{64, 1024, 4096});
    auto golden = ipvsadm_golden("more.golden");
    std::ifstream cmds(std::string(XLB_SOURCE_DIR) + "/tests/fixtures/ipvsadm/more.cmds");
    ASSERT_TRUE(cmds) << "more.cmds";
    int sections = 0;
    for (std::string line; std::getline(cmds, line);) {
        if (line.empty() || line[0] == '#') {
            continue;
        }
        if (line.rfind("===", 0) != 0) {
            auto out = run(xlb.dp(), line);
            ASSERT_EQ(out, "") << "setting up: " << line;
            continue;
        }
        auto name = line.substr(3, line.find(' ') - 3);
        auto args = line.substr(line.find(' ') + 1);
        ASSERT_TRUE(golden.count(name)) << name;
        auto want = golden[name];
        auto got = run(xlb.dp(), args);
        if (name == "S" || name == "S2") {
            // xlb's one addition to -S, documented: the thresholds ipvsadm
            // forgets, after everything ipvsadm prints.
            auto stripped = strip_thresholds(got);
            EXPECT_NE(stripped, got) << "the table has thresholds to save";
            got = stripped;
        }
        EXPECT_EQ(got, want) << "section " << name << ": ipvsadm " << args;
        ++sections;
    }
    EXPECT_EQ(sections, static_cast<int>(golden.size()));
}

} // namespace
