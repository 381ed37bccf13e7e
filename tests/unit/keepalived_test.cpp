// keepalived/parser: keepalived's own sample configs (tests/fixtures/
// keepalived, from keepalived's doc/samples) with the values read off each
// file and keepalived's defaults (check_data.c alloc_vs(), check_api.c
// queue_checker(), check_http.c, check_misc.c, check_dns.c), a table of
// malformed files and the message and position each must give, and the
// lexer's rules (comments, quotes, braces, include globs).

#include <xlb/abi.h>
#include <xlb/keepalived/parser.h>

#include <gtest/gtest.h>

#include <cerrno>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>

using namespace xlb;
using namespace xlb::keepalived;
using std::chrono::milliseconds;

namespace {

const std::string fixtures = std::string(XLB_SOURCE_DIR) + "/tests/fixtures/keepalived/";

config load(const std::string& name) {
    auto c = parse_file(fixtures + name);
    EXPECT_TRUE(c) << (c ? "" : c.error().message());
    return c ? *c : config{};
}

config parse(const std::string& text) {
    auto c = parse_string(text, "test.conf");
    EXPECT_TRUE(c) << (c ? "" : c.error().message());
    return c ? *c : config{};
}

endpoint ep(const char* s) {
    return *endpoint::parse(s);
}

using codes = std::vector<std::pair<uint16_t, uint16_t>>;

// The skipped-block notice of a fixture's global_defs or vrrp_instance.
bool has_notice(const config& c, uint32_t line, const std::string& text) {
    for (const auto& n : c.notices) {
        if (n.where.line == line && n.text.find(text) != std::string::npos) {
            return true;
        }
    }
    return false;
}

} // namespace

// ---- keepalived's sample configs -------------------------------------------

TEST(KeepalivedFixtures, Sample) {
    auto c = load("keepalived.conf.sample");
    ASSERT_EQ(c.virtual_servers.size(), 1u);
    EXPECT_TRUE(has_notice(c, 3, "global_defs skipped"));
    EXPECT_TRUE(has_notice(c, 13, "vrrp_instance VI_1 skipped: VRRP stays with keepalived"));
    EXPECT_EQ(c.notices.size(), 2u);
    const auto& vs = c.virtual_servers[0];
    EXPECT_EQ(vs.where.line, 26u);
    EXPECT_EQ(vs.what, virtual_server_spec::kind::address);
    EXPECT_EQ(vs.vip, ep("10.10.10.2:1358"));
    EXPECT_EQ(vs.delay_loop, milliseconds(6000));
    EXPECT_EQ(vs.sched, scheduler::rr);
    EXPECT_EQ(vs.fwd, forwarding::nat);
    EXPECT_EQ(vs.persistence_timeout, 50u);
    EXPECT_EQ(vs.proto, protocol::tcp);
    ASSERT_TRUE(vs.sorry_server);
    EXPECT_EQ(vs.sorry_server->addr, ep("192.168.200.200:1358"));
    EXPECT_EQ(vs.sorry_server->weight, 1);
    EXPECT_EQ(vs.sorry_server->fwd, forwarding::nat);
    ASSERT_EQ(vs.reals.size(), 1u);
    const auto& rs = vs.reals[0];
    EXPECT_EQ(rs.addr, ep("192.168.200.2:1358"));
    EXPECT_EQ(rs.weight, 1);
    EXPECT_EQ(rs.fwd, forwarding::nat);
    EXPECT_FALSE(rs.inhibit_on_failure);
    ASSERT_EQ(rs.checkers.size(), 1u);
    const auto& ck = rs.checkers[0];
    EXPECT_EQ(ck.kind, checker_kind::http);
    EXPECT_EQ(ck.where.line, 37u);
    EXPECT_EQ(ck.where.column, 9u);
    EXPECT_EQ(ck.connect_to, ep("192.168.200.2:1358"));
    EXPECT_EQ(ck.connect_timeout, milliseconds(3000));
    EXPECT_EQ(ck.retry, 3u);
    EXPECT_EQ(ck.delay_before_retry, milliseconds(3000));
    EXPECT_EQ(ck.delay_loop, milliseconds(6000)); // the virtual_server's
    EXPECT_EQ(ck.warmup, milliseconds(6000));     // keepalived: delay_loop when not set
    ASSERT_EQ(ck.urls.size(), 1u);
    EXPECT_EQ(ck.urls[0].path, "/testurl3/test.jsp");
    EXPECT_EQ(ck.urls[0].digest, "640205b7b0fc66c1ea91c463fac6334d");
    EXPECT_EQ(ck.urls[0].status_codes, (codes{{200, 299}}));
    EXPECT_EQ(c.files, std::vector<std::string>{fixtures + "keepalived.conf.sample"});
}

TEST(KeepalivedFixtures, HttpGetPort) {
    auto c = load("keepalived.conf.HTTP_GET.port");
    ASSERT_EQ(c.virtual_servers.size(), 1u);
    const auto& vs = c.virtual_servers[0];
    EXPECT_EQ(vs.vip, ep("192.168.200.100:443"));
    ASSERT_EQ(vs.reals.size(), 1u);
    const auto& ck = vs.reals[0].checkers.at(0);
    EXPECT_EQ(ck.kind, checker_kind::ssl);
    EXPECT_EQ(ck.connect_to, ep("192.168.201.100:444")); // connect_port 444
    EXPECT_EQ(ck.connect_timeout, milliseconds(3000));
    EXPECT_EQ(ck.retry, 3u);
    EXPECT_EQ(ck.delay_before_retry, milliseconds(3000));
    EXPECT_TRUE(ck.enable_sni);
    ASSERT_EQ(ck.urls.size(), 1u);
    EXPECT_EQ(ck.urls[0].path, "/");
    EXPECT_EQ(ck.urls[0].digest, "ff20ad2481f97b1754ef3e12ecd3a9cc");
}

TEST(KeepalivedFixtures, IPv6) {
    auto c = load("keepalived.conf.IPv6");
    ASSERT_EQ(c.groups.size(), 1u);
    const auto& g = c.groups[0];
    EXPECT_EQ(g.name, "IPv6_group");
    ASSERT_EQ(g.entries.size(), 2u);
    EXPECT_EQ(g.entries[0].first, ep("[ae00::2]:80"));
    EXPECT_EQ(g.entries[0].range_end, 9u);
    EXPECT_EQ(g.entries[1].first, ep("[ae00::1]:80"));
    EXPECT_EQ(g.entries[1].range_end, 0u);
    ASSERT_EQ(c.virtual_servers.size(), 1u);
    const auto& vs = c.virtual_servers[0];
    EXPECT_EQ(vs.where.line, 13u);
    EXPECT_EQ(vs.vip, ep("[ae00::1]:80"));
    EXPECT_EQ(vs.af, family::inet6);
    EXPECT_EQ(vs.persistence_timeout, 50u);
    EXPECT_EQ(vs.persistence_granularity, 128u);
    ASSERT_EQ(vs.reals.size(), 1u);
    EXPECT_EQ(vs.reals[0].addr, ep("[ae00::10]:25"));
    EXPECT_TRUE(vs.reals[0].checkers.empty()); // SMTP_CHECK: not run by xlb
    EXPECT_TRUE(has_notice(c, 24, "SMTP_CHECK"));
    EXPECT_TRUE(has_notice(c, 3, "global_defs skipped"));
}

TEST(KeepalivedFixtures, SslGet) {
    auto c = load("keepalived.conf.SSL_GET");
    EXPECT_TRUE(has_notice(c, 13, "vrrp_instance VI_1 skipped"));
    ASSERT_EQ(c.virtual_servers.size(), 2u);
    const auto& ssl = c.virtual_servers[0].reals.at(0).checkers.at(0);
    EXPECT_EQ(c.virtual_servers[0].vip, ep("192.168.200.100:443"));
    EXPECT_EQ(ssl.kind, checker_kind::ssl);
    EXPECT_EQ(ssl.connect_to, ep("192.168.201.100:443"));
    ASSERT_EQ(ssl.urls.size(), 2u);
    EXPECT_EQ(ssl.urls[1].path, "/mrtg/");
    EXPECT_EQ(ssl.urls[1].digest, "9b3a0c85a887a256d6939da88aabd8cd");
    const auto& http = c.virtual_servers[1].reals.at(0).checkers.at(0);
    EXPECT_EQ(c.virtual_servers[1].vip, ep("192.168.200.100:80"));
    EXPECT_EQ(http.kind, checker_kind::http);
    EXPECT_EQ(http.connect_to, ep("192.168.201.100:80"));
    EXPECT_EQ(http.where.line, 64u);
    ASSERT_EQ(http.urls.size(), 2u);
    EXPECT_EQ(http.urls[0].path, "/");
    EXPECT_EQ(http.urls[0].status_codes, (codes{{200, 299}}));
}

TEST(KeepalivedFixtures, UdpCheck) {
    auto c = load("keepalived.conf.UDP_CHECK");
    ASSERT_EQ(c.virtual_servers.size(), 1u);
    const auto& vs = c.virtual_servers[0];
    EXPECT_EQ(vs.proto, protocol::udp);
    EXPECT_EQ(vs.vip, ep("10.10.10.2:1358"));
    const auto& ck = vs.reals.at(0).checkers.at(0);
    EXPECT_EQ(ck.kind, checker_kind::udp);
    EXPECT_EQ(ck.connect_to, ep("192.168.200.6:1358"));
    EXPECT_EQ(ck.connect_timeout, milliseconds(3000));
    EXPECT_EQ(ck.retry, 3u);
    EXPECT_EQ(ck.delay_before_retry, milliseconds(3000));
    EXPECT_FALSE(ck.require_reply); // commented out with '!'
    EXPECT_TRUE(ck.payload.empty());
}

TEST(KeepalivedFixtures, Fwmark) {
    auto c = load("keepalived.conf.fwmark");
    ASSERT_EQ(c.virtual_servers.size(), 1u);
    const auto& vs = c.virtual_servers[0];
    EXPECT_EQ(vs.what, virtual_server_spec::kind::fwmark);
    EXPECT_EQ(vs.fwmark, 1u);
    EXPECT_EQ(vs.af, family::inet); // from its real servers
    EXPECT_EQ(vs.persistence_timeout, 900u);
    ASSERT_EQ(vs.reals.size(), 2u);
    EXPECT_EQ(vs.reals[0].addr, ep("192.168.201.100:0"));
    EXPECT_EQ(vs.reals[1].addr, ep("192.168.201.101:0"));
    for (const auto& rs : vs.reals) {
        const auto& ck = rs.checkers.at(0);
        EXPECT_EQ(ck.kind, checker_kind::tcp);
        EXPECT_EQ(ck.connect_to, endpoint(rs.addr.addr, 80));
        EXPECT_EQ(ck.connect_timeout, milliseconds(3000));
        EXPECT_EQ(ck.retry, 1u);                           // TCP_CHECK: check_api.c default_retry
        EXPECT_EQ(ck.delay_before_retry, milliseconds(1000)); // default_delay_before_retry
        EXPECT_EQ(ck.delay_loop, milliseconds(6000));
    }
}

TEST(KeepalivedFixtures, Inhibit) {
    auto c = load("keepalived.conf.inhibit");
    ASSERT_EQ(c.virtual_servers.size(), 1u);
    const auto& rs = c.virtual_servers[0].reals.at(0);
    EXPECT_EQ(rs.addr, ep("192.168.200.2:1358"));
    EXPECT_TRUE(rs.inhibit_on_failure); // a '!' comment follows it on the line
    EXPECT_EQ(rs.checkers.at(0).urls.at(0).path, "/testurl3/test.jsp");
}

TEST(KeepalivedFixtures, MiscCheck) {
    auto c = load("keepalived.conf.misc_check");
    const auto& ck = c.virtual_servers.at(0).reals.at(0).checkers.at(0);
    EXPECT_EQ(ck.kind, checker_kind::misc);
    EXPECT_EQ(ck.misc_path, "/usr/local/bin/script.sh");
    EXPECT_FALSE(ck.misc_dynamic);             // commented out
    EXPECT_EQ(ck.retry, 0u);                   // check_misc.c: default_retry 0
    EXPECT_EQ(ck.delay_before_retry, milliseconds(1000));
    EXPECT_EQ(ck.misc_timeout, milliseconds(6000)); // none given: delay_loop
    EXPECT_EQ(ck.delay_loop, milliseconds(6000));
}

TEST(KeepalivedFixtures, Quorum) {
    auto c = load("keepalived.conf.quorum");
    EXPECT_TRUE(c.notices.empty());
    ASSERT_EQ(c.virtual_servers.size(), 1u);
    const auto& vs = c.virtual_servers[0];
    EXPECT_EQ(vs.vip, ep("10.0.1.1:80"));
    EXPECT_EQ(vs.sched, scheduler::wrr);
    EXPECT_EQ(vs.persistence_timeout, 900u);
    EXPECT_TRUE(vs.alpha);
    EXPECT_TRUE(vs.omega);
    EXPECT_EQ(vs.quorum, 7u);
    EXPECT_EQ(vs.hysteresis, 2u);
    EXPECT_EQ(vs.quorum_up, "/usr/local/sbin/quorum-up.sh");
    EXPECT_EQ(vs.quorum_down, "/usr/local/sbin/quorum-down.sh");
    ASSERT_EQ(vs.reals.size(), 10u);
    for (size_t i = 0; i < 10; ++i) {
        auto want = ep(("10.0.0." + std::to_string(i + 1) + ":8080").c_str());
        EXPECT_EQ(vs.reals[i].addr, want);
        EXPECT_EQ(vs.reals[i].where.line, 36u + 7 * i);
        EXPECT_EQ(vs.reals[i].checkers.at(0).connect_to, endpoint(want.addr, 80));
    }
}

TEST(KeepalivedFixtures, StatusCode) {
    auto c = load("keepalived.conf.status_code");
    const auto& ck = c.virtual_servers.at(0).reals.at(0).checkers.at(0);
    ASSERT_EQ(ck.urls.size(), 2u);
    EXPECT_EQ(ck.urls[0].status_codes, (codes{{200, 299}, {400, 499}, {503, 503}, {505, 505}}));
    EXPECT_FALSE(ck.urls[0].digest);
    EXPECT_EQ(ck.urls[1].status_codes, (codes{{200, 200}}));
    EXPECT_EQ(ck.urls[1].digest, "9b3a0c85a887a256d6939da88aabd8cd");
}

TEST(KeepalivedFixtures, VirtualServerGroup) {
    auto c = load("keepalived.conf.virtual_server_group");
    ASSERT_EQ(c.groups.size(), 1u);
    const auto& g = c.groups[0];
    EXPECT_EQ(g.name, "VSG_1");
    ASSERT_EQ(g.entries.size(), 6u);
    EXPECT_EQ(g.entries[0].first, ep("10.0.0.1:8080"));
    EXPECT_EQ(g.entries[1].first, ep("10.0.0.2:80"));
    EXPECT_EQ(g.entries[2].first, ep("192.168.200.1:1358"));
    EXPECT_EQ(g.entries[3].first, ep("192.168.200.3:80"));
    EXPECT_EQ(g.entries[3].range_end, 10u);
    EXPECT_FALSE(g.entries[4].first);
    EXPECT_EQ(g.entries[4].fwmark, 1u);
    EXPECT_EQ(g.entries[5].fwmark, 2u);
    EXPECT_EQ(g.entries[5].where.line, 19u);
    ASSERT_EQ(c.virtual_servers.size(), 1u);
    const auto& vs = c.virtual_servers[0];
    EXPECT_EQ(vs.what, virtual_server_spec::kind::group);
    EXPECT_EQ(vs.group, "VSG_1");
    ASSERT_EQ(vs.reals.size(), 2u);
    EXPECT_EQ(vs.reals[0].addr, ep("192.168.200.1:1358"));
    EXPECT_EQ(vs.reals[1].addr, ep("192.168.200.2:1358"));
}

TEST(KeepalivedFixtures, Virtualhost) {
    auto c = load("keepalived.conf.virtualhost");
    const auto& vs = c.virtual_servers.at(0);
    EXPECT_EQ(vs.virtualhost, "www.firewall.loc");
    const auto& ck = vs.reals.at(0).checkers.at(0);
    EXPECT_EQ(ck.kind, checker_kind::ssl);
    EXPECT_EQ(ck.virtualhost, "www.firewall.loc"); // the virtual_server's
    EXPECT_EQ(ck.urls.size(), 2u);
    EXPECT_FALSE(ck.urls[0].virtualhost);
}

TEST(KeepalivedFixtures, EveryFixtureParses) {
    size_t n = 0;
    for (const auto& e : std::filesystem::directory_iterator(fixtures)) {
        if (!e.is_regular_file()) {
            continue;
        }
        auto c = parse_file(e.path().string());
        EXPECT_TRUE(c) << e.path() << ": " << (c ? "" : c.error().message());
        ++n;
    }
    EXPECT_EQ(n, 12u);
}

// ---- malformed files ---------------------------------------------------------

namespace {

struct bad_case {
    const char* file;
    uint32_t line;
    uint32_t column;
    const char* message; // a substring of what follows "file:line:column: "
};

// Positions read off each file in tests/fixtures/keepalived/bad.
const bad_case bad_cases[] = {
    {"bad_connect_ip", 7, 24, "bad address '10.0.0' for connect_ip"},
    {"bad_digest", 9, 24, "bad digest 'xyz'"},
    {"bad_granularity", 3, 29, "bad IPv4 persistence_granularity '255.255.x.0'"},
    {"block_after_simple", 5, 18, "unexpected '{': weight takes no block"},
    {"checker_outside_real", 2, 5, "TCP_CHECK outside real_server"},
    {"connect_port_zero", 7, 26, "connect_port 0 out of range 1-65535"},
    {"delay_loop_missing", 3, 5, "delay_loop needs a value"},
    {"delay_loop_word", 3, 16, "bad time 'soon' for delay_loop"},
    {"delay_loop_zero", 3, 16, "delay_loop 0 must be at least 1 ms"},
    {"dns_type_bogus", 7, 18, "unknown DNS_CHECK type 'BOGUS'"},
    {"family_mismatch", 2, 5, "real_server 2001:db8::2 is not of the virtual_server's address family"},
    {"fwmark_word", 1, 23, "bad number 'x' for fwmark"},
    {"group_range_backwards", 2, 5, "range 10.0.0.5-3 does not end above its start"},
    {"group_range_too_big", 3, 5, "bad range end '300'"},
    {"gue_without_port", 3, 5, "a gue tunnel needs a port"},
    {"http_protocol_2", 7, 27, "bad http_protocol '2.0'"},
    {"include_no_name", 1, 1, "include needs a file name"},
    {"inhibit_maybe", 5, 28, "bad inhibit_on_failure value 'maybe'"},
    {"ip_family_ipx", 3, 15, "unknown ip_family 'ipx'"},
    {"ipip_with_csum", 5, 9, "ipip tunnels take no checksum option"},
    {"misc_timeout_negative", 8, 26, "bad number '-5' for misc_timeout"},
    {"persistence_zero", 3, 25, "persistence_timeout 0 out of range 1-2678400"},
    {"quorum_zero", 3, 12, "quorum 0 out of range 1-4294967295"},
    {"real_server_outside", 1, 1, "real_server outside virtual_server"},
    {"retry_word", 7, 19, "bad number 'many' for retry"},
    {"rise_zero", 7, 18, "rise 0 out of range 1-1000000"},
    {"rs_bad_address", 3, 17, "bad address '10.0.0.x' for real_server"},
    {"status_code_range", 9, 33, "status_code 700 out of range 100-599"},
    {"timer_decimals", 7, 29, "bad time '1.2345' for connect_timeout"},
    {"tunnel_option_on_nat", 3, 17, "tunnel option 'type' needs TUN"},
    {"udp_payload_hex", 7, 21, "bad hex '12zz' for payload"},
    {"unbalanced_close", 11, 1, "unbalanced '}'"},
    {"unclosed_block", 2, 28, "'{' of virtual_server is never closed"},
    {"undefined_group", 1, 1, "no virtual_server_group named NOPE"},
    {"unknown_lb_algo", 2, 13, "unknown lb_algo 'fastest'"},
    {"unknown_lb_kind", 3, 13, "unknown lb_kind 'NAT2'"},
    {"unknown_protocol", 3, 14, "unknown protocol 'ICMP'"},
    {"unterminated_quote", 5, 19, "unterminated quoted string"},
    {"url_without_block", 7, 13, "url needs a '{' block"},
    {"vs_bad_address", 1, 16, "bad address '10.0.0.300' for virtual_server"},
    {"vs_bad_port", 1, 25, "virtual_server port 99999 out of range 0-65535"},
    {"vs_no_address", 1, 1, "virtual_server needs an address and port"},
    {"weight_negative", 5, 16, "bad number '-1' for weight"},
    {"weight_too_big", 5, 16, "weight 4294967296 out of range 0-2147483647"},
};

} // namespace

TEST(KeepalivedBad, EachFileGivesItsMessageAndPosition) {
    for (const auto& b : bad_cases) {
        std::string path = fixtures + "bad/" + b.file + ".conf";
        auto c = parse_file(path);
        ASSERT_FALSE(c) << b.file << " parsed";
        EXPECT_EQ(c.error().code, EINVAL) << b.file;
        std::string prefix = path + ":" + std::to_string(b.line) + ":" + std::to_string(b.column) + ": ";
        const std::string& ctx = c.error().context;
        EXPECT_EQ(ctx.substr(0, prefix.size()), prefix) << ctx;
        EXPECT_NE(ctx.find(b.message), std::string::npos) << ctx;
    }
}

TEST(KeepalivedBad, TableCoversEveryFile) {
    size_t files = 0;
    for (const auto& e : std::filesystem::directory_iterator(fixtures + "bad")) {
        std::string stem = e.path().stem().string();
        bool listed = false;
        for (const auto& b : bad_cases) {
            listed = listed || stem == b.file;
        }
        EXPECT_TRUE(listed) << stem;
        ++files;
    }
    EXPECT_EQ(files, std::size(bad_cases));
    EXPECT_GE(files, 30u);
}

TEST(KeepalivedBad, UnreadableFileGivesItsErrno) {
    auto c = parse_file(fixtures + "no-such-file.conf");
    ASSERT_FALSE(c);
    EXPECT_EQ(c.error().code, ENOENT);
    EXPECT_NE(c.error().context.find(fixtures + "no-such-file.conf"), std::string::npos);
    auto d = parse_file(fixtures); // a directory
    ASSERT_FALSE(d);
    EXPECT_EQ(d.error().code, EISDIR);
}

// ---- the lexer's rules and keepalived's defaults ------------------------------

namespace {

// A scratch directory, removed at the end of the test.
class scratch {
public:
    scratch() {
        std::string tmpl = (std::filesystem::temp_directory_path() / "xlb-ka-XXXXXX").string();
        _dir = ::mkdtemp(tmpl.data());
    }
    ~scratch() { std::filesystem::remove_all(_dir); }
    scratch(const scratch&) = delete;
    scratch& operator=(const scratch&) = delete;

    std::string write(const std::string& rel, const std::string& text) const {
        auto p = std::filesystem::path(_dir) / rel;
        std::filesystem::create_directories(p.parent_path());
        std::ofstream(p) << text;
        return p.string();
    }
    [[nodiscard]] const std::string& dir() const { return _dir; }

private:
    std::string _dir;
};

const char* minimal = "virtual_server 10.0.0.1 80 {\n"
                      "    real_server 10.0.0.2 80 {\n"
                      "        TCP_CHECK {\n"
                      "        }\n"
                      "    }\n"
                      "}\n";

} // namespace

TEST(KeepalivedParser, DefaultsAreKeepalivedsOwn) {
    auto c = parse(minimal);
    ASSERT_EQ(c.virtual_servers.size(), 1u);
    const auto& vs = c.virtual_servers[0];
    EXPECT_EQ(vs.delay_loop, milliseconds(60000)); // KEEPALIVED_DEFAULT_DELAY
    EXPECT_EQ(vs.sched, scheduler::wlc);           // IPVS_DEF_SCHED
    EXPECT_EQ(vs.fwd, forwarding::nat);
    EXPECT_EQ(vs.proto, protocol::tcp);
    EXPECT_FALSE(vs.persistence_timeout);
    EXPECT_EQ(vs.persistence_granularity, 0xffffffffu);
    EXPECT_EQ(vs.quorum, 1u);
    EXPECT_EQ(vs.hysteresis, 0u);
    const auto& rs = vs.reals.at(0);
    EXPECT_EQ(rs.weight, 1);
    EXPECT_EQ(rs.fwd, forwarding::nat);
    EXPECT_EQ(rs.drain_time, milliseconds(0));
    const auto& ck = rs.checkers.at(0);
    EXPECT_EQ(ck.connect_to, ep("10.0.0.2:80"));
    EXPECT_EQ(ck.connect_timeout, milliseconds(5000));
    EXPECT_EQ(ck.delay_loop, milliseconds(60000));
    EXPECT_EQ(ck.warmup, milliseconds(60000));
    EXPECT_EQ(ck.retry, 1u);
    EXPECT_EQ(ck.delay_before_retry, milliseconds(1000));
    EXPECT_EQ(ck.rise, 0u);
    EXPECT_EQ(ck.fall, 0u);
    EXPECT_TRUE(c.notices.empty());
}

TEST(KeepalivedParser, CheckersInheritFromRealAndVirtualServer) {
    auto c = parse("virtual_server 10.0.0.1 80 {\n"
                   "  delay_loop 10\n  retry 4\n  delay_before_retry 2.5\n  connect_timeout 4\n"
                   "  warmup 1\n  weight 3\n  inhibit_on_failure\n  drain_time 30\n  rise 2\n"
                   "  real_server 10.0.0.2 80 {\n    connect_timeout 6\n    fall 5\n"
                   "    TCP_CHECK {\n      delay_loop 0.5\n    }\n"
                   "    DNS_CHECK {\n      retry 7\n      type AAAA\n      name example.com\n    }\n"
                   "  }\n"
                   "  real_server 10.0.0.3 80 {\n    weight 0\n    inhibit_on_failure off\n"
                   "    DNS_CHECK {\n    }\n  }\n"
                   "}\n");
    const auto& vs = c.virtual_servers.at(0);
    const auto& a = vs.reals.at(0);
    EXPECT_EQ(a.weight, 3);
    EXPECT_TRUE(a.inhibit_on_failure);
    EXPECT_EQ(a.drain_time, milliseconds(30000));
    EXPECT_EQ(a.delay_loop, milliseconds(10000));
    const auto& tcp = a.checkers.at(0);
    EXPECT_EQ(tcp.delay_loop, milliseconds(500));
    EXPECT_EQ(tcp.retry, 4u);
    EXPECT_EQ(tcp.delay_before_retry, milliseconds(2500));
    EXPECT_EQ(tcp.connect_timeout, milliseconds(6000));
    EXPECT_EQ(tcp.warmup, milliseconds(1000));
    EXPECT_EQ(tcp.rise, 2u);
    EXPECT_EQ(tcp.fall, 5u);
    const auto& dns = a.checkers.at(1);
    EXPECT_EQ(dns.retry, 7u);
    EXPECT_EQ(dns.dns_type, "AAAA");
    EXPECT_EQ(dns.dns_name, "example.com");
    const auto& b = vs.reals.at(1);
    EXPECT_EQ(b.weight, 0);
    EXPECT_FALSE(b.inhibit_on_failure);
    const auto& dns_b = b.checkers.at(0);
    EXPECT_EQ(dns_b.retry, 4u); // the virtual_server's, over DNS_CHECK's own 3
    EXPECT_EQ(dns_b.dns_type, "SOA");
    EXPECT_EQ(dns_b.dns_name, ".");
}

TEST(KeepalivedParser, DnsCheckOwnDefaults) {
    auto c = parse("virtual_server 10.0.0.1 53 {\n  protocol UDP\n  delay_loop 20\n"
                   "  real_server 10.0.0.2 53 {\n    DNS_CHECK {\n    }\n  }\n}\n");
    const auto& ck = c.virtual_servers.at(0).reals.at(0).checkers.at(0);
    EXPECT_EQ(ck.kind, checker_kind::dns);
    EXPECT_EQ(ck.retry, 3u);                          // DNS_DEFAULT_RETRY
    EXPECT_EQ(ck.delay_before_retry, milliseconds(20000)); // delay_loop
}

TEST(KeepalivedParser, PersistenceAndSchedulerFlags) {
    auto c = parse("virtual_server 10.0.0.1 80 {\n  lb_algo sh\n  sh-port\n  sh-fallback\n  mh-port\n"
                   "  persistence_timeout\n  persistence_granularity 255.255.255.0\n  ops\n"
                   "  real_server 10.0.0.2 80\n}\n"
                   "virtual_server 2001:db8::1 443 {\n  lvs_sched mh\n  mh-fallback\n"
                   "  persistence_granularity 64\n  real_server 2001:db8::2 443\n}\n"
                   "virtual_server 10.0.0.1 0 {\n  real_server 10.0.0.2\n}\n");
    ASSERT_EQ(c.virtual_servers.size(), 3u);
    const auto& a = c.virtual_servers[0];
    EXPECT_EQ(a.sched, scheduler::sh);
    EXPECT_EQ(a.sched_flags, uint32_t{XLB_IPVS_SVC_F_SCHED1 | XLB_IPVS_SVC_F_SCHED2});
    EXPECT_EQ(a.persistence_timeout, 360u); // bare keyword: IPVS_SVC_PERSISTENT_TIMEOUT
    EXPECT_EQ(a.persistence_granularity, 0xffffff00u);
    EXPECT_TRUE(a.one_packet);
    EXPECT_TRUE(has_notice(c, 5, "mh-port applies to the mh scheduler only"));
    const auto& b = c.virtual_servers[1];
    EXPECT_EQ(b.sched, scheduler::mh);
    EXPECT_EQ(b.sched_flags, uint32_t{XLB_IPVS_SVC_F_SCHED1});
    EXPECT_EQ(b.persistence_granularity, 64u);
    EXPECT_EQ(b.persistence_timeout, 360u); // granularity makes it persistent
    const auto& z = c.virtual_servers[2];
    EXPECT_EQ(z.persistence_timeout, 360u); // port 0: keepalived forces persistence
    EXPECT_TRUE(has_notice(c, 17, "port 0 needs persistence"));
}

TEST(KeepalivedParser, ForwardingMethodsAndTunnels) {
    auto c = parse("virtual_server 10.0.0.1 80 {\n  lb_kind TUN type gue port 6080 csum\n"
                   "  sorry_server 10.0.0.9 8080\n  sorry_server_inhibit\n"
                   "  real_server 10.0.0.2 80\n"
                   "  real_server 10.0.0.3 8080 {\n    lvs_method DR\n  }\n"
                   "  real_server 10.0.0.4 80 {\n    lvs_method TUN type gre csum\n  }\n"
                   "  real_server 10.0.0.5 80 {\n    lvs_method NAT\n  }\n}\n");
    const auto& vs = c.virtual_servers.at(0);
    EXPECT_EQ(vs.fwd, forwarding::tun);
    EXPECT_EQ(vs.tunnel, tun_type::gue);
    EXPECT_EQ(vs.tun_port, 6080);
    EXPECT_EQ(vs.tun_flags, XLB_TUN_F_CSUM);
    ASSERT_EQ(vs.reals.size(), 4u);
    EXPECT_EQ(vs.reals[0].fwd, forwarding::tun); // the service's, tunnel and all
    EXPECT_EQ(vs.reals[0].tunnel, tun_type::gue);
    EXPECT_EQ(vs.reals[0].tun_port, 6080);
    EXPECT_EQ(vs.reals[1].fwd, forwarding::dr);
    EXPECT_EQ(vs.reals[1].addr, ep("10.0.0.3:80")); // DR: the service's port (keepalived resets it)
    EXPECT_TRUE(has_notice(c, 6, "port 8080 differs"));
    EXPECT_EQ(vs.reals[2].tunnel, tun_type::gre);
    EXPECT_EQ(vs.reals[2].tun_flags, XLB_TUN_F_CSUM);
    EXPECT_EQ(vs.reals[3].fwd, forwarding::nat);
    ASSERT_TRUE(vs.sorry_server);
    EXPECT_EQ(vs.sorry_server->addr, ep("10.0.0.9:80")); // tunnelled: the service's port
    EXPECT_TRUE(vs.sorry_server->inhibit_on_failure);
    EXPECT_TRUE(vs.sorry_server_inhibit);
}

TEST(KeepalivedLexer, CommentsInsideLinesAndQuotedStrings) {
    auto c = parse("virtual_server 10.0.0.1 80 { # the web service\n"
                   "  lb_algo rr! round robin\n"
                   "  quorum_up \"/usr/local/bin/notify quorum up # not a comment\"\n"
                   "  quorum_down /bin/echo down\\#1\n"
                   "  real_server 10.0.0.2 80 {weight 2}\n"
                   "  real_server 10.0.0.3 80\n"
                   "  {\n"
                   "    MISC_CHECK {\n"
                   "      misc_path \"/usr/bin/check web --host 10.0.0.3\"\n"
                   "      misc_timeout 4\n"
                   "      misc_dynamic\n"
                   "      user nobody nogroup\n"
                   "    }\n"
                   "    UDP_CHECK {\n"
                   "      payload 01 0203 a\n"
                   "      require_reply ff00\n"
                   "    }\n"
                   "  }\n"
                   "}\n");
    const auto& vs = c.virtual_servers.at(0);
    EXPECT_EQ(vs.sched, scheduler::rr);
    EXPECT_EQ(vs.quorum_up, "/usr/local/bin/notify quorum up # not a comment");
    EXPECT_EQ(vs.quorum_down, "/bin/echo down#1");
    ASSERT_EQ(vs.reals.size(), 2u);
    EXPECT_EQ(vs.reals[0].weight, 2);
    const auto& misc = vs.reals[1].checkers.at(0);
    EXPECT_EQ(misc.misc_path, "/usr/bin/check web --host 10.0.0.3");
    EXPECT_EQ(misc.misc_timeout, milliseconds(4000));
    EXPECT_TRUE(misc.misc_dynamic);
    EXPECT_EQ(misc.user, "nobody nogroup");
    const auto& udp = vs.reals[1].checkers.at(1);
    EXPECT_EQ(udp.payload, std::string("\x01\x02\x03\x0a", 4));
    EXPECT_TRUE(udp.require_reply);
    EXPECT_EQ(udp.reply_payload, std::string("\xff\x00", 2));
    EXPECT_TRUE(c.notices.empty());
}

TEST(KeepalivedLexer, BackslashJoinsLines) {
    auto c = parse("virtual_server 10.0.0.1 80 {\n  quorum_up /bin/echo \\\n    up\n"
                   "  real_server 10.0.0.2 80\n}\n");
    EXPECT_EQ(c.virtual_servers.at(0).quorum_up, "/bin/echo up");
}

TEST(KeepalivedLexer, IncludeGlobsNestedAndRelative) {
    scratch d;
    std::string main = d.write("keepalived.conf", "global_defs {\n  router_id x\n}\n"
                                                  "include conf.d/*.conf\n"
                                                  "include missing/*.conf\n");
    d.write("conf.d/a.conf", "virtual_server 10.0.0.1 80 {\n  include reals/*.inc\n}\n");
    d.write("conf.d/reals/r1.inc", "real_server 10.0.0.2 80 {\n  weight 5\n}\n");
    std::filesystem::create_directories(d.dir() + "/conf.d/dir.conf"); // skipped, as keepalived does
    auto script = d.write("conf.d/run.conf", "garbage {\n"); // executable: skipped too
    std::filesystem::permissions(script, std::filesystem::perms::owner_exec, std::filesystem::perm_options::add);
    d.write("conf.d/b.conf", "virtual_server_group G {\n  10.0.1.1 443\n}\n"
                             "virtual_server group G {\n  real_server 10.0.1.2 443\n}\n");
    auto c = parse_file(main);
    ASSERT_TRUE(c) << c.error().message();
    EXPECT_EQ(c->files, (std::vector<std::string>{main, d.dir() + "/conf.d/a.conf",
                                                  d.dir() + "/conf.d/reals/r1.inc",
                                                  d.dir() + "/conf.d/b.conf"}));
    ASSERT_EQ(c->virtual_servers.size(), 2u);
    const auto& rs = c->virtual_servers[0].reals.at(0);
    EXPECT_EQ(rs.weight, 5);
    EXPECT_EQ(rs.where.file, d.dir() + "/conf.d/reals/r1.inc");
    EXPECT_EQ(rs.where.line, 1u);
    EXPECT_EQ(c->virtual_servers[1].group, "G");
    EXPECT_EQ(c->virtual_servers[1].where.file, d.dir() + "/conf.d/b.conf");
    EXPECT_EQ(c->virtual_servers[1].where.line, 4u);
    // keepalived only logs a pattern that matches nothing.
    bool no_match = false;
    for (const auto& n : c->notices) {
        no_match = no_match || (n.where.line == 5 && n.text.find("missing/*.conf") != std::string::npos);
    }
    EXPECT_TRUE(no_match);
    size_t skipped = 0;
    for (const auto& n : c->notices) {
        skipped += n.text.find("not a regular non-executable file") != std::string::npos ? 1 : 0;
    }
    EXPECT_EQ(skipped, 2u);
}

TEST(KeepalivedLexer, ErrorInIncludedFileNamesThatFile) {
    scratch d;
    std::string main = d.write("main.conf", "include sub/bad.conf\n");
    d.write("sub/bad.conf", "virtual_server 10.0.0.1 80 {\n  lb_algo nope\n}\n");
    auto c = parse_file(main);
    ASSERT_FALSE(c);
    EXPECT_EQ(c.error().code, EINVAL);
    EXPECT_EQ(c.error().context.rfind(d.dir() + "/sub/bad.conf:2:11: ", 0), 0u) << c.error().context;
}

TEST(KeepalivedLexer, IncludeLoopStops) {
    scratch d;
    std::string main = d.write("loop.conf", "include loop.conf\n");
    auto c = parse_file(main);
    ASSERT_FALSE(c);
    EXPECT_NE(c.error().context.find("nested more than"), std::string::npos);
}

TEST(KeepalivedNotices, VrrpBlockIsOneNotice) {
    auto c = parse("vrrp_sync_group G1 {\n  group {\n    VI_1\n  }\n}\n"
                   "vrrp_instance VI_1 {\n  state MASTER\n  virtual_ipaddress {\n    10.0.0.1\n  }\n"
                   "  authentication {\n    auth_type PASS\n  }\n}\n"
                   "static_ipaddress {\n  10.0.0.5/24 dev eth0\n}\n");
    ASSERT_EQ(c.notices.size(), 3u);
    EXPECT_EQ(c.notices[0].where.line, 1u);
    EXPECT_EQ(c.notices[0].text, "vrrp_sync_group G1 skipped: VRRP stays with keepalived");
    EXPECT_EQ(c.notices[1].where.line, 6u);
    EXPECT_EQ(c.notices[1].text, "vrrp_instance VI_1 skipped: VRRP stays with keepalived");
    EXPECT_EQ(c.notices[1].where.to_string(), "test.conf:6:1");
    EXPECT_EQ(c.notices[2].where.line, 15u);
    EXPECT_TRUE(c.virtual_servers.empty());
}

TEST(KeepalivedNotices, UnsupportedCheckerAndKeywords) {
    auto c = parse("virtual_server 10.0.0.1 25 {\n"
                   "  ha_suspend\n"
                   "  real_server 10.0.0.2 25 {\n"
                   "    SMTP_CHECK {\n"
                   "      helo_name \"foo.bar.com\"\n"
                   "      host {\n        connect_ip 10.0.0.3\n      }\n"
                   "    }\n"
                   "    BFD_CHECK {\n      name b\n    }\n"
                   "    TCP_CHECK {\n      log_all_failures\n    }\n"
                   "  }\n"
                   "}\n");
    const auto& rs = c.virtual_servers.at(0).reals.at(0);
    ASSERT_EQ(rs.checkers.size(), 1u);
    EXPECT_EQ(rs.checkers[0].kind, checker_kind::tcp);
    ASSERT_EQ(c.notices.size(), 4u);
    EXPECT_EQ(c.notices[0].where.line, 2u);
    EXPECT_NE(c.notices[0].text.find("ha_suspend"), std::string::npos);
    EXPECT_EQ(c.notices[1].where.line, 4u);
    EXPECT_EQ(c.notices[1].where.column, 5u);
    EXPECT_EQ(c.notices[1].text, "SMTP_CHECK not supported: checker ignored");
    EXPECT_EQ(c.notices[2].where.line, 10u);
    EXPECT_NE(c.notices[2].text.find("BFD_CHECK"), std::string::npos);
    EXPECT_EQ(c.notices[3].where.line, 14u);
    EXPECT_NE(c.notices[3].text.find("log_all_failures"), std::string::npos);
}

TEST(KeepalivedNotices, DroppedAsKeepalivedDrops) {
    auto c = parse("virtual_server 10.0.0.1 80 {\n  lb_algo rr\n}\n"
                   "virtual_server 10.0.0.1 81 {\n"
                   "  real_server 10.0.0.2 81 {\n    HTTP_GET {\n      connect_timeout 2\n    }\n  }\n"
                   "  real_server 10.0.0.2 81\n}\n");
    ASSERT_EQ(c.virtual_servers.size(), 1u);
    EXPECT_EQ(c.virtual_servers[0].reals.size(), 1u);
    EXPECT_TRUE(c.virtual_servers[0].reals[0].checkers.empty());
    EXPECT_TRUE(has_notice(c, 1, "has no real_server"));
    EXPECT_TRUE(has_notice(c, 6, "HTTP_GET without a url"));
    EXPECT_TRUE(has_notice(c, 10, "given twice"));
}

TEST(KeepalivedParser, GroupWithPortZeroIsPersistent) {
    auto c = parse("virtual_server group Z {\n  real_server 10.0.0.2 80\n}\n"
                   "virtual_server_group Z {\n  10.0.0.1 0\n}\n");
    EXPECT_EQ(c.virtual_servers.at(0).persistence_timeout, 360u);
    EXPECT_TRUE(has_notice(c, 1, "group Z has port 0"));
}

TEST(KeepalivedParser, FwmarkFamilyAndGroupFwmarkFamily) {
    auto c = parse("virtual_server_group G6 {\n  fwmark 7 inet6\n  2001:db8::10-1f 80\n}\n"
                   "virtual_server fwmark 9 {\n  ip_family inet6\n  lb_kind DR\n"
                   "  real_server 2001:db8::2 80\n}\n");
    const auto& g = c.groups.at(0);
    EXPECT_EQ(g.entries.at(0).fwmark_family, family::inet6);
    EXPECT_EQ(g.entries.at(1).first, ep("[2001:db8::10]:80"));
    EXPECT_EQ(g.entries.at(1).range_end, 0x1fu); // IPv6 range ends are hex
    const auto& vs = c.virtual_servers.at(0);
    EXPECT_EQ(vs.af, family::inet6);
    EXPECT_EQ(vs.reals.at(0).addr, ep("[2001:db8::2]:0")); // DR under fwmark: no port
    EXPECT_EQ(to_string(checker_kind::ssl), "SSL_GET");
    EXPECT_EQ(to_string(checker_kind::dns), "DNS_CHECK");
}

TEST(KeepalivedParser, SslBlockCaGoesToSslGet) {
    auto c = parse("SSL {\n  ca /etc/ssl/ca.pem\n  certificate /etc/ssl/me.pem\n}\n"
                   "virtual_server 10.0.0.1 443 {\n  real_server 10.0.0.2 443 {\n"
                   "    SSL_GET {\n      enable_sni no\n      url {\n        path /health\n"
                   "        virtualhost api.example\n      }\n    }\n"
                   "    HTTP_GET {\n      http_protocol 1.1\n      fast_recovery\n      url {\n        path /\n      }\n    }\n"
                   "  }\n}\n");
    const auto& rs = c.virtual_servers.at(0).reals.at(0);
    const auto& ssl = rs.checkers.at(0);
    EXPECT_EQ(ssl.ca_file, "/etc/ssl/ca.pem");
    EXPECT_FALSE(ssl.verify_cert); // keepalived loads the CA without verifying the peer
    EXPECT_FALSE(ssl.enable_sni);
    EXPECT_EQ(ssl.urls.at(0).virtualhost, "api.example");
    EXPECT_FALSE(ssl.virtualhost);
    const auto& http = rs.checkers.at(1);
    EXPECT_FALSE(http.ca_file);
    EXPECT_EQ(http.http_protocol_minor, 1u);
    EXPECT_TRUE(http.fast_recovery);
    EXPECT_EQ(http.delay_before_retry, milliseconds(3000)); // check_http.c: 3 s
    ASSERT_EQ(c.notices.size(), 1u);
    EXPECT_EQ(c.notices[0].where.line, 3u); // certificate
}

// Beyond keepalived: verification only when asked, against the checker's
// own ca_file, else the SSL block's.
TEST(KeepalivedParser, VerifyCertOnlyWhenConfigured) {
    auto c = parse("SSL {\n  ca /etc/ssl/ca.pem\n}\n"
                   "virtual_server 10.0.0.1 443 {\n  real_server 10.0.0.2 443 {\n"
                   "    SSL_GET {\n      verify_cert\n      ca_file /etc/ssl/own.pem\n      url {\n path /\n }\n    }\n"
                   "    SSL_GET {\n      verify_cert yes\n      url {\n path /\n }\n    }\n"
                   "    SSL_GET {\n      verify_cert no\n      url {\n path /\n }\n    }\n"
                   "  }\n}\n");
    const auto& ck = c.virtual_servers.at(0).reals.at(0).checkers;
    ASSERT_EQ(ck.size(), 3u);
    EXPECT_TRUE(ck[0].verify_cert);
    EXPECT_EQ(ck[0].ca_file, "/etc/ssl/own.pem");
    EXPECT_TRUE(ck[1].verify_cert);
    EXPECT_EQ(ck[1].ca_file, "/etc/ssl/ca.pem");
    EXPECT_FALSE(ck[2].verify_cert);
    EXPECT_TRUE(c.notices.empty());
}

TEST(KeepalivedParser, CheckerConnectionOptions) {
    auto c = parse("virtual_server fe80::1 5060 {\n  protocol UDP\n  persistence_engine sip\n"
                   "  real_server fe80::2 5060 {\n"
                   "    TCP_CHECK {\n      connect_ip fe80::3\n      connect_port 5061\n"
                   "      bindto fe80::9\n      bind_port 40000\n      bind_if eth1\n"
                   "      nb_get_retry 2\n    }\n  }\n}\n");
    const auto& vs = c.virtual_servers.at(0);
    EXPECT_EQ(vs.persistence_engine, "sip");
    const auto& ck = vs.reals.at(0).checkers.at(0);
    EXPECT_EQ(ck.connect_to, ep("[fe80::3]:5061"));
    EXPECT_EQ(ck.bind_to, ip_address::parse("fe80::9"));
    EXPECT_EQ(ck.bind_port, 40000);
    EXPECT_EQ(ck.bind_interface, "eth1");
    EXPECT_EQ(ck.retry, 2u);
}
