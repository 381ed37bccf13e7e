// memory_dataplane: the shared behaviour suite with every capability, and
// again as the XDP backend's model (its capabilities and sizes); then what
// only a model seeded with assign() can show: counters kept through edits.

#include "support/dataplane_behaviour.h"

#include <xlb/dataplane/memory_dataplane.h>
#include <xlb/dataplane/xdp/capabilities.h>

#include <gtest/gtest.h>

using namespace xlb;
using namespace xlb::test;

namespace {

class memory_instance final : public behaviour_instance {
public:
    memory_instance(capabilities c, memory_limits l) : _dp(std::move(c), l) {}
    dataplane& dp() override { return _dp; }

private:
    memory_dataplane _dp;
};

behaviour_backend everything() {
    return {"memory", [] { return std::make_unique<memory_instance>(memory_capabilities(), memory_limits{}); }};
}

behaviour_backend as_xdp() {
    return {"memory_as_xdp",
            [] {
                return std::make_unique<memory_instance>(xdp::xdp_capabilities(XLB_MAX_DESTS_HASHED, XLB_MAX_DESTS_SCANNED),
                                                         memory_limits{8, 256});
            },
            8, 256};
}

} // namespace

INSTANTIATE_TEST_SUITE_P(memory, dataplane_behaviour, ::testing::Values(everything(), as_xdp()),
                         behaviour_backend_name);

namespace {

service_state seeded_service() {
    service_state s;
    s.config.key = {protocol::tcp, *endpoint::parse("10.0.0.1:80")};
    s.config.sched = scheduler::wlc;
    s.stats = {10, 20, 30, 40, 50};
    s.rate = {1, 2, 3, 4, 5};
    dest_state a;
    a.config.addr = *endpoint::parse("10.1.0.11:80");
    a.active_conns = 3;
    a.inactive_conns = 4;
    a.persist_conns = 1;
    a.overloaded = true;
    a.config.u_threshold = 10;
    a.stats = {7, 8, 9, 10, 11};
    a.rate = {1, 1, 1, 1, 1};
    dest_state b;
    b.config.addr = *endpoint::parse("10.1.0.12:80");
    b.stats = {1, 1, 1, 1, 1};
    s.dests = {a, b};
    return s;
}

} // namespace

TEST(memory_dataplane, assign_seeds_the_table_with_its_counters) {
    memory_dataplane dp;
    dp.assign({seeded_service()}, {1, 2, 3});
    auto l = dp.list();
    ASSERT_TRUE(l);
    ASSERT_EQ(l->size(), 1u);
    EXPECT_EQ((*l)[0].stats.inbytes, 30u);
    EXPECT_EQ((*l)[0].dests[0].active_conns, 3u);
    EXPECT_EQ((*l)[0].dests[0].config.addr, *endpoint::parse("10.1.0.11:80")) << "assign keeps the dest order";
    EXPECT_EQ(*dp.get_timeouts(), (timeouts{1, 2, 3}));
    EXPECT_EQ(dp.service_count(), 1u);
    EXPECT_EQ(dp.dest_count(), 2u);
    // No checks: a backend seeds what it has, even past its own limits.
    memory_dataplane small(memory_capabilities(), memory_limits{1, 1});
    small.assign({seeded_service(), seeded_service()}, {});
    EXPECT_EQ(small.service_count(), 1u) << "one service per key";
}

TEST(memory_dataplane, edits_keep_counters_and_connection_counts) {
    memory_dataplane dp;
    dp.assign({seeded_service()}, {});
    const service_key k = seeded_service().config.key;
    auto edited = seeded_service().config;
    edited.sched = scheduler::rr;
    ASSERT_TRUE(dp.edit_service(edited));
    dest_config d = seeded_service().dests[0].config;
    d.weight = 9;
    d.u_threshold = 5; // lower: the overload stays
    ASSERT_TRUE(dp.edit_dest(k, d));
    dest_config nd;
    nd.addr = *endpoint::parse("10.1.0.13:80");
    ASSERT_TRUE(dp.add_dest(k, nd));
    const auto* s = dp.find(k);
    ASSERT_NE(s, nullptr);
    EXPECT_EQ(s->config.sched, scheduler::rr);
    EXPECT_EQ(s->stats.conns, 10u);
    EXPECT_EQ(s->rate.cps, 1u);
    ASSERT_EQ(s->dests.size(), 3u);
    EXPECT_EQ(s->dests[0].config.addr, nd.addr) << "newest first";
    EXPECT_EQ(s->dests[0].stats.conns, 0u) << "a new dest starts at zero";
    const auto& a = s->dests[1];
    EXPECT_EQ(a.config.weight, 9);
    EXPECT_EQ(a.stats.conns, 7u);
    EXPECT_EQ(a.active_conns, 3u);
    EXPECT_EQ(a.inactive_conns, 4u);
    EXPECT_EQ(a.persist_conns, 1u);
    EXPECT_TRUE(a.overloaded) << "a lower upper threshold keeps the overload";
    // __ip_vs_update_dest(): no upper threshold, or a higher one, ends it.
    d.u_threshold = 0;
    ASSERT_TRUE(dp.edit_dest(k, d));
    EXPECT_FALSE(dp.find(k)->dests[1].overloaded);
}

TEST(memory_dataplane, zero_resets_counters_and_rates_not_connections) {
    memory_dataplane dp;
    auto other = seeded_service();
    other.config.key.vip.port = 81;
    dp.assign({seeded_service(), other}, {});
    const service_key k = seeded_service().config.key;
    ASSERT_TRUE(dp.zero(k));
    const auto* s = dp.find(k);
    EXPECT_EQ(s->stats.conns, 0u);
    EXPECT_EQ(s->rate.cps, 0u);
    EXPECT_EQ(s->dests[0].stats.inpkts, 0u);
    EXPECT_EQ(s->dests[0].rate.inpps, 0u);
    EXPECT_EQ(s->dests[0].active_conns, 3u);
    EXPECT_EQ(dp.find(other.config.key)->stats.conns, 10u) << "-Z of one service leaves the others";
    ASSERT_TRUE(dp.zero(std::nullopt));
    EXPECT_EQ(dp.find(other.config.key)->stats.conns, 0u);
    EXPECT_EQ(dp.find(other.config.key)->dests[1].stats.conns, 0u);
}

TEST(memory_dataplane, a_failed_set_keeps_seeded_counters) {
    memory_dataplane dp;
    dp.assign({seeded_service()}, {});
    const service_key k = seeded_service().config.key;
    auto r = dp.apply({change::zero_all(), change::del_dest(k, *endpoint::parse("10.1.0.11:80")),
                       change::del_dest(k, *endpoint::parse("10.9.9.9:80"))});
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().index, 2u);
    EXPECT_EQ(r.error().err.code, ENOENT);
    EXPECT_EQ(dp.find(k)->stats.conns, 10u);
    EXPECT_EQ(dp.find(k)->dests.size(), 2u);
}

TEST(memory_dataplane, services_list_in_the_order_they_were_added) {
    memory_dataplane dp;
    for (const char* v : {"10.0.0.3:80", "10.0.0.1:80", "10.0.0.2:80"}) {
        service_config c;
        c.key = {protocol::tcp, *endpoint::parse(v)};
        ASSERT_TRUE(dp.add_service(c));
    }
    service_config first;
    first.key = {protocol::tcp, *endpoint::parse("10.0.0.3:80")};
    ASSERT_TRUE(dp.del_service(first.key));
    ASSERT_TRUE(dp.add_service(first));
    auto l = dp.list();
    ASSERT_TRUE(l);
    std::vector<std::string> got;
    for (const auto& s : *l) {
        got.push_back(s.config.key.vip.to_string());
    }
    EXPECT_EQ(got, (std::vector<std::string>{"10.0.0.1:80", "10.0.0.2:80", "10.0.0.3:80"}));
}

TEST(memory_dataplane, refusals_carry_the_reason) {
    memory_dataplane dp(xdp::xdp_capabilities(128, 128), memory_limits{});
    service_config c;
    c.key = {protocol::tcp, *endpoint::parse("10.0.0.1:80")};
    c.sched = scheduler::lblcr;
    auto r = dp.add_service(c);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().context, "scheduler 'lblcr' is refused by the xdp backend: locality-based schedulers need a "
                                 "per-destination-address table the data path does not keep");
    c.sched = scheduler::rr;
    c.key.fwmark = 1;
    r = dp.add_service(c);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, EOPNOTSUPP);
    EXPECT_EQ(r.error().context, "fwmark services (-f) need netfilter marks, which do not exist at XDP time; use "
                                 "--backend ipvs");
    c.key.fwmark = 0;
    ASSERT_TRUE(dp.add_service(c));
    dest_config d;
    d.addr = *endpoint::parse("10.1.0.11:80");
    d.fwd = forwarding::tun;
    d.tunnel = tun_type::gre;
    r = dp.add_dest(c.key, d);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, EOPNOTSUPP);
    EXPECT_NE(r.error().context.find("GRE"), std::string::npos);
}
