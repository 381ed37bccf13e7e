// xlbctl: ipvsadm's grammar and output for xlb, plus the xlb subcommands
// load, attach, detach, unload, status, resolve, checks. Global options come first.
// Everything here talks to the table through dataplane& only; the XDP-only
// subcommands live in xdp_commands.cpp.

#include <xlb/daemon/control.h>
#include <xlb/dataplane/dataplane.h>
#include <xlb/dataplane/fallback.h>
#include <xlb/dataplane/xdp_dataplane.h>
#include <xlb/ipvsadm/command.h>

#include "cli.h"
#include "list_json.h"
#include "status.h"
#include "xdp_commands.h"

#include <boost/json.hpp>
#include <fmt/format.h>

#include <charconv>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace {

using xlbctl::cli_error;
using xlbctl::globals;

// The backend --backend / $XLB_BACKEND names, through the factory.
xlb::result<xlb::selected_dataplane> open_backend(const globals& g) {
    xlb::open_options opts;
    opts.pin_dir = g.pin_dir;
    opts.lock_wait = g.lock_wait;
    auto dp = xlb::select_dataplane(g.backend, opts);
    // A backend named with --backend that is not available here is a usage
    // error (exit 2), as before. With auto, nothing to serve the table is
    // the instance missing (exit 255), and the message names both halves.
    if (!dp && dp.error().code == EOPNOTSUPP) {
        if (g.backend == "auto") {
            throw cli_error(fmt::format("xlbctl: no backend to use ({}): {}", g.backend_from == "default"
                                                                                  ? "--backend auto, the default"
                                                                                  : "--backend auto",
                                        dp.error().context),
                            255);
        }
        throw cli_error(fmt::format("xlbctl: --backend {} is not available: {}", g.backend, dp.error().context),
                        2);
    }
    return dp;
}

std::unique_ptr<xlb::dataplane> open_or_die(const globals& g) {
    auto dp = open_backend(g);
    if (!dp) {
        throw cli_error(fmt::format("xlbctl: {}", dp.error().message()), 255);
    }
    return std::move(dp->dp);
}

int cmd_status(const globals& g, const std::vector<std::string>& args) {
    if (!args.empty()) {
        throw cli_error(fmt::format("xlbctl status: unexpected argument '{}' (usage: xlbctl [--json] status)", args[0]),
                        2);
    }
    auto dp = open_backend(g);
    if (!dp) {
        throw cli_error(fmt::format("xlbctl status: backend {} has no data path: {}", g.backend,
                                    dp.error().message()),
                        255);
    }
    auto st = dp->dp->report();
    if (!st) {
        throw cli_error(fmt::format("xlbctl status: {}", st.error().message()), 1);
    }
    st->backend.selected_by = g.backend_from;
    st->backend.reason = dp->reason;
    auto pin_dir = xlb::resolve_pin_dir(g.pin_dir);
    if (st->pin_dir.empty()) {
        st->pin_dir = pin_dir;
    }
    if (auto rec = xlb::read_fallback(pin_dir); rec && *rec) {
        st->fallback = **rec;
    }
    std::fputs((g.json ? xlbctl::status_json(*st) : xlbctl::status_text(*st)).c_str(), stdout);
    return 0;
}

// xlbctl checks [--socket PATH]: xlbd's checker state, from its control socket.
int cmd_checks(const globals& g, const std::vector<std::string>& args) {
    std::string path = xlb::daemon::control_socket_path();
    for (size_t i = 0; i < args.size(); ++i) {
        if (args[i] == "--socket" && i + 1 < args.size()) {
            path = args[++i];
        } else {
            throw cli_error(fmt::format("xlbctl checks: unexpected argument '{}' (usage: xlbctl [--json] checks "
                                        "[--socket PATH])",
                                        args[i]),
                            2);
        }
    }
    auto v = xlb::daemon::control_request(path, "checks");
    if (!v) {
        const int code = v.error().code;
        throw cli_error(fmt::format("xlbctl checks: {}{}", v.error().message(),
                                    code == ENOENT || code == ECONNREFUSED ? " (is xlbd running?)" : ""),
                        1);
    }
    if (g.json) {
        fmt::print("{}\n", boost::json::serialize(*v));
        return 0;
    }
    auto text = xlb::daemon::format_checks(*v);
    if (!text) {
        throw cli_error(fmt::format("xlbctl checks: {}", text.error().message()), 1);
    }
    std::fputs(text->c_str(), stdout);
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
        auto o = xlbctl::execute_json(cmd, *dp);
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
    std::unique_ptr<xlb::dataplane> dp;
    std::optional<xlb::ipvsadm::outcome> o;
    if (cmd.what == xlb::ipvsadm::op::restore) {
        // The whole script is read and parsed before the table is opened.
        auto script = xlb::ipvsadm::parse_script(std::cin, g.prog);
        if (auto* e = std::get_if<xlb::ipvsadm::usage_error>(&script)) {
            throw cli_error(e->message, e->exit_code);
        }
        auto& lines = std::get<std::vector<xlb::ipvsadm::script_line>>(script);
        dp = open_or_die(g);
        o = xlb::ipvsadm::apply_script(lines, *dp);
    } else {
        dp = open_or_die(g);
        o = xlb::ipvsadm::execute(cmd, *dp);
    }
    std::fputs(o->out.c_str(), stdout);
    std::fputs(o->err.c_str(), stderr);
    return o->exit_code;
}

std::chrono::milliseconds parse_ms(const std::string& opt, const std::string& v) {
    uint32_t n = 0;
    auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
    if (v.empty() || ec != std::errc() || p != v.data() + v.size()) {
        throw cli_error(fmt::format("xlbctl: {} needs a number of milliseconds, not '{}'", opt, v), 2);
    }
    return std::chrono::milliseconds(n);
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
        g.backend = env && *env ? env : "auto";
        g.backend_from = env && *env ? "XLB_BACKEND" : "default";
    }
    if (g.backend != "xdp" && g.backend != "ipvs" && g.backend != "auto") {
        throw cli_error(fmt::format("xlbctl: --backend is xdp, ipvs or auto, not '{}'", g.backend), 2);
    }
    std::vector<std::string> rest(argv.begin() + static_cast<long>(i), argv.end());
    if (g.json && !rest.empty() && !rest[0].empty() && rest[0][0] != '-' && rest[0] != "status" &&
        rest[0] != "checks") {
        throw cli_error("xlbctl: --json works only with `xlbctl status`, `xlbctl checks` and the listings (-L, -l)",
                        2);
    }
    if (!rest.empty() && !rest[0].empty() && rest[0][0] != '-') {
        std::string sub = rest[0];
        std::vector<std::string> args(rest.begin() + 1, rest.end());
        if (sub == "load") {
            return xlbctl::cmd_load(g, args);
        }
        if (sub == "attach") {
            return xlbctl::cmd_attach(g, args);
        }
        if (sub == "detach") {
            return xlbctl::cmd_detach(g, args);
        }
        if (sub == "unload") {
            return xlbctl::cmd_unload(g, args);
        }
        if (sub == "status") {
            return cmd_status(g, args);
        }
        if (sub == "resolve") {
            return xlbctl::cmd_resolve(g, args);
        }
        if (sub == "checks") {
            return cmd_checks(g, args);
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
