// A SYN flood against the real program (bpf_prog_test_run_opts): flows that
// completed a handshake live in the flow table, which new SYNs never touch,
// so every one keeps its server through ten times the table's size in
// spoofed SYNs, for DR and for NAT (whose reply keys are kept apart too).

#include "support/netns.h"
#include "support/packet.h"
#include "support/priv.h"
#include "support/xdp_lab.h"

#include <xlb/dataplane/xdp_dataplane.h>

#include <bpf/bpf.h>
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <set>

#include <cstring>
#include <random>
#include <chrono>
#include <thread>

using namespace xlb;
using namespace xlb::test;

namespace {

[[maybe_unused]] auto* const g_env = ::testing::AddGlobalTestEnvironment(new lab_environment(true));

ip_address ip(const std::string& s) { return *ip_address::parse(s); }

const mac client_mac{0x02, 0, 0, 0, 0, 0xc1};
constexpr uint32_t main_table = 8192;
constexpr int established = 1000;

class flood : public ::testing::Test {
protected:
    void SetUp() override {
        XLB_REQUIRE_PRIVILEGE();
        _xlb.emplace(load_options{8, 256, main_table});
        _ifindex = ifindex(xdp_lab::dir_if);
        ASSERT_GT(_ifindex, 0);
        _flows = file_desc(bpf_obj_get((_xlb->pin_dir() + "/flows").c_str()));
        ASSERT_TRUE(_flows);
    }
    xdp_dataplane& dp() { return _xlb->dp(); }

    packet_spec pkt(const ip_address& src, uint16_t sport, const ip_address& dst, uint16_t dport, uint8_t flags) {
        packet_spec p;
        p.dst = parse_mac(xdp_lab::dir_mac);
        p.src = client_mac;
        p.saddr = src;
        p.daddr = dst;
        p.sport = sport;
        p.dport = dport;
        p.tcp_flags = flags;
        return p;
    }
    run_result run(const packet_spec& p) { return run_xdp(dp().prog_fd(), build(p), _ifindex); }

    static ip_address client(int i) { return ip(fmt::format("10.2.{}.{}", i / 250, i % 250 + 1)); }

    // Ten times the flow table in SYNs from spoofed sources and ports.
    void syn_flood(const ip_address& vip, uint16_t vport) {
        std::mt19937 rng(7);
        size_t sent = 0;
        for (uint32_t i = 0; i < 10 * main_table; ++i) {
            uint32_t a = rng();
            auto src = ip(fmt::format("10.{}.{}.{}", 64 + (a >> 24) % 64, (a >> 16) & 0xff, (a >> 8) & 0xff));
            auto r = run(pkt(src, static_cast<uint16_t>(1024 + rng() % 60000), vip, vport, tcp_syn));
            sent += r.action == XDP_TX;
        }
        ASSERT_EQ(sent, 10 * main_table) << "every SYN of the flood is scheduled and forwarded";
        auto st = dp().report();
        ASSERT_TRUE(st);
        EXPECT_GE(st->embryonic * 10, uint64_t{st->max_embryonic} * 9) << "the flood fills the embryonic table";
    }

    size_t flow_entries() {
        size_t n = 0;
        struct xlb_flow_key k {}, next {};
        void* prev = nullptr;
        while (bpf_map_get_next_key(_flows.get(), prev, &next) == 0) {
            ++n;
            k = next;
            prev = &k;
        }
        return n;
    }

    std::optional<loaded_xlb> _xlb;
    int _ifindex = 0;
    file_desc _flows;
};

TEST_F(flood, established_dr_flows_keep_their_server_through_a_syn_flood) {
    auto vip = ip("10.1.0.190");
    service_key k{protocol::tcp, {vip, 80}};
    ASSERT_TRUE(dp().add_service({k, scheduler::rr}));
    for (int b = 1; b <= 4; ++b) {
        ASSERT_TRUE(dp().add_dest(k, {{xdp_lab::backend4(b), 80}, forwarding::dr, 1, 0, 0}));
    }
    std::vector<int> server(established);
    for (int i = 0; i < established; ++i) {
        server[i] = backend_of(run(pkt(client(i), 30000, vip, 80, tcp_syn)));
        ASSERT_GT(server[i], 0) << i;
        ASSERT_EQ(backend_of(run(pkt(client(i), 30000, vip, 80, tcp_ack))), server[i]) << "the handshake's ACK, " << i;
    }
    EXPECT_EQ(flow_entries(), size_t{established}) << "the ACKs moved every flow into the flow table";

    syn_flood(vip, 80);
    EXPECT_EQ(flow_entries(), size_t{established}) << "the SYNs went nowhere near the flow table";

    int kept = 0;
    for (int i = 0; i < established; ++i) {
        kept += backend_of(run(pkt(client(i), 30000, vip, 80, tcp_ack | tcp_psh))) == server[i];
    }
    EXPECT_EQ(kept, established) << "every established flow delivers its next packet to its server";
}

TEST_F(flood, established_nat_flows_keep_their_server_and_replies_through_a_syn_flood) {
    auto vip = ip("10.1.0.191");
    service_key k{protocol::tcp, {vip, 80}};
    ASSERT_TRUE(dp().add_service({k, scheduler::rr}));
    for (int b = 1; b <= 2; ++b) {
        ASSERT_TRUE(dp().add_dest(k, {{xdp_lab::backend4(b), 8080}, forwarding::nat, 1, 0, 0}));
    }
    // One client on the lab's network, so its replies have a route back; a
    // port per connection.
    constexpr int n = established / 2;
    const auto nat_client = ip("10.1.0.200");
    auto port = [](int i) { return static_cast<uint16_t>(31000 + i); };
    std::vector<int> server(n);
    auto reply = [&](int i) {
        // The server's packet to the client, which the director puts the VIP on.
        auto p = pkt(xdp_lab::backend4(server[i]), 8080, nat_client, port(i), tcp_ack);
        p.src = xdp_lab::backend_mac(server[i]);
        auto r = run(p);
        if (r.action != XDP_TX || r.out.size() < 14 + 20 + 2) {
            return false;
        }
        auto v = vip.to_abi().v4;
        return std::memcmp(r.out.data() + 14 + 12, &v, 4) == 0 && r.out[14 + 20] == 0 && r.out[14 + 21] == 80;
    };
    for (int i = 0; i < n; ++i) {
        server[i] = backend_of(run(pkt(nat_client, port(i), vip, 80, tcp_syn)));
        ASSERT_GT(server[i], 0) << i;
        auto syn_ack = pkt(xdp_lab::backend4(server[i]), 8080, nat_client, port(i), tcp_syn | tcp_ack);
        syn_ack.src = xdp_lab::backend_mac(server[i]);
        ASSERT_EQ(run(syn_ack).action, XDP_TX) << "the SYN-ACK of an embryonic NAT flow, " << i;
        ASSERT_EQ(backend_of(run(pkt(nat_client, port(i), vip, 80, tcp_ack))), server[i]) << i;
    }
    EXPECT_EQ(flow_entries(), size_t{n});

    syn_flood(vip, 80);

    int kept = 0, replied = 0;
    for (int i = 0; i < n; ++i) {
        kept += backend_of(run(pkt(nat_client, port(i), vip, 80, tcp_ack | tcp_psh))) == server[i];
        replied += reply(i);
    }
    EXPECT_EQ(kept, n) << "every established NAT flow reaches its server";
    EXPECT_EQ(replied, n) << "and every server's reply still finds its flow";
}

TEST_F(flood, an_embryonic_flow_completes_its_handshake_and_a_udp_flow_its_second_datagram) {
    auto vip = ip("10.1.0.192");
    service_key tk{protocol::tcp, {vip, 80}}, uk{protocol::udp, {vip, 53}};
    for (const auto& key : {tk, uk}) {
        ASSERT_TRUE(dp().add_service({key, scheduler::rr}));
        ASSERT_TRUE(dp().add_dest(key, {{xdp_lab::backend4(1), key.vip.port}, forwarding::dr, 1, 0, 0}));
    }
    auto c = client(1);
    EXPECT_EQ(backend_of(run(pkt(c, 32000, vip, 80, tcp_syn))), 1);
    EXPECT_EQ(backend_of(run(pkt(c, 32000, vip, 80, tcp_syn))), 1) << "a retransmitted SYN finds the embryonic flow";
    EXPECT_EQ(flow_entries(), 0u) << "no handshake yet";
    EXPECT_EQ(backend_of(run(pkt(c, 32000, vip, 80, tcp_rst))), 1) << "an RST does not complete it";
    EXPECT_EQ(flow_entries(), 0u);
    EXPECT_EQ(backend_of(run(pkt(c, 32001, vip, 80, tcp_syn))), 1);
    EXPECT_EQ(backend_of(run(pkt(c, 32001, vip, 80, tcp_ack))), 1);
    EXPECT_EQ(flow_entries(), 1u) << "the client's ACK completes it";

    auto u = pkt(c, 5300, vip, 53, 0);
    u.proto = 17;
    EXPECT_EQ(backend_of(run(u)), 1);
    EXPECT_EQ(flow_entries(), 1u) << "one datagram: embryonic";
    EXPECT_EQ(backend_of(run(u)), 1);
    EXPECT_EQ(flow_entries(), 2u) << "the second datagram: established";

    // -L -c lists both tables, each flow once, with IPVS's states.
    auto conns = dp().list_conns();
    ASSERT_TRUE(conns);
    int syn_recv = 0, est = 0, udp = 0;
    for (const auto& cs : *conns) {
        if (cs.proto == protocol::udp) {
            ++udp;
        } else if (cs.state == XLB_TCP_S_SYN_RECV) {
            ++syn_recv;
        } else if (cs.state == XLB_TCP_S_ESTABLISHED) {
            ++est;
        }
    }
    EXPECT_EQ(conns->size(), 3u);
    // INPUT-ONLY: an RST leaves SYN_RECV as it is (ip_vs_proto_tcp.c).
    EXPECT_EQ(syn_recv, 1) << "the RST's flow, still embryonic";
    EXPECT_EQ(est, 1);
    EXPECT_EQ(udp, 1);
}

// A pure SYN's insert into embryos is exclusive; a retransmitted SYN finds
// its embryo there and is not scheduled again: ip_vs_in() finds the
// connection and never calls the scheduler, so rr's cursor does not move
// and the dest counts one connection, not two.
TEST_F(flood, a_retransmitted_syn_is_neither_scheduled_nor_counted_again) {
    auto vip = ip("10.1.0.193");
    service_key k{protocol::tcp, {vip, 80}};
    ASSERT_TRUE(dp().add_service({k, scheduler::rr}));
    for (int i = 1; i <= 3; ++i) {
        ASSERT_TRUE(dp().add_dest(k, {{xdp_lab::backend4(i), 80}, forwarding::dr, 1, 0, 0}));
    }
    auto c = client(2);
    int first = backend_of(run(pkt(c, 33000, vip, 80, tcp_syn)));
    ASSERT_GT(first, 0);
    for (int again = 0; again < 3; ++again) {
        EXPECT_EQ(backend_of(run(pkt(c, 33000, vip, 80, tcp_syn))), first) << "retransmission " << again;
    }
    // rr over three dests: the next two new flows go to the two others.
    std::set<int> seen{first};
    seen.insert(backend_of(run(pkt(c, 33001, vip, 80, tcp_syn))));
    seen.insert(backend_of(run(pkt(c, 33002, vip, 80, tcp_syn))));
    EXPECT_EQ(seen, (std::set<int>{1, 2, 3})) << "the retransmissions did not move rr's cursor";

    auto services = dp().list();
    ASSERT_TRUE(services);
    uint64_t total_conns = 0;
    for (const auto& s : *services) {
        if (s.config.key == k) {
            total_conns = s.stats.conns;
            ASSERT_EQ(s.dests.size(), 3u);
            for (const auto& d : s.dests) {
                // SYN_RECV is in tcp_state_active_table: ActiveConn.
                EXPECT_EQ(d.active_conns + d.inactive_conns, 1u) << d.config.addr.to_string();
                EXPECT_EQ(d.stats.conns, 1u) << d.config.addr.to_string();
            }
        }
    }
    EXPECT_EQ(total_conns, 3u) << "three connections scheduled, the retransmitted one once";
}

// Another CPU may stamp a flow's last_seen a jiffy later than the clock
// this CPU read: that flow is live, not expired by an unsigned wrap. Before
// jiffies_since(), the sweeper deleted such flows and a packet racing one
// found no flow (integration_rate's stray packets, 7 of 56,000). Here the
// stamp is put 1,000 s ahead, so every reader's clock is behind it.
TEST_F(flood, a_flow_stamped_after_the_readers_clock_is_live) {
    auto vip = ip("10.1.0.194");
    service_key k{protocol::tcp, {vip, 80}};
    ASSERT_TRUE(dp().add_service({k, scheduler::rr}));
    ASSERT_TRUE(dp().add_dest(k, {{xdp_lab::backend4(2), 80}, forwarding::dr, 1, 0, 0}));
    auto c = client(3);
    ASSERT_EQ(backend_of(run(pkt(c, 34000, vip, 80, tcp_syn))), 2);
    ASSERT_EQ(backend_of(run(pkt(c, 34000, vip, 80, tcp_ack))), 2);
    ASSERT_EQ(flow_entries(), 1u);

    struct xlb_flow_key key {};
    ASSERT_EQ(bpf_map_get_next_key(_flows.get(), nullptr, &key), 0);
    struct xlb_flow f {};
    ASSERT_EQ(bpf_map_lookup_elem(_flows.get(), &key, &f), 0);
    auto report = dp().report();
    ASSERT_TRUE(report);
    f.last_seen += 1000000; // jiffies: 1,000 s ahead at HZ 1000, more at a lower HZ
    ASSERT_EQ(bpf_map_update_elem(_flows.get(), &key, &f, BPF_EXIST), 0);

    EXPECT_EQ(backend_of(run(pkt(c, 34000, vip, 80, tcp_ack | tcp_psh))), 2)
        << "the packet finds its flow";
    // The sweeper runs every second; two runs have passed over the flow.
    auto sweeps = report->sweeps;
    for (int i = 0; i < 50 && dp().report()->sweeps < sweeps + 2; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    ASSERT_GE(dp().report()->sweeps, sweeps + 2) << "the sweeper did not run";
    EXPECT_EQ(flow_entries(), 1u) << "the sweeper kept the flow";
    EXPECT_EQ(backend_of(run(pkt(c, 34000, vip, 80, tcp_ack))), 2);
}

} // namespace
