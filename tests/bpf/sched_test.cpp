// Every scheduler's choice through the real XDP program, for counters and
// weights the test sets itself; persistence, thresholds and the connection
// counters kept by the data path and its sweeper.

#include "support/netns.h"
#include "support/packet.h"
#include "support/priv.h"
#include "support/xdp_lab.h"

#include <xlb/dataplane/xdp_dataplane.h>
#include <xlb/ipvs_hash.h>
#include <xlb/sched/table.h>

#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <set>
#include <thread>

using namespace xlb;
using namespace xlb::test;

namespace {

[[maybe_unused]] auto* const g_env = ::testing::AddGlobalTestEnvironment(new lab_environment(true));

ip_address v4(const std::string& s) { return *ip_address::parse(s); }

class sched_dp : public ::testing::Test {
protected:
    void SetUp() override {
        XLB_REQUIRE_PRIVILEGE();
        _xlb.emplace(load_options{64, 1024, 65536, 65537});
        _ifindex = ifindex(xdp_lab::dir_if);
        // These tests set the counters themselves: no sweep may recount them
        // meanwhile (the ones about the sweep shorten the interval).
        auto cfg = dp().config().value();
        cfg.sweep_ms = 3600 * 1000;
        ASSERT_TRUE(dp().set_config(cfg));
        _conns = file_desc(bpf_obj_get((_xlb->pin_dir() + "/dest_conns").c_str()));
        _dests = file_desc(bpf_obj_get((_xlb->pin_dir() + "/dests").c_str()));
        ASSERT_TRUE(_conns && _dests);
    }
    xdp_dataplane& dp() { return _xlb->dp(); }

    // Service VIP:80 with backends given as {backend number, weight}, added in
    // reverse so that IPVS's list (newest first) is in the order given.
    service_key add(const std::string& vip, scheduler s, const std::vector<std::pair<int, int>>& backends,
                    uint32_t flags = 0, uint32_t timeout = 0, uint32_t netmask = 0xffffffff) {
        service_key k{protocol::tcp, {v4(vip), 80}};
        EXPECT_TRUE(dp().add_service({k, s, flags, timeout, netmask}));
        for (auto it = backends.rbegin(); it != backends.rend(); ++it) {
            EXPECT_TRUE(dp().add_dest(k, {{xdp_lab::backend4(it->first), 80}, forwarding::dr, it->second, 0, 0}));
        }
        return k;
    }

    uint32_t dest_id(int backend) {
        auto want = xdp_lab::backend4(backend).to_abi();
        for (uint32_t id = 0; id < 1024; ++id) {
            struct xlb_dest d {};
            if (bpf_map_lookup_elem(_dests.get(), &id, &d) == 0 && (d.flags & XLB_DEST_F_ACTIVE) &&
                d.addr.v4 == want.v4) {
                return id;
            }
        }
        ADD_FAILURE() << "no dest for backend " << backend;
        return 0;
    }

    void set_conns(int backend, uint32_t active, uint32_t inactive) {
        uint32_t id = dest_id(backend);
        struct xlb_dest_conns c {active, inactive, 0, 0};
        ASSERT_EQ(bpf_map_update_elem(_conns.get(), &id, &c, BPF_ANY), 0);
    }

    // The backend a new flow goes to (0: dropped or passed).
    int pick(const std::string& vip, uint16_t sport, const std::string& client = "10.1.0.200") {
        packet_spec p;
        p.dst = parse_mac(xdp_lab::dir_mac);
        p.saddr = v4(client);
        p.daddr = v4(vip);
        p.sport = sport;
        auto r = run_xdp(dp().prog_fd(), build(p), _ifindex);
        if (r.action != XDP_TX) {
            return 0;
        }
        for (int i = 1; i <= 9; ++i) {
            auto m = xdp_lab::backend_mac(i);
            if (std::equal(m.begin(), m.end(), r.out.begin())) {
                return i;
            }
        }
        return -1;
    }

    int send(const std::string& vip, uint16_t sport, uint8_t flags, const std::string& client = "10.1.0.200") {
        packet_spec p;
        p.dst = parse_mac(xdp_lab::dir_mac);
        p.saddr = v4(client);
        p.daddr = v4(vip);
        p.sport = sport;
        p.tcp_flags = flags;
        return static_cast<int>(run_xdp(dp().prog_fd(), build(p), _ifindex).action);
    }

    dest_state state_of(int backend) {
        for (const auto& s : dp().list().value()) {
            for (const auto& d : s.dests) {
                if (d.config.addr.addr == xdp_lab::backend4(backend)) {
                    return d;
                }
            }
        }
        ADD_FAILURE() << "backend " << backend << " not listed";
        return {};
    }

    void fast_sweeps_and_expiry() {
        auto cfg = dp().config().value();
        for (auto& t : cfg.tcp_timeout) {
            t = 0;
        }
        cfg.sweep_ms = 20;
        ASSERT_TRUE(dp().set_config(cfg));
    }

    std::optional<loaded_xlb> _xlb;
    int _ifindex = 0;
    file_desc _conns, _dests;
    uint16_t _sport = 20000;
};

// --- the scanning schedulers: exact choice for given counters and weights --------

TEST_F(sched_dp, lc_takes_least_overhead_with_ties_to_the_earlier) {
    add("10.1.0.140", scheduler::lc, {{1, 1}, {2, 1}, {3, 1}});
    set_conns(1, 2, 0);  // 512
    set_conns(2, 1, 10); // 266
    set_conns(3, 1, 5);  // 261
    EXPECT_EQ(pick("10.1.0.140", _sport++), 3);
    set_conns(1, 0, 0);
    set_conns(2, 0, 0);
    set_conns(3, 0, 0);
    EXPECT_EQ(pick("10.1.0.140", _sport++), 1) << "ties go to the earlier dest in IPVS's list";
}

TEST_F(sched_dp, lc_skips_weight_zero) {
    add("10.1.0.141", scheduler::lc, {{1, 0}, {2, 1}});
    set_conns(1, 0, 0);
    set_conns(2, 50, 50);
    EXPECT_EQ(pick("10.1.0.141", _sport++), 2);
}

TEST_F(sched_dp, wlc_divides_overhead_by_weight) {
    add("10.1.0.142", scheduler::wlc, {{1, 1}, {2, 2}, {3, 3}});
    set_conns(1, 1, 0);  // 256 / 1
    set_conns(2, 2, 0);  // 512 / 2
    set_conns(3, 3, 10); // 778 / 3
    EXPECT_EQ(pick("10.1.0.142", _sport++), 1) << "256 vs 256: the earlier";
    set_conns(1, 2, 0); // 512 / 1
    EXPECT_EQ(pick("10.1.0.142", _sport++), 2);
}

TEST_F(sched_dp, sed_counts_active_plus_one) {
    add("10.1.0.143", scheduler::sed, {{1, 1}, {2, 3}, {3, 2}});
    set_conns(1, 0, 99); // (0+1)/1 = 1: inactive does not count
    set_conns(2, 2, 0);  // (2+1)/3 = 1
    set_conns(3, 0, 0);  // (0+1)/2 = 0.5
    EXPECT_EQ(pick("10.1.0.143", _sport++), 3);
}

TEST_F(sched_dp, nq_takes_an_idle_server_first) {
    add("10.1.0.144", scheduler::nq, {{1, 5}, {2, 1}, {3, 1}});
    set_conns(1, 3, 0);
    set_conns(2, 0, 7);
    set_conns(3, 0, 0);
    EXPECT_EQ(pick("10.1.0.144", _sport++), 2) << "the first server with no active connection";
    set_conns(2, 1, 0);
    set_conns(3, 1, 0);
    EXPECT_EQ(pick("10.1.0.144", _sport++), 1) << "else as sed: 4/5 beats 2/1";
}

TEST_F(sched_dp, fo_takes_the_heaviest_available) {
    auto k = add("10.1.0.145", scheduler::fo, {{1, 1}, {2, 5}, {3, 5}});
    EXPECT_EQ(pick("10.1.0.145", _sport++), 2);
    ASSERT_TRUE(dp().edit_dest(k, {{xdp_lab::backend4(2), 80}, forwarding::dr, 0, 0, 0}));
    EXPECT_EQ(pick("10.1.0.145", _sport++), 3) << "failover to the next heaviest";
}

TEST_F(sched_dp, ovf_skips_servers_above_their_weight) {
    add("10.1.0.146", scheduler::ovf, {{1, 1}, {2, 5}, {3, 3}});
    set_conns(2, 6, 0);
    EXPECT_EQ(pick("10.1.0.146", _sport++), 3);
    set_conns(2, 5, 0);
    EXPECT_EQ(pick("10.1.0.146", _sport++), 2) << "active == weight is still allowed";
}

TEST_F(sched_dp, twos_prefers_the_less_loaded_of_two_random_choices) {
    add("10.1.0.147", scheduler::twos, {{1, 1}, {2, 1}, {3, 0}});
    std::map<int, int> got;
    for (int i = 0; i < 300; ++i) {
        set_conns(1, 100, 0);
        set_conns(2, 0, 0);
        ++got[pick("10.1.0.147", _sport++)];
    }
    EXPECT_EQ(got[3], 0) << "weight 0 is never chosen";
    EXPECT_EQ(got[0] + got[-1], 0);
    // Both random choices land on the loaded server with probability 4/9; the
    // idle one wins otherwise: expect 5/9 of 300, about 167.
    EXPECT_GT(got[2], 120);
    EXPECT_LT(got[2], 220);
}

// --- sh, dh, mh ------------------------------------------------------------------

TEST_F(sched_dp, sh_maps_a_client_to_the_bucket_ipvs_computes) {
    auto k = add("10.1.0.150", scheduler::sh, {{1, 2}, {2, 1}, {3, 1}});
    // The table the data path reads, rebuilt here from the same list.
    service_config c{k, scheduler::sh};
    auto table = sched::build_table(c,
                                    {{dest_id(1), 2, {}, 0}, {dest_id(2), 1, {}, 0}, {dest_id(3), 1, {}, 0}}, 1)
                     .value();
    std::set<int> used;
    for (int host = 1; host <= 60; ++host) {
        auto client = fmt::format("10.9.0.{}", host);
        uint32_t fold = ntohl(v4(client).to_abi().v4);
        uint32_t want_id = table->buckets[xlb_sh_hashkey(fold, 0, 0)];
        int b1 = pick("10.1.0.150", _sport++, client);
        int b2 = pick("10.1.0.150", _sport++, client);
        EXPECT_EQ(b1, b2) << "the same client goes to the same dest";
        EXPECT_EQ(dest_id(b1), want_id) << client;
        used.insert(b1);
    }
    EXPECT_EQ(used.size(), 3u) << "clients spread over every dest";
}

TEST_F(sched_dp, sh_fallback_and_port) {
    auto k = add("10.1.0.151", scheduler::sh, {{1, 1}, {2, 1}});
    int b = pick("10.1.0.151", _sport++, "10.9.1.1");
    ASSERT_GT(b, 0);
    ASSERT_TRUE(dp().edit_dest(k, {{xdp_lab::backend4(b), 80}, forwarding::dr, 0, 0, 0}));
    EXPECT_EQ(pick("10.1.0.151", _sport++, "10.9.1.1"), 0) << "no fallback: the bucket's dest is unavailable";
    ASSERT_TRUE(dp().edit_service({k, scheduler::sh, XLB_IPVS_SVC_F_SCHED1, 0, 0xffffffff}));
    EXPECT_EQ(pick("10.1.0.151", _sport++, "10.9.1.1"), b == 1 ? 2 : 1) << "sh-fallback finds the other";

    ASSERT_TRUE(dp().edit_dest(k, {{xdp_lab::backend4(b), 80}, forwarding::dr, 1, 0, 0}));
    ASSERT_TRUE(dp().edit_service({k, scheduler::sh, XLB_IPVS_SVC_F_SCHED2, 0, 0xffffffff}));
    std::set<int> used;
    for (int i = 0; i < 40; ++i) {
        used.insert(pick("10.1.0.151", _sport++, "10.9.1.1"));
    }
    EXPECT_EQ(used.size(), 2u) << "sh-port: one client's ports spread";
}

TEST_F(sched_dp, dh_hashes_the_destination) {
    add("10.1.0.152", scheduler::dh, {{1, 1}, {2, 1}, {3, 1}});
    std::set<int> used;
    for (int host = 1; host <= 20; ++host) {
        used.insert(pick("10.1.0.152", _sport++, fmt::format("10.9.2.{}", host)));
    }
    EXPECT_EQ(used.size(), 1u) << "every client to one VIP goes to one dest";
    EXPECT_GT(*used.begin(), 0);
}

TEST_F(sched_dp, mh_matches_the_table_and_keeps_clients) {
    auto k = add("10.1.0.153", scheduler::mh, {{1, 1}, {2, 1}, {3, 1}});
    std::vector<sched::member> ms;
    for (int b : {1, 2, 3}) {
        ms.push_back({dest_id(b), 1, {xdp_lab::backend4(b), 80}, 1});
    }
    auto table = sched::build_maglev(ms, 65537);
    std::map<int, int> got;
    for (int host = 1; host <= 60; ++host) {
        auto client = fmt::format("10.9.3.{}", host);
        uint32_t fold = ntohl(v4(client).to_abi().v4);
        uint32_t want = table[xlb_mh_hashkey(fold, 0, XLB_MH_HASH1, 0) % 65537];
        int b = pick("10.1.0.153", _sport++, client);
        EXPECT_EQ(dest_id(b), want) << client;
        EXPECT_EQ(pick("10.1.0.153", _sport++, client), b);
        ++got[b];
    }
    EXPECT_EQ(got.size(), 3u);
    // mh-fallback moves a client off a quiesced dest; without it the flow drops.
    int b = pick("10.1.0.153", _sport++, "10.9.3.1");
    ASSERT_TRUE(dp().edit_dest(k, {{xdp_lab::backend4(b), 80}, forwarding::dr, 0, 0, 0}));
    EXPECT_EQ(pick("10.1.0.153", _sport++, "10.9.3.1"), 0);
    ASSERT_TRUE(dp().edit_service({k, scheduler::mh, XLB_IPVS_SVC_F_SCHED1, 0, 0xffffffff}));
    int other = pick("10.1.0.153", _sport++, "10.9.3.1");
    EXPECT_GT(other, 0);
    EXPECT_NE(other, b);
}

// --- counters, thresholds, persistence ------------------------------------------

TEST_F(sched_dp, connection_counts_follow_tcp_states) {
    add("10.1.0.160", scheduler::rr, {{1, 1}});
    ASSERT_EQ(send("10.1.0.160", 30000, tcp_syn), XDP_TX);
    EXPECT_EQ(state_of(1).active_conns, 1u) << "SYN_RECV is active";
    ASSERT_EQ(send("10.1.0.160", 30000, tcp_ack), XDP_TX);
    EXPECT_EQ(state_of(1).active_conns, 1u);
    ASSERT_EQ(send("10.1.0.160", 30000, tcp_fin | tcp_ack), XDP_TX);
    EXPECT_EQ(state_of(1).active_conns, 0u);
    EXPECT_EQ(state_of(1).inactive_conns, 1u) << "FIN_WAIT is inactive";
    // Flows that end silently leave the counts within one sweep interval.
    fast_sweeps_and_expiry();
    ASSERT_EQ(send("10.1.0.160", 30001, tcp_syn), XDP_TX);
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    EXPECT_EQ(state_of(1).active_conns + state_of(1).inactive_conns, 0u);
}

TEST_F(sched_dp, upper_threshold_overloads_and_the_sweep_clears_it) {
    auto k = add("10.1.0.161", scheduler::fo, {{1, 5}, {2, 1}});
    ASSERT_TRUE(dp().edit_dest(k, {{xdp_lab::backend4(1), 80}, forwarding::dr, 5, 2, 0}));
    EXPECT_EQ(pick("10.1.0.161", 31000), 1);
    EXPECT_EQ(pick("10.1.0.161", 31001), 1);
    EXPECT_TRUE(state_of(1).overloaded) << "2 connections reach -x 2";
    EXPECT_EQ(pick("10.1.0.161", 31002), 2) << "an overloaded dest takes no new flows";
    fast_sweeps_and_expiry();
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    EXPECT_FALSE(state_of(1).overloaded) << "below 3/4 of -x once the flows are gone";
    EXPECT_EQ(pick("10.1.0.161", 31003), 1);
}

TEST_F(sched_dp, rr_steps_over_an_overloaded_dest) {
    auto k = add("10.1.0.162", scheduler::rr, {{1, 1}, {2, 1}, {3, 1}});
    ASSERT_TRUE(dp().edit_dest(k, {{xdp_lab::backend4(2), 80}, forwarding::dr, 1, 1, 0}));
    std::string seq;
    for (int i = 0; i < 6; ++i) {
        seq += std::to_string(pick("10.1.0.162", static_cast<uint16_t>(32000 + i)));
    }
    EXPECT_EQ(seq, "123131") << "2 takes one flow, reaches -x 1, then is skipped";
}

TEST_F(sched_dp, persistence_keeps_a_client_on_its_dest) {
    add("10.1.0.163", scheduler::rr, {{1, 1}, {2, 1}, {3, 1}}, XLB_IPVS_SVC_F_PERSISTENT, 300);
    int first = pick("10.1.0.163", 33000, "10.9.4.1");
    ASSERT_GT(first, 0);
    for (int i = 1; i < 6; ++i) {
        EXPECT_EQ(pick("10.1.0.163", static_cast<uint16_t>(33000 + i), "10.9.4.1"), first) << "connection " << i;
    }
    int other = pick("10.1.0.163", 33100, "10.9.4.2");
    EXPECT_NE(other, first) << "another client takes the scheduler's next turn";
    EXPECT_EQ(state_of(first).persist_conns, 1u) << "one template";
    EXPECT_EQ(state_of(first).active_conns, 6u);
}

TEST_F(sched_dp, persistence_netmask_groups_clients) {
    add("10.1.0.164", scheduler::rr, {{1, 1}, {2, 1}, {3, 1}}, XLB_IPVS_SVC_F_PERSISTENT, 300, 0xffffff00);
    int first = pick("10.1.0.164", 34000, "10.9.5.1");
    for (int host = 2; host < 10; ++host) {
        EXPECT_EQ(pick("10.1.0.164", 34000, fmt::format("10.9.5.{}", host)), first) << "same /24";
    }
    EXPECT_NE(pick("10.1.0.164", 34000, "10.9.6.1"), first) << "another /24";
}

TEST_F(sched_dp, persistent_port_zero_service_takes_any_port) {
    service_key k{protocol::tcp, {v4("10.1.0.165"), 0}};
    ASSERT_TRUE(dp().add_service({k, scheduler::rr, XLB_IPVS_SVC_F_PERSISTENT, 300, 0xffffffff}));
    for (int b : {1, 2}) {
        ASSERT_TRUE(dp().add_dest(k, {{xdp_lab::backend4(b), 0}, forwarding::dr, 1, 0, 0}));
    }
    packet_spec p;
    p.dst = parse_mac(xdp_lab::dir_mac);
    p.saddr = v4("10.9.7.1");
    p.daddr = v4("10.1.0.165");
    std::set<std::string> macs;
    for (uint16_t port : {22, 80, 443, 8080}) {
        p.dport = port;
        p.sport = static_cast<uint16_t>(35000 + port);
        auto r = run_xdp(dp().prog_fd(), build(p), _ifindex);
        ASSERT_EQ(r.action, XDP_TX) << port;
        macs.insert(std::string(r.out.begin(), r.out.begin() + 6));
    }
    EXPECT_EQ(macs.size(), 1u) << "every port of one client to one dest";
}

} // namespace
