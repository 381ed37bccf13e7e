#pragma once
// The behaviour every dataplane backend owes its callers, as kernel IPVS
// defines it (net/netfilter/ipvs/ip_vs_ctl.c): errnos and the order they are
// checked in, list order, edits, -Z, --set, and all-or-nothing change sets.
// Expected values come from IPVS, never from a backend's own output.
//
// Instantiate with a factory giving a fresh, empty dataplane:
//
//   INSTANTIATE_TEST_SUITE_P(memory, dataplane_behaviour,
//       ::testing::Values(behaviour_backend{"memory", make_memory, {8, 256}}),
//       behaviour_backend_name);
//
// Only this header's includer defines the tests, once per binary.

#include "support/priv.h"

#include <xlb/dataplane/dataplane.h>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace xlb::test {

// Owns a fresh backend (and whatever it needs, such as a loaded instance).
class behaviour_instance {
public:
    virtual ~behaviour_instance() = default;
    virtual dataplane& dp() = 0;
};

struct behaviour_backend {
    std::string name;
    std::function<std::unique_ptr<behaviour_instance>()> make;
    // The sizes the factory's instances have; 0: none (the ENOSPC cases skip).
    uint32_t max_services = 0;
    uint32_t max_dests = 0;
    // Why instances cannot be made here (needs root, ...); empty if they can.
    std::function<std::string()> missing = [] { return std::string(); };
};

inline void PrintTo(const behaviour_backend& b, std::ostream* os) { *os << b.name; }

inline std::string behaviour_backend_name(const ::testing::TestParamInfo<behaviour_backend>& p) {
    return p.param.name;
}

class dataplane_behaviour : public ::testing::TestWithParam<behaviour_backend> {
protected:
    void SetUp() override {
        if (auto why = GetParam().missing(); !why.empty()) {
            if (require_priv()) {
                FAIL() << "XLB_REQUIRE_PRIV=1 but " << why;
            }
            GTEST_SKIP() << why;
        }
        _instance = GetParam().make();
    }

    dataplane& dp() { return _instance->dp(); }

    static service_key tcp(const char* vip) { return service_key{protocol::tcp, *endpoint::parse(vip)}; }
    static service_config svc(const char* vip, scheduler s = scheduler::wlc) {
        service_config c;
        c.key = tcp(vip);
        c.sched = s;
        return c;
    }
    static dest_config dest(const char* addr, int32_t weight = 1, forwarding f = forwarding::dr) {
        dest_config d;
        d.addr = *endpoint::parse(addr);
        d.weight = weight;
        d.fwd = f;
        return d;
    }
    std::vector<service_state> table() {
        auto l = dp().list();
        EXPECT_TRUE(l) << l.error().message();
        return l ? *l : std::vector<service_state>{};
    }
    std::vector<endpoint> dest_order(const service_key& k) {
        std::vector<endpoint> out;
        for (const auto& s : table()) {
            if (s.config.key == k) {
                for (const auto& d : s.dests) {
                    out.push_back(d.config.addr);
                }
            }
        }
        return out;
    }
    static int code(const result<>& r) { return r ? 0 : r.error().code; }

    std::unique_ptr<behaviour_instance> _instance;
};

// Dest addresses: the lab's backends, unicast and resolved.
inline constexpr const char* vip_a = "10.0.0.1:80";
inline constexpr const char* vip_b = "10.0.0.2:80";
inline constexpr const char* rs1 = "10.1.0.11:80";
inline constexpr const char* rs2 = "10.1.0.12:80";
inline constexpr const char* rs3 = "10.1.0.13:80";

TEST_P(dataplane_behaviour, starts_empty_with_ipvs_default_timeouts) {
    EXPECT_TRUE(table().empty());
    auto t = dp().get_timeouts();
    ASSERT_TRUE(t) << t.error().message();
    // IPVS: tcp ESTABLISHED 15 min, FIN_WAIT 2 min, udp 5 min.
    EXPECT_EQ(*t, (timeouts{900, 120, 300}));
}

TEST_P(dataplane_behaviour, add_service_then_list) {
    auto c = svc(vip_a, scheduler::rr);
    c.flags = XLB_IPVS_SVC_F_PERSISTENT;
    c.timeout = 600;
    c.netmask = 0xffffff00;
    ASSERT_EQ(code(dp().add_service(c)), 0);
    auto t = table();
    ASSERT_EQ(t.size(), 1u);
    EXPECT_EQ(t[0].config.key, c.key);
    EXPECT_EQ(t[0].config.sched, scheduler::rr);
    EXPECT_EQ(t[0].config.flags & XLB_IPVS_SVC_F_PERSISTENT, XLB_IPVS_SVC_F_PERSISTENT);
    EXPECT_EQ(t[0].config.timeout, 600u);
    EXPECT_EQ(t[0].config.netmask, 0xffffff00u);
    EXPECT_TRUE(t[0].dests.empty());
    EXPECT_EQ(t[0].stats.conns, 0u);
}

TEST_P(dataplane_behaviour, add_existing_service_is_eexist) {
    ASSERT_EQ(code(dp().add_service(svc(vip_a))), 0);
    EXPECT_EQ(code(dp().add_service(svc(vip_a, scheduler::rr))), EEXIST);
    // Existence is checked before the scheduler (ip_vs_genl_set_cmd, then
    // ip_vs_add_service()).
    EXPECT_EQ(code(dp().add_service(svc(vip_a, scheduler::lblc))), EEXIST);
    ASSERT_EQ(table().size(), 1u);
    EXPECT_EQ(table()[0].config.sched, scheduler::wlc) << "the refused add changed nothing";
}

TEST_P(dataplane_behaviour, a_missing_service_is_esrch_for_every_other_command) {
    auto k = tcp(vip_a);
    EXPECT_EQ(code(dp().edit_service(svc(vip_a))), ESRCH);
    EXPECT_EQ(code(dp().del_service(k)), ESRCH);
    EXPECT_EQ(code(dp().zero(k)), ESRCH);
    EXPECT_EQ(code(dp().add_dest(k, dest(rs1))), ESRCH);
    EXPECT_EQ(code(dp().edit_dest(k, dest(rs1))), ESRCH);
    EXPECT_EQ(code(dp().del_dest(k, *endpoint::parse(rs1))), ESRCH);
    // The service is looked up before the dest's values are checked.
    auto bad = dest(rs1);
    bad.u_threshold = 1;
    bad.l_threshold = 2;
    EXPECT_EQ(code(dp().add_dest(k, bad)), ESRCH);
    EXPECT_EQ(code(dp().edit_dest(k, bad)), ESRCH);
    // Another port or protocol is another service.
    ASSERT_EQ(code(dp().add_service(svc(vip_a))), 0);
    EXPECT_EQ(code(dp().del_service(tcp("10.0.0.1:81"))), ESRCH);
    EXPECT_EQ(code(dp().del_service(service_key{protocol::udp, *endpoint::parse(vip_a)})), ESRCH);
}

TEST_P(dataplane_behaviour, edit_service_replaces_its_settings_and_keeps_dests_and_place) {
    ASSERT_EQ(code(dp().add_service(svc(vip_a))), 0);
    ASSERT_EQ(code(dp().add_service(svc(vip_b))), 0);
    ASSERT_EQ(code(dp().add_dest(tcp(vip_a), dest(rs1))), 0);
    auto before = table();
    auto e = svc(vip_a, scheduler::rr);
    e.flags = XLB_IPVS_SVC_F_PERSISTENT;
    e.timeout = 30;
    ASSERT_EQ(code(dp().edit_service(e)), 0);
    auto after = table();
    ASSERT_EQ(after.size(), 2u);
    for (size_t i = 0; i < 2; ++i) {
        EXPECT_EQ(after[i].config.key, before[i].config.key) << "an edit keeps the service's place";
    }
    auto it = std::find_if(after.begin(), after.end(), [&](const auto& s) { return s.config.key == e.key; });
    ASSERT_NE(it, after.end());
    EXPECT_EQ(it->config.sched, scheduler::rr);
    EXPECT_EQ(it->config.timeout, 30u);
    ASSERT_EQ(it->dests.size(), 1u);
    EXPECT_EQ(it->dests[0].config.addr, *endpoint::parse(rs1));
}

TEST_P(dataplane_behaviour, del_service_takes_its_dests) {
    ASSERT_EQ(code(dp().add_service(svc(vip_a))), 0);
    ASSERT_EQ(code(dp().add_dest(tcp(vip_a), dest(rs1))), 0);
    ASSERT_EQ(code(dp().del_service(tcp(vip_a))), 0);
    EXPECT_TRUE(table().empty());
    ASSERT_EQ(code(dp().add_service(svc(vip_a))), 0);
    ASSERT_EQ(table().size(), 1u);
    EXPECT_TRUE(table()[0].dests.empty()) << "a service added again starts without dests";
}

TEST_P(dataplane_behaviour, clear_empties_the_table_and_keeps_timeouts) {
    ASSERT_EQ(code(dp().set_timeouts({100, 0, 0})), 0);
    ASSERT_EQ(code(dp().add_service(svc(vip_a))), 0);
    ASSERT_EQ(code(dp().add_service(svc(vip_b))), 0);
    ASSERT_EQ(code(dp().add_dest(tcp(vip_a), dest(rs1))), 0);
    ASSERT_EQ(code(dp().clear()), 0);
    EXPECT_TRUE(table().empty());
    EXPECT_EQ(code(dp().clear()), 0) << "clearing an empty table is fine";
    EXPECT_EQ(dp().get_timeouts()->tcp, 100u);
    EXPECT_EQ(code(dp().add_service(svc(vip_a))), 0);
}

TEST_P(dataplane_behaviour, dests_list_newest_first_and_edits_keep_their_place) {
    auto k = tcp(vip_a);
    ASSERT_EQ(code(dp().add_service(svc(vip_a))), 0);
    for (const char* a : {rs1, rs2, rs3}) {
        ASSERT_EQ(code(dp().add_dest(k, dest(a))), 0) << a;
    }
    auto e = [](const char* a) { return *endpoint::parse(a); };
    EXPECT_EQ(dest_order(k), (std::vector<endpoint>{e(rs3), e(rs2), e(rs1)}));
    ASSERT_EQ(code(dp().edit_dest(k, dest(rs2, 7))), 0);
    EXPECT_EQ(dest_order(k), (std::vector<endpoint>{e(rs3), e(rs2), e(rs1)}));
    ASSERT_EQ(code(dp().del_dest(k, e(rs2))), 0);
    EXPECT_EQ(dest_order(k), (std::vector<endpoint>{e(rs3), e(rs1)}));
    ASSERT_EQ(code(dp().add_dest(k, dest(rs2))), 0);
    EXPECT_EQ(dest_order(k), (std::vector<endpoint>{e(rs2), e(rs3), e(rs1)}));
}

TEST_P(dataplane_behaviour, edit_dest_replaces_its_settings) {
    auto k = tcp(vip_a);
    ASSERT_EQ(code(dp().add_service(svc(vip_a))), 0);
    ASSERT_EQ(code(dp().add_dest(k, dest(rs1, 1))), 0);
    auto d = dest(rs1, 5, forwarding::nat);
    d.u_threshold = 100;
    d.l_threshold = 10;
    ASSERT_EQ(code(dp().edit_dest(k, d)), 0);
    auto t = table();
    ASSERT_EQ(t.size(), 1u);
    ASSERT_EQ(t[0].dests.size(), 1u);
    const auto& got = t[0].dests[0].config;
    EXPECT_EQ(got.weight, 5);
    EXPECT_EQ(got.fwd, forwarding::nat);
    EXPECT_EQ(got.u_threshold, 100u);
    EXPECT_EQ(got.l_threshold, 10u);
    // Weight 0 is legal: the dest takes no new connections (quiesced).
    EXPECT_EQ(code(dp().edit_dest(k, dest(rs1, 0))), 0);
    EXPECT_EQ(table()[0].dests[0].config.weight, 0);
}

TEST_P(dataplane_behaviour, dests_are_found_by_address_and_port) {
    auto k = tcp(vip_a);
    ASSERT_EQ(code(dp().add_service(svc(vip_a))), 0);
    ASSERT_EQ(code(dp().add_dest(k, dest("10.1.0.11:8080", 1, forwarding::nat))), 0);
    EXPECT_EQ(code(dp().add_dest(k, dest("10.1.0.11:8080", 1, forwarding::nat))), EEXIST);
    // Same address, another port: another dest (ip_vs_lookup_dest()).
    EXPECT_EQ(code(dp().add_dest(k, dest("10.1.0.11:8081", 1, forwarding::nat))), 0);
    EXPECT_EQ(code(dp().edit_dest(k, dest("10.1.0.11:8082", 1, forwarding::nat))), ENOENT);
    EXPECT_EQ(code(dp().del_dest(k, *endpoint::parse("10.1.0.12:8080"))), ENOENT);
    EXPECT_EQ(dest_order(k).size(), 2u);
    // A dest belongs to its service only.
    ASSERT_EQ(code(dp().add_service(svc(vip_b))), 0);
    EXPECT_EQ(code(dp().del_dest(tcp(vip_b), *endpoint::parse("10.1.0.11:8080"))), ENOENT);
    EXPECT_EQ(code(dp().add_dest(tcp(vip_b), dest("10.1.0.11:8080", 1, forwarding::nat))), 0);
}

TEST_P(dataplane_behaviour, dest_values_are_checked_before_the_lookup) {
    auto k = tcp(vip_a);
    ASSERT_EQ(code(dp().add_service(svc(vip_a))), 0);
    ASSERT_EQ(code(dp().add_dest(k, dest(rs1))), 0);
    auto range = [](const char* a) {
        auto d = dest(a);
        d.u_threshold = 5;
        d.l_threshold = 6;
        return d;
    };
    // ip_vs_add_dest() / ip_vs_edit_dest(): ERANGE before EEXIST / ENOENT.
    EXPECT_EQ(code(dp().add_dest(k, range(rs2))), ERANGE);
    EXPECT_EQ(code(dp().add_dest(k, range(rs1))), ERANGE);
    EXPECT_EQ(code(dp().edit_dest(k, range(rs1))), ERANGE);
    EXPECT_EQ(code(dp().edit_dest(k, range(rs2))), ERANGE);
    // Equal thresholds are fine.
    auto eq = dest(rs2);
    eq.u_threshold = eq.l_threshold = 5;
    EXPECT_EQ(code(dp().add_dest(k, eq)), 0);
    ASSERT_EQ(dest_order(k).size(), 2u);
    EXPECT_EQ(table()[0].dests[1].config.u_threshold, 0u) << "the refused edit changed nothing";
}

TEST_P(dataplane_behaviour, a_negative_weight_is_erange) {
    auto k = tcp(vip_a);
    ASSERT_EQ(code(dp().add_service(svc(vip_a))), 0);
    EXPECT_EQ(code(dp().add_dest(k, dest(rs1, -1))), ERANGE);
    ASSERT_EQ(code(dp().add_dest(k, dest(rs1))), 0);
    EXPECT_EQ(code(dp().edit_dest(k, dest(rs1, -1))), ERANGE);
    EXPECT_EQ(table()[0].dests[0].config.weight, 1);
}

TEST_P(dataplane_behaviour, gue_without_a_port_is_einval_before_the_lookup) {
    auto k = tcp(vip_a);
    ASSERT_EQ(code(dp().add_service(svc(vip_a))), 0);
    auto d = dest(rs1, 1, forwarding::tun);
    d.tunnel = tun_type::gue;
    EXPECT_EQ(code(dp().add_dest(k, d)), EINVAL);
    EXPECT_TRUE(dest_order(k).empty());
}

TEST_P(dataplane_behaviour, another_family_needs_tunnelling) {
    auto k = tcp(vip_a);
    ASSERT_EQ(code(dp().add_service(svc(vip_a))), 0);
    // ip_vs_genl_set_cmd(): a dest of another family only with -i.
    EXPECT_EQ(code(dp().add_dest(k, dest("[fd01::11]:80", 1, forwarding::dr))), EINVAL);
    EXPECT_EQ(code(dp().add_dest(k, dest("[fd01::11]:80", 1, forwarding::nat))), EINVAL);
    EXPECT_TRUE(dest_order(k).empty());
}

TEST_P(dataplane_behaviour, dest_values_are_checked_in_the_kernels_order) {
    auto k = tcp(vip_a);
    ASSERT_EQ(code(dp().add_service(svc(vip_a))), 0);
    // ip_vs_genl_set_cmd()'s family check, then ip_vs_add_dest()'s weight,
    // thresholds and GUE port.
    auto d = dest("[fd01::11]:80", -1, forwarding::nat);
    EXPECT_EQ(code(dp().add_dest(k, d)), EINVAL);
    d = dest(rs1, -1, forwarding::tun);
    d.tunnel = tun_type::gue;
    d.u_threshold = 1;
    d.l_threshold = 2;
    EXPECT_EQ(code(dp().add_dest(k, d)), ERANGE) << "the weight first";
    d.weight = 1;
    EXPECT_EQ(code(dp().add_dest(k, d)), ERANGE) << "then the thresholds";
    d.l_threshold = 0;
    EXPECT_EQ(code(dp().add_dest(k, d)), EINVAL) << "then GUE's port";
    EXPECT_TRUE(dest_order(k).empty());
}

TEST_P(dataplane_behaviour, an_ipv6_prefix_length_is_1_to_128) {
    auto c = svc("[2001:db8::1]:80");
    c.flags = XLB_IPVS_SVC_F_PERSISTENT;
    c.timeout = 300;
    c.netmask = 0;
    EXPECT_EQ(code(dp().add_service(c)), EINVAL);
    c.netmask = 129;
    EXPECT_EQ(code(dp().add_service(c)), EINVAL);
    c.netmask = 64;
    ASSERT_EQ(code(dp().add_service(c)), 0);
    c.netmask = 200;
    EXPECT_EQ(code(dp().edit_service(c)), EINVAL);
    EXPECT_EQ(table()[0].config.netmask, 64u);
}

TEST_P(dataplane_behaviour, an_unknown_persistence_engine_is_enoent) {
    auto c = svc(vip_a);
    c.flags = XLB_IPVS_SVC_F_PERSISTENT;
    c.timeout = 300;
    c.pe_name = "nosuch";
    EXPECT_EQ(code(dp().add_service(c)), ENOENT);
    EXPECT_TRUE(table().empty());
    c.pe_name.clear();
    ASSERT_EQ(code(dp().add_service(c)), 0);
    c.pe_name = "nosuch";
    EXPECT_EQ(code(dp().edit_service(c)), ENOENT);
}

TEST_P(dataplane_behaviour, set_timeouts_keeps_what_is_zero) {
    ASSERT_EQ(code(dp().set_timeouts({0, 60, 0})), 0);
    EXPECT_EQ(*dp().get_timeouts(), (timeouts{900, 60, 300}));
    ASSERT_EQ(code(dp().set_timeouts({1000, 0, 30})), 0);
    EXPECT_EQ(*dp().get_timeouts(), (timeouts{1000, 60, 30}));
    ASSERT_EQ(code(dp().set_timeouts({0, 0, 0})), 0);
    EXPECT_EQ(*dp().get_timeouts(), (timeouts{1000, 60, 30}));
}

TEST_P(dataplane_behaviour, zero_of_one_service_or_all) {
    ASSERT_EQ(code(dp().add_service(svc(vip_a))), 0);
    ASSERT_EQ(code(dp().add_dest(tcp(vip_a), dest(rs1))), 0);
    EXPECT_EQ(code(dp().zero(tcp(vip_a))), 0);
    EXPECT_EQ(code(dp().zero(std::nullopt)), 0);
    EXPECT_EQ(code(dp().zero(tcp(vip_b))), ESRCH);
    auto t = table();
    ASSERT_EQ(t.size(), 1u);
    EXPECT_EQ(t[0].stats.conns, 0u);
    ASSERT_EQ(t[0].dests.size(), 1u) << "-Z zeroes counters, nothing else";
    EXPECT_EQ(t[0].dests[0].stats.inpkts, 0u);
    // -Z of an empty table is fine.
    ASSERT_EQ(code(dp().clear()), 0);
    EXPECT_EQ(code(dp().zero(std::nullopt)), 0);
}

TEST_P(dataplane_behaviour, a_change_set_applies_in_order) {
    auto k = tcp(vip_a);
    auto r = dp().apply({change::add_service(svc(vip_a)), change::add_dest(k, dest(rs1)),
                         change::add_dest(k, dest(rs2)), change::edit_dest(k, dest(rs1, 3)),
                         change::set_timeouts({0, 0, 77})});
    ASSERT_TRUE(r) << r.error().err.message();
    auto e = [](const char* a) { return *endpoint::parse(a); };
    EXPECT_EQ(dest_order(k), (std::vector<endpoint>{e(rs2), e(rs1)}));
    EXPECT_EQ(table()[0].dests[1].config.weight, 3);
    EXPECT_EQ(dp().get_timeouts()->udp, 77u);
    EXPECT_TRUE(dp().apply({})) << "an empty set is fine";
}

TEST_P(dataplane_behaviour, a_change_set_is_all_or_nothing) {
    auto k = tcp(vip_a);
    // The third change fails: the first two must not be applied.
    auto r = dp().apply({change::add_service(svc(vip_a)), change::add_dest(k, dest(rs1)),
                         change::add_dest(k, dest(rs1))});
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().index, 2u);
    EXPECT_EQ(r.error().err.code, EEXIST);
    EXPECT_TRUE(table().empty());

    // On a table with content: a failing set leaves it exactly as it was.
    ASSERT_EQ(code(dp().add_service(svc(vip_b))), 0);
    ASSERT_EQ(code(dp().add_dest(tcp(vip_b), dest(rs2))), 0);
    ASSERT_EQ(code(dp().set_timeouts({0, 0, 40})), 0);
    r = dp().apply({change::del_dest(tcp(vip_b), *endpoint::parse(rs2)), change::set_timeouts({0, 0, 41}),
                    change::del_service(tcp(vip_a))});
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().index, 2u);
    EXPECT_EQ(r.error().err.code, ESRCH);
    auto t = table();
    ASSERT_EQ(t.size(), 1u);
    ASSERT_EQ(t[0].dests.size(), 1u);
    EXPECT_EQ(dp().get_timeouts()->udp, 40u);

    // A clear in a failing set clears nothing.
    r = dp().apply({change::clear_all(), change::add_service(svc(vip_a)), change::edit_service(svc(vip_b))});
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().index, 2u);
    EXPECT_EQ(table().size(), 1u);
}

TEST_P(dataplane_behaviour, locality_based_schedulers_unless_the_backend_has_them) {
    for (auto s : {scheduler::lblc, scheduler::lblcr}) {
        auto r = dp().add_service(svc(vip_a, s));
        if (dp().caps().has(s)) {
            EXPECT_EQ(code(r), 0);
            ASSERT_EQ(code(dp().del_service(tcp(vip_a))), 0);
            continue;
        }
        ASSERT_EQ(code(r), EOPNOTSUPP) << to_string(s);
        EXPECT_NE(r.error().context.find("locality-based"), std::string::npos) << r.error().context;
        EXPECT_TRUE(table().empty());
    }
    // An edit to one is refused the same way and changes nothing.
    ASSERT_EQ(code(dp().add_service(svc(vip_a, scheduler::rr))), 0);
    auto r = dp().edit_service(svc(vip_a, scheduler::lblc));
    if (!dp().caps().has(scheduler::lblc)) {
        EXPECT_EQ(code(r), EOPNOTSUPP);
        EXPECT_EQ(table()[0].config.sched, scheduler::rr);
    }
}

TEST_P(dataplane_behaviour, fwmark_services_unless_the_backend_has_them) {
    service_config c;
    c.key.fwmark = 7;
    c.key.vip = *endpoint::parse("0.0.0.0:0");
    c.sched = scheduler::rr;
    auto r = dp().add_service(c);
    if (!dp().caps().fwmark_services) {
        ASSERT_EQ(code(r), EOPNOTSUPP);
        EXPECT_NE(r.error().context.find("fwmark"), std::string::npos) << r.error().context;
        EXPECT_TRUE(table().empty());
        return;
    }
    ASSERT_EQ(code(r), 0);
    EXPECT_EQ(code(dp().add_service(c)), EEXIST);
    // Mark 7 of IPv6 is another service.
    auto v6 = c;
    v6.key.vip = *endpoint::parse("[::]:0");
    v6.netmask = 128;
    EXPECT_EQ(code(dp().add_service(v6)), 0);
    ASSERT_EQ(code(dp().add_dest(c.key, dest("10.1.0.11:0"))), 0);
    // A mark is found by family and mark alone (__ip_vs_svc_fwm_find()).
    auto other = c.key;
    other.proto = protocol::udp;
    EXPECT_EQ(code(dp().add_dest(other, dest("10.1.0.12:0"))), 0);
    // Found by key, not by place: IPVS lists services by hash bucket, and
    // marks 7 of both families share one, newest first
    // (ip_vs_svc_hash(), ip_vs_genl_dump_services()).
    auto t = table();
    ASSERT_EQ(t.size(), 2u);
    auto v4 = std::find_if(t.begin(), t.end(), [&](const service_state& s) { return s.config.key == c.key; });
    ASSERT_NE(v4, t.end());
    EXPECT_EQ(v4->config.key.fwmark, 7u);
    EXPECT_EQ(v4->dests.size(), 2u);
}

TEST_P(dataplane_behaviour, sctp_unless_the_backend_has_it) {
    service_config c = svc(vip_a);
    c.key.proto = protocol::sctp;
    auto r = dp().add_service(c);
    if (dp().caps().has(protocol::sctp)) {
        EXPECT_EQ(code(r), 0);
        return;
    }
    ASSERT_EQ(code(r), EOPNOTSUPP);
    EXPECT_NE(r.error().context.find("SCTP"), std::string::npos) << r.error().context;
}

TEST_P(dataplane_behaviour, full_service_table_is_enospc) {
    const uint32_t n = GetParam().max_services;
    if (n == 0) {
        GTEST_SKIP() << "no service limit";
    }
    change_set fill;
    for (uint32_t i = 0; i < n; ++i) {
        fill.push_back(change::add_service(svc(fmt::format("10.0.1.{}:80", i + 1).c_str())));
    }
    ASSERT_TRUE(dp().apply(fill));
    auto r = dp().add_service(svc("10.0.2.1:80"));
    ASSERT_EQ(code(r), ENOSPC);
    EXPECT_EQ(r.error().context, fmt::format("all {} service slots are in use (xlbctl load --max-services)", n));
    // Existence is checked first.
    EXPECT_EQ(code(dp().add_service(svc("10.0.1.1:80"))), EEXIST);
    // A slot freed is a slot to use.
    ASSERT_EQ(code(dp().del_service(tcp("10.0.1.1:80"))), 0);
    EXPECT_EQ(code(dp().add_service(svc("10.0.2.1:80"))), 0);
}

TEST_P(dataplane_behaviour, full_dest_tables_are_enospc) {
    const auto& p = GetParam();
    const uint32_t per = dp().caps().max_dests(scheduler::wlc);
    if (per == 0 && p.max_dests == 0) {
        GTEST_SKIP() << "no dest limit";
    }
    auto add_many = [&](const char* vip, uint32_t count) {
        change_set c;
        for (uint32_t i = 0; i < count; ++i) {
            c.push_back(change::add_dest(tcp(vip), dest(fmt::format("10.3.{}.{}:80", i / 200, i % 200 + 1).c_str(),
                                                        1, forwarding::nat)));
        }
        return dp().apply(c);
    };
    if (per != 0 && (p.max_dests == 0 || per < p.max_dests)) {
        ASSERT_EQ(code(dp().add_service(svc(vip_a))), 0);
        ASSERT_TRUE(add_many(vip_a, per));
        auto r = dp().add_dest(tcp(vip_a), dest("10.4.0.1:80", 1, forwarding::nat));
        ASSERT_EQ(code(r), ENOSPC);
        EXPECT_EQ(r.error().context, fmt::format("a service has at most {} dests", per));
        EXPECT_EQ(code(dp().add_dest(tcp(vip_a), dest("10.3.0.1:80", 1, forwarding::nat))), EEXIST)
            << "existence is checked first";
        ASSERT_EQ(code(dp().clear()), 0);
    }
    if (p.max_dests != 0) {
        uint32_t left = p.max_dests;
        for (uint32_t s = 0; left; ++s) {
            auto vip = fmt::format("10.0.3.{}:80", s + 1);
            ASSERT_EQ(code(dp().add_service(svc(vip.c_str()))), 0);
            uint32_t here = per ? std::min(per, left) : left;
            ASSERT_TRUE(add_many(vip.c_str(), here));
            left -= here;
        }
        ASSERT_EQ(code(dp().add_service(svc(vip_b))), 0);
        auto r = dp().add_dest(tcp(vip_b), dest(rs1));
        ASSERT_EQ(code(r), ENOSPC);
        EXPECT_EQ(r.error().context, fmt::format("all {} dest slots are in use (xlbctl load --max-dests)", p.max_dests));
        ASSERT_EQ(code(dp().del_service(tcp("10.0.3.1:80"))), 0);
        EXPECT_EQ(code(dp().add_dest(tcp(vip_b), dest(rs1))), 0) << "the deleted service's dests are free again";
    }
}

} // namespace xlb::test
