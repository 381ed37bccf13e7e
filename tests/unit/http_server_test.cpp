// The HTTP server on a real loopback socket: the server runs on an
// io_context in its own thread, the clients are blocking sockets.

#include "support/http_client.h"
#include "support/http_runner.h"
#include "support/status_fixture.h"
#include "unit/prom_strict.h"

#include <xlb/daemon/http_server.h>
#include <xlb/daemon/metrics.h>
#include <xlb/daemon/status_page.h>

#include <boost/asio/post.hpp>
#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <thread>

using namespace xlb;
using namespace xlb::test;
namespace asio = boost::asio;

TEST(http_server, serves_metrics) {
    auto dp = sample_dataplane();
    running_server srv(provider_for(dp));
    EXPECT_EQ(srv.where().addr.to_string(), "127.0.0.1");
    EXPECT_NE(srv.where().port, 0);
    auto r = http_get(srv.where(), "/metrics");
    ASSERT_EQ(r.error, "");
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.headers["content-type"].rfind("text/plain; version=0.0.4", 0), 0u) << r.headers["content-type"];
    EXPECT_EQ(r.headers["content-length"], std::to_string(r.body.size()));
    auto p = prom_parse(r.body);
    ASSERT_EQ(p.error, "") << r.body;
    EXPECT_EQ(r.body, daemon::render_metrics(make_view(), *dp->list(), nullptr));
    EXPECT_EQ(p.value("xlb_real_connections_total", {{"real", "10.1.0.11:80"}}),
              static_cast<double>(dp->find(tcp_web())->dests.back().stats.conns));
    // A query string does not change the path.
    EXPECT_EQ(http_get(srv.where(), "/metrics?name[]=x").status, 200);
}

TEST(http_server, serves_the_status_page) {
    running_server srv(provider_for(sample_dataplane()));
    auto r = http_get(srv.where(), "/");
    ASSERT_EQ(r.error, "");
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.headers["content-type"], "text/html; charset=utf-8");
    EXPECT_EQ(r.body.rfind("<!DOCTYPE html>", 0), 0u);
    EXPECT_NE(r.body.find("data-real=\"10.1.0.11:80\""), std::string::npos);
}

TEST(http_server, refuses_what_it_does_not_serve) {
    running_server srv(provider_for(sample_dataplane()));
    auto nf = http_get(srv.where(), "/nope");
    EXPECT_EQ(nf.status, 404);
    auto post = http_exchange(srv.where(), "POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc");
    EXPECT_EQ(post.status, 405);
    EXPECT_EQ(post.headers["allow"], "GET");
    EXPECT_EQ(http_exchange(srv.where(), "HEAD / HTTP/1.1\r\n\r\n").status, 405);
    EXPECT_EQ(http_exchange(srv.where(), "garbage\r\n\r\n").status, 400);
    EXPECT_EQ(http_exchange(srv.where(), "GET / HTTP/2.0\r\n\r\n").status, 400);
    auto big = http_exchange(srv.where(), "GET / HTTP/1.1\r\nX-Big: " + std::string(20000, 'a') + "\r\n\r\n");
    ASSERT_EQ(big.error, "");
    EXPECT_EQ(big.status, 431);
    // Still serving after all that.
    EXPECT_EQ(http_get(srv.where(), "/").status, 200);
}

TEST(http_server, a_provider_error_is_a_500) {
    running_server srv([]() -> result<daemon::page_data> { return make_error(EIO, "list the table"); });
    auto r = http_get(srv.where(), "/metrics");
    EXPECT_EQ(r.status, 500);
    EXPECT_NE(r.body.find("list the table"), std::string::npos) << r.body;
}

TEST(http_server, drops_a_silent_client_after_the_timeout) {
    daemon::http_options o;
    o.timeout = std::chrono::milliseconds(300);
    running_server srv(provider_for(sample_dataplane()), o);
    asio::io_context io;
    asio::ip::tcp::socket sock(io);
    sock.connect(to_asio(srv.where()));
    asio::write(sock, asio::buffer(std::string("GET / HTTP/1.1\r\n"))); // never finished
    auto start = std::chrono::steady_clock::now();
    std::string raw;
    boost::system::error_code ec;
    asio::read(sock, asio::dynamic_buffer(raw), ec);
    auto took = std::chrono::steady_clock::now() - start;
    EXPECT_TRUE(ec == asio::error::eof || ec == asio::error::connection_reset) << ec.message();
    EXPECT_EQ(raw, "");
    EXPECT_LT(took, std::chrono::seconds(5));
    EXPECT_GE(took, std::chrono::milliseconds(200));
}

TEST(http_server, serves_many_clients_at_once) {
    running_server srv(provider_for(sample_dataplane()));
    constexpr int clients = 40;
    // Open every connection first and leave each request half sent, so the
    // server holds all of them at once; then finish them all.
    asio::io_context io;
    std::vector<asio::ip::tcp::socket> socks;
    for (int i = 0; i < clients; ++i) {
        socks.emplace_back(io).connect(to_asio(srv.where()));
        asio::write(socks.back(), asio::buffer(std::string(i % 2 ? "GET /metrics HTTP/1.1\r\n" : "GET / HTTP/1.1\r\n")));
    }
    for (int tries = 0; tries < 100 && srv.connections() < clients; ++tries) {
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    EXPECT_EQ(srv.connections(), static_cast<size_t>(clients));
    for (auto& s : socks) {
        asio::write(s, asio::buffer(std::string("Host: x\r\n\r\n")));
    }
    for (int i = 0; i < clients; ++i) {
        std::string raw;
        boost::system::error_code ec;
        asio::read(socks[i], asio::dynamic_buffer(raw), ec);
        auto r = parse_http_reply(raw);
        EXPECT_EQ(r.status, 200) << i << " " << ec.message();
        if (i % 2) {
            EXPECT_EQ(prom_parse(r.body).error, "");
        }
    }
}

TEST(http_server, answers_503_past_its_connection_limit) {
    daemon::http_options o;
    o.max_connections = 2;
    running_server srv(provider_for(sample_dataplane()), o);
    asio::io_context io;
    asio::ip::tcp::socket a(io), b(io);
    a.connect(to_asio(srv.where()));
    b.connect(to_asio(srv.where()));
    for (int tries = 0; tries < 100 && srv.connections() < 2; ++tries) {
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    EXPECT_EQ(http_get(srv.where(), "/").status, 503);
    a.close();
    b.close();
    bool served = false;
    for (int tries = 0; tries < 100 && !served; ++tries) {
        served = http_get(srv.where(), "/").status == 200;
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    EXPECT_TRUE(served) << "closed connections free their places";
}

TEST(http_server, bad_listen_addresses_are_errors) {
    asio::io_context io;
    auto provider = provider_for(sample_dataplane());
    for (const char* bad : {"nonsense", "127.0.0.1", "127.0.0.1:", "::1:80", "127.0.0.1:99999", "[::1]"}) {
        daemon::http_options o;
        o.listen = bad;
        auto s = daemon::http_server::start(io, o, provider);
        ASSERT_FALSE(s) << bad;
        EXPECT_EQ(s.error().code, EINVAL) << bad;
        EXPECT_NE(s.error().message().find(bad), std::string::npos) << s.error().message();
    }
    daemon::http_options o;
    o.listen = "192.0.2.1:9473"; // TEST-NET-1: not an address of this host
    auto s = daemon::http_server::start(io, o, provider);
    ASSERT_FALSE(s);
    EXPECT_EQ(s.error().code, EADDRNOTAVAIL) << s.error().message();
    EXPECT_NE(s.error().message().find("192.0.2.1:9473"), std::string::npos) << s.error().message();

    // The port taken by another listener.
    o.listen = "127.0.0.1:0";
    auto first = daemon::http_server::start(io, o, provider);
    ASSERT_TRUE(first) << first.error().message();
    o.listen = (*first)->local_endpoint().to_string();
    auto second = daemon::http_server::start(io, o, provider);
    ASSERT_FALSE(second);
    EXPECT_EQ(second.error().code, EADDRINUSE) << second.error().message();
}

TEST(http_server, listens_on_ipv6_loopback) {
    daemon::http_options o;
    o.listen = "[::1]:0";
    asio::io_context probe;
    asio::ip::tcp::acceptor test(probe);
    boost::system::error_code ec;
    test.open(asio::ip::tcp::v6(), ec);
    if (!ec) {
        test.bind({asio::ip::make_address("::1"), 0}, ec);
    }
    if (ec) {
        GTEST_SKIP() << "no IPv6 loopback here: " << ec.message();
    }
    running_server srv(provider_for(sample_dataplane()), o);
    EXPECT_EQ(srv.where().addr.to_string(), "::1");
    EXPECT_EQ(http_get(srv.where(), "/metrics").status, 200);
}

namespace {

// A backend with verdict counters (or a failure reading them) over the memory one.
class verdict_dataplane final : public dataplane {
public:
    explicit verdict_dataplane(result<std::vector<reason_report>> v) : _verdicts(std::move(v)) {
        fill_dataplane(_dp);
    }
    [[nodiscard]] const capabilities& caps() const noexcept override { return _dp.caps(); }
    apply_result apply(const change_set& c) override { return _dp.apply(c); }
    [[nodiscard]] result<std::vector<service_state>> list() const override { return _dp.list(); }
    [[nodiscard]] result<timeouts> get_timeouts() const override { return _dp.get_timeouts(); }
    [[nodiscard]] result<std::vector<conn_state>> list_conns() const override { return _dp.list_conns(); }
    [[nodiscard]] uint32_t conn_table_size() const override { return _dp.conn_table_size(); }
    [[nodiscard]] result<std::vector<reason_report>> verdicts() const override { return _verdicts; }

private:
    memory_dataplane _dp;
    result<std::vector<reason_report>> _verdicts;
};

} // namespace

TEST(http_server, read_page_data_takes_verdicts_where_there_are_some) {
    memory_dataplane plain;
    fill_dataplane(plain);
    auto d = daemon::read_page_data(plain, make_view());
    ASSERT_TRUE(d) << d.error().message();
    EXPECT_FALSE(d->verdicts) << "EOPNOTSUPP: no verdicts, no error";
    EXPECT_EQ(d->table.size(), 3u);
    EXPECT_EQ(d->state.reloads, 4u);

    std::array<uint64_t, XLB_R_MAX> packets{};
    packets[0] = 42;
    verdict_dataplane with(reason_reports(packets));
    d = daemon::read_page_data(with, make_view());
    ASSERT_TRUE(d);
    ASSERT_TRUE(d->verdicts);
    EXPECT_EQ(d->verdicts->at(0).packets, 42u);

    verdict_dataplane failing(make_error(EIO, "read the reasons map"));
    d = daemon::read_page_data(failing, make_view());
    ASSERT_FALSE(d);
    EXPECT_EQ(d.error().code, EIO);
}
