#include <xlb/dataplane/dataplane.h>
#include <xlb/dataplane/fallback.h>
#include <xlb/dataplane/ipvs_dataplane.h>
#include <xlb/dataplane/memory_dataplane.h>
#include <xlb/dataplane/xdp_dataplane.h>

#include <algorithm>

namespace xlb {

bool capabilities::has(scheduler s) const noexcept {
    return std::find(schedulers.begin(), schedulers.end(), s) != schedulers.end();
}
bool capabilities::has(forwarding f) const noexcept {
    return std::find(methods.begin(), methods.end(), f) != methods.end();
}
bool capabilities::has(protocol p) const noexcept {
    return std::find(protocols.begin(), protocols.end(), p) != protocols.end();
}
bool capabilities::has(tun_type t) const noexcept { return std::find(tunnels.begin(), tunnels.end(), t) != tunnels.end(); }

uint32_t capabilities::max_dests(scheduler s) const noexcept {
    return scans_dests(s) ? max_dests_scanned : max_dests_hashed;
}

namespace {

std::string_view tun_name(tun_type t) noexcept {
    switch (t) {
    case tun_type::ipip:
        return "ipip";
    case tun_type::gue:
        return "gue";
    case tun_type::gre:
        return "gre";
    }
    return "?";
}

std::string_view method_name(forwarding f) noexcept {
    switch (f) {
    case forwarding::dr:
        return "direct routing (-g)";
    case forwarding::tun:
        return "tunnelling (-i)";
    case forwarding::nat:
        return "masquerading (-m)";
    }
    return "?";
}

} // namespace

result<> capabilities::check(const service_config& s) const {
    if (s.key.is_fwmark()) {
        if (!fwmark_services) {
            return make_error(EOPNOTSUPP,
                              "fwmark services (-f) need netfilter marks, which do not exist at XDP time; use "
                              "--backend ipvs");
        }
    } else if (!has(s.key.proto)) {
        return make_error(EOPNOTSUPP, "{} services are not balanced by the {} backend; use --backend ipvs",
                          to_string(s.key.proto), backend);
    }
    if (!has(s.sched)) {
        if (s.sched == scheduler::lblc || s.sched == scheduler::lblcr) {
            return make_error(EOPNOTSUPP,
                              "scheduler '{}' is refused by the {} backend: locality-based schedulers need a "
                              "per-destination-address table the data path does not keep",
                              to_string(s.sched), backend);
        }
        return make_error(EOPNOTSUPP, "scheduler '{}' is not implemented by the {} backend", to_string(s.sched),
                          backend);
    }
    if (!s.pe_name.empty() &&
        std::find(persistence_engines.begin(), persistence_engines.end(), s.pe_name) == persistence_engines.end()) {
        return make_error(EOPNOTSUPP, "persistence engine '{}' is not implemented by the {} backend", s.pe_name,
                          backend);
    }
    return {};
}

result<> capabilities::check(const dest_config& d) const {
    if (!has(d.fwd)) {
        return make_error(EOPNOTSUPP, "{} is not implemented by the {} backend", method_name(d.fwd), backend);
    }
    if (d.fwd == forwarding::tun && !has(d.tunnel)) {
        return make_error(EOPNOTSUPP, "{} tunnels (--tun-type {}) are not implemented by the {} backend",
                          d.tunnel == tun_type::gre ? "GRE" : tun_name(d.tunnel), tun_name(d.tunnel), backend);
    }
    return {};
}

result<std::vector<reason_report>> dataplane::verdicts() const {
    return make_error(EOPNOTSUPP, "the {} backend keeps no verdict counters", caps().backend);
}

result<status_report> dataplane::report() const {
    return make_error(EOPNOTSUPP, "the {} backend has no status report", caps().backend);
}

error no_sync_daemon() {
    return error{EOPNOTSUPP, "xlb does not run IPVS's sync daemon; several xlb instances share no state (see README)"};
}

result<> dataplane::start_sync_daemon(const sync_daemon&) {
    return make_error(EOPNOTSUPP, "the {} backend runs no sync daemon", caps().backend);
}

result<> dataplane::stop_sync_daemon(sync_state) {
    return make_error(EOPNOTSUPP, "the {} backend runs no sync daemon", caps().backend);
}

result<std::vector<sync_daemon>> dataplane::list_sync_daemons() const {
    return make_error(EOPNOTSUPP, "the {} backend runs no sync daemon", caps().backend);
}

namespace {

result<std::unique_ptr<dataplane>> open_xdp(const open_options& opts) {
    auto dp = xdp_dataplane::open(resolve_pin_dir(opts.pin_dir));
    if (!dp) {
        return dp.error();
    }
    if (opts.lock_wait) {
        dp->set_lock_wait(*opts.lock_wait);
    }
    dp->set_neigh_wait(opts.neigh_wait);
    // The XDP backend checks every change set against memory_dataplane itself.
    return std::make_unique<xdp_dataplane>(std::move(*dp));
}

result<std::unique_ptr<dataplane>> open_ipvs() {
    // Kernel IPVS checks and applies every change set itself; the backend
    // pre-checks each set against memory_dataplane seeded from a dump.
    auto dp = ipvs_dataplane::open();
    if (!dp) {
        return dp.error();
    }
    return std::make_unique<ipvs_dataplane>(std::move(*dp));
}

} // namespace

result<selected_dataplane> select_dataplane(std::string_view backend, const open_options& opts) {
    auto pin_dir = resolve_pin_dir(opts.pin_dir);
    auto xdp_reason = [&] { return fmt::format("pinned data path found at {}", pin_dir); };
    if (backend == "xdp") {
        auto dp = open_xdp(opts);
        if (!dp) {
            return dp.error();
        }
        return selected_dataplane{std::move(*dp), "xdp", xdp_reason()};
    }
    if (backend == "memory") {
        return selected_dataplane{std::make_unique<memory_dataplane>(), "memory", "the in-memory reference model"};
    }
    if (backend == "ipvs") {
        auto dp = open_ipvs();
        if (!dp) {
            return dp.error();
        }
        return selected_dataplane{std::move(*dp), "ipvs", "kernel IPVS found (the IPVS generic netlink family)"};
    }
    if (backend == "auto") {
        // An instance in fallback: its table is the one kernel IPVS serves.
        auto rec = read_fallback(pin_dir);
        if (!rec) {
            return rec.error();
        }
        if (*rec) {
            const auto& f = **rec;
            auto ipvs = open_ipvs();
            if (!ipvs) {
                auto e = ipvs.error();
                e.context = fmt::format("the instance at {} is served by kernel IPVS since `xlbctl attach {}` "
                                        "found no native XDP ({}), but {}",
                                        pin_dir, f.ifname, fallback_path(pin_dir), e.context);
                return e;
            }
            return selected_dataplane{std::move(*ipvs), "ipvs",
                                      fmt::format("fallback: native XDP is not available on {} ({}); the table "
                                                  "of {} is served by kernel IPVS",
                                                  f.ifname, f.reason, pin_dir)};
        }
        // The XDP data path where it is loaded, else kernel IPVS.
        auto xdp = open_xdp(opts);
        if (xdp) {
            return selected_dataplane{std::move(*xdp), "xdp", xdp_reason()};
        }
        if (xdp.error().code != ENOENT) {
            return xdp.error();
        }
        auto ipvs = open_ipvs();
        if (ipvs) {
            return selected_dataplane{std::move(*ipvs), "ipvs",
                                      fmt::format("no xlb instance at {}; kernel IPVS found", pin_dir)};
        }
        auto e = ipvs.error();
        e.context = fmt::format("no XDP data path ({}), and {}", xdp.error().context, e.context);
        return e;
    }
    return make_error(EINVAL, "unknown backend '{}' (xdp, ipvs, memory or auto)", backend);
}

result<std::unique_ptr<dataplane>> open_dataplane(std::string_view backend, const open_options& opts) {
    auto s = select_dataplane(backend, opts);
    if (!s) {
        return s.error();
    }
    return std::move(s->dp);
}

} // namespace xlb
