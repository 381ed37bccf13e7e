// xlbd's edges: the control socket (a real unix socket on a real event
// loop), the `xlbctl checks` table, the command line, and the journald log
// target (a datagram socket standing where journald's is).

#include "options.h"
#include "support/priv.h"

#include <xlb/daemon/control.h>
#include <xlb/util/log.h>

#include <boost/asio/io_context.hpp>
#include <boost/json.hpp>
#include <gtest/gtest.h>

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <thread>

using namespace xlb;
using namespace xlb::daemon;
using namespace std::chrono_literals;

namespace {

std::string temp_dir() {
    char tmpl[] = "/tmp/xlbd-unit-XXXXXX";
    return ::mkdtemp(tmpl);
}

view sample_view() {
    view v;
    v.backend = "xdp";
    v.config_file = "/etc/keepalived/keepalived.conf";
    service_view s;
    s.name = "TCP  10.0.0.1:80";
    s.quorum = 1;
    s.quorum_up = true;
    real_server_view up;
    up.addr = *endpoint::parse("10.1.0.1:80");
    up.up = true;
    up.in_table = true;
    up.weight = 2;
    up.config_weight = 2;
    up.transitions = 0;
    checker_view c;
    c.kind = "TCP_CHECK";
    c.up = true;
    c.last_result = "connected";
    c.last_latency = 1500us;
    c.checks = 7;
    up.checkers.push_back(c);
    real_server_view down = up;
    down.addr = *endpoint::parse("10.1.0.2:80");
    down.up = false;
    down.in_table = false;
    down.weight = 0;
    down.transitions = 1;
    down.last_transition = std::chrono::system_clock::time_point(std::chrono::seconds(1'700'000'000));
    down.checkers[0].up = false;
    down.checkers[0].last_result = "connection refused";
    s.reals = {up, down};
    v.services.push_back(s);
    return v;
}

// A control server on its own thread's loop for the length of a test.
struct running_server {
    boost::asio::io_context io;
    std::optional<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> work{io.get_executor()};
    control_server server;
    std::thread loop;

    explicit running_server(control_server::handler h) : server(io, std::move(h)) {}
    void run() {
        loop = std::thread([this] { io.run(); });
    }
    ~running_server() {
        work.reset();
        io.stop();
        if (loop.joinable()) {
            loop.join();
        }
    }
};

} // namespace

TEST(daemon_control, view_json_names_each_real_server_and_its_state) {
    auto j = view_to_json(sample_view());
    const auto& reals = j.at("services").at(0).at("real_servers").as_array();
    ASSERT_EQ(reals.size(), 2u);
    EXPECT_EQ(reals[0].at("address").as_string(), "10.1.0.1:80");
    EXPECT_EQ(reals[0].at("state").as_string(), "up");
    EXPECT_EQ(reals[0].at("last_transition"), nullptr);
    EXPECT_EQ(reals[0].at("checkers").at(0).at("latency_ms").as_double(), 1.5);
    EXPECT_EQ(reals[1].at("state").as_string(), "down");
    EXPECT_EQ(reals[1].at("last_transition").as_int64(), 1'700'000'000);
    EXPECT_EQ(reals[1].at("checkers").at(0).at("last_result").as_string(), "connection refused");
}

TEST(daemon_control, checks_table_has_a_row_per_checker) {
    auto text = format_checks(view_to_json(sample_view()));
    ASSERT_TRUE(text);
    EXPECT_NE(text->find("TCP  10.0.0.1:80\n"), std::string::npos) << *text;
    EXPECT_NE(text->find("10.1.0.1:80"), std::string::npos);
    EXPECT_NE(text->find("connection refused"), std::string::npos);
    EXPECT_NE(text->find("never"), std::string::npos);
    EXPECT_NE(text->find("0(2)"), std::string::npos); // weight 0 in the table, 2 configured
    EXPECT_FALSE(format_checks(boost::json::parse(R"({"services": 3})")));
    EXPECT_FALSE(format_checks(boost::json::parse("[]")));
}

TEST(daemon_control, answers_requests_on_a_root_only_socket) {
    XLB_REQUIRE_PRIVILEGE(); // the control socket answers root only
    const auto dir = temp_dir();
    const auto path = dir + "/run/xlb/xlbd.sock"; // its directory is made
    running_server s([](std::string_view req) {
        return req == "checks" ? boost::json::serialize(view_to_json(sample_view())) : std::string(R"({"ok":true})");
    });
    ASSERT_TRUE(s.server.listen(path));
    s.run();
    struct stat st{};
    ASSERT_EQ(::stat(path.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u);

    auto v = control_request(path, "checks");
    ASSERT_TRUE(v) << v.error().message();
    EXPECT_EQ(v->at("services").at(0).at("service").as_string(), "TCP  10.0.0.1:80");
    auto ping = control_request(path, "ping");
    ASSERT_TRUE(ping);
    EXPECT_TRUE(ping->at("ok").as_bool());

    // A second xlbd on the same socket is refused while the first answers.
    boost::asio::io_context io2;
    control_server second(io2, [](std::string_view) { return std::string("{}"); });
    auto r = second.listen(path);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, EADDRINUSE);

    // Anyone else cannot connect at all.
    const pid_t child = ::fork();
    if (child == 0) {
        if (::setgid(65534) != 0 || ::setuid(65534) != 0) {
            ::_exit(3);
        }
        auto denied = control_request(path, "checks", 1s);
        ::_exit(!denied && denied.error().code == EACCES ? 0 : 1);
    }
    int status = 0;
    ::waitpid(child, &status, 0);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
    ::system(("rm -rf " + dir).c_str());
}

TEST(daemon_control, a_stale_socket_is_replaced_and_no_server_is_an_error) {
    const auto dir = temp_dir();
    const auto path = dir + "/xlbd.sock";
    auto none = control_request(path, "ping", 500ms);
    ASSERT_FALSE(none);
    EXPECT_EQ(none.error().code, ENOENT);
    {
        // A socket file nobody listens on, as a killed xlbd leaves it.
        int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
        sockaddr_un sa{};
        sa.sun_family = AF_UNIX;
        std::copy(path.begin(), path.end(), sa.sun_path);
        ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa), 0);
        ::close(fd);
    }
    auto refused = control_request(path, "ping", 500ms);
    ASSERT_FALSE(refused);
    EXPECT_EQ(refused.error().code, ECONNREFUSED);
    if (::geteuid() == 0) {
        running_server s([](std::string_view) { return std::string(R"({"ok":true})"); });
        ASSERT_TRUE(s.server.listen(path));
        s.run();
        EXPECT_TRUE(control_request(path, "ping"));
    }
    ::system(("rm -rf " + dir).c_str());
}

namespace {

xlbd::options parse(std::vector<const char*> args) {
    args.insert(args.begin(), "xlbd");
    return xlbd::parse_options(static_cast<int>(args.size()), args.data());
}

} // namespace

TEST(xlbd_options, reads_keepalived_style_and_xlb_options) {
    auto o = parse({"-f", "/x.conf", "--interface", "eth0", "--interface=eth1", "--pin-dir", "/sys/fs/bpf/xlb/a",
                    "--backend", "xdp", "--metrics", "127.0.0.1:9469", "--log-level", "debug", "--cleanup-on-exit"});
    EXPECT_EQ(o.config_file, "/x.conf");
    EXPECT_EQ(o.interfaces, (std::vector<std::string>{"eth0", "eth1"}));
    EXPECT_EQ(o.pin_dir, "/sys/fs/bpf/xlb/a");
    EXPECT_EQ(o.backend, "xdp");
    EXPECT_EQ(o.metrics, "127.0.0.1:9469");
    EXPECT_EQ(o.log_level, log::level::debug);
    EXPECT_TRUE(o.cleanup_on_exit);
    EXPECT_FALSE(o.test_only);
    auto t = parse({"-t", "-f/y.conf"});
    EXPECT_TRUE(t.test_only);
    EXPECT_EQ(t.config_file, "/y.conf");
    EXPECT_EQ(parse({}).config_file, "/etc/keepalived/keepalived.conf");
    EXPECT_EQ(parse({}).metrics, "127.0.0.1:9473");
    EXPECT_EQ(parse({"--metrics", "9100"}).metrics, "127.0.0.1:9100");
    EXPECT_EQ(parse({"--metrics", "[::1]:9100"}).metrics, "[::1]:9100");
    EXPECT_EQ(parse({"--metrics=off"}).metrics, "");
}

TEST(xlbd_options, refuses_bad_command_lines) {
    EXPECT_THROW(parse({"-f"}), xlbd::usage_error);
    EXPECT_THROW(parse({"--backend", "dpdk"}), xlbd::usage_error);
    EXPECT_THROW(parse({"--log-level", "loud"}), xlbd::usage_error);
    EXPECT_THROW(parse({"--log-target", "syslog"}), xlbd::usage_error);
    EXPECT_THROW(parse({"--frobnicate"}), xlbd::usage_error);
    EXPECT_THROW(parse({"--backend", "ipvs", "--interface", "eth0"}), xlbd::usage_error);
    EXPECT_THROW(parse({"-f", ""}), xlbd::usage_error);
    EXPECT_THROW(parse({"--metrics", ""}), xlbd::usage_error);
}

TEST(log_target, journald_gets_priority_identifier_and_message) {
    const auto dir = temp_dir();
    const auto path = dir + "/journal.sock";
    int fd = ::socket(AF_UNIX, SOCK_DGRAM, 0);
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    std::copy(path.begin(), path.end(), sa.sun_path);
    ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa), 0);
    ::setenv("XLB_JOURNAL_SOCKET", path.c_str(), 1);
    log::set_target(log::target::journald, "xlbd-test");
    log::write(log::level::warn, "real server 10.1.0.2:80 is down");
    log::write(log::level::error, "two\nlines");
    log::set_target(log::target::stderr_stream, "xlb");
    ::unsetenv("XLB_JOURNAL_SOCKET");

    char buf[512];
    ssize_t n = ::recv(fd, buf, sizeof buf, MSG_DONTWAIT);
    ASSERT_GT(n, 0);
    EXPECT_EQ(std::string(buf, static_cast<size_t>(n)),
              "PRIORITY=4\nSYSLOG_IDENTIFIER=xlbd-test\nMESSAGE=real server 10.1.0.2:80 is down\n");
    n = ::recv(fd, buf, sizeof buf, MSG_DONTWAIT);
    ASSERT_GT(n, 0);
    // The journal's binary form for a value with a newline: name, newline,
    // 64-bit little-endian length, the bytes, newline.
    const std::string expect = std::string("PRIORITY=3\nSYSLOG_IDENTIFIER=xlbd-test\nMESSAGE\n") +
                               std::string("\x09\0\0\0\0\0\0\0", 8) + "two\nlines\n";
    EXPECT_EQ(std::string(buf, static_cast<size_t>(n)), expect);
    ::close(fd);
    ::system(("rm -rf " + dir).c_str());
}
