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
#include <string>
#include <vector>

using namespace xlb;
using namespace xlb::test;

namespace {

// Tunnel real servers need routes: the lab has 10.1.0.0/24 and fd01::/64.
[[maybe_unused]] auto* const g_env = ::testing::AddGlobalTestEnvironment(new lab_environment(false));

// What ipvsadm-golden records for one command: stdout and stderr, then
// rc=N when it failed. The program is called "ipvsadm" in messages.
// xlb's other addition, documented: a warning line on stderr for an
// address IPVS accepts but xlb cannot balance (sections named W_*); the
// warnings come out apart, the rest must be ipvsadm's bytes.
struct captured {
    std::string text;
    std::vector<std::string> warnings;
};

captured run(dataplane& dp, const std::string& line) {
    auto o = run_ipvsadm(dp, line, "ipvsadm");
    captured c;
    std::istringstream err(o.err);
    std::string rest;
    for (std::string l; std::getline(err, l);) {
        if (l.rfind("ipvsadm: warning: ", 0) == 0) {
            c.warnings.push_back(l);
        } else {
            rest += l + "\n";
        }
    }
    c.text = o.out + rest;
    if (o.exit_code != 0) {
        c.text += fmt::format("rc={}\n", o.exit_code);
    }
    return c;
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
            ASSERT_EQ(out.text, "") << "setting up: " << line;
            ASSERT_TRUE(out.warnings.empty()) << "setting up: " << line;
            continue;
        }
        auto name = line.substr(3, line.find(' ') - 3);
        auto args = line.substr(line.find(' ') + 1);
        ASSERT_TRUE(golden.count(name)) << name;
        auto want = golden[name];
        auto ran = run(xlb.dp(), args);
        auto got = ran.text;
        if (name.rfind("W_", 0) == 0) {
            EXPECT_FALSE(ran.warnings.empty()) << "section " << name << ": ipvsadm " << args << " warns";
        } else {
            EXPECT_TRUE(ran.warnings.empty()) << "section " << name << ": " << ran.warnings.front();
        }
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
