// `xlbctl attach` falling back to kernel IPVS, and switching back, in the
// VM of the ipvs tier (tests/vm runs it after ipvs_compare).
//
// Three namespaces this binary makes and deletes: the director (xfb_lb)
// runs xlbctl, IPVS and the XDP attachments; a client (xfb_c) reaches it
// through a macvlan, which has no native XDP on 6.1; a real server (xfb_s)
// sits behind a veth, which has. The XDP program is loaded once for the
// whole binary (about 8 s under TCG), on a bpffs of its own outside /sys,
// since `ip netns exec` mounts a fresh /sys. The tests run in order: bad
// input, --no-fallback, the fallback with real TCP through IPVS (NAT), and
// the switch back.

#include "ipvs/real_ipvsadm.h"
#include "support/cmd.h"
#include "support/netns.h"
#include "support/priv.h"

#include <boost/json.hpp>
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <vector>
#include <string>

using namespace xlb::test;
namespace json = boost::json;

namespace {

const char* const bpffs = "/tmp/xlb-fallback-bpf";
const char* const pin = "/tmp/xlb-fallback-bpf/fb";
const char* const run_dir = "/tmp/xlb-fallback-run";
const char* const record = "/tmp/xlb-fallback-run/fallback/%2Ftmp%2Fxlb-fallback-bpf%2Ffb";

std::string ipvs_missing() { return real_ipvs_missing("needs root (CAP_NET_ADMIN, CAP_BPF) for namespaces, XDP and IPVS"); }

// xlbctl in the director's namespace, on the test's instance.
cmd_result xlbctl(const std::string& args) {
    return run_cmd(fmt::format("ip netns exec xfb_lb {} --pin-dir {} {}", xlbctl_bin(), pin, args));
}

cmd_result ipvsadm(const std::string& args) {
    return run_cmd(fmt::format("ip netns exec xfb_lb {} {}", real_ipvsadm, args));
}

// A listing without its first line (the header's version and table size
// differ between the backends).
std::string body(const std::string& listing) {
    auto nl = listing.find('\n');
    return nl == std::string::npos ? std::string() : listing.substr(nl + 1);
}

bool record_exists() { return access(record, F_OK) == 0; }

class fallback : public ::testing::Test {
protected:
    static void SetUpTestSuite() {
        if (!ipvs_missing().empty()) {
            return;
        }
        setenv("XLB_RUN_DIR", run_dir, 1);
        unsetenv("XLB_BACKEND");
        _ready = sh(fmt::format(
                     "set -e; mkdir -p {0}; mount -t bpf bpf {0}; "
                     "ip netns add xfb_lb; ip netns add xfb_c; ip netns add xfb_s; "
                     "ip -n xfb_lb link set lo up; ip -n xfb_c link set lo up; ip -n xfb_s link set lo up; "
                     // client <-> director: a veth, and a macvlan on the director's end
                     "ip link add xfbc0 netns xfb_c type veth peer name xfblow netns xfb_lb; "
                     "ip -n xfb_lb link add link xfblow name xfbmv type macvlan mode bridge; "
                     "ip -n xfb_lb link set xfblow up; ip -n xfb_lb link set xfbmv up; "
                     "ip -n xfb_lb addr add 10.80.0.1/24 dev xfbmv; ip -n xfb_lb addr add 10.80.0.100/32 dev xfbmv; "
                     "ip -n xfb_c addr add 10.80.0.2/24 dev xfbc0; ip -n xfb_c link set xfbc0 up; "
                     // director <-> real server: a veth, which has native XDP
                     "ip link add xfbs netns xfb_lb type veth peer name xfbs0 netns xfb_s; "
                     "ip -n xfb_lb addr add 10.81.0.1/24 dev xfbs; ip -n xfb_lb link set xfbs up; "
                     "ip -n xfb_s addr add 10.81.0.2/24 dev xfbs0; ip -n xfb_s link set xfbs0 up; "
                     "ip -n xfb_s route add default via 10.81.0.1; "
                     "ip netns exec xfb_lb sh -c 'echo 1 > /proc/sys/net/ipv4/ip_forward'",
                     bpffs)) == 0;
        if (!_ready) {
            return;
        }
        auto load = xlbctl("load --max-services 16 --max-dests 64 --max-flows 4096");
        _ready = load.code == 0;
        if (!_ready) {
            std::fprintf(stderr, "xlbctl load: %s\n", load.err.c_str());
            return;
        }
        // The table XDP holds before any attach: NAT to the server's 8080.
        for (const char* c : {"-A -t 10.80.0.100:80 -s rr", "-a -t 10.80.0.100:80 -r 10.81.0.2:8080 -m -w 3",
                              "-A -u 10.80.0.100:53 -s sh -b sh-port", "-a -u 10.80.0.100:53 -r 10.81.0.2:53 -m",
                              "-a -u 10.80.0.100:53 -r 10.81.0.3:53 -m -w 2"}) {
            auto r = xlbctl(c);
            if (r.code != 0) {
                std::fprintf(stderr, "xlbctl %s: %s\n", c, r.err.c_str());
                _ready = false;
            }
        }
    }

    static void TearDownTestSuite() {
        if (!ipvs_missing().empty()) {
            return;
        }
        (void)xlbctl("unload");
        (void)sh(fmt::format("ip netns del xfb_lb; ip netns del xfb_c; ip netns del xfb_s; umount {0}; "
                             "rm -rf {0} {1}",
                             bpffs, run_dir));
    }

    void SetUp() override {
        if (auto why = ipvs_missing(); !why.empty()) {
            if (require_priv()) {
                FAIL() << "XLB_REQUIRE_PRIV=1 but " << why;
            }
            GTEST_SKIP() << why;
        }
        ASSERT_TRUE(_ready) << "the namespaces, the instance or its table could not be set up";
    }

    static bool _ready;
};

bool fallback::_ready = false;

// One TCP connection from the client namespace to VIP:80: what the real
// server (echo) sends back.
std::string tcp_round_trip(const std::string& payload) {
    int listener = -1;
    in_netns("xfb_s", [&] {
        listener = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        int one = 1;
        setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_port = htons(8080);
        inet_pton(AF_INET, "10.81.0.2", &a.sin_addr);
        if (bind(listener, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0 || listen(listener, 4) != 0) {
            throw std::runtime_error("cannot listen on 10.81.0.2:8080");
        }
    });
    std::string got;
    int client = -1;
    in_netns("xfb_c", [&] {
        client = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        timeval tv{5, 0};
        setsockopt(client, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        setsockopt(client, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
        sockaddr_in vip{};
        vip.sin_family = AF_INET;
        vip.sin_port = htons(80);
        inet_pton(AF_INET, "10.80.0.100", &vip.sin_addr);
        if (connect(client, reinterpret_cast<sockaddr*>(&vip), sizeof(vip)) != 0) {
            client = -1 - errno;
        }
    });
    if (client >= 0) {
        int conn = accept(listener, nullptr, nullptr);
        if (conn >= 0) {
            (void)!write(client, payload.data(), payload.size());
            char buf[256];
            ssize_t n = read(conn, buf, sizeof(buf));
            if (n > 0) {
                std::string echo = "echo:" + std::string(buf, static_cast<size_t>(n));
                (void)!write(conn, echo.data(), echo.size());
                n = read(client, buf, sizeof(buf));
                if (n > 0) {
                    got.assign(buf, static_cast<size_t>(n));
                }
            }
            close(conn);
        }
        close(client);
    } else {
        got = fmt::format("connect failed: {}", std::strerror(-1 - client));
    }
    close(listener);
    return got;
}

TEST_F(fallback, bad_input_is_refused_and_changes_nothing) {
    auto before = xlbctl("--backend xdp -L -n").out;
    struct row {
        std::string args;
        int code;
        std::string says;
    };
    for (const row& r : std::vector<row>{
             {"attach nosuchif0", 1, "no interface named nosuchif0; nothing changed"},
             {"attach xfbmv --xdp-mode turbo", 2, "--xdp-mode is native or generic, not 'turbo'"},
             {"attach xfbmv --xdp-mode", 2, "--xdp-mode needs native or generic"},
             {"attach xfbmv --bogus", 2, "unexpected argument '--bogus'"},
             {"attach", 2, "which interface?"},
         }) {
        auto o = xlbctl(r.args);
        EXPECT_EQ(o.code, r.code) << r.args << ": " << o.err;
        EXPECT_NE(o.err.find(r.says), std::string::npos) << r.args << ": " << o.err;
        EXPECT_TRUE(o.out.empty()) << r.args << ": " << o.out;
    }
    EXPECT_EQ(xlbctl("--backend xdp -L -n").out, before);
    EXPECT_EQ(body(ipvsadm("-L -n").out), "Prot LocalAddress:Port Scheduler Flags\n"
                                          "  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n");
    EXPECT_FALSE(record_exists());
}

TEST_F(fallback, no_fallback_fails_and_changes_nothing) {
    auto o = xlbctl("attach xfbmv --no-fallback");
    EXPECT_EQ(o.code, 1) << o.err;
    EXPECT_NE(o.err.find("native XDP is not available on xfbmv (the kernel answered"), std::string::npos) << o.err;
    EXPECT_NE(o.err.find("--no-fallback: nothing changed"), std::string::npos) << o.err;
    EXPECT_EQ(ipvsadm("-L -n").out.find("TCP"), std::string::npos) << "IPVS stays empty";
    EXPECT_FALSE(record_exists());
    auto st = json::parse(xlbctl("--json status").out);
    EXPECT_EQ(st.at("backend").at("name").as_string(), "xdp");
    EXPECT_TRUE(st.at("interfaces").as_array().empty());
}

TEST_F(fallback, macvlan_falls_back_to_ipvs_which_serves_tcp) {
    auto xdp_table = xlbctl("--backend xdp -L -n");
    ASSERT_EQ(xdp_table.code, 0);
    auto o = xlbctl("attach xfbmv");
    ASSERT_EQ(o.code, 0) << o.err;
    EXPECT_NE(o.out.find("native XDP is not available on xfbmv"), std::string::npos) << o.out;
    EXPECT_NE(o.out.find(fmt::format("kernel IPVS now serves the table of {} (2 services, 3 dests)", pin)),
              std::string::npos)
        << o.out;
    EXPECT_TRUE(record_exists());

    // Real ipvsadm lists what XDP held.
    auto real = ipvsadm("-L -n");
    ASSERT_EQ(real.code, 0) << real.err;
    EXPECT_EQ(body(real.out), body(xdp_table.out));
    // auto now opens IPVS: it lists the same.
    EXPECT_EQ(xlbctl("-L -n").out, real.out);

    // Real TCP: client -> VIP on the macvlan -> IPVS NAT -> the real server.
    EXPECT_EQ(tcp_round_trip("hello"), "echo:hello");
    auto conns = ipvsadm("-L -n -c");
    EXPECT_NE(conns.out.find("10.81.0.2:8080"), std::string::npos) << conns.out;

    // status says ipvs, and why.
    auto text = xlbctl("status");
    ASSERT_EQ(text.code, 0) << text.err;
    EXPECT_NE(text.out.find("backend: ipvs (fallback: native XDP is not available on xfbmv"), std::string::npos)
        << text.out;
    EXPECT_NE(text.out.find("table: 2 services, 3 dests"), std::string::npos) << text.out;
    EXPECT_NE(text.out.find("IPVS: version 1.2.1, connection table size "), std::string::npos) << text.out;
    EXPECT_NE(text.out.find("sync daemons: none"), std::string::npos) << text.out;
    EXPECT_NE(text.out.find("`xlbctl attach xfbmv` found no native XDP"), std::string::npos) << text.out;
    std::printf("%s%s", o.out.c_str(), text.out.c_str()); // for the log: what an operator sees
    auto js = xlbctl("--json status");
    ASSERT_EQ(js.code, 0) << js.err;
    auto st = json::parse(js.out);
    EXPECT_EQ(st.at("schema").as_int64(), 1);
    EXPECT_EQ(st.at("backend").at("name").as_string(), "ipvs");
    EXPECT_EQ(st.at("backend").at("selected_by").as_string(), "default");
    EXPECT_EQ(st.at("ipvs").at("services").as_int64(), 2);
    EXPECT_EQ(st.at("ipvs").at("dests").as_int64(), 3);
    EXPECT_EQ(st.at("ipvs").at("version").as_string(), "1.2.1");
    EXPECT_GT(st.at("ipvs").at("conn_table_size").as_int64(), 0);
    EXPECT_EQ(st.at("fallback").at("interface").as_string(), "xfbmv");
    EXPECT_EQ(st.at("fallback").at("pin_dir").as_string(), pin);
    EXPECT_NE(std::string(st.at("fallback").at("reason").as_string()).find("native XDP attach"), std::string::npos);

    // An ipvsadm-style command now changes the table that serves.
    auto add = xlbctl("-a -t 10.80.0.100:80 -r 10.81.0.3:8080 -m -w 1");
    EXPECT_EQ(add.code, 0) << add.err;
    EXPECT_NE(ipvsadm("-L -n").out.find("10.81.0.3:8080"), std::string::npos);
    EXPECT_EQ(xlbctl("--backend xdp -L -n").out.find("10.81.0.3:8080"), std::string::npos)
        << "XDP's table is not the one serving";
    // Another interface without native XDP: IPVS keeps serving.
    auto again = xlbctl("attach xfbmv");
    EXPECT_EQ(again.code, 0) << again.err;
    EXPECT_NE(again.out.find("keeps serving it"), std::string::npos) << again.out;
    EXPECT_TRUE(record_exists());
}

TEST_F(fallback, native_attach_on_a_veth_moves_the_table_back) {
    ASSERT_TRUE(record_exists()) << "needs the fallback of the test before";
    // -S: the table without its counters (the connection of the test
    // before is still counted in IPVS, and XDP starts at 0).
    auto ipvs_table = ipvsadm("-S -n");
    ASSERT_NE(ipvs_table.out.find("10.81.0.3:8080"), std::string::npos);
    auto o = xlbctl("attach xfbs");
    ASSERT_EQ(o.code, 0) << o.err;
    EXPECT_NE(o.out.find("native XDP on xfbs: the table moved back from kernel IPVS (2 services, 4 dests)"),
              std::string::npos)
        << o.out;
    EXPECT_FALSE(record_exists());
    EXPECT_EQ(xlbctl("--backend xdp -S -n").out, ipvs_table.out);
    EXPECT_EQ(body(ipvsadm("-L -n").out), "Prot LocalAddress:Port Scheduler Flags\n"
                                          "  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n")
        << "IPVS is empty";
    auto st = json::parse(xlbctl("--json status").out);
    EXPECT_EQ(st.at("backend").at("name").as_string(), "xdp");
    ASSERT_EQ(st.at("interfaces").as_array().size(), 1u);
    EXPECT_EQ(st.at("interfaces").at(0).at("name").as_string(), "xfbs");
    EXPECT_EQ(st.at("interfaces").at(0).at("mode").as_string(), "native");

    // Attached natively, an interface without it is refused: one backend at a time.
    auto mv = xlbctl("attach xfbmv");
    EXPECT_EQ(mv.code, 1) << mv.out;
    EXPECT_NE(mv.err.find("an instance is served by one backend at a time"), std::string::npos) << mv.err;
    EXPECT_FALSE(record_exists());
    EXPECT_EQ(xlbctl("detach xfbs").code, 0);
}

} // namespace
