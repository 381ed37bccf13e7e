// The rate estimator the sweeper runs in the data path, checked exactly: the
// test writes every CPU's counters itself, lets the estimator run, and
// compares its averages with IPVS's formula (ip_vs_est.c) computed here.

#include "support/netns.h"
#include "support/packet.h"
#include "support/priv.h"
#include "support/xdp_lab.h"

#include <xlb/dataplane/xdp/convert.h>
#include <xlb/dataplane/xdp_dataplane.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

using namespace xlb;
using namespace xlb::test;
using namespace std::chrono_literals;

namespace {

[[maybe_unused]] auto* const g_env = ::testing::AddGlobalTestEnvironment(new lab_environment(false));

constexpr uint32_t never_ms = 3600 * 1000;

// IPVS's estimator, written out here from ip_vs_est.c: the period's delta
// shifted by 9 (conns, packets) or 4 (bytes) for a 2 s period, rescaled when
// the period is another, and the average moved a quarter of the way.
struct model {
    struct xlb_est e {};

    static uint64_t rate(uint64_t delta, int shift, uint32_t period_ms) {
        return (delta << shift) * 2000 / period_ms;
    }
    static void avg(__u64& a, uint64_t r) {
        a = static_cast<__u64>(static_cast<int64_t>(a) + ((static_cast<int64_t>(r) - static_cast<int64_t>(a)) >> 2));
    }
    void run(const xlb_stats& s, uint32_t period_ms) {
        avg(e.cps, rate(s.conns - e.last_conns, 9, period_ms));
        avg(e.inpps, rate(s.inpkts - e.last_inpkts, 9, period_ms));
        avg(e.outpps, rate(s.outpkts - e.last_outpkts, 9, period_ms));
        avg(e.inbps, rate(s.inbytes - e.last_inbytes, 4, period_ms));
        avg(e.outbps, rate(s.outbytes - e.last_outbytes, 4, period_ms));
        e.last_conns = s.conns;
        e.last_inpkts = s.inpkts;
        e.last_outpkts = s.outpkts;
        e.last_inbytes = s.inbytes;
        e.last_outbytes = s.outbytes;
    }
};

void expect_est_eq(const xlb_est& got, const xlb_est& want, const char* what) {
    EXPECT_EQ(got.last_conns, want.last_conns) << what;
    EXPECT_EQ(got.last_inpkts, want.last_inpkts) << what;
    EXPECT_EQ(got.last_inbytes, want.last_inbytes) << what;
    EXPECT_EQ(got.last_outpkts, want.last_outpkts) << what;
    EXPECT_EQ(got.last_outbytes, want.last_outbytes) << what;
    EXPECT_EQ(got.cps, want.cps) << what;
    EXPECT_EQ(got.inpps, want.inpps) << what;
    EXPECT_EQ(got.inbps, want.inbps) << what;
    EXPECT_EQ(got.outpps, want.outpps) << what;
    EXPECT_EQ(got.outbps, want.outbps) << what;
}

class rate_dp : public ::testing::Test {
protected:
    void SetUp() override {
        XLB_REQUIRE_PRIVILEGE();
        _xlb.emplace(load_options{16, 64, 4096, 65537});
        auto open = [&](const char* name) { return file_desc(bpf_obj_get((_xlb->pin_dir() + "/" + name).c_str())); };
        _svc_stats = open("svc_stats");
        _dest_stats = open("dest_stats");
        _svc_est = open("svc_est");
        _dest_est = open("dest_est");
        _sweeper = open("sweeper");
        _svc_index = open("svc_index");
        _dests = open("dests");
        ASSERT_TRUE(_svc_stats && _dest_stats && _svc_est && _dest_est && _sweeper && _svc_index && _dests);
        _ncpus = static_cast<size_t>(libbpf_num_possible_cpus());
        set_est_ms(never_ms);
        auto cfg = dp().config().value();
        cfg.sweep_ms = never_ms;
        ASSERT_TRUE(dp().set_config(cfg));

        _key = {protocol::tcp, {*ip_address::parse("10.1.0.100"), 80}};
        ASSERT_TRUE(dp().add_service({_key, scheduler::rr}));
        ASSERT_TRUE(dp().add_dest(_key, {{xdp_lab::backend4(1), 80}, forwarding::dr, 1, 0, 0}));
        struct xlb_svc_index_key k {};
        k.svc = xdp::svc_key_to_abi(_key);
        k.side = published_side(dp());
        ASSERT_EQ(bpf_map_lookup_elem(_svc_index.get(), &k, &_svc), 0);
        _dest = dest_id(1);

        // The first packet arms the sweeper; the estimator runs on its tick.
        packet_spec p;
        p.dst = parse_mac(xdp_lab::dir_mac);
        p.saddr = *ip_address::parse("10.1.0.200");
        p.daddr = _key.vip.addr;
        run_xdp(dp().prog_fd(), build(p), ifindex(xdp_lab::dir_if));
    }
    xdp_dataplane& dp() { return _xlb->dp(); }

    uint32_t dest_id(int backend) {
        auto want = xdp_lab::backend4(backend).to_abi();
        for (uint32_t id = 0; id < 64; ++id) {
            struct xlb_dest d {};
            uint32_t slot = published_dest_slot(dp(), id);
            if (bpf_map_lookup_elem(_dests.get(), &slot, &d) == 0 && (d.flags & XLB_DEST_F_ACTIVE) &&
                d.addr.v4 == want.v4) {
                return id;
            }
        }
        ADD_FAILURE() << "no dest for backend " << backend;
        return 0;
    }

    void set_est_ms(uint32_t ms) {
        auto cfg = dp().config().value();
        cfg.est_ms = ms;
        ASSERT_TRUE(dp().set_config(cfg));
    }

    uint64_t est_runs() {
        uint32_t zero = 0;
        struct xlb_sweeper sw {};
        EXPECT_EQ(bpf_map_lookup_elem(_sweeper.get(), &zero, &sw), 0);
        return sw.est_runs;
    }

    xlb_est est(int fd, uint32_t key) {
        struct xlb_est e {};
        EXPECT_EQ(bpf_map_lookup_elem(fd, &key, &e), 0);
        return e;
    }

    // Writes a different value on every CPU; returns their sum.
    xlb_stats write_counters(int fd, uint32_t key, uint64_t base) {
        std::vector<xlb_stats> v(_ncpus);
        xlb_stats sum{};
        for (size_t c = 0; c < _ncpus; ++c) {
            v[c] = {base + 3 * c, base * 100 + 7 * c, base * 123457 + 1000 * c, base * 10 + c, base * 999 + 13 * c};
            sum.conns += v[c].conns;
            sum.inpkts += v[c].inpkts;
            sum.inbytes += v[c].inbytes;
            sum.outpkts += v[c].outpkts;
            sum.outbytes += v[c].outbytes;
        }
        EXPECT_EQ(bpf_map_update_elem(fd, &key, v.data(), BPF_ANY), 0);
        return sum;
    }

    // Lets the estimator run with the given period, at least once, then stops
    // it; returns how many runs happened (a slow test host may see more).
    uint64_t run_estimator(uint32_t period_ms) {
        uint64_t before = est_runs();
        set_est_ms(period_ms);
        auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(period_ms) * 3 + 2s;
        while (est_runs() == before && std::chrono::steady_clock::now() < deadline) {
            std::this_thread::sleep_for(1ms);
        }
        set_est_ms(never_ms);
        std::this_thread::sleep_for(50ms); // a run that had started finishes
        uint64_t n = est_runs() - before;
        EXPECT_GE(n, 1u) << "the estimator never ran";
        return n;
    }

    std::optional<loaded_xlb> _xlb;
    file_desc _svc_stats, _dest_stats, _svc_est, _dest_est, _sweeper, _svc_index, _dests;
    size_t _ncpus = 1;
    service_key _key;
    uint32_t _svc = 0, _dest = 0;
};

TEST_F(rate_dp, estimator_follows_ipvs_math_over_every_cpu) {
    model svc, dst;
    svc.e = est(_svc_est.get(), _svc);
    dst.e = est(_dest_est.get(), _dest);

    // A short period: the rate is rescaled to IPVS's 2 s.
    auto s1 = write_counters(_svc_stats.get(), _svc, 1000);
    auto d1 = write_counters(_dest_stats.get(), _dest, 700);
    uint64_t n = run_estimator(100);
    for (uint64_t i = 0; i < n; ++i) {
        svc.run(s1, 100);
        dst.run(d1, 100);
    }
    expect_est_eq(est(_svc_est.get(), _svc), svc.e, "service, 100 ms period");
    expect_est_eq(est(_dest_est.get(), _dest), dst.e, "dest, 100 ms period");

    // IPVS's own period: delta << 9 and << 4 exactly.
    auto s2 = write_counters(_svc_stats.get(), _svc, 5000);
    auto d2 = write_counters(_dest_stats.get(), _dest, 4000);
    n = run_estimator(2000);
    for (uint64_t i = 0; i < n; ++i) {
        svc.run(s2, 2000);
        dst.run(d2, 2000);
    }
    auto got = est(_svc_est.get(), _svc);
    expect_est_eq(got, svc.e, "service, 2 s period");
    expect_est_eq(est(_dest_est.get(), _dest), dst.e, "dest, 2 s period");
    ASSERT_GT(got.cps, 0u);

    // list() reads them out as ip_vs_read_estimator() does.
    auto l = dp().list().value();
    ASSERT_EQ(l.size(), 1u);
    EXPECT_EQ(l[0].rate.cps, (svc.e.cps + 0x1FF) >> 10);
    EXPECT_EQ(l[0].rate.inpps, (svc.e.inpps + 0x1FF) >> 10);
    EXPECT_EQ(l[0].rate.outpps, (svc.e.outpps + 0x1FF) >> 10);
    EXPECT_EQ(l[0].rate.inbps, (svc.e.inbps + 0xF) >> 5);
    EXPECT_EQ(l[0].rate.outbps, (svc.e.outbps + 0xF) >> 5);
    ASSERT_EQ(l[0].dests.size(), 1u);
    EXPECT_EQ(l[0].dests[0].rate.cps, (dst.e.cps + 0x1FF) >> 10);
    EXPECT_EQ(l[0].dests[0].rate.inbps, (dst.e.inbps + 0xF) >> 5);
}

TEST_F(rate_dp, zero_and_new_slots_reset_the_estimator) {
    write_counters(_svc_stats.get(), _svc, 1000);
    write_counters(_dest_stats.get(), _dest, 1000);
    run_estimator(100);
    ASSERT_GT(est(_svc_est.get(), _svc).inpps, 0u);

    // -Z: ip_vs_zero_estimator(), the last counts are the (zeroed) counters.
    ASSERT_TRUE(dp().zero(std::nullopt));
    expect_est_eq(est(_svc_est.get(), _svc), xlb_est{}, "service after -Z");
    expect_est_eq(est(_dest_est.get(), _dest), xlb_est{}, "dest after -Z");
    auto l = dp().list().value();
    EXPECT_EQ(l[0].rate.cps, 0u);
    EXPECT_EQ(l[0].dests[0].rate.inbps, 0u);

    // A deleted dest's slot, reused, starts afresh; an inactive slot is left alone.
    write_counters(_dest_stats.get(), _dest, 1000);
    run_estimator(100);
    ASSERT_TRUE(dp().del_dest(_key, {xdp_lab::backend4(1), 80}));
    auto stale = est(_dest_est.get(), _dest);
    write_counters(_dest_stats.get(), _dest, 2000);
    run_estimator(100);
    expect_est_eq(est(_dest_est.get(), _dest), stale, "an inactive slot");
    // The next new dest looks first where the last write freed a slot: the
    // deleted dest's.
    ASSERT_TRUE(dp().add_dest(_key, {{xdp_lab::backend4(2), 80}, forwarding::dr, 1, 0, 0}));
    ASSERT_EQ(dest_id(2), _dest) << "the slot is reused";
    expect_est_eq(est(_dest_est.get(), _dest), xlb_est{}, "a reused slot");
}

} // namespace
