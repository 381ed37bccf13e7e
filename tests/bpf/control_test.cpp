// The control plane against a real loaded instance: ipvsadm's errors and exit
// codes, xlbctl end to end, writers racing each other, packets racing a
// writer, and map-size limits. Runs in a private network namespace.

#include "support/golden.h"
#include "support/netns.h"
#include "support/packet.h"
#include "support/priv.h"
#include "support/xdp_lab.h"

#include <xlb/dataplane/xdp_dataplane.h>
#include <xlb/ipvsadm/command.h>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <filesystem>

#include <atomic>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <thread>

using namespace xlb;
using namespace xlb::test;

namespace {

[[maybe_unused]] auto* const g_env = ::testing::AddGlobalTestEnvironment(new lab_environment(false));

const std::string xlbctl_bin = std::string(XLB_BINARY_DIR) + "/bin/xlbctl";

ipvsadm::outcome ipvsadm_run(dataplane& dp, std::vector<std::string> args) {
    auto parsed = ipvsadm::parse(args, "ipvsadm");
    if (auto* e = std::get_if<ipvsadm::usage_error>(&parsed)) {
        return {e->exit_code, "", e->message + "\n"};
    }
    return ipvsadm::execute(std::get<ipvsadm::command>(parsed), dp,
                            [](const endpoint& e, protocol) { return e.to_string(); });
}

struct cmd_result {
    int code;
    std::string out;
};

cmd_result run_cmd(const std::string& cmd) {
    std::string out;
    FILE* p = popen((cmd + " 2>&1").c_str(), "r");
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof(buf), p)) > 0) {
        out.append(buf, n);
    }
    int rc = pclose(p);
    return {WIFEXITED(rc) ? WEXITSTATUS(rc) : 128, out};
}

class control : public ::testing::Test {
protected:
    void SetUp() override {
        XLB_REQUIRE_PRIVILEGE();
        _xlb.emplace(load_options{8, 256, 4096});
    }
    xdp_dataplane& dp() { return _xlb->dp(); }
    std::optional<loaded_xlb> _xlb;
};

TEST_F(control, kernel_side_errors_match_ipvsadm_and_change_nothing) {
    ASSERT_EQ(ipvsadm_run(dp(), {"-A", "-t", "192.168.100.1:80", "-s", "rr"}).exit_code, 0);
    ASSERT_EQ(ipvsadm_run(dp(), {"-a", "-t", "192.168.100.1:80", "-r", "192.168.100.2", "-g", "-w", "2"}).exit_code,
              0);
    auto before = ipvsadm_run(dp(), {"-L", "-n"}).out;

    struct row {
        std::vector<std::string> args;
        std::string expect;
    };
    std::vector<row> rows = {
        {{"-A", "-t", "192.168.100.1:80", "-s", "rr"}, golden_message("ERR1")},
        {{"-a", "-t", "10.0.0.99:80", "-r", "10.0.0.2"}, golden_message("ERR2")},
        {{"-A", "-t", "192.168.100.9:80", "-s", "nosuchsched"}, golden_message("ERR3")},
        {{"-d", "-t", "192.168.100.1:80", "-r", "192.168.100.77"}, golden_message("ERR4")},
        {{"-a", "-t", "192.168.100.1:80", "-r", "192.168.100.2"}, "Destination already exists\n"},
        {{"-e", "-t", "192.168.100.1:80", "-r", "192.168.100.77"}, "No such destination\n"},
        {{"-E", "-t", "192.168.100.9:80", "-s", "rr"}, "No such service\n"},
        {{"-D", "-t", "192.168.100.9:80"}, "No such service\n"},
    };
    for (const auto& r : rows) {
        auto o = ipvsadm_run(dp(), r.args);
        EXPECT_EQ(o.exit_code, 255) << ::testing::PrintToString(r.args);
        EXPECT_EQ(o.err, r.expect) << ::testing::PrintToString(r.args);
    }
    EXPECT_EQ(ipvsadm_run(dp(), {"-L", "-n"}).out, before) << "a refused command leaves the table as it was";

    auto one = ipvsadm_run(dp(), {"-L", "-n", "-t", "192.168.100.9:80"});
    EXPECT_EQ(one.exit_code, 1);
    EXPECT_EQ(one.err, "No such service\n");
}

// Issue 8, end to end: a NAT real server on another port than the
// service's can be edited and deleted (ipvsadm forces the port for -a/-e
// with -g/-i only); an address IPVS refuses changes nothing.
TEST_F(control, a_port_mapped_nat_server_can_be_edited_and_deleted) {
    ASSERT_EQ(ipvsadm_run(dp(), {"-A", "-t", "203.0.113.9:8080", "-s", "rr"}).exit_code, 0);
    ASSERT_EQ(ipvsadm_run(dp(), {"-a", "-t", "203.0.113.9:8080", "-r", "198.51.100.13:80", "-m"}).exit_code, 0);
    auto e = ipvsadm_run(dp(), {"-e", "-t", "203.0.113.9:8080", "-r", "198.51.100.13:80", "-m", "-w", "4"});
    EXPECT_EQ(e.exit_code, 0) << e.err;
    EXPECT_EQ(dp().list().value().at(0).dests.at(0).config.weight, 4);
    // Without -m, -e means -g: the port is forced to 8080, and there is none.
    e = ipvsadm_run(dp(), {"-e", "-t", "203.0.113.9:8080", "-r", "198.51.100.13:80", "-w", "3"});
    EXPECT_EQ(e.exit_code, 255);
    EXPECT_EQ(e.err, "No such destination\n");

    auto before = ipvsadm_run(dp(), {"-L", "-n"}).out;
    auto bad = ipvsadm_run(dp(), {"-a", "-t", "203.0.113.9:8080", "-r", "224.0.0.5", "-m"});
    EXPECT_EQ(bad.exit_code, 255);
    EXPECT_EQ(bad.err, "Invalid operation.  Possibly wrong module version, address not unicast, ...\n");
    EXPECT_EQ(ipvsadm_run(dp(), {"-L", "-n"}).out, before);

    auto d = ipvsadm_run(dp(), {"-d", "-t", "203.0.113.9:8080", "-r", "198.51.100.13:80"});
    EXPECT_EQ(d.exit_code, 0) << d.err;
    EXPECT_TRUE(dp().list().value().at(0).dests.empty());
    d = ipvsadm_run(dp(), {"-d", "-t", "203.0.113.9:8080", "-r", "198.51.100.13:80"});
    EXPECT_EQ(d.exit_code, 255);
    EXPECT_EQ(d.err, "No such destination\n");
}

TEST_F(control, listing_reads_back_what_was_written) {
    ASSERT_EQ(ipvsadm_run(dp(), {"-A", "-t", "192.168.100.1:80", "-s", "rr"}).exit_code, 0);
    ASSERT_EQ(ipvsadm_run(dp(), {"-a", "-t", "192.168.100.1:80", "-r", "192.168.100.3:8080", "-g", "-w", "3"}).exit_code,
              0);
    ASSERT_EQ(ipvsadm_run(dp(), {"-a", "-t", "192.168.100.1:80", "-r", "192.168.100.2:80", "-g", "-w", "1"}).exit_code,
              0);
    ASSERT_EQ(ipvsadm_run(dp(), {"-A", "-t", "[2001:db8::1]:443", "-s", "wrr"}).exit_code, 0);
    ASSERT_EQ(ipvsadm_run(dp(), {"-a", "-t", "[2001:db8::1]:443", "-r", "[2001:db8::10]:443", "-w", "5"}).exit_code, 0);
    auto l = ipvsadm_run(dp(), {"-L", "-n"});
    EXPECT_EQ(l.out, "IP Virtual Server version 1.2.1 (size=4096)\n"
                     "Prot LocalAddress:Port Scheduler Flags\n"
                     "  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n"
                     "TCP  192.168.100.1:80 rr\n"
                     "  -> 192.168.100.2:80             Route   1      0          0         \n"
                     "  -> 192.168.100.3:80             Route   3      0          0         \n"
                     "TCP  [2001:db8::1]:443 wrr\n"
                     "  -> [2001:db8::10]:443           Route   5      0          0         \n");
    ASSERT_EQ(ipvsadm_run(dp(), {"-e", "-t", "192.168.100.1:80", "-r", "192.168.100.2", "-g", "-w", "0"}).exit_code, 0);
    ASSERT_EQ(ipvsadm_run(dp(), {"-E", "-t", "192.168.100.1:80", "-s", "wrr"}).exit_code, 0);
    ASSERT_EQ(ipvsadm_run(dp(), {"-D", "-t", "[2001:db8::1]:443"}).exit_code, 0);
    EXPECT_EQ(ipvsadm_run(dp(), {"-L", "-n", "-t", "192.168.100.1:80"}).out,
              "Prot LocalAddress:Port Scheduler Flags\n"
              "  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n"
              "TCP  192.168.100.1:80 wrr\n"
              "  -> 192.168.100.2:80             Route   0      0          0         \n"
              "  -> 192.168.100.3:80             Route   3      0          0         \n");
    ASSERT_EQ(ipvsadm_run(dp(), {"-C"}).exit_code, 0);
    EXPECT_TRUE(dp().list().value().empty());
}

TEST_F(control, set_and_list_timeouts) {
    EXPECT_EQ(ipvsadm_run(dp(), {"-L", "--timeout"}).out, ipvsadm_golden()["TIMEOUT"]);
    ASSERT_EQ(ipvsadm_run(dp(), {"--set", "0", "60", "0"}).exit_code, 0);
    EXPECT_EQ(ipvsadm_run(dp(), {"-L", "--timeout"}).out, "Timeout (tcp tcpfin udp): 900 60 300\n");
    ASSERT_EQ(ipvsadm_run(dp(), {"--set", "3600", "0", "30"}).exit_code, 0);
    auto cfg = dp().config().value();
    EXPECT_EQ(cfg.tcp_timeout[XLB_TCP_S_ESTABLISHED], 3600u) << "the data path reads the new timeouts";
    EXPECT_EQ(cfg.tcp_timeout[XLB_TCP_S_FIN_WAIT], 60u);
    EXPECT_EQ(cfg.udp_timeout, 30u);
    EXPECT_EQ(cfg.tcp_timeout[XLB_TCP_S_SYN_RECV], 60u) << "--set leaves the other states alone";
}

TEST_F(control, zero_clears_counters) {
    ASSERT_EQ(ipvsadm_run(dp(), {"-A", "-t", "10.1.0.131:80", "-s", "rr"}).exit_code, 0);
    ASSERT_EQ(ipvsadm_run(dp(), {"-a", "-t", "10.1.0.131:80", "-r", "10.1.0.11", "-g"}).exit_code, 0);
    ASSERT_EQ(ipvsadm_run(dp(), {"-A", "-t", "10.1.0.132:80", "-s", "rr"}).exit_code, 0);
    ASSERT_EQ(ipvsadm_run(dp(), {"-a", "-t", "10.1.0.132:80", "-r", "10.1.0.12", "-g"}).exit_code, 0);
    int ifi = ifindex(xdp_lab::dir_if);
    for (const char* vip : {"10.1.0.131", "10.1.0.132"}) {
        packet_spec p;
        p.dst = parse_mac(xdp_lab::dir_mac);
        p.saddr = *ip_address::parse("10.1.0.200");
        p.daddr = *ip_address::parse(vip);
        ASSERT_EQ(run_xdp(dp().prog_fd(), build(p), ifi).action, XDP_TX);
    }
    auto conns = [&](size_t i) { return dp().list().value()[i].stats.conns; };
    ASSERT_EQ(conns(0) + conns(1), 2u);
    ASSERT_EQ(ipvsadm_run(dp(), {"-Z", "-t", "10.1.0.131:80"}).exit_code, 0);
    auto all = dp().list().value();
    for (const auto& s : all) {
        bool zeroed = s.config.key.vip.to_string() == "10.1.0.131:80";
        EXPECT_EQ(s.stats.conns, zeroed ? 0u : 1u) << s.config.key.vip.to_string();
        EXPECT_EQ(s.dests[0].stats.inpkts, zeroed ? 0u : 1u);
    }
    ASSERT_EQ(ipvsadm_run(dp(), {"-Z"}).exit_code, 0);
    EXPECT_EQ(conns(0) + conns(1), 0u);
    auto missing = ipvsadm_run(dp(), {"-Z", "-t", "10.1.0.199:80"});
    EXPECT_EQ(missing.exit_code, 255);
    EXPECT_EQ(missing.err, "No such service\n");
    auto save = ipvsadm_run(dp(), {"-S", "-n"});
    EXPECT_EQ(save.out, "-A -t 10.1.0.131:80 -s rr\n-a -t 10.1.0.131:80 -r 10.1.0.11:80 -g -w 1\n"
                        "-A -t 10.1.0.132:80 -s rr\n-a -t 10.1.0.132:80 -r 10.1.0.12:80 -g -w 1\n");
}

TEST_F(control, map_size_limits_are_clear_errors) {
    for (int i = 0; i < 8; ++i) {
        ASSERT_TRUE(dp().add_service({{protocol::tcp, *endpoint::parse(fmt::format("10.5.0.{}:80", i + 1))},
                                      scheduler::rr}));
    }
    auto full = dp().add_service({{protocol::tcp, *endpoint::parse("10.5.0.99:80")}, scheduler::rr});
    ASSERT_FALSE(full);
    EXPECT_EQ(full.error().code, ENOSPC);
    EXPECT_NE(full.error().message().find("--max-services"), std::string::npos);
    EXPECT_EQ(dp().list().value().size(), 8u);

    // Every dest slot (256 here, below the per-service bounds: bpf_sched
    // tests those) in one service; one more is a clear error.
    service_key k{protocol::tcp, *endpoint::parse("10.5.0.1:80")};
    for (int i = 0; i < 256; ++i) {
        auto a = *ip_address::parse(fmt::format("10.6.{}.{}", i / 200, i % 200 + 1));
        ASSERT_TRUE(dp().add_dest(k, {{a, 80}, forwarding::dr, 1, 0, 0})) << i;
    }
    auto over = dp().add_dest(k, {{*ip_address::parse("10.7.0.1"), 80}, forwarding::dr, 1, 0, 0});
    ASSERT_FALSE(over);
    EXPECT_EQ(over.error().code, ENOSPC);
    EXPECT_NE(over.error().message().find("--max-dests"), std::string::npos) << over.error().message();
    EXPECT_EQ(dp().list().value()[0].dests.size(), 256u);
}

TEST_F(control, concurrent_writers_lose_nothing) {
    service_key k{protocol::tcp, *endpoint::parse("10.8.0.1:80")};
    ASSERT_TRUE(dp().add_service({k, scheduler::wrr}));
    std::atomic<int> failures{0};
    auto writer = [&](int who) {
        auto mine = xdp_dataplane::open(_xlb->pin_dir());
        if (!mine) {
            ++failures;
            return;
        }
        for (int i = 0; i < 40; ++i) {
            auto a = *ip_address::parse(fmt::format("10.9.{}.{}", who, i + 1));
            if (!mine->add_dest(k, {{a, 80}, forwarding::dr, i % 5 + 1, 0, 0})) {
                ++failures;
            }
        }
    };
    std::thread t1(writer, 1), t2(writer, 2);
    t1.join();
    t2.join();
    EXPECT_EQ(failures.load(), 0);
    auto all = dp().list().value();
    ASSERT_EQ(all.size(), 1u);
    std::set<endpoint> seen;
    for (const auto& d : all[0].dests) {
        seen.insert(d.config.addr);
    }
    EXPECT_EQ(seen.size(), 80u) << "every dest of both writers is there exactly once";
    EXPECT_EQ(all[0].dests.size(), 80u);
}

TEST_F(control, packets_see_whole_dest_sets_while_a_writer_swaps_them) {
    xdp_lab::pin_cpu0();
    service_key k{protocol::tcp, *endpoint::parse("10.1.0.130:80")};
    ASSERT_TRUE(dp().add_service({k, scheduler::wrr}));
    ASSERT_TRUE(dp().add_dest(k, {{xdp_lab::backend4(1), 80}, forwarding::dr, 3, 0, 0}));
    ASSERT_TRUE(dp().add_dest(k, {{xdp_lab::backend4(2), 80}, forwarding::dr, 1, 0, 0}));
    ASSERT_TRUE(dp().add_dest(k, {{xdp_lab::backend4(3), 80}, forwarding::dr, 0, 0, 0}));
    std::atomic<bool> stop{false};
    std::thread writer([&] {
        // Alternate between {1, 2} and {2, 3} taking new flows, never an empty set.
        auto mine = xdp_dataplane::open(_xlb->pin_dir());
        for (int i = 0; !stop && mine; ++i) {
            bool odd = i % 2;
            (void)mine->edit_dest(k, {{xdp_lab::backend4(odd ? 3 : 1), 80}, forwarding::dr, 2, 0, 0});
            (void)mine->edit_dest(k, {{xdp_lab::backend4(odd ? 1 : 3), 80}, forwarding::dr, 0, 0, 0});
        }
    });
    int ifi = ifindex(xdp_lab::dir_if);
    std::map<int, int> got;
    int bad = 0;
    for (int i = 0; i < 3000; ++i) {
        packet_spec p;
        p.dst = parse_mac(xdp_lab::dir_mac);
        p.saddr = *ip_address::parse("10.1.0.200");
        p.daddr = *ip_address::parse("10.1.0.130");
        p.sport = static_cast<uint16_t>(20000 + i);
        auto r = run_xdp(dp().prog_fd(), build(p), ifi);
        int which = 0;
        for (int b = 1; b <= 3; ++b) {
            auto m = xdp_lab::backend_mac(b);
            if (r.action == XDP_TX && std::equal(m.begin(), m.end(), r.out.begin())) {
                which = b;
            }
        }
        if (which == 0) {
            ++bad;
        }
        ++got[which];
    }
    stop = true;
    writer.join();
    EXPECT_EQ(bad, 0) << "every new flow went to a configured dest";
    EXPECT_GT(got[2], 0);
    EXPECT_EQ(dp().reasons().value()[XLB_R_DROP_INTERNAL], 0u);
}

// --- xlbctl, the binary ---------------------------------------------------------

class xlbctl_cli : public ::testing::Test {
protected:
    void SetUp() override {
        XLB_REQUIRE_PRIVILEGE();
        _pin = fmt::format("/sys/fs/bpf/xlb/cli-{}", getpid());
        run_cmd(fmt::format("{} --pin-dir {} unload", xlbctl_bin, _pin));
    }
    void TearDown() override { run_cmd(fmt::format("{} --pin-dir {} unload", xlbctl_bin, _pin)); }
    cmd_result x(const std::string& args) { return run_cmd(fmt::format("{} --pin-dir {} {}", xlbctl_bin, _pin, args)); }
    std::string _pin;
};

TEST_F(xlbctl_cli, lifecycle_and_listing) {
    auto l = x("load --max-flows 4096 --max-services 16 --max-dests 64 --icmp-ratelimit 250 --icmp-msgs-per-sec 0 "
               "--icmp-msgs-burst 7");
    ASSERT_EQ(l.code, 0) << l.out;
    // The path-MTU error limits are the instance's config, as load set them.
    auto opened = xdp_dataplane::open(_pin);
    ASSERT_TRUE(opened) << opened.error().message();
    auto cfg = opened->config();
    ASSERT_TRUE(cfg);
    EXPECT_EQ(cfg->icmp_ratelimit_ms, 250u);
    EXPECT_EQ(cfg->icmp_msgs_per_sec, 0u);
    EXPECT_EQ(cfg->icmp_msgs_burst, 7u);
    auto again = x("load");
    EXPECT_EQ(again.code, 1);
    EXPECT_NE(again.out.find("already loaded"), std::string::npos) << again.out;

    EXPECT_EQ(x("-A -t 192.168.100.1:80 -s rr").code, 0);
    EXPECT_EQ(x("-a -t 192.168.100.1:80 -r 192.168.100.2:80 -g -w 1").code, 0);
    auto list = x("-Ln");
    EXPECT_EQ(list.code, 0);
    EXPECT_EQ(list.out, "IP Virtual Server version 1.2.1 (size=4096)\n"
                        "Prot LocalAddress:Port Scheduler Flags\n"
                        "  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n"
                        "TCP  192.168.100.1:80 rr\n"
                        "  -> 192.168.100.2:80             Route   1      0          0         \n");
    auto env = run_cmd(fmt::format("XLB_PIN_DIR={} {} -L -n", _pin, xlbctl_bin));
    EXPECT_EQ(env.out, list.out) << "XLB_PIN_DIR selects the instance";

    EXPECT_EQ(x("attach xa --xdp-mode native").code, 0);
    auto st = x("status");
    EXPECT_EQ(st.code, 0);
    EXPECT_NE(st.out.find("verified instructions"), std::string::npos) << st.out;
    EXPECT_NE(st.out.find("xa"), std::string::npos);
    EXPECT_NE(st.out.find("native"), std::string::npos);
    EXPECT_NE(st.out.find("svcs                  1 / 16"), std::string::npos) << st.out;
    EXPECT_NE(st.out.find("path-MTU errors: one per 250 ms per client, 6 in a row; 0 per second in all, 7 at once\n"),
              std::string::npos)
        << st.out;
    auto js = x("--json status");
    EXPECT_NE(js.out.find("\"icmp_ratelimit_ms\":250,\"icmp_msgs_per_sec\":0,\"icmp_msgs_burst\":7"),
              std::string::npos)
        << js.out;
    auto res = x("resolve");
    EXPECT_EQ(res.code, 0) << res.out;
    EXPECT_NE(res.out.find("next hop"), std::string::npos) << res.out;
    EXPECT_EQ(x("detach xa").code, 0);
    auto not_attached = x("detach xa");
    EXPECT_EQ(not_attached.code, 1);
    EXPECT_NE(not_attached.out.find("not attached"), std::string::npos);

    EXPECT_EQ(x("unload").code, 0);
    auto gone = x("--backend xdp -L -n"); // auto would open kernel IPVS where there is one
    EXPECT_EQ(gone.code, 255);
    EXPECT_NE(gone.out.find("not loaded"), std::string::npos) << gone.out;
}

// A macvlan has no native XDP. Without kernel IPVS here the fallback cannot
// happen: attach says why and changes nothing. (ipvs_fallback, in the ipvs
// tier, tests the fallback itself against real kernel IPVS.)
TEST_F(xlbctl_cli, attach_without_native_xdp_says_why_and_changes_nothing) {
    auto run_dir = fmt::format("{}/xlb-cli-run-{}", ::testing::TempDir(), getpid());
    setenv("XLB_RUN_DIR", run_dir.c_str(), 1);
    ASSERT_EQ(x("load --max-flows 4096").code, 0);
    ASSERT_EQ(x("-A -t 10.0.0.1:80 -s rr").code, 0);
    ASSERT_EQ(std::system("ip link add link xa name xamv type macvlan mode bridge && ip link set xamv up"), 0);
    auto before = x("-S -n").out;
    auto no_fb = x("attach xamv --no-fallback");
    EXPECT_EQ(no_fb.code, 1);
    EXPECT_NE(no_fb.out.find("native XDP is not available on xamv (the kernel answered "), std::string::npos)
        << no_fb.out;
    EXPECT_NE(no_fb.out.find("--no-fallback: nothing changed"), std::string::npos) << no_fb.out;
    if (access("/proc/net/ip_vs", F_OK) != 0) {
        auto fb = x("attach xamv");
        EXPECT_EQ(fb.code, 1);
        EXPECT_NE(fb.out.find("and kernel IPVS cannot serve the table: kernel IPVS is not available: "),
                  std::string::npos)
            << fb.out;
        EXPECT_NE(fb.out.find("; nothing changed"), std::string::npos) << fb.out;
    }
    EXPECT_EQ(x("-S -n").out, before);
    EXPECT_NE(access((run_dir + "/fallback").c_str(), F_OK), 0) << "no fallback record";
    auto st = x("status");
    EXPECT_NE(st.out.find("backend: xdp ("), std::string::npos) << st.out;
    EXPECT_NE(st.out.find("(none in this network namespace"), std::string::npos) << "attached nowhere: " << st.out;
    // Generic XDP is there for the asking, and never falls back.
    auto gen = x("attach xamv --xdp-mode generic");
    EXPECT_EQ(gen.code, 0) << gen.out;
    EXPECT_NE(x("status").out.find("generic  driver macvlan"), std::string::npos);
    EXPECT_EQ(x("detach xamv").code, 0);
    (void)std::system("ip link del xamv");
    unsetenv("XLB_RUN_DIR");
    std::filesystem::remove_all(run_dir);
}

TEST_F(xlbctl_cli, bad_input_is_refused_with_a_reason) {
    ASSERT_EQ(x("load --max-flows 4096").code, 0);
    struct row {
        std::string args;
        int code;
        std::string says;
    };
    std::vector<row> rows = {
        {"attach nosuchif0", 1, "no interface named nosuchif0"},
        {"attach", 2, "which interface"},
        {"attach xa --xdp-mode turbo", 2, "native or generic"},
        {"detach", 2, "usage"},
        {"load --max-flows 0", 2, "positive integer"},
        {"load --max-flows", 2, "incomplete"},
        {"load --icmp-ratelimit -1", 2, "--icmp-ratelimit needs an integer from 0 to 2147483647, not '-1'"},
        {"load --icmp-msgs-per-sec 1k", 2, "--icmp-msgs-per-sec needs an integer from 0 to 2147483647"},
        {"load --icmp-msgs-burst 2147483648", 2, "--icmp-msgs-burst needs an integer from 0 to 2147483647"},
        {"frobnicate", 2, "unknown command 'frobnicate'"},
        {"--json -A -t 10.0.0.1:80 -s rr", 2, "--json works only with `xlbctl status`"},
        {"--backend ipvs -L -n", 2, "--backend ipvs is not available: kernel IPVS is not available"},
        // The backend refuses what it cannot do, with its reason (EOPNOTSUPP).
        {"-A -t 10.0.0.1:80 -s lblc", 255, "scheduler 'lblc' is refused by the xdp backend: locality-based"},
        {"-A -f 7 -s rr", 255, "fwmark services (-f) need netfilter marks, which do not exist at XDP time; use "
                                "--backend ipvs"},
        {"-A --sctp-service 10.0.0.1:80 -s rr", 255, "SCTP services are not balanced by the xdp backend"},
        {"--backend nosuch -L -n", 2, "--backend is xdp, ipvs or auto"},
        {"-A -t 10.0.0.1:80 -s rr -o", 2, "One-Packet Scheduling is only for UDP virtual services"},
        {"-A -t 10.0.0.1:80 -s rr -b sh-port", 2, "incompatible scheduler flag `sh-port'"},
        {"-A -t 10.0.0.1:80 -s sh -b bogus", 2, "invalid scheduler flag `bogus'"},
        {"-A -t 10.0.0.1:80 -s rr -p 0", 2, "invalid timeout value `0'"},
        {"-A -t 10.0.0.1:80 -s rr -p -M 300.0.0.0", 2, "illegal virtual server persistent mask"},
        // IPVS looks the service up before it checks the thresholds.
        {"-a -t 10.0.0.1:80 -r 10.0.0.2 -x 5 -y 9", 255, "Service not defined"},
        {"-Q", 255, "Try `xlbctl -h'"},
        {"resolve --now", 2, "usage: xlbctl resolve"},
        {"--set 1 2", 2, "requires 3 timeout values"},
    };
    auto before = x("-L -n").out;
    for (const auto& r : rows) {
        auto o = x(r.args);
        EXPECT_EQ(o.code, r.code) << r.args << ": " << o.out;
        EXPECT_NE(o.out.find(r.says), std::string::npos) << r.args << ": " << o.out;
    }
    EXPECT_EQ(x("-L -n").out, before);
}

} // namespace
