// The checkers (run_check) against real servers on loopback.

#include "unit/health_servers.h"

#include <xlb/health/monitor.h>

#include <boost/asio/io_context.hpp>
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <openssl/ssl.h>

#include <sys/wait.h>

#include <chrono>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

namespace {

using namespace std::chrono_literals;
using xlb::endpoint;
using xlb::health::check_result;
using xlb::keepalived::checker_kind;
using xlb::keepalived::checker_spec;
using xlb::keepalived::http_url;
using steady = std::chrono::steady_clock;

// md5("hello world"), as `printf 'hello world' | md5sum` prints it.
constexpr const char* hello_md5 = "5eb63bbbe01eeed093cb22bb8f5acdc3";

checker_spec spec_for(checker_kind kind, const std::string& host, uint16_t port) {
    checker_spec s;
    s.kind = kind;
    s.connect_to = *endpoint::parse(host);
    s.connect_to.port = port;
    s.connect_timeout = 1000ms;
    s.delay_loop = 1000ms;
    return s;
}

check_result run_one(const checker_spec& s) {
    boost::asio::io_context io;
    std::optional<check_result> out;
    int calls = 0;
    xlb::health::run_check(io, s, [&](check_result r) {
        ++calls;
        out = std::move(r);
    });
    EXPECT_FALSE(out) << "done ran inside run_check()";
    io.run();
    EXPECT_EQ(calls, 1);
    return out.value_or(check_result{});
}

// ---- TCP_CHECK --------------------------------------------------------------

TEST(health_tcp, listener_passes_v4_and_v6) {
    xlb::test::tcp_server v4(nullptr);
    auto r = run_one(spec_for(checker_kind::tcp, "127.0.0.1", v4.port()));
    EXPECT_TRUE(r.ok) << r.detail;
    xlb::test::tcp_server v6(nullptr, true);
    r = run_one(spec_for(checker_kind::tcp, "::1", v6.port()));
    EXPECT_TRUE(r.ok) << r.detail;
}

TEST(health_tcp, closed_port_fails) {
    auto r = run_one(spec_for(checker_kind::tcp, "127.0.0.1", xlb::test::closed_port(SOCK_STREAM)));
    EXPECT_FALSE(r.ok);
    EXPECT_NE(r.detail.find("refused"), std::string::npos) << r.detail;
}

TEST(health_tcp, bind_to_and_bind_port) {
    xlb::test::tcp_server srv(nullptr);
    auto s = spec_for(checker_kind::tcp, "127.0.0.1", srv.port());
    s.bind_to = *xlb::ip_address::parse("127.0.0.1");
    auto r = run_one(s);
    EXPECT_TRUE(r.ok) << r.detail;
    s.bind_port = xlb::test::closed_port(SOCK_STREAM);
    r = run_one(s);
    EXPECT_TRUE(r.ok) << r.detail;
    s.bind_port = 0;
    // A source address we do not have cannot be bound.
    s.bind_to = *xlb::ip_address::parse("192.0.2.1");
    r = run_one(s);
    EXPECT_FALSE(r.ok);
    EXPECT_NE(r.detail.find("bind_to"), std::string::npos) << r.detail;
}

// ---- HTTP_GET ---------------------------------------------------------------

TEST(health_http, status_codes_and_default_range) {
    xlb::test::http_server srv;
    srv.set("/ok", {200, "fine"});
    srv.set("/nc", {204, ""});
    srv.set("/bad", {503, "down"});
    srv.set("/moved", {301, ""});
    auto s = spec_for(checker_kind::http, "127.0.0.1", srv.port());
    auto with = [&](std::string path, std::vector<std::pair<uint16_t, uint16_t>> codes = {}) {
        http_url u;
        u.path = std::move(path);
        u.status_codes = std::move(codes);
        s.urls = {u};
        return run_one(s);
    };
    EXPECT_TRUE(with("/ok").ok);
    EXPECT_TRUE(with("/nc").ok);
    auto r = with("/bad");
    EXPECT_FALSE(r.ok);
    EXPECT_NE(r.detail.find("503"), std::string::npos) << r.detail;
    EXPECT_FALSE(with("/moved").ok);
    EXPECT_FALSE(with("/missing").ok);
    EXPECT_TRUE(with("/bad", {{503, 503}}).ok);
    EXPECT_TRUE(with("/moved", {{200, 200}, {300, 399}}).ok);
    EXPECT_FALSE(with("/ok", {{300, 399}}).ok);
}

TEST(health_http, digest_match_and_mismatch) {
    xlb::test::http_server srv;
    srv.set("/hello", {200, "hello world"});
    srv.set("/close", {200, "hello world", false}); // body ends with the connection
    srv.set("/other", {200, "hello world!"});
    auto s = spec_for(checker_kind::http, "127.0.0.1", srv.port());
    http_url u;
    u.digest = hello_md5;
    for (const char* path : {"/hello", "/close"}) {
        u.path = path;
        s.urls = {u};
        auto r = run_one(s);
        EXPECT_TRUE(r.ok) << path << ": " << r.detail;
    }
    u.path = "/other";
    s.urls = {u};
    auto r = run_one(s);
    EXPECT_FALSE(r.ok);
    EXPECT_NE(r.detail.find("digest"), std::string::npos) << r.detail;
}

TEST(health_http, every_url_must_pass) {
    xlb::test::http_server srv;
    srv.set("/a", {200, "a"});
    srv.set("/b", {200, "b"});
    auto s = spec_for(checker_kind::http, "127.0.0.1", srv.port());
    http_url a;
    a.path = "/a";
    http_url b;
    b.path = "/b";
    http_url c;
    c.path = "/c";
    s.urls = {a, b};
    EXPECT_TRUE(run_one(s).ok);
    s.urls = {a, c, b};
    auto r = run_one(s);
    EXPECT_FALSE(r.ok);
    EXPECT_NE(r.detail.find("/c"), std::string::npos) << r.detail;
}

TEST(health_http, host_header_and_protocol) {
    xlb::test::http_server srv;
    srv.set("/", {200, "x"});
    auto s = spec_for(checker_kind::http, "127.0.0.1", srv.port());
    s.urls = {http_url{}};
    ASSERT_TRUE(run_one(s).ok);
    auto req = srv.last_request();
    EXPECT_EQ(req.rfind("GET / HTTP/1.0\r\n", 0), 0u) << req;
    EXPECT_NE(req.find("User-Agent: KeepAliveClient\r\n"), std::string::npos) << req;
    EXPECT_NE(req.find(fmt::format("Host: 127.0.0.1:{}\r\n", srv.port())), std::string::npos) << req;
    EXPECT_EQ(req.find("Connection:"), std::string::npos) << req;

    s.virtualhost = "checker.example";
    s.http_protocol_minor = 1;
    ASSERT_TRUE(run_one(s).ok);
    req = srv.last_request();
    EXPECT_EQ(req.rfind("GET / HTTP/1.1\r\n", 0), 0u) << req;
    EXPECT_NE(req.find("Host: checker.example\r\n"), std::string::npos) << req;
    EXPECT_NE(req.find("Connection: close\r\n"), std::string::npos) << req;

    s.urls[0].virtualhost = "url.example";
    ASSERT_TRUE(run_one(s).ok);
    EXPECT_NE(srv.last_request().find("Host: url.example\r\n"), std::string::npos);

    xlb::test::http_server v6(true);
    v6.set("/", {200, "x"});
    auto s6 = spec_for(checker_kind::http, "::1", v6.port());
    ASSERT_TRUE(run_one(s6).ok);
    EXPECT_NE(v6.last_request().find(fmt::format("Host: [::1]:{}\r\n", v6.port())), std::string::npos);
}

TEST(health_http, silent_server_times_out) {
    xlb::test::tcp_server silent(nullptr, false, false); // listens, never answers
    auto s = spec_for(checker_kind::http, "127.0.0.1", silent.port());
    s.connect_timeout = 400ms;
    auto t0 = steady::now();
    auto r = run_one(s);
    auto took = steady::now() - t0;
    EXPECT_FALSE(r.ok);
    EXPECT_NE(r.detail.find("timeout"), std::string::npos) << r.detail;
    // Stated slack: not before the timeout, at most 300 ms after it.
    EXPECT_GE(took, 400ms);
    EXPECT_LT(took, 700ms);
}

TEST(health_http, closed_port_fails) {
    auto s = spec_for(checker_kind::http, "127.0.0.1", xlb::test::closed_port(SOCK_STREAM));
    EXPECT_FALSE(run_one(s).ok);
}

// ---- SSL_GET ----------------------------------------------------------------

struct tls_files {
    std::filesystem::path dir;
    std::string cert, key, other_ca;
};

// Two self-signed certificates made with the openssl CLI: the server's and
// an unrelated CA.
std::optional<tls_files> make_certs() {
    char tmpl[] = "/tmp/xlb-health-tls-XXXXXX";
    if (!::mkdtemp(tmpl)) {
        return std::nullopt;
    }
    tls_files f{tmpl, std::string(tmpl) + "/cert.pem", std::string(tmpl) + "/key.pem",
                std::string(tmpl) + "/other.pem"};
    auto gen = [&](const std::string& cert, const std::string& key, const char* cn) {
        auto cmd = fmt::format("openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN={} "
                               "-keyout {} -out {} >/dev/null 2>&1",
                               cn, key, cert);
        return std::system(cmd.c_str()) == 0;
    };
    if (!gen(f.cert, f.key, "localhost") || !gen(f.other_ca, f.dir.string() + "/other.key", "other")) {
        return std::nullopt;
    }
    return f;
}

// An HTTPS server answering 200 "hello world"; records the SNI it was sent.
class tls_server {
public:
    explicit tls_server(const tls_files& f) : _ctx(SSL_CTX_new(TLS_server_method())) {
        SSL_CTX_use_certificate_file(_ctx, f.cert.c_str(), SSL_FILETYPE_PEM);
        SSL_CTX_use_PrivateKey_file(_ctx, f.key.c_str(), SSL_FILETYPE_PEM);
        _server.emplace([this](int fd) { serve(fd); });
    }
    ~tls_server() {
        _server.reset();
        SSL_CTX_free(_ctx);
    }
    [[nodiscard]] uint16_t port() const { return _server->port(); }
    [[nodiscard]] std::string sni() const {
        std::lock_guard lock(_mutex);
        return _sni;
    }

private:
    void serve(int fd) {
        timeval tv{2, 0};
        ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        SSL* ssl = SSL_new(_ctx);
        SSL_set_fd(ssl, fd);
        if (SSL_accept(ssl) == 1) {
            const char* name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
            {
                std::lock_guard lock(_mutex);
                _sni = name ? name : "";
            }
            std::string head;
            char buf[1024];
            while (head.find("\r\n\r\n") == std::string::npos) {
                int n = SSL_read(ssl, buf, sizeof(buf));
                if (n <= 0) {
                    break;
                }
                head.append(buf, static_cast<size_t>(n));
            }
            auto out = xlb::test::http_reply(200, "hello world", true);
            SSL_write(ssl, out.data(), static_cast<int>(out.size()));
            SSL_shutdown(ssl);
        }
        SSL_free(ssl);
    }

    SSL_CTX* _ctx;
    mutable std::mutex _mutex;
    std::string _sni;
    std::optional<xlb::test::tcp_server> _server;
};

TEST(health_ssl, verify_only_when_asked_and_sni) {
    auto files = make_certs();
    if (!files) {
        GTEST_SKIP() << "the openssl CLI could not make a certificate";
    }
    tls_server srv(*files);
    auto s = spec_for(checker_kind::ssl, "127.0.0.1", srv.port());
    http_url u;
    u.digest = hello_md5;
    s.urls = {u};
    s.virtualhost = "www.example";

    auto r = run_one(s); // self-signed, no verification
    EXPECT_TRUE(r.ok) << r.detail;
    EXPECT_EQ(srv.sni(), "www.example");

    s.enable_sni = false;
    EXPECT_TRUE(run_one(s).ok);
    EXPECT_EQ(srv.sni(), "");

    s.verify_cert = true;
    s.ca_file = files->other_ca;
    r = run_one(s);
    EXPECT_FALSE(r.ok);
    EXPECT_NE(r.detail.find("handshake"), std::string::npos) << r.detail;

    s.ca_file = files->cert;
    r = run_one(s);
    EXPECT_TRUE(r.ok) << r.detail;

    s.ca_file = files->dir.string() + "/missing.pem";
    EXPECT_FALSE(run_one(s).ok);
    std::filesystem::remove_all(files->dir);
}

// ---- MISC_CHECK -------------------------------------------------------------

checker_spec misc(const std::string& cmd, bool dynamic = false) {
    checker_spec s;
    s.kind = checker_kind::misc;
    s.misc_path = cmd;
    s.misc_dynamic = dynamic;
    s.delay_loop = 5000ms;
    return s;
}

// No child left: every script was reaped.
void expect_no_children() {
    errno = 0;
    EXPECT_EQ(::waitpid(-1, nullptr, WNOHANG), -1);
    EXPECT_EQ(errno, ECHILD);
}

TEST(health_misc, exit_codes) {
    EXPECT_TRUE(run_one(misc("exit 0")).ok);
    EXPECT_FALSE(run_one(misc("exit 1")).ok);
    EXPECT_FALSE(run_one(misc("exit 7")).ok); // not dynamic: any non-zero fails
    EXPECT_FALSE(run_one(misc("/nonexistent/script")).ok);
    auto r = run_one(misc("true && exit 0", true));
    EXPECT_TRUE(r.ok);
    EXPECT_FALSE(r.weight); // 0: the configured weight
    EXPECT_FALSE(run_one(misc("exit 1", true)).ok);
    r = run_one(misc("exit 7", true));
    EXPECT_TRUE(r.ok);
    EXPECT_EQ(r.weight, 5);
    r = run_one(misc("exit 2", true));
    EXPECT_EQ(r.weight, 0);
    r = run_one(misc("exit 255", true));
    EXPECT_EQ(r.weight, 253);
    expect_no_children();
}

TEST(health_misc, timeout_kills_the_group) {
    auto s = misc("sleep 10 & sleep 10; exit 0");
    s.misc_timeout = 300ms;
    auto t0 = steady::now();
    auto r = run_one(s);
    auto took = steady::now() - t0;
    EXPECT_FALSE(r.ok);
    EXPECT_NE(r.detail.find("timed out"), std::string::npos) << r.detail;
    EXPECT_GE(took, 300ms);
    EXPECT_LT(took, 800ms);
    expect_no_children();
}

// Processes of group `pgid` that are not zombies, from /proc/<pid>/stat.
int live_in_group(int pgid) {
    int live = 0;
    for (const auto& d : std::filesystem::directory_iterator("/proc")) {
        std::ifstream in(d.path() / "stat");
        std::string stat;
        if (!std::getline(in, stat)) {
            continue;
        }
        // "pid (comm) state ppid pgrp ...": comm may hold spaces.
        auto close = stat.rfind(')');
        if (close == std::string::npos) {
            continue;
        }
        std::istringstream rest(stat.substr(close + 2));
        char state = 0;
        int ppid = 0;
        int pgrp = 0;
        rest >> state >> ppid >> pgrp;
        if (pgrp == pgid && state != 'Z' && state != 'X') {
            ++live;
        }
    }
    return live;
}

TEST(health_misc, term_ignored_then_killed) {
    char tmpl[] = "/tmp/xlb-health-pgid-XXXXXX";
    int fd = ::mkstemp(tmpl);
    ASSERT_GE(fd, 0);
    ::close(fd);
    auto s = misc(fmt::format("echo $$ > {}; trap '' TERM; sleep 10", tmpl));
    s.misc_timeout = 200ms;
    auto t0 = steady::now();
    auto r = run_one(s);
    auto took = steady::now() - t0;
    EXPECT_FALSE(r.ok);
    // SIGTERM at 200 ms is ignored, SIGKILL follows 2 s later.
    EXPECT_GE(took, 2200ms);
    EXPECT_LT(took, 3000ms);
    int pgid = 0;
    std::ifstream(tmpl) >> pgid;
    ::unlink(tmpl);
    ASSERT_GT(pgid, 0);
    // The orphaned `sleep` was killed too (it may linger as a zombie until
    // its new parent, pid 1, reaps it).
    EXPECT_EQ(live_in_group(pgid), 0) << "a process of the script's group survived";
    expect_no_children();
}

TEST(health_misc, runs_as_user) {
    if (::geteuid() != 0) {
        GTEST_SKIP() << "running a script as another user needs root";
    }
    auto s = misc("test \"$(id -u)\" = 65534");
    s.user = "nobody";
    auto r = run_one(s);
    EXPECT_TRUE(r.ok) << r.detail;
    s.user = "no-such-user-xlb";
    EXPECT_FALSE(run_one(s).ok);
    expect_no_children();
}

TEST(health_misc, default_timeout_is_delay_loop) {
    auto s = misc("sleep 10");
    s.delay_loop = 250ms;
    auto t0 = steady::now();
    EXPECT_FALSE(run_one(s).ok);
    EXPECT_LT(steady::now() - t0, 800ms);
    expect_no_children();
}

// ---- UDP_CHECK --------------------------------------------------------------

TEST(health_udp, echo_and_reply_payload) {
    xlb::test::udp_server echo([](const std::string& req) { return std::optional<std::string>(req); });
    auto s = spec_for(checker_kind::udp, "127.0.0.1", echo.port());
    s.require_reply = true;
    auto r = run_one(s);
    EXPECT_TRUE(r.ok) << r.detail;
    // keepalived's default payload: 32 bytes of "keepalived check - " repeated.
    EXPECT_EQ(echo.last_request(), "keepalived check - keepalived ch");
    EXPECT_EQ(echo.last_request().size(), 32u);

    s.payload = "ping";
    s.reply_payload = "pi";
    EXPECT_TRUE(run_one(s).ok);
    s.reply_payload = "pong";
    r = run_one(s);
    EXPECT_FALSE(r.ok);
    EXPECT_NE(r.detail.find("mismatch"), std::string::npos) << r.detail;
}

TEST(health_udp, closed_port_and_silence) {
    auto s = spec_for(checker_kind::udp, "127.0.0.1", xlb::test::closed_port(SOCK_DGRAM));
    auto r = run_one(s);
    EXPECT_FALSE(r.ok);
    EXPECT_NE(r.detail.find("refused"), std::string::npos) << r.detail;

    xlb::test::udp_server silent([](const std::string&) { return std::optional<std::string>(); });
    s = spec_for(checker_kind::udp, "127.0.0.1", silent.port());
    s.connect_timeout = 200ms;
    EXPECT_TRUE(run_one(s).ok); // silence is no ICMP error
    s.require_reply = true;
    EXPECT_FALSE(run_one(s).ok);
}

// ---- DNS_CHECK --------------------------------------------------------------

// Answers a query with the same id and question, QR set and `rcode`; first
// sends a reply with a wrong id, which the checker must ignore.
std::optional<std::string> dns_answer(const std::string& q, unsigned rcode) {
    if (q.size() < 12) {
        return std::nullopt;
    }
    std::string a = q;
    a[2] = static_cast<char>(0x81); // QR, RD
    a[3] = static_cast<char>(0x80 | rcode);
    return a;
}

TEST(health_dns, noerror_passes_other_rcodes_fail) {
    std::atomic<unsigned> rcode{0};
    xlb::test::udp_server dns([&](const std::string& q) { return dns_answer(q, rcode); });
    auto s = spec_for(checker_kind::dns, "127.0.0.1", dns.port());
    s.dns_name = "www.example.com";
    s.dns_type = "AAAA";
    auto r = run_one(s);
    EXPECT_TRUE(r.ok) << r.detail;
    auto q = dns.last_request();
    ASSERT_GE(q.size(), 12u);
    EXPECT_EQ(q.substr(12), std::string("\3www\7example\3com\0\0\x1c\0\1", 21));
    EXPECT_EQ(q[2] & 0x01, 0x01); // RD

    rcode = 3; // NXDOMAIN
    r = run_one(s);
    EXPECT_FALSE(r.ok);
    EXPECT_NE(r.detail.find("rcode 3"), std::string::npos) << r.detail;

    s.dns_name = ".";
    s.dns_type = "SOA";
    rcode = 0;
    EXPECT_TRUE(run_one(s).ok);
    EXPECT_EQ(dns.last_request().substr(12), std::string("\0\0\6\0\1", 5));
}

TEST(health_dns, wrong_id_is_ignored_then_timeout) {
    xlb::test::udp_server dns([](const std::string& q) {
        auto a = dns_answer(q, 0);
        (*a)[0] = static_cast<char>(~q[0]);
        return a;
    });
    auto s = spec_for(checker_kind::dns, "127.0.0.1", dns.port());
    s.connect_timeout = 200ms;
    auto r = run_one(s);
    EXPECT_FALSE(r.ok);
    EXPECT_NE(r.detail.find("no DNS response"), std::string::npos) << r.detail;

    s.connect_to.port = xlb::test::closed_port(SOCK_DGRAM);
    EXPECT_FALSE(run_one(s).ok);
}

} // namespace
