#include "xdp_commands.h"

#include <xlb/dataplane/fallback.h>
#include <xlb/dataplane/neigh.h>
#include <xlb/dataplane/status.h>
#include <xlb/dataplane/xdp_dataplane.h>
#include <xlb/util/log.h>

#include <fmt/format.h>

#include <charconv>
#include <cstdint>
#include <chrono>
#include <csignal>

namespace xlbctl {

namespace {

uint32_t parse_size(const std::string& opt, const std::string& v) {
    uint32_t n = 0;
    auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
    if (v.empty() || ec != std::errc() || p != v.data() + v.size() || n == 0) {
        throw cli_error(fmt::format("xlbctl: {} needs a positive integer, not '{}'", opt, v), 2);
    }
    return n;
}

// A sysctl-like count: 0 up to INT_MAX, as the kernel's int sysctls.
uint32_t parse_count(const std::string& opt, const std::string& v) {
    uint32_t n = 0;
    auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
    if (v.empty() || ec != std::errc() || p != v.data() + v.size() || n > INT32_MAX) {
        throw cli_error(fmt::format("xlbctl: {} needs an integer from 0 to {}, not '{}'", opt, INT32_MAX, v), 2);
    }
    return n;
}

volatile std::sig_atomic_t g_stop = 0;

} // namespace

xlb::xdp_dataplane open_xdp_or_die(const globals& g) {
    auto dp = xlb::xdp_dataplane::open(xlb::resolve_pin_dir(g.pin_dir));
    if (!dp) {
        throw cli_error(fmt::format("xlbctl: {}", dp.error().message()), 255);
    }
    if (g.lock_wait) {
        dp->set_lock_wait(*g.lock_wait);
    }
    return std::move(*dp);
}

int cmd_load(const globals& g, const std::vector<std::string>& args) {
    xlb::load_options o;
    for (size_t i = 0; i < args.size(); ++i) {
        const auto& a = args[i];
        if (i + 1 >= args.size()) {
            throw cli_error(fmt::format("xlbctl load: unknown or incomplete option '{}'", a), 2);
        }
        if (a == "--max-services") {
            o.max_services = parse_size(a, args[++i]);
        } else if (a == "--max-dests") {
            o.max_dests = parse_size(a, args[++i]);
        } else if (a == "--max-flows") {
            o.max_flows = parse_size(a, args[++i]);
        } else if (a == "--mh-size") {
            o.mh_size = parse_size(a, args[++i]);
        } else if (a == "--max-embryonic") {
            o.max_embryonic = parse_size(a, args[++i]);
        } else if (a == "--icmp-ratelimit") {
            o.icmp_ratelimit_ms = parse_count(a, args[++i]);
        } else if (a == "--icmp-msgs-per-sec") {
            o.icmp_msgs_per_sec = parse_count(a, args[++i]);
        } else if (a == "--icmp-msgs-burst") {
            o.icmp_msgs_burst = parse_count(a, args[++i]);
        } else {
            throw cli_error(fmt::format("xlbctl load: unknown option '{}'", a), 2);
        }
    }
    auto dir = xlb::resolve_pin_dir(g.pin_dir);
    auto dp = xlb::xdp_dataplane::load(dir, o, g.lock_wait);
    if (!dp) {
        throw cli_error(fmt::format("xlbctl: {}", dp.error().message()), 1);
    }
    fmt::print("loaded xlb at {} (services {}, dests {}, flows {}, embryonic {}, Maglev table {}, "
               "path-MTU errors {} ms per client, {}/s, burst {})\n",
               dir, o.max_services, o.max_dests, o.max_flows, xlb::embryonic_size(o), o.mh_size,
               o.icmp_ratelimit_ms, o.icmp_msgs_per_sec, o.icmp_msgs_burst);
    return 0;
}

int cmd_detach(const globals& g, const std::vector<std::string>& args) {
    if (args.size() != 1 || args[0].empty() || args[0][0] == '-') {
        throw cli_error("xlbctl detach: usage: xlbctl detach IFACE", 2);
    }
    auto dp = open_xdp_or_die(g);
    if (auto r = dp.detach(args[0]); !r) {
        throw cli_error(fmt::format("xlbctl: {}", r.error().message()), 1);
    }
    return 0;
}

int cmd_unload(const globals& g, const std::vector<std::string>& args) {
    if (!args.empty()) {
        throw cli_error("xlbctl unload: takes no arguments", 2);
    }
    auto dir = xlb::resolve_pin_dir(g.pin_dir);
    if (auto r = xlb::xdp_dataplane::unload(dir, g.lock_wait); !r) {
        throw cli_error(fmt::format("xlbctl: {}", r.error().message()), 1);
    }
    // The instance is gone: so is its fallback record. Kernel IPVS keeps
    // the table it serves (`xlbctl --backend ipvs -C` empties it).
    if (auto rec = xlb::read_fallback(dir); rec && *rec) {
        if (auto r = xlb::remove_fallback(dir); !r) {
            throw cli_error(fmt::format("xlbctl: unloaded, but {}", r.error().message()), 1);
        }
        fmt::print("unloaded {}; kernel IPVS keeps serving the table it took over at the fallback on {}\n", dir,
                   (*rec)->ifname);
    }
    return 0;
}

// Drains the data path's unresolved-next-hop events and asks the kernel to
// resolve each; with --follow, keeps doing so until SIGINT/SIGTERM.
int cmd_resolve(const globals& g, const std::vector<std::string>& args) {
    bool follow = false;
    for (const auto& a : args) {
        if (a == "--follow") {
            follow = true;
        } else {
            throw cli_error(fmt::format("xlbctl resolve: unexpected argument '{}' (usage: xlbctl resolve [--follow])", a),
                            2);
        }
    }
    auto dp = open_xdp_or_die(g);
    std::signal(SIGINT, [](int) { g_stop = 1; });
    std::signal(SIGTERM, [](int) { g_stop = 1; });
    size_t total = 0;
    do {
        auto n = dp.resolve_pending_neighbours(std::chrono::milliseconds(follow ? 1000 : 100));
        if (!n) {
            throw cli_error(fmt::format("xlbctl: {}", n.error().message()), 1);
        }
        total += *n;
    } while (follow && !g_stop);
    fmt::print("requested resolution of {} next hop(s)\n", total);
    return 0;
}


} // namespace xlbctl
