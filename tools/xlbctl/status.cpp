#include "status.h"

#include <boost/json.hpp>
#include <fmt/format.h>

#include <ctime>
#include <iterator>
#include <optional>
#include <tuple>

namespace xlbctl {
namespace {

double embryonic_fill(const xlb::status_report& st) {
    return st.max_embryonic ? 100.0 * static_cast<double>(st.embryonic) / st.max_embryonic : 0.0;
}

namespace json = boost::json;

// RFC 3339, UTC.
std::string utc(int64_t unix_seconds) {
    std::time_t t = static_cast<std::time_t>(unix_seconds);
    std::tm tm{};
    gmtime_r(&t, &tm);
    char buf[32];
    std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
}

std::string selected_by_text(const std::string& by) {
    if (by == "--backend") {
        return "selected with --backend";
    }
    if (by == "XLB_BACKEND") {
        return "selected by $XLB_BACKEND";
    }
    return "the default";
}

std::string counted_text(const std::string& counted) {
    if (counted == "active") {
        return "active slots";
    }
    if (counted == "maps") {
        return "slots holding a table";
    }
    return counted;
}

json::value opt_bool(const std::optional<bool>& b) { return b ? json::value(*b) : json::value(nullptr); }

std::string fallback_text(const xlb::fallback_record& f) {
    return fmt::format("fallback: since {}, kernel IPVS serves the table of {}: `xlbctl attach {}` found no native "
                       "XDP ({}); a native attach moves it back\n",
                       utc(f.since_unix), f.pin_dir, f.ifname, f.reason);
}

json::value fallback_json(const std::optional<xlb::fallback_record>& f) {
    if (!f) {
        return nullptr;
    }
    return json::object{{"pin_dir", f->pin_dir},
                        {"interface", f->ifname},
                        {"reason", f->reason},
                        {"since", utc(f->since_unix)},
                        {"since_unix", f->since_unix},
                        {"record", xlb::fallback_path(f->pin_dir)}};
}

// What every backend's status starts with: the backend, why, and the pin dir.
void head_text(std::back_insert_iterator<std::string> out, const xlb::status_report& st) {
    fmt::format_to(out, "backend: {} ({}; {})\n", st.backend.name, st.backend.reason,
                   selected_by_text(st.backend.selected_by));
    fmt::format_to(out, "pin dir: {}\n", st.pin_dir);
}

json::object head_json(const xlb::status_report& st) {
    json::object root;
    root["schema"] = status_schema;
    root["backend"] = {{"name", st.backend.name},
                       {"selected_by", st.backend.selected_by},
                       {"reason", st.backend.reason}};
    root["pin_dir"] = st.pin_dir;
    return root;
}

std::string ipvs_status_text(const xlb::status_report& st) {
    const auto& v = *st.ipvs;
    std::string o;
    auto out = std::back_inserter(o);
    head_text(out, st);
    fmt::format_to(out, "IPVS: version {}, connection table size {}\n", v.version, v.conn_table_size);
    fmt::format_to(out, "table: {} services, {} dests, {} connections\n", v.services, v.dests, v.connections);
    if (v.sync_daemons.empty()) {
        fmt::format_to(out, "sync daemons: none\n");
    }
    for (const auto& d : v.sync_daemons) {
        fmt::format_to(out, "sync daemon: {} (mcast={}, syncid={})\n", d.state, d.mcast_ifn, d.syncid);
    }
    if (st.fallback) {
        fmt::format_to(out, "{}", fallback_text(*st.fallback));
    } else {
        fmt::format_to(out, "fallback: none\n");
    }
    return o;
}

std::string ipvs_status_json(const xlb::status_report& st) {
    const auto& v = *st.ipvs;
    auto root = head_json(st);
    json::array daemons;
    for (const auto& d : v.sync_daemons) {
        daemons.push_back(json::object{{"state", d.state}, {"mcast_interface", d.mcast_ifn}, {"syncid", d.syncid}});
    }
    root["ipvs"] = {{"version", v.version},
                    {"version_code", v.version_code},
                    {"conn_table_size", v.conn_table_size},
                    {"services", v.services},
                    {"dests", v.dests},
                    {"connections", v.connections},
                    {"sync_daemons", std::move(daemons)}};
    root["fallback"] = fallback_json(st.fallback);
    return json::serialize(root) + "\n";
}

} // namespace

std::string status_text(const xlb::status_report& st) {
    if (st.ipvs) {
        return ipvs_status_text(st);
    }
    std::string o;
    auto out = std::back_inserter(o);
    head_text(out, st);
    if (st.fallback) {
        // Only with --backend xdp: auto would have opened kernel IPVS.
        fmt::format_to(out, "{}", fallback_text(*st.fallback));
    }
    const auto& p = st.program;
    fmt::format_to(out, "program: {}, id {}, tag {}, loaded {}\n", p.name, p.id, p.tag, utc(p.loaded_at_unix));
    fmt::format_to(out, "         {} verified instructions, {} bytes xlated, {} bytes jited\n", p.verified_insns,
                   p.xlated_bytes, p.jited_bytes);
    if (p.run_count != 0) {
        fmt::format_to(out, "         {} runs, {} ns in total\n", p.run_count, p.run_time_ns);
    }
    fmt::format_to(out, "interfaces:\n");
    if (st.interfaces.empty()) {
        fmt::format_to(out, "  (none in this network namespace; attach with `xlbctl attach IFACE`)\n");
    }
    for (const auto& i : st.interfaces) {
        // Forwarding off: the data path drops what it would forward (drop_fwd_disabled).
        std::string off, fix;
        for (auto [on, af, name] : {std::tuple{i.ipv4_forwarding, xlb::family::inet, "ipv4"},
                                    std::tuple{i.ipv6_forwarding, xlb::family::inet6, "ipv6"}}) {
            if (on && !*on) {
                off += off.empty() ? name : fmt::format(" {}", name);
                fix += fmt::format(" {}", xlb::forwarding_sysctl(i.name, af));
            }
        }
        fmt::format_to(out, "  {:<16} ifindex {:<5} {:<8} driver {}{}{}\n", i.name, i.ifindex, i.mode,
                       i.driver.empty() ? "unknown" : i.driver, i.tx_port ? "" : " (not in tx_ports)",
                       off.empty() ? "" : fmt::format(" (forwarding off: {})", off));
        if (!off.empty()) {
            fmt::format_to(out, "    packets for real servers are dropped (drop_fwd_disabled); sysctl -w{}\n", fix);
        }
    }
    fmt::format_to(out, "limits: {} services, {} dests, {} flows, {} embryonic, Maglev table {}\n", st.max_services,
                   st.max_dests, st.max_flows, st.max_embryonic, st.mh_size);
    // A full embryonic table is a flood (or a burst of new connections): it
    // churns there, and established flows are untouched in flows.
    fmt::format_to(out, "embryonic: {} of {} flows without a handshake yet ({:.1f}%){}\n", st.embryonic,
                   st.max_embryonic, embryonic_fill(st),
                   embryonic_fill(st) >= 90.0 ? "; full: new connections may lose their SYN's flow" : "");
    fmt::format_to(out, "path-MTU errors: {}; {} per second in all, {} at once\n",
                   st.icmp_ratelimit_ms
                       ? fmt::format("one per {} ms per client, 6 in a row", st.icmp_ratelimit_ms)
                       : std::string("no limit per client"),
                   st.icmp_msgs_per_sec, st.icmp_msgs_burst);
    fmt::format_to(out, "sweeper: {} sweeps so far\n", st.sweeps);
    fmt::format_to(out, "maps:         {:>10}   {:<10} {:>6}  {}\n", "used", "max", "fill", "type");
    for (const auto& m : st.maps) {
        if (m.used) {
            double pct = m.max_entries ? 100.0 * static_cast<double>(*m.used) / m.max_entries : 0.0;
            fmt::format_to(out, "  {:<12} {:>10} / {:<10} {:>5.1f}%  {}, {}\n", m.name, *m.used,
                           m.max_entries, pct, m.type, counted_text(m.counted));
        } else {
            fmt::format_to(out, "  {:<12} {:>10}   {:<10} {:>6}  {}\n", m.name, "-", m.max_entries, "", m.type);
        }
    }
    fmt::format_to(out, "verdicts:                          packets\n");
    uint64_t tx = 0, redirect = 0, pass = 0, drop = 0;
    for (const auto& r : st.reasons) {
        fmt::format_to(out, "  {:<20} {:<8} {:>12}  {}\n", r.name, r.verdict, r.packets, r.description);
        (r.verdict == "tx" ? tx : r.verdict == "redirect" ? redirect : r.verdict == "pass" ? pass : drop) += r.packets;
    }
    fmt::format_to(out, "  total: {} tx, {} redirect, {} pass, {} drop\n", tx, redirect, pass, drop);
    return o;
}

std::string status_json(const xlb::status_report& st) {
    if (st.ipvs) {
        return ipvs_status_json(st);
    }
    auto root = head_json(st);
    const auto& p = st.program;
    root["program"] = {{"id", p.id},
                       {"name", p.name},
                       {"tag", p.tag},
                       {"pinned_at", p.pinned_at},
                       {"verified_insns", p.verified_insns},
                       {"xlated_bytes", p.xlated_bytes},
                       {"jited_bytes", p.jited_bytes},
                       {"loaded_at", utc(p.loaded_at_unix)},
                       {"loaded_at_unix", p.loaded_at_unix},
                       {"run_count", p.run_count},
                       {"run_time_ns", p.run_time_ns}};
    json::array ifs;
    for (const auto& i : st.interfaces) {
        ifs.push_back(json::object{{"name", i.name},
                                   {"ifindex", i.ifindex},
                                   {"mode", i.mode},
                                   {"driver", i.driver.empty() ? json::value(nullptr) : json::value(i.driver)},
                                   {"tx_port", i.tx_port},
                                   {"ipv4_forwarding", opt_bool(i.ipv4_forwarding)},
                                   {"ipv6_forwarding", opt_bool(i.ipv6_forwarding)}});
    }
    root["interfaces"] = std::move(ifs);
    root["limits"] = {{"max_services", st.max_services},
                      {"max_dests", st.max_dests},
                      {"max_flows", st.max_flows},
                      {"max_embryonic", st.max_embryonic},
                      {"mh_size", st.mh_size},
                      {"icmp_ratelimit_ms", st.icmp_ratelimit_ms},
                      {"icmp_msgs_per_sec", st.icmp_msgs_per_sec},
                      {"icmp_msgs_burst", st.icmp_msgs_burst}};
    json::array maps;
    for (const auto& m : st.maps) {
        maps.push_back(json::object{{"name", m.name},
                                    {"type", m.type},
                                    {"id", m.id},
                                    {"key_size", m.key_size},
                                    {"value_size", m.value_size},
                                    {"max_entries", m.max_entries},
                                    {"used", m.used ? json::value(*m.used) : json::value(nullptr)},
                                    {"counted", m.used ? json::value(m.counted) : json::value(nullptr)},
                                    {"memlock_bytes", m.memlock_bytes}});
    }
    root["maps"] = std::move(maps);
    root["sweeper"] = {{"runs", st.sweeps}};
    root["embryonic"] = {{"used", st.embryonic},
                         {"max_entries", st.max_embryonic},
                         {"fill_percent", embryonic_fill(st)}};
    json::array reasons;
    json::object totals{{"tx", 0}, {"redirect", 0}, {"pass", 0}, {"drop", 0}};
    for (const auto& r : st.reasons) {
        reasons.push_back(json::object{{"name", r.name},
                                       {"verdict", r.verdict},
                                       {"packets", r.packets},
                                       {"description", r.description}});
        auto& t = totals[r.verdict];
        t = t.to_number<uint64_t>() + r.packets;
    }
    root["reasons"] = std::move(reasons);
    root["totals"] = std::move(totals);
    if (st.fallback) {
        root["fallback"] = fallback_json(st.fallback);
    }
    return json::serialize(root) + "\n";
}

} // namespace xlbctl
