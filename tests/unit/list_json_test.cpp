// xlbctl's JSON listings (tools/xlbctl/list_json.cpp) for hand-built tables:
// every field of the schema documented in README.md, parsed back with
// Boost.JSON.

#include "list_json.h"

#include <xlb/dataplane/memory_dataplane.h>
#include <xlb/dataplane/xdp_dataplane.h>
#include <xlb/ipvsadm/command.h>

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include <string>
#include <vector>

using namespace xlb;
namespace json = boost::json;

namespace {

endpoint ep(const char* s) { return *endpoint::parse(s); }

// Two services, listed out of ipvsadm's order: an IPv6 UDP one with a NAT
// dest, and a persistent sh one with a GUE tunnel dest and a DR dest.
std::vector<service_state> table() {
    service_state v6;
    v6.config = {{protocol::udp, ep("[fd00::1]:53")}, scheduler::rr, 0, 0, 64};
    dest_state nat;
    nat.config = {ep("[fd00::11]:5353"), forwarding::nat, 2, 0, 0};
    nat.active_conns = 0;
    nat.inactive_conns = 4;
    v6.dests.push_back(nat);

    service_state v4;
    v4.config = {{protocol::tcp, ep("10.0.0.1:80")},
                 scheduler::sh,
                 XLB_IPVS_SVC_F_PERSISTENT | XLB_IPVS_SVC_F_SCHED1 | XLB_IPVS_SVC_F_SCHED2 | XLB_IPVS_SVC_F_ONEPACKET,
                 300,
                 0xffffff00,
                 "sip"};
    v4.stats = {7, 100, 6000, 90, 5000000000ull}; // conns, inpkts, inbytes, outpkts, outbytes
    v4.rate = {1, 2, 3, 4, 5};
    dest_state gue;
    gue.config = {ep("10.0.0.12:80"), forwarding::tun, 3, 10, 5, tun_type::gue, 6080, XLB_TUN_F_REMCSUM};
    gue.active_conns = 11;
    gue.inactive_conns = 1;
    gue.persist_conns = 2;
    gue.overloaded = true;
    gue.stats = {3, 40, 2400, 0, 0};
    gue.rate = {6, 7, 8, 9, 10};
    dest_state dr;
    dr.config = {ep("10.0.0.11:80"), forwarding::dr, 1, 0, 0};
    dr.stats = {4, 60, 3600, 0, 0};
    v4.dests = {gue, dr}; // newest first, as list() gives them

    return {v6, v4};
}

std::vector<reason_report> reasons() {
    std::array<uint64_t, XLB_R_MAX> packets{};
    packets[XLB_R_TX] = 5;
    packets[XLB_R_PASS_NO_SERVICE] = 3;
    packets[XLB_R_DROP_NO_DEST] = 2;
    packets[XLB_R_TX_ICMP_TOO_BIG] = 1;
    return reason_reports(packets);
}

json::object parse_one_line(const std::string& text) {
    EXPECT_FALSE(text.empty());
    EXPECT_EQ(text.back(), '\n');
    EXPECT_EQ(text.find('\n'), text.size() - 1) << "one line";
    json::error_code ec;
    auto v = json::parse(text, ec);
    EXPECT_FALSE(ec) << text;
    EXPECT_TRUE(v.is_object());
    EXPECT_EQ(v.at("schema").as_int64(), 1);
    return v.as_object();
}

uint64_t u64(const json::value& v) { return json::value_to<uint64_t>(v); }

TEST(list_json, services_carry_every_field_sorted_as_ipvsadm_sorts) {
    auto o = parse_one_line(xlbctl::services_json(table(), true, 1048576, reasons()));
    EXPECT_EQ(o.at("version").as_string(), "1.2.1");
    EXPECT_EQ(u64(o.at("conn_table_size")), 1048576u);
    const auto& svcs = o.at("services").as_array();
    ASSERT_EQ(svcs.size(), 2u);

    // IPv4 sorts before IPv6; dests by address.
    const auto& s = svcs[0].as_object();
    EXPECT_EQ(s.at("protocol").as_string(), "tcp");
    EXPECT_EQ(s.at("family").as_string(), "ipv4");
    EXPECT_EQ(s.at("address").as_string(), "10.0.0.1");
    EXPECT_EQ(u64(s.at("port")), 80u);
    EXPECT_EQ(s.at("scheduler").as_string(), "sh");
    EXPECT_EQ(s.at("sched_flags"), (json::array{"sh-fallback", "sh-port"}));
    EXPECT_EQ(s.at("persistent").as_bool(), true);
    EXPECT_EQ(u64(s.at("timeout")), 300u);
    EXPECT_EQ(s.at("netmask").as_string(), "255.255.255.0");
    EXPECT_EQ(s.at("ops").as_bool(), true);
    EXPECT_EQ(s.at("pe").as_string(), "sip");
    const auto& st = s.at("stats").as_object();
    EXPECT_EQ(u64(st.at("conns")), 7u);
    EXPECT_EQ(u64(st.at("inpkts")), 100u);
    EXPECT_EQ(u64(st.at("outpkts")), 90u);
    EXPECT_EQ(u64(st.at("inbytes")), 6000u);
    EXPECT_EQ(u64(st.at("outbytes")), 5000000000u) << "exact, never scaled to K/M/G";
    EXPECT_EQ(s.at("rate"), (json::object{{"cps", 1}, {"inpps", 2}, {"outpps", 3}, {"inbps", 4}, {"outbps", 5}}));

    const auto& dests = s.at("dests").as_array();
    ASSERT_EQ(dests.size(), 2u);
    const auto& dr = dests[0].as_object();
    EXPECT_EQ(dr.at("address").as_string(), "10.0.0.11");
    EXPECT_EQ(dr.at("forwarding").as_string(), "route");
    EXPECT_TRUE(dr.at("tunnel").is_null());
    EXPECT_EQ(u64(dr.at("stats").at("inbytes")), 3600u);
    const auto& gue = dests[1].as_object();
    EXPECT_EQ(gue.at("family").as_string(), "ipv4");
    EXPECT_EQ(gue.at("address").as_string(), "10.0.0.12");
    EXPECT_EQ(u64(gue.at("port")), 80u);
    EXPECT_EQ(gue.at("forwarding").as_string(), "tunnel");
    EXPECT_EQ(gue.at("weight").as_int64(), 3);
    EXPECT_EQ(u64(gue.at("u_threshold")), 10u);
    EXPECT_EQ(u64(gue.at("l_threshold")), 5u);
    EXPECT_EQ(u64(gue.at("active_conns")), 11u);
    EXPECT_EQ(u64(gue.at("inactive_conns")), 1u);
    EXPECT_EQ(u64(gue.at("persist_conns")), 2u);
    EXPECT_EQ(gue.at("overloaded").as_bool(), true);
    EXPECT_EQ(gue.at("tunnel"), (json::object{{"type", "gue"}, {"port", 6080}, {"checksum", "remcsum"}}));
    EXPECT_EQ(u64(gue.at("stats").at("conns")), 3u);
    EXPECT_EQ(gue.at("rate"), (json::object{{"cps", 6}, {"inpps", 7}, {"outpps", 8}, {"inbps", 9}, {"outbps", 10}}));

    const auto& v6 = svcs[1].as_object();
    EXPECT_EQ(v6.at("protocol").as_string(), "udp");
    EXPECT_EQ(v6.at("family").as_string(), "ipv6");
    EXPECT_EQ(v6.at("address").as_string(), "fd00::1");
    EXPECT_EQ(v6.at("scheduler").as_string(), "rr");
    EXPECT_TRUE(v6.at("sched_flags").as_array().empty());
    EXPECT_EQ(v6.at("persistent").as_bool(), false);
    EXPECT_EQ(u64(v6.at("timeout")), 0u);
    EXPECT_EQ(v6.at("netmask").as_string(), "64");
    EXPECT_EQ(v6.at("ops").as_bool(), false);
    EXPECT_TRUE(v6.at("pe").is_null());
    const auto& nat = v6.at("dests").as_array().at(0).as_object();
    EXPECT_EQ(nat.at("address").as_string(), "fd00::11");
    EXPECT_EQ(u64(nat.at("port")), 5353u);
    EXPECT_EQ(nat.at("forwarding").as_string(), "masq");
    EXPECT_EQ(nat.at("overloaded").as_bool(), false);

    // The data path's verdicts: every reason in enum order, and the totals.
    const auto& v = o.at("verdicts").as_object();
    EXPECT_EQ(v.at("totals"), (json::object{{"tx", 6}, {"redirect", 0}, {"pass", 3}, {"drop", 2}}));
    const auto& rs = v.at("reasons").as_array();
    ASSERT_EQ(rs.size(), size_t{XLB_R_MAX});
    for (int r = 0; r < XLB_R_MAX; ++r) {
        const auto& ro = rs[static_cast<size_t>(r)].as_object();
        EXPECT_EQ(ro.at("name").as_string(), reason_name(static_cast<xlb_reason>(r)));
        EXPECT_TRUE(ro.at("description").is_string());
    }
    EXPECT_EQ(rs[XLB_R_DROP_NO_DEST].at("verdict").as_string(), "drop");
    EXPECT_EQ(u64(rs[XLB_R_DROP_NO_DEST].at("packets")), 2u);
    EXPECT_EQ(u64(rs[XLB_R_PASS_NO_SERVICE].at("packets")), 3u);
}

TEST(list_json, nosort_keeps_list_order_and_an_empty_table_is_an_empty_array) {
    auto o = parse_one_line(xlbctl::services_json(table(), false, 4096, reasons()));
    const auto& svcs = o.at("services").as_array();
    ASSERT_EQ(svcs.size(), 2u);
    EXPECT_EQ(svcs[0].at("address").as_string(), "fd00::1");
    EXPECT_EQ(svcs[1].at("dests").as_array()[0].at("address").as_string(), "10.0.0.12");

    auto empty = parse_one_line(xlbctl::services_json({}, true, 4096, reasons()));
    EXPECT_TRUE(empty.at("services").as_array().empty());
    EXPECT_EQ(u64(empty.at("conn_table_size")), 4096u);
}

TEST(list_json, conns_timeouts_daemons) {
    conn_state flow;
    flow.proto = protocol::tcp;
    flow.client = ep("10.0.0.200:41000");
    flow.vip = ep("10.0.0.1:80");
    flow.dest = ep("10.0.0.11:80");
    flow.state = XLB_TCP_S_ESTABLISHED;
    flow.expire_s = 899;
    conn_state tpl;
    tpl.proto = protocol::tcp;
    tpl.client = ep("10.0.0.0:0");
    tpl.vip = ep("10.0.0.1:80");
    tpl.dest = ep("10.0.0.11:80");
    tpl.is_template = true;
    tpl.expire_s = 299;
    conn_state udp;
    udp.proto = protocol::udp;
    udp.client = ep("[fd00::200]:5000");
    udp.vip = ep("[fd00::1]:53");
    udp.dest = ep("[fd00::11]:5353");
    udp.expire_s = 300;

    auto o = parse_one_line(xlbctl::conns_json({udp, flow, tpl}));
    const auto& cs = o.at("conns").as_array();
    ASSERT_EQ(cs.size(), 3u);
    // Sorted by protocol, then client.
    EXPECT_EQ(cs[0].at("client"), (json::object{{"address", "10.0.0.0"}, {"port", 0}}));
    EXPECT_EQ(cs[0].at("template").as_bool(), true);
    EXPECT_EQ(cs[0].at("state").as_string(), "NONE");
    EXPECT_EQ(u64(cs[0].at("expire_s")), 299u);
    const auto& f = cs[1].as_object();
    EXPECT_EQ(f.at("protocol").as_string(), "tcp");
    EXPECT_EQ(f.at("client"), (json::object{{"address", "10.0.0.200"}, {"port", 41000}}));
    EXPECT_EQ(f.at("virtual"), (json::object{{"address", "10.0.0.1"}, {"port", 80}}));
    EXPECT_EQ(f.at("dest"), (json::object{{"address", "10.0.0.11"}, {"port", 80}}));
    EXPECT_EQ(f.at("state").as_string(), "ESTABLISHED");
    EXPECT_EQ(f.at("template").as_bool(), false);
    EXPECT_EQ(u64(f.at("expire_s")), 899u);
    EXPECT_EQ(cs[2].at("protocol").as_string(), "udp");
    EXPECT_EQ(cs[2].at("state").as_string(), "UDP");
    EXPECT_EQ(cs[2].at("dest").at("address").as_string(), "fd00::11");
    EXPECT_TRUE(cs[2].at("fwmark").is_null());

    // Kernel IPVS's entries the XDP backend never has: SCTP, and a fwmark
    // service's template (protocol IP, the mark as the virtual address).
    conn_state sctp = flow;
    sctp.proto = protocol::sctp;
    sctp.state = static_cast<uint8_t>(xlb::sctp_state::cookie_echoed);
    conn_state fwm = tpl;
    fwm.fwmark = 7;
    fwm.vip = ep("0.0.0.7:0");
    auto k = parse_one_line(xlbctl::conns_json({sctp, fwm}));
    const auto& ks = k.at("conns").as_array();
    ASSERT_EQ(ks.size(), 2u);
    EXPECT_EQ(ks[0].at("protocol").as_string(), "ip");
    EXPECT_EQ(u64(ks[0].at("fwmark")), 7u);
    EXPECT_EQ(ks[0].at("virtual").at("address").as_string(), "0.0.0.7");
    EXPECT_EQ(ks[1].at("protocol").as_string(), "sctp");
    EXPECT_EQ(ks[1].at("state").as_string(), "COOKIE_ECHOED");

    auto t = parse_one_line(xlbctl::timeouts_json({900, 120, 300}));
    EXPECT_EQ(t.at("timeouts"), (json::object{{"tcp", 900}, {"tcp_fin", 120}, {"udp", 300}}));
    auto d = parse_one_line(xlbctl::daemons_json({}));
    EXPECT_TRUE(d.at("daemons").as_array().empty());
    xlb::sync_daemon m;
    m.mcast_ifn = "eth1";
    m.syncid = 7;
    m.sync_maxlen = 1472;
    m.mcast_group = *xlb::ip_address::parse("224.0.0.81");
    m.mcast_port = 8848;
    m.mcast_ttl = 1;
    xlb::sync_daemon b;
    b.state = xlb::sync_state::backup;
    b.mcast_ifn = "eth2";
    auto two = parse_one_line(xlbctl::daemons_json({m, b})).at("daemons").as_array();
    ASSERT_EQ(two.size(), 2u);
    EXPECT_EQ(two[0], (json::object{{"state", "master"},
                                    {"mcast_interface", "eth1"},
                                    {"syncid", 7},
                                    {"sync_maxlen", 1472},
                                    {"mcast_port", 8848},
                                    {"mcast_ttl", 1},
                                    {"mcast_group", "224.0.0.81"}}));
    EXPECT_EQ(two[1].at("state").as_string(), "backup");
    EXPECT_FALSE(two[1].as_object().contains("mcast_group"));
}

TEST(list_json, only_listings_take_json) {
    struct row {
        std::vector<std::string> args;
        bool refused;
    };
    std::vector<row> rows = {
        {{"-L", "-n"}, false},
        {{"-l"}, false},
        {{"-L", "-n", "-t", "10.0.0.1:80"}, false},
        {{"-L", "--stats", "--exact"}, false},
        {{"-L", "-c"}, false},
        {{"-L", "--timeout"}, false},
        {{"-L", "--daemon"}, false},
        {{}, false}, // no arguments lists
        {{"-A", "-t", "10.0.0.1:80"}, true},
        {{"-E", "-t", "10.0.0.1:80"}, true},
        {{"-D", "-t", "10.0.0.1:80"}, true},
        {{"-a", "-t", "10.0.0.1:80", "-r", "10.0.0.11"}, true},
        {{"-C"}, true},
        {{"--set", "1", "2", "3"}, true},
        {{"-R"}, true},
        {{"-Z"}, true},
        {{"-S", "-n"}, true},
        {{"-h"}, true},
    };
    for (const auto& r : rows) {
        auto parsed = ipvsadm::parse(r.args, "xlbctl");
        ASSERT_TRUE(std::holds_alternative<ipvsadm::command>(parsed)) << r.args.size();
        auto why = xlbctl::json_refusal(std::get<ipvsadm::command>(parsed));
        EXPECT_EQ(why.has_value(), r.refused) << (r.args.empty() ? "(none)" : r.args[0]);
        if (why) {
            EXPECT_NE(why->find("--json"), std::string::npos) << *why;
        }
    }
}

} // namespace

// A fwmark service has a mark and a family, no protocol, address or port;
// SCTP is named; a GRE dest names its checksum.
TEST(list_json, fwmark_sctp_and_gre) {
    service_state fwm;
    fwm.config.key = {protocol::tcp, endpoint{ip_address(family::inet6, {}), 0}, 9};
    fwm.config.sched = scheduler::rr;
    fwm.config.netmask = 128;
    service_state sctp;
    sctp.config.key = {protocol::sctp, ep("10.0.0.9:3868")};
    dest_state gre;
    gre.config = {ep("10.0.0.12:3868"), forwarding::tun, 1, 0, 0, tun_type::gre, 0, XLB_TUN_F_CSUM};
    sctp.dests = {gre};
    auto o = parse_one_line(xlbctl::services_json({fwm, sctp}, true, 4096, {}));
    const auto& svcs = o.at("services").as_array();
    ASSERT_EQ(svcs.size(), 2u);
    const auto& s = svcs[0].as_object();
    EXPECT_EQ(s.at("protocol").as_string(), "sctp");
    EXPECT_TRUE(s.at("fwmark").is_null());
    EXPECT_EQ(s.at("dests").as_array()[0].at("tunnel"),
              (json::object{{"type", "gre"}, {"port", nullptr}, {"checksum", "csum"}}));
    const auto& f = svcs[1].as_object();
    EXPECT_TRUE(f.at("protocol").is_null());
    EXPECT_EQ(u64(f.at("fwmark")), 9u);
    EXPECT_EQ(f.at("family").as_string(), "ipv6");
    EXPECT_TRUE(f.at("address").is_null());
    EXPECT_TRUE(f.at("port").is_null());
}

// execute_json() over any backend: one without verdict counters lists none.
TEST(list_json, a_backend_without_verdict_counters) {
    memory_dataplane dp;
    service_config c;
    c.key = {protocol::udp, ep("10.0.0.1:53")};
    ASSERT_TRUE(dp.add_service(c));
    auto parsed = ipvsadm::parse({"-L", "-n"}, "xlbctl");
    auto r = xlbctl::execute_json(std::get<ipvsadm::command>(parsed), dp);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    auto o = parse_one_line(r.out);
    EXPECT_EQ(o.at("services").as_array().size(), 1u);
    EXPECT_TRUE(o.at("verdicts").at("reasons").as_array().empty());
    EXPECT_EQ(u64(o.at("conn_table_size")), 4096u);
}
