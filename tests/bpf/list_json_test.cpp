// `xlbctl --json` listings against a real loaded instance: the table is set
// up through the built xlbctl, packets go through the program with
// bpf_prog_test_run_opts(), and the JSON of -L, -L -t, -L -c, -L --timeout
// must parse and carry exactly what was sent. Commands that are not
// listings are refused with exit 2 and leave the table as it was.

#include "support/netns.h"
#include "support/packet.h"
#include "support/cmd.h"
#include "support/priv.h"
#include "support/xdp_lab.h"

#include <xlb/dataplane/xdp_dataplane.h>

#include <boost/json.hpp>
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <map>
#include <set>

using namespace xlb;
using namespace xlb::test;
namespace json = boost::json;

namespace {

// rr's per-CPU cursor: one CPU, so 4 new flows split 2 and 2.
[[maybe_unused]] auto* const g_env = ::testing::AddGlobalTestEnvironment(new lab_environment(true));

ip_address v4(const char* s) { return *ip_address::parse(s); }

packet_spec tcp4(const char* vip, uint16_t vport, uint16_t sport) {
    packet_spec p;
    p.dst = parse_mac(xdp_lab::dir_mac);
    p.saddr = v4("10.1.0.200");
    p.daddr = v4(vip);
    p.sport = sport;
    p.dport = vport;
    p.tcp_flags = tcp_syn;
    p.payload.assign(13, 0x5a);
    return p;
}

uint64_t u64(const json::value& v) { return json::value_to<uint64_t>(v); }

// Removes the estimated rates, which the data path's timer may move between
// two calls.
json::value without_rates(json::value v) {
    for (auto& s : v.at("services").as_array()) {
        s.as_object().erase("rate");
        for (auto& d : s.at("dests").as_array()) {
            d.as_object().erase("rate");
        }
    }
    return v;
}

class list_json : public ::testing::Test {
protected:
    void SetUp() override {
        XLB_REQUIRE_PRIVILEGE();
        _xlb.emplace(load_options{8, 256, 4096, 257});
        _ifindex = ifindex(xdp_lab::dir_if);
        ASSERT_GT(_ifindex, 0);
        for (const char* c : {"-A -t 10.1.0.100:80 -s rr",
                              "-a -t 10.1.0.100:80 -r 10.1.0.11 -g -w 3",
                              "-a -t 10.1.0.100:80 -r 10.1.0.12 -g -x 100 -y 50",
                              "-A -t 10.1.0.100:81 -s wlc -p 120 -M 255.255.255.0"}) {
            auto r = x(c);
            ASSERT_EQ(r.code, 0) << c << ": " << r.err;
        }
    }

    cmd_result x(const std::string& args) {
        return run_cmd(fmt::format("{} --pin-dir {} {}", xlbctl_bin(), _xlb->pin_dir(), args));
    }

    json::object parse(const cmd_result& r, const std::string& what) {
        EXPECT_EQ(r.code, 0) << what << ": " << r.err;
        json::error_code ec;
        auto v = json::parse(r.out, ec);
        EXPECT_FALSE(ec) << what << ": " << r.out;
        if (ec || !v.is_object()) {
            return {};
        }
        EXPECT_EQ(v.at("schema").as_int64(), 1) << what;
        return v.as_object();
    }

    uint32_t send(const packet_spec& p, uint32_t verdict) {
        auto frame = build(p);
        auto res = run_xdp(_xlb->dp().prog_fd(), frame, _ifindex);
        EXPECT_EQ(res.rc, 0);
        EXPECT_EQ(res.action, verdict);
        size_t l3 = l3_offset(p);
        return (uint32_t{frame[l3 + 2]} << 8) | frame[l3 + 3]; // IPv4 total length: what IPVS counts
    }

    // 4 new flows to :80 (TX), 2 SYNs to :81 with no dest (dropped), 3 to
    // no VIP (passed). Returns the bytes of one packet to :80.
    uint32_t send_traffic() {
        uint32_t len = 0;
        for (uint16_t i = 0; i < 4; ++i) {
            len = send(tcp4("10.1.0.100", 80, static_cast<uint16_t>(41000 + i)), XDP_TX);
        }
        for (uint16_t i = 0; i < 2; ++i) {
            send(tcp4("10.1.0.100", 81, static_cast<uint16_t>(42000 + i)), XDP_DROP);
        }
        for (uint16_t i = 0; i < 3; ++i) {
            send(tcp4("10.1.0.250", 80, static_cast<uint16_t>(43000 + i)), XDP_PASS);
        }
        return len;
    }

    std::optional<loaded_xlb> _xlb;
    int _ifindex = 0;
};

TEST_F(list_json, services_counters_and_verdicts) {
    uint32_t len = send_traffic();
    auto o = parse(x("--json -L -n"), "-L -n");
    EXPECT_EQ(o.at("version").as_string(), "1.2.1");
    EXPECT_EQ(u64(o.at("conn_table_size")), 4096u);

    const auto& svcs = o.at("services").as_array();
    ASSERT_EQ(svcs.size(), 2u) << json::serialize(o);
    const auto& s80 = svcs[0].as_object();
    EXPECT_EQ(s80.at("protocol").as_string(), "tcp");
    EXPECT_EQ(s80.at("family").as_string(), "ipv4");
    EXPECT_EQ(s80.at("address").as_string(), "10.1.0.100");
    EXPECT_EQ(u64(s80.at("port")), 80u);
    EXPECT_EQ(s80.at("scheduler").as_string(), "rr");
    EXPECT_EQ(s80.at("persistent").as_bool(), false);
    const auto& st = s80.at("stats").as_object();
    EXPECT_EQ(u64(st.at("conns")), 4u);
    EXPECT_EQ(u64(st.at("inpkts")), 4u);
    EXPECT_EQ(u64(st.at("inbytes")), 4u * len);
    EXPECT_EQ(u64(st.at("outpkts")), 0u);
    EXPECT_EQ(u64(st.at("outbytes")), 0u);
    EXPECT_TRUE(s80.at("rate").is_object());

    const auto& dests = s80.at("dests").as_array();
    ASSERT_EQ(dests.size(), 2u);
    std::map<std::string, json::object> by_addr;
    for (const auto& d : dests) {
        by_addr[std::string(d.at("address").as_string())] = d.as_object();
    }
    // ipvsadm's order: by address.
    EXPECT_EQ(dests[0].at("address").as_string(), "10.1.0.11");
    for (const char* a : {"10.1.0.11", "10.1.0.12"}) {
        const auto& d = by_addr[a];
        EXPECT_EQ(u64(d.at("port")), 80u) << a;
        EXPECT_EQ(d.at("forwarding").as_string(), "route") << a;
        EXPECT_TRUE(d.at("tunnel").is_null()) << a;
        EXPECT_EQ(u64(d.at("stats").at("conns")), 2u) << a;
        EXPECT_EQ(u64(d.at("stats").at("inpkts")), 2u) << a;
        EXPECT_EQ(u64(d.at("stats").at("inbytes")), 2u * len) << a;
        EXPECT_EQ(u64(d.at("active_conns")), 2u) << a; // SYN_RECV is active, as IPVS's tcp_state_active says
        EXPECT_EQ(u64(d.at("inactive_conns")), 0u) << a;
        EXPECT_EQ(u64(d.at("persist_conns")), 0u) << a;
        EXPECT_EQ(d.at("overloaded").as_bool(), false) << a;
    }
    EXPECT_EQ(by_addr["10.1.0.11"].at("weight").as_int64(), 3);
    EXPECT_EQ(u64(by_addr["10.1.0.11"].at("u_threshold")), 0u);
    EXPECT_EQ(by_addr["10.1.0.12"].at("weight").as_int64(), 1);
    EXPECT_EQ(u64(by_addr["10.1.0.12"].at("u_threshold")), 100u);
    EXPECT_EQ(u64(by_addr["10.1.0.12"].at("l_threshold")), 50u);

    const auto& s81 = svcs[1].as_object();
    EXPECT_EQ(u64(s81.at("port")), 81u);
    EXPECT_EQ(s81.at("scheduler").as_string(), "wlc");
    EXPECT_EQ(s81.at("persistent").as_bool(), true);
    EXPECT_EQ(u64(s81.at("timeout")), 120u);
    EXPECT_EQ(s81.at("netmask").as_string(), "255.255.255.0");
    EXPECT_TRUE(s81.at("dests").as_array().empty());

    const auto& v = o.at("verdicts").as_object();
    EXPECT_EQ(u64(v.at("totals").at("tx")), 4u);
    EXPECT_EQ(u64(v.at("totals").at("drop")), 2u);
    EXPECT_EQ(u64(v.at("totals").at("pass")), 3u);
    EXPECT_EQ(u64(v.at("totals").at("redirect")), 0u);
    const auto& reasons = v.at("reasons").as_array();
    ASSERT_EQ(reasons.size(), size_t{XLB_R_MAX});
    for (int r = 0; r < XLB_R_MAX; ++r) {
        auto e = static_cast<xlb_reason>(r);
        uint64_t want = e == XLB_R_TX ? 4 : e == XLB_R_DROP_NO_DEST ? 2 : e == XLB_R_PASS_NO_SERVICE ? 3 : 0;
        EXPECT_EQ(reasons[static_cast<size_t>(r)].at("name").as_string(), reason_name(e));
        EXPECT_EQ(u64(reasons[static_cast<size_t>(r)].at("packets")), want) << reason_name(e);
    }

    // The text listing agrees.
    auto text = x("-L -n --stats --exact");
    ASSERT_EQ(text.code, 0) << text.err;
    EXPECT_NE(text.out.find(fmt::format("{:<33}{:>9}{:>9}{:>9}{:>9}{:>9}\n", "TCP  10.1.0.100:80", 4, 4, 0, 4 * len, 0)),
              std::string::npos)
        << text.out;

    // Format flags and -n change nothing in JSON; no arguments and -l list too.
    auto plain = without_rates(o);
    for (const char* flags : {"-L", "-l -n", "-L -n --stats", "-L -n --rate", "-L -n --thresholds",
                              "-L -n --persistent-conn", "-L -n --tun-info", "-L -n --exact", "-Ln --stats --exact",
                              ""}) {
        auto other = parse(x(fmt::format("--json {}", flags)), flags);
        EXPECT_EQ(without_rates(other), plain) << flags;
    }
    // --nosort: the same services, in the table's order.
    auto nosort = parse(x("--json -L -n --nosort"), "--nosort");
    std::set<std::string> seen;
    for (const auto& s : nosort.at("services").as_array()) {
        seen.insert(fmt::format("{}:{}", std::string(s.at("address").as_string()), u64(s.at("port"))));
    }
    EXPECT_EQ(seen, (std::set<std::string>{"10.1.0.100:80", "10.1.0.100:81"}));
}

TEST_F(list_json, one_service_and_a_missing_one) {
    send_traffic();
    auto o = parse(x("--json -L -n -t 10.1.0.100:81"), "-t :81");
    const auto& svcs = o.at("services").as_array();
    ASSERT_EQ(svcs.size(), 1u);
    EXPECT_EQ(u64(svcs[0].at("port")), 81u);
    EXPECT_EQ(svcs[0].at("persistent").as_bool(), true);
    EXPECT_EQ(u64(o.at("conn_table_size")), 4096u);
    EXPECT_EQ(u64(o.at("verdicts").at("totals").at("drop")), 2u);

    auto one80 = parse(x("--json -L -n -t 10.1.0.100:80"), "-t :80");
    ASSERT_EQ(one80.at("services").as_array().size(), 1u);
    EXPECT_EQ(u64(one80.at("services").as_array()[0].at("stats").at("conns")), 4u);

    // As ipvsadm: "No such service" on stderr, exit 1; stdout stays empty.
    auto text = x("-L -n -t 10.1.0.100:82");
    auto missing = x("--json -L -n -t 10.1.0.100:82");
    EXPECT_EQ(missing.code, 1);
    EXPECT_EQ(missing.code, text.code);
    EXPECT_TRUE(missing.out.empty()) << missing.out;
    EXPECT_EQ(missing.err, "No such service\n");
    EXPECT_EQ(missing.err, text.err);

    // No instance: the same message and exit code as the text listing.
    // --backend xdp: where the kernel has IPVS, auto (the default) would open it.
    auto none = fmt::format("/sys/fs/bpf/xlb/list-json-none-{}", getpid());
    auto jn = run_cmd(fmt::format("{} --backend xdp --pin-dir {} --json -L -n", xlbctl_bin(), none));
    auto tn = run_cmd(fmt::format("{} --backend xdp --pin-dir {} -L -n", xlbctl_bin(), none));
    EXPECT_EQ(jn.code, 255);
    EXPECT_EQ(jn.code, tn.code);
    EXPECT_TRUE(jn.out.empty()) << jn.out;
    EXPECT_EQ(jn.err, tn.err);
    EXPECT_NE(jn.err.find("not loaded"), std::string::npos) << jn.err;
}

TEST_F(list_json, conns_timeouts_and_daemons) {
    send_traffic();
    auto o = parse(x("--json -L -c"), "-L -c");
    const auto& conns = o.at("conns").as_array();
    ASSERT_EQ(conns.size(), 4u) << json::serialize(o);
    std::set<uint64_t> ports;
    std::map<std::string, int> per_dest;
    for (const auto& c : conns) {
        EXPECT_EQ(c.at("protocol").as_string(), "tcp");
        EXPECT_EQ(c.at("client").at("address").as_string(), "10.1.0.200");
        ports.insert(u64(c.at("client").at("port")));
        EXPECT_EQ(c.at("virtual"), (json::object{{"address", "10.1.0.100"}, {"port", 80}}));
        EXPECT_EQ(u64(c.at("dest").at("port")), 80u);
        ++per_dest[std::string(c.at("dest").at("address").as_string())];
        EXPECT_EQ(c.at("state").as_string(), "SYN_RECV");
        EXPECT_EQ(c.at("template").as_bool(), false);
        EXPECT_LE(u64(c.at("expire_s")), 60u); // IPVS's SYN_RECV timeout
    }
    EXPECT_EQ(ports, (std::set<uint64_t>{41000, 41001, 41002, 41003}));
    EXPECT_EQ(per_dest, (std::map<std::string, int>{{"10.1.0.11", 2}, {"10.1.0.12", 2}}));
    // -n and --persistent-conn change nothing.
    EXPECT_EQ(parse(x("--json -Lnc --persistent-conn"), "-Lnc").at("conns").as_array().size(), 4u);

    ASSERT_EQ(x("--set 901 121 301").code, 0);
    auto t = parse(x("--json -L --timeout"), "--timeout");
    EXPECT_EQ(t.at("timeouts"), (json::object{{"tcp", 901}, {"tcp_fin", 121}, {"udp", 301}}));

    auto d = parse(x("--json -L --daemon"), "--daemon");
    EXPECT_TRUE(d.at("daemons").as_array().empty());
}

TEST_F(list_json, commands_that_are_not_listings_are_refused_and_change_nothing) {
    auto before = x("-L -n");
    ASSERT_EQ(before.code, 0);
    auto timeouts = x("-L --timeout");
    for (const char* c : {"-A -t 10.1.0.100:90 -s rr", "-E -t 10.1.0.100:80 -s wlc", "-D -t 10.1.0.100:80",
                          "-a -t 10.1.0.100:80 -r 10.1.0.13", "-e -t 10.1.0.100:80 -r 10.1.0.11 -w 9",
                          "-d -t 10.1.0.100:80 -r 10.1.0.11", "-C", "--set 1 2 3", "-Z", "-R", "-S", "-S -n", "-h",
                          "load", "unload"}) {
        auto r = x(fmt::format("--json {} </dev/null", c));
        EXPECT_EQ(r.code, 2) << c;
        EXPECT_TRUE(r.out.empty()) << c << ": " << r.out;
        EXPECT_NE(r.err.find("--json"), std::string::npos) << c << ": " << r.err;
    }
    EXPECT_EQ(x("-L -n").out, before.out);
    EXPECT_EQ(x("-L --timeout").out, timeouts.out);
    auto list = _xlb->dp().list();
    ASSERT_TRUE(list);
    EXPECT_EQ(list->size(), 2u);

    // A usage error keeps ipvsadm's message and exit code.
    auto bad = x("--json -L -c -t 10.1.0.100:80");
    auto bad_text = x("-L -c -t 10.1.0.100:80");
    EXPECT_EQ(bad.code, 2);
    EXPECT_EQ(bad.code, bad_text.code);
    EXPECT_EQ(bad.err, bad_text.err);
    EXPECT_TRUE(bad.out.empty());
}

} // namespace
