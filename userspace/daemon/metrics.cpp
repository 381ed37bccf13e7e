#include <xlb/daemon/metrics.h>
#include <xlb/daemon/table_join.h>

#include <fmt/format.h>

#include <chrono>
#include <cmath>
#include <cstdint>
#include <string_view>
#include <unordered_map>
#include <utility>

namespace xlb::daemon {

std::string escape_label_value(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    for (char c : s) {
        if (c == '\\') {
            out += "\\\\";
        } else if (c == '"') {
            out += "\\\"";
        } else if (c == '\n') {
            out += "\\n";
        } else {
            out += c;
        }
    }
    return out;
}

std::string escape_help(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    for (char c : s) {
        if (c == '\\') {
            out += "\\\\";
        } else if (c == '\n') {
            out += "\\n";
        } else {
            out += c;
        }
    }
    return out;
}

namespace {

using label_set = std::vector<std::pair<std::string_view, std::string>>;

struct family_spec {
    std::string_view name;
    std::string_view type; // "counter" or "gauge"
    std::string_view help;
};

// Every family, in output order. Counters end in _total.
constexpr family_spec families[] = {
    {"xlb_daemon_info", "gauge", "The running xlbd: its backend and configuration file (always 1)."},
    {"xlb_daemon_start_time_seconds", "gauge", "When xlbd started, in seconds since the Unix epoch."},
    {"xlb_daemon_reloads_total", "counter", "Configuration reloads (SIGHUP) that took effect."},
    {"xlb_daemon_reload_failures_total", "counter", "Configuration reloads refused (the old configuration stayed)."},
    {"xlb_daemon_last_reload_timestamp_seconds", "gauge", "When the configuration was last reloaded (0: never)."},
    {"xlb_datapath_packets_total", "counter", "Packets the data path gave a verdict, by reason and verdict."},

    {"xlb_service_in_table", "gauge", "Whether the virtual service is in the data path's table."},
    {"xlb_service_quorum_up", "gauge", "Whether the virtual service has its quorum of healthy real servers."},
    {"xlb_service_quorum", "gauge", "The weight of healthy real servers the virtual service needs (keepalived's quorum)."},
    {"xlb_service_connections_total", "counter", "Connections scheduled for the virtual service."},
    {"xlb_service_packets_total", "counter", "Packets of the virtual service, by direction (in: from clients)."},
    {"xlb_service_bytes_total", "counter", "Bytes of the virtual service, by direction (in: from clients)."},
    {"xlb_service_connections_per_second", "gauge", "New connections per second, IPVS's estimate over about 8 s."},
    {"xlb_service_packets_per_second", "gauge", "Packets per second by direction, IPVS's estimate over about 8 s."},
    {"xlb_service_bytes_per_second", "gauge", "Bytes per second by direction, IPVS's estimate over about 8 s."},

    {"xlb_real_in_table", "gauge", "Whether the real server is in the data path's table."},
    {"xlb_real_up", "gauge", "Whether every health check of the real server passes (1) or not (0)."},
    {"xlb_real_draining", "gauge", "Whether the real server is draining (weight 0 until its drain time ends)."},
    {"xlb_real_sorry_server", "gauge", "Whether the real server is the virtual service's sorry server."},
    {"xlb_real_configured_weight", "gauge", "The real server's weight as configured."},
    {"xlb_real_weight", "gauge", "The real server's weight in the table now (what xlbd last set if not in it)."},
    {"xlb_real_transitions_total", "counter", "Times the real server went up or down."},
    {"xlb_real_last_transition_timestamp_seconds", "gauge",
     "When the real server last went up or down, in seconds since the Unix epoch."},
    {"xlb_real_connections_total", "counter", "Connections scheduled to the real server."},
    {"xlb_real_packets_total", "counter", "Packets of the real server, by direction (in: from clients)."},
    {"xlb_real_bytes_total", "counter", "Bytes of the real server, by direction (in: from clients)."},
    {"xlb_real_active_connections", "gauge", "The real server's active connections (ESTABLISHED)."},
    {"xlb_real_inactive_connections", "gauge", "The real server's inactive connections (handshake, closing, UDP)."},
    {"xlb_real_persistent_connections", "gauge", "The real server's persistence templates."},
    {"xlb_real_connections_per_second", "gauge", "New connections per second, IPVS's estimate over about 8 s."},
    {"xlb_real_packets_per_second", "gauge", "Packets per second by direction, IPVS's estimate over about 8 s."},
    {"xlb_real_bytes_per_second", "gauge", "Bytes per second by direction, IPVS's estimate over about 8 s."},

    {"xlb_check_up", "gauge", "Whether the health checker's last verdict is up (1) or down (0)."},
    {"xlb_check_latency_seconds", "gauge", "How long the checker's last attempt took."},
    {"xlb_checks_total", "counter", "Attempts the health checker made."},
    {"xlb_check_failures_total", "counter", "Attempts of the health checker that failed."},
    {"xlb_check_transitions_total", "counter", "Times the health checker's verdict changed."},
    {"xlb_check_last_run_timestamp_seconds", "gauge",
     "When the checker last ran, in seconds since the Unix epoch."},
};

// Samples grouped by family, so each family's lines stay together whatever
// order they are added in.
class exposition {
public:
    exposition() {
        for (const auto& f : families) {
            _index.emplace(f.name, _bodies.size());
            _bodies.emplace_back();
        }
    }

    void add(std::string_view name, const label_set& labels, uint64_t value) {
        line(name, labels, fmt::format("{}", value));
    }
    void add(std::string_view name, const label_set& labels, double value) {
        if (std::isnan(value)) {
            line(name, labels, "NaN");
        } else if (std::isinf(value)) {
            line(name, labels, value > 0 ? "+Inf" : "-Inf");
        } else {
            line(name, labels, fmt::format("{}", value));
        }
    }
    void add(std::string_view name, const label_set& labels, bool value) {
        add(name, labels, uint64_t{value ? 1u : 0u});
    }
    void add(std::string_view name, const label_set& labels, int64_t value) {
        line(name, labels, fmt::format("{}", value));
    }

    [[nodiscard]] std::string str() const {
        std::string out;
        for (size_t i = 0; i < std::size(families); ++i) {
            if (_bodies[i].empty()) {
                continue;
            }
            const auto& f = families[i];
            out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", f.name, escape_help(f.help), f.name, f.type);
            out += _bodies[i];
        }
        return out;
    }

private:
    void line(std::string_view name, const label_set& labels, std::string_view value) {
        auto& body = _bodies.at(_index.at(name));
        body += name;
        if (!labels.empty()) {
            body += '{';
            bool first = true;
            for (const auto& [k, v] : labels) {
                if (!first) {
                    body += ',';
                }
                first = false;
                body += k;
                body += "=\"";
                body += escape_label_value(v);
                body += '"';
            }
            body += '}';
        }
        body += ' ';
        body += value;
        body += '\n';
    }

    std::unordered_map<std::string_view, size_t> _index;
    std::vector<std::string> _bodies;
};

double unix_seconds(std::chrono::system_clock::time_point t) {
    return std::chrono::duration<double>(t.time_since_epoch()).count();
}

bool is_set(std::chrono::system_clock::time_point t) {
    return t.time_since_epoch().count() != 0;
}

label_set service_labels(const service_key& k) {
    return {{"service", service_label(k)},
            {"protocol", protocol_label(k)},
            {"vip", k.vip.addr.to_string()},
            {"port", fmt::format("{}", k.is_fwmark() ? 0 : k.vip.port)},
            {"fwmark", fmt::format("{}", k.fwmark)}};
}

label_set with(label_set base, std::string_view name, std::string value) {
    base.emplace_back(name, std::move(value));
    return base;
}

void add_traffic(exposition& e, std::string_view prefix, const label_set& l, const counters& c, const rates& r) {
    auto in = with(l, "direction", "in");
    auto out = with(l, "direction", "out");
    auto n = [&](std::string_view suffix) { return fmt::format("{}_{}", prefix, suffix); };
    e.add(n("connections_total"), l, c.conns);
    e.add(n("packets_total"), in, c.inpkts);
    e.add(n("packets_total"), out, c.outpkts);
    e.add(n("bytes_total"), in, c.inbytes);
    e.add(n("bytes_total"), out, c.outbytes);
    e.add(n("connections_per_second"), l, r.cps);
    e.add(n("packets_per_second"), in, r.inpps);
    e.add(n("packets_per_second"), out, r.outpps);
    e.add(n("bytes_per_second"), in, r.inbps);
    e.add(n("bytes_per_second"), out, r.outbps);
}

void add_check(exposition& e, const label_set& real, size_t index, const checker_view& c) {
    auto l = with(with(real, "checker", c.kind), "check", fmt::format("{}", index));
    e.add("xlb_check_up", l, c.up);
    e.add("xlb_check_latency_seconds", l, std::chrono::duration<double>(c.last_latency).count());
    e.add("xlb_checks_total", l, c.checks);
    e.add("xlb_check_failures_total", l, c.failures);
    e.add("xlb_check_transitions_total", l, c.transitions);
    if (is_set(c.last_check)) {
        e.add("xlb_check_last_run_timestamp_seconds", l, unix_seconds(c.last_check));
    }
}

void add_real(exposition& e, const label_set& svc, const joined_real& r) {
    auto l = with(svc, "real", r.addr.to_string());
    e.add("xlb_real_in_table", l, r.table != nullptr);
    if (r.table) {
        const auto& d = *r.table;
        add_traffic(e, "xlb_real", l, d.stats, d.rate);
        e.add("xlb_real_active_connections", l, uint64_t{d.active_conns});
        e.add("xlb_real_inactive_connections", l, uint64_t{d.inactive_conns});
        e.add("xlb_real_persistent_connections", l, uint64_t{d.persist_conns});
        e.add("xlb_real_weight", l, int64_t{d.config.weight});
    } else if (r.health) {
        e.add("xlb_real_weight", l, int64_t{r.health->weight});
    }
    if (!r.health) {
        return;
    }
    const auto& h = *r.health;
    e.add("xlb_real_up", l, h.up);
    e.add("xlb_real_draining", l, h.draining);
    e.add("xlb_real_sorry_server", l, h.sorry);
    e.add("xlb_real_configured_weight", l, int64_t{h.config_weight});
    e.add("xlb_real_transitions_total", l, h.transitions);
    if (is_set(h.last_transition)) {
        e.add("xlb_real_last_transition_timestamp_seconds", l, unix_seconds(h.last_transition));
    }
    for (size_t i = 0; i < h.checkers.size(); ++i) {
        add_check(e, l, i, h.checkers[i]);
    }
}

void add_daemon(exposition& e, const view& v) {
    e.add("xlb_daemon_info", {{"backend", v.backend}, {"config_file", v.config_file}}, uint64_t{1});
    e.add("xlb_daemon_start_time_seconds", {}, unix_seconds(v.started));
    e.add("xlb_daemon_reloads_total", {}, v.reloads);
    e.add("xlb_daemon_reload_failures_total", {}, v.reload_failures);
    e.add("xlb_daemon_last_reload_timestamp_seconds", {}, is_set(v.last_reload) ? unix_seconds(v.last_reload) : 0.0);
}

} // namespace

std::string render_metrics(const view& v, const std::vector<service_state>& table,
                           const std::vector<reason_report>* verdicts) {
    exposition e;
    add_daemon(e, v);
    if (verdicts) {
        for (const auto& r : *verdicts) {
            e.add("xlb_datapath_packets_total", {{"reason", r.name}, {"verdict", r.verdict}}, r.packets);
        }
    }
    for (const auto& s : join_table(v, table)) {
        auto l = service_labels(s.key);
        e.add("xlb_service_in_table", l, s.table != nullptr);
        if (s.table) {
            add_traffic(e, "xlb_service", l, s.table->stats, s.table->rate);
        }
        if (s.health) {
            e.add("xlb_service_quorum_up", l, s.health->quorum_up);
            e.add("xlb_service_quorum", l, uint64_t{s.health->quorum});
        }
        for (const auto& r : s.reals) {
            add_real(e, l, r);
        }
    }
    return e.str();
}

} // namespace xlb::daemon
