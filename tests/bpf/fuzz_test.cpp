// The fuzz tier: seeded, reproducible packets through the real XDP program
// (bpf_prog_test_run_opts), judged by an independent strict parser
// (support/strict_parse.h). It fails on any XDP_ABORTED, any forwarded
// packet the parser calls malformed, any forwarded packet whose bytes are
// not the DR, NAT or TUN rewrite of what came in (NAT predicted here from RFC
// 1624's incremental checksum, not from bpf/nat.h; TUN's outer headers built
// here from RFC 791/8200/768 and draft-ietf-intarea-gue, not from
// bpf/tunnel.h), any passed packet that was touched,
// a malformed TCP/UDP packet to a VIP that was not dropped, and a whole new
// flow (a UDP datagram or a pure SYN) to a service that was not forwarded.
//
//   XLB_FUZZ_PACKETS  packets per run (default 1,000,000; nightly: 100000000)
//   XLB_FUZZ_SEED     the seed (default 9); a failure prints it and the packet

#include "support/netns.h"
#include "support/packet.h"
#include "support/priv.h"
#include "support/strict_parse.h"
#include "support/xdp_lab.h"

#include <xlb/dataplane/xdp_dataplane.h>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <array>
#include <cstring>
#include <cstdlib>
#include <map>
#include <random>

using namespace xlb;
using namespace xlb::test;

namespace {

[[maybe_unused]] auto* const g_env = ::testing::AddGlobalTestEnvironment(new lab_environment(false));

uint64_t env_u64(const char* name, uint64_t dflt) {
    const char* s = std::getenv(name);
    return s && *s ? std::strtoull(s, nullptr, 10) : dflt;
}

const std::array<uint8_t, 4> vip4{10, 1, 0, 100};
const std::array<uint8_t, 16> vip6{0xfd, 0x01, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, 0x00};

bool to_vip(const strict_packet& p) {
    if (p.family == 4) {
        return std::equal(vip4.begin(), vip4.end(), p.daddr.begin());
    }
    return p.family == 6 && p.daddr == vip6;
}

// Services on both VIPs: TCP :80 and UDP :53 to backend 1 (DR), TCP :8080
// and UDP :5353 to backend 2 port 9090 and 9053 (NAT), TCP :7000 and UDP
// :7053 to backend 3 (TUN: IPIP, and GUE to port 6080 without a checksum).
bool dr_service(const strict_packet& p) { return (p.proto == 6 && p.dport == 80) || (p.proto == 17 && p.dport == 53); }
bool nat_service(const strict_packet& p) {
    return (p.proto == 6 && p.dport == 8080) || (p.proto == 17 && p.dport == 5353);
}
bool tun_service(const strict_packet& p) {
    return (p.proto == 6 && p.dport == 7000) || (p.proto == 17 && p.dport == 7053);
}
bool to_service(const strict_packet& p) {
    return p.v == strict_packet::verdict::ok && to_vip(p) && (dr_service(p) || nat_service(p) || tun_service(p));
}
constexpr uint16_t gue_port = 6080;

// RFC 1624, eqn. 3: HC' = ~(~HC + ~m + m'), in one's complement over the
// 16-bit words that change from `from` to `to`.
uint16_t csum_update(uint16_t hc, const uint8_t* from, const uint8_t* to, size_t n) {
    uint32_t sum = static_cast<uint16_t>(~hc);
    for (size_t i = 0; i < n; i += 2) {
        uint16_t m = static_cast<uint16_t>(from[i] << 8 | from[i + 1]);
        uint16_t m2 = static_cast<uint16_t>(to[i] << 8 | to[i + 1]);
        sum += static_cast<uint16_t>(~m);
        sum += m2;
    }
    while (sum >> 16) {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    return static_cast<uint16_t>(~sum);
}

uint16_t get16(const std::vector<uint8_t>& f, size_t at) { return static_cast<uint16_t>(f[at] << 8 | f[at + 1]); }
void put16(std::vector<uint8_t>& f, size_t at, uint16_t v) {
    f[at] = static_cast<uint8_t>(v >> 8);
    f[at + 1] = static_cast<uint8_t>(v);
}

// What NAT makes of a packet to a NAT service: the destination becomes the
// dest's address and port, the IPv4 header checksum and the TCP or UDP
// checksum follow (a UDP/IPv4 checksum of 0 stays 0, and a UDP checksum
// that comes to 0 is sent as 0xffff, RFC 768).
std::vector<uint8_t> nat_rewrite(std::vector<uint8_t> f, const strict_packet& sp) {
    const bool v4 = sp.family == 4;
    const auto dest = v4 ? xdp_lab::backend4(2) : xdp_lab::backend6(2);
    const auto abi = dest.to_abi();
    uint8_t new_addr[16];
    std::memcpy(new_addr, &abi, 16);
    const size_t daddr_at = sp.l3 + (v4 ? 16 : 24), alen = v4 ? 4 : 16;
    const size_t check_at = sp.l4 + (sp.proto == 6 ? 16 : 6);
    uint8_t new_port[2] = {0, 0};
    const uint16_t port = sp.proto == 6 ? 9090 : 9053;
    new_port[0] = static_cast<uint8_t>(port >> 8);
    new_port[1] = static_cast<uint8_t>(port);
    if (v4) {
        put16(f, sp.l3 + 10, csum_update(get16(f, sp.l3 + 10), &f[daddr_at], new_addr, 4));
    }
    const bool udp_nocsum = v4 && sp.proto == 17 && get16(f, check_at) == 0;
    if (!udp_nocsum) {
        uint16_t c = csum_update(get16(f, check_at), &f[daddr_at], new_addr, alen);
        c = csum_update(c, &f[sp.l4 + 2], new_port, 2);
        if (sp.proto == 17 && c == 0) {
            c = 0xffff;
        }
        put16(f, check_at, c);
    }
    std::memcpy(&f[daddr_at], new_addr, alen);
    put16(f, sp.l4 + 2, port);
    return f;
}

// What TUN makes of a packet to a TUN service: the client's IP packet whole
// (and any Ethernet padding after it, which XDP does not cut) behind a new
// outer header of its own family, from the director's address (10.1.0.1,
// fd01::1 in the lab) to the dest: IPv4 with DF, TTL 64 and id 0, or IPv6
// with hop limit 64; protocol 4 or 41, or UDP to the GUE port with a 4-byte
// GUE header (version 0, the inner protocol) and no checksum. The GUE
// source port carries the flow's entropy: any port in 49152-65535, which
// the caller takes from the output and checks.
std::vector<uint8_t> tun_rewrite(const std::vector<uint8_t>& f, const strict_packet& sp) {
    const bool v4 = sp.family == 4, gue = sp.proto == 17;
    const auto src = *ip_address::parse(v4 ? "10.1.0.1" : "fd01::1");
    const auto dst = v4 ? xdp_lab::backend4(3) : xdp_lab::backend6(3);
    const uint8_t inner = v4 ? 4 : 41;
    const size_t olen = (v4 ? 20 : 40) + (gue ? 12 : 0);
    std::vector<uint8_t> o;
    auto push16 = [&](size_t v) {
        o.push_back(static_cast<uint8_t>(v >> 8));
        o.push_back(static_cast<uint8_t>(v));
    };
    if (v4) {
        o = {0x45, 0};
        push16(olen + sp.l3_len);
        push16(0);
        push16(0x4000);
        o.push_back(64);
        o.push_back(gue ? 17 : inner);
        push16(0);
        o.insert(o.end(), src.bytes().begin(), src.bytes().begin() + 4);
        o.insert(o.end(), dst.bytes().begin(), dst.bytes().begin() + 4);
        const uint16_t c = inet_csum(o.data(), o.size());
        o[10] = static_cast<uint8_t>(c >> 8);
        o[11] = static_cast<uint8_t>(c);
    } else {
        o = {0x60, 0, 0, 0};
        push16(olen - 40 + sp.l3_len);
        o.push_back(gue ? 17 : inner);
        o.push_back(64);
        o.insert(o.end(), src.bytes().begin(), src.bytes().end());
        o.insert(o.end(), dst.bytes().begin(), dst.bytes().end());
    }
    if (gue) {
        push16(0); // the source port: the caller's
        push16(gue_port);
        push16(12 + sp.l3_len);
        push16(0);
        o.insert(o.end(), {0, inner, 0, 0});
    }
    std::vector<uint8_t> want(f.begin(), f.begin() + static_cast<long>(sp.l3));
    want.insert(want.end(), o.begin(), o.end());
    want.insert(want.end(), f.begin() + static_cast<long>(sp.l3), f.end());
    return want;
}

std::string hex(const std::vector<uint8_t>& f) {
    std::string s;
    for (uint8_t b : f) {
        s += fmt::format("{:02x}", b);
    }
    return s;
}

class fuzz : public ::testing::Test {
protected:
    void SetUp() override {
        XLB_REQUIRE_PRIVILEGE();
        _xlb.emplace(load_options{64, 1024, 262144});
        _ifindex = ifindex(xdp_lab::dir_if);
        ASSERT_GT(_ifindex, 0);
        auto& dp = _xlb->dp();
        struct svc {
            protocol proto;
            int port, backend, dest_port;
            forwarding fwd;
            tun_type tun = tun_type::ipip;
        };
        const svc svcs[] = {{protocol::tcp, 80, 1, 80, forwarding::dr},
                            {protocol::udp, 53, 1, 53, forwarding::dr},
                            {protocol::tcp, 8080, 2, 9090, forwarding::nat},
                            {protocol::udp, 5353, 2, 9053, forwarding::nat},
                            {protocol::tcp, 7000, 3, 7000, forwarding::tun, tun_type::ipip},
                            {protocol::udp, 7053, 3, 7053, forwarding::tun, tun_type::gue}};
        for (const char* vip : {"10.1.0.100", "[fd01::100]"}) {
            const bool six = vip[0] == '[';
            for (const auto& sv : svcs) {
                service_key k{sv.proto, *endpoint::parse(fmt::format("{}:{}", vip, sv.port))};
                ASSERT_TRUE(dp.add_service({k, scheduler::rr, 0, 0, six ? 128u : 0xffffffffu}));
                auto b = six ? xdp_lab::backend6(sv.backend) : xdp_lab::backend4(sv.backend);
                const uint16_t tport = sv.tun == tun_type::gue ? gue_port : 0;
                auto r = dp.add_dest(k, {{b, static_cast<uint16_t>(sv.dest_port)}, sv.fwd, 1, 0, 0, sv.tun, tport, 0});
                ASSERT_TRUE(r) << r.error().message();
            }
        }
    }

    // A valid frame: IPv4 or IPv6, TCP or UDP, to a service or near one,
    // with VLAN tags, IPv6 extension headers, TCP options and a payload.
    std::vector<uint8_t> valid(std::mt19937_64& rng) {
        auto pick = [&](uint64_t n) { return rng() % n; };
        packet_spec p;
        p.dst = parse_mac(xdp_lab::dir_mac);
        p.src = parse_mac("02:00:00:00:00:c1");
        const bool six = pick(2);
        p.saddr = *ip_address::parse(six ? fmt::format("fd01::{:x}", 0x200 + pick(50))
                                         : fmt::format("10.1.0.{}", 150 + pick(50)));
        p.daddr = *ip_address::parse(six ? (pick(8) ? "fd01::100" : "fd01::99")
                                         : (pick(8) ? "10.1.0.100" : "10.1.0.99"));
        p.proto = pick(2) ? 6 : 17;
        p.sport = static_cast<uint16_t>(1024 + pick(2000));
        const uint16_t ports[2][3] = {{80, 8080, 7000}, {53, 5353, 7053}}; // DR, NAT, TUN
        const auto method = pick(3);
        p.dport = pick(8) ? ports[p.proto == 6 ? 0 : 1][method] : static_cast<uint16_t>(pick(65536));
        const uint8_t flags[] = {tcp_syn, tcp_syn, tcp_ack, tcp_ack | tcp_psh, tcp_fin | tcp_ack, tcp_rst};
        p.tcp_flags = flags[pick(6)];
        if (p.proto == 6 && pick(3) == 0) {
            p.tcp_doff = static_cast<uint8_t>(5 + pick(11));
        }
        for (uint64_t i = pick(4) == 0 ? 1 + pick(2) : 0; i > 0; --i) {
            p.vlans.push_back({pick(2) ? 0x8100 : 0x88a8, static_cast<uint16_t>(pick(4096))});
        }
        if (six && pick(4) == 0) {
            const uint8_t types[] = {0, 60, 43};
            for (uint64_t i = 1 + pick(2); i > 0; --i) {
                std::vector<uint8_t> body(7 + 8 * pick(2), 0);
                body[0] = static_cast<uint8_t>((body.size() + 1) / 8 - 1);
                p.ext.push_back({types[pick(3)], body});
            }
        }
        p.payload.resize(pick(5) == 0 ? pick(300) : pick(24));
        for (auto& b : p.payload) {
            b = static_cast<uint8_t>(rng());
        }
        auto f = build(p);
        if (pick(6) == 0) { // Ethernet padding after the packet
            f.resize(f.size() + 1 + pick(30), static_cast<uint8_t>(rng()));
        }
        return f;
    }

    std::optional<loaded_xlb> _xlb;
    int _ifindex = 0;
};

TEST_F(fuzz, no_malformed_packet_is_forwarded) {
    const uint64_t packets = env_u64("XLB_FUZZ_PACKETS", 1000000);
    const uint64_t seed = env_u64("XLB_FUZZ_SEED", 9);
    std::mt19937_64 rng(seed);
    auto pick = [&](uint64_t n) { return rng() % n; };
    const auto dir = parse_mac(xdp_lab::dir_mac);
    const auto b1 = xdp_lab::backend_mac(1), b2 = xdp_lab::backend_mac(2), b3 = xdp_lab::backend_mac(3);
    const char* classes[] = {"random bytes", "random data after valid headers", "byte flips", "truncation",
                             "length fields"};
    std::map<std::string, uint64_t> seen;
    int failures = 0;
    std::vector<uint8_t> base;
    size_t cut = 0; // the truncation class walks every length of one valid frame
    for (uint64_t n = 0; n < packets && failures < 10; ++n) {
        const int cls = static_cast<int>(pick(5));
        std::vector<uint8_t> f;
        switch (cls) {
        case 0: { // random bytes, half with an IP EtherType
            f.resize(15 + pick(120)); // the version byte below is always there
            for (auto& b : f) {
                b = static_cast<uint8_t>(rng());
            }
            std::copy(dir.begin(), dir.end(), f.begin());
            if (pick(2)) {
                f[12] = pick(2) ? 0x08 : 0x86;
                f[13] = f[12] == 0x08 ? 0x00 : 0xdd;
                f[14] = static_cast<uint8_t>((f[12] == 0x08 ? 0x40 : 0x60) | (f[14] & 0x0f));
            }
            break;
        }
        case 1: // valid() randomises payloads; here the payload is long
            f = valid(rng);
            break;
        case 2: { // 1 to 6 bytes changed
            f = valid(rng);
            for (uint64_t i = 1 + pick(6); i > 0; --i) {
                f[pick(f.size())] = static_cast<uint8_t>(rng());
            }
            break;
        }
        case 3: { // every truncation of one frame, then the next frame
            if (cut == 0) {
                base = valid(rng);
                cut = base.size();
            }
            --cut;
            f.assign(base.begin(), base.begin() + static_cast<long>(std::max<size_t>(cut, 14)));
            break;
        }
        default: { // a length field set to an edge or at random
            f = valid(rng);
            auto sp = strict_parse(f);
            if (sp.family == 0) {
                break;
            }
            const uint16_t edges[] = {0, 1, 7, 8, 19, 20, 21, 39, 40, 41, 65535};
            uint16_t val = pick(2) ? edges[pick(11)] : static_cast<uint16_t>(rng());
            size_t at = 0;
            switch (pick(3)) {
            case 0: at = sp.l3 + (sp.family == 4 ? 2 : 4); break; // total / payload length
            case 1: at = sp.l4 + (sp.proto == 17 ? 4 : 12); break; // UDP length / TCP data offset
            default: at = sp.l3 + (sp.family == 4 ? 0 : 6); val = static_cast<uint16_t>(val << 8 | val); break;
            }
            if (sp.proto == 6 && at == sp.l4 + 12) {
                f[at] = static_cast<uint8_t>((val & 0x0f) << 4 | (f[at] & 0x0f));
            } else if (at + 1 < f.size()) {
                f[at] = static_cast<uint8_t>(val >> 8);
                f[at + 1] = static_cast<uint8_t>(val);
            }
            break;
        }
        }
        if (f.size() < 14) {
            continue;
        }
        const auto sp = strict_parse(f);
        const auto r = run_xdp(_xlb->dp().prog_fd(), f, _ifindex);
        ++seen[fmt::format("{:<34} {:<10} {}", classes[cls], to_string(sp.v),
                           r.action == XDP_TX ? "tx" : r.action == XDP_DROP ? "drop" : r.action == XDP_PASS ? "pass" : "other")];
        std::string why;
        if (r.rc != 0) {
            why = fmt::format("bpf_prog_test_run_opts: {}", r.rc);
        } else if (r.action == XDP_ABORTED) {
            why = "XDP_ABORTED";
        } else if (r.action == XDP_TX || r.action == XDP_REDIRECT) {
            const bool icmp_ok = sp.v == strict_packet::verdict::not_l4 && sp.icmp_error_whole && to_vip(sp);
            if (!to_service(sp) && !icmp_ok) {
                why = fmt::format("forwarded, but the strict parser says {}", to_string(sp.v));
            } else {
                const bool nat = !icmp_ok && nat_service(sp), tun = !icmp_ok && tun_service(sp);
                auto want = nat ? nat_rewrite(f, sp) : tun ? tun_rewrite(f, sp) : f;
                const auto& mac = nat ? b2 : tun ? b3 : b1;
                std::copy(mac.begin(), mac.end(), want.begin());
                std::copy(dir.begin(), dir.end(), want.begin() + 6);
                const size_t gue_sport = sp.l3 + (sp.family == 4 ? 20 : 40);
                if (tun && sp.proto == 17 && r.out.size() == want.size()) {
                    const uint16_t port = get16(r.out, gue_sport);
                    if (port < 49152) {
                        why = fmt::format("GUE source port {} is not in 49152-65535", port);
                    }
                    put16(want, gue_sport, port);
                }
                const char* method = nat ? "NAT" : tun ? (sp.proto == 17 ? "TUN (GUE)" : "TUN (IPIP)") : "DR";
                if (why.empty() && r.out != want) {
                    why = fmt::format("forwarded bytes are not the {} rewrite", method);
                }
                ++seen[fmt::format("forwarded, {}", method)];
            }
        } else if (r.action == XDP_PASS && r.out != f) {
            why = "passed, but touched";
        } else if (sp.v == strict_packet::verdict::bad_l4 && to_vip(sp) && r.action != XDP_DROP) {
            why = "a malformed TCP/UDP packet to a VIP was not dropped";
        } else if (to_service(sp) && (sp.proto == 17 || (sp.tcp_flags & (tcp_syn | tcp_rst | tcp_ack)) == tcp_syn)) {
            why = "a new flow to a service was not forwarded";
        }
        if (!why.empty()) {
            ++failures;
            ADD_FAILURE() << "packet " << n << " (seed " << seed << ", " << classes[cls] << "): " << why
                          << "\n  action " << r.action << ", parser " << to_string(sp.v) << "\n  in  " << hex(f)
                          << "\n  out " << hex(r.out);
        }
    }
    fmt::print("{} packets, seed {}:\n", packets, seed);
    for (const auto& [k, c] : seen) {
        fmt::print("  {} {}\n", k, c);
    }
    EXPECT_GT(seen["forwarded, DR"], packets / 100) << "DR services forwarded packets";
    EXPECT_GT(seen["forwarded, NAT"], packets / 100) << "NAT services forwarded packets";
    EXPECT_GT(seen["forwarded, TUN (IPIP)"], packets / 200) << "TUN services forwarded packets, IPIP";
    EXPECT_GT(seen["forwarded, TUN (GUE)"], packets / 200) << "and GUE";
    // Every class reached the program, and both sides of the line were seen.
    for (const char* c : classes) {
        bool any = false;
        for (const auto& [k, count] : seen) {
            any = any || k.rfind(c, 0) == 0;
        }
        EXPECT_TRUE(any) << c;
    }
}

} // namespace
