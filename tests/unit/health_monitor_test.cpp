// The monitor's scheduling (keepalived's retry rule, rise / fall, alpha,
// warmup, misc_dynamic weights) and remove() while a check is in flight,
// with short timings against real servers on loopback.

#include "unit/health_servers.h"

#include <xlb/health/monitor.h>

#include <boost/asio/io_context.hpp>
#include <fmt/format.h>
#include <boost/asio/steady_timer.hpp>
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <vector>

namespace {

using namespace std::chrono_literals;
using xlb::health::checker_id;
using xlb::health::checker_status;
using xlb::health::monitor;
using xlb::keepalived::checker_kind;
using xlb::keepalived::checker_spec;
using steady = std::chrono::steady_clock;

struct event {
    bool up;
    uint64_t checks;
    std::optional<int32_t> weight;
    steady::time_point at;
};

checker_spec tcp_spec(uint16_t port) {
    checker_spec s;
    s.kind = checker_kind::tcp;
    s.connect_to = *xlb::endpoint::parse("127.0.0.1");
    s.connect_to.port = port;
    s.connect_timeout = 500ms;
    s.delay_loop = 100ms;
    s.delay_before_retry = 50ms;
    s.retry = 2;
    return s;
}

// Runs the loop until `pred` holds or `limit` passes.
template <class Pred>
bool run_until(boost::asio::io_context& io, Pred pred, std::chrono::milliseconds limit = 3000ms) {
    auto end = steady::now() + limit;
    while (!pred() && steady::now() < end) {
        io.run_for(10ms);
    }
    return pred();
}

class recorder {
public:
    monitor::on_change callback() {
        return [this](checker_id, const checker_status& st) {
            events.push_back({st.up, st.checks, st.weight, steady::now()});
        };
    }
    std::vector<event> events;
};

TEST(health_monitor, down_after_retry_plus_one_failures_then_up_on_one_success) {
    boost::asio::io_context io;
    monitor mon(io);
    recorder rec;
    uint16_t port = xlb::test::closed_port(SOCK_STREAM);
    checker_id id = 0;
    steady::time_point t0;
    {
        // One success first: keepalived's retries apply once a checker has
        // a result (the first result is final).
        xlb::test::tcp_server up(nullptr, false, true, port);
        id = mon.add(tcp_spec(port), true, rec.callback());
        ASSERT_TRUE(run_until(io, [&] { return mon.status(id)->checks >= 1; }));
        t0 = steady::now();
    }
    ASSERT_TRUE(run_until(io, [&] { return !rec.events.empty(); }));
    EXPECT_FALSE(rec.events[0].up);
    EXPECT_EQ(rec.events[0].checks, 4u); // one success, then retry 2: three failed attempts
    // The two retries came delay_before_retry (50 ms) apart.
    EXPECT_GE(rec.events[0].at - t0, 100ms);
    EXPECT_LT(rec.events[0].at - t0, 400ms);
    // Down: checked every delay_loop, no retries, no more callbacks.
    io.run_for(350ms);
    EXPECT_EQ(rec.events.size(), 1u);
    auto st = mon.status(id);
    ASSERT_TRUE(st);
    EXPECT_GE(st->checks, 6u);
    EXPECT_LE(st->checks, 8u);
    EXPECT_EQ(st->failures, st->checks - 1);
    EXPECT_EQ(st->transitions, 1u);
    EXPECT_NE(st->last_transition, std::chrono::system_clock::time_point{});

    xlb::test::tcp_server srv(nullptr, false, true, port);
    ASSERT_TRUE(run_until(io, [&] { return rec.events.size() == 2; }));
    EXPECT_TRUE(rec.events[1].up);
    st = mon.status(id);
    EXPECT_EQ(st->checks - st->failures, 2u);
    EXPECT_TRUE(st->last.ok);
    EXPECT_EQ(st->transitions, 2u);
}

TEST(health_monitor, the_first_failure_is_final_as_keepalived_starts) {
    boost::asio::io_context io;
    monitor mon(io);
    recorder rec;
    auto s = tcp_spec(xlb::test::closed_port(SOCK_STREAM));
    s.retry = 3;
    mon.add(s, true, rec.callback());
    ASSERT_TRUE(run_until(io, [&] { return !rec.events.empty(); }));
    EXPECT_FALSE(rec.events[0].up);
    EXPECT_EQ(rec.events[0].checks, 1u);
}

TEST(health_monitor, one_success_between_failures_resets_retries) {
    boost::asio::io_context io;
    monitor mon(io);
    recorder rec;
    auto s = tcp_spec(xlb::test::closed_port(SOCK_STREAM));
    s.retry = 0;
    mon.add(s, true, rec.callback());
    ASSERT_TRUE(run_until(io, [&] { return !rec.events.empty(); }));
    EXPECT_EQ(rec.events[0].checks, 1u); // retry 0: down on the first failure
}

TEST(health_monitor, rise_and_fall) {
    boost::asio::io_context io;
    monitor mon(io);
    recorder rec;
    auto srv = std::make_unique<xlb::test::tcp_server>(nullptr);
    auto s = tcp_spec(srv->port());
    s.rise = 3;
    s.fall = 2;
    s.retry = 5; // fall overrides it
    mon.add(s, false, rec.callback());
    ASSERT_TRUE(run_until(io, [&] { return !rec.events.empty(); }));
    EXPECT_TRUE(rec.events[0].up);
    EXPECT_EQ(rec.events[0].checks, 3u);
    srv.reset();
    ASSERT_TRUE(run_until(io, [&] { return rec.events.size() == 2; }));
    EXPECT_FALSE(rec.events[1].up);
    EXPECT_GE(rec.events[1].checks, 5u);
    // Exactly `fall` failures after the last success.
    EXPECT_LE(rec.events[1].checks, 6u);
}

TEST(health_monitor, alpha_starts_down) {
    boost::asio::io_context io;
    monitor mon(io);
    recorder up_rec;
    recorder down_rec;
    xlb::test::tcp_server srv(nullptr);
    mon.add(tcp_spec(srv.port()), false, up_rec.callback());
    auto dead = mon.add(tcp_spec(xlb::test::closed_port(SOCK_STREAM)), false, down_rec.callback());
    ASSERT_TRUE(run_until(io, [&] { return !up_rec.events.empty(); }));
    EXPECT_TRUE(up_rec.events[0].up);
    EXPECT_EQ(up_rec.events[0].checks, 1u);
    io.run_for(300ms);
    EXPECT_TRUE(down_rec.events.empty()); // was down, stays down: no callback
    EXPECT_FALSE(mon.status(dead)->up);
    EXPECT_GE(mon.status(dead)->checks, 2u);
}

TEST(health_monitor, remove_while_in_flight) {
    boost::asio::io_context io;
    int calls = 0;
    {
        monitor mon(io);
        xlb::test::tcp_server silent(nullptr, false, false);
        checker_spec s = tcp_spec(silent.port());
        s.kind = checker_kind::http;
        s.connect_timeout = 300ms;
        s.retry = 0;
        auto id = mon.add(s, true, [&](checker_id, const checker_status&) { ++calls; });
        auto keep = mon.add(s, true, [&](checker_id, const checker_status&) { ++calls; });
        io.run_for(100ms); // both checks wait for an answer
        mon.remove(id);
        EXPECT_FALSE(mon.status(id));
        EXPECT_EQ(mon.size(), 1u);
        io.run_for(500ms);
        EXPECT_EQ(calls, 1); // only `keep` went down
        EXPECT_FALSE(mon.status(keep)->up);
        // Destroyed with a check in flight.
        io.run_for(150ms);
    }
    io.run_for(400ms);
    EXPECT_EQ(calls, 1);
}

TEST(health_monitor, remove_from_the_callback) {
    boost::asio::io_context io;
    monitor mon(io);
    int calls = 0;
    auto s = tcp_spec(xlb::test::closed_port(SOCK_STREAM));
    s.retry = 0;
    checker_id id = 0;
    id = mon.add(s, true, [&](checker_id which, const checker_status&) {
        ++calls;
        EXPECT_EQ(which, id);
        mon.remove(which);
    });
    io.run_for(400ms);
    EXPECT_EQ(calls, 1);
    EXPECT_EQ(mon.size(), 0u);
}

TEST(health_monitor, misc_dynamic_weight_changes) {
    char tmpl[] = "/tmp/xlb-health-weight-XXXXXX";
    int fd = ::mkstemp(tmpl);
    ASSERT_GE(fd, 0);
    ::close(fd);
    std::ofstream(tmpl) << 7;
    boost::asio::io_context io;
    monitor mon(io);
    recorder rec;
    checker_spec s;
    s.kind = checker_kind::misc;
    s.misc_path = fmt::format("exit $(cat {})", tmpl);
    s.misc_dynamic = true;
    s.delay_loop = 100ms;
    auto id = mon.add(s, true, rec.callback());
    ASSERT_TRUE(run_until(io, [&] { return !rec.events.empty(); }));
    EXPECT_TRUE(rec.events[0].up);
    EXPECT_EQ(rec.events[0].weight, 5);
    io.run_for(250ms);
    EXPECT_EQ(rec.events.size(), 1u); // same weight: no callback
    std::ofstream(tmpl) << 9;
    ASSERT_TRUE(run_until(io, [&] { return rec.events.size() == 2; }));
    EXPECT_EQ(rec.events[1].weight, 7);
    EXPECT_EQ(mon.status(id)->weight, 7);
    mon.remove(id);
    ::unlink(tmpl);
    io.run_for(200ms); // a script in flight ends and is reaped
}

TEST(health_monitor, warmup_spreads_first_checks) {
    boost::asio::io_context io;
    monitor mon(io);
    xlb::test::tcp_server srv(nullptr);
    auto s = tcp_spec(srv.port());
    s.delay_loop = 10000ms;
    s.warmup = 300ms;
    std::vector<steady::duration> starts;
    auto t0 = steady::now();
    mon.set_start_hook([&](checker_id, steady::duration late) {
        starts.push_back(steady::now() - t0);
        EXPECT_LT(late, 100ms);
    });
    for (int i = 0; i < 20; ++i) {
        mon.add(s, true, nullptr);
    }
    ASSERT_TRUE(run_until(io, [&] { return starts.size() == 20; }, 1000ms));
    auto [lo, hi] = std::minmax_element(starts.begin(), starts.end());
    EXPECT_LT(*hi, 400ms);
    EXPECT_GT(*hi - *lo, 50ms); // not all at once
}

} // namespace
