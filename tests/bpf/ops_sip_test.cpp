// One-packet scheduling (-o) and SIP Call-ID persistence (--pe sip) through
// the real XDP program: datagrams built from scratch, the dest read from the
// output frame's MAC, and the flow table, persistence templates and counters
// read back and compared with what IPVS would hold. The Call-ID hash is
// computed here independently (FNV-1a, 32 bits, 0 mapped to 1).

#include "support/netns.h"
#include "support/packet.h"
#include "support/priv.h"
#include "support/xdp_lab.h"

#include <xlb/dataplane/xdp_dataplane.h>
#include <xlb/util/fd.h>

#include <bpf/bpf.h>
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <algorithm>
#include <cstdlib>
#include <optional>
#include <map>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

using namespace xlb;
using namespace xlb::test;

namespace {

// --pe sip, for add() below (not an IPVS flag bit).
constexpr uint32_t pe_sip = 1u << 31;

[[maybe_unused]] auto* const g_env = ::testing::AddGlobalTestEnvironment(new lab_environment(true));

const std::string xlbctl_bin = std::string(XLB_BINARY_DIR) + "/bin/xlbctl";
const mac client_mac = parse_mac("02:00:00:00:00:c1");

ip_address addr(const std::string& s) { return *ip_address::parse(s); }

uint32_t fnv1a(std::string_view s) {
    uint32_t h = 2166136261u;
    for (unsigned char c : s) {
        h = (h ^ c) * 16777619u;
    }
    return h ? h : 1;
}

// A SIP request whose headers are `headers` (each ending its own line).
std::string sip(const std::string& headers) {
    return "INVITE sip:bob@example.com SIP/2.0\r\n"
           "Via: SIP/2.0/UDP 10.9.0.1:5060;branch=z9hG4bK776asdhds\r\n"
           "Max-Forwards: 70\r\n" +
           headers +
           "CSeq: 314159 INVITE\r\n"
           "Content-Length: 0\r\n"
           "\r\n";
}
std::string sip_call(const std::string& call_id) { return sip("Call-ID: " + call_id + "\r\n"); }

std::vector<uint8_t> bytes(const std::string& s) { return {s.begin(), s.end()}; }

struct tmpl {
    ip_address client;
    uint32_t pe_hash;
    int backend;
    auto operator<=>(const tmpl&) const = default;
};

std::ostream& operator<<(std::ostream& o, const tmpl& t) {
    return o << "{" << t.client.to_string() << ", " << fmt::format("{:#010x}", t.pe_hash) << ", backend "
             << t.backend << "}";
}

class ops_sip : public ::testing::Test {
protected:
    void SetUp() override {
        XLB_REQUIRE_PRIVILEGE();
        _xlb.emplace(load_options{64, 1024, 65536, 65537});
        _ifindex = ifindex(xdp_lab::dir_if);
        // No sweep may run meanwhile: the counters read are the data path's.
        auto cfg = dp().config().value();
        cfg.sweep_ms = 3600 * 1000;
        ASSERT_TRUE(dp().set_config(cfg));
        _flows = map("flows");
        _embryos = map("embryos");
        _persist = map("persist");
        _nat_rev = map("nat_rev");
        _dests = map("dests");
    }
    xdp_dataplane& dp() { return _xlb->dp(); }

    file_desc map(const std::string& name) {
        file_desc fd(bpf_obj_get((_xlb->pin_dir() + "/" + name).c_str()));
        EXPECT_TRUE(fd) << name;
        return fd;
    }

    // A service with backends 1..n (IPVS's list in that order), each weight 1.
    // flags are IPVS's, plus pe_sip for --pe sip.
    service_key add(const std::string& vip, protocol proto, uint32_t flags, uint32_t timeout = 0, int n = 3,
                    forwarding fwd = forwarding::dr, bool v6 = false) {
        service_key k{proto, {addr(vip), 5060}};
        std::string pe = (flags & pe_sip) ? "sip" : "";
        EXPECT_TRUE(dp().add_service({k, scheduler::rr, flags & ~pe_sip, timeout, v6 ? 128u : 0xffffffffu, pe}));
        for (int b = n; b >= 1; --b) {
            auto a = v6 ? xdp_lab::backend6(b) : xdp_lab::backend4(b);
            EXPECT_TRUE(dp().add_dest(k, {{a, 5060}, fwd, 1, 0, 0}));
        }
        return k;
    }

    run_result send(const std::string& vip, const std::string& client, uint16_t sport, const std::string& payload,
                    uint8_t proto = 17) {
        packet_spec p;
        p.src = client_mac;
        p.dst = parse_mac(xdp_lab::dir_mac);
        p.saddr = addr(client);
        p.daddr = addr(vip);
        p.proto = proto;
        p.sport = sport;
        p.dport = 5060;
        p.tcp_flags = tcp_syn;
        p.payload = bytes(payload);
        return run_xdp(dp().prog_fd(), build(p), _ifindex);
    }
    // The backend the datagram went to (0: not sent to one).
    int pick(const std::string& vip, const std::string& client, uint16_t sport, const std::string& payload,
             uint8_t proto = 17) {
        return backend_of(send(vip, client, sport, payload, proto));
    }

    size_t entries(const file_desc& m, size_t key_size) {
        std::vector<uint8_t> k(key_size), next(key_size);
        size_t n = 0;
        void* prev = nullptr;
        while (bpf_map_get_next_key(m.get(), prev, next.data()) == 0) {
            ++n;
            k = next;
            prev = k.data();
        }
        return n;
    }
    // Flows in either table: established, or embryonic (no handshake yet).
    size_t flows() {
        return entries(_flows, sizeof(struct xlb_flow_key)) + entries(_embryos, sizeof(struct xlb_flow_key));
    }

    int backend_of_dest(uint32_t id) {
        struct xlb_dest d {};
        uint32_t slot = published_dest_slot(dp(), id);
        if (bpf_map_lookup_elem(_dests.get(), &slot, &d) != 0) {
            return -1;
        }
        for (int i = 1; i <= 9; ++i) {
            auto a = d.af == XLB_AF_INET ? xdp_lab::backend4(i) : xdp_lab::backend6(i);
            if (ip_address::from_abi(d.af, d.addr) == a) {
                return i;
            }
        }
        return -1;
    }

    // Every persistence template, as {client, pe_hash, backend}.
    std::vector<tmpl> templates() {
        std::vector<tmpl> out;
        struct xlb_persist_key k {}, next {};
        void* prev = nullptr;
        while (bpf_map_get_next_key(_persist.get(), prev, &next) == 0) {
            k = next;
            prev = &k;
            struct xlb_persist v {};
            if (bpf_map_lookup_elem(_persist.get(), &k, &v) == 0) {
                out.push_back({ip_address::from_abi(k.af, k.client), k.pe_hash, backend_of_dest(v.dest)});
            }
        }
        std::sort(out.begin(), out.end());
        return out;
    }
    // The template of one client and hash, if any.
    std::optional<tmpl> template_of(const std::string& client, uint32_t pe_hash) {
        for (const auto& t : templates()) {
            if (t.client == addr(client) && t.pe_hash == pe_hash) {
                return t;
            }
        }
        return std::nullopt;
    }

    service_state listed(const service_key& k) {
        for (auto& s : dp().list().value()) {
            if (s.config.key == k) {
                return s;
            }
        }
        ADD_FAILURE() << "service not listed";
        return {};
    }
    static const dest_state& dest(const service_state& s, int backend) {
        for (const auto& d : s.dests) {
            if (d.config.addr.addr == xdp_lab::backend4(backend) || d.config.addr.addr == xdp_lab::backend6(backend)) {
                return d;
            }
        }
        static dest_state none;
        ADD_FAILURE() << "backend " << backend << " not listed";
        return none;
    }

    std::optional<loaded_xlb> _xlb;
    int _ifindex = 0;
    file_desc _flows, _embryos, _persist, _nat_rev, _dests;
};

std::vector<tmpl> sorted(std::vector<tmpl> v) {
    std::sort(v.begin(), v.end());
    return v;
}

// --- -o ---------------------------------------------------------------------------

TEST_F(ops_sip, ops_schedules_every_datagram_and_stores_no_flow) {
    auto k = add("10.1.0.180", protocol::udp, XLB_IPVS_SVC_F_ONEPACKET);
    std::string seq;
    for (int i = 0; i < 7; ++i) {
        seq += std::to_string(pick("10.1.0.180", "10.1.0.200", 40000, "one socket"));
    }
    EXPECT_EQ(seq, "1231231") << "one client socket, each datagram scheduled on its own";
    EXPECT_EQ(flows(), 0u) << "a one-packet connection is never stored";
    EXPECT_TRUE(templates().empty());

    auto s = listed(k);
    EXPECT_EQ(s.stats.conns, 7u) << "Conns: one per datagram";
    EXPECT_EQ(s.stats.inpkts, 7u);
    for (int b = 1; b <= 3; ++b) {
        const auto& d = dest(s, b);
        EXPECT_EQ(d.stats.conns, b == 1 ? 3u : 2u) << b;
        EXPECT_EQ(d.stats.inpkts, b == 1 ? 3u : 2u) << b;
        EXPECT_EQ(d.active_conns, 0u) << b;
        EXPECT_EQ(d.inactive_conns, 0u) << b;
        EXPECT_EQ(d.persist_conns, 0u) << b;
    }

    // The same socket to a service without -o: one flow, one dest.
    auto k2 = add("10.1.0.181", protocol::udp, 0);
    seq.clear();
    for (int i = 0; i < 4; ++i) {
        seq += std::to_string(pick("10.1.0.181", "10.1.0.200", 40000, "one socket"));
    }
    EXPECT_EQ(seq, "1111");
    EXPECT_EQ(flows(), 1u);
    auto s2 = listed(k2);
    EXPECT_EQ(s2.stats.conns, 1u);
    EXPECT_EQ(dest(s2, 1).inactive_conns, 1u) << "a UDP flow counts as inactive";
}

TEST_F(ops_sip, ops_nat_reply_finds_no_connection) {
    auto client = addr("10.1.0.200");
    add("10.1.0.182", protocol::udp, XLB_IPVS_SVC_F_ONEPACKET, 0, 1, forwarding::nat);
    auto r = send("10.1.0.182", "10.1.0.200", 41000, "query");
    ASSERT_EQ(backend_of(r), 1);
    EXPECT_EQ(flows(), 0u);
    EXPECT_EQ(entries(_nat_rev, sizeof(struct xlb_flow_key)), 0u) << "no reverse entry for a one-packet connection";

    packet_spec reply;
    reply.src = xdp_lab::backend_mac(1);
    reply.dst = parse_mac(xdp_lab::dir_mac);
    reply.saddr = xdp_lab::backend4(1);
    reply.daddr = client;
    reply.proto = 17;
    reply.sport = 5060;
    reply.dport = 41000;
    reply.payload = bytes("answer");
    auto rr = run_xdp(dp().prog_fd(), build(reply), _ifindex);
    EXPECT_EQ(rr.action, XDP_PASS) << "the reply finds no connection: the kernel gets it as it is";

    // Control: the same exchange without -o is translated back.
    add("10.1.0.183", protocol::udp, 0, 0, 1, forwarding::nat);
    ASSERT_EQ(pick("10.1.0.183", "10.1.0.200", 41001, "query"), 1);
    reply.dport = 41001;
    auto r2 = run_xdp(dp().prog_fd(), build(reply), _ifindex);
    ASSERT_EQ(r2.action, XDP_TX);
    ASSERT_GE(r2.out.size(), 14u + 20u);
    auto vip = addr("10.1.0.183").bytes();
    EXPECT_TRUE(std::equal(vip.begin(), vip.begin() + 4, r2.out.begin() + 26)) << "the source is the VIP again";
}

// --- --pe sip ---------------------------------------------------------------------

constexpr uint32_t ops_sip_flags = XLB_IPVS_SVC_F_PERSISTENT | XLB_IPVS_SVC_F_ONEPACKET | pe_sip;

TEST_F(ops_sip, call_id_keeps_a_call_on_one_dest) {
    const std::string vip = "10.1.0.184", c1 = "10.9.0.1", c2 = "10.9.0.2";
    const std::string a = "a84b4c76e66710@pc33.atlanta.example.com", b = "f81d4fae-7dec-11d0-a765-00a0c91e6bf6";
    auto k = add(vip, protocol::udp, ops_sip_flags, 60);

    std::string seq;
    seq += std::to_string(pick(vip, c1, 5060, sip_call(a)));
    seq += std::to_string(pick(vip, c1, 5060, sip_call(a)));
    seq += std::to_string(pick(vip, c1, 5061, sip_call(a))); // another socket, same call
    seq += std::to_string(pick(vip, c1, 5060, sip_call(b))); // a new call: rr moves on
    seq += std::to_string(pick(vip, c1, 5060, sip_call(a)));
    seq += std::to_string(pick(vip, c2, 5060, sip_call(a))); // the same Call-ID from another client
    seq += std::to_string(pick(vip, c1, 5060, sip_call(b)));
    seq += std::to_string(pick(vip, c2, 5060, sip_call(a)));
    EXPECT_EQ(seq, "11121323");

    EXPECT_EQ(flows(), 0u) << "-o: no flow";
    EXPECT_EQ(templates(), sorted({{addr(c1), fnv1a(a), 1}, {addr(c1), fnv1a(b), 2}, {addr(c2), fnv1a(a), 3}}));

    auto s = listed(k);
    EXPECT_EQ(s.stats.conns, 8u);
    EXPECT_EQ(dest(s, 1).stats.conns, 4u);
    EXPECT_EQ(dest(s, 2).stats.conns, 2u);
    EXPECT_EQ(dest(s, 3).stats.conns, 2u);
    for (int d = 1; d <= 3; ++d) {
        EXPECT_EQ(dest(s, d).persist_conns, 1u) << "one template each: " << d;
        EXPECT_EQ(dest(s, d).active_conns + dest(s, d).inactive_conns, 0u) << d;
    }
}

TEST_F(ops_sip, header_forms) {
    const std::string vip = "10.1.0.185";
    add(vip, protocol::udp, ops_sip_flags, 60);
    struct form {
        const char* what;
        std::string payload;
        std::string value;
    };
    const std::vector<form> forms = {
        {"canonical", sip("Call-ID: abc@host\r\n"), "abc@host"},
        {"compact", sip("i: compact-1\r\n"), "compact-1"},
        {"compact, upper case", sip("I:compact-2\r\n"), "compact-2"},
        {"name in odd case", sip("cAlL-iD: MiXeD\r\n"), "MiXeD"},
        {"upper case", sip("CALL-ID:upper\r\n"), "upper"},
        {"blanks around the colon", sip("Call-ID \t: \t blanks\r\n"), "blanks"},
        {"LF alone ends the value", sip("Call-ID: lf-only\n"), "lf-only"},
        {"CR alone ends the value", sip("Call-ID: cr-only\rX: y\r\n"), "cr-only"},
        {"after a header that starts like it", sip("Call-Info: <http://x>\r\nIn-Reply-To: z\r\nCall-ID: third\r\n"),
         "third"},
        {"the first Call-ID wins", sip("Call-ID: first\r\nCall-ID: second\r\n"), "first"},
        {"CR alone ends every line", "INVITE sip:b@x SIP/2.0\rVia: SIP/2.0/UDP h\rCall-ID: cr-lines\rCSeq: 1 INVITE\r\r",
         "cr-lines"},
        {"an empty Call-ID, then one", sip("Call-ID:\r\ni: \r\nCall-ID: later\r\n"), "later"},
        {"255 bytes", sip("Call-ID: " + std::string(255, 'x') + "\r\n"), std::string(255, 'x')},
    };
    int host = 1;
    for (const auto& f : forms) {
        auto client = fmt::format("10.9.1.{}", host++);
        ASSERT_GT(pick(vip, client, 5060, f.payload), 0) << f.what;
        auto t = template_of(client, fnv1a(f.value));
        EXPECT_TRUE(t) << f.what << ": no template with the Call-ID's hash; have "
                       << ::testing::PrintToString(templates());
        EXPECT_FALSE(template_of(client, 0)) << f.what << ": fell back";
    }
    EXPECT_EQ(templates().size(), forms.size());

    // The compact and the full name of one Call-ID are one call.
    int d = pick(vip, "10.9.2.1", 5060, sip("i: same-call\r\n"));
    EXPECT_EQ(pick(vip, "10.9.2.1", 5060, sip("CALL-ID: same-call\r\n")), d);
    EXPECT_EQ(pick(vip, "10.9.2.1", 5060, sip("Call-Id:same-call\n")), d);
    EXPECT_NE(pick(vip, "10.9.2.1", 5060, sip("Call-ID: SAME-CALL\r\n")), d) << "the value is compared with its case";
}

// A message with no usable Call-ID: plain persistence by client (pe_hash 0).
TEST_F(ops_sip, no_usable_call_id_falls_back_to_the_client) {
    const std::string vip = "10.1.0.186";
    add(vip, protocol::udp, ops_sip_flags, 60);
    const std::string req = "INVITE sip:bob@example.com SIP/2.0\r\n";
    // Puts the CR ending "Call-ID: abc" at payload offset `cr`.
    auto at = [&](size_t cr) {
        std::string head = req + "X-Pad: ";
        std::string tail = "\r\nCall-ID: abc\r\n";
        size_t pad = cr - head.size() - (tail.size() - 2);
        return head + std::string(pad, 'p') + tail;
    };
    struct msg {
        const char* what;
        std::string payload;
    };
    const std::vector<msg> msgs = {
        {"not SIP", "\x01\x02\x03 not a SIP message"},
        {"no Call-ID header", sip("From: <sip:alice@example.com>\r\n")},
        {"the value does not end its line in the packet", req + "Call-ID: abc"},
        {"the header is cut after the colon", req + "Call-ID:"},
        {"an empty value", sip("Call-ID: \r\n")},
        {"256 bytes", sip("Call-ID: " + std::string(256, 'x') + "\r\n")},
        {"a blank inside the value", sip("Call-ID: two words\r\n")},
        {"on the request line", "Call-ID: first-line\r\n" + sip("")},
        {"another header with that prefix", sip("Call-IDs: x\r\n")},
        {"compact name followed by a letter", sip("ix: y\r\n")},
        {"the line end is byte 1024 of the payload", at(1024)},
        {"the header is past the first 1024 bytes", req + "X-Pad: " + std::string(1100, 'p') + "\r\n" +
                                                        "Call-ID: far\r\n"},
    };
    int host = 1;
    for (const auto& m : msgs) {
        auto client = fmt::format("10.9.3.{}", host++);
        int d = pick(vip, client, 5060, m.payload);
        ASSERT_GT(d, 0) << m.what;
        EXPECT_EQ(templates().size(), static_cast<size_t>(host - 1)) << m.what;
        auto t = template_of(client, 0);
        EXPECT_TRUE(t) << m.what << ": no client template; have " << ::testing::PrintToString(templates());
        EXPECT_EQ(pick(vip, client, 5061, "junk"), d) << m.what << ": the client template holds";
    }
    // The window's last byte still counts.
    ASSERT_GT(pick(vip, "10.9.4.1", 5060, at(1023)), 0);
    EXPECT_TRUE(template_of("10.9.4.1", fnv1a("abc"))) << "a Call-ID whose CR is byte 1023 is read";

    // A client's fallback template and its calls' templates are distinct.
    const std::string c = "10.9.5.1";
    std::string seq;
    seq += std::to_string(pick(vip, c, 5060, "hello"));
    seq += std::to_string(pick(vip, c, 5060, sip_call("call-1")));
    seq += std::to_string(pick(vip, c, 5060, "hello again"));
    seq += std::to_string(pick(vip, c, 5060, sip_call("call-1")));
    seq += std::to_string(pick(vip, c, 5060, sip_call("call-2")));
    EXPECT_EQ(seq[0], seq[2]) << seq;
    EXPECT_EQ(seq[1], seq[3]) << seq;
    EXPECT_NE(seq[0], seq[1]) << seq;
    EXPECT_NE(seq[1], seq[4]) << seq;
    EXPECT_NE(seq[0], seq[4]) << seq;
    EXPECT_TRUE(template_of(c, 0));
    EXPECT_TRUE(template_of(c, fnv1a("call-1")));
    EXPECT_TRUE(template_of(c, fnv1a("call-2")));
    EXPECT_EQ(flows(), 0u);
}

TEST_F(ops_sip, ipv6) {
    const std::string vip = "fd01::180", c1 = "fd09::1", c2 = "fd09::2";
    auto k = add(vip, protocol::udp, ops_sip_flags, 60, 3, forwarding::dr, true);
    std::string seq;
    seq += std::to_string(pick(vip, c1, 5060, sip_call("v6-a")));
    seq += std::to_string(pick(vip, c1, 5062, sip("i: v6-a\r\n")));
    seq += std::to_string(pick(vip, c1, 5060, sip_call("v6-b")));
    seq += std::to_string(pick(vip, c2, 5060, sip_call("v6-a")));
    seq += std::to_string(pick(vip, c2, 5060, "not sip"));
    seq += std::to_string(pick(vip, c2, 5060, "still not sip"));
    seq += std::to_string(pick(vip, c1, 5060, sip_call("v6-b")));
    EXPECT_EQ(seq, "1123112");
    EXPECT_EQ(flows(), 0u);
    EXPECT_EQ(templates(), sorted({{addr(c1), fnv1a("v6-a"), 1},
                                   {addr(c1), fnv1a("v6-b"), 2},
                                   {addr(c2), fnv1a("v6-a"), 3},
                                   {addr(c2), 0, 1}}));
    auto s = listed(k);
    EXPECT_EQ(s.stats.conns, 7u);
    EXPECT_EQ(dest(s, 1).persist_conns, 2u);
    EXPECT_EQ(dest(s, 1).active_conns + dest(s, 1).inactive_conns, 0u);
}

// Without -o the flow decides first: a socket stays on its dest whatever the
// Call-ID; each new flow is placed by its message's Call-ID.
TEST_F(ops_sip, without_ops_the_flow_comes_first) {
    const std::string vip = "10.1.0.187", c = "10.9.6.1";
    auto k = add(vip, protocol::udp, XLB_IPVS_SVC_F_PERSISTENT | pe_sip, 60);
    std::string seq;
    seq += std::to_string(pick(vip, c, 6000, sip_call("x")));
    seq += std::to_string(pick(vip, c, 6000, sip_call("y"))); // the flow of port 6000
    seq += std::to_string(pick(vip, c, 6001, sip_call("y"))); // a new flow, a new call
    seq += std::to_string(pick(vip, c, 6002, sip_call("x")));
    EXPECT_EQ(seq, "1121");
    EXPECT_EQ(flows(), 3u);
    EXPECT_EQ(templates(), sorted({{addr(c), fnv1a("x"), 1}, {addr(c), fnv1a("y"), 2}}));
    auto s = listed(k);
    EXPECT_EQ(s.stats.conns, 3u);
    EXPECT_EQ(dest(s, 1).inactive_conns, 2u);
    EXPECT_EQ(dest(s, 2).inactive_conns, 1u);
}

// TCP is never scanned: --pe sip on a TCP service is plain persistence.
TEST_F(ops_sip, tcp_is_plain_persistence) {
    const std::string vip = "10.1.0.188";
    add(vip, protocol::tcp, XLB_IPVS_SVC_F_PERSISTENT | pe_sip, 60);
    std::string seq;
    seq += std::to_string(pick(vip, "10.9.7.1", 7000, sip_call("t-1"), 6));
    seq += std::to_string(pick(vip, "10.9.7.1", 7001, sip_call("t-2"), 6));
    seq += std::to_string(pick(vip, "10.9.7.2", 7000, sip_call("t-1"), 6));
    seq += std::to_string(pick(vip, "10.9.7.1", 7002, "no sip", 6));
    EXPECT_EQ(seq, "1121");
    EXPECT_EQ(templates(), sorted({{addr("10.9.7.1"), 0, 1}, {addr("10.9.7.2"), 0, 2}}));
    EXPECT_EQ(flows(), 4u);
}

// xlbctl's grammar sets the bits the data path reads.
TEST_F(ops_sip, configured_by_xlbctl) {
    auto run = [&](const std::string& args) {
        auto cmd = fmt::format("{} --pin-dir {} {} >/dev/null", xlbctl_bin, _xlb->pin_dir(), args);
        int rc = std::system(cmd.c_str());
        return WIFEXITED(rc) ? WEXITSTATUS(rc) : 128;
    };
    ASSERT_EQ(run("-A -u 10.1.0.189:5060 -s rr -p 60 --pe sip -o"), 0);
    for (int b = 3; b >= 1; --b) {
        ASSERT_EQ(run(fmt::format("-a -u 10.1.0.189:5060 -r {}:5060 -g", xdp_lab::backend4(b).to_string())), 0);
    }
    EXPECT_EQ(sh_out("ip neigh show 10.1.0.11"), "10.1.0.11 dev xa lladdr 02:00:00:00:01:01 PERMANENT \n")
        << "xlbctl leaves a static neighbour entry alone";
    auto s = listed({protocol::udp, {addr("10.1.0.189"), 5060}});
    // The model carries the engine by name, the flags are IPVS's.
    EXPECT_EQ(s.config.flags & ops_sip_flags, ops_sip_flags & ~pe_sip);
    EXPECT_EQ(s.config.pe_name, "sip");
    std::string seq;
    for (const char* call : {"p", "p", "q", "p", "r", "q"}) {
        seq += std::to_string(pick("10.1.0.189", "10.9.8.1", 5060, sip_call(call)));
    }
    EXPECT_EQ(seq, "112132");
    EXPECT_EQ(flows(), 0u);
    EXPECT_EQ(templates().size(), 3u);
    EXPECT_EQ(run("-A -t 10.1.0.189:5060 -s rr -o"), 2) << "One-Packet Scheduling is only for UDP virtual services";
}

} // namespace
