// Every scheduler's choice through the real XDP program, for counters and
// weights the test sets itself; persistence, thresholds and the connection
// counters kept by the data path and its sweeper.

#include "support/netns.h"
#include "support/packet.h"
#include "support/ipvs_sched.h"
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
#include <algorithm>
#include <functional>
#include <numeric>
#include <map>
#include <set>
#include <thread>

using namespace xlb;
using namespace xlb::test;

namespace {

[[maybe_unused]] auto* const g_env = ::testing::AddGlobalTestEnvironment(new lab_environment(true));

ip_address v4(const std::string& s) { return *ip_address::parse(s); }

// --- IPVS's sh, transcribed from the kernel's C (rr and wrr: support/ipvs_sched.h)

// ip_vs_sh_reassign(): 256 buckets filled round the list, a dest staying
// until ++count >= its weight (so weight 0 takes one); then
// ip_vs_sh_get_fallback() over them. sh_ok(d): !is_unavailable(dest).
struct ipvs_sh {
    std::vector<long> buckets = std::vector<long>(256, -1);

    ipvs_sh(const std::vector<uint32_t>& list, const std::vector<int>& weight) {
        if (list.empty()) {
            return;
        }
        size_t p = 0;
        int count = 0;
        for (auto& b : buckets) {
            b = list[p];
            if (++count >= weight[list[p]]) {
                p = (p + 1) % list.size();
                count = 0;
            }
        }
    }
    static uint32_t hashkey(uint32_t fold, uint32_t offset) {
        // (offset + hash_32(port + ntohl(addr), 8)) & 255, port 0
        return (offset + ((fold * 0x61C88647u) >> 24)) & 255;
    }
    template <class Ok>
    long fallback(uint32_t fold, Ok ok) const {
        uint32_t ihash = hashkey(fold, 0);
        long d = buckets[ihash];
        if (d < 0) {
            return -1;
        }
        if (ok(d)) {
            return d;
        }
        for (uint32_t offset = 0; offset < 256; ++offset) {
            uint32_t roffset = (offset + ihash) % 256;
            d = buckets[hashkey(fold, roffset)];
            if (d < 0) {
                break;
            }
            if (ok(d)) {
                return d;
            }
        }
        return -1;
    }
};

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
        // The published side of the double-buffered dests map.
        struct xlb_table_ctl ctl {};
        uint32_t zero = 0;
        EXPECT_EQ(bpf_map_lookup_elem(dp().map_fds().table_ctl.get(), &zero, &ctl), 0);
        const uint32_t max = dp().sizes().max_dests;
        for (uint32_t id = 0; id < max; ++id) {
            struct xlb_dest d {};
            uint32_t slot = id + (ctl.side & 1) * max;
            if (bpf_map_lookup_elem(_dests.get(), &slot, &d) == 0 && (d.flags & XLB_DEST_F_ACTIVE) &&
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
        return backend_of(run_xdp(dp().prog_fd(), build(p), _ifindex));
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

TEST_F(sched_dp, scans_cross_steps_and_chunks) {
    // Nine dests: the scan reads them four a step, eight a table chunk; the
    // winner sits in the last step and the second chunk.
    std::vector<std::pair<int, int>> nine;
    for (int b = 1; b <= 9; ++b) {
        nine.push_back({b, b == 9 ? 3 : 1});
    }
    add("10.1.0.148", scheduler::lc, nine);
    for (int b = 1; b <= 9; ++b) {
        set_conns(b, b == 9 ? 0 : 1, 0);
    }
    EXPECT_EQ(pick("10.1.0.148", _sport++), 9) << "lc: the least loaded is the last";
    add("10.1.0.149", scheduler::fo, nine);
    EXPECT_EQ(pick("10.1.0.149", _sport++), 9) << "fo: the heaviest is the last";
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
        uint32_t want_id = table.bucket(xlb_sh_hashkey(fold, 0, 0) & (XLB_SH_TAB_SIZE - 1));
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

// --- rr, wrr and sh-fallback: IPVS's exact choices across changes -------------
//
// Backend numbers are dest numbers in the oracles above. Each change goes
// through the dataplane as ipvsadm sends it, and the oracle runs the same
// change through IPVS's callbacks.

class ipvs_sequence : public sched_dp {
protected:
    static constexpr const char* vip = "10.1.0.180";
    service_key key() const { return {protocol::tcp, {v4(vip), 80}}; }
    dest_config dest(int b, int w) const { return {{xdp_lab::backend4(b), 80}, forwarding::dr, w, 0, 0}; }
    // n picks, each a new flow, as a string of backend numbers.
    std::string picks(int n) {
        std::string seq;
        for (int i = 0; i < n; ++i) {
            seq += std::to_string(pick(vip, _sport++));
        }
        return seq;
    }
    template <class Oracle>
    std::string expect(Oracle& o, int n) {
        std::string seq;
        for (int i = 0; i < n; ++i) {
            long d = o.next();
            seq += std::to_string(d < 0 ? 0 : d);
        }
        return seq;
    }
};

TEST_F(ipvs_sequence, wrr_matches_real_ipvs_for_dests_added_one_by_one) {
    // Captured from kernel IPVS (Debian 12, 6.1): -A -s wrr, then -a C -w 2,
    // -a B -w 3, -a A -w 4; twelve connections went A B C A A B A B C A B C.
    // IPVS starts from cw 1 (C's, after gcd 2 made mw 1), not from weight 4.
    ASSERT_TRUE(dp().add_service({key(), scheduler::wrr}));
    ASSERT_TRUE(dp().add_dest(key(), dest(3, 2)));
    ASSERT_TRUE(dp().add_dest(key(), dest(2, 3)));
    ASSERT_TRUE(dp().add_dest(key(), dest(1, 4)));
    EXPECT_EQ(picks(12), "123112123123");
}

TEST_F(ipvs_sequence, wrr_follows_ipvs_across_adds_edits_and_deletes) {
    ipvs_wrr o;
    ASSERT_TRUE(dp().add_service({key(), scheduler::wrr}));
    // weights 1, 2, 3, 0 (the first case), added in that order
    int w[] = {0, 1, 2, 3, 0};
    for (int b = 1; b <= 4; ++b) {
        ASSERT_TRUE(dp().add_dest(key(), dest(b, w[b])));
        o.add(b, w[b]);
    }
    EXPECT_EQ(picks(12), expect(o, 12)) << "after four adds";
    ASSERT_TRUE(dp().edit_dest(key(), dest(4, 4)));
    o.edit(4, 4);
    EXPECT_EQ(picks(20), expect(o, 20)) << "after -e to weight 4, part-way through a pass";
    ASSERT_TRUE(dp().add_dest(key(), dest(5, 6)));
    o.add(5, 6);
    EXPECT_EQ(picks(7), expect(o, 7)) << "after an add";
    ASSERT_TRUE(dp().del_dest(key(), dest(2, 0).addr));
    o.del(2);
    EXPECT_EQ(picks(9), expect(o, 9)) << "after a delete";
    // gcd 2 from weights 2, 4, 6: cw steps by 2 and lands on 2k + 1.
    ASSERT_TRUE(dp().edit_dest(key(), dest(1, 2)));
    o.edit(1, 2);
    ASSERT_TRUE(dp().edit_dest(key(), dest(3, 0)));
    o.edit(3, 0);
    EXPECT_EQ(picks(15), expect(o, 15)) << "gcd 2";
    ASSERT_TRUE(dp().edit_dest(key(), dest(4, 3)));
    o.edit(4, 3);
    EXPECT_EQ(picks(30), expect(o, 30)) << "gcd back to 1";
}

TEST_F(ipvs_sequence, rr_keeps_its_place_across_adds_and_deletes) {
    ipvs_rr o;
    ASSERT_TRUE(dp().add_service({key(), scheduler::rr}));
    for (int b = 1; b <= 3; ++b) {
        ASSERT_TRUE(dp().add_dest(key(), dest(b, 1)));
        o.add(b, 1);
    }
    EXPECT_EQ(picks(2), expect(o, 2));
    // r4 joins at the head of the list, part-way through a cycle: IPVS
    // reaches it only after the rest of the cycle.
    ASSERT_TRUE(dp().add_dest(key(), dest(4, 1)));
    o.add(4, 1);
    EXPECT_EQ(picks(6), expect(o, 6)) << "after an add mid-cycle";
    // Delete the dest last chosen: the pointer moves to the one before it.
    long last = o.cl;
    ASSERT_GT(last, 0);
    ASSERT_TRUE(dp().del_dest(key(), dest(static_cast<int>(last), 0).addr));
    o.del(static_cast<uint32_t>(last));
    EXPECT_EQ(picks(5), expect(o, 5)) << "after deleting the last chosen";
    // Quiesce the next one, then bring another in.
    long next = o.list[(o.index(o.cl) + 1) % o.list.size()];
    ASSERT_TRUE(dp().edit_dest(key(), dest(static_cast<int>(next), 0)));
    o.edit(static_cast<uint32_t>(next), 0);
    EXPECT_EQ(picks(4), expect(o, 4)) << "after weight 0";
    ASSERT_TRUE(dp().add_dest(key(), dest(5, 2)));
    o.add(5, 2);
    ASSERT_TRUE(dp().edit_dest(key(), dest(static_cast<int>(next), 1)));
    o.edit(static_cast<uint32_t>(next), 1);
    EXPECT_EQ(picks(9), expect(o, 9)) << "after an add and a weight back";
}

TEST_F(ipvs_sequence, a_change_set_runs_each_change_as_ipvs_does) {
    // One apply, as xlbctl -R sends a restore: IPVS runs the callbacks once
    // per change, so the result is not a fresh start from the final list.
    ipvs_wrr o;
    change_set set{change::add_service({key(), scheduler::wrr})};
    o.init();
    int w[] = {0, 2, 5, 3, 4};
    for (int b = 1; b <= 4; ++b) {
        set.push_back(change::add_dest(key(), dest(b, w[b])));
        o.add(b, w[b]);
    }
    set.push_back(change::edit_dest(key(), dest(2, 1)));
    o.edit(2, 1);
    ASSERT_TRUE(dp().apply(set));
    EXPECT_EQ(picks(20), expect(o, 20));

    set = {change::del_dest(key(), dest(4, 0).addr), change::add_dest(key(), dest(6, 2)),
           change::edit_service({key(), scheduler::wrr, XLB_IPVS_SVC_F_PERSISTENT, 60, 0xffffffff}),
           change::edit_service({key(), scheduler::wrr})};
    o.del(4);
    o.add(6, 2);
    ASSERT_TRUE(dp().apply(set));
    EXPECT_EQ(picks(15), expect(o, 15)) << "a delete, an add and -E that keeps the scheduler";

    // -E to rr and back: each bind runs init_service, from the head.
    ASSERT_TRUE(dp().edit_service({key(), scheduler::rr}));
    ipvs_rr r{o.list, o.weight};
    EXPECT_EQ(picks(4), expect(r, 4)) << "-E -s rr";
    ASSERT_TRUE(dp().edit_service({key(), scheduler::wrr}));
    o.init();
    EXPECT_EQ(picks(10), expect(o, 10)) << "-E -s wrr";
}

TEST_F(ipvs_sequence, sh_fallback_follows_ip_vs_sh_get_fallback_on_200_sources) {
    // Five dests, newest first 1..5, weights 2 3 1 0 2: 4 is quiesced and
    // still owns buckets; then 2 is too.
    std::vector<int> weight = {0, 2, 3, 1, 0, 2};
    std::vector<uint32_t> list = {1, 2, 3, 4, 5};
    add(vip, scheduler::sh, {{1, 2}, {2, 3}, {3, 1}, {4, 0}, {5, 2}}, XLB_IPVS_SVC_F_SCHED1);
    for (int round = 0; round < 2; ++round) {
        // Buckets are filled from the weights IPVS gives them (ip_vs_sh_reassign()).
        ipvs_sh sh(list, weight);
        int moved = 0;
        for (int c = 0; c < 200; ++c) {
            auto client = fmt::format("10.81.{}.{}", c / 100, c % 100 + 1);
            uint32_t fold = ntohl(v4(client).to_abi().v4);
            long want = sh.fallback(fold, [&](long d) { return weight[d] > 0; });
            moved += sh.buckets[ipvs_sh::hashkey(fold, 0)] != want;
            ASSERT_EQ(pick(vip, _sport++, client), want) << client << " round " << round;
        }
        EXPECT_GT(moved, 10) << "enough clients fall back to test the probe order";
        ASSERT_TRUE(dp().edit_dest(key(), dest(2, 0)));
        weight[2] = 0;
    }
}

// --- services with thousands of dests ---------------------------------------------
//
// NAT dests in 10.128.0.0/16, routed through backend 1 (10.1.0.11): the
// rewritten destination address tells which dest a flow went to. Every
// expected choice comes from an oracle written here from IPVS's own walk
// (ip_vs_rr.c, ip_vs_wrr.c, ip_vs_wlc.c, ip_vs_mh.c), not from xlb's table
// builder.

class sched_big : public ::testing::Test {
public:
    static ip_address addr(uint32_t i) { return big_dest(i); }

protected:
    void SetUp() override {
        XLB_REQUIRE_PRIVILEGE();
        ASSERT_NO_THROW(route_big_dests());
    }

    void load(uint32_t max_dests) {
        _xlb.emplace(load_options{4, max_dests, 262144}); // the default Maglev size: IPVS's 4093
        auto cfg = dp().config().value();
        cfg.sweep_ms = 3600 * 1000; // the tests own the connection counters
        ASSERT_TRUE(dp().set_config(cfg));
        _conns = file_desc(bpf_obj_get((_xlb->pin_dir() + "/dest_conns").c_str()));
        _dests = file_desc(bpf_obj_get((_xlb->pin_dir() + "/dests").c_str()));
        ASSERT_TRUE(_conns && _dests);
    }
    xdp_dataplane& dp() { return _xlb->dp(); }

    // Dests 0..n-1 added in that order, so IPVS's list (newest first) is
    // n-1, ..., 0.
    void add_dests(const service_key& k, uint32_t from, uint32_t n, const std::function<int(uint32_t)>& weight) {
        for (uint32_t i = from; i < from + n; ++i) {
            auto r = dp().add_dest(k, {{addr(i), 80}, forwarding::nat, weight(i), 0, 0});
            ASSERT_TRUE(r) << i << ": " << r.error().message();
        }
    }

    // The dest (its number i) a new flow from client:sport goes to; -1 if none.
    long pick(const service_key& k, uint16_t sport, const std::string& client = "10.1.0.200") {
        packet_spec p;
        p.dst = parse_mac(xdp_lab::dir_mac);
        p.saddr = v4(client);
        p.daddr = k.vip.addr;
        p.sport = sport;
        auto r = run_xdp(dp().prog_fd(), build(p), _ifindex_xa);
        if (r.action != XDP_TX || r.out.size() < 34) {
            return -1;
        }
        const uint8_t* d = r.out.data() + 30; // the IPv4 destination
        if (d[0] != 10 || d[1] != 128) {
            return -2;
        }
        return (long{d[2]} << 8) | d[3];
    }

    // The same in bulk (see bulk_dests()), then the table rebuilt under s.
    void bulk(const service_key& k, scheduler s, uint32_t from, uint32_t n, const std::function<int(uint32_t)>& weight) {
        std::vector<dest_config> ds;
        for (uint32_t i = from; i < from + n; ++i) {
            ds.push_back({{addr(i), 80}, forwarding::nat, weight(i), 0, 0});
        }
        ASSERT_NO_THROW(bulk_dests(*_xlb, {k, s}, ds));
    }

    // dest number -> dest id, from the dests map.
    std::map<uint32_t, uint32_t> dest_ids(uint32_t max_dests) {
        std::map<uint32_t, uint32_t> ids;
        for (uint32_t id = 0; id < max_dests; ++id) {
            struct xlb_dest d {};
            if (bpf_map_lookup_elem(_dests.get(), &id, &d) == 0 && (d.flags & XLB_DEST_F_ACTIVE)) {
                auto b = reinterpret_cast<const uint8_t*>(&d.addr.v4);
                ids[(uint32_t{b[2]} << 8) | b[3]] = id;
            }
        }
        return ids;
    }

    std::optional<loaded_xlb> _xlb;
    int _ifindex_xa = ifindex(xdp_lab::dir_if);
    file_desc _conns, _dests;
};

uint32_t fold_of(const ip_address& a) {
    auto x = a.to_abi();
    return ntohl(xlb_addr_fold(x.v6, !a.is_v4()));
}

std::vector<uint32_t> newest_first(uint32_t from, uint32_t n) {
    std::vector<uint32_t> l(n);
    for (uint32_t j = 0; j < n; ++j) {
        l[j] = from + n - 1 - j;
    }
    return l;
}

// ip_vs_mh_permutate() and ip_vs_mh_populate() over the list, with IPVS's
// hash of each dest's address and port; weights here keep weight/gcd within
// the table's bits, so ip_vs_mh_shift_weight() shifts by 0. -1: empty slot.
std::vector<long> ipvs_mh_table(const std::vector<uint32_t>& list, const std::vector<int>& last_weight, uint32_t m) {
    struct setup {
        uint32_t offset, skip, perm;
        int turns;
    };
    int gcd = 0;
    for (auto i : list) {
        if (last_weight[i] > 0) {
            gcd = std::gcd(gcd, last_weight[i]);
        }
    }
    std::vector<long> lookup(m, -1);
    if (gcd < 1) {
        return lookup;
    }
    std::vector<setup> ds;
    for (auto i : list) {
        uint32_t fold = fold_of(sched_big::addr(i));
        setup s{};
        s.offset = xlb_mh_hashkey(fold, 80, XLB_MH_HASH1, 0) % m;
        s.skip = xlb_mh_hashkey(fold, 80, XLB_MH_HASH2, 0) % (m - 1) + 1;
        s.perm = s.offset;
        int lw = last_weight[i];
        s.turns = (lw / gcd) ? (lw / gcd) : (lw != 0);
        ds.push_back(s);
    }
    std::vector<bool> table(m, false);
    uint32_t n = 0;
    int dt_count = 0;
    size_t p = 0;
    while (n < m) {
        p = 0;
        while (p < list.size()) {
            if (ds[p].turns < 1) {
                ++p;
                continue;
            }
            uint32_t c = ds[p].perm;
            while (table[c]) {
                ds[p].perm += ds[p].skip;
                if (ds[p].perm >= m) {
                    ds[p].perm -= m;
                }
                c = ds[p].perm;
            }
            table[c] = true;
            lookup[c] = list[p];
            if (++n == m) {
                return lookup;
            }
            if (++dt_count >= ds[p].turns) {
                dt_count = 0;
                ++p;
            }
        }
    }
    return lookup;
}

TEST_F(sched_big, rr_and_mh_schedule_4096_dests_and_the_4097th_is_refused) {
    constexpr uint32_t n = XLB_MAX_DESTS_HASHED;
    static_assert(n >= 4096);
    load(n + 8);
    service_key k{protocol::tcp, {v4("10.1.0.170"), 80}};
    ASSERT_TRUE(dp().add_service({k, scheduler::rr}));
    std::vector<int> weight(n);
    for (uint32_t i = 0; i < n; ++i) {
        weight[i] = i % 97 == 5 ? 0 : 1 + static_cast<int>(i % 2); // mh: weights 1 and 2; a few quiesced
    }
    bulk(k, scheduler::rr, 0, n, [&](uint32_t i) { return weight[i]; });

    ipvs_rr rr{newest_first(0, n), weight};
    uint16_t sport = 1024;
    for (uint32_t j = 0; j < n + 300; ++j) {
        ASSERT_EQ(pick(k, sport++), rr.next()) << "pick " << j;
    }

    // One more is refused, clearly, and nothing changes: the sequence goes on.
    auto over = dp().add_dest(k, {{addr(n), 80}, forwarding::nat, 1, 0, 0});
    ASSERT_FALSE(over);
    EXPECT_EQ(over.error().code, ENOSPC);
    EXPECT_NE(over.error().message().find(std::to_string(n)), std::string::npos) << over.error().message();
    // A scanning scheduler cannot take the service either: -E fails, the
    // service keeps rr and its table.
    auto to_wlc = dp().edit_service({k, scheduler::wlc});
    ASSERT_FALSE(to_wlc);
    EXPECT_EQ(to_wlc.error().code, ENOSPC);
    EXPECT_NE(to_wlc.error().message().find(std::to_string(XLB_MAX_DESTS_SCANNED)), std::string::npos)
        << to_wlc.error().message();
    for (uint32_t j = 0; j < 50; ++j) {
        ASSERT_EQ(pick(k, sport++), rr.next()) << "after the refusals, pick " << j;
    }
    auto listed = dp().list().value();
    ASSERT_EQ(listed.size(), 1u);
    EXPECT_EQ(listed[0].config.sched, scheduler::rr);
    EXPECT_EQ(listed[0].dests.size(), n);

    // mh over the same 4,096: each client where an independent Maglev
    // population puts it, at the default table size, Debian's IPVS size
    // (fewer slots than dests: some get none, in IPVS too).
    ASSERT_EQ(dp().sizes().mh_size, 4093u);
    ASSERT_TRUE(dp().edit_service({k, scheduler::mh}));
    auto lookup = ipvs_mh_table(newest_first(0, n), weight, 4093);
    std::set<long> used;
    for (uint32_t c = 0; c < 3000; ++c) {
        auto client = fmt::format("10.200.{}.{}", c / 250, c % 250 + 1);
        uint32_t fold = ntohl(v4(client).to_abi().v4);
        long want = lookup[xlb_mh_hashkey(fold, 0, XLB_MH_HASH1, 0) % 4093];
        ASSERT_EQ(pick(k, sport++, client), want) << client;
        used.insert(want);
    }
    EXPECT_GT(used.size(), 1500u) << "3,000 clients spread over the dests";
}

TEST_F(sched_big, wrr_with_hundreds_of_distinct_weights_follows_ipvs) {
    // 256 dests of 256 distinct weights: 256 bands, a period of 32,896 picks.
    constexpr uint32_t n = 256;
    load(512);
    service_key k{protocol::tcp, {v4("10.1.0.171"), 80}};
    ASSERT_TRUE(dp().add_service({k, scheduler::wrr}));
    std::vector<int> weight(n);
    for (uint32_t i = 0; i < n; ++i) {
        weight[i] = static_cast<int>((i * 131) % n) + 1; // 1..256, shuffled through the list
    }
    add_dests(k, 0, n, [&](uint32_t i) { return weight[i]; });
    // One ipvsadm -a at a time: each runs ip_vs_wrr_dest_changed(), so the
    // first pass is the first dest's (cw 1 here), not the top weight.
    ipvs_wrr wrr;
    for (uint32_t i = 0; i < n; ++i) {
        wrr.add(i, weight[i]);
    }
    uint16_t sport = 1024;
    const uint32_t period = n * (n + 1) / 2;
    for (uint32_t j = 0; j < period + 500; ++j) {
        ASSERT_EQ(pick(k, sport++), wrr.next()) << "pick " << j;
    }
}

TEST_F(sched_big, wrr_with_thousands_of_dests_and_a_few_weights_follows_ipvs) {
    constexpr uint32_t n = 2000;
    load(2048);
    service_key k{protocol::tcp, {v4("10.1.0.172"), 80}};
    ASSERT_TRUE(dp().add_service({k, scheduler::wrr}));
    std::vector<int> weight(n);
    for (uint32_t i = 0; i < n; ++i) {
        weight[i] = i % 13 == 0 ? 0 : static_cast<int>((i * 7) % 5 + 1) * 2; // 0, 2..10: gcd 2
    }
    bulk(k, scheduler::wrr, 0, n, [&](uint32_t i) { return weight[i]; });
    // One change set, replayed as IPVS runs a restore: one add at a time.
    ipvs_wrr wrr;
    for (uint32_t i = 0; i < n; ++i) {
        wrr.add(i, weight[i]);
    }
    uint16_t sport = 1024;
    uint32_t period = 0;
    for (int w : weight) {
        period += w / 2;
    }
    for (uint32_t j = 0; j < period + 500; ++j) {
        ASSERT_EQ(pick(k, sport++), wrr.next()) << "pick " << j;
    }
}

TEST_F(sched_big, wlc_scans_1024_dests_and_the_1025th_is_refused) {
    constexpr uint32_t n = XLB_MAX_DESTS_SCANNED;
    static_assert(n >= 1024);
    load(n + 8);
    service_key k{protocol::tcp, {v4("10.1.0.173"), 80}};
    ASSERT_TRUE(dp().add_service({k, scheduler::wlc}));
    std::vector<int> weight(n);
    for (uint32_t i = 0; i < n; ++i) {
        weight[i] = i % 61 == 3 ? 0 : static_cast<int>(i % 7) + 1;
    }
    bulk(k, scheduler::wlc, 0, n, [&](uint32_t i) { return weight[i]; });
    auto ids = dest_ids(n + 8);
    ASSERT_EQ(ids.size(), n);

    // Counters set here; a few dests overloaded.
    std::vector<xlb_dest_conns> conns(n);
    for (uint32_t i = 0; i < n; ++i) {
        conns[i] = {20 + (i * 37) % 11, (i * 53) % 40, 0, i % 89 == 7 ? 1u : 0u};
        ASSERT_EQ(bpf_map_update_elem(_conns.get(), &ids[i], &conns[i], BPF_ANY), 0);
    }
    // ip_vs_wlc_schedule(): the first usable dest in the list, then any later
    // one with loh * w > doh * lw; overhead (active << 8) + inactive.
    auto list = newest_first(0, n);
    auto oracle = [&]() -> long {
        long least = -1;
        uint64_t loh = 0;
        for (auto i : list) {
            if (conns[i].overloaded || weight[i] <= 0) {
                continue;
            }
            uint64_t doh = (uint64_t{conns[i].active} << 8) + conns[i].inactive;
            if (least < 0 || loh * weight[i] > doh * weight[least]) {
                least = i;
                loh = doh;
            }
        }
        return least;
    };
    uint16_t sport = 1024;
    std::set<long> used;
    for (int j = 0; j < 400; ++j) {
        long want = oracle();
        ASSERT_EQ(pick(k, sport++), want) << "pick " << j;
        ++conns[want].active; // the SYN's flow counts as active (SYN_RECV)
        struct xlb_dest_conns got {};
        ASSERT_EQ(bpf_map_lookup_elem(_conns.get(), &ids[want], &got), 0);
        ASSERT_EQ(got.active, conns[want].active);
        used.insert(want);
    }
    EXPECT_GT(used.size(), 50u);

    auto over = dp().add_dest(k, {{addr(n), 80}, forwarding::nat, 1, 0, 0});
    ASSERT_FALSE(over);
    EXPECT_EQ(over.error().code, ENOSPC);
    EXPECT_NE(over.error().message().find(std::to_string(n)), std::string::npos) << over.error().message();
    EXPECT_EQ(dest_ids(n + 8).size(), n);
    long want = oracle();
    EXPECT_EQ(pick(k, sport++), want) << "nothing changed";
}

} // namespace
