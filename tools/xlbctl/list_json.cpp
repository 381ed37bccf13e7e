#include "list_json.h"

#include <xlb/dataplane/dataplane.h>
#include <xlb/ipvsadm/format.h>

#include <boost/json.hpp>
#include <fmt/format.h>


#include <algorithm>
#include <cerrno>

namespace xlbctl {
namespace {

namespace json = boost::json;

std::string_view protocol_name(xlb::protocol p) {
    switch (p) {
    case xlb::protocol::udp: return "udp";
    case xlb::protocol::sctp: return "sctp";
    case xlb::protocol::tcp: break;
    }
    return "tcp";
}

// A fwmark service has a mark and a family, no protocol, address or port.
uint32_t fwmark_of(const xlb::service_state& s) {
    return s.config.key.fwmark ? s.config.key.fwmark : s.fwmark;
}

std::string_view family_name(const xlb::ip_address& a) {
    return a.is_v4() ? "ipv4" : "ipv6";
}

// ipvsadm's Forward column, in lower case.
std::string_view forwarding_name(xlb::forwarding f) {
    switch (f) {
    case xlb::forwarding::dr: return "route";
    case xlb::forwarding::tun: return "tunnel";
    case xlb::forwarding::nat: return "masq";
    }
    return "unknown";
}

json::array sched_flags(const xlb::service_config& c) {
    json::array out;
    auto names = xlb::ipvsadm::sched_flags_string(c.sched, c.flags);
    size_t start = 0;
    while (start < names.size()) {
        auto comma = names.find(',', start);
        if (comma == std::string::npos) {
            comma = names.size();
        }
        out.emplace_back(names.substr(start, comma - start));
        start = comma + 1;
    }
    return out;
}

json::object stats_object(const xlb::counters& c) {
    return {{"conns", c.conns}, {"inpkts", c.inpkts}, {"outpkts", c.outpkts}, {"inbytes", c.inbytes},
            {"outbytes", c.outbytes}};
}

json::object rate_object(const xlb::rates& r) {
    return {{"cps", r.cps}, {"inpps", r.inpps}, {"outpps", r.outpps}, {"inbps", r.inbps}, {"outbps", r.outbps}};
}

json::value tunnel_value(const xlb::dest_config& d) {
    if (d.fwd != xlb::forwarding::tun) {
        return nullptr;
    }
    const bool gue = d.tunnel == xlb::tun_type::gue;
    const bool gre = d.tunnel == xlb::tun_type::gre;
    const char* csum = xlb::ipvsadm::tun_checksum_name(d.tun_flags);
    return json::object{{"type", gue ? "gue" : gre ? "gre" : "ipip"},
                        {"port", gue ? json::value(d.tun_port) : json::value(nullptr)},
                        {"checksum", gue || gre ? json::value(csum) : json::value(nullptr)}};
}

json::object dest_object(const xlb::dest_state& d) {
    const auto& c = d.config;
    return {{"family", family_name(c.addr.addr)},
            {"address", c.addr.addr.to_string()},
            {"port", c.addr.port},
            {"forwarding", forwarding_name(c.fwd)},
            {"weight", c.weight},
            {"u_threshold", c.u_threshold},
            {"l_threshold", c.l_threshold},
            {"active_conns", d.active_conns},
            {"inactive_conns", d.inactive_conns},
            {"persist_conns", d.persist_conns},
            {"overloaded", d.overloaded},
            {"tunnel", tunnel_value(c)},
            {"stats", stats_object(d.stats)},
            {"rate", rate_object(d.rate)}};
}

json::object service_object(const xlb::service_state& s) {
    const auto& c = s.config;
    json::array dests;
    for (const auto& d : s.dests) {
        dests.push_back(dest_object(d));
    }
    const uint32_t mark = fwmark_of(s);
    return {{"protocol", mark ? json::value(nullptr) : json::value(protocol_name(c.key.proto))},
            {"fwmark", mark ? json::value(mark) : json::value(nullptr)},
            {"family", family_name(c.key.vip.addr)},
            {"address", mark ? json::value(nullptr) : json::value(c.key.vip.addr.to_string())},
            {"port", mark ? json::value(nullptr) : json::value(c.key.vip.port)},
            {"scheduler", xlb::to_string(c.sched)},
            {"sched_flags", sched_flags(c)},
            {"persistent", c.persistent()},
            {"timeout", c.persistent() ? c.timeout : 0},
            {"netmask", xlb::ipvsadm::netmask_text(c)},
            {"ops", (c.flags & XLB_IPVS_SVC_F_ONEPACKET) != 0},
            {"pe", c.pe_name.empty() ? json::value(nullptr) : json::value(c.pe_name)},
            {"stats", stats_object(s.stats)},
            {"rate", rate_object(s.rate)},
            {"dests", std::move(dests)}};
}

json::object verdicts_object(const std::vector<xlb::reason_report>& reasons) {
    json::array list;
    uint64_t tx = 0, redirect = 0, pass = 0, drop = 0;
    for (const auto& r : reasons) {
        list.push_back(json::object{{"name", r.name},
                                    {"verdict", r.verdict},
                                    {"packets", r.packets},
                                    {"description", r.description}});
        (r.verdict == "tx" ? tx : r.verdict == "redirect" ? redirect : r.verdict == "pass" ? pass : drop) += r.packets;
    }
    return {{"totals", {{"tx", tx}, {"redirect", redirect}, {"pass", pass}, {"drop", drop}}},
            {"reasons", std::move(list)}};
}

json::object endpoint_object(const xlb::endpoint& e) {
    return {{"address", e.addr.to_string()}, {"port", e.port}};
}

std::string document(json::object body) {
    json::object root;
    root["schema"] = list_schema;
    for (auto& kv : body) {
        root[kv.key()] = std::move(kv.value());
    }
    return json::serialize(root) + "\n";
}

xlb::ipvsadm::outcome failed(const xlb::error& e) {
    // ipvsadm's words for what a listing can meet (ipvs_strerror()).
    std::string msg = e.code == ESRCH ? "No such service"
                      : e.code == EPERM ? "Permission denied (you must be root)"
                                        : e.message();
    return {255, "", msg + "\n"};
}

} // namespace

std::string services_json(std::vector<xlb::service_state> services, bool sort, uint32_t conn_table_size,
                          const std::vector<xlb::reason_report>& reasons) {
    if (sort) {
        xlb::ipvsadm::sort_services(services);
    }
    json::array list;
    for (const auto& s : services) {
        list.push_back(service_object(s));
    }
    return document({{"version", ipvs_version},
                     {"conn_table_size", conn_table_size},
                     {"services", std::move(list)},
                     {"verdicts", verdicts_object(reasons)}});
}

std::string conns_json(std::vector<xlb::conn_state> conns) {
    std::sort(conns.begin(), conns.end());
    json::array list;
    for (const auto& c : conns) {
        list.push_back(json::object{{"protocol", c.fwmark ? std::string_view("ip") : protocol_name(c.proto)},
                                    {"fwmark", c.fwmark ? json::value(c.fwmark) : json::value(nullptr)},
                                    {"client", endpoint_object(c.client)},
                                    {"virtual", endpoint_object(c.vip)},
                                    {"dest", endpoint_object(c.dest)},
                                    {"state", xlb::conn_state_name(c)},
                                    {"template", c.is_template},
                                    {"expire_s", c.expire_s}});
    }
    return document({{"conns", std::move(list)}});
}

std::string timeouts_json(const xlb::timeouts& t) {
    return document({{"timeouts", {{"tcp", t.tcp}, {"tcp_fin", t.tcp_fin}, {"udp", t.udp}}}});
}

std::string daemons_json(const std::vector<xlb::sync_daemon>& daemons) {
    json::array list;
    for (const auto& d : daemons) {
        json::object o{{"state", d.state == xlb::sync_state::master ? "master" : "backup"},
                       {"mcast_interface", d.mcast_ifn},
                       {"syncid", d.syncid},
                       {"sync_maxlen", d.sync_maxlen},
                       {"mcast_port", d.mcast_port},
                       {"mcast_ttl", d.mcast_ttl}};
        if (d.mcast_group) {
            o["mcast_group"] = d.mcast_group->to_string();
        }
        list.push_back(std::move(o));
    }
    return document({{"daemons", std::move(list)}});
}

std::optional<std::string> json_refusal(const xlb::ipvsadm::command& cmd) {
    using xlb::ipvsadm::op;
    const char* what = nullptr;
    switch (cmd.what) {
    case op::list: return std::nullopt;
    case op::save:
        return std::string("xlbctl: --json does not apply to -S: it saves the table as ipvsadm commands for -R, "
                           "which reads text; `xlbctl --json -L` gives every rule as JSON");
    case op::add_service: what = "-A"; break;
    case op::edit_service: what = "-E"; break;
    case op::del_service: what = "-D"; break;
    case op::clear: what = "-C"; break;
    case op::add_dest: what = "-a"; break;
    case op::del_dest: what = "-d"; break;
    case op::edit_dest: what = "-e"; break;
    case op::set_timeouts: what = "--set"; break;
    case op::zero: what = "-Z"; break;
    case op::restore: what = "-R"; break;
    case op::help: what = "-h"; break;
    case op::version: what = "-v"; break;
    case op::start_daemon: what = "--start-daemon"; break;
    case op::stop_daemon: what = "--stop-daemon"; break;
    }
    return fmt::format("xlbctl: --json works only with `xlbctl status` and the listings (-L, -l); {} is not a "
                       "listing, nothing was done",
                       what);
}

xlb::ipvsadm::outcome execute_json(const xlb::ipvsadm::command& cmd, const xlb::dataplane& dp) {
    if (cmd.list_timeouts) {
        auto t = dp.get_timeouts();
        if (!t) {
            return failed(t.error());
        }
        return {0, timeouts_json(*t), ""};
    }
    if (cmd.list_conns) {
        auto conns = dp.list_conns();
        if (!conns) {
            return failed(conns.error());
        }
        return {0, conns_json(std::move(*conns)), ""};
    }
    if (cmd.list_daemon) {
        auto d = dp.list_sync_daemons();
        if (!d) {
            return failed(d.error());
        }
        return {0, daemons_json(*d), ""};
    }
    auto all = dp.list();
    if (!all) {
        return failed(all.error());
    }
    std::vector<xlb::service_state> shown;
    if (cmd.service) {
        for (auto& s : *all) {
            if (s.config.key == *cmd.service) {
                shown.push_back(std::move(s));
            }
        }
        if (shown.empty()) {
            return {1, "", "No such service\n"}; // list_service() exits 1
        }
    } else {
        shown = std::move(*all);
    }
    // A backend without verdict counters lists none.
    std::vector<xlb::reason_report> reasons;
    if (dp.caps().verdict_counters) {
        auto r = dp.verdicts();
        if (!r) {
            return failed(r.error());
        }
        reasons = std::move(*r);
    }
    return {0, services_json(std::move(shown), cmd.list.sort, dp.conn_table_size(), reasons), ""};
}

} // namespace xlbctl
