// xlbd's metrics and status page, rendered from a memory_dataplane table
// and a daemon view: the metrics read back with an independent strict parser
// (prom_strict.h) and checked value by value against the inputs, the page's
// rows read back (status_rows.h) and checked the same way.

#include "support/status_fixture.h"
#include "support/status_rows.h"
#include "unit/prom_strict.h"

#include <xlb/daemon/metrics.h>
#include <xlb/daemon/status_page.h>
#include <xlb/daemon/table_join.h>

#include <fmt/format.h>
#include <gtest/gtest.h>

using namespace xlb;
using namespace xlb::test;
using labels = std::map<std::string, std::string>;

namespace {

struct inputs {
    memory_dataplane dp;
    daemon::view v = make_view();
    std::vector<service_state> table;
    std::vector<reason_report> verdicts;

    inputs() {
        fill_dataplane(dp);
        table = *dp.list();
        std::array<uint64_t, XLB_R_MAX> packets{};
        for (size_t i = 0; i < packets.size(); ++i) {
            packets[i] = 1000 * i + 7;
        }
        verdicts = reason_reports(packets);
    }

    const service_state& svc(const service_key& k) const {
        return *dp.find(k);
    }
    const dest_state& dest(const service_key& k, const char* addr) const {
        for (const auto& d : svc(k).dests) {
            if (d.config.addr == ep(addr)) {
                return d;
            }
        }
        throw std::runtime_error("no such dest");
    }
};

labels svc_labels(const service_key& k) {
    return {{"service", daemon::service_label(k)}};
}

labels real_labels(const service_key& k, const char* addr) {
    return {{"service", daemon::service_label(k)}, {"real", ep(addr).to_string()}};
}

labels with(labels l, const std::string& k, const std::string& v) {
    l[k] = v;
    return l;
}

double num(uint64_t v) {
    return static_cast<double>(v);
}

} // namespace

TEST(metrics, the_exposition_is_strictly_valid) {
    inputs in;
    auto text = daemon::render_metrics(in.v, in.table, &in.verdicts);
    auto p = prom_parse(text);
    ASSERT_EQ(p.error, "") << text;
    EXPECT_GT(p.samples.size(), 100u);
    for (const auto& [name, f] : p.families) {
        EXPECT_GT(f.samples, 0u) << name << " declared without samples";
        EXPECT_EQ(name.rfind("xlb_", 0), 0u) << name;
    }
}

TEST(metrics, the_strict_parser_refuses_what_it_should) {
    const char* bad[] = {
        "x_total 1\n",                                                          // no HELP/TYPE
        "# HELP a h\n# TYPE a gauge\na 1\na 2\n",                               // duplicate series
        "# HELP a h\n# TYPE a gauge\na{l=\"1\"} 1\n# HELP b h\n# TYPE b gauge\nb 1\na{l=\"2\"} 1\n", // apart
        "# HELP a h\n# TYPE a gauge\na{l=\"x\\q\"} 1\n",                        // bad escape
        "# HELP a h\n# TYPE a counter\na 1\n",                                   // counter without _total
        "# HELP a h\n# TYPE a gauge\na 1 1234\n",                                // timestamp
        "# HELP a h\n# TYPE a gauge\na{l=\"1\",l=\"2\"} 1\n",                   // label twice
        "# HELP a h\n# TYPE a gauge\na 1",                                       // no final newline
        "# HELP a h\n# TYPE a gauge\n\na 1\n",                                   // blank line
        "# HELP a h\n# TYPE a summary\na 1\n",                                   // type we never emit
    };
    for (const char* t : bad) {
        EXPECT_NE(prom_parse(t).error, "") << t;
    }
    EXPECT_EQ(prom_parse("# HELP a h \\\\ x\\n\n# TYPE a gauge\na{l=\"\\\"\\\\\\n\"} -1.5e-3\n").error, "");
}

TEST(metrics, service_and_real_counters_match_the_table) {
    inputs in;
    auto p = prom_parse(daemon::render_metrics(in.v, in.table, &in.verdicts));
    ASSERT_EQ(p.error, "");
    size_t reals = 0;
    for (const auto& s : in.table) {
        auto key = daemon::listed_key(s);
        auto sl = svc_labels(key);
        EXPECT_EQ(p.value("xlb_service_in_table", sl), 1.0);
        EXPECT_EQ(p.value("xlb_service_connections_total", sl), num(s.stats.conns));
        EXPECT_EQ(p.value("xlb_service_packets_total", with(sl, "direction", "in")), num(s.stats.inpkts));
        EXPECT_EQ(p.value("xlb_service_packets_total", with(sl, "direction", "out")), num(s.stats.outpkts));
        EXPECT_EQ(p.value("xlb_service_bytes_total", with(sl, "direction", "in")), num(s.stats.inbytes));
        EXPECT_EQ(p.value("xlb_service_bytes_total", with(sl, "direction", "out")), num(s.stats.outbytes));
        EXPECT_EQ(p.value("xlb_service_connections_per_second", sl), num(s.rate.cps));
        EXPECT_EQ(p.value("xlb_service_packets_per_second", with(sl, "direction", "in")), num(s.rate.inpps));
        EXPECT_EQ(p.value("xlb_service_bytes_per_second", with(sl, "direction", "out")), num(s.rate.outbps));
        for (const auto& d : s.dests) {
            ++reals;
            auto rl = with(sl, "real", d.config.addr.to_string());
            EXPECT_EQ(p.value("xlb_real_in_table", rl), 1.0);
            EXPECT_EQ(p.value("xlb_real_connections_total", rl), num(d.stats.conns));
            EXPECT_EQ(p.value("xlb_real_packets_total", with(rl, "direction", "in")), num(d.stats.inpkts));
            EXPECT_EQ(p.value("xlb_real_packets_total", with(rl, "direction", "out")), num(d.stats.outpkts));
            EXPECT_EQ(p.value("xlb_real_bytes_total", with(rl, "direction", "in")), num(d.stats.inbytes));
            EXPECT_EQ(p.value("xlb_real_bytes_total", with(rl, "direction", "out")), num(d.stats.outbytes));
            EXPECT_EQ(p.value("xlb_real_active_connections", rl), num(d.active_conns));
            EXPECT_EQ(p.value("xlb_real_inactive_connections", rl), num(d.inactive_conns));
            EXPECT_EQ(p.value("xlb_real_weight", rl), static_cast<double>(d.config.weight));
            EXPECT_EQ(p.value("xlb_real_connections_per_second", rl), num(d.rate.cps));
            EXPECT_EQ(p.value("xlb_real_packets_per_second", with(rl, "direction", "out")), num(d.rate.outpps));
            EXPECT_EQ(p.value("xlb_real_bytes_per_second", with(rl, "direction", "in")), num(d.rate.inbps));
        }
    }
    EXPECT_EQ(p.count("xlb_real_connections_total", {}), reals);
}

TEST(metrics, service_labels_are_structured) {
    inputs in;
    auto p = prom_parse(daemon::render_metrics(in.v, in.table, nullptr));
    ASSERT_EQ(p.error, "");
    EXPECT_EQ(p.value("xlb_service_connections_total", {{"service", "TCP 10.0.0.1:80"}, {"protocol", "tcp"},
                                                        {"vip", "10.0.0.1"}, {"port", "80"}, {"fwmark", "0"}}),
              num(in.svc(tcp_web()).stats.conns));
    EXPECT_EQ(p.value("xlb_service_connections_total", {{"service", "UDP [2001:db8::1]:53"}, {"protocol", "udp"},
                                                        {"vip", "2001:db8::1"}, {"port", "53"}}),
              num(in.svc(udp_dns6()).stats.conns));
    EXPECT_EQ(p.value("xlb_service_connections_total", {{"service", "FWM 7"}, {"protocol", "fwm"}, {"fwmark", "7"},
                                                        {"port", "0"}}),
              num(in.svc(fwm7()).stats.conns));
    // Every sample of a family carries the same label names.
    std::map<std::string, std::set<std::string>> names;
    for (const auto& s : p.samples) {
        std::set<std::string> ks;
        for (const auto& [k, v] : s.labels) {
            ks.insert(k);
        }
        auto [it, fresh] = names.emplace(s.name, ks);
        if (!fresh) {
            EXPECT_EQ(it->second, ks) << s.name;
        }
    }
}

TEST(metrics, health_comes_from_the_view_even_out_of_the_table) {
    inputs in;
    auto p = prom_parse(daemon::render_metrics(in.v, in.table, nullptr));
    ASSERT_EQ(p.error, "");
    auto up = real_labels(tcp_web(), "10.1.0.11:80");
    EXPECT_EQ(p.value("xlb_real_up", up), 1.0);
    EXPECT_EQ(p.value("xlb_real_configured_weight", up), 3.0);
    EXPECT_EQ(p.value("xlb_real_transitions_total", up), 1.0);
    EXPECT_EQ(p.value("xlb_real_last_transition_timestamp_seconds", up), 1796670000.0);
    EXPECT_EQ(p.value("xlb_real_draining", real_labels(tcp_web(), "10.1.0.12:80")), 1.0);
    EXPECT_EQ(p.value("xlb_real_configured_weight", real_labels(tcp_web(), "10.1.0.12:80")), 2.0);
    EXPECT_EQ(p.value("xlb_real_weight", real_labels(tcp_web(), "10.1.0.12:80")), 0.0);
    EXPECT_EQ(p.value("xlb_real_sorry_server", real_labels(fwm7(), "10.1.0.21:0")), 1.0);

    // Down and out of the table: health, no traffic.
    auto down = real_labels(tcp_web(), "10.1.0.13:80");
    EXPECT_EQ(p.value("xlb_real_up", down), 0.0);
    EXPECT_EQ(p.value("xlb_real_in_table", down), 0.0);
    EXPECT_EQ(p.value("xlb_real_weight", down), 0.0);
    EXPECT_EQ(p.value("xlb_real_transitions_total", down), 3.0);
    EXPECT_EQ(p.count("xlb_real_connections_total", down), 0u);
    EXPECT_EQ(p.count("xlb_real_active_connections", down), 0u);
    auto chk = with(with(down, "checker", "TCP_CHECK"), "check", "0");
    EXPECT_EQ(p.value("xlb_check_up", chk), 0.0);
    EXPECT_EQ(p.value("xlb_checks_total", chk), 40.0);
    EXPECT_EQ(p.value("xlb_check_failures_total", chk), 7.0);
    EXPECT_EQ(p.value("xlb_check_transitions_total", chk), 2.0);
    EXPECT_DOUBLE_EQ(*p.value("xlb_check_latency_seconds", chk), 120e-6);
    EXPECT_EQ(p.value("xlb_check_last_run_timestamp_seconds", chk), 1796680000.0);

    // Two checkers on one real: told apart by their index.
    auto two = real_labels(tcp_web(), "10.1.0.11:80");
    EXPECT_EQ(p.count("xlb_check_up", two), 2u);
    EXPECT_DOUBLE_EQ(*p.value("xlb_check_latency_seconds", with(with(two, "checker", "HTTP_GET"), "check", "0")),
                     0.0015);
    EXPECT_EQ(p.value("xlb_checks_total", with(with(two, "checker", "TCP_CHECK"), "check", "1")), 100.0);

    // In the table, not in the view: traffic, no health.
    auto hand = real_labels(fwm7(), "10.1.0.22:0");
    EXPECT_EQ(p.value("xlb_real_connections_total", hand), num(in.dest(fwm7(), "10.1.0.22:0").stats.conns));
    EXPECT_EQ(p.count("xlb_real_up", hand), 0u);

    // A service whose quorum is lost, gone from the table.
    auto lost = svc_labels(tcp_lost());
    EXPECT_EQ(p.value("xlb_service_in_table", lost), 0.0);
    EXPECT_EQ(p.value("xlb_service_quorum_up", lost), 0.0);
    EXPECT_EQ(p.value("xlb_service_quorum", lost), 2.0);
    EXPECT_EQ(p.count("xlb_service_connections_total", lost), 0u);
    EXPECT_EQ(p.value("xlb_real_up", real_labels(tcp_lost(), "10.1.0.31:443")), 0.0);
    EXPECT_EQ(p.value("xlb_service_quorum_up", svc_labels(tcp_web())), 1.0);
}

TEST(metrics, daemon_and_verdicts) {
    inputs in;
    auto p = prom_parse(daemon::render_metrics(in.v, in.table, &in.verdicts));
    ASSERT_EQ(p.error, "");
    EXPECT_EQ(p.value("xlb_daemon_reloads_total", {}), 4.0);
    EXPECT_EQ(p.value("xlb_daemon_reload_failures_total", {}), 1.0);
    EXPECT_EQ(p.value("xlb_daemon_start_time_seconds", {}), 1796600000.0);
    EXPECT_EQ(p.value("xlb_daemon_last_reload_timestamp_seconds", {}), 1796650000.0);
    // The label value with a quote and a backslash reads back as it was.
    EXPECT_EQ(p.value("xlb_daemon_info", {{"backend", "memory"}, {"config_file", in.v.config_file}}), 1.0);
    ASSERT_EQ(p.count("xlb_datapath_packets_total", {}), in.verdicts.size());
    for (const auto& r : in.verdicts) {
        EXPECT_EQ(p.value("xlb_datapath_packets_total", {{"reason", r.name}, {"verdict", r.verdict}}), num(r.packets))
            << r.name;
    }
    // Without verdict counters (EOPNOTSUPP), no such family at all.
    auto none = prom_parse(daemon::render_metrics(in.v, in.table, nullptr));
    EXPECT_EQ(none.families.count("xlb_datapath_packets_total"), 0u);
}

TEST(metrics, an_empty_daemon_is_still_valid) {
    daemon::view v;
    auto text = daemon::render_metrics(v, {}, nullptr);
    auto p = prom_parse(text);
    EXPECT_EQ(p.error, "") << text;
    EXPECT_EQ(p.value("xlb_daemon_reloads_total", {}), 0.0);
}

TEST(metrics, escaping) {
    EXPECT_EQ(daemon::escape_label_value("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    EXPECT_EQ(daemon::escape_help("a\"b\\c\nd"), "a\"b\\\\c\\nd");
    EXPECT_EQ(daemon::html_escape("<a href=\"x\">&'"), "&lt;a href=&quot;x&quot;&gt;&amp;&#39;");
}

// ---- the status page -------------------------------------------------------

namespace {

std::vector<html_row> rows_of(const std::string& html, const std::string& cls) {
    std::vector<html_row> out;
    for (auto& r : html_rows(html)) {
        auto c = r.attr("class");
        if (c == cls || c.rfind(cls + " ", 0) == 0) {
            out.push_back(std::move(r));
        }
    }
    return out;
}

const html_row* find_real(const std::vector<html_row>& rows, const std::string& svc, const std::string& real) {
    for (const auto& r : rows) {
        if (r.attr("data-service") == svc && r.attr("data-real") == real) {
            return &r;
        }
    }
    return nullptr;
}

std::string value_of(const html_row& r, const char* cls) {
    auto* c = r.cell(cls);
    return c ? c->value : "<no cell " + std::string(cls) + ">";
}

} // namespace

TEST(status_page, rows_match_the_table_and_the_view) {
    inputs in;
    auto now = at(1796680100);
    auto html = daemon::render_status_page(in.v, in.table, now);
    EXPECT_NE(html.find("<meta http-equiv=\"refresh\" content=\"5\">"), std::string::npos);
    EXPECT_EQ(html.find("<script"), std::string::npos) << "no script, and every text escaped";

    auto reals = rows_of(html, "real");
    for (const auto& s : in.table) {
        auto name = daemon::service_label(daemon::listed_key(s));
        for (const auto& d : s.dests) {
            auto* r = find_real(reals, name, d.config.addr.to_string());
            ASSERT_NE(r, nullptr) << name << " " << d.config.addr.to_string();
            EXPECT_EQ(r->attr("data-in-table"), "1");
            EXPECT_EQ(value_of(*r, "addr"), d.config.addr.to_string());
            EXPECT_EQ(value_of(*r, "weight"), fmt::format("{}", d.config.weight));
            EXPECT_EQ(value_of(*r, "active"), fmt::format("{}", d.active_conns));
            EXPECT_EQ(value_of(*r, "inactive"), fmt::format("{}", d.inactive_conns));
            EXPECT_EQ(value_of(*r, "conns"), fmt::format("{}", d.stats.conns));
            EXPECT_EQ(value_of(*r, "inpkts"), fmt::format("{}", d.stats.inpkts));
            EXPECT_EQ(value_of(*r, "outpkts"), fmt::format("{}", d.stats.outpkts));
            EXPECT_EQ(value_of(*r, "inbytes"), fmt::format("{}", d.stats.inbytes));
            EXPECT_EQ(value_of(*r, "outbytes"), fmt::format("{}", d.stats.outbytes));
            EXPECT_EQ(value_of(*r, "cps"), fmt::format("{}", d.rate.cps));
            EXPECT_EQ(value_of(*r, "inpps"), fmt::format("{}", d.rate.inpps));
            EXPECT_EQ(value_of(*r, "outpps"), fmt::format("{}", d.rate.outpps));
            EXPECT_EQ(value_of(*r, "inbps"), fmt::format("{}", d.rate.inbps));
            EXPECT_EQ(value_of(*r, "outbps"), fmt::format("{}", d.rate.outbps));
            EXPECT_EQ(r->cell("conns")->text, fmt::format("{}", d.stats.conns));
        }
    }
    auto* a = find_real(reals, "TCP 10.0.0.1:80", "10.1.0.11:80");
    ASSERT_NE(a, nullptr);
    EXPECT_EQ(a->attr("data-health"), "up");
    EXPECT_EQ(value_of(*a, "weight-config"), "3");
    EXPECT_EQ(value_of(*a, "since"), "10100");
    EXPECT_EQ(value_of(*a, "check"), "up");
    EXPECT_NE(a->cell("check")->text.find("HTTP 200 <ok> & \"fine\""), std::string::npos) << a->cell("check")->text;
    EXPECT_EQ(find_real(reals, "TCP 10.0.0.1:80", "10.1.0.12:80")->attr("data-health"), "draining");
    EXPECT_EQ(find_real(reals, "FWM 7", "10.1.0.21:0")->attr("data-health"), "sorry");
    EXPECT_EQ(find_real(reals, "FWM 7", "10.1.0.22:0")->attr("data-health"), "unmanaged");

    auto* down = find_real(reals, "TCP 10.0.0.1:80", "10.1.0.13:80");
    ASSERT_NE(down, nullptr);
    EXPECT_EQ(down->attr("data-health"), "down");
    EXPECT_EQ(down->attr("data-in-table"), "0");
    EXPECT_EQ(value_of(*down, "conns"), "");
    EXPECT_EQ(value_of(*down, "weight-config"), "1");
    EXPECT_EQ(value_of(*down, "check"), "down");
    ASSERT_NE(find_real(reals, "TCP 10.0.0.2:443", "10.1.0.31:443"), nullptr);

    auto services = rows_of(html, "service");
    ASSERT_EQ(services.size(), 4u);
    for (const auto& s : services) {
        if (s.attr("data-service") == "TCP 10.0.0.2:443") {
            EXPECT_EQ(s.attr("data-in-table"), "0");
            EXPECT_EQ(s.attr("data-quorum-up"), "0");
        } else {
            EXPECT_EQ(s.attr("data-in-table"), "1");
        }
    }
    EXPECT_EQ(value_of(services[0], "conns"), fmt::format("{}", in.svc(tcp_web()).stats.conns));
}

TEST(status_page, escapes_everything) {
    daemon::view v;
    v.backend = "<b>memory</b>";
    v.config_file = "/etc/\"x\"&<y>.conf";
    daemon::service_view s;
    s.key = tcp_lost();
    auto r = real("10.1.0.31:443", false, 1, 0, false);
    r.checkers = {checker("MISC_CHECK", false, "<script>alert('x')</script>", 10, 1, 1)};
    s.reals = {r};
    v.services = {s};
    auto html = daemon::render_status_page(v, {}, at(1796680100));
    EXPECT_EQ(html.find("<script"), std::string::npos);
    EXPECT_EQ(html.find("<b>"), std::string::npos);
    EXPECT_NE(html.find("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;"), std::string::npos);
    EXPECT_NE(html.find("/etc/&quot;x&quot;&amp;&lt;y&gt;.conf"), std::string::npos);
}
