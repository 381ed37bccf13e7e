// xlbd's plan and reconciler, root-free: the plan against keepalived's rules
// as keepalived/check/ipwrapper.c states them (quorum with hysteresis,
// sorry_server, inhibit_on_failure), and the reconciler against the
// in-memory backend, the reference model of kernel IPVS.

#include <xlb/daemon/plan.h>
#include <xlb/daemon/reconciler.h>
#include <xlb/dataplane/memory_dataplane.h>

#include <gtest/gtest.h>

using namespace xlb;
using namespace xlb::daemon;
using namespace std::chrono_literals;
namespace ka = xlb::keepalived;

namespace {

endpoint ep(const char* s) { return *endpoint::parse(s); }

ka::real_server_spec real(const char* addr, int32_t weight) {
    ka::real_server_spec r;
    r.addr = ep(addr);
    r.weight = weight;
    r.checkers.push_back(ka::checker_spec{});
    return r;
}

ka::virtual_server_spec vs3() {
    ka::virtual_server_spec vs;
    vs.vip = ep("10.0.0.1:80");
    vs.fwd = forwarding::nat;
    vs.sched = scheduler::wlc;
    vs.reals = {real("10.1.0.1:8080", 1), real("10.1.0.2:8080", 2), real("10.1.0.3:8080", 3)};
    return vs;
}

service_config svc_of(const ka::virtual_server_spec& vs) {
    ka::config cfg;
    cfg.virtual_servers.push_back(vs);
    auto plans = plan_services(cfg);
    EXPECT_TRUE(plans) << plans.error().message();
    return plans->at(0).services.at(0);
}

std::vector<std::pair<std::string, int32_t>> names(const std::vector<dest_config>& ds) {
    std::vector<std::pair<std::string, int32_t>> out;
    for (const auto& d : ds) {
        out.emplace_back(d.addr.to_string(), d.weight);
    }
    return out;
}

using pairs = std::vector<std::pair<std::string, int32_t>>;

} // namespace

// ipwrapper.c: gained when live >= quorum + hysteresis; lost when live is 0
// or < quorum - hysteresis.
TEST(daemon_plan, quorum_follows_keepalived_hysteresis) {
    ka::virtual_server_spec vs;
    vs.quorum = 3;
    vs.hysteresis = 1;
    EXPECT_FALSE(quorum_state(vs, false, 3));
    EXPECT_TRUE(quorum_state(vs, false, 4));
    EXPECT_TRUE(quorum_state(vs, true, 2));
    EXPECT_FALSE(quorum_state(vs, true, 1));
    EXPECT_FALSE(quorum_state(vs, true, 0));
    vs.quorum = 1;
    vs.hysteresis = 0;
    EXPECT_TRUE(quorum_state(vs, false, 1));
    EXPECT_FALSE(quorum_state(vs, true, 0));
}

TEST(daemon_plan, dead_servers_leave_or_get_weight_zero_with_inhibit) {
    auto vs = vs3();
    vs.reals[2].inhibit_on_failure = true;
    const auto svc = svc_of(vs);
    const auto now = clock::now();
    std::vector<real_health> h(3);
    EXPECT_EQ(names(plan_dests(vs, svc, h, true, now)),
              (pairs{{"10.1.0.1:8080", 1}, {"10.1.0.2:8080", 2}, {"10.1.0.3:8080", 3}}));
    h[0].alive = false;
    h[2].alive = false;
    EXPECT_EQ(names(plan_dests(vs, svc, h, true, now)), (pairs{{"10.1.0.2:8080", 2}, {"10.1.0.3:8080", 0}}));
}

TEST(daemon_plan, sorry_server_replaces_alive_servers_without_quorum) {
    auto vs = vs3();
    vs.quorum = 4;
    vs.sorry_server = ka::real_server_spec{};
    vs.sorry_server->addr = ep("10.9.9.9:8080");
    vs.sorry_server->weight = 1;
    const auto svc = svc_of(vs);
    const auto now = clock::now();
    std::vector<real_health> h(3);
    h[1].alive = false;
    h[2].alive = false;
    // Live weight 1 < 4: quorum lost, the sorry server alone serves.
    EXPECT_FALSE(quorum_state(vs, true, live_weight(vs, h, now)));
    EXPECT_EQ(names(plan_dests(vs, svc, h, false, now)), (pairs{{"10.9.9.9:8080", 1}}));
    // With quorum the sorry server is out (or at weight 0 with sorry_server_inhibit).
    h[2].alive = true; // live 4
    EXPECT_TRUE(quorum_state(vs, false, live_weight(vs, h, now)));
    EXPECT_EQ(names(plan_dests(vs, svc, h, true, now)), (pairs{{"10.1.0.1:8080", 1}, {"10.1.0.3:8080", 3}}));
    vs.sorry_server_inhibit = true;
    EXPECT_EQ(names(plan_dests(vs, svc, h, true, now)),
              (pairs{{"10.1.0.1:8080", 1}, {"10.1.0.3:8080", 3}, {"10.9.9.9:8080", 0}}));
}

TEST(daemon_plan, drain_keeps_weight_zero_until_drain_time_ends) {
    auto vs = vs3();
    const auto svc = svc_of(vs);
    const auto now = clock::now();
    std::vector<real_health> h(3);
    h[0].alive = false;
    h[0].drain_until = now + 5s;
    EXPECT_EQ(names(plan_dests(vs, svc, h, true, now)),
              (pairs{{"10.1.0.1:8080", 0}, {"10.1.0.2:8080", 2}, {"10.1.0.3:8080", 3}}));
    EXPECT_EQ(next_event(vs, h, now), now + 5s);
    EXPECT_EQ(names(plan_dests(vs, svc, h, true, now + 5s)), (pairs{{"10.1.0.2:8080", 2}, {"10.1.0.3:8080", 3}}));
}

TEST(daemon_plan, ramp_raises_the_weight_over_the_ramp_time) {
    auto vs = vs3();
    vs.reals[2].weight = 10;
    vs.reals[2].ramp = 10s;
    real_health h;
    const auto t0 = clock::now();
    h.ramp_from = t0;
    EXPECT_EQ(effective_weight(vs.reals[2], h, t0), 1); // at least 1 while ramping
    EXPECT_EQ(effective_weight(vs.reals[2], h, t0 + 2500ms), 3); // ceil(10 * 2.5 / 10)
    EXPECT_EQ(effective_weight(vs.reals[2], h, t0 + 9999ms), 10);
    EXPECT_EQ(effective_weight(vs.reals[2], h, t0 + 10s), 10);
    h.dynamic_weight = 4; // misc_dynamic's weight is the full weight
    EXPECT_EQ(effective_weight(vs.reals[2], h, t0 + 5s), 2);
}

TEST(daemon_plan, groups_expand_ranges_and_fwmarks) {
    ka::config cfg;
    ka::virtual_server_group g;
    g.name = "VSG_1";
    ka::group_entry range;
    range.first = ep("192.168.200.3:80");
    range.range_end = 10;
    ka::group_entry single;
    single.first = ep("10.0.0.1:8080");
    ka::group_entry mark;
    mark.fwmark = 2;
    g.entries = {single, range, mark};
    cfg.groups.push_back(g);
    ka::virtual_server_spec vs;
    vs.what = ka::virtual_server_spec::kind::group;
    vs.group = "VSG_1";
    vs.persistence_timeout = 50;
    cfg.virtual_servers.push_back(vs);
    auto plans = plan_services(cfg);
    ASSERT_TRUE(plans) << plans.error().message();
    const auto& s = plans->at(0).services;
    ASSERT_EQ(s.size(), 1u + 8u + 1u);
    EXPECT_EQ(s[0].key.vip, ep("10.0.0.1:8080"));
    EXPECT_EQ(s[1].key.vip, ep("192.168.200.3:80"));
    EXPECT_EQ(s[8].key.vip, ep("192.168.200.10:80"));
    EXPECT_EQ(s[9].key.fwmark, 2u);
    for (const auto& c : s) {
        EXPECT_TRUE(c.persistent());
        EXPECT_EQ(c.timeout, 50u);
    }
    cfg.virtual_servers[0].group = "nope";
    EXPECT_FALSE(plan_services(cfg));
    cfg.virtual_servers[0].group = "VSG_1";
    cfg.groups[0].entries[1].range_end = 2; // below the first address
    EXPECT_FALSE(plan_services(cfg));
}

TEST(daemon_plan, dr_and_tun_dests_take_the_virtual_port) {
    auto vs = vs3();
    vs.fwd = forwarding::dr;
    const auto svc = svc_of(vs);
    auto d = make_dest(vs, vs.reals[0], svc, 1);
    EXPECT_EQ(d.addr, ep("10.1.0.1:80"));
    vs.reals[0].fwd = forwarding::nat;
    EXPECT_EQ(make_dest(vs, vs.reals[0], svc, 1).addr, ep("10.1.0.1:8080"));
}

namespace {

desired_service want(const service_config& svc, std::vector<dest_config> dests) {
    desired_service d;
    d.config = svc;
    for (const auto& x : dests) {
        d.owned.insert(x.addr);
    }
    d.dests = std::move(dests);
    return d;
}

dest_config dest(const char* a, int32_t w) {
    dest_config d;
    d.addr = ep(a);
    d.fwd = forwarding::nat;
    d.weight = w;
    return d;
}

} // namespace

TEST(daemon_reconciler, writes_only_the_difference) {
    memory_dataplane dp;
    reconciler rec(dp);
    ASSERT_TRUE(rec.refresh());
    auto svc = svc_of(vs3());
    auto w = want(svc, {dest("10.1.0.1:8080", 1), dest("10.1.0.2:8080", 2)});
    auto r = rec.sync({w});
    ASSERT_TRUE(r) << r.error().message();
    EXPECT_EQ(r->services_added, 1u);
    EXPECT_EQ(r->dests_added, 2u);
    EXPECT_TRUE(rec.diff({w}, {}).empty());

    // A weight flip is one edit.
    w.dests[1].weight = 0;
    auto set = rec.diff({w}, {});
    ASSERT_EQ(set.size(), 1u);
    EXPECT_EQ(set[0].what, change::kind::edit_dest);
    ASSERT_TRUE(rec.sync({w}));
    auto listed = dp.list();
    ASSERT_TRUE(listed);
    ASSERT_EQ(listed->at(0).dests.size(), 2u);
    for (const auto& d : listed->at(0).dests) {
        EXPECT_EQ(d.config.weight, d.config.addr == ep("10.1.0.2:8080") ? 0 : 1);
    }
}

TEST(daemon_reconciler, leaves_dests_it_does_not_own) {
    memory_dataplane dp;
    reconciler rec(dp);
    auto svc = svc_of(vs3());
    ASSERT_TRUE(rec.sync({want(svc, {dest("10.1.0.1:8080", 1)})}));
    // Added by hand, as with xlbctl -a.
    ASSERT_TRUE(dp.add_dest(svc.key, dest("10.7.7.7:8080", 5)));
    ASSERT_TRUE(rec.refresh());
    auto w = want(svc, {});
    w.owned.insert(ep("10.1.0.1:8080"));
    auto r = rec.sync({w});
    ASSERT_TRUE(r) << r.error().message();
    EXPECT_EQ(r->dests_deleted, 1u);
    auto listed = dp.list();
    ASSERT_EQ(listed->at(0).dests.size(), 1u);
    EXPECT_EQ(listed->at(0).dests[0].config.addr, ep("10.7.7.7:8080"));
}

TEST(daemon_reconciler, rereads_the_table_when_it_changed_underneath) {
    memory_dataplane dp;
    reconciler rec(dp);
    auto svc = svc_of(vs3());
    auto w = want(svc, {dest("10.1.0.1:8080", 1)});
    ASSERT_TRUE(rec.sync({w}));
    ASSERT_TRUE(dp.del_service(svc.key)); // by hand: the copy is stale
    w.dests.push_back(dest("10.1.0.2:8080", 2));
    w.owned.insert(ep("10.1.0.2:8080"));
    auto r = rec.sync({w});
    ASSERT_TRUE(r) << r.error().message();
    EXPECT_EQ(r->services_added, 1u);
    auto listed = dp.list();
    ASSERT_EQ(listed->size(), 1u);
    EXPECT_EQ(listed->at(0).dests.size(), 2u);
}

TEST(daemon_reconciler, removes_services_and_refuses_bad_sets_whole) {
    memory_dataplane dp;
    reconciler rec(dp);
    auto a = svc_of(vs3());
    auto vs = vs3();
    vs.vip = ep("10.0.0.2:80");
    auto b = svc_of(vs);
    ASSERT_TRUE(rec.sync({want(a, {dest("10.1.0.1:8080", 1)}), want(b, {})}));
    ASSERT_TRUE(rec.sync({}, {a.key}));
    auto listed = dp.list();
    ASSERT_EQ(listed->size(), 1u);
    EXPECT_EQ(listed->at(0).config.key, b.key);
    // A weight IPVS refuses fails the set; nothing of it lands.
    auto bad = want(b, {dest("10.1.0.1:8080", 1), dest("10.1.0.2:8080", -1)});
    EXPECT_FALSE(rec.sync({bad}));
    listed = dp.list();
    EXPECT_TRUE(listed->at(0).dests.empty());
}

TEST(daemon_plan, a_service_in_two_blocks_is_refused) {
    ka::config cfg;
    ka::virtual_server_group g;
    g.name = "G";
    ka::group_entry range;
    range.first = ep("10.0.0.1:80");
    range.range_end = 3;
    g.entries = {range};
    cfg.groups.push_back(g);
    ka::virtual_server_spec grp;
    grp.what = ka::virtual_server_spec::kind::group;
    grp.group = "G";
    grp.where.file = "k.conf";
    grp.where.line = 9;
    ka::virtual_server_spec one;
    one.vip = ep("10.0.0.2:80"); // inside the range
    one.where.file = "k.conf";
    one.where.line = 2;
    cfg.virtual_servers = {one, grp};
    auto plans = plan_services(cfg);
    ASSERT_FALSE(plans);
    EXPECT_EQ(plans.error().code, EINVAL);
    EXPECT_NE(plans.error().context.find("k.conf:9:"), std::string::npos) << plans.error().context;
    EXPECT_NE(plans.error().context.find("10.0.0.2:80"), std::string::npos) << plans.error().context;
    EXPECT_NE(plans.error().context.find("k.conf:2:"), std::string::npos) << plans.error().context;
    // The same entry twice in one group.
    cfg.virtual_servers = {grp};
    cfg.groups[0].entries.push_back(range);
    EXPECT_FALSE(plan_services(cfg));
}
