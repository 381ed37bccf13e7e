// xlbctl: ipvsadm's grammar and output for xlb, plus the xlb subcommands
// load, attach, detach, unload, status. Global options come first.

#include <xlb/dataplane/neigh.h>
#include <xlb/dataplane/status.h>
#include <xlb/dataplane/xdp_dataplane.h>
#include <xlb/ipvsadm/command.h>
#include <xlb/util/log.h>

#include "list_json.h"
#include "status.h"

#include <fmt/format.h>

#include <charconv>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <iostream>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace {

struct cli_error : std::runtime_error {
    int code;
    cli_error(const std::string& m, int c) : std::runtime_error(m), code(c) {}
};

struct globals {
    std::string pin_dir;
    std::string backend; // --backend, else $XLB_BACKEND, else xdp
    std::string backend_from = "--backend"; // or "XLB_BACKEND" or "default"
    bool json = false;                       // --json
    std::optional<std::chrono::milliseconds> lock_wait; // --lock-wait MS, else $XLB_LOCK_WAIT_MS, else 10 s
    std::string prog = "xlbctl";             // basename(argv[0]): "ipvsadm" through a link so named
};

uint32_t parse_size(const std::string& opt, const std::string& v) {
    uint32_t n = 0;
    auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
    if (v.empty() || ec != std::errc() || p != v.data() + v.size() || n == 0) {
        throw cli_error(fmt::format("xlbctl: {} needs a positive integer, not '{}'", opt, v), 2);
    }
    return n;
}

std::chrono::milliseconds parse_ms(const std::string& opt, const std::string& v) {
    uint32_t n = 0;
    auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
    if (v.empty() || ec != std::errc() || p != v.data() + v.size()) {
        throw cli_error(fmt::format("xlbctl: {} needs a number of milliseconds, not '{}'", opt, v), 2);
    }
    return std::chrono::milliseconds(n);
}

xlb::xdp_dataplane open_or_die(const globals& g) {
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
        } else {
            throw cli_error(fmt::format("xlbctl load: unknown option '{}'", a), 2);
        }
    }
    auto dir = xlb::resolve_pin_dir(g.pin_dir);
    auto dp = xlb::xdp_dataplane::load(dir, o, g.lock_wait);
    if (!dp) {
        throw cli_error(fmt::format("xlbctl: {}", dp.error().message()), 1);
    }
    fmt::print("loaded xlb at {} (services {}, dests {}, flows {}, Maglev table {})\n", dir, o.max_services,
               o.max_dests, o.max_flows, o.mh_size);
    return 0;
}

int cmd_attach(const globals& g, const std::vector<std::string>& args) {
    std::string iface;
    xlb::xdp_mode mode = xlb::xdp_mode::native;
    for (size_t i = 0; i < args.size(); ++i) {
        if (args[i] == "--xdp-mode") {
            if (i + 1 >= args.size()) {
                throw cli_error("xlbctl attach: --xdp-mode needs native or generic", 2);
            }
            const auto& m = args[++i];
            if (m == "native") {
                mode = xlb::xdp_mode::native;
            } else if (m == "generic") {
                mode = xlb::xdp_mode::generic;
            } else {
                throw cli_error(fmt::format("xlbctl attach: --xdp-mode is native or generic, not '{}'", m), 2);
            }
        } else if (iface.empty() && args[i][0] != '-') {
            iface = args[i];
        } else {
            throw cli_error(fmt::format("xlbctl attach: unexpected argument '{}'", args[i]), 2);
        }
    }
    if (iface.empty()) {
        throw cli_error("xlbctl attach: which interface? usage: xlbctl attach IFACE [--xdp-mode native|generic]", 2);
    }
    auto dp = open_or_die(g);
    if (auto r = dp.attach(iface, mode); !r) {
        throw cli_error(fmt::format("xlbctl: {}", r.error().message()), 1);
    }
    // Attached all the same: forwarding may be turned on afterwards.
    for (auto [af, name] : {std::pair{xlb::family::inet, "IPv4"}, std::pair{xlb::family::inet6, "IPv6"}}) {
        if (auto on = xlb::interface_forwarding(iface, af); on && !*on) {
            xlb::log::warn("{} forwarding is off on {}: every {} packet for a real server arriving there is dropped "
                           "(drop_fwd_disabled); turn it on with `sysctl -w {}`",
                           name, iface, name, xlb::forwarding_sysctl(iface, af));
        }
    }
    return 0;
}

int cmd_detach(const globals& g, const std::vector<std::string>& args) {
    if (args.size() != 1 || args[0].empty() || args[0][0] == '-') {
        throw cli_error("xlbctl detach: usage: xlbctl detach IFACE", 2);
    }
    auto dp = open_or_die(g);
    if (auto r = dp.detach(args[0]); !r) {
        throw cli_error(fmt::format("xlbctl: {}", r.error().message()), 1);
    }
    return 0;
}

int cmd_unload(const globals& g, const std::vector<std::string>& args) {
    if (!args.empty()) {
        throw cli_error("xlbctl unload: takes no arguments", 2);
    }
    if (auto r = xlb::xdp_dataplane::unload(xlb::resolve_pin_dir(g.pin_dir), g.lock_wait); !r) {
        throw cli_error(fmt::format("xlbctl: {}", r.error().message()), 1);
    }
    return 0;
}

int cmd_status(const globals& g, const std::vector<std::string>& args) {
    if (!args.empty()) {
        throw cli_error(fmt::format("xlbctl status: unexpected argument '{}' (usage: xlbctl [--json] status)", args[0]),
                        2);
    }
    auto dir = xlb::resolve_pin_dir(g.pin_dir);
    auto dp = xlb::xdp_dataplane::open(dir);
    if (!dp) {
        throw cli_error(fmt::format("xlbctl status: backend xdp has no data path: {}", dp.error().message()), 255);
    }
    auto st = dp->report();
    if (!st) {
        throw cli_error(fmt::format("xlbctl status: {}", st.error().message()), 1);
    }
    st->backend.selected_by = g.backend_from;
    std::fputs((g.json ? xlbctl::status_json(*st) : xlbctl::status_text(*st)).c_str(), stdout);
    return 0;
}

volatile std::sig_atomic_t g_stop = 0;

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
    auto dp = open_or_die(g);
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

int run_ipvsadm(const globals& g, const std::vector<std::string>& args) {
    auto parsed = xlb::ipvsadm::parse(args, g.prog);
    if (auto* e = std::get_if<xlb::ipvsadm::usage_error>(&parsed)) {
        throw cli_error(e->message, e->exit_code);
    }
    const auto& cmd = std::get<xlb::ipvsadm::command>(parsed);
    if (g.json) {
        // Refused before the instance is even opened: nothing changes.
        if (auto why = xlbctl::json_refusal(cmd)) {
            throw cli_error(*why, 2);
        }
        auto dp = open_or_die(g);
        auto o = xlbctl::execute_json(cmd, dp);
        std::fputs(o.out.c_str(), stdout);
        std::fputs(o.err.c_str(), stderr);
        return o.exit_code;
    }
    if (cmd.what == xlb::ipvsadm::op::help) {
        fmt::print("{}", xlb::ipvsadm::usage(g.prog));
        return 0;
    }
    if (cmd.what == xlb::ipvsadm::op::version) {
        fmt::print("{}", xlb::ipvsadm::version_line(g.prog));
        return 0;
    }
    std::vector<xlb::ipvsadm::command> cmds;
    std::optional<xlb::ipvsadm::outcome> o;
    if (cmd.what == xlb::ipvsadm::op::restore) {
        auto script = xlb::ipvsadm::parse_script(std::cin, g.prog);
        if (auto* e = std::get_if<xlb::ipvsadm::usage_error>(&script)) {
            throw cli_error(e->message, e->exit_code);
        }
        auto& lines = std::get<std::vector<xlb::ipvsadm::script_line>>(script);
        auto dp = open_or_die(g);
        o = xlb::ipvsadm::apply_script(lines, dp);
        for (auto& l : lines) {
            cmds.push_back(std::move(l.cmd));
        }
    } else {
        auto dp = open_or_die(g);
        o = xlb::ipvsadm::execute(cmd, dp);
        cmds.push_back(cmd);
    }
    std::fputs(o->out.c_str(), stdout);
    std::fputs(o->err.c_str(), stderr);
    // Keep the neighbours of new and edited dests resolved: XDP does not.
    // All at once, with one bounded wait, and one line for what stays unresolved.
    std::vector<xlb::ip_address> dsts;
    for (const auto& c : cmds) {
        if (o->exit_code == 0 && c.dest &&
            (c.what == xlb::ipvsadm::op::add_dest || c.what == xlb::ipvsadm::op::edit_dest)) {
            dsts.push_back(c.dest->addr);
        }
    }
    if (!dsts.empty()) {
        const std::chrono::milliseconds wait(1000);
        if (auto r = xlb::neigh::resolve_all(dsts, wait); !r) {
            xlb::log::warn("{}", r.error().message());
        } else if (auto line = xlb::neigh::describe_unresolved(*r, wait); !line.empty()) {
            xlb::log::warn("{}", line);
        }
    }
    return o->exit_code;
}

int run(const std::vector<std::string>& argv, const std::string& prog) {
    globals g;
    g.prog = prog;
    size_t i = 0;
    for (; i < argv.size(); ++i) {
        const auto& a = argv[i];
        auto value = [&](const char* name) {
            if (i + 1 >= argv.size()) {
                throw cli_error(fmt::format("xlbctl: {} needs a value", name), 2);
            }
            return argv[++i];
        };
        if (a == "--pin-dir") {
            g.pin_dir = value("--pin-dir");
        } else if (a.rfind("--pin-dir=", 0) == 0) {
            g.pin_dir = a.substr(10);
        } else if (a == "--backend") {
            g.backend = value("--backend");
        } else if (a.rfind("--backend=", 0) == 0) {
            g.backend = a.substr(10);
        } else if (a == "--json") {
            g.json = true;
        } else if (a == "--lock-wait") {
            g.lock_wait = parse_ms("--lock-wait", value("--lock-wait"));
        } else if (a.rfind("--lock-wait=", 0) == 0) {
            g.lock_wait = parse_ms("--lock-wait", a.substr(12));
        } else {
            break;
        }
    }
    if (g.backend.empty()) {
        const char* env = std::getenv("XLB_BACKEND");
        g.backend = env && *env ? env : "xdp";
        g.backend_from = env && *env ? "XLB_BACKEND" : "default";
    }
    if (g.backend != "xdp") {
        throw cli_error(fmt::format("xlbctl: --backend {} is not available yet; only xdp is", g.backend), 2);
    }
    std::vector<std::string> rest(argv.begin() + static_cast<long>(i), argv.end());
    if (g.json && !rest.empty() && !rest[0].empty() && rest[0][0] != '-' && rest[0] != "status") {
        throw cli_error("xlbctl: --json works only with `xlbctl status` and the listings (-L, -l)", 2);
    }
    if (!rest.empty() && !rest[0].empty() && rest[0][0] != '-') {
        std::string sub = rest[0];
        std::vector<std::string> args(rest.begin() + 1, rest.end());
        if (sub == "load") {
            return cmd_load(g, args);
        }
        if (sub == "attach") {
            return cmd_attach(g, args);
        }
        if (sub == "detach") {
            return cmd_detach(g, args);
        }
        if (sub == "unload") {
            return cmd_unload(g, args);
        }
        if (sub == "status") {
            return cmd_status(g, args);
        }
        if (sub == "resolve") {
            return cmd_resolve(g, args);
        }
        if (g.prog == "ipvsadm") {
            return run_ipvsadm(g, rest); // ipvsadm's answer to a word that is no option
        }
        throw cli_error(fmt::format("{0}: unknown command '{1}'. Try `{0} -h' or '{0} --help' for more "
                                    "information.",
                                    g.prog, sub),
                        2);
    }
    return run_ipvsadm(g, rest);
}

} // namespace

int main(int argc, char** argv) {
    // Messages name the program as it was called: ipvsadm through a link.
    std::string prog = argc > 0 && argv[0][0] ? argv[0] : "xlbctl";
    prog = prog.substr(prog.rfind('/') + 1);
    if (prog.empty()) {
        prog = "xlbctl";
    }
    try {
        return run(std::vector<std::string>(argv + 1, argv + argc), prog);
    } catch (const cli_error& e) {
        fmt::print(stderr, "{}\n", e.what());
        return e.code;
    } catch (const std::exception& e) {
        fmt::print(stderr, "{}: {}\n", prog, e.what());
        return 1;
    }
}
