// xlbctl attach IFACE [--xdp-mode native|generic] [--no-fallback]
//
// Native XDP where the driver has it. Where it has not (the kernel answers
// EOPNOTSUPP or EINVAL to the netlink XDP set: macvlan, bridge ports on 6.1),
// the instance's table moves into kernel IPVS as one change set, and a
// fallback record (xlb/dataplane/fallback.h) says so; `auto` then opens IPVS.
// A later attach that succeeds moves IPVS's table back. An instance is served
// by one backend at a time: XDP attached somewhere and IPVS holding the
// same table would be two tables that ipvsadm-style commands could not both
// keep up to date.

#include "xdp_commands.h"

#include <xlb/dataplane/fallback.h>
#include <xlb/dataplane/ipvs_dataplane.h>
#include <xlb/dataplane/status.h>
#include <xlb/dataplane/xdp_dataplane.h>
#include <xlb/util/log.h>

#include <fmt/format.h>

#include <net/if.h>

#include <cstring>
#include <ctime>

namespace xlbctl {

namespace {

struct attach_args {
    std::string iface;
    xlb::xdp_mode mode = xlb::xdp_mode::native;
    bool no_fallback = false;
};

constexpr const char* attach_usage = "usage: xlbctl attach IFACE [--xdp-mode native|generic] [--no-fallback]";

attach_args parse_attach(const std::vector<std::string>& args) {
    attach_args a;
    for (size_t i = 0; i < args.size(); ++i) {
        if (args[i] == "--xdp-mode") {
            if (i + 1 >= args.size()) {
                throw cli_error("xlbctl attach: --xdp-mode needs native or generic", 2);
            }
            const auto& m = args[++i];
            if (m == "native") {
                a.mode = xlb::xdp_mode::native;
            } else if (m == "generic") {
                a.mode = xlb::xdp_mode::generic;
            } else {
                throw cli_error(fmt::format("xlbctl attach: --xdp-mode is native or generic, not '{}'", m), 2);
            }
        } else if (args[i] == "--no-fallback") {
            a.no_fallback = true;
        } else if (a.iface.empty() && !args[i].empty() && args[i][0] != '-') {
            a.iface = args[i];
        } else {
            throw cli_error(fmt::format("xlbctl attach: unexpected argument '{}' ({})", args[i], attach_usage), 2);
        }
    }
    if (a.iface.empty()) {
        throw cli_error(fmt::format("xlbctl attach: which interface? {}", attach_usage), 2);
    }
    return a;
}

// The kernel's answer to a native attach on a driver without native XDP.
bool no_native_xdp(const xlb::error& e, xlb::xdp_mode mode) {
    return mode == xlb::xdp_mode::native && (e.code == EOPNOTSUPP || e.code == EINVAL);
}

std::string kernel_answer(const xlb::error& e) {
    return fmt::format("the kernel answered {} to a native XDP attach", std::strerror(e.code));
}

size_t count_dests(const std::vector<xlb::service_state>& table) {
    size_t n = 0;
    for (const auto& s : table) {
        n += s.dests.size();
    }
    return n;
}

std::unique_ptr<xlb::dataplane> open_ipvs(const std::string& why) {
    auto ipvs = xlb::open_dataplane("ipvs", {});
    if (!ipvs) {
        const auto& e = ipvs.error();
        throw cli_error(fmt::format("xlbctl: {}, and kernel IPVS cannot serve the table: {}; nothing changed", why,
                                    e.code == EOPNOTSUPP ? e.context : e.message()),
                        1);
    }
    return std::move(*ipvs);
}

void warn_forwarding(const std::string& iface) {
    // Attached all the same: forwarding may be turned on afterwards.
    for (auto [af, name] : {std::pair{xlb::family::inet, "IPv4"}, std::pair{xlb::family::inet6, "IPv6"}}) {
        if (auto on = xlb::interface_forwarding(iface, af); on && !*on) {
            xlb::log::warn("{} forwarding is off on {}: every {} packet for a real server arriving there is dropped "
                           "(drop_fwd_disabled); turn it on with `sysctl -w {}`",
                           name, iface, name, xlb::forwarding_sysctl(iface, af));
        }
    }
}

// The flows XDP tracks go with the table, through IPVS's own sync protocol
// (ipvs_dataplane::carry_conns()): each keeps its server whatever the
// scheduler. The fallback stands if this fails; it says how many went.
void carry_flows(const xlb::xdp_dataplane& dp, xlb::dataplane& ipvs, const std::string& iface) {
    auto* kernel = dynamic_cast<xlb::ipvs_dataplane*>(&ipvs);
    auto conns = dp.list_conns();
    if (!kernel || !conns) {
        xlb::log::warn("no connection was carried into kernel IPVS: {}",
                       conns ? "the backend is not kernel IPVS" : conns.error().message());
        return;
    }
    // The sync protocol carries one family per connection: a tunnel dest of
    // the other family stays behind, to be scheduled anew.
    std::vector<xlb::conn_state> carry;
    for (const auto& c : *conns) {
        if (c.client.addr.is_v4() == c.dest.addr.is_v4()) {
            carry.push_back(c);
        }
    }
    if (carry.empty()) {
        fmt::print("xlbctl: no connection to carry into kernel IPVS\n");
        return;
    }
    auto n = kernel->carry_conns(carry, iface);
    if (!n) {
        xlb::log::warn("the {} connection(s) XDP tracked were not carried into kernel IPVS ({}): each is "
                       "scheduled anew, and an established one may be reset",
                       conns->size(), n.error().message());
        return;
    }
    fmt::print("xlbctl: {} of {} connection(s) carried into kernel IPVS through its sync protocol (a backup sync "
               "daemon on {})\n",
               *n, conns->size(), iface);
}

// Native XDP is missing on a.iface: the table moves into kernel IPVS.
int fall_back(xlb::xdp_dataplane& dp, const attach_args& a, const xlb::error& refused) {
    auto why = fmt::format("native XDP is not available on {} ({})", a.iface, kernel_answer(refused));
    if (a.no_fallback) {
        throw cli_error(fmt::format("xlbctl: {}; --no-fallback: nothing changed (--xdp-mode generic attaches "
                                    "generic XDP; without --no-fallback kernel IPVS serves the table)",
                                    why),
                        1);
    }
    // One backend at a time: not while XDP serves elsewhere.
    auto st = dp.status();
    if (!st) {
        throw cli_error(fmt::format("xlbctl: {}, and: {}; nothing changed", why, st.error().message()), 1);
    }
    for (const auto& at : st->attachments) {
        if (at.mode != "detached") {
            throw cli_error(fmt::format("xlbctl: {}, and xlb runs on {} ({} XDP): an instance is served by one "
                                        "backend at a time. Detach it from {} first for kernel IPVS to serve the "
                                        "table, or attach {} with --xdp-mode generic; nothing changed",
                                        why, at.ifname, at.mode, at.ifname, a.iface),
                            1);
        }
    }
    auto ipvs = open_ipvs(why);
    auto held = ipvs->list();
    if (!held) {
        throw cli_error(fmt::format("xlbctl: {}, and kernel IPVS: {}; nothing changed", why, held.error().message()),
                        1);
    }
    if (!held->empty()) {
        throw cli_error(fmt::format("xlbctl: {}, and kernel IPVS already holds {} service(s) of its own: the "
                                    "fallback needs it empty, to serve this instance's table alone (`xlbctl "
                                    "--backend ipvs -L -n`); nothing changed",
                                    why, held->size()),
                        1);
    }
    auto table = dp.list();
    if (!table) {
        throw cli_error(fmt::format("xlbctl: {}, and: {}; nothing changed", why, table.error().message()), 1);
    }
    auto t = dp.get_timeouts();
    if (!t) {
        throw cli_error(fmt::format("xlbctl: {}, and: {}; nothing changed", why, t.error().message()), 1);
    }
    if (auto r = ipvs->apply(xlb::copy_table(*table, &*t, false)); !r) {
        throw cli_error(fmt::format("xlbctl: {}, and kernel IPVS refused the table (change {}): {}; nothing changed",
                                    why, r.error().index + 1, r.error().err.message()),
                        1);
    }
    xlb::fallback_record rec{dp.pin_dir(), a.iface, kernel_answer(refused), static_cast<int64_t>(std::time(nullptr))};
    if (auto w = xlb::write_fallback(rec); !w) {
        auto undo = ipvs->apply(xlb::delete_table(*table));
        throw cli_error(fmt::format("xlbctl: {}; kernel IPVS took the table, but the fallback record could not be "
                                    "written ({}), so {}",
                                    why, w.error().message(),
                                    undo ? std::string("the table was taken out of IPVS again; nothing changed")
                                         : fmt::format("taking the table out of IPVS again failed too ({}): IPVS "
                                                       "serves it with no record",
                                                       undo.error().err.message())),
                        1);
    }
    fmt::print("xlbctl: {}: kernel IPVS now serves the table of {} ({} services, {} dests); record {}\n", why,
               dp.pin_dir(), table->size(), count_dests(*table), xlb::fallback_path(dp.pin_dir()));
    carry_flows(dp, *ipvs, a.iface);
    return 0;
}

// The instance is in fallback: IPVS's table goes back into XDP, XDP attaches,
// the services leave IPVS, the record goes. Until the last step IPVS serves.
int switch_back(xlb::xdp_dataplane& dp, const attach_args& a, const xlb::fallback_record& rec) {
    auto since = fmt::format("kernel IPVS serves the table since the fallback on {}", rec.ifname);
    auto ipvs = open_ipvs(fmt::format("the instance is in fallback ({})", since));
    auto table = ipvs->list();
    if (!table) {
        throw cli_error(fmt::format("xlbctl: reading IPVS's table failed: {}; nothing changed, {}",
                                    table.error().message(), since),
                        1);
    }
    auto t = ipvs->get_timeouts();
    if (!t) {
        throw cli_error(
            fmt::format("xlbctl: reading IPVS's timeouts failed: {}; nothing changed, {}", t.error().message(), since),
            1);
    }
    // XDP runs nowhere yet: replacing its table serves no packet.
    if (auto r = dp.apply(xlb::copy_table(*table, &*t, true)); !r) {
        throw cli_error(fmt::format("xlbctl: the XDP instance refused IPVS's table (change {}): {}; nothing changed, "
                                    "{}",
                                    r.error().index + 1, r.error().err.message(), since),
                        1);
    }
    // IPVS's connections go into XDP's flow tables before XDP sees a
    // packet, so that each keeps its server whatever the scheduler.
    std::string carried;
    if (auto conns = ipvs->list_conns(); !conns) {
        xlb::log::warn("IPVS's connections were not read ({}): XDP schedules each anew", conns.error().message());
    } else if (auto n = dp.import_conns(*conns); !n) {
        xlb::log::warn("IPVS's connections were not carried into XDP ({}): XDP schedules each anew",
                       n.error().message());
    } else {
        carried = fmt::format("xlbctl: {} of {} connection(s) carried from kernel IPVS into XDP's flow tables\n", *n,
                              conns->size());
    }
    if (auto r = dp.attach(a.iface, a.mode); !r) {
        if (no_native_xdp(r.error(), a.mode) && !a.no_fallback) {
            fmt::print("xlbctl: native XDP is not available on {} either ({}): {}, and keeps serving it\n", a.iface,
                       kernel_answer(r.error()), since);
            return 0;
        }
        throw cli_error(fmt::format("xlbctl: {}; {}, and keeps serving it", r.error().message(), since), 1);
    }
    if (auto r = ipvs->apply(xlb::delete_table(*table)); !r) {
        // Back to IPVS alone: one backend at a time.
        auto undo = dp.detach(a.iface);
        throw cli_error(fmt::format("xlbctl: taking the table out of kernel IPVS failed (change {}): {}; {}",
                                    r.error().index + 1, r.error().err.message(),
                                    undo ? fmt::format("detached from {} again: {}, and keeps serving it", a.iface, since)
                                         : fmt::format("detaching from {} again failed too ({}): XDP serves on {} "
                                                       "and IPVS still holds the table",
                                                       a.iface, undo.error().message(), a.iface)),
                        1);
    }
    if (auto r = xlb::remove_fallback(dp.pin_dir()); !r) {
        throw cli_error(fmt::format("xlbctl: XDP serves the table on {} and IPVS holds none of it, but {}: "
                                    "`auto` still opens IPVS until it is removed",
                                    a.iface, r.error().message()),
                        1);
    }
    fmt::print("xlbctl: {} XDP on {}: the table moved back from kernel IPVS ({} services, {} dests)\n",
               a.mode == xlb::xdp_mode::native ? "native" : "generic", a.iface, table->size(), count_dests(*table));
    fmt::print("{}", carried);
    warn_forwarding(a.iface);
    return 0;
}

} // namespace

int cmd_attach(const globals& g, const std::vector<std::string>& args) {
    auto a = parse_attach(args);
    auto dp = open_xdp_or_die(g);
    if (if_nametoindex(a.iface.c_str()) == 0) {
        throw cli_error(fmt::format("xlbctl: no interface named {}; nothing changed", a.iface), 1);
    }
    auto rec = xlb::read_fallback(dp.pin_dir());
    if (!rec) {
        throw cli_error(fmt::format("xlbctl: {}", rec.error().message()), 1);
    }
    if (*rec) {
        return switch_back(dp, a, **rec);
    }
    if (auto r = dp.attach(a.iface, a.mode); !r) {
        if (no_native_xdp(r.error(), a.mode)) {
            return fall_back(dp, a, r.error());
        }
        throw cli_error(fmt::format("xlbctl: {}", r.error().message()), 1);
    }
    warn_forwarding(a.iface);
    return 0;
}

} // namespace xlbctl
