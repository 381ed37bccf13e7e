// xlbd in the namespace lab: real servers in their own namespaces, real TCP
// health checks from the director, real client connections through the XDP
// data path. Timings are keepalived's: a server is down after retry + 1
// failed checks, each delay_loop apart, each given connect_timeout.

#include "support/lab_fixture.h"
#include "support/poll.h"
#include "support/http_client.h"
#include "support/status_page_check.h"

#include <boost/json.hpp>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <fstream>
#include <thread>

namespace xlb::test {
namespace {

using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;

class xlbd_lab : public lab_fixture {
protected:
    void SetUp() override {
        lab_fixture::SetUp();
        if (HasFatalFailure() || IsSkipped()) {
            return;
        }
        _dir = fmt::format("/tmp/xlbd-it-{}", getpid());
        sh(fmt::format("rm -rf {0} && mkdir -p {0}", _dir));
    }

    void TearDown() override {
        stop_xlbd(SIGTERM);
        lab_fixture::TearDown();
        sh(fmt::format("rm -rf {}", _dir));
    }

    std::string conf_path() const { return _dir + "/keepalived.conf"; }
    std::string socket_path() const { return _dir + "/xlbd.sock"; }

    void write_conf(const std::string& text) {
        std::ofstream(conf_path()) << text;
    }

    // A virtual server on the lab's VIP with the three servers, TCP_CHECK
    // every second; `extra` goes into the virtual_server block, `real` into
    // each real_server block.
    static std::string conf(const std::string& extra = "", const std::string& real = "",
                            const std::string& check = "TCP_CHECK {\n      connect_timeout 1\n      retry 1\n      delay_before_retry 1\n    }") {
        std::string out = "virtual_server 10.77.0.100 80 {\n  delay_loop 1\n  lb_algo rr\n  lb_kind DR\n"
                          "  protocol TCP\n" + extra + "\n";
        for (int i = 1; i <= 3; ++i) {
            out += fmt::format("  real_server 10.77.0.1{} 80 {{\n    weight 1\n    {}\n    {}\n  }}\n", i, real,
                               check);
        }
        return out + "}\n";
    }

    void start_xlbd(const std::string& extra_args = "") {
        const auto log = _dir + "/xlbd.log";
        ASSERT_EQ(sh(fmt::format("XLB_RUN_DIR={0} nsenter --net=/run/netns/{1}-dir {2}/xlbd -f {3} --pin-dir {4} "
                                 "--backend xdp --socket {5} --log-level debug {6} >>{7} 2>&1 & echo $! >{0}/pid",
                                 _dir, _prefix, bin(), conf_path(), _pin, socket_path(), extra_args, log)),
                  0);
        std::ifstream(_dir + "/pid") >> _pid;
        ASSERT_GT(_pid, 0);
        // Ready when it answers on its socket.
        const auto until = steady::now() + 10s;
        while (steady::now() < until) {
            if (sh(fmt::format("{}/xlbctl checks --socket {} >/dev/null 2>&1", bin(), socket_path())) == 0) {
                return;
            }
            if (::kill(_pid, 0) != 0) {
                break;
            }
            std::this_thread::sleep_for(50ms);
        }
        FAIL() << "xlbd did not start:\n" << sh_out("cat " + log);
    }

    void stop_xlbd(int sig) {
        if (_pid <= 0) {
            return;
        }
        ::kill(_pid, sig);
        for (int i = 0; i < 100 && ::kill(_pid, 0) == 0; ++i) {
            std::this_thread::sleep_for(50ms);
        }
        if (::kill(_pid, 0) == 0) {
            ::kill(_pid, SIGKILL);
        }
        _pid = -1;
    }

    std::string log() { return sh_out("cat " + _dir + "/xlbd.log"); }

    // The dests of the VIP's service: address -> weight.
    std::map<std::string, int> dests() { return dest_weights(xlbctl_out("-L -n -t 10.77.0.100:80")); }

    boost::json::value checks_json() {
        return boost::json::parse(sh_out(fmt::format("{}/xlbctl --json checks --socket {}", bin(), socket_path())));
    }

    // Stops / starts the lab's server on bN (xlb-lab serve NAME 80).
    void kill_server(int n) {
        sh(fmt::format("ip netns pids {}-b{} | xargs -r kill -9", _prefix, n));
        // The listener is gone once nothing listens on 80.
        wait_for([&] { return sh(fmt::format("ip netns exec {}-b{} ss -Hltn 'sport = :80' | grep -q LISTEN",
                                             _prefix, n)) != 0; },
                 2s);
    }
    void start_server(int n) {
        sh(fmt::format("ip netns exec {0}-b{1} setsid {2}/xlb-lab serve b{1} 80 </dev/null >/dev/null 2>&1 &",
                       _prefix, n, bin()));
        wait_for([&] { return sh(fmt::format("ip netns exec {}-b{} ss -Hltn 'sport = :80' | grep -q LISTEN",
                                             _prefix, n)) == 0; },
                 2s);
    }

    std::string _dir;
    int _pid = -1;
};

const std::string b1 = "10.77.0.11:80", b2 = "10.77.0.12:80", b3 = "10.77.0.13:80";

TEST_F(xlbd_lab, adds_servers_then_fails_over_and_recovers) {
    write_conf(conf());
    start_xlbd();
    ASSERT_FALSE(HasFatalFailure());
    ASSERT_TRUE(wait_for([&] { return dests().size() == 3; }, 3s)) << log();
    EXPECT_EQ(dests(), (std::map<std::string, int>{{b1, 1}, {b2, 1}, {b3, 1}}));

    const auto killed = steady::now();
    kill_server(2);
    // delay_loop 1 * (retry 1 + 1) + connect_timeout 1 = 3 s, plus 1.5 s slack
    // (a refused connect fails at once; the slack covers the check's phase).
    ASSERT_TRUE(wait_for([&] { return !dests().contains(b2); }, 4500ms)) << log();
    const auto detected = std::chrono::duration_cast<std::chrono::milliseconds>(steady::now() - killed);
    EXPECT_LE(detected.count(), 4500);
    // After detection no new connection goes to the dead server, and none fails.
    auto tally = connect("10.77.0.100", 60);
    EXPECT_EQ(tally["b2"], 0);
    EXPECT_EQ(tally["failed"], 0);
    EXPECT_EQ(tally["b1"] + tally["b3"], 60);

    start_server(2);
    // Up on the first successful check: within delay_loop plus slack.
    ASSERT_TRUE(wait_for([&] { return dests().contains(b2); }, 3s)) << log();
    tally = connect("10.77.0.100", 30);
    EXPECT_GT(tally["b2"], 0);
    EXPECT_EQ(tally["failed"], 0);

    auto j = checks_json();
    const auto& reals = j.at("services").at(0).at("real_servers").as_array();
    ASSERT_EQ(reals.size(), 3u);
    EXPECT_EQ(reals[1].at("address").as_string(), b2);
    EXPECT_EQ(reals[1].at("state").as_string(), "up");
    EXPECT_EQ(reals[1].at("transitions").as_int64(), 2);
}

TEST_F(xlbd_lab, inhibit_on_failure_keeps_the_server_at_weight_zero) {
    write_conf(conf("", "inhibit_on_failure"));
    start_xlbd();
    ASSERT_FALSE(HasFatalFailure());
    ASSERT_TRUE(wait_for([&] { return dests().size() == 3; }, 3s)) << log();
    kill_server(3);
    ASSERT_TRUE(wait_for([&] { return dests()[b3] == 0; }, 4500ms)) << log();
    EXPECT_EQ(dests(), (std::map<std::string, int>{{b1, 1}, {b2, 1}, {b3, 0}}));
    start_server(3);
    ASSERT_TRUE(wait_for([&] { return dests()[b3] == 1; }, 3s)) << log();
}

TEST_F(xlbd_lab, quorum_lost_brings_in_the_sorry_server) {
    // Two real servers of weight 1, quorum 2: losing one loses quorum, and
    // the sorry server (b3) replaces the one left.
    write_conf("virtual_server 10.77.0.100 80 {\n delay_loop 1\n lb_algo rr\n lb_kind DR\n protocol TCP\n"
               " quorum 2\n sorry_server 10.77.0.13 80\n"
               " real_server 10.77.0.11 80 { weight 1\n TCP_CHECK {\n connect_timeout 1\n retry 0\n }\n }\n"
               " real_server 10.77.0.12 80 { weight 1\n TCP_CHECK { connect_timeout 1 retry 0 } }\n}\n");
    start_xlbd();
    ASSERT_FALSE(HasFatalFailure());
    ASSERT_TRUE(wait_for([&] { return dests() == std::map<std::string, int>{{b1, 1}, {b2, 1}}; }, 3s)) << log();
    kill_server(1);
    ASSERT_TRUE(wait_for([&] { return dests() == std::map<std::string, int>{{b3, 1}}; }, 4s)) << log();
    auto tally = connect("10.77.0.100", 10);
    EXPECT_EQ(tally["b3"], 10);
    start_server(1);
    ASSERT_TRUE(wait_for([&] { return dests() == std::map<std::string, int>{{b1, 1}, {b2, 1}}; }, 3s)) << log();
}

TEST_F(xlbd_lab, misc_dynamic_sets_the_weight_from_the_exit_code) {
    // keepalived: with misc_dynamic, exit code 2..255 means up with weight code - 2.
    const auto code = _dir + "/code";
    const auto script = _dir + "/check.sh";
    std::ofstream(code) << "7\n";
    std::ofstream(script) << fmt::format("#!/bin/sh\nexit $(cat {})\n", code);
    sh("chmod +x " + script);
    write_conf(conf("", "", fmt::format("MISC_CHECK {{\n      misc_path {}\n      misc_dynamic\n    }}", script)));
    start_xlbd();
    ASSERT_FALSE(HasFatalFailure());
    ASSERT_TRUE(wait_for([&] { return dests() == std::map<std::string, int>{{b1, 5}, {b2, 5}, {b3, 5}}; }, 4s))
        << log() << xlbctl_out("-L -n") << sh_out(fmt::format("{}/xlbctl checks --socket {}", bin(), socket_path()));
    std::ofstream(code) << "1\n"; // failure
    ASSERT_TRUE(wait_for([&] { return dests().empty(); }, 5s)) << log();
    std::ofstream(code) << "12\n";
    ASSERT_TRUE(wait_for([&] { return dests() == std::map<std::string, int>{{b1, 10}, {b2, 10}, {b3, 10}}; }, 4s))
        << log();
}

TEST_F(xlbd_lab, reload_keeps_open_connections_and_counters) {
    write_conf(conf());
    start_xlbd();
    ASSERT_FALSE(HasFatalFailure());
    ASSERT_TRUE(wait_for([&] { return dests().size() == 3; }, 3s)) << log();
    auto server = hold("10.77.0.100");
    ASSERT_FALSE(server.empty());
    EXPECT_EQ(connect("10.77.0.100", 9)["failed"], 0);
    const auto before = xlbctl_out("-L -n --stats -t 10.77.0.100:80");
    const auto checks_before = checks_json();

    // Change another server's weight and the scheduler's flags: the held
    // connection's server is untouched.
    auto text = conf();
    const int held = server.back() - '0';
    const int other = held == 1 ? 2 : 1;
    const auto needle = fmt::format("real_server 10.77.0.1{} 80 {{\n    weight 1", other);
    text.replace(text.find(needle), needle.size(), fmt::format("real_server 10.77.0.1{} 80 {{\n    weight 3", other));
    write_conf(text);
    ::kill(_pid, SIGHUP);
    ASSERT_TRUE(wait_for([&] { return dests()[fmt::format("10.77.0.1{}:80", other)] == 3; }, 3s)) << log();
    EXPECT_EQ(last_held().ask(), server);
    // The service's counters went on from where they were: its connection
    // count is the one before (no new connection since).
    auto conns_of = [](const std::string& listing) {
        std::istringstream in(listing);
        std::string line;
        while (std::getline(in, line)) {
            if (line.rfind("TCP", 0) == 0) {
                std::istringstream l(line);
                std::string proto, addr;
                long conns = -1;
                l >> proto >> addr >> conns;
                return conns;
            }
        }
        return -1L;
    };
    EXPECT_EQ(conns_of(xlbctl_out("-L -n --stats -t 10.77.0.100:80")), conns_of(before));
    EXPECT_EQ(conns_of(before), 10);
    // The checkers of unchanged servers kept their state: no new transition.
    auto j = checks_json();
    for (size_t i = 0; i < 3; ++i) {
        const auto& r = j.at("services").at(0).at("real_servers").at(i);
        EXPECT_EQ(r.at("state").as_string(), "up");
        EXPECT_EQ(r.at("transitions"), checks_before.at("services").at(0).at("real_servers").at(i).at("transitions"));
    }
    // A bad configuration is refused whole; the running one stays.
    write_conf("virtual_server 10.77.0.100 80 {\n  real_server 10.77.0.11 {\n}\n");
    ::kill(_pid, SIGHUP);
    ASSERT_TRUE(wait_for([&] { return log().find("reload refused") != std::string::npos; }, 3s)) << log();
    EXPECT_EQ(dests().size(), 3u);
    EXPECT_EQ(last_held().ask(), server);
}

TEST_F(xlbd_lab, kill_9_and_restart_keep_traffic_flowing) {
    write_conf(conf());
    start_xlbd();
    ASSERT_FALSE(HasFatalFailure());
    ASSERT_TRUE(wait_for([&] { return dests().size() == 3; }, 3s)) << log();
    auto server = hold("10.77.0.100");
    ASSERT_FALSE(server.empty());

    // Connections keep coming while xlbd dies and comes back.
    std::map<std::string, int> during;
    std::thread client([&] { during = connect("10.77.0.100", 300); });
    std::this_thread::sleep_for(200ms);
    stop_xlbd(SIGKILL);
    EXPECT_EQ(dests().size(), 3u); // the table stays: it is pinned
    std::this_thread::sleep_for(300ms);
    start_xlbd();
    client.join();
    ASSERT_FALSE(HasFatalFailure());
    EXPECT_EQ(during["failed"], 0);
    EXPECT_EQ(during["b1"] + during["b2"] + during["b3"], 300);
    EXPECT_EQ(last_held().ask(), server);
    // The restarted xlbd adopted the table: nothing was removed or re-added.
    EXPECT_EQ(dests(), (std::map<std::string, int>{{b1, 1}, {b2, 1}, {b3, 1}}));
    EXPECT_NE(log().find("0 change(s)"), std::string::npos) << log();
}

// notify_up / notify_down run with the command line as configured (keepalived
// appends nothing to them), and quorum_down / quorum_up on quorum changes.
TEST_F(xlbd_lab, notify_and_quorum_scripts_run) {
    const auto events = _dir + "/events";
    const auto script = _dir + "/note.sh";
    std::ofstream(script) << fmt::format("#!/bin/sh\necho \"$*\" >> {}\n", events);
    sh("chmod +x " + script);
    auto text = conf(fmt::format("  quorum 3\n  quorum_up \"{0} quorum up\"\n  quorum_down \"{0} quorum down\"", script));
    for (int i = 1; i <= 3; ++i) {
        const auto at = fmt::format("real_server 10.77.0.1{} 80 {{\n", i);
        text.insert(text.find(at) + at.size(), fmt::format("    notify_up \"{0} up b{1}\"\n    notify_down \"{0} down b{1}\"\n",
                                                           script, i));
    }
    write_conf(text);
    start_xlbd();
    ASSERT_FALSE(HasFatalFailure());
    ASSERT_TRUE(wait_for([&] { return dests().size() == 3; }, 3s)) << log();
    kill_server(2);
    auto lines = [&] { return sh_out("cat " + events + " 2>/dev/null || true"); };
    // The scripts run detached, as keepalived's do: their order is theirs.
    auto sorted = [&] {
        std::istringstream in(lines());
        std::vector<std::string> v;
        for (std::string l; std::getline(in, l);) {
            v.push_back(l);
        }
        std::sort(v.begin(), v.end());
        return v;
    };
    using strings = std::vector<std::string>;
    ASSERT_TRUE(wait_for([&] { return sorted().size() == 2; }, 5s)) << log() << lines();
    EXPECT_EQ(sorted(), (strings{"down b2", "quorum down"}));
    start_server(2);
    ASSERT_TRUE(wait_for([&] { return sorted().size() == 4; }, 4s)) << log() << lines();
    EXPECT_EQ(sorted(), (strings{"down b2", "quorum down", "quorum up", "up b2"}));
}

// rise / fall: down only after `fall` failed checks in a row (retries
// count), up only after `rise` passed ones, each delay_loop (1 s) apart.
TEST_F(xlbd_lab, rise_and_fall_count_checks) {
    write_conf(conf("", "", "TCP_CHECK {\n connect_timeout 1\n delay_before_retry 1\n fall 3\n rise 3\n }"));
    start_xlbd();
    ASSERT_FALSE(HasFatalFailure());
    ASSERT_TRUE(wait_for([&] { return dests().size() == 3; }, 3s)) << log();
    auto t0 = steady::now();
    kill_server(1);
    ASSERT_TRUE(wait_for([&] { return !dests().contains(b1); }, 6s)) << log();
    auto took = std::chrono::duration_cast<std::chrono::milliseconds>(steady::now() - t0).count();
    // Three failures 1 s apart: at least 2 s after the first one.
    EXPECT_GE(took, 1900) << log() << sh_out(fmt::format("{}/xlbctl --json checks --socket {}", bin(), socket_path()));
    EXPECT_LE(took, 5500);
    t0 = steady::now();
    start_server(1);
    ASSERT_TRUE(wait_for([&] { return dests().contains(b1); }, 6s)) << log();
    took = std::chrono::duration_cast<std::chrono::milliseconds>(steady::now() - t0).count();
    EXPECT_GE(took, 1900); // three passes, delay_loop apart
    EXPECT_LE(took, 5500);
}

// drain_time: a server a reload removes stays at weight 0 (its open
// connections go on) for drain_time, then goes.
TEST_F(xlbd_lab, a_removed_server_drains_before_it_goes) {
    write_conf(conf("  drain_time 3"));
    start_xlbd();
    ASSERT_FALSE(HasFatalFailure());
    ASSERT_TRUE(wait_for([&] { return dests().size() == 3; }, 3s)) << log();
    // Hold connections until one is on b3 (rr keeps a cursor per CPU).
    std::map<std::string, const held_connection*> on;
    for (int i = 0; i < 12 && !on.contains("b3"); ++i) {
        auto name = hold("10.77.0.100");
        on[name] = &last_held();
    }
    ASSERT_TRUE(on.contains("b3"));
    auto text = conf("  drain_time 3");
    const auto b3_block = text.find("  real_server 10.77.0.13 80");
    text.erase(b3_block, text.find("\n  }\n", b3_block) + 5 - b3_block);
    write_conf(text);
    const auto t0 = steady::now();
    ::kill(_pid, SIGHUP);
    ASSERT_TRUE(wait_for([&] { return dests()[b3] == 0; }, 2s)) << log();
    EXPECT_EQ(on["b3"]->ask(), "b3"); // its connection goes on
    auto tally = connect("10.77.0.100", 10);
    EXPECT_EQ(tally["b3"], 0); // no new one
    EXPECT_EQ(tally["failed"], 0);
    ASSERT_TRUE(wait_for([&] { return !dests().contains(b3); }, 5s)) << log();
    EXPECT_GE(std::chrono::duration_cast<std::chrono::milliseconds>(steady::now() - t0).count(), 2900);
}

// Slow start: a warmup on the real server ramps its weight after a recovery.
TEST_F(xlbd_lab, warmup_ramps_a_recovered_servers_weight) {
    auto text = conf("", "warmup 3");
    const auto w = text.find("real_server 10.77.0.12 80 {\n    weight 1");
    text.replace(text.find("weight 1", w), 8, "weight 30");
    write_conf(text);
    start_xlbd();
    ASSERT_FALSE(HasFatalFailure());
    ASSERT_TRUE(wait_for([&] { return dests()[b2] == 30; }, 5s)) << log();
    kill_server(2);
    ASSERT_TRUE(wait_for([&] { return !dests().contains(b2); }, 5s)) << log();
    start_server(2);
    ASSERT_TRUE(wait_for([&] { return dests().contains(b2); }, 4s)) << log();
    // Seen on the way up: weights below 30, never falling, then 30.
    std::vector<int> seen;
    const auto end = steady::now() + 5s;
    while (steady::now() < end && (seen.empty() || seen.back() < 30)) {
        int now = dests()[b2];
        if (seen.empty() || seen.back() != now) {
            seen.push_back(now);
        }
        std::this_thread::sleep_for(100ms);
    }
    ASSERT_FALSE(seen.empty());
    EXPECT_LT(seen.front(), 30) << "jumped straight to its weight";
    EXPECT_EQ(seen.back(), 30);
    EXPECT_GE(seen.size(), 3u);
    EXPECT_TRUE(std::is_sorted(seen.begin(), seen.end()));
}

TEST_F(xlbd_lab, loads_and_attaches_when_asked) {
    ASSERT_EQ(xlbctl("unload"), 0);
    write_conf(conf());
    start_xlbd("--interface eth0");
    ASSERT_FALSE(HasFatalFailure());
    ASSERT_TRUE(wait_for([&] { return dests().size() == 3; }, 3s)) << log();
    EXPECT_NE(xlbctl_out("status").find("eth0"), std::string::npos);
    auto tally = connect("10.77.0.100", 9);
    EXPECT_EQ(tally["failed"], 0);
    EXPECT_EQ(tally["b1"] + tally["b2"] + tally["b3"], 9);
}

// The status page of a running xlbd, loaded by headless Chromium in the
// director's namespace, against xlbctl -L -n --stats (scaled and --exact)
// and -L -n on the same table, after real traffic; and /metrics over the
// same loopback.
TEST_F(xlbd_lab, status_page_matches_xlbctl) {
    XLB_REQUIRE_CHROMIUM(chromium);
    write_conf(conf());
    start_xlbd("--metrics 9473");
    ASSERT_FALSE(HasFatalFailure());
    ASSERT_TRUE(wait_for([&] { return dests().size() == 3; }, 3s)) << log();
    ASSERT_EQ(connect("10.77.0.100", 12)["failed"], 0);
    // Counters settle once the flows' packets are counted (the client
    // closes each connection; the sweeper folds nothing in later).
    std::this_thread::sleep_for(500ms);
    listings lists;
    lists.stats = xlbctl_out("-L -n --stats");
    lists.stats_exact = xlbctl_out("-L -n --stats --exact");
    lists.normal = xlbctl_out("-L -n");
    const auto ns = fmt::format("nsenter --net=/run/netns/{}-dir", _prefix);
    auto dom = dump_dom(chromium, "http://127.0.0.1:9473/", ns);
    expect_page_matches(dom, lists);
    EXPECT_EQ(xlbctl_out("-L -n --stats --exact"), lists.stats_exact) << "the table moved while the page loaded";

    http_reply metrics;
    in_netns(_prefix + "-dir", [&] { metrics = http_get(*endpoint::parse("127.0.0.1:9473"), "/metrics"); });
    EXPECT_EQ(metrics.status, 200) << metrics.error;
    EXPECT_NE(metrics.body.find("xlb_real_up{"), std::string::npos) << metrics.body.substr(0, 400);
    EXPECT_NE(metrics.body.find("xlb_service_connections_total{"), std::string::npos);
}

TEST_F(xlbd_lab, sigterm_leaves_the_table_and_cleanup_removes_it) {
    write_conf(conf());
    start_xlbd();
    ASSERT_FALSE(HasFatalFailure());
    ASSERT_TRUE(wait_for([&] { return dests().size() == 3; }, 3s)) << log();
    stop_xlbd(SIGTERM);
    EXPECT_EQ(dests().size(), 3u);
    EXPECT_EQ(connect("10.77.0.100", 6)["failed"], 0);
    start_xlbd("--cleanup-on-exit");
    ASSERT_FALSE(HasFatalFailure());
    stop_xlbd(SIGTERM);
    EXPECT_EQ(xlbctl_out("-L -n").find("10.77.0.100"), std::string::npos);
}

} // namespace
} // namespace xlb::test
