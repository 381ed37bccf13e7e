// `xlbctl status` against a real loaded instance: a table of packets with
// known verdicts goes through the program, then the report (and xlbctl's
// JSON rendering of it) must count exactly those, with the load-time sizes,
// the fill levels of what was added, and the program's identity.

#include "support/netns.h"
#include "support/packet.h"
#include "support/cmd.h"
#include "support/priv.h"
#include "support/verifier_budget.h"
#include "support/xdp_lab.h"

#include <xlb/dataplane/status.h>
#include <xlb/dataplane/xdp_dataplane.h>

#include <bpf/bpf.h>
#include <boost/json.hpp>
#include <fmt/format.h>

#include <filesystem>
#include <gtest/gtest.h>

#include <sys/utsname.h>
#include <unistd.h>

#include <map>

using namespace xlb;
using namespace xlb::test;
namespace json = boost::json;

namespace {

[[maybe_unused]] auto* const g_env = ::testing::AddGlobalTestEnvironment(new lab_environment(false));

ip_address v4(const char* s) { return *ip_address::parse(s); }
endpoint ep(const char* s) { return *endpoint::parse(s); }

packet_spec tcp4(const char* vip, uint16_t vport, uint16_t sport, uint8_t flags = tcp_syn) {
    packet_spec p;
    p.dst = parse_mac(xdp_lab::dir_mac);
    p.saddr = v4("10.1.0.200");
    p.daddr = v4(vip);
    p.sport = sport;
    p.dport = vport;
    p.tcp_flags = flags;
    return p;
}

const load_options sizes{8, 256, 4096, 257};

class status : public ::testing::Test {
protected:
    void SetUp() override {
        XLB_REQUIRE_PRIVILEGE();
        _xlb.emplace(sizes);
        _ifindex = ifindex(xdp_lab::dir_if);
        ASSERT_GT(_ifindex, 0);
        // Two services: :80 with one DR dest, :81 with none.
        ASSERT_TRUE(dp().add_service({{protocol::tcp, ep("10.1.0.100:80")}, scheduler::rr}));
        ASSERT_TRUE(dp().add_dest({protocol::tcp, ep("10.1.0.100:80")},
                                  {{xdp_lab::backend4(1), 80}, forwarding::dr, 1, 0, 0}));
        ASSERT_TRUE(dp().add_service({{protocol::tcp, ep("10.1.0.100:81")}, scheduler::wlc}));
    }
    xdp_dataplane& dp() { return _xlb->dp(); }

    // Sends the table; returns how many packets each reason should count.
    std::map<xlb_reason, uint64_t> send_table() {
        struct row {
            std::string what;
            packet_spec spec;
            uint32_t verdict;
            xlb_reason reason;
        };
        std::vector<row> rows;
        for (uint16_t i = 0; i < 3; ++i) {
            rows.push_back({"new flow to a service with a dest", tcp4("10.1.0.100", 80, 41000 + i), XDP_TX, XLB_R_TX});
        }
        for (uint16_t i = 0; i < 2; ++i) {
            rows.push_back({"service without dests", tcp4("10.1.0.100", 81, 42000 + i), XDP_DROP, XLB_R_DROP_NO_DEST});
        }
        for (uint16_t i = 0; i < 4; ++i) {
            rows.push_back({"not a VIP", tcp4("10.1.0.250", 80, 43000 + i), XDP_PASS, XLB_R_PASS_NO_SERVICE});
        }
        rows.push_back({"ACK with no flow", tcp4("10.1.0.100", 80, 44000, tcp_ack), XDP_PASS, XLB_R_PASS_TCP_NOT_SYN});
        // The first flow's handshake completes: it moves from embryos to flows.
        rows.push_back({"the client's first ACK", tcp4("10.1.0.100", 80, 41000, tcp_ack), XDP_TX, XLB_R_TX});
        std::map<xlb_reason, uint64_t> want;
        for (const auto& r : rows) {
            auto res = run_xdp(dp().prog_fd(), build(r.spec), _ifindex);
            EXPECT_EQ(res.rc, 0) << r.what;
            EXPECT_EQ(res.action, r.verdict) << r.what;
            ++want[r.reason];
        }
        return want;
    }

    uint32_t prog_id() {
        bpf_prog_info info{};
        uint32_t len = sizeof(info);
        EXPECT_EQ(bpf_obj_get_info_by_fd(dp().prog_fd(), &info, &len), 0);
        return info.id;
    }

    cmd_result x(const std::string& args) {
        return run_cmd(fmt::format("{} --pin-dir {} {}", xlbctl_bin(), _xlb->pin_dir(), args));
    }

    // What the loader pinned besides the program: one file per map.
    size_t pinned_maps() const {
        size_t n = 0;
        for (const auto& e : std::filesystem::directory_iterator(_xlb->pin_dir())) {
            n += e.path().filename() != "xlb_xdp";
        }
        return n;
    }

    std::optional<loaded_xlb> _xlb;
    int _ifindex = 0;
};

const map_report* find_map(const status_report& st, const std::string& name) {
    for (const auto& m : st.maps) {
        if (m.name == name) {
            return &m;
        }
    }
    return nullptr;
}

// The program stays inside the verifier budget for the kernel it runs on
// (support/verifier_budget.h).
TEST_F(status, the_program_stays_inside_the_verifier_budget) {
    auto st = dp().report();
    ASSERT_TRUE(st) << st.error().message();
    struct utsname u {};
    ASSERT_EQ(::uname(&u), 0);
    const auto& b = verifier_budget_for(u.release);
    fmt::print("kernel {}: {} verified instructions (budget {}, measured {} when set)\n", u.release,
               st->program.verified_insns, b.budget, b.measured);
    EXPECT_GT(st->program.verified_insns, 0u);
    EXPECT_LE(st->program.verified_insns, b.budget)
        << "past the verifier budget for " << u.release << ": raise it only with a reason (support/verifier_budget.h)";
}

TEST_F(status, report_counts_what_was_sent_and_sizes_what_was_loaded) {
    auto want = send_table();
    ASSERT_TRUE(dp().attach(xdp_lab::dir_if, xdp_mode::native));

    auto st = dp().report();
    ASSERT_TRUE(st) << st.error().message();

    EXPECT_EQ(st->backend.name, "xdp");
    EXPECT_NE(st->backend.reason.find(_xlb->pin_dir()), std::string::npos) << st->backend.reason;
    EXPECT_EQ(st->pin_dir, _xlb->pin_dir());

    EXPECT_EQ(st->program.id, prog_id());
    EXPECT_GT(st->program.verified_insns, 0u);
    EXPECT_GT(st->program.xlated_bytes, 0u);
    EXPECT_EQ(st->program.name, "xlb_xdp");
    EXPECT_EQ(st->program.tag.size(), 16u);
    EXPECT_EQ(st->program.pinned_at, _xlb->pin_dir() + "/xlb_xdp");
    EXPECT_GT(st->program.loaded_at_unix, 1600000000);

    // Every reason, in enum order, counted exactly.
    ASSERT_EQ(st->reasons.size(), size_t{XLB_R_MAX});
    for (int r = 0; r < XLB_R_MAX; ++r) {
        auto e = static_cast<xlb_reason>(r);
        const auto& rr = st->reasons[static_cast<size_t>(r)];
        EXPECT_EQ(rr.name, reason_name(e));
        EXPECT_EQ(rr.packets, want.count(e) ? want[e] : 0) << rr.name;
        EXPECT_FALSE(rr.description.empty()) << rr.name;
    }
    EXPECT_EQ(st->reasons[XLB_R_TX].verdict, "tx");
    EXPECT_EQ(st->reasons[XLB_R_DROP_NO_DEST].verdict, "drop");
    EXPECT_EQ(st->reasons[XLB_R_PASS_NO_SERVICE].verdict, "pass");
    EXPECT_EQ(st->reasons[XLB_R_REDIRECT].verdict, "redirect");

    EXPECT_EQ(st->max_services, sizes.max_services);
    EXPECT_EQ(st->max_dests, sizes.max_dests);
    EXPECT_EQ(st->max_flows, sizes.max_flows);
    EXPECT_EQ(st->mh_size, sizes.mh_size);
    EXPECT_EQ(st->max_embryonic, embryonic_size(sizes));
    // The kernel's sysctl defaults (net/ipv4/icmp.c, sysctl_net_ipv4.c).
    EXPECT_EQ(st->icmp_ratelimit_ms, 1000u);
    EXPECT_EQ(st->icmp_msgs_per_sec, 1000u);
    EXPECT_EQ(st->icmp_msgs_burst, 50u);
    EXPECT_EQ(st->embryonic, 2u) << "two SYNs without their ACK";

    struct fill {
        std::string name;
        uint32_t max;
        std::optional<uint64_t> used;
        std::string counted;
    };
    std::vector<fill> fills = {
        {"svcs", sizes.max_services, 2, "active"},
        {"svc_index", sizes.max_services, 2, "keys"},
        {"vips", sizes.max_services, std::nullopt, "keys"}, // VIP entries: not counted here
        {"sched_tables", sizes.max_services, 2, "maps"},
        {"dests", sizes.max_dests, 1, "active"},
        {"flows", sizes.max_flows, 1, "keys"},
        {"embryos", embryonic_size(sizes), 2, "keys"},
        {"embryo_rev", embryonic_size(sizes), 0, "keys"},
        {"persist", sizes.max_flows, 0, "keys"},
        {"nat_rev", sizes.max_flows, 0, "keys"},
        {"tx_ports", 64, 1, "keys"},
        {"dest_stats", sizes.max_dests, std::nullopt, ""},
        {"reasons", XLB_R_MAX, std::nullopt, ""},
    };
    for (const auto& f : fills) {
        const auto* m = find_map(*st, f.name);
        ASSERT_NE(m, nullptr) << f.name;
        EXPECT_EQ(m->max_entries, f.max) << f.name;
        EXPECT_GT(m->id, 0u) << f.name;
        EXPECT_GT(m->memlock_bytes, 0u) << f.name;
        if (f.used) {
            ASSERT_TRUE(m->used) << f.name;
            EXPECT_EQ(*m->used, *f.used) << f.name;
        }
        if (!f.counted.empty()) {
            EXPECT_EQ(m->counted, f.counted) << f.name;
        } else {
            EXPECT_FALSE(m->used) << f.name;
        }
    }
    // Every pinned map is there, each once.
    EXPECT_EQ(st->maps.size(), pinned_maps());

    ASSERT_EQ(st->interfaces.size(), 1u);
    EXPECT_EQ(st->interfaces[0].name, xdp_lab::dir_if);
    EXPECT_EQ(st->interfaces[0].ifindex, _ifindex);
    EXPECT_EQ(st->interfaces[0].mode, "native");
    EXPECT_EQ(st->interfaces[0].driver, "veth");
    EXPECT_TRUE(st->interfaces[0].tx_port);
    // The lab turns forwarding on (net.ipv4.conf.all, net.ipv6.conf.all).
    EXPECT_EQ(st->interfaces[0].ipv4_forwarding, std::optional<bool>(true));
    EXPECT_EQ(st->interfaces[0].ipv6_forwarding, std::optional<bool>(true));

    ASSERT_TRUE(dp().detach(xdp_lab::dir_if));
    auto after = dp().report();
    ASSERT_TRUE(after);
    EXPECT_TRUE(after->interfaces.empty());
}

TEST_F(status, json_has_schema_1_and_the_same_figures) {
    auto want = send_table();
    ASSERT_TRUE(dp().attach(xdp_lab::other_if, xdp_mode::generic));
    auto r = x("--json status");
    ASSERT_EQ(r.code, 0) << r.err;
    json::error_code ec;
    auto doc = json::parse(r.out, ec);
    ASSERT_FALSE(ec) << r.out;
    ASSERT_TRUE(doc.is_object());
    const auto& o = doc.as_object();

    EXPECT_EQ(o.at("schema").as_int64(), 1);
    const auto& be = o.at("backend").as_object();
    EXPECT_EQ(be.at("name").as_string(), "xdp");
    EXPECT_EQ(be.at("selected_by").as_string(), "default");
    EXPECT_NE(std::string(be.at("reason").as_string()).find(_xlb->pin_dir()), std::string::npos);
    EXPECT_EQ(o.at("pin_dir").as_string(), _xlb->pin_dir());

    const auto& p = o.at("program").as_object();
    EXPECT_EQ(json::value_to<uint32_t>(p.at("id")), prog_id());
    EXPECT_GT(json::value_to<uint64_t>(p.at("verified_insns")), 0u);
    EXPECT_EQ(p.at("name").as_string(), "xlb_xdp");
    for (const char* k : {"tag", "pinned_at", "loaded_at"}) {
        EXPECT_TRUE(p.at(k).is_string()) << k;
    }
    for (const char* k : {"xlated_bytes", "jited_bytes", "loaded_at_unix", "run_count", "run_time_ns"}) {
        EXPECT_TRUE(p.at(k).is_number()) << k;
    }

    const auto& lim = o.at("limits").as_object();
    EXPECT_EQ(json::value_to<uint32_t>(lim.at("max_services")), sizes.max_services);
    EXPECT_EQ(json::value_to<uint32_t>(lim.at("max_dests")), sizes.max_dests);
    EXPECT_EQ(json::value_to<uint32_t>(lim.at("max_flows")), sizes.max_flows);
    EXPECT_EQ(json::value_to<uint32_t>(lim.at("mh_size")), sizes.mh_size);

    const auto& ifs = o.at("interfaces").as_array();
    ASSERT_EQ(ifs.size(), 1u) << r.out;
    const auto& i0 = ifs[0].as_object();
    EXPECT_EQ(i0.at("name").as_string(), xdp_lab::other_if);
    EXPECT_EQ(json::value_to<int>(i0.at("ifindex")), ifindex(xdp_lab::other_if));
    EXPECT_EQ(i0.at("mode").as_string(), "generic");
    EXPECT_EQ(i0.at("driver").as_string(), "veth");
    EXPECT_EQ(i0.at("tx_port").as_bool(), true);
    EXPECT_EQ(i0.at("ipv4_forwarding"), json::value(true));
    EXPECT_EQ(i0.at("ipv6_forwarding"), json::value(true));

    std::map<std::string, json::object> maps;
    for (const auto& m : o.at("maps").as_array()) {
        const auto& mo = m.as_object();
        for (const char* k : {"name", "type"}) {
            EXPECT_TRUE(mo.at(k).is_string()) << k;
        }
        for (const char* k : {"id", "key_size", "value_size", "max_entries", "memlock_bytes"}) {
            EXPECT_TRUE(mo.at(k).is_number()) << k;
        }
        EXPECT_TRUE(mo.at("used").is_number() || mo.at("used").is_null());
        EXPECT_EQ(mo.at("counted").is_null(), mo.at("used").is_null());
        maps[std::string(mo.at("name").as_string())] = mo;
    }
    EXPECT_EQ(maps.size(), pinned_maps());
    EXPECT_EQ(json::value_to<uint64_t>(maps["svcs"].at("used")), 2u);
    EXPECT_EQ(maps["svcs"].at("counted").as_string(), "active");
    EXPECT_EQ(json::value_to<uint32_t>(maps["svcs"].at("max_entries")), sizes.max_services);
    EXPECT_EQ(json::value_to<uint64_t>(maps["dests"].at("used")), 1u);
    EXPECT_EQ(json::value_to<uint64_t>(maps["flows"].at("used")), 1u);
    EXPECT_EQ(json::value_to<uint64_t>(maps["embryos"].at("used")), 2u);
    const auto& emb = o.at("embryonic").as_object();
    EXPECT_EQ(json::value_to<uint64_t>(emb.at("used")), 2u);
    EXPECT_EQ(json::value_to<uint32_t>(emb.at("max_entries")), embryonic_size(sizes));
    EXPECT_EQ(json::value_to<uint32_t>(lim.at("max_embryonic")), embryonic_size(sizes));
    EXPECT_DOUBLE_EQ(emb.at("fill_percent").to_number<double>(), 200.0 / embryonic_size(sizes));
    EXPECT_EQ(maps["flows"].at("type").as_string(), "lru_hash");
    EXPECT_EQ(json::value_to<uint32_t>(maps["flows"].at("max_entries")), sizes.max_flows);
    EXPECT_TRUE(maps["dest_stats"].at("used").is_null());

    const auto& reasons = o.at("reasons").as_array();
    ASSERT_EQ(reasons.size(), size_t{XLB_R_MAX});
    std::map<std::string, uint64_t> totals;
    for (int k = 0; k < XLB_R_MAX; ++k) {
        auto e = static_cast<xlb_reason>(k);
        const auto& ro = reasons[static_cast<size_t>(k)].as_object();
        EXPECT_EQ(ro.at("name").as_string(), reason_name(e));
        EXPECT_EQ(ro.at("verdict").as_string(), reason_verdict(e));
        EXPECT_TRUE(ro.at("description").is_string());
        EXPECT_EQ(json::value_to<uint64_t>(ro.at("packets")), want.count(e) ? want[e] : 0) << reason_name(e);
        totals[std::string(reason_verdict(e))] += want.count(e) ? want[e] : 0;
    }
    const auto& t = o.at("totals").as_object();
    for (const char* v : {"tx", "redirect", "pass", "drop"}) {
        EXPECT_EQ(json::value_to<uint64_t>(t.at(v)), totals[v]) << v;
    }
    EXPECT_TRUE(o.at("sweeper").as_object().at("runs").is_number());

    // The text form says the same things.
    auto text = x("status");
    ASSERT_EQ(text.code, 0) << text.err;
    EXPECT_NE(text.out.find("backend: xdp (pinned data path found at " + _xlb->pin_dir()), std::string::npos)
        << text.out;
    EXPECT_NE(text.out.find(fmt::format("program: xlb_xdp, id {}", prog_id())), std::string::npos) << text.out;
    EXPECT_NE(text.out.find("generic  driver veth"), std::string::npos) << text.out;
    EXPECT_NE(text.out.find("svcs                  2 / 8"), std::string::npos) << text.out;
    EXPECT_NE(text.out.find(fmt::format("  {:<20} {:<8} {:>12}  ", "drop_no_dest", "drop", 2)), std::string::npos)
        << text.out;
    EXPECT_NE(text.out.find("total: 4 tx, 0 redirect, 5 pass, 2 drop"), std::string::npos) << text.out;

    auto env = run_cmd(fmt::format("XLB_BACKEND=xdp {} --pin-dir {} --json status", xlbctl_bin(), _xlb->pin_dir()));
    ASSERT_EQ(env.code, 0) << env.err;
    EXPECT_EQ(json::parse(env.out).at("backend").at("selected_by").as_string(), "XLB_BACKEND");
    auto flag = x("--backend xdp --json status");
    EXPECT_EQ(json::parse(flag.out).at("backend").at("selected_by").as_string(), "--backend");
    ASSERT_TRUE(dp().detach(xdp_lab::other_if));
}

TEST_F(status, bad_input_and_no_instance_are_refused_clearly) {
    struct row {
        std::string args;
        int code;
        std::string says;
    };
    std::vector<row> rows = {
        {"status extra", 2, "unexpected argument 'extra'"},
        {"--json status --verbose", 2, "unexpected argument '--verbose'"},
        {"--json -C", 2, "--json works only with `xlbctl status`"},
        {"--json load", 2, "--json works only with `xlbctl status`"},
        {"--backend ipvs status", 2, "--backend ipvs is not available: kernel IPVS is not available"},
    };
    for (const auto& r : rows) {
        auto res = x(r.args);
        EXPECT_EQ(res.code, r.code) << r.args;
        EXPECT_TRUE(res.out.empty()) << r.args << ": " << res.out;
        EXPECT_NE(res.err.find(r.says), std::string::npos) << r.args << ": " << res.err;
    }
    auto none = fmt::format("/sys/fs/bpf/xlb/status-none-{}", getpid());
    for (const char* json : {"", "--json "}) {
        auto res = run_cmd(fmt::format("{} --backend xdp --pin-dir {} {}status", xlbctl_bin(), none, json));
        EXPECT_EQ(res.code, 255) << json;
        EXPECT_TRUE(res.out.empty()) << res.out;
        EXPECT_NE(res.err.find("xlb is not loaded at " + none), std::string::npos) << res.err;
    }
    // auto, the default, with no instance and no kernel IPVS: what is
    // missing, both halves, exit 255.
    if (access("/proc/net/ip_vs", F_OK) != 0) {
        for (const char* args : {"-L -n", "status", "--backend auto -A -t 10.0.0.1:80"}) {
            auto res = run_cmd(fmt::format("env -u XLB_BACKEND {} --pin-dir {} {}", xlbctl_bin(), none, args));
            EXPECT_EQ(res.code, 255) << args;
            EXPECT_TRUE(res.out.empty()) << args << ": " << res.out;
            EXPECT_NE(res.err.find("xlbctl: no backend to use (--backend auto"), std::string::npos) << res.err;
            EXPECT_NE(res.err.find(fmt::format("no XDP data path (xlb is not loaded at {} (run `xlbctl load` "
                                               "first)), and kernel IPVS is not available: ",
                                               none)),
                      std::string::npos)
                << res.err;
        }
    }
}

} // namespace
