#include <xlb/daemon/status_page.h>
#include <xlb/daemon/table_join.h>

#include <fmt/format.h>

#include <algorithm>
#include <ctime>
#include <optional>

namespace xlb::daemon {

std::string html_escape(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    for (char c : s) {
        switch (c) {
        case '&': out += "&amp;"; break;
        case '<': out += "&lt;"; break;
        case '>': out += "&gt;"; break;
        case '"': out += "&quot;"; break;
        case '\'': out += "&#39;"; break;
        default: out += c; break;
        }
    }
    return out;
}

namespace {

using sys_time = std::chrono::system_clock::time_point;

constexpr std::string_view style = R"css(
body { font-family: sans-serif; font-size: 13px; margin: 1em; color: #222; }
h1 { font-size: 18px; margin: 0 0 .5em 0; }
table { border-collapse: collapse; margin-bottom: 1.2em; }
th, td { border: 1px solid #999; padding: 2px 6px; }
td { text-align: right; white-space: nowrap; }
td.addr, td.health, td.check { text-align: left; }
th { background: #e8e8f0; font-weight: normal; }
table.daemon td { text-align: left; }
tr.service td { background: #20377a; color: #fff; font-weight: bold; }
tr.service.quorum-down td { background: #a02020; }
tr.health-up td { background: #c8f0c8; }
tr.health-down td { background: #f4b0b0; }
tr.health-draining td { background: #f8e0a0; }
tr.health-sorry td { background: #c8d8f8; }
tr.health-unmanaged td { background: #e8e8e8; }
td.check { white-space: normal; min-width: 16em; max-width: 32em; }
td.check span { display: block; }
)css";

constexpr std::string_view columns[][2] = {
    {"addr", "Real server"},  {"health", "Health"},    {"weight-config", "Weight (cfg)"},
    {"weight", "Weight"},     {"active", "Active"},    {"inactive", "Inactive"},
    {"conns", "Conns"},       {"inpkts", "In pkts"},   {"outpkts", "Out pkts"},
    {"inbytes", "In bytes"},  {"outbytes", "Out bytes"}, {"cps", "CPS"},
    {"inpps", "In PPS"},      {"outpps", "Out PPS"},   {"inbps", "In BPS"},
    {"outbps", "Out BPS"},    {"check", "Last check"}, {"since", "Since change"},
};

bool is_set(sys_time t) {
    return t.time_since_epoch().count() != 0;
}

std::string utc_text(sys_time t) {
    if (!is_set(t)) {
        return "never";
    }
    std::time_t tt = std::chrono::system_clock::to_time_t(t);
    std::tm tm{};
    gmtime_r(&tt, &tm);
    char buf[64];
    std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S UTC", &tm);
    return buf;
}

std::string duration_text(int64_t s) {
    if (s < 0) {
        s = 0;
    }
    const int64_t d = s / 86400;
    const int64_t h = s / 3600 % 24;
    const int64_t m = s / 60 % 60;
    if (d) {
        return fmt::format("{}d{}h", d, h);
    }
    if (h) {
        return fmt::format("{}h{}m", h, m);
    }
    if (m) {
        return fmt::format("{}m{}s", m, s % 60);
    }
    return fmt::format("{}s", s);
}

// 1536 -> "1.5 Ki": bytes and rates scaled for the eye; data-value keeps the number.
std::string scaled(uint64_t n) {
    constexpr const char* units[] = {"", " Ki", " Mi", " Gi", " Ti", " Pi"};
    double v = static_cast<double>(n);
    size_t u = 0;
    while (v >= 1024 && u + 1 < std::size(units)) {
        v /= 1024;
        ++u;
    }
    return u ? fmt::format("{:.1f}{}", v, units[u]) : fmt::format("{}", n);
}

void cell(std::string& out, std::string_view cls, std::string_view value, std::string_view text) {
    out += fmt::format("<td class=\"{}\" data-value=\"{}\">{}</td>", cls, html_escape(value), html_escape(text));
}

void number(std::string& out, std::string_view cls, std::optional<uint64_t> n, bool scale = false) {
    if (!n) {
        cell(out, cls, "", "");
        return;
    }
    cell(out, cls, fmt::format("{}", *n), scale ? scaled(*n) : fmt::format("{}", *n));
}

void signed_number(std::string& out, std::string_view cls, std::optional<int64_t> n) {
    if (!n) {
        cell(out, cls, "", "");
        return;
    }
    cell(out, cls, fmt::format("{}", *n), fmt::format("{}", *n));
}

void traffic(std::string& out, const counters* c, const rates* r) {
    auto v = [](const auto* p, auto member) -> std::optional<uint64_t> {
        if (!p) {
            return std::nullopt;
        }
        return p->*member;
    };
    number(out, "conns", v(c, &counters::conns));
    number(out, "inpkts", v(c, &counters::inpkts));
    number(out, "outpkts", v(c, &counters::outpkts));
    number(out, "inbytes", v(c, &counters::inbytes), true);
    number(out, "outbytes", v(c, &counters::outbytes), true);
    number(out, "cps", v(r, &rates::cps));
    number(out, "inpps", v(r, &rates::inpps));
    number(out, "outpps", v(r, &rates::outpps));
    number(out, "inbps", v(r, &rates::inbps), true);
    number(out, "outbps", v(r, &rates::outbps), true);
}

std::string_view health_of(const joined_real& r) {
    if (!r.health) {
        return "unmanaged";
    }
    if (r.health->sorry) {
        return "sorry";
    }
    if (r.health->draining) {
        return "draining";
    }
    return r.health->up ? "up" : "down";
}

void check_cell(std::string& out, const real_server_view* h, sys_time now) {
    if (!h || h->checkers.empty()) {
        cell(out, "check", "", h ? "no checker" : "");
        return;
    }
    out += fmt::format("<td class=\"check\" data-value=\"{}\">", h->checkers.front().up ? "up" : "down");
    for (const auto& c : h->checkers) {
        std::string when = "never run";
        if (is_set(c.last_check)) {
            auto ago = std::chrono::duration_cast<std::chrono::seconds>(now - c.last_check).count();
            when = fmt::format("{} ago", duration_text(ago));
        }
        auto ms = std::chrono::duration<double, std::milli>(c.last_latency).count();
        out += fmt::format("<span class=\"checker\" data-kind=\"{}\" data-up=\"{}\">{} {}: {} ({:.1f} ms, {})</span>",
                           html_escape(c.kind), c.up ? 1 : 0, html_escape(c.kind), c.up ? "up" : "down",
                           html_escape(c.last_result), ms, html_escape(when));
    }
    out += "</td>";
}

void real_row(std::string& out, const std::string& svc, const joined_real& r, sys_time now) {
    auto health = health_of(r);
    auto addr = r.addr.to_string();
    out += fmt::format("<tr class=\"real health-{}\" data-service=\"{}\" data-real=\"{}\" data-health=\"{}\" "
                       "data-in-table=\"{}\">",
                       health, html_escape(svc), html_escape(addr), health, r.table ? 1 : 0);
    cell(out, "addr", addr, addr);
    cell(out, "health", health, r.table || !r.health ? std::string(health) : fmt::format("{} (not in table)", health));
    signed_number(out, "weight-config", r.health ? std::optional<int64_t>(r.health->config_weight) : std::nullopt);
    std::optional<int64_t> weight;
    if (r.table) {
        weight = r.table->config.weight;
    } else if (r.health) {
        weight = r.health->weight;
    }
    signed_number(out, "weight", weight);
    number(out, "active", r.table ? std::optional<uint64_t>(r.table->active_conns) : std::nullopt);
    number(out, "inactive", r.table ? std::optional<uint64_t>(r.table->inactive_conns) : std::nullopt);
    traffic(out, r.table ? &r.table->stats : nullptr, r.table ? &r.table->rate : nullptr);
    check_cell(out, r.health, now);
    if (r.health && is_set(r.health->last_transition)) {
        auto s = std::max<int64_t>(
            0, std::chrono::duration_cast<std::chrono::seconds>(now - r.health->last_transition).count());
        cell(out, "since", fmt::format("{}", s), duration_text(s));
    } else {
        cell(out, "since", "", r.health ? "never" : "");
    }
    out += "</tr>\n";
}

void service_table(std::string& out, const joined_service& s, sys_time now) {
    auto name = service_label(s.key);
    const bool quorum_up = !s.health || s.health->quorum_up;
    size_t up = 0;
    int64_t weight_config = 0;
    int64_t weight = 0;
    uint64_t active = 0;
    uint64_t inactive = 0;
    for (const auto& r : s.reals) {
        up += r.health && r.health->up ? 1 : 0;
        weight_config += r.health ? r.health->config_weight : 0;
        weight += r.table ? r.table->config.weight : 0;
        active += r.table ? r.table->active_conns : 0;
        inactive += r.table ? r.table->inactive_conns : 0;
    }
    out += fmt::format("<table class=\"service\" data-service=\"{}\">\n<tr>", html_escape(name));
    for (const auto& c : columns) {
        out += fmt::format("<th class=\"{}\">{}</th>", c[0], c[1]);
    }
    out += "</tr>\n";
    out += fmt::format("<tr class=\"service{}\" data-service=\"{}\" data-in-table=\"{}\" data-quorum-up=\"{}\">",
                       quorum_up ? "" : " quorum-down", html_escape(name), s.table ? 1 : 0, quorum_up ? 1 : 0);
    std::string title = name;
    if (s.table) {
        title += fmt::format(" {}", to_string(s.table->config.sched));
    }
    cell(out, "addr", name, title);
    auto summary = fmt::format("{}/{} up", up, s.reals.size());
    if (s.health) {
        summary += quorum_up ? "" : ", quorum down";
    }
    if (!s.table) {
        summary += ", not in table";
    }
    cell(out, "health", fmt::format("{}", up), summary);
    signed_number(out, "weight-config", weight_config);
    signed_number(out, "weight", weight);
    number(out, "active", active);
    number(out, "inactive", inactive);
    traffic(out, s.table ? &s.table->stats : nullptr, s.table ? &s.table->rate : nullptr);
    cell(out, "check", "", s.health ? fmt::format("quorum {}", s.health->quorum) : "");
    cell(out, "since", "", "");
    out += "</tr>\n";
    for (const auto& r : s.reals) {
        real_row(out, name, r, now);
    }
    out += "</table>\n";
}

void daemon_table(std::string& out, const view& v, sys_time now) {
    auto row = [&](std::string_view cls, std::string_view label, const std::string& value) {
        out += fmt::format("<tr><th>{}</th><td class=\"{}\" data-value=\"{}\">{}</td></tr>\n", label, cls,
                           html_escape(value), html_escape(value));
    };
    out += "<table class=\"daemon\">\n";
    row("backend", "Backend", v.backend);
    row("config", "Configuration", v.config_file);
    row("started", "Started", utc_text(v.started));
    if (is_set(v.started)) {
        auto up = std::chrono::duration_cast<std::chrono::seconds>(now - v.started).count();
        row("uptime", "Uptime", duration_text(up));
    }
    row("reloads", "Reloads", fmt::format("{}", v.reloads));
    row("reload-failures", "Reload failures", fmt::format("{}", v.reload_failures));
    row("last-reload", "Last reload", utc_text(v.last_reload));
    row("now", "Page generated", utc_text(now));
    out += "</table>\n";
}

} // namespace

std::string render_status_page(const view& v, const std::vector<service_state>& table, sys_time now) {
    std::string out;
    out += "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
           "<meta http-equiv=\"refresh\" content=\"5\">\n<title>xlbd status</title>\n<style>";
    out += style;
    out += "</style>\n</head>\n<body>\n<h1>xlbd status</h1>\n";
    daemon_table(out, v, now);
    auto joined = join_table(v, table);
    if (joined.empty()) {
        out += "<p class=\"empty\">No virtual services.</p>\n";
    }
    for (const auto& s : joined) {
        service_table(out, s, now);
    }
    out += "</body>\n</html>\n";
    return out;
}

} // namespace xlb::daemon
