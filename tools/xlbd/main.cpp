// xlbd: keepalived's virtual_server half for xlb. It reads keepalived.conf,
// health-checks the real servers as keepalived does, and keeps the table
// (XDP or kernel IPVS, through the dataplane seam) in step.
//
//   xlbd -f FILE [--interface IFACE]... [--pin-dir DIR] [--backend xdp|ipvs|auto]
//        [--metrics [ADDR:]PORT|off] [--log-level LEVEL] [--log-target stderr|journald]
//        [--cleanup-on-exit] [--socket PATH]
//   xlbd -h | -v
//   xlbd -t -f FILE

#include "options.h"

#include <xlb/daemon/control.h>
#include <xlb/daemon/controller.h>
#include <xlb/daemon/http_server.h>
#include <xlb/daemon/managed.h>
#include <xlb/daemon/plan.h>
#include <xlb/dataplane/dataplane.h>
#include <xlb/dataplane/xdp_dataplane.h>
#include <xlb/keepalived/parser.h>
#include <xlb/util/log.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/json.hpp>

#include <fmt/format.h>

#include <csignal>

namespace {

namespace ka = xlb::keepalived;
namespace daemon = xlb::daemon;

// A configuration error is its position and message; another error (an
// unreadable file) also names the errno.
std::string config_error(const xlb::error& e) { return e.code == EINVAL ? e.context : e.message(); }

void print_notices(const ka::config& cfg) {
    for (const auto& n : cfg.notices) {
        xlb::log::warn("{}: {}", n.where.to_string(), n.text);
    }
}

// A configuration parsed and planned, with what -t reports of it.
struct checked_config {
    ka::config cfg;
    size_t blocks = 0;
    size_t services = 0;
    size_t reals = 0;
};

// Parses and plans the configuration: what -t checks and what a reload
// needs before it touches anything.
xlb::result<checked_config> read_config(const std::string& path) {
    auto cfg = ka::parse_file(path);
    if (!cfg) {
        return cfg.error();
    }
    auto plans = daemon::plan_services(*cfg);
    if (!plans) {
        return plans.error();
    }
    checked_config out{std::move(*cfg)};
    out.blocks = plans->size();
    for (const auto& p : *plans) {
        out.services += p.services.size();
        out.reals += p.spec.reals.size();
    }
    return out;
}

int check_only(const xlbd::options& o) {
    auto c = read_config(o.config_file);
    if (!c) {
        fmt::print(stderr, "xlbd: {}\n", config_error(c.error()));
        return 1;
    }
    print_notices(c->cfg);
    fmt::print("xlbd: {}: configuration OK: {} virtual server(s), {} service(s), {} real server(s), {} notice(s)\n",
               o.config_file, c->blocks, c->services, c->reals, c->cfg.notices.size());
    return 0;
}

// Loads xlb and attaches it natively on each interface where it is not
// attached yet. With --backend auto, a driver without native XDP makes xlbd
// use kernel IPVS instead (as `xlbctl attach` falls back).
std::string prepare_xdp(const xlbd::options& o) {
    const auto pin = xlb::resolve_pin_dir(o.pin_dir);
    auto dp = xlb::xdp_dataplane::open(pin);
    bool loaded_here = false;
    if (!dp && dp.error().code == ENOENT) {
        xlb::log::info("loading xlb at {}", pin);
        dp = xlb::xdp_dataplane::load(pin, xlb::load_options{});
        loaded_here = true;
    }
    if (!dp) {
        throw std::runtime_error(dp.error().message());
    }
    auto st = dp->status();
    if (!st) {
        throw std::runtime_error(st.error().message());
    }
    // What this run did, undone if it cannot finish: nothing half-attached.
    std::vector<std::string> attached_here;
    auto undo = [&] {
        for (const auto& i : attached_here) {
            (void)dp->detach(i);
        }
        if (loaded_here) {
            (void)xlb::xdp_dataplane::unload(pin);
        }
    };
    const bool attached_before = std::any_of(st->attachments.begin(), st->attachments.end(),
                                             [](const auto& a) { return a.mode != "detached"; });
    for (const auto& iface : o.interfaces) {
        const bool attached = std::any_of(st->attachments.begin(), st->attachments.end(), [&](const auto& a) {
            return a.ifname == iface && a.mode != "detached";
        });
        if (attached) {
            continue;
        }
        if (auto r = dp->attach(iface, xlb::xdp_mode::native); !r) {
            const bool no_native = r.error().code == EOPNOTSUPP || r.error().code == EINVAL;
            undo();
            if (no_native && o.backend == "auto" && !attached_before) {
                xlb::log::warn("native XDP is not available on {} ({}): kernel IPVS serves the table", iface,
                               r.error().message());
                return "ipvs";
            }
            throw std::runtime_error(fmt::format("{}; nothing was left attached by xlbd", r.error().message()));
        }
        attached_here.push_back(iface);
        xlb::log::info("attached xlb to {} (native XDP)", iface);
    }
    return o.backend == "auto" ? "xdp" : o.backend;
}

int run(const xlbd::options& o) {
    auto cfg = read_config(o.config_file);
    if (!cfg) {
        xlb::log::error("{}: not starting", config_error(cfg.error()));
        return 1;
    }
    print_notices(cfg->cfg);
    std::string backend = o.backend;
    if (!o.interfaces.empty() && backend != "ipvs") {
        backend = prepare_xdp(o);
    }
    xlb::open_options oo;
    oo.pin_dir = o.pin_dir;
    auto sel = xlb::select_dataplane(backend, oo);
    if (!sel) {
        xlb::log::error("{}", sel.error().message());
        return 1;
    }
    xlb::log::info("backend {} ({})", sel->name, sel->reason);

    boost::asio::io_context io;
    daemon::controller_options co;
    co.backend = sel->name;
    co.config_file = o.config_file;
    co.state_file = daemon::managed_path(sel->name, xlb::resolve_pin_dir(o.pin_dir));
    daemon::controller ctl(io, *sel->dp, co);

    daemon::control_server control(io, [&](std::string_view req) -> std::string {
        if (req == "checks") {
            return boost::json::serialize(daemon::view_to_json(ctl.snapshot()));
        }
        if (req == "ping") {
            return R"({"ok":true})";
        }
        return boost::json::serialize(boost::json::object{{"error", fmt::format("unknown request '{}'", req)}});
    });
    const auto socket_path = o.socket.empty() ? daemon::control_socket_path() : o.socket;
    if (auto r = control.listen(socket_path); !r) {
        xlb::log::error("{}", r.error().message());
        return 1;
    }

    std::unique_ptr<daemon::http_server> metrics;
    if (!o.metrics.empty()) {
        daemon::http_options ho;
        ho.listen = o.metrics;
        auto& dp = *sel->dp;
        auto srv = daemon::http_server::start(io, ho, [&] { return daemon::read_page_data(dp, ctl.snapshot()); });
        if (!srv) {
            xlb::log::error("metrics: {}", srv.error().message());
            return 1;
        }
        metrics = std::move(*srv);
        xlb::log::info("metrics and status page on http://{}/", metrics->local_endpoint().to_string());
    }

    // The socket and the metrics listen before the table is touched: a
    // second xlbd started by mistake stops here, having changed nothing.
    if (auto r = ctl.start(cfg->cfg); !r) {
        xlb::log::error("{}", r.error().message());
        return 1;
    }

    boost::asio::signal_set signals(io, SIGHUP, SIGTERM, SIGINT);
    std::function<void(const boost::system::error_code&, int)> on_signal;
    on_signal = [&](const boost::system::error_code& ec, int sig) {
        if (ec) {
            return;
        }
        if (sig == SIGHUP) {
            auto next = read_config(o.config_file);
            if (!next) {
                xlb::log::error("reload refused, the running configuration stays: {}", config_error(next.error()));
            } else if (auto r = ctl.reload(next->cfg); !r) {
                xlb::log::error("reload failed: {}", r.error().message());
            } else {
                print_notices(next->cfg);
                xlb::log::info("reloaded {}", o.config_file);
            }
            signals.async_wait(on_signal);
            return;
        }
        xlb::log::info("stopping on signal {}{}", sig,
                       o.cleanup_on_exit ? ": removing the services" : ": the table stays in place");
        if (auto r = ctl.stop(o.cleanup_on_exit); !r) {
            xlb::log::error("{}", r.error().message());
        }
        io.stop();
    };
    signals.async_wait(on_signal);
    xlb::log::info("running: {} virtual server(s) from {}", cfg->blocks, o.config_file);
    io.run();
    return 0;
}

} // namespace

int main(int argc, char** argv) {
    try {
        auto o = xlbd::parse_options(argc, argv);
        if (o.help) {
            fmt::print("{}", xlbd::usage());
            return 0;
        }
        if (o.version) {
            fmt::print("xlbd {}\n", XLB_VERSION);
            return 0;
        }
        xlb::log::set_threshold(o.log_level);
        xlb::log::set_target(o.log_target, "xlbd");
        xlb::log::install_libbpf_logger();
        if (o.test_only) {
            return check_only(o);
        }
        return run(o);
    } catch (const xlbd::usage_error& e) {
        fmt::print(stderr, "xlbd: {}\n{}", e.what(), xlbd::usage());
        return 2;
    } catch (const std::exception& e) {
        fmt::print(stderr, "xlbd: {}\n", e.what());
        return 1;
    }
}
