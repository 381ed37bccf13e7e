// xlbctl -L -c on the real program: packets through bpf_prog_test_run_opts()
// make flows and persistence templates, and list_conns() must read them back
// with IPVS's states, addresses and expiry.

#include "support/netns.h"
#include "support/packet.h"
#include "support/priv.h"
#include "support/xdp_lab.h"

#include <xlb/dataplane/xdp_dataplane.h>
#include <xlb/ipvsadm/command.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <thread>

using namespace xlb;
using namespace xlb::test;

namespace {

[[maybe_unused]] auto* const g_env = ::testing::AddGlobalTestEnvironment(new lab_environment(true));

ip_address ip(const char* s) { return *ip_address::parse(s); }
endpoint ep(const char* s) { return *endpoint::parse(s); }

const mac client_mac{0x02, 0, 0, 0, 0, 0xc1};

packet_spec pkt(const char* client, const char* vip, uint16_t vport, uint16_t sport, uint8_t flags = tcp_syn) {
    packet_spec p;
    p.dst = parse_mac(xdp_lab::dir_mac);
    p.src = client_mac;
    p.saddr = ip(client);
    p.daddr = ip(vip);
    p.sport = sport;
    p.dport = vport;
    p.tcp_flags = flags;
    return p;
}

class conns : public ::testing::Test {
protected:
    void SetUp() override {
        XLB_REQUIRE_PRIVILEGE();
        _xlb.emplace();
        _ifindex = ifindex(xdp_lab::dir_if);
        ASSERT_GT(_ifindex, 0);
    }

    xdp_dataplane& dp() { return _xlb->dp(); }

    void send(const packet_spec& p) {
        auto r = run_xdp(dp().prog_fd(), build(p), _ifindex);
        ASSERT_EQ(r.rc, 0);
        ASSERT_EQ(r.action, XDP_TX);
    }

    // The one entry from client (a template when sport is 0).
    // Not on a temporary: the pointer would outlive the vector.
    static const conn_state* find(std::vector<conn_state>&&, const char*, bool = false) = delete;
    static const conn_state* find(const std::vector<conn_state>& all, const char* client, bool is_template = false) {
        auto it = std::find_if(all.begin(), all.end(), [&](const conn_state& c) {
            return c.client == ep(client) && c.is_template == is_template;
        });
        return it == all.end() ? nullptr : &*it;
    }

    std::optional<loaded_xlb> _xlb;
    int _ifindex = 0;
};

TEST_F(conns, tcp_states_addresses_and_expiry) {
    service_key k{protocol::tcp, ep("10.1.0.140:80")};
    ASSERT_TRUE(dp().add_service({k, scheduler::rr}));
    ASSERT_TRUE(dp().add_dest(k, {{xdp_lab::backend4(1), 80}, forwarding::dr, 1, 0, 0}));
    // SYN, ACK: ESTABLISHED. SYN: SYN_RECV. SYN, ACK, FIN: FIN_WAIT (INPUT-ONLY).
    send(pkt("10.1.0.200", "10.1.0.140", 80, 20000));
    send(pkt("10.1.0.200", "10.1.0.140", 80, 20000, tcp_ack));
    send(pkt("10.1.0.200", "10.1.0.140", 80, 20001));
    send(pkt("10.1.0.200", "10.1.0.140", 80, 20002));
    send(pkt("10.1.0.200", "10.1.0.140", 80, 20002, tcp_ack));
    send(pkt("10.1.0.200", "10.1.0.140", 80, 20002, tcp_fin | tcp_ack));

    auto all = dp().list_conns().value();
    ASSERT_EQ(all.size(), 3u);
    struct want {
        const char* client;
        uint8_t state;
        uint32_t timeout;
    };
    for (auto w : {want{"10.1.0.200:20000", XLB_TCP_S_ESTABLISHED, 900}, want{"10.1.0.200:20001", XLB_TCP_S_SYN_RECV, 60},
                   want{"10.1.0.200:20002", XLB_TCP_S_FIN_WAIT, 120}}) {
        auto* c = find(all, w.client);
        ASSERT_NE(c, nullptr) << w.client;
        EXPECT_EQ(c->proto, protocol::tcp);
        EXPECT_EQ(c->state, w.state) << w.client;
        EXPECT_EQ(c->vip, ep("10.1.0.140:80"));
        EXPECT_EQ(c->dest, (endpoint{xdp_lab::backend4(1), 80}));
        EXPECT_FALSE(c->is_template);
        // Just made: the full timeout, or a second less once a tick has passed.
        EXPECT_LE(c->expire_s, w.timeout) << w.client;
        EXPECT_GE(c->expire_s, w.timeout - 1) << w.client;
    }

    // --set changes what ESTABLISHED has left at once, as IPVS's timer would
    // on the next packet; the listing reads the current timeouts.
    ASSERT_TRUE(dp().set_timeouts({100, 0, 0}));
    auto after_set = dp().list_conns().value();
    auto est = find(after_set, "10.1.0.200:20000");
    ASSERT_NE(est, nullptr);
    EXPECT_GE(est->expire_s, 99u);
    EXPECT_LE(est->expire_s, 100u);

    // The whole command, as xlbctl runs it.
    auto cmd = std::get<ipvsadm::command>(ipvsadm::parse({"-L", "-n", "-c"}, "xlbctl"));
    auto out = ipvsadm::execute(cmd, dp()).out;
    EXPECT_EQ(out.rfind("IPVS connection entries\npro expire state       source             virtual            "
                        "destination\n",
                        0),
              0u)
        << out;
    EXPECT_NE(out.find(" SYN_RECV    10.1.0.200:20001   10.1.0.140:80      10.1.0.11:80\n"), std::string::npos)
        << out;
    EXPECT_NE(out.find(" FIN_WAIT    10.1.0.200:20002   10.1.0.140:80      10.1.0.11:80\n"), std::string::npos)
        << out;
}

TEST_F(conns, udp_ipv6_and_nat_flows_are_listed_once) {
    service_key u{protocol::udp, ep("10.1.0.141:53")};
    ASSERT_TRUE(dp().add_service({u, scheduler::rr}));
    ASSERT_TRUE(dp().add_dest(u, {{xdp_lab::backend4(2), 53}, forwarding::dr, 1, 0, 0}));
    auto up = pkt("10.1.0.200", "10.1.0.141", 53, 5353);
    up.proto = 17;
    up.payload = {1, 2, 3, 4};
    auto udp_sent = std::chrono::steady_clock::now();
    send(up);

    service_key v6{protocol::tcp, ep("[fd01::141]:443")};
    ASSERT_TRUE(dp().add_service({v6, scheduler::rr, 0, 0, 128})); // IPVS needs a prefix length for IPv6
    ASSERT_TRUE(dp().add_dest(v6, {{xdp_lab::backend6(3), 443}, forwarding::dr, 1, 0, 0}));
    send(pkt("fd01::200", "fd01::141", 443, 40000));

    // NAT keeps a reverse entry per flow (nat_rev); the listing shows the
    // flow once, with the real server's own port.
    service_key n{protocol::tcp, ep("10.1.0.142:80")};
    ASSERT_TRUE(dp().add_service({n, scheduler::rr}));
    ASSERT_TRUE(dp().add_dest(n, {{xdp_lab::backend4(4), 8080}, forwarding::nat, 1, 0, 0}));
    send(pkt("10.1.0.200", "10.1.0.142", 80, 30000));

    auto all = dp().list_conns().value();
    ASSERT_EQ(all.size(), 3u);
    // The hash maps have no order: the backend sorts (protocol, client, ...),
    // so -L -c is the same listing every time.
    EXPECT_TRUE(std::is_sorted(all.begin(), all.end()));
    EXPECT_EQ(all.back().proto, protocol::udp);
    auto* uc = find(all, "10.1.0.200:5353");
    ASSERT_NE(uc, nullptr);
    EXPECT_EQ(uc->proto, protocol::udp);
    EXPECT_EQ(conn_state_name(*uc), "UDP");
    EXPECT_EQ(uc->dest, (endpoint{xdp_lab::backend4(2), 53}));
    // UDP's 300 s timeout, less the whole seconds since the datagram (the
    // vm tier under emulation takes several) and one for the clock's tick.
    auto since = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() - udp_sent);
    EXPECT_GE(uc->expire_s, 300u - static_cast<uint32_t>(since.count()) - 1);
    EXPECT_LE(uc->expire_s, 300u);

    auto* c6 = find(all, "[fd01::200]:40000");
    ASSERT_NE(c6, nullptr);
    EXPECT_EQ(c6->vip, ep("[fd01::141]:443"));
    EXPECT_EQ(c6->dest, (endpoint{xdp_lab::backend6(3), 443}));
    EXPECT_EQ(conn_state_name(*c6), "SYN_RECV");

    auto* nc = find(all, "10.1.0.200:30000");
    ASSERT_NE(nc, nullptr);
    EXPECT_EQ(nc->vip, ep("10.1.0.142:80"));
    EXPECT_EQ(nc->dest, (endpoint{xdp_lab::backend4(4), 8080}));
}

TEST_F(conns, persistence_templates_none_then_assured) {
    service_key k{protocol::tcp, ep("10.1.0.143:80")};
    service_config cfg{k, scheduler::rr, XLB_IPVS_SVC_F_PERSISTENT, 300, 0xffffff00};
    ASSERT_TRUE(dp().add_service(cfg));
    ASSERT_TRUE(dp().add_dest(k, {{xdp_lab::backend4(5), 80}, forwarding::dr, 1, 0, 0}));
    send(pkt("10.1.0.200", "10.1.0.143", 80, 21000));

    auto all = dp().list_conns().value();
    ASSERT_EQ(all.size(), 2u) << "the connection and its template";
    auto* t = find(all, "10.1.0.0:0", true);
    ASSERT_NE(t, nullptr) << "the template's source is the masked client, port 0";
    EXPECT_EQ(t->proto, protocol::tcp);
    EXPECT_EQ(t->vip, ep("10.1.0.143:80"));
    EXPECT_EQ(t->dest, (endpoint{xdp_lab::backend4(5), 80}));
    EXPECT_EQ(conn_state_name(*t), "NONE");
    EXPECT_GE(t->expire_s, 299u);
    EXPECT_LE(t->expire_s, 300u);

    send(pkt("10.1.0.200", "10.1.0.143", 80, 21000, tcp_ack));
    auto assured = dp().list_conns().value();
    t = find(assured, "10.1.0.0:0", true);
    ASSERT_NE(t, nullptr);
    EXPECT_EQ(conn_state_name(*t), "ASSURED") << "its connection reached ESTABLISHED";

    // A port-0 service's template has ports 0, as IPVS's <caddr,0,vaddr,0,daddr,0>.
    service_key any{protocol::tcp, ep("10.1.0.144:0")};
    ASSERT_TRUE(dp().add_service({any, scheduler::rr, XLB_IPVS_SVC_F_PERSISTENT, 60, 0xffffffff}));
    ASSERT_TRUE(dp().add_dest(any, {{xdp_lab::backend4(6), 0}, forwarding::dr, 1, 0, 0}));
    send(pkt("10.1.0.201", "10.1.0.144", 8443, 22000));
    all = dp().list_conns().value();
    auto* z = find(all, "10.1.0.201:0", true);
    ASSERT_NE(z, nullptr);
    EXPECT_EQ(z->vip, ep("10.1.0.144:0"));
    EXPECT_EQ(z->dest, (endpoint{xdp_lab::backend4(6), 0}));
    auto* zc = find(all, "10.1.0.201:22000");
    ASSERT_NE(zc, nullptr);
    EXPECT_EQ(zc->vip, ep("10.1.0.144:8443"));
    EXPECT_EQ(zc->dest, (endpoint{xdp_lab::backend4(6), 8443})) << "a dest without a port takes the packet's";
}

TEST_F(conns, expired_and_orphaned_flows_are_not_listed) {
    service_key k{protocol::tcp, ep("10.1.0.145:80")};
    ASSERT_TRUE(dp().add_service({k, scheduler::rr}));
    ASSERT_TRUE(dp().add_dest(k, {{xdp_lab::backend4(7), 80}, forwarding::dr, 1, 0, 0}));
    auto cfg = dp().config().value();
    cfg.tcp_timeout[XLB_TCP_S_SYN_RECV] = 0;
    ASSERT_TRUE(dp().set_config(cfg));
    send(pkt("10.1.0.200", "10.1.0.145", 80, 23000));
    std::this_thread::sleep_for(std::chrono::milliseconds(30)); // a few jiffies: expired, maybe not swept yet
    EXPECT_TRUE(dp().list_conns().value().empty()) << "IPVS removes a connection when its timer fires";

    cfg.tcp_timeout[XLB_TCP_S_SYN_RECV] = 60;
    ASSERT_TRUE(dp().set_config(cfg));
    send(pkt("10.1.0.200", "10.1.0.145", 80, 23001));
    // (The data path judges expiry by the current timeouts, so an expired
    // flow not yet swept lives again once its timeout grows: so does its row.)
    auto live = dp().list_conns().value();
    ASSERT_NE(find(live, "10.1.0.200:23001"), nullptr);
    ASSERT_TRUE(dp().del_dest(k, {xdp_lab::backend4(7), 80}));
    EXPECT_TRUE(dp().list_conns().value().empty()) << "a deleted dest's flows wait for rescheduling, unlisted";
}

} // namespace

namespace {

conn_state entry(protocol p, const char* client, const char* vip, endpoint dest, uint8_t state, uint32_t expire,
                 bool is_template = false) {
    conn_state c;
    c.proto = p;
    c.client = ep(client);
    c.vip = ep(vip);
    c.dest = dest;
    c.state = state;
    c.expire_s = expire;
    c.is_template = is_template;
    return c;
}

} // namespace

// import_conns(): kernel IPVS's connections written into the flow tables,
// as a table move back from IPVS does. A mid-stream segment (no SYN) is
// never scheduled (IPVS's sloppy_tcp=0): without the imported flow it would
// pass to the stack; with it, it goes to the flow's dest, which is not the
// one the scheduler would pick now.
TEST_F(conns, imported_entries_carry_their_packets_to_their_dests) {
    service_key s{protocol::tcp, ep("10.1.0.150:80")};
    ASSERT_TRUE(dp().add_service({s, scheduler::rr}));
    ASSERT_TRUE(dp().add_dest(s, {{xdp_lab::backend4(2), 80}, forwarding::dr, 1, 0, 0}));
    ASSERT_TRUE(dp().add_dest(s, {{xdp_lab::backend4(3), 80}, forwarding::dr, 1, 0, 0}));
    service_key n{protocol::tcp, ep("10.1.0.151:80")};
    ASSERT_TRUE(dp().add_service({n, scheduler::rr}));
    ASSERT_TRUE(dp().add_dest(n, {{xdp_lab::backend4(4), 8080}, forwarding::nat, 1, 0, 0}));
    service_config pu{service_key{protocol::udp, ep("10.1.0.152:53")}, scheduler::rr};
    pu.flags = XLB_IPVS_SVC_F_PERSISTENT;
    pu.timeout = 300;
    pu.netmask = 0xffffff00;
    ASSERT_TRUE(dp().add_service(pu));
    ASSERT_TRUE(dp().add_dest(pu.key, {{xdp_lab::backend4(5), 53}, forwarding::dr, 1, 0, 0}));
    ASSERT_TRUE(dp().add_dest(pu.key, {{xdp_lab::backend4(6), 53}, forwarding::dr, 1, 0, 0}));

    // Before: an ACK of a connection XDP does not know passes.
    auto ack = pkt("10.1.0.200", "10.1.0.150", 80, 45000, tcp_ack);
    auto r = run_xdp(dp().prog_fd(), build(ack), _ifindex);
    ASSERT_EQ(r.rc, 0);
    EXPECT_EQ(r.action, XDP_PASS);

    // rr alternates: after this SYN went to one dest, the next goes to the
    // other. The imported flow names the one rr would not pick now.
    auto probe = run_xdp(dp().prog_fd(), build(pkt("10.1.0.201", "10.1.0.150", 80, 45001)), _ifindex);
    const int other = backend_of(probe);
    ASSERT_TRUE(other == 2 || other == 3) << other;

    std::vector<conn_state> in = {
        entry(protocol::tcp, "10.1.0.200:45000", "10.1.0.150:80", {xdp_lab::backend4(other), 80},
              XLB_TCP_S_ESTABLISHED, 800),
        entry(protocol::tcp, "10.1.0.202:45002", "10.1.0.151:80", {xdp_lab::backend4(4), 8080}, XLB_TCP_S_FIN_WAIT,
              100),
        entry(protocol::udp, "10.1.0.0:0", "10.1.0.152:53", {xdp_lab::backend4(6), 53}, 0, 250, true),
        // Nothing XDP can hold: a dest it does not have, an SCTP entry, a fwmark template.
        entry(protocol::tcp, "10.1.0.203:45003", "10.1.0.150:80", {ip("10.9.9.9"), 80}, XLB_TCP_S_ESTABLISHED, 800),
        entry(protocol::sctp, "10.1.0.204:45004", "10.1.0.150:80", {xdp_lab::backend4(2), 80}, 7, 800),
    };
    auto fwm = entry(protocol::tcp, "10.1.0.0:0", "0.0.0.5:0", {xdp_lab::backend4(2), 0}, 0, 100, true);
    fwm.fwmark = 5;
    in.push_back(fwm);
    auto n_in = dp().import_conns(in);
    ASSERT_TRUE(n_in) << n_in.error().message();
    EXPECT_EQ(*n_in, 3u);

    auto all = dp().list_conns().value();
    const auto* e = find(all, "10.1.0.200:45000");
    ASSERT_NE(e, nullptr);
    EXPECT_EQ(e->dest, (endpoint{xdp_lab::backend4(other), 80}));
    EXPECT_EQ(conn_state_name(*e), "ESTABLISHED");
    EXPECT_LE(e->expire_s, 800u);
    EXPECT_GE(e->expire_s, 798u);
    const auto* f = find(all, "10.1.0.202:45002");
    ASSERT_NE(f, nullptr);
    EXPECT_EQ(conn_state_name(*f), "FIN_WAIT");
    EXPECT_LE(f->expire_s, 100u);
    const auto* t = find(all, "10.1.0.0:0", true);
    ASSERT_NE(t, nullptr);
    EXPECT_EQ(t->dest, (endpoint{xdp_lab::backend4(6), 53}));
    EXPECT_LE(t->expire_s, 250u);
    EXPECT_GE(t->expire_s, 248u);
    EXPECT_EQ(find(all, "10.1.0.203:45003"), nullptr);

    // The ACK now follows its flow, to the dest rr would not have picked.
    r = run_xdp(dp().prog_fd(), build(ack), _ifindex);
    ASSERT_EQ(r.rc, 0);
    EXPECT_EQ(r.action, XDP_TX);
    EXPECT_EQ(backend_of(r), other);
    // A datagram of the template's client network goes to its dest.
    auto dgram = pkt("10.1.0.77", "10.1.0.152", 53, 5353);
    dgram.proto = 17;
    dgram.payload = {1, 2, 3, 4};
    auto u = run_xdp(dp().prog_fd(), build(dgram), _ifindex);
    EXPECT_EQ(backend_of(u), 6);
    // The NAT flow's reply key: the server's answer is recognised and
    // rewritten from the VIP.
    auto reply = pkt("10.1.0.202", "10.1.0.202", 45002, 8080, tcp_ack | tcp_fin);
    reply.saddr = xdp_lab::backend4(4);
    reply.daddr = ip("10.1.0.202");
    reply.sport = 8080;
    reply.dport = 45002;
    auto rr = run_xdp(dp().prog_fd(), build(reply), _ifindex);
    ASSERT_EQ(rr.rc, 0);
    EXPECT_NE(rr.action, XDP_PASS) << "the reply was not recognised as the imported NAT flow's";
}
