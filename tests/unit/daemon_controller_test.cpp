// xlbd's controller on one event loop, root-free: keepalived.conf text
// through the parser, real TCP checks against loopback listeners, and the
// in-memory backend (the reference model of kernel IPVS) as the table.

#include <xlb/daemon/controller.h>
#include <xlb/daemon/managed.h>
#include <xlb/dataplane/memory_dataplane.h>
#include <xlb/dataplane/xdp/capabilities.h>
#include <xlb/keepalived/parser.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <map>

using namespace xlb;
using namespace xlb::daemon;
using namespace std::chrono_literals;

namespace {

// A listener on 127.0.0.1 that accepts (the kernel completes handshakes).
struct listener {
    boost::asio::io_context io;
    boost::asio::ip::tcp::acceptor acc{io, {boost::asio::ip::make_address("127.0.0.1"), 0}};
    uint16_t port() const { return acc.local_endpoint().port(); }
};

// A port nobody listens on.
uint16_t closed_port() {
    listener l;
    return l.port();
}

keepalived::config parse(const std::string& text) {
    auto c = keepalived::parse_string(text, "test.conf");
    EXPECT_TRUE(c) << c.error().message();
    return c ? *c : keepalived::config{};
}

std::string conf(uint16_t up, uint16_t down, const std::string& extra = "", int weight = 1) {
    return fmt::format("virtual_server 10.0.0.1 80 {{\n delay_loop 0.1\n lb_algo rr\n lb_kind NAT\n{}\n"
                       " real_server 127.0.0.1 {} {{\n  weight {}\n  TCP_CHECK {{\n   connect_timeout 0.2\n   retry 0\n  }}\n }}\n"
                       " real_server 127.0.0.2 {} {{\n  TCP_CHECK {{\n   connect_timeout 0.2\n   retry 0\n  }}\n }}\n}}\n",
                       extra, up, weight, down);
}

// The VIP's dests: port -> weight.
std::map<uint16_t, int32_t> dests(const dataplane& dp) {
    std::map<uint16_t, int32_t> out;
    auto l = dp.list();
    for (const auto& s : *l) {
        for (const auto& d : s.dests) {
            out[d.config.addr.port] = d.config.weight;
        }
    }
    return out;
}

template <class Pred>
bool run_until(boost::asio::io_context& io, Pred pred, std::chrono::milliseconds limit = 3s) {
    const auto end = std::chrono::steady_clock::now() + limit;
    while (!pred() && std::chrono::steady_clock::now() < end) {
        io.run_for(20ms);
    }
    return pred();
}

} // namespace

TEST(daemon_controller, adds_then_removes_the_server_that_fails_and_reloads_by_difference) {
    listener up;
    const uint16_t down = closed_port();
    boost::asio::io_context io;
    memory_dataplane dp;
    controller ctl(io, dp, {});
    ASSERT_TRUE(ctl.start(parse(conf(up.port(), down))));
    // keepalived starts servers up (no alpha): both are dests at once.
    EXPECT_EQ(dests(dp), (std::map<uint16_t, int32_t>{{up.port(), 1}, {down, 1}}));
    ASSERT_TRUE(run_until(io, [&] { return dests(dp).size() == 1; }));
    EXPECT_EQ(dests(dp), (std::map<uint16_t, int32_t>{{up.port(), 1}}));
    io.run_for(300ms);
    auto v = ctl.snapshot();
    ASSERT_EQ(v.services.size(), 1u);
    ASSERT_EQ(v.services[0].reals.size(), 2u);
    EXPECT_TRUE(v.services[0].reals[0].up);
    EXPECT_EQ(v.services[0].reals[0].transitions, 0u);
    EXPECT_GE(v.services[0].reals[0].checkers.at(0).checks, 2u);
    EXPECT_FALSE(v.services[0].reals[1].up);
    EXPECT_EQ(v.services[0].reals[1].transitions, 1u);

    // A new weight for the server that stays up: one edit, its checker and
    // its state kept (same checks counter going on, no transition).
    const auto checks_before = v.services[0].reals[0].checkers.at(0).checks;
    ASSERT_TRUE(ctl.reload(parse(conf(up.port(), down, "", 4))));
    EXPECT_EQ(dests(dp), (std::map<uint16_t, int32_t>{{up.port(), 4}}));
    v = ctl.snapshot();
    EXPECT_GE(v.services[0].reals[0].checkers.at(0).checks, checks_before);
    EXPECT_EQ(v.services[0].reals[0].transitions, 0u);
    EXPECT_EQ(v.reloads, 1u);
    ASSERT_TRUE(ctl.stop(false));
    EXPECT_EQ(dp.list()->size(), 1u); // SIGTERM leaves the table
}

TEST(daemon_controller, refuses_what_the_backend_cannot_serve_before_writing) {
    boost::asio::io_context io;
    memory_dataplane dp(xdp::xdp_capabilities(1024, 1024), {});
    controller ctl(io, dp, {});
    auto r = ctl.start(parse("virtual_server 10.0.0.9 80 {\n real_server 10.1.0.1 80 {\n }\n}\n"
                             "virtual_server fwmark 7 {\n real_server 10.1.0.2 80 {\n }\n}\n"));
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, EOPNOTSUPP);
    EXPECT_NE(r.error().context.find("test.conf:5:"), std::string::npos) << r.error().context;
    EXPECT_NE(r.error().context.find("virtual_server FWM 7"), std::string::npos) << r.error().context;
    EXPECT_TRUE(dp.list()->empty()); // nothing written, not even the first block
}

TEST(daemon_controller, a_restart_adopts_the_table_and_checks_before_removing) {
    listener up;
    const uint16_t down = closed_port();
    boost::asio::io_context io;
    memory_dataplane dp;
    {
        // The table a previous xlbd left: both servers in, weights as configured.
        controller first(io, dp, {});
        ASSERT_TRUE(first.start(parse(conf(up.port(), down, " alpha"))));
        ASSERT_TRUE(first.stop(false));
    }
    // With alpha, a fresh start adds nothing until a check passes...
    memory_dataplane fresh;
    controller alpha(io, fresh, {});
    ASSERT_TRUE(alpha.start(parse(conf(up.port(), down, " alpha"))));
    EXPECT_TRUE(dests(fresh).empty());
    ASSERT_TRUE(run_until(io, [&] { return dests(fresh).size() == 1; }));
    ASSERT_TRUE(alpha.stop(false));

    // ...but a restart over an existing table keeps its dests until checked.
    service_config svc = dp.list()->at(0).config;
    ASSERT_TRUE(dests(dp).empty()); // alpha, stopped before any check
    for (const auto* a : {"127.0.0.1", "127.0.0.2"}) {
        dest_config d;
        d.addr = *endpoint::parse(fmt::format("{}:{}", a, a[8] == '1' ? up.port() : down));
        d.fwd = forwarding::nat;
        d.weight = 1;
        ASSERT_TRUE(dp.add_dest(svc.key, d)); // as if both had been up
    }
    ASSERT_EQ(dests(dp).size(), 2u);
    controller again(io, dp, {});
    ASSERT_TRUE(again.start(parse(conf(up.port(), down, " alpha"))));
    EXPECT_EQ(dests(dp).size(), 2u) << "nothing removed before a check";
    ASSERT_TRUE(run_until(io, [&] { return dests(dp).size() == 1; }));
    EXPECT_TRUE(dests(dp).contains(up.port()));
    ASSERT_TRUE(again.stop(false));
}

TEST(daemon_controller, the_record_of_managed_services_removes_only_its_own) {
    listener up;
    boost::asio::io_context io;
    memory_dataplane dp;
    const auto dir = std::filesystem::temp_directory_path() / fmt::format("xlbd-ctl-{}", ::getpid());
    std::filesystem::create_directories(dir);
    controller_options o;
    o.state_file = (dir / "t.managed").string();
    {
        controller first(io, dp, o);
        ASSERT_TRUE(first.start(parse(conf(up.port(), up.port() + 1))));
        ASSERT_TRUE(first.stop(false));
    }
    // A service added by hand, which xlbd never managed.
    service_config other;
    other.key.vip = *endpoint::parse("10.0.0.7:80");
    ASSERT_TRUE(dp.add_service(other));
    auto managed = read_managed(o.state_file);
    ASSERT_TRUE(managed);
    ASSERT_EQ(managed->size(), 1u);
    EXPECT_EQ(managed->at(0).vip, *endpoint::parse("10.0.0.1:80"));

    // The configuration now names another VIP: the old one goes, the hand-made one stays.
    auto text = conf(up.port(), up.port() + 1);
    text.replace(text.find("10.0.0.1 80"), 11, "10.0.0.3 80");
    controller second(io, dp, o);
    ASSERT_TRUE(second.start(parse(text)));
    std::vector<std::string> vips;
    for (const auto& s : *dp.list()) {
        vips.push_back(s.config.key.vip.to_string());
    }
    EXPECT_EQ(vips, (std::vector<std::string>{"10.0.0.7:80", "10.0.0.3:80"}));
    ASSERT_TRUE(second.stop(true)); // --cleanup-on-exit: its own only
    ASSERT_EQ(dp.list()->size(), 1u);
    EXPECT_EQ(dp.list()->at(0).config.key.vip.to_string(), "10.0.0.7:80");
    std::filesystem::remove_all(dir);
}

// SIGTERM leaves the table, but a virtual_server with omega is cleared on exit.
TEST(daemon_controller, omega_clears_its_service_on_exit) {
    listener up;
    boost::asio::io_context io;
    memory_dataplane dp;
    auto text = conf(up.port(), up.port() + 1) +
                fmt::format("virtual_server 10.0.0.2 80 {{\n omega\n real_server 127.0.0.1 {} {{\n }}\n}}\n", up.port());
    controller ctl(io, dp, {});
    ASSERT_TRUE(ctl.start(parse(text)));
    ASSERT_EQ(dp.list()->size(), 2u);
    ASSERT_TRUE(ctl.stop(false));
    auto left = dp.list();
    ASSERT_EQ(left->size(), 1u);
    EXPECT_EQ(left->at(0).config.key.vip.to_string(), "10.0.0.1:80");
}

// A real server a reload removes leaves every service of its group, each at
// the address that service gave it (DR: the service's port).
TEST(daemon_controller, a_removed_real_server_leaves_every_service_of_its_group) {
    boost::asio::io_context io;
    memory_dataplane dp;
    controller ctl(io, dp, {});
    const std::string group = "virtual_server_group G {\n 10.0.0.1 80\n 10.0.0.1 443\n}\n";
    const std::string both = group + "virtual_server group G {\n lb_kind DR\n real_server 10.1.0.1 {\n }\n"
                                     " real_server 10.1.0.2 {\n }\n}\n";
    const std::string one = group + "virtual_server group G {\n lb_kind DR\n real_server 10.1.0.1 {\n }\n}\n";
    ASSERT_TRUE(ctl.start(parse(both)));
    auto addrs = [&] {
        std::map<std::string, std::vector<std::string>> m;
        for (const auto& s : *dp.list()) {
            for (const auto& d : s.dests) {
                m[s.config.key.vip.to_string()].push_back(d.config.addr.to_string());
            }
            std::sort(m[s.config.key.vip.to_string()].begin(), m[s.config.key.vip.to_string()].end());
        }
        return m;
    };
    using listing = std::map<std::string, std::vector<std::string>>;
    EXPECT_EQ(addrs(), (listing{{"10.0.0.1:80", {"10.1.0.1:80", "10.1.0.2:80"}},
                                {"10.0.0.1:443", {"10.1.0.1:443", "10.1.0.2:443"}}}));
    ASSERT_TRUE(ctl.reload(parse(one)));
    EXPECT_EQ(addrs(), (listing{{"10.0.0.1:80", {"10.1.0.1:80"}}, {"10.0.0.1:443", {"10.1.0.1:443"}}}));
    // A method change moves the dest's address (NAT keeps the configured
    // port): the old one goes.
    ASSERT_TRUE(ctl.reload(parse(group + "virtual_server group G {\n lb_kind NAT\n real_server 10.1.0.1 8080 {\n }\n}\n")));
    EXPECT_EQ(addrs(), (listing{{"10.0.0.1:80", {"10.1.0.1:8080"}}, {"10.0.0.1:443", {"10.1.0.1:8080"}}}));
    ASSERT_TRUE(ctl.stop(false));
}
