// `xlbctl status` on real attachments: two veth pairs inside a namespace the
// test creates (no end in the root namespace), xlb attached natively to one
// and generically to the other, xlbctl run in that namespace through nsenter.
// Status must name each interface with its mode, driver and ifindex, and
// notice when something else takes our program off an interface.

#include "support/cmd.h"
#include "support/netns.h"
#include "support/priv.h"

#include <boost/json.hpp>
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <net/if.h>
#include <unistd.h>

#include <algorithm>

using namespace xlb::test;
namespace json = boost::json;

namespace {

class status_lab : public ::testing::Test {
protected:
    void SetUp() override {
        XLB_REQUIRE_PRIVILEGE();
        _ns = fmt::format("xst{}", getpid() % 100000);
        _pin = fmt::format("/sys/fs/bpf/xlb/it-status-{}", getpid());
        ASSERT_EQ(sh("ip netns add " + _ns), 0);
        _up = true;
        for (const char* p : {"n", "g"}) {
            ASSERT_EQ(sh(fmt::format("ip -n {0} link add {1}0 type veth peer name {1}1 && "
                                     "ip -n {0} link set dev {1}0 up && ip -n {0} link set dev {1}1 up",
                                     _ns, p)),
                      0);
        }
        ASSERT_EQ(xlbctl("load --max-flows 4096"), 0);
        _loaded = true;
    }

    void TearDown() override {
        if (_loaded) {
            xlbctl("unload");
        }
        if (_up) {
            sh("ip netns del " + _ns); // takes the veth pairs with it
        }
    }

    // nsenter, not `ip netns exec`: the latter remounts /sys and would hide
    // the pinned maps.
    std::string cmd(const std::string& args) const {
        return fmt::format("nsenter --net=/run/netns/{} {}/bin/xlbctl --pin-dir {} {}", _ns, XLB_BINARY_DIR, _pin,
                           args);
    }
    int xlbctl(const std::string& args) { return sh(cmd(args)); }

    json::array interfaces() {
        auto out = sh_out(cmd("--json status"));
        auto doc = json::parse(out);
        EXPECT_EQ(doc.at("schema").as_int64(), 1);
        return doc.at("interfaces").as_array();
    }

    // Both families' forwarding on the interface, in the test's namespace.
    int sysctl_forwarding(const std::string& ifname, int on) {
        return sh(fmt::format("ip netns exec {0} sysctl -qw net.ipv4.conf.{1}.forwarding={2} "
                              "net.ipv6.conf.{1}.forwarding={2}",
                              _ns, ifname, on));
    }

    int ifindex_in_ns(const std::string& name) {
        int i = 0;
        in_netns(_ns, [&] { i = static_cast<int>(if_nametoindex(name.c_str())); });
        return i;
    }

    static const json::object* find(const json::array& ifs, const std::string& name) {
        for (const auto& v : ifs) {
            if (v.at("name").as_string() == name) {
                return &v.as_object();
            }
        }
        return nullptr;
    }

    std::string _ns, _pin;
    bool _up = false, _loaded = false;
};

TEST_F(status_lab, shows_each_attached_interface_with_its_mode) {
    // Forwarding on (a new namespace may or may not inherit it): the plain line.
    ASSERT_EQ(sysctl_forwarding("n0", 1), 0);
    ASSERT_EQ(sysctl_forwarding("g0", 1), 0);
    auto none = interfaces();
    EXPECT_TRUE(none.empty()) << json::serialize(none);

    ASSERT_EQ(xlbctl("attach n0"), 0);
    ASSERT_EQ(xlbctl("attach g0 --xdp-mode generic"), 0);
    auto ifs = interfaces();
    ASSERT_EQ(ifs.size(), 2u) << json::serialize(ifs);
    struct row {
        std::string name, mode;
    };
    for (const auto& r : {row{"n0", "native"}, row{"g0", "generic"}}) {
        const auto* i = find(ifs, r.name);
        ASSERT_NE(i, nullptr) << r.name << ": " << json::serialize(ifs);
        EXPECT_EQ(i->at("mode").as_string(), r.mode) << r.name;
        EXPECT_EQ(i->at("driver").as_string(), "veth") << r.name;
        EXPECT_EQ(json::value_to<int>(i->at("ifindex")), ifindex_in_ns(r.name)) << r.name;
        EXPECT_TRUE(i->at("tx_port").as_bool()) << r.name;
    }

    auto text = sh_out(cmd("status"));
    EXPECT_NE(text.find(fmt::format("  {:<16} ifindex {:<5} {:<8} driver veth\n", "n0", ifindex_in_ns("n0"),
                                    "native")),
              std::string::npos)
        << text;
    EXPECT_NE(text.find(fmt::format("  {:<16} ifindex {:<5} {:<8} driver veth\n", "g0", ifindex_in_ns("g0"),
                                    "generic")),
              std::string::npos)
        << text;

    // Detached by xlbctl: gone from the list.
    ASSERT_EQ(xlbctl("detach n0"), 0);
    ifs = interfaces();
    ASSERT_EQ(ifs.size(), 1u) << json::serialize(ifs);
    EXPECT_EQ(ifs[0].at("name").as_string(), "g0");

    // Taken off behind xlb's back: still in tx_ports, so shown as detached.
    ASSERT_EQ(sh(fmt::format("ip -n {} link set dev g0 xdpgeneric off", _ns)), 0);
    ifs = interfaces();
    ASSERT_EQ(ifs.size(), 1u) << json::serialize(ifs);
    EXPECT_EQ(ifs[0].at("name").as_string(), "g0");
    EXPECT_EQ(ifs[0].at("mode").as_string(), "detached");
    EXPECT_TRUE(ifs[0].at("tx_port").as_bool());
}

// DR with forwarding off on the ingress interface drops every packet
// (drop_fwd_disabled): attach says so, naming the sysctl, and status flags it.
TEST_F(status_lab, forwarding_off_is_warned_about_at_attach_and_flagged_by_status) {
    ASSERT_EQ(sysctl_forwarding("n0", 0), 0);
    auto a = run_cmd(cmd("attach n0"));
    EXPECT_EQ(a.code, 0) << a.err;
    EXPECT_EQ(a.out, "");
    EXPECT_NE(a.err.find("xlb: warning: IPv4 forwarding is off on n0"), std::string::npos) << a.err;
    EXPECT_NE(a.err.find("drop_fwd_disabled"), std::string::npos) << a.err;
    EXPECT_NE(a.err.find("`sysctl -w net.ipv4.conf.n0.forwarding=1`"), std::string::npos) << a.err;
    EXPECT_NE(a.err.find("`sysctl -w net.ipv6.conf.n0.forwarding=1`"), std::string::npos) << a.err;
    EXPECT_EQ(std::count(a.err.begin(), a.err.end(), '\n'), 2) << a.err;

    auto ifs = interfaces();
    ASSERT_EQ(ifs.size(), 1u) << json::serialize(ifs);
    EXPECT_EQ(ifs[0].at("ipv4_forwarding"), json::value(false));
    EXPECT_EQ(ifs[0].at("ipv6_forwarding"), json::value(false));
    auto text = sh_out(cmd("status"));
    EXPECT_NE(text.find(fmt::format("  {:<16} ifindex {:<5} {:<8} driver veth (forwarding off: ipv4 ipv6)\n", "n0",
                                    ifindex_in_ns("n0"), "native")),
              std::string::npos)
        << text;
    EXPECT_NE(text.find("sysctl -w net.ipv4.conf.n0.forwarding=1 net.ipv6.conf.n0.forwarding=1\n"),
              std::string::npos)
        << text;

    // Only IPv6 off: only IPv6 named.
    ASSERT_EQ(sh(fmt::format("ip netns exec {} sysctl -qw net.ipv4.conf.n0.forwarding=1", _ns)), 0);
    ifs = interfaces();
    EXPECT_EQ(ifs[0].at("ipv4_forwarding"), json::value(true));
    EXPECT_EQ(ifs[0].at("ipv6_forwarding"), json::value(false));
    text = sh_out(cmd("status"));
    EXPECT_NE(text.find("driver veth (forwarding off: ipv6)\n"), std::string::npos) << text;

    // On: attach is silent, status shows the plain line.
    ASSERT_EQ(sysctl_forwarding("n0", 1), 0);
    ASSERT_EQ(xlbctl("detach n0"), 0);
    a = run_cmd(cmd("attach n0"));
    EXPECT_EQ(a.code, 0) << a.err;
    EXPECT_EQ(a.err, "");
    ifs = interfaces();
    EXPECT_EQ(ifs[0].at("ipv4_forwarding"), json::value(true));
    EXPECT_EQ(ifs[0].at("ipv6_forwarding"), json::value(true));
    text = sh_out(cmd("status"));
    EXPECT_NE(text.find(fmt::format("  {:<16} ifindex {:<5} {:<8} driver veth\n", "n0", ifindex_in_ns("n0"),
                                    "native")),
              std::string::npos)
        << text;
    EXPECT_EQ(text.find("forwarding off"), std::string::npos) << text;
}

} // namespace
