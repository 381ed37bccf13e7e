// Packets through the real XDP program with bpf_prog_test_run_opts(), in a
// private network namespace where bpf_fib_lookup() finds real routes and
// neighbours. Each case states the verdict, the reason it is counted under,
// and the bytes that must come out.

#include "support/netns.h"
#include "support/packet.h"
#include "support/priv.h"
#include "support/xdp_lab.h"

#include <xlb/dataplane/xdp_dataplane.h>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <thread>

using namespace xlb;
using namespace xlb::test;

namespace {

// Pinned to CPU 0: scheduler sequences come from one per-CPU cursor.
[[maybe_unused]] auto* const g_env = ::testing::AddGlobalTestEnvironment(new lab_environment(true));

ip_address v4(const char* s) { return *ip_address::parse(s); }
endpoint ep(const char* s) { return *endpoint::parse(s); }

service_key tcp(const char* vip) { return {protocol::tcp, ep(vip)}; }
service_key udp(const char* vip) { return {protocol::udp, ep(vip)}; }

dest_config dr(const ip_address& a, uint16_t port, int w = 1) { return {{a, port}, forwarding::dr, w, 0, 0}; }

const mac client_mac{0x02, 0, 0, 0, 0, 0xc1};

packet_spec syn4(const char* vip, uint16_t vport, uint16_t sport, uint8_t flags = tcp_syn) {
    packet_spec p;
    p.dst = parse_mac(xdp_lab::dir_mac);
    p.src = client_mac;
    p.saddr = v4("10.1.0.200");
    p.daddr = v4(vip);
    p.sport = sport;
    p.dport = vport;
    p.tcp_flags = flags;
    return p;
}

class datapath : public ::testing::Test {
protected:
    void SetUp() override {
        XLB_REQUIRE_PRIVILEGE();
        _xlb.emplace();
        _ifindex = ifindex(xdp_lab::dir_if);
        ASSERT_GT(_ifindex, 0);
    }

    xdp_dataplane& dp() { return _xlb->dp(); }

    run_result run(const std::vector<uint8_t>& frame) { return run_xdp(dp().prog_fd(), frame, _ifindex); }

    // Runs one frame, checks the action and that exactly one reason counter moved: `reason`.
    run_result expect(const std::vector<uint8_t>& frame, uint32_t action, xlb_reason reason,
                      const std::string& what) {
        auto before = dp().reasons().value();
        auto r = run(frame);
        EXPECT_EQ(r.rc, 0) << what;
        EXPECT_EQ(r.action, action) << what;
        auto after = dp().reasons().value();
        for (int i = 0; i < XLB_R_MAX; ++i) {
            EXPECT_EQ(after[i] - before[i], i == reason ? 1u : 0u)
                << what << ": counter " << reason_name(static_cast<xlb_reason>(i));
        }
        return r;
    }

    // The DR rewrite: only the MACs change.
    static std::vector<uint8_t> dr_rewrite(std::vector<uint8_t> in, const mac& dst) {
        auto src = parse_mac(xdp_lab::dir_mac);
        std::copy(dst.begin(), dst.end(), in.begin());
        std::copy(src.begin(), src.end(), in.begin() + 6);
        return in;
    }

    // Which backend (1..9) a forwarded frame went to, from its destination MAC.
    static int backend_of(const run_result& r) {
        if (r.action != XDP_TX || r.out.size() < 6) {
            return -1;
        }
        for (int i = 1; i <= 9; ++i) {
            auto m = xdp_lab::backend_mac(i);
            if (std::equal(m.begin(), m.end(), r.out.begin())) {
                return i;
            }
        }
        return 0;
    }

    void add_service(const service_key& k, scheduler s, const std::vector<std::pair<int, int>>& backends) {
        // IPVS takes an IPv6 service only with a prefix length (ipvsadm's default 128).
        ASSERT_TRUE(dp().add_service({k, s, 0, 0, k.vip.addr.is_v4() ? 0xffffffffu : 128u}));
        for (auto [i, w] : backends) {
            auto addr = k.vip.addr.is_v4() ? xdp_lab::backend4(i) : xdp_lab::backend6(i);
            ASSERT_TRUE(dp().add_dest(k, dr(addr, k.vip.port, w)));
        }
    }

    // Backends chosen for n new flows (distinct source ports from sport0).
    std::string sequence(const char* vip, uint16_t vport, int n, uint16_t sport0) {
        std::string s;
        for (int i = 0; i < n; ++i) {
            auto r = run(build(syn4(vip, vport, static_cast<uint16_t>(sport0 + i))));
            int b = backend_of(r);
            s += b > 0 ? static_cast<char>('A' + b - 1) : '?';
        }
        return s;
    }

    std::optional<loaded_xlb> _xlb;
    int _ifindex = 0;
};

// --- verdict tables ------------------------------------------------------------

struct pass_case {
    std::string name;
    std::vector<uint8_t> frame;
    xlb_reason reason;
};

TEST_F(datapath, traffic_not_for_a_vip_passes_byte_identical) {
    add_service(tcp("10.1.0.100:80"), scheduler::rr, {{1, 1}});

    auto other_port = build(syn4("10.1.0.100", 81, 1000));
    auto other_ip = build(syn4("10.1.0.99", 80, 1000));
    packet_spec arp = syn4("10.1.0.100", 80, 1000);
    arp.ethertype = 0x0806;
    packet_spec icmp = syn4("10.1.0.100", 80, 1000);
    icmp.proto = 1;
    icmp.payload = {8, 0, 0, 0, 0, 0, 0, 0};
    packet_spec v6 = syn4("10.1.0.100", 80, 1000);
    v6.saddr = v4("fd01::200");
    v6.daddr = v4("fd01::100");
    packet_spec frag_other = syn4("10.1.0.99", 80, 1000);
    frag_other.frag_off = 0x2000;
    packet_spec three_vlans = syn4("10.1.0.100", 80, 1000);
    three_vlans.vlans = {{0x88a8, 1}, {0x8100, 2}, {0x8100, 3}};
    packet_spec ack_no_flow = syn4("10.1.0.100", 80, 1001, tcp_ack);
    packet_spec syn_rst = syn4("10.1.0.100", 80, 1002, tcp_syn | tcp_rst);

    std::vector<pass_case> cases = {
        {"other port on the VIP", other_port, XLB_R_PASS_NO_SERVICE},
        {"other address", other_ip, XLB_R_PASS_NO_SERVICE},
        {"ARP", build(arp), XLB_R_PASS_NOT_IP},
        {"ICMP to the VIP", build(icmp), XLB_R_PASS_NOT_L4},
        {"IPv6 to no service", build(v6), XLB_R_PASS_NO_SERVICE},
        {"fragment to another address", build(frag_other), XLB_R_PASS_NO_SERVICE},
        {"three VLAN tags", build(three_vlans), XLB_R_PASS_NOT_IP},
        {"ACK without a flow (IPVS schedules on SYN)", build(ack_no_flow), XLB_R_PASS_TCP_NOT_SYN},
        {"SYN with RST", build(syn_rst), XLB_R_PASS_TCP_NOT_SYN},
    };
    for (const auto& c : cases) {
        auto r = expect(c.frame, XDP_PASS, c.reason, c.name);
        EXPECT_EQ(r.out, c.frame) << c.name << ": a passed packet must not be touched";
    }
}

TEST_F(datapath, malformed_headers) {
    add_service(tcp("10.1.0.100:80"), scheduler::rr, {{1, 1}});
    add_service(udp("10.1.0.100:53"), scheduler::rr, {{1, 1}});
    const size_t l3 = 14;

    auto base = build(syn4("10.1.0.100", 80, 2000));
    auto eth_only = std::vector<uint8_t>(base.begin(), base.begin() + 14);
    auto short_ip = std::vector<uint8_t>(base.begin(), base.begin() + 30);
    auto ihl4 = base;
    ihl4[l3] = 0x44;
    auto bad_version = base;
    bad_version[l3] = 0x55;
    auto long_totlen = base;
    long_totlen[l3 + 3] += 40; // tot_len beyond the frame
    auto cut_tcp = std::vector<uint8_t>(base.begin(), base.begin() + l3 + 20 + 10);
    cut_tcp[l3 + 3] = 30; // consistent IP length, 10 bytes of TCP
    auto cut_tcp_other = cut_tcp;
    cut_tcp_other[l3 + 19] = 99; // 10.1.0.99: not a VIP
    packet_spec doff4 = syn4("10.1.0.100", 80, 2001);
    doff4.tcp_doff = 4;
    auto doff15 = base;
    doff15[l3 + 20 + 12] = 0xf0; // options beyond the frame
    packet_spec u = syn4("10.1.0.100", 53, 2002);
    u.proto = 17;
    auto cut_udp = build(u);
    cut_udp.resize(l3 + 20 + 4);
    cut_udp[l3 + 3] = 24;
    packet_spec v6 = syn4("10.1.0.100", 80, 2003);
    v6.saddr = v4("fd01::200");
    v6.daddr = v4("fd01::100");
    auto v6_short = build(v6);
    v6_short.resize(14 + 30);

    std::vector<pass_case> cases = {
        {"Ethernet header only", eth_only, XLB_R_PASS_MALFORMED},
        {"truncated IPv4 header", short_ip, XLB_R_PASS_MALFORMED},
        {"IHL 4", ihl4, XLB_R_PASS_MALFORMED},
        {"IP version 5", bad_version, XLB_R_PASS_MALFORMED},
        {"total length beyond the frame", long_totlen, XLB_R_PASS_MALFORMED},
        {"truncated IPv6 header", v6_short, XLB_R_PASS_MALFORMED},
        {"truncated TCP header, not a VIP", cut_tcp_other, XLB_R_PASS_MALFORMED},
    };
    for (const auto& c : cases) {
        auto r = expect(c.frame, XDP_PASS, c.reason, c.name);
        EXPECT_EQ(r.out, c.frame) << c.name;
    }
    std::vector<pass_case> drops = {
        {"truncated TCP header to a VIP", cut_tcp, XLB_R_DROP_MALFORMED},
        {"TCP data offset 4", build(doff4), XLB_R_DROP_MALFORMED},
        {"TCP options beyond the frame", doff15, XLB_R_DROP_MALFORMED},
        {"truncated UDP header to a VIP", cut_udp, XLB_R_DROP_MALFORMED},
    };
    for (const auto& c : drops) {
        expect(c.frame, XDP_DROP, c.reason, c.name);
    }
}

// Headers are bounded by the IP packet's own length, never by the frame:
// each class an independent strict parser found forwarded before, as its
// own case. To a VIP: dropped as malformed; to another address: passed
// untouched, for the kernel to judge.
namespace {

// Sets an IPv4 frame's total length and recomputes its header checksum.
void set_tot_len(std::vector<uint8_t>& f, size_t l3, uint16_t len) {
    f[l3 + 2] = static_cast<uint8_t>(len >> 8);
    f[l3 + 3] = static_cast<uint8_t>(len);
    f[l3 + 10] = f[l3 + 11] = 0;
    uint16_t c = inet_csum(f.data() + l3, (f[l3] & 0x0f) * 4u);
    f[l3 + 10] = static_cast<uint8_t>(c >> 8);
    f[l3 + 11] = static_cast<uint8_t>(c);
}

void put16(std::vector<uint8_t>& f, size_t at, uint16_t v) {
    f[at] = static_cast<uint8_t>(v >> 8);
    f[at + 1] = static_cast<uint8_t>(v);
}

} // namespace

TEST_F(datapath, lengths_bound_every_header_by_the_ip_packet) {
    add_service(tcp("10.1.0.100:80"), scheduler::rr, {{1, 1}});
    add_service(udp("10.1.0.100:53"), scheduler::rr, {{1, 1}});
    add_service(tcp("[fd01::100]:80"), scheduler::rr, {{1, 1}});
    const size_t l3 = 14;
    const size_t l4 = l3 + 20;

    packet_spec u = syn4("10.1.0.100", 53, 5000);
    u.proto = 17;
    u.payload.assign(12, 0x41);
    packet_spec v6 = syn4("10.1.0.100", 80, 5001);
    v6.saddr = v4("fd01::200");
    v6.daddr = v4("fd01::100");

    std::vector<pass_case> drops;
    // A TCP or UDP header that sits in Ethernet padding: total length 20.
    auto tcp_pad = build(syn4("10.1.0.100", 80, 5002));
    set_tot_len(tcp_pad, l3, 20);
    drops.push_back({"TCP header in Ethernet padding (total length 20)", tcp_pad, XLB_R_DROP_MALFORMED});
    auto udp_pad = build(u);
    set_tot_len(udp_pad, l3, 20);
    drops.push_back({"UDP header in Ethernet padding (total length 20)", udp_pad, XLB_R_DROP_MALFORMED});
    // Half a TCP header inside the packet, the rest in padding.
    auto tcp_half = build(syn4("10.1.0.100", 80, 5003));
    set_tot_len(tcp_half, l3, 30);
    drops.push_back({"TCP header ending in padding", tcp_half, XLB_R_DROP_MALFORMED});
    // An IPv6 payload length shorter than the TCP header.
    auto v6_short = build(v6);
    put16(v6_short, l3 + 4, 10);
    drops.push_back({"IPv6 payload length 10 under a 20-byte TCP header", v6_short, XLB_R_DROP_MALFORMED});
    // An IPv6 extension header whose end lies past the payload length.
    packet_spec v6_ext = v6;
    v6_ext.sport = 5004;
    v6_ext.ext = {{0, std::vector<uint8_t>(7, 0)}}; // hop-by-hop: length 0 (8 bytes), padding only
    auto v6_ext_tcp = build(v6_ext);
    put16(v6_ext_tcp, l3 + 4, 8 + 12);
    drops.push_back({"IPv6 TCP header past the payload length, after an extension header", v6_ext_tcp,
                     XLB_R_DROP_MALFORMED});
    // A TCP data offset that runs past the IP length, though not past the frame.
    packet_spec opt = syn4("10.1.0.100", 80, 5005);
    opt.payload.assign(16, 0);
    auto doff_long = build(opt);
    doff_long[l4 + 12] = 0x90; // 36 bytes of header
    set_tot_len(doff_long, l3, 20 + 20 + 8);
    drops.push_back({"TCP data offset past the IP length", doff_long, XLB_R_DROP_MALFORMED});
    // UDP lengths under the header or over the IP payload (8 + 12 here).
    for (uint16_t len : {0, 1, 7, 21, 100, 65535}) {
        auto f = build(u);
        put16(f, l4 + 4, len);
        drops.push_back({fmt::format("UDP length {}", len), f, XLB_R_DROP_MALFORMED});
    }
    for (const auto& c : drops) {
        auto r = expect(c.frame, XDP_DROP, c.reason, c.name);
        EXPECT_FALSE(HasFailure()) << c.name;
    }
    // An extension header that ends past the payload length is a bad IPv6
    // packet, as a bad IPv4 header is: the kernel's to drop and count.
    auto v6_ext_short = build(v6_ext);
    put16(v6_ext_short, l3 + 4, 4);
    auto rx = expect(v6_ext_short, XDP_PASS, XLB_R_PASS_MALFORMED, "IPv6 hop-by-hop header past the payload length");
    EXPECT_EQ(rx.out, v6_ext_short);
    // The rest to an address that is not a VIP: passed untouched.
    for (auto c : drops) {
        auto& f = c.frame;
        if ((f[l3] >> 4) == 4) {
            f[l3 + 19] = 99; // 10.1.0.99
            set_tot_len(f, l3, static_cast<uint16_t>(f[l3 + 2] << 8 | f[l3 + 3]));
        } else {
            f[l3 + 24 + 15] = 0x99; // fd01::199
        }
        auto r = expect(f, XDP_PASS, XLB_R_PASS_MALFORMED, c.name + ", not to a VIP");
        EXPECT_EQ(r.out, f) << c.name;
    }
    // Well-formed edges are forwarded: UDP length exactly the payload, and
    // shorter than it (trailing bytes, as Linux trims them); a frame with
    // Ethernet padding after a whole packet; TCP options that end exactly
    // at the IP length.
    for (uint16_t len : {8 + 12, 8, 8 + 5}) {
        auto f = build(u);
        put16(f, l4 + 4, len);
        f[l4 + 1] ^= static_cast<uint8_t>(len); // a flow of its own each time
        auto r = expect(f, XDP_TX, XLB_R_TX, fmt::format("UDP length {}", len));
        EXPECT_EQ(r.out, dr_rewrite(f, xdp_lab::backend_mac(1)));
    }
    auto padded = build(syn4("10.1.0.100", 80, 5006));
    padded.resize(padded.size() + 6, 0);
    auto rp = expect(padded, XDP_TX, XLB_R_TX, "a SYN with Ethernet padding");
    EXPECT_EQ(rp.out, dr_rewrite(padded, xdp_lab::backend_mac(1)));
    auto doff_fit = build(opt);
    doff_fit[l4 + 12] = 0x90;
    doff_fit[l4 + 1] = 7;
    set_tot_len(doff_fit, l3, 20 + 36);
    auto rf = expect(doff_fit, XDP_TX, XLB_R_TX, "TCP options that end at the IP length");
    EXPECT_EQ(rf.out, dr_rewrite(doff_fit, xdp_lab::backend_mac(1)));
}

TEST_F(datapath, fragments_and_options_go_to_the_kernel_or_are_dropped_by_config) {
    add_service(tcp("10.1.0.100:80"), scheduler::rr, {{1, 1}});
    packet_spec mf = syn4("10.1.0.100", 80, 3000);
    mf.frag_off = 0x2000; // MF, offset 0: the first fragment
    packet_spec later = syn4("10.1.0.100", 80, 3001);
    later.frag_off = 0x0010;
    packet_spec opts = syn4("10.1.0.100", 80, 3002);
    opts.ip_options = {0x01, 0x01, 0x01, 0x00}; // NOP NOP NOP EOL
    packet_spec df = syn4("10.1.0.100", 80, 3003);
    df.frag_off = 0x4000; // DF alone is not a fragment

    for (auto* p : {&mf, &later}) {
        auto f = build(*p);
        auto r = expect(f, XDP_PASS, XLB_R_PASS_FRAGMENT, "fragment");
        EXPECT_EQ(r.out, f);
    }
    auto fo = build(opts);
    EXPECT_EQ(expect(fo, XDP_PASS, XLB_R_PASS_IP_OPTIONS, "options").out, fo);
    auto fdf = build(df);
    EXPECT_EQ(expect(fdf, XDP_TX, XLB_R_TX, "DF").out, dr_rewrite(fdf, xdp_lab::backend_mac(1)));

    auto cfg = dp().config().value();
    cfg.flags |= XLB_CFG_F_DROP_FRAGS;
    ASSERT_TRUE(dp().set_config(cfg));
    expect(build(mf), XDP_DROP, XLB_R_DROP_FRAGMENT, "fragment, drop configured");
    expect(build(opts), XDP_DROP, XLB_R_DROP_FRAGMENT, "options, drop configured");
}

TEST_F(datapath, dr_rewrites_only_the_macs_ipv4_vlan_and_ipv6) {
    add_service(tcp("10.1.0.100:80"), scheduler::rr, {{1, 1}});
    add_service(tcp("[fd01::100]:443"), scheduler::rr, {{2, 1}});
    add_service(udp("10.1.0.100:53"), scheduler::rr, {{3, 1}});

    auto plain = build(syn4("10.1.0.100", 80, 4000));
    EXPECT_EQ(expect(plain, XDP_TX, XLB_R_TX, "IPv4 SYN").out, dr_rewrite(plain, xdp_lab::backend_mac(1)));

    packet_spec vlan = syn4("10.1.0.100", 80, 4001);
    vlan.vlans = {{0x8100, 100}};
    auto fv = build(vlan);
    EXPECT_EQ(expect(fv, XDP_TX, XLB_R_TX, "one VLAN tag").out, dr_rewrite(fv, xdp_lab::backend_mac(1)));

    packet_spec qinq = syn4("10.1.0.100", 80, 4002);
    qinq.vlans = {{0x88a8, 10}, {0x8100, 20}};
    auto fq = build(qinq);
    EXPECT_EQ(expect(fq, XDP_TX, XLB_R_TX, "QinQ").out, dr_rewrite(fq, xdp_lab::backend_mac(1)));

    packet_spec u = syn4("10.1.0.100", 53, 4003);
    u.proto = 17;
    u.payload = {1, 2, 3, 4};
    auto fu = build(u);
    EXPECT_EQ(expect(fu, XDP_TX, XLB_R_TX, "UDP").out, dr_rewrite(fu, xdp_lab::backend_mac(3)));

    packet_spec v6 = syn4("10.1.0.100", 443, 4004);
    v6.saddr = v4("fd01::200");
    v6.daddr = v4("fd01::100");
    auto f6 = build(v6);
    EXPECT_EQ(expect(f6, XDP_TX, XLB_R_TX, "IPv6 SYN").out, dr_rewrite(f6, xdp_lab::backend_mac(2)));

    // Hop-by-hop and destination options (PadN) before TCP.
    packet_spec ext = v6;
    ext.sport = 4005;
    ext.ext = {{0, {0, 1, 4, 0, 0, 0, 0}}, {60, {0, 1, 4, 0, 0, 0, 0}}};
    auto fe = build(ext);
    EXPECT_EQ(expect(fe, XDP_TX, XLB_R_TX, "IPv6 with extension headers").out,
              dr_rewrite(fe, xdp_lab::backend_mac(2)));

    // An atomic fragment (offset 0, M clear) is a whole packet.
    packet_spec atomic = v6;
    atomic.sport = 4006;
    atomic.ext = {{44, {0, 0, 0, 0, 0, 0, 1}}};
    auto fa = build(atomic);
    EXPECT_EQ(expect(fa, XDP_TX, XLB_R_TX, "IPv6 atomic fragment").out, dr_rewrite(fa, xdp_lab::backend_mac(2)));

    packet_spec frag6 = v6;
    frag6.sport = 4007;
    frag6.ext = {{44, {0, 0, 0x01, 0, 0, 0, 1}}}; // M set
    auto ff = build(frag6);
    EXPECT_EQ(expect(ff, XDP_PASS, XLB_R_PASS_FRAGMENT, "IPv6 fragment").out, ff);

    // More extension headers than the walk's bound: not ours to balance.
    packet_spec deep = v6;
    deep.sport = 4008;
    for (int i = 0; i < 7; ++i) {
        deep.ext.push_back({60, {0, 1, 4, 0, 0, 0, 0}});
    }
    auto fd = build(deep);
    EXPECT_EQ(expect(fd, XDP_PASS, XLB_R_PASS_NOT_L4, "too many extension headers").out, fd);
}

TEST_F(datapath, port_zero_service_takes_any_port) {
    add_service(tcp("10.1.0.101:0"), scheduler::rr, {{4, 1}});
    add_service(tcp("10.1.0.101:22"), scheduler::rr, {{5, 1}});
    EXPECT_EQ(backend_of(run(build(syn4("10.1.0.101", 8080, 5000)))), 4);
    EXPECT_EQ(backend_of(run(build(syn4("10.1.0.101", 22, 5001)))), 5) << "the exact port wins";
}

// --- schedulers --------------------------------------------------------------------

TEST_F(datapath, rr_follows_the_ipvs_list_newest_first) {
    // Added A, B, C: IPVS's list is C, B, A and rr walks it from the head.
    add_service(tcp("10.1.0.110:80"), scheduler::rr, {{1, 1}, {2, 1}, {3, 1}});
    EXPECT_EQ(sequence("10.1.0.110", 80, 9, 6000), "CBACBACBA");
}

TEST_F(datapath, wrr_4_3_2_exact_sequence) {
    // List order A, B, C (IPVS lists newest first, so add C, then B, then A).
    // ip_vs_wrr_dest_changed() on each add: C alone gives gcd 2, mw 1, and
    // cw 1 stays through B and A. So the first pass takes every dest, then
    // the period A A B A B C A B C. Kernel IPVS gave the first twelve.
    add_service(tcp("10.1.0.111:80"), scheduler::wrr, {{3, 2}, {2, 3}, {1, 4}});
    EXPECT_EQ(sequence("10.1.0.111", 80, 18, 7000), "ABCAABABCABCAABABC");

    // Added A, B, C: the list is C, B, A. A alone gives gcd 4, mw 1: the
    // same first pass at cw 1, then cw 4, 3, 2, 1 over C, B, A.
    add_service(tcp("10.1.0.112:80"), scheduler::wrr, {{1, 4}, {2, 3}, {3, 2}});
    EXPECT_EQ(sequence("10.1.0.112", 80, 9, 7100), "CBAABACBA");
}

TEST_F(datapath, flows_stay_on_their_dest) {
    add_service(tcp("10.1.0.113:80"), scheduler::rr, {{1, 1}, {2, 1}, {3, 1}});
    std::map<uint16_t, int> first;
    for (uint16_t sp = 8000; sp < 8012; ++sp) {
        first[sp] = backend_of(run(build(syn4("10.1.0.113", 80, sp))));
    }
    // Adding a dest and changing weights never moves a live flow.
    ASSERT_TRUE(dp().add_dest(tcp("10.1.0.113:80"), dr(xdp_lab::backend4(4), 80, 5)));
    ASSERT_TRUE(dp().edit_dest(tcp("10.1.0.113:80"), dr(xdp_lab::backend4(1), 80, 7)));
    for (uint16_t sp = 8000; sp < 8012; ++sp) {
        EXPECT_EQ(backend_of(run(build(syn4("10.1.0.113", 80, sp, tcp_ack)))), first[sp]) << sp;
    }
}

TEST_F(datapath, weight_zero_drains_without_breaking_flows) {
    auto k = tcp("10.1.0.114:80");
    add_service(k, scheduler::rr, {{1, 1}, {2, 1}});
    int b = backend_of(run(build(syn4("10.1.0.114", 80, 9000))));
    ASSERT_GT(b, 0);
    ASSERT_TRUE(dp().edit_dest(k, dr(xdp_lab::backend4(b), 80, 0)));
    for (int i = 0; i < 3; ++i) {
        EXPECT_EQ(backend_of(run(build(syn4("10.1.0.114", 80, 9000, tcp_ack)))), b) << "existing flow drains";
    }
    int other = b == 1 ? 2 : 1;
    for (uint16_t sp = 9001; sp < 9009; ++sp) {
        EXPECT_EQ(backend_of(run(build(syn4("10.1.0.114", 80, sp)))), other) << "new flows avoid weight 0";
    }
    // All weights 0: no dest takes new flows.
    ASSERT_TRUE(dp().edit_dest(k, dr(xdp_lab::backend4(other), 80, 0)));
    expect(build(syn4("10.1.0.114", 80, 9100)), XDP_DROP, XLB_R_DROP_NO_DEST, "all weights 0");
    EXPECT_EQ(backend_of(run(build(syn4("10.1.0.114", 80, 9000, tcp_ack)))), b);
}

TEST_F(datapath, deleted_dest_flows_are_rescheduled) {
    auto k = tcp("10.1.0.115:80");
    add_service(k, scheduler::rr, {{1, 1}, {2, 1}});
    int b = backend_of(run(build(syn4("10.1.0.115", 80, 9500))));
    ASSERT_GT(b, 0);
    ASSERT_TRUE(dp().del_dest(k, {xdp_lab::backend4(b), 80}));
    int other = b == 1 ? 2 : 1;
    // The next packet of the flow, even without SYN, goes to a live dest.
    EXPECT_EQ(backend_of(run(build(syn4("10.1.0.115", 80, 9500, tcp_ack)))), other);
    EXPECT_EQ(backend_of(run(build(syn4("10.1.0.115", 80, 9500, tcp_ack)))), other) << "and stays there";
}

TEST_F(datapath, a_reused_dest_slot_does_not_inherit_old_flows) {
    auto a = tcp("10.1.0.116:80");
    auto b = tcp("10.1.0.117:80");
    add_service(a, scheduler::rr, {{1, 1}});
    add_service(b, scheduler::rr, {});
    EXPECT_EQ(backend_of(run(build(syn4("10.1.0.116", 80, 9600)))), 1);
    ASSERT_TRUE(dp().del_dest(a, {xdp_lab::backend4(1), 80}));
    // The freed slot goes to a dest of another service, with a new generation.
    ASSERT_TRUE(dp().add_dest(b, dr(xdp_lab::backend4(2), 80)));
    expect(build(syn4("10.1.0.116", 80, 9600, tcp_ack)), XDP_DROP, XLB_R_DROP_NO_DEST,
           "old flow must not follow the slot to another service's dest");
}

TEST_F(datapath, service_without_dests_drops) {
    add_service(tcp("10.1.0.102:80"), scheduler::wrr, {});
    expect(build(syn4("10.1.0.102", 80, 9700)), XDP_DROP, XLB_R_DROP_NO_DEST, "no dests");
}

// --- forwarding outcomes -------------------------------------------------------------

TEST_F(datapath, unresolved_neighbour_is_dropped_and_resolution_requested) {
    auto k = tcp("10.1.0.103:80");
    ASSERT_TRUE(dp().add_service({k, scheduler::rr}));
    ASSERT_TRUE(dp().add_dest(k, dr(v4("10.1.0.50"), 80)));
    sh("ip neigh del 10.1.0.50 dev xa 2>/dev/null");
    expect(build(syn4("10.1.0.103", 80, 9800)), XDP_DROP, XLB_R_DROP_NO_NEIGH, "no neighbour");
    auto handled = dp().resolve_pending_neighbours(std::chrono::milliseconds(500));
    ASSERT_TRUE(handled) << handled.error().message();
    EXPECT_GE(*handled, 1u);
    auto neigh = sh_out("ip neigh show 10.1.0.50 dev xa");
    EXPECT_NE(neigh.find("10.1.0.50"), std::string::npos) << "the kernel was asked to resolve it: " << neigh;
}

TEST_F(datapath, other_egress_needs_a_tx_port_then_redirects) {
    auto k = tcp("10.1.0.104:80");
    ASSERT_TRUE(dp().add_service({k, scheduler::rr}));
    ASSERT_TRUE(dp().add_dest(k, dr(v4("10.2.0.11"), 80)));
    expect(build(syn4("10.1.0.104", 80, 9900)), XDP_DROP, XLB_R_DROP_NO_TX_PORT, "egress not attached");
    ASSERT_TRUE(dp().attach(xdp_lab::other_if, xdp_mode::native));
    auto f = build(syn4("10.1.0.104", 80, 9901));
    auto r = expect(f, XDP_REDIRECT, XLB_R_REDIRECT, "egress attached");
    auto want = f;
    auto dmac = parse_mac("02:00:00:00:02:01");
    auto smac = parse_mac(xdp_lab::other_mac);
    std::copy(dmac.begin(), dmac.end(), want.begin());
    std::copy(smac.begin(), smac.end(), want.begin() + 6);
    EXPECT_EQ(r.out, want);
    ASSERT_TRUE(dp().detach(xdp_lab::other_if));
}

TEST_F(datapath, fib_answers_are_reused_for_at_most_fib_cache_ms) {
    add_service(tcp("10.1.0.105:80"), scheduler::rr, {{6, 1}});
    auto cfg = dp().config().value();
    EXPECT_EQ(cfg.fib_cache_ms, static_cast<uint32_t>(XLB_DEFAULT_FIB_CACHE_MS));
    cfg.fib_cache_ms = 50;
    ASSERT_TRUE(dp().set_config(cfg));
    auto ack = build(syn4("10.1.0.105", 80, 9960, tcp_ack));
    ASSERT_EQ(backend_of(run(build(syn4("10.1.0.105", 80, 9960)))), 6);

    // The neighbour moves to a new MAC.
    ASSERT_EQ(sh("ip neigh replace 10.1.0.16 lladdr 02:00:00:00:01:66 dev xa nud permanent"), 0);
    auto moved = parse_mac("02:00:00:00:01:66");
    std::this_thread::sleep_for(std::chrono::milliseconds(120));
    auto r = run(ack);
    ASSERT_EQ(r.action, XDP_TX);
    EXPECT_TRUE(std::equal(moved.begin(), moved.end(), r.out.begin())) << "a cached answer lives at most fib_cache_ms";

    // fib_cache_ms 0: every packet asks the kernel.
    cfg.fib_cache_ms = 0;
    ASSERT_TRUE(dp().set_config(cfg));
    ASSERT_EQ(sh("ip neigh replace 10.1.0.16 lladdr 02:00:00:00:01:06 dev xa nud permanent"), 0);
    EXPECT_EQ(backend_of(run(ack)), 6);
}

TEST_F(datapath, a_dest_that_is_the_director_itself_is_local) {
    // The dest is an address of this host: the kernel delivers the packet.
    auto k = tcp("10.1.0.106:80");
    ASSERT_TRUE(dp().add_service({k, scheduler::rr}));
    ASSERT_TRUE(dp().add_dest(k, dr(v4("10.1.0.1"), 80)));
    auto f = build(syn4("10.1.0.106", 80, 9970));
    auto r = expect(f, XDP_PASS, XLB_R_PASS_LOCAL, "local dest");
    EXPECT_EQ(r.out, f) << "untouched";
}

TEST_F(datapath, forwarding_disabled_is_counted) {
    add_service(tcp("10.1.0.100:80"), scheduler::rr, {{1, 1}});
    sh("sysctl -qw net.ipv4.conf.xa.forwarding=0");
    expect(build(syn4("10.1.0.100", 80, 9950)), XDP_DROP, XLB_R_DROP_FWD_DISABLED, "forwarding off");
    sh("sysctl -qw net.ipv4.conf.xa.forwarding=1");
    // IPv6 too, by the ingress interface's own setting: what `xlbctl attach`
    // and `xlbctl status` read (net.ipv6.conf.all stays on here).
    add_service(tcp("[fd01::101]:80"), scheduler::rr, {{1, 1}});
    packet_spec v6 = syn4("10.1.0.100", 80, 9951);
    v6.saddr = v4("fd01::200");
    v6.daddr = v4("fd01::101");
    sh("sysctl -qw net.ipv6.conf.xa.forwarding=0");
    EXPECT_EQ(interface_forwarding(xdp_lab::dir_if, family::inet6), std::optional<bool>(false));
    expect(build(v6), XDP_DROP, XLB_R_DROP_FWD_DISABLED, "IPv6 forwarding off");
    sh("sysctl -qw net.ipv6.conf.xa.forwarding=1");
    EXPECT_EQ(interface_forwarding(xdp_lab::dir_if, family::inet6), std::optional<bool>(true));
    v6.sport++;
    expect(build(v6), XDP_TX, XLB_R_TX, "IPv6 forwarding on");
}

// --- conntrack and stats -------------------------------------------------------------

TEST_F(datapath, stats_and_connection_states) {
    auto k = tcp("10.1.0.120:80");
    add_service(k, scheduler::rr, {{1, 1}, {2, 1}});
    // Flow 1: SYN, ACK, ACK (active, established). Flow 2: SYN then FIN (inactive).
    auto s1 = build(syn4("10.1.0.120", 80, 10000));
    auto a1 = build(syn4("10.1.0.120", 80, 10000, tcp_ack));
    packet_spec d1 = syn4("10.1.0.120", 80, 10000, tcp_ack | tcp_psh);
    d1.payload = std::vector<uint8_t>(100, 'x');
    auto s2 = build(syn4("10.1.0.120", 80, 10001));
    auto f2 = build(syn4("10.1.0.120", 80, 10001, tcp_fin | tcp_ack));
    std::vector<std::vector<uint8_t>> frames = {s1, a1, build(d1), s2, f2};
    uint64_t bytes = 0;
    for (const auto& f : frames) {
        ASSERT_EQ(run(f).action, XDP_TX);
        bytes += f.size() - 14; // IPVS counts IP bytes
    }
    auto all = dp().list().value();
    ASSERT_EQ(all.size(), 1u);
    const auto& s = all[0];
    EXPECT_EQ(s.stats.conns, 2u);
    EXPECT_EQ(s.stats.inpkts, 5u);
    EXPECT_EQ(s.stats.inbytes, bytes);
    EXPECT_EQ(s.stats.outpkts, 0u) << "DR never sees replies";
    ASSERT_EQ(s.dests.size(), 2u);
    uint64_t dconns = 0, dpkts = 0, dbytes = 0;
    uint32_t active = 0, inactive = 0;
    for (const auto& d : s.dests) {
        dconns += d.stats.conns;
        dpkts += d.stats.inpkts;
        dbytes += d.stats.inbytes;
        active += d.active_conns;
        inactive += d.inactive_conns;
        EXPECT_EQ(d.stats.conns, 1u) << "rr spreads the two flows";
    }
    EXPECT_EQ(dconns, 2u);
    EXPECT_EQ(dpkts, 5u);
    EXPECT_EQ(dbytes, bytes);
    EXPECT_EQ(active, 1u) << "ESTABLISHED counts as active";
    EXPECT_EQ(inactive, 1u) << "FIN_WAIT counts as inactive";
}

// IPVS's conn_reuse_mode 1: a SYN on a 5-tuple whose connection is in CLOSE
// or TIME_WAIT ends that connection and is scheduled as a new one; in any
// other state it stays on its connection.
TEST_F(datapath, a_syn_reusing_a_closed_five_tuple_is_a_new_connection) {
    auto k = tcp("10.1.0.124:80");
    add_service(k, scheduler::rr, {{1, 1}, {2, 1}});
    auto first = backend_of(run(build(syn4("10.1.0.124", 80, 12000))));
    ASSERT_GT(first, 0);
    EXPECT_EQ(backend_of(run(build(syn4("10.1.0.124", 80, 12000, tcp_ack)))), first);
    // A SYN while ESTABLISHED (a retransmission, say) changes nothing.
    EXPECT_EQ(backend_of(run(build(syn4("10.1.0.124", 80, 12000)))), first);
    EXPECT_EQ(dp().list().value()[0].stats.conns, 1u);
    // RST: CLOSE. The next SYN is a new connection, on rr's next server.
    EXPECT_EQ(backend_of(run(build(syn4("10.1.0.124", 80, 12000, tcp_rst)))), first);
    auto second = backend_of(run(build(syn4("10.1.0.124", 80, 12000))));
    EXPECT_GT(second, 0);
    EXPECT_NE(second, first);
    auto all = dp().list().value();
    EXPECT_EQ(all[0].stats.conns, 2u);
    uint32_t active = 0, inactive = 0;
    for (const auto& d : all[0].dests) {
        active += d.active_conns;
        inactive += d.inactive_conns;
    }
    EXPECT_EQ(active + inactive, 1u) << "the closed connection is no longer counted";
    EXPECT_EQ(active, 1u) << "SYN_RECV counts as active (tcp_state_active_table)";
    // The new connection lives on: its ACK follows it.
    EXPECT_EQ(backend_of(run(build(syn4("10.1.0.124", 80, 12000, tcp_ack)))), second);
}

TEST_F(datapath, expired_flows_follow_the_set_timeouts) {
    add_service(tcp("10.1.0.121:80"), scheduler::rr, {{1, 1}});
    auto cfg = dp().config().value();
    EXPECT_EQ(cfg.tcp_timeout[XLB_TCP_S_ESTABLISHED], 900u);
    EXPECT_EQ(cfg.tcp_timeout[XLB_TCP_S_FIN_WAIT], 120u);
    EXPECT_EQ(cfg.udp_timeout, 300u);
    cfg.tcp_timeout[XLB_TCP_S_SYN_RECV] = 0;
    ASSERT_TRUE(dp().set_config(cfg));
    ASSERT_EQ(run(build(syn4("10.1.0.121", 80, 11000))).action, XDP_TX);
    EXPECT_EQ(dp().list().value()[0].dests[0].active_conns, 1u) << "SYN_RECV counts as active at once";
    cfg.sweep_ms = 50; // only now: a sweep before the check above would already drop it
    ASSERT_TRUE(dp().set_config(cfg));
    std::this_thread::sleep_for(std::chrono::milliseconds(30));
    expect(build(syn4("10.1.0.121", 80, 11000, tcp_ack)), XDP_PASS, XLB_R_PASS_TCP_NOT_SYN,
           "an expired flow is gone");
    // The sweeper drops it from the counts within one sweep interval.
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
    auto all = dp().list().value();
    EXPECT_EQ(all[0].dests[0].active_conns + all[0].dests[0].inactive_conns, 0u);
}

} // namespace
