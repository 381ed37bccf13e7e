// ipvs_dataplane against real kernel IPVS (tests/vm runs it in Debian 12's
// 6.1 kernel): the shared behaviour suite, then what only the kernel can
// show. Expected values come from IPVS's semantics and the kernel's own
// configuration (/boot/config-VERSION), never from the backend's output.

#include "support/dataplane_behaviour.h"

#include "support/netns.h"

#include <xlb/dataplane/ipvs_dataplane.h>
#include <xlb/ipvsadm/command.h>

#include <fmt/format.h>

#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <set>
#include <stdexcept>
#include <optional>
#include <string>

using namespace xlb;
using namespace xlb::test;

namespace {

// Why kernel IPVS cannot be tested here; empty if it can.
std::string ipvs_missing() {
    if (geteuid() != 0) {
        return "needs root (CAP_NET_ADMIN) to write the kernel IPVS table";
    }
    auto dp = ipvs_dataplane::open();
    return dp ? std::string() : dp.error().message();
}

// The kernel's table, emptied, with IPVS's default timeouts back: every
// case starts from the table a fresh kernel has.
ipvs_dataplane fresh_ipvs() {
    auto dp = ipvs_dataplane::open();
    if (!dp) {
        throw std::runtime_error(dp.error().message());
    }
    if (auto r = dp->clear(); !r) {
        throw std::runtime_error(r.error().message());
    }
    if (auto r = dp->set_timeouts({900, 120, 300}); !r) {
        throw std::runtime_error(r.error().message());
    }
    return std::move(*dp);
}

class ipvs_instance final : public behaviour_instance {
public:
    ipvs_instance() : _dp(fresh_ipvs()) {}
    dataplane& dp() override { return _dp; }

private:
    ipvs_dataplane _dp;
};

behaviour_backend kernel_ipvs() {
    return {"ipvs", [] { return std::make_unique<ipvs_instance>(); }, 0, 0, ipvs_missing};
}

} // namespace

INSTANTIATE_TEST_SUITE_P(ipvs, dataplane_behaviour, ::testing::Values(kernel_ipvs()), behaviour_backend_name);

namespace {

// The running kernel's build option `name` ("y", "m", "12"), nullopt if it
// is not set, or an error string if the config cannot be read.
struct kconfig {
    bool readable = false;
    std::optional<std::string> value;
};
kconfig kernel_option(const std::string& name) {
    utsname u{};
    uname(&u);
    std::ifstream in(std::string("/boot/config-") + u.release);
    kconfig out;
    if (!in) {
        return out;
    }
    out.readable = true;
    std::string line;
    while (std::getline(in, line)) {
        if (line.rfind(name + "=", 0) == 0) {
            out.value = line.substr(name.size() + 1);
        }
    }
    return out;
}

class ipvs_kernel : public ::testing::Test {
protected:
    void SetUp() override {
        if (auto why = ipvs_missing(); !why.empty()) {
            if (require_priv()) {
                FAIL() << "XLB_REQUIRE_PRIV=1 but " << why;
            }
            GTEST_SKIP() << why;
        }
        _dp.emplace(fresh_ipvs());
    }
    void TearDown() override {
        if (_dp) {
            (void)_dp->clear();
        }
    }

    static service_config svc(const char* vip, scheduler s = scheduler::wlc, protocol p = protocol::tcp) {
        service_config c;
        c.key = service_key{p, *endpoint::parse(vip)};
        c.sched = s;
        return c;
    }
    static dest_config dest(const char* addr, int32_t weight = 1, forwarding f = forwarding::dr) {
        dest_config d;
        d.addr = *endpoint::parse(addr);
        d.weight = weight;
        d.fwd = f;
        return d;
    }
    const service_state* find(const std::vector<service_state>& t, const service_key& k) {
        for (const auto& s : t) {
            if (s.config.key == k) {
                return &s;
            }
        }
        return nullptr;
    }
    std::vector<service_state> table() {
        auto l = _dp->list();
        EXPECT_TRUE(l) << l.error().message();
        return l ? *l : std::vector<service_state>{};
    }

    std::optional<ipvs_dataplane> _dp;
};

TEST_F(ipvs_kernel, one_real_server_serves_two_services_apart) {
    auto a = svc("10.0.0.1:80");
    auto b = svc("10.0.0.2:80");
    ASSERT_TRUE(_dp->add_service(a));
    ASSERT_TRUE(_dp->add_service(b));
    ASSERT_TRUE(_dp->add_dest(a.key, dest("10.1.0.11:8080", 3, forwarding::nat)));
    ASSERT_TRUE(_dp->add_dest(b.key, dest("10.1.0.11:8080", 5, forwarding::nat)));
    auto t = table();
    const auto* sa = find(t, a.key);
    const auto* sb = find(t, b.key);
    ASSERT_TRUE(sa && sb);
    ASSERT_EQ(sa->dests.size(), 1u);
    ASSERT_EQ(sb->dests.size(), 1u);
    EXPECT_EQ(sa->dests[0].config.weight, 3) << "each service keeps its own dest (ip_vs_dest is per service)";
    EXPECT_EQ(sb->dests[0].config.weight, 5);
    ASSERT_TRUE(_dp->del_dest(a.key, *endpoint::parse("10.1.0.11:8080")));
    t = table();
    EXPECT_TRUE(find(t, a.key)->dests.empty());
    ASSERT_EQ(find(t, b.key)->dests.size(), 1u) << "deleting it from one service leaves the other's";
}

TEST_F(ipvs_kernel, a_scheduler_the_kernel_lacks_is_enoent_and_the_set_is_undone) {
    auto opt = kernel_option("CONFIG_IP_VS_TWOS");
    if (!opt.readable) {
        GTEST_SKIP() << "no /boot/config of the running kernel: cannot tell whether it has twos";
    }
    if (opt.value) {
        GTEST_SKIP() << "this kernel has the twos scheduler (CONFIG_IP_VS_TWOS=" << *opt.value << ")";
    }
    ASSERT_TRUE(_dp->add_service(svc("10.0.0.9:80", scheduler::rr)));
    // The model knows twos, so only the kernel refuses: ip_vs_add_service()
    // finds no scheduler module and answers ENOENT. The applied prefix goes.
    auto a = svc("10.0.0.1:80", scheduler::rr);
    auto r = _dp->apply({change::add_service(a), change::add_dest(a.key, dest("10.1.0.11:80")),
                         change::edit_service(svc("10.0.0.9:80", scheduler::wrr)), change::set_timeouts({0, 0, 42}),
                         change::add_service(svc("10.0.0.2:80", scheduler::twos))});
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().index, 4u);
    EXPECT_EQ(r.error().err.code, ENOENT) << r.error().err.message();
    auto t = table();
    ASSERT_EQ(t.size(), 1u) << "the services the set added are gone again";
    EXPECT_EQ(t[0].config.key, svc("10.0.0.9:80").key);
    EXPECT_EQ(t[0].config.sched, scheduler::rr) << "the edit is undone";
    EXPECT_EQ(_dp->get_timeouts()->udp, 300u) << "the timeouts are back";
    // An edit to it is refused alike and changes nothing.
    EXPECT_EQ(_dp->edit_service(svc("10.0.0.9:80", scheduler::twos)).error().code, ENOENT);
    EXPECT_EQ(table()[0].config.sched, scheduler::rr);
}

TEST_F(ipvs_kernel, a_clear_the_kernel_takes_is_undone_when_a_later_change_fails) {
    auto opt = kernel_option("CONFIG_IP_VS_TWOS");
    if (!opt.readable || opt.value) {
        GTEST_SKIP() << "needs a kernel known to lack the twos scheduler";
    }
    auto a = svc("10.0.0.1:80", scheduler::wrr);
    a.flags = XLB_IPVS_SVC_F_PERSISTENT;
    a.timeout = 77;
    ASSERT_TRUE(_dp->add_service(a));
    for (const char* r : {"10.1.0.11:80", "10.1.0.12:80", "10.1.0.13:80"}) {
        ASSERT_TRUE(_dp->add_dest(a.key, dest(r, 2)));
    }
    auto fwm = svc("0.0.0.0:0", scheduler::rr);
    fwm.key.fwmark = 9;
    ASSERT_TRUE(_dp->add_service(fwm));
    auto r = _dp->apply({change::clear_all(), change::add_service(svc("10.0.0.2:80", scheduler::twos))});
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().index, 1u);
    EXPECT_EQ(r.error().err.code, ENOENT);
    auto after = table();
    ASSERT_EQ(after.size(), 2u);
    const auto* s = find(after, a.key);
    ASSERT_TRUE(s);
    EXPECT_EQ(s->config.sched, scheduler::wrr);
    EXPECT_EQ(s->config.timeout, 77u);
    ASSERT_EQ(s->dests.size(), 3u);
    // Put back oldest first, so IPVS lists them newest first as before.
    const char* newest_first[] = {"10.1.0.13:80", "10.1.0.12:80", "10.1.0.11:80"};
    for (size_t i = 0; i < 3; ++i) {
        EXPECT_EQ(s->dests[i].config.addr, *endpoint::parse(newest_first[i]));
        EXPECT_EQ(s->dests[i].config.weight, 2);
    }
    EXPECT_TRUE(find(after, fwm.key));
}

TEST_F(ipvs_kernel, conn_table_size_is_the_kernels) {
    auto bits = kernel_option("CONFIG_IP_VS_TAB_BITS");
    if (!bits.readable || !bits.value) {
        GTEST_SKIP() << "no CONFIG_IP_VS_TAB_BITS in the running kernel's /boot/config";
    }
    // Unless ip_vs.conn_tab_bits was given at load: IPVS sizes it 2^bits.
    EXPECT_EQ(_dp->conn_table_size(), 1u << std::stoi(*bits.value));
}

TEST_F(ipvs_kernel, settings_round_trip_through_the_kernel) {
    auto c = svc("10.0.0.1:5060", scheduler::sh, protocol::udp);
    c.flags = XLB_IPVS_SVC_F_PERSISTENT | XLB_IPVS_SVC_F_SCHED1 | XLB_IPVS_SVC_F_SCHED2;
    c.timeout = 120;
    c.netmask = 0xffff0000;
    c.pe_name = "sip";
    ASSERT_TRUE(_dp->add_service(c));
    auto d = dest("10.1.0.11:5060", 2, forwarding::tun);
    d.tunnel = tun_type::gue;
    d.tun_port = 6080;
    d.tun_flags = XLB_TUN_F_CSUM;
    d.u_threshold = 50;
    d.l_threshold = 40;
    ASSERT_TRUE(_dp->add_dest(c.key, d));
    auto v6 = svc("[2001:db8::1]:443", scheduler::mh, protocol::sctp);
    v6.netmask = 64;
    ASSERT_TRUE(_dp->add_service(v6));
    // An IPv4 real server behind an IPv6 service: only with tunnelling.
    ASSERT_TRUE(_dp->add_dest(v6.key, dest("10.1.0.12:443", 1, forwarding::tun)));
    auto t = table();
    const auto* s = find(t, c.key);
    ASSERT_TRUE(s);
    EXPECT_EQ(s->config.sched, scheduler::sh);
    EXPECT_EQ(s->config.flags, c.flags) << "no HASHED: the kernel's own flag is not the model's";
    EXPECT_EQ(s->config.timeout, 120u);
    EXPECT_EQ(s->config.netmask, 0xffff0000u);
    EXPECT_EQ(s->config.pe_name, "sip");
    ASSERT_EQ(s->dests.size(), 1u);
    const auto& got = s->dests[0].config;
    EXPECT_EQ(got.addr, d.addr);
    EXPECT_EQ(got.fwd, forwarding::tun);
    EXPECT_EQ(got.weight, 2);
    EXPECT_EQ(got.tunnel, tun_type::gue);
    EXPECT_EQ(got.tun_port, 6080);
    EXPECT_EQ(got.tun_flags, XLB_TUN_F_CSUM);
    EXPECT_EQ(got.u_threshold, 50u);
    EXPECT_EQ(got.l_threshold, 40u);
    const auto* s6 = find(t, v6.key);
    ASSERT_TRUE(s6);
    EXPECT_EQ(s6->config.netmask, 64u);
    ASSERT_EQ(s6->dests.size(), 1u);
    EXPECT_EQ(s6->dests[0].config.addr, *endpoint::parse("10.1.0.12:443"));
    // A dest of the other family is deleted by its own family.
    EXPECT_TRUE(_dp->del_dest(v6.key, *endpoint::parse("10.1.0.12:443")));
}

// Local UDP to a VIP: IPVS schedules it at LOCAL_OUT and counts it before it
// forwards (ip_vs_in_stats() before packet_xmit), so the counters are known
// without a real server: one connection, each packet's IP length in bytes.
class ipvs_traffic : public ipvs_kernel {
protected:
    void SetUp() override {
        ipvs_kernel::SetUp();
        if (HasFatalFailure() || IsSkipped()) {
            return;
        }
        ASSERT_EQ(std::system("ip route replace 10.9.0.0/24 dev lo"), 0) << "a route for the test VIPs";
        _routed = true;
    }
    void TearDown() override {
        if (_routed) {
            (void)std::system("ip route del 10.9.0.0/24 dev lo");
        }
        ipvs_kernel::TearDown();
    }
    static void send_udp(const char* vip, uint16_t port, int packets, size_t payload) {
        int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        ASSERT_GE(fd, 0);
        sockaddr_in to{};
        to.sin_family = AF_INET;
        to.sin_port = htons(port);
        inet_pton(AF_INET, vip, &to.sin_addr);
        // One socket, so one source port: one IPVS connection.
        sockaddr_in from{};
        from.sin_family = AF_INET;
        ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&from), sizeof(from)), 0);
        std::string data(payload, 'x');
        for (int i = 0; i < packets; ++i) {
            (void)sendto(fd, data.data(), data.size(), 0, reinterpret_cast<sockaddr*>(&to), sizeof(to));
        }
        close(fd);
    }

    static std::string show(const counters& c) {
        return fmt::format("conns {} inpkts {} inbytes {} outpkts {} outbytes {}", c.conns, c.inpkts, c.inbytes,
                           c.outpkts, c.outbytes);
    }

    bool _routed = false;
};

TEST_F(ipvs_traffic, counters_count_and_zero_clears_one_service_or_all) {
    auto a = svc("10.9.0.1:5001", scheduler::rr, protocol::udp);
    auto b = svc("10.9.0.2:5002", scheduler::rr, protocol::udp);
    ASSERT_TRUE(_dp->add_service(a));
    ASSERT_TRUE(_dp->add_service(b));
    ASSERT_TRUE(_dp->add_dest(a.key, dest("10.1.0.11:5001")));
    ASSERT_TRUE(_dp->add_dest(b.key, dest("10.1.0.12:5002")));
    send_udp("10.9.0.1", 5001, 3, 100);
    send_udp("10.9.0.2", 5002, 2, 50);
    // IPv4 20 + UDP 8 + payload per packet.
    const counters want_a{1, 3, 3 * 128, 0, 0};
    const counters want_b{1, 2, 2 * 78, 0, 0};
    auto same = [](const counters& x, const counters& y) {
        return x.conns == y.conns && x.inpkts == y.inpkts && x.inbytes == y.inbytes && x.outpkts == y.outpkts &&
               x.outbytes == y.outbytes;
    };
    // The dump shows the per-CPU counters as the estimator last summed them
    // (ip_vs_copy_stats() reads kstats, which estimation_timer() fills
    // every 2 s): wait for that sum, then they must be exact.
    std::vector<service_state> t;
    for (int i = 0; i < 40; ++i) {
        t = table();
        ASSERT_TRUE(find(t, a.key) && find(t, b.key));
        if (find(t, a.key)->stats.inpkts >= want_a.inpkts && find(t, b.key)->stats.inpkts >= want_b.inpkts) {
            break;
        }
        usleep(200 * 1000);
    }
    EXPECT_TRUE(same(find(t, a.key)->stats, want_a)) << show(find(t, a.key)->stats);
    EXPECT_TRUE(same(find(t, a.key)->dests.at(0).stats, want_a));
    EXPECT_TRUE(same(find(t, b.key)->stats, want_b)) << show(find(t, b.key)->stats);
    EXPECT_EQ(find(t, a.key)->dests.at(0).inactive_conns + find(t, a.key)->dests.at(0).active_conns, 1u)
        << "the UDP connection counts on its dest";

    ASSERT_TRUE(_dp->zero(a.key));
    // Past the next estimator run: nothing counted before the zero comes back.
    usleep(2500 * 1000);
    t = table();
    EXPECT_TRUE(same(find(t, a.key)->stats, counters{}));
    EXPECT_TRUE(same(find(t, a.key)->dests.at(0).stats, counters{}));
    EXPECT_TRUE(same(find(t, b.key)->stats, want_b)) << "-Z of one service leaves the others";
    EXPECT_TRUE(same(find(t, b.key)->dests.at(0).stats, want_b));

    ASSERT_TRUE(_dp->zero(std::nullopt));
    t = table();
    EXPECT_TRUE(same(find(t, b.key)->stats, counters{}));
    EXPECT_TRUE(same(find(t, b.key)->dests.at(0).stats, counters{}));
}

// Real TCP connections through kernel IPVS: a server in a namespace of its
// own behind a veth, a NAT service on a VIP routed to that veth, clients in
// the VM's root namespace (IPVS schedules a local client at LOCAL_OUT and
// takes the replies at LOCAL_IN). What list_conns() must show comes from
// what the test did: its addresses, the ports its sockets got.
class ipvs_conns : public ipvs_kernel {
protected:
    static constexpr const char* ns = "xlbconn";
    void SetUp() override {
        ipvs_kernel::SetUp();
        if (HasFatalFailure() || IsSkipped()) {
            return;
        }
        _made = true;
        ASSERT_EQ(std::system("ip netns add xlbconn && ip link add xlbch type veth peer name xlbcs && "
                              "ip link set dev xlbcs netns xlbconn && ip addr add 10.77.0.1/24 dev xlbch && "
                              "ip link set dev xlbch up && ip -n xlbconn link set dev lo up && "
                              "ip -n xlbconn addr add 10.77.0.2/24 dev xlbcs && ip -n xlbconn link set dev xlbcs up && "
                              "ip route replace 10.77.1.0/24 dev xlbch"),
                  0);
        // The listener is made in the server's namespace and stays there.
        in_netns(ns, [this] {
            _listener = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
            int one = 1;
            setsockopt(_listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
            sockaddr_in a = v4("10.77.0.2", 8080);
            if (bind(_listener, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0 || listen(_listener, 16) != 0) {
                throw std::runtime_error("cannot listen on 10.77.0.2:8080 in the server's namespace");
            }
        });
    }
    void TearDown() override {
        for (int fd : _fds) {
            close(fd);
        }
        if (_listener >= 0) {
            close(_listener);
        }
        if (_made) {
            (void)std::system("ip route del 10.77.1.0/24 dev xlbch 2>/dev/null; ip link del xlbch 2>/dev/null; "
                              "ip netns del xlbconn 2>/dev/null");
        }
        ipvs_kernel::TearDown();
    }
    static sockaddr_in v4(const char* addr, uint16_t port) {
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_port = htons(port);
        inet_pton(AF_INET, addr, &a.sin_addr);
        return a;
    }
    // Connects to vip:port and lets the server accept it; the client's
    // own address as the kernel chose it.
    endpoint connect_to(const char* vip, uint16_t port) {
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        EXPECT_GE(fd, 0);
        _fds.push_back(fd);
        timeval tv{5, 0};
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
        sockaddr_in to = v4(vip, port);
        if (connect(fd, reinterpret_cast<sockaddr*>(&to), sizeof(to)) != 0) {
            ADD_FAILURE() << "connect to " << vip << ":" << port << ": " << std::strerror(errno);
            return {};
        }
        int s = accept(_listener, nullptr, nullptr);
        EXPECT_GE(s, 0) << "the server accepts what IPVS sent it";
        _fds.push_back(s);
        sockaddr_in me{};
        socklen_t len = sizeof(me);
        getsockname(fd, reinterpret_cast<sockaddr*>(&me), &len);
        char text[INET_ADDRSTRLEN];
        inet_ntop(AF_INET, &me.sin_addr, text, sizeof(text));
        return endpoint{*ip_address::parse(text), ntohs(me.sin_port)};
    }
    // The connections of one VIP (others may linger from earlier cases).
    std::vector<conn_state> conns_of(const char* vip) {
        auto c = _dp->list_conns();
        EXPECT_TRUE(c) << c.error().message();
        std::vector<conn_state> out;
        for (const auto& x : c ? *c : std::vector<conn_state>{}) {
            if (x.vip.addr == *ip_address::parse(vip)) {
                out.push_back(x);
            }
        }
        return out;
    }

    bool _made = false;
    int _listener = -1;
    std::vector<int> _fds;
};

TEST_F(ipvs_conns, established_connections_are_listed_as_the_kernel_tracks_them) {
    EXPECT_TRUE(_dp->caps().conn_listing);
    auto s = svc("10.77.1.1:80", scheduler::rr);
    ASSERT_TRUE(_dp->add_service(s));
    ASSERT_TRUE(_dp->add_dest(s.key, dest("10.77.0.2:8080", 1, forwarding::nat)));
    std::set<endpoint> clients;
    for (int i = 0; i < 3; ++i) {
        clients.insert(connect_to("10.77.1.1", 80));
    }
    ASSERT_FALSE(HasFailure());
    ASSERT_EQ(clients.size(), 3u);
    // The final ACK of each handshake moves IPVS's entry to ESTABLISHED.
    std::vector<conn_state> c;
    for (int i = 0; i < 20; ++i) {
        c = conns_of("10.77.1.1");
        if (c.size() == 3 && std::all_of(c.begin(), c.end(), [](const conn_state& x) {
                return x.state == XLB_TCP_S_ESTABLISHED;
            })) {
            break;
        }
        usleep(100 * 1000);
    }
    ASSERT_EQ(c.size(), 3u);
    std::set<endpoint> listed;
    for (const auto& x : c) {
        EXPECT_EQ(x.proto, protocol::tcp);
        EXPECT_FALSE(x.is_template);
        EXPECT_EQ(x.vip, *endpoint::parse("10.77.1.1:80"));
        EXPECT_EQ(x.dest, *endpoint::parse("10.77.0.2:8080"));
        EXPECT_EQ(conn_state_name(x), "ESTABLISHED");
        // ESTABLISHED's timeout is the table's tcp one (900 s here).
        EXPECT_GT(x.expire_s, 800u);
        EXPECT_LE(x.expire_s, 900u);
        listed.insert(x.client);
    }
    EXPECT_EQ(listed, clients);

    // -L -c -n as ipvsadm prints it (print_conn()): one line per entry.
    auto o = ipvsadm::execute(std::get<ipvsadm::command>(ipvsadm::parse({"-L", "-c", "-n"}, "ipvsadm")), *_dp);
    EXPECT_EQ(o.exit_code, 0) << o.err;
    EXPECT_EQ(o.out.rfind("IPVS connection entries\n"
                          "pro expire state       source             virtual            destination\n",
                          0),
              0u)
        << o.out;
    for (const auto& cl : clients) {
        auto line = fmt::format(" ESTABLISHED {:<18} {:<18} {}\n", cl.to_string(), "10.77.1.1:80", "10.77.0.2:8080");
        EXPECT_NE(o.out.find(line), std::string::npos) << line << "\nin\n" << o.out;
    }
}

TEST_F(ipvs_conns, a_persistent_service_lists_its_template) {
    auto s = svc("10.77.1.2:80", scheduler::rr);
    s.flags = XLB_IPVS_SVC_F_PERSISTENT;
    s.timeout = 120;
    ASSERT_TRUE(_dp->add_service(s));
    ASSERT_TRUE(_dp->add_dest(s.key, dest("10.77.0.2:8080", 1, forwarding::nat)));
    auto client = connect_to("10.77.1.2", 80);
    ASSERT_FALSE(HasFailure());
    auto c = conns_of("10.77.1.2");
    ASSERT_EQ(c.size(), 2u) << "the connection and its template";
    const auto tpl = std::find_if(c.begin(), c.end(), [](const conn_state& x) { return x.is_template; });
    const auto flow = std::find_if(c.begin(), c.end(), [](const conn_state& x) { return !x.is_template; });
    ASSERT_NE(tpl, c.end());
    ASSERT_NE(flow, c.end());
    EXPECT_EQ(flow->client, client);
    EXPECT_EQ(flow->dest, *endpoint::parse("10.77.0.2:8080"));
    // ip_vs_sched_persist(): the template holds the client masked (/32
    // here), port 0, the virtual service and the dest it chose.
    EXPECT_EQ(tpl->proto, protocol::tcp);
    EXPECT_EQ(tpl->client, (endpoint{client.addr, 0}));
    EXPECT_EQ(tpl->vip, *endpoint::parse("10.77.1.2:80"));
    EXPECT_EQ(tpl->dest, *endpoint::parse("10.77.0.2:8080"));
    EXPECT_LE(tpl->expire_s, 120u);
    EXPECT_GT(tpl->expire_s, 100u);
}

// The kernel's sync daemon, on a veth with an address (a master's socket
// binds to the interface's address), started, listed, stopped.
class ipvs_daemon : public ipvs_kernel {
protected:
    void SetUp() override {
        ipvs_kernel::SetUp();
        if (HasFatalFailure() || IsSkipped()) {
            return;
        }
        _made = true;
        ASSERT_EQ(std::system("ip link add xlbsd0 type veth peer name xlbsd1 && ip addr add 10.78.0.1/24 dev xlbsd0 && "
                              "ip link set dev xlbsd0 up && ip link set dev xlbsd1 up"),
                  0);
    }
    void TearDown() override {
        if (_made) {
            // A case that failed half way may leave one running.
            if (auto l = _dp->list_sync_daemons(); l && !l->empty()) {
                usleep(500 * 1000);
            }
            (void)_dp->stop_sync_daemon(sync_state::master);
            (void)_dp->stop_sync_daemon(sync_state::backup);
            (void)std::system("ip link del xlbsd0 2>/dev/null");
        }
        ipvs_kernel::TearDown();
    }
    bool _made = false;
};

TEST_F(ipvs_daemon, a_master_starts_lists_and_stops) {
    auto none = _dp->list_sync_daemons();
    ASSERT_TRUE(none) << none.error().message();
    EXPECT_TRUE(none->empty());

    sync_daemon m;
    m.mcast_ifn = "xlbsd0";
    m.syncid = 9;
    m.sync_maxlen = 1000;
    m.mcast_group = *ip_address::parse("239.0.0.5");
    m.mcast_port = 8850;
    m.mcast_ttl = 2;
    auto r = _dp->start_sync_daemon(m);
    ASSERT_TRUE(r) << r.error().message();
    auto l = _dp->list_sync_daemons();
    ASSERT_TRUE(l) << l.error().message();
    ASSERT_EQ(l->size(), 1u);
    EXPECT_EQ(l->at(0), m) << "every option as it was given";
    // The master's socket sends to the group and port given: /proc/net/udp
    // shows its remote end as the raw address word and the port in hex
    // (239.0.0.5 -> 050000EF on this little-endian VM, 8850 -> 2292).
    std::ifstream udp("/proc/net/udp");
    std::string udp_text((std::istreambuf_iterator<char>(udp)), std::istreambuf_iterator<char>());
    EXPECT_NE(udp_text.find("050000EF:2292"), std::string::npos) << udp_text;

    auto o = ipvsadm::execute(std::get<ipvsadm::command>(ipvsadm::parse({"-L", "--daemon"}, "ipvsadm")), *_dp);
    EXPECT_EQ(o.out, "master sync daemon (mcast=xlbsd0, syncid=9, maxlen=1000, group=239.0.0.5, port=8850, ttl=2)\n");

    // start_sync_thread(): one daemon per state.
    auto again = _dp->start_sync_daemon(m);
    ASSERT_FALSE(again);
    EXPECT_EQ(again.error().code, EEXIST) << again.error().message();
    auto cli = ipvsadm::execute(std::get<ipvsadm::command>(ipvsadm::parse(
                                    {"--start-daemon", "master", "--mcast-interface", "xlbsd0"}, "ipvsadm")),
                                *_dp);
    EXPECT_EQ(cli.exit_code, 255);
    EXPECT_EQ(cli.err, "Daemon has already run\n");

    usleep(500 * 1000); // see options_left_out_are_the_kernels_defaults
    ASSERT_TRUE(_dp->stop_sync_daemon(sync_state::master));
    l = _dp->list_sync_daemons();
    ASSERT_TRUE(l);
    EXPECT_TRUE(l->empty());

    // stop_sync_thread(): none of that state runs.
    auto stop = _dp->stop_sync_daemon(sync_state::master);
    ASSERT_FALSE(stop);
    EXPECT_EQ(stop.error().code, ESRCH) << stop.error().message();
    cli = ipvsadm::execute(std::get<ipvsadm::command>(ipvsadm::parse({"--stop-daemon", "backup"}, "ipvsadm")), *_dp);
    EXPECT_EQ(cli.exit_code, 255);
    EXPECT_EQ(cli.err, "No daemon is running\n");
}

TEST_F(ipvs_daemon, options_left_out_are_the_kernels_defaults) {
    sync_daemon m;
    m.mcast_ifn = "xlbsd0";
    auto r = _dp->start_sync_daemon(m);
    ASSERT_TRUE(r) << r.error().message();
    auto l = _dp->list_sync_daemons();
    ASSERT_TRUE(l) << l.error().message();
    ASSERT_EQ(l->size(), 1u);
    const auto& d = l->at(0);
    EXPECT_EQ(d.state, sync_state::master);
    EXPECT_EQ(d.mcast_ifn, "xlbsd0");
    EXPECT_EQ(d.syncid, 0);
    // ip_vs_sync.c: IP_VS_SYNC_GROUP, IP_VS_SYNC_PORT, TTL 1.
    EXPECT_EQ(d.mcast_group, ip_address::parse("224.0.0.81"));
    EXPECT_EQ(d.mcast_port, 8848);
    EXPECT_EQ(d.mcast_ttl, 1);
    // The largest message a 1500-byte MTU takes: IPv4 20 and UDP 8 less.
    EXPECT_EQ(d.sync_maxlen, 1472);
    // Found here on 6.1: a DEL_DAEMON sent within a few milliseconds of the
    // NEW_DAEMON never returned (twice), so the master gets a moment to
    // settle before it is stopped.
    usleep(500 * 1000);
    EXPECT_TRUE(_dp->stop_sync_daemon(sync_state::master));
}

TEST_F(ipvs_daemon, an_unknown_interface_is_the_kernels_errno) {
    sync_daemon m;
    m.mcast_ifn = "xlbnosuch";
    auto r = _dp->start_sync_daemon(m);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, ENODEV) << r.error().message();
    auto l = _dp->list_sync_daemons();
    ASSERT_TRUE(l);
    EXPECT_TRUE(l->empty());
}

} // namespace

// carry_conns(): xlb's connection entries handed to the kernel through
// IPVS's own sync protocol, as a table move from XDP does. The entries are
// ones the schedulers would not make here (rr's first pick is the first
// dest; each flow names the second), so each one listed is carried, not
// scheduled. On ipvs_daemon's veth, whose teardown also stops any daemon a
// case leaves running.
class ipvs_carry : public ipvs_daemon {
protected:
    void SetUp() override {
        ipvs_daemon::SetUp();
        if (HasFatalFailure() || IsSkipped()) {
            return;
        }
        auto t = svc("10.89.0.1:80", scheduler::rr);
        auto u = svc("10.89.0.1:53", scheduler::rr, protocol::udp);
        u.flags = XLB_IPVS_SVC_F_PERSISTENT;
        u.timeout = 300;
        u.netmask = 0xffffff00;
        auto v6 = svc("[2001:db8:89::1]:443", scheduler::rr);
        v6.netmask = 128;
        ASSERT_TRUE(_dp->apply({change::add_service(t), change::add_dest(t.key, dest("10.88.0.2:80")),
                                change::add_dest(t.key, dest("10.88.0.3:80")), change::add_service(u),
                                change::add_dest(u.key, dest("10.88.0.2:53")),
                                change::add_dest(u.key, dest("10.88.0.3:53")), change::add_service(v6),
                                change::add_dest(v6.key, dest("[2001:db8:88::2]:443")),
                                change::add_dest(v6.key, dest("[2001:db8:88::3]:443"))}));
    }
    static conn_state flow(protocol p, const char* client, const char* vip, const char* dst, uint8_t state,
                           uint32_t expire) {
        conn_state c;
        c.proto = p;
        c.client = *endpoint::parse(client);
        c.vip = *endpoint::parse(vip);
        c.dest = *endpoint::parse(dst);
        c.state = state;
        c.expire_s = expire;
        return c;
    }
    static const conn_state* listed(const std::vector<conn_state>& all, const conn_state& c) {
        for (const auto& l : all) {
            if (l.proto == c.proto && l.client == c.client && l.vip == c.vip && l.is_template == c.is_template) {
                return &l;
            }
        }
        return nullptr;
    }
};

TEST_F(ipvs_carry, flows_and_templates_keep_their_dest_state_and_time_left) {
    std::vector<conn_state> conns = {
        flow(protocol::tcp, "10.0.0.5:40000", "10.89.0.1:80", "10.88.0.3:80", XLB_TCP_S_ESTABLISHED, 800),
        flow(protocol::tcp, "10.0.0.5:40001", "10.89.0.1:80", "10.88.0.3:80", XLB_TCP_S_FIN_WAIT, 100),
        flow(protocol::udp, "10.0.0.6:5353", "10.89.0.1:53", "10.88.0.3:53", XLB_UDP_S_NORMAL, 250),
        flow(protocol::tcp, "[2001:db8::5]:40002", "[2001:db8:89::1]:443", "[2001:db8:88::3]:443",
             XLB_TCP_S_ESTABLISHED, 700),
    };
    auto tpl = flow(protocol::udp, "10.0.0.0:0", "10.89.0.1:53", "10.88.0.3:53", 0, 280);
    tpl.is_template = true;
    conns.push_back(tpl);

    auto carried = _dp->carry_conns(conns, "xlbsd0");
    ASSERT_TRUE(carried) << carried.error().message();
    EXPECT_EQ(*carried, conns.size());
    auto all = _dp->list_conns();
    ASSERT_TRUE(all) << all.error().message();
    for (const auto& c : conns) {
        SCOPED_TRACE(c.client.to_string());
        const auto* l = listed(*all, c);
        ASSERT_NE(l, nullptr);
        EXPECT_EQ(l->dest, c.dest);
        EXPECT_EQ(conn_state_name(*l), conn_state_name(c));
        // Counting down from the time left it was given (the VM is slow).
        EXPECT_LE(l->expire_s, c.expire_s);
        EXPECT_GE(l->expire_s + 20, c.expire_s);
    }
    // ip_vs_bind_dest(): an ESTABLISHED flow counts active, the rest not.
    auto t = table();
    const auto* s = find(t, service_key{protocol::tcp, *endpoint::parse("10.89.0.1:80")});
    ASSERT_NE(s, nullptr);
    for (const auto& d : s->dests) {
        bool second = d.config.addr == *endpoint::parse("10.88.0.3:80");
        EXPECT_EQ(d.active_conns, second ? 1u : 0u) << d.config.addr.to_string();
        EXPECT_EQ(d.inactive_conns, second ? 1u : 0u) << d.config.addr.to_string();
    }
    // The backup daemon it started for this is gone.
    auto daemons = _dp->list_sync_daemons();
    ASSERT_TRUE(daemons);
    EXPECT_TRUE(daemons->empty());
}

TEST_F(ipvs_carry, a_running_backup_daemon_is_used_and_kept) {
    sync_daemon b;
    b.state = sync_state::backup;
    b.mcast_ifn = "xlbsd0";
    b.syncid = 7;
    ASSERT_TRUE(_dp->start_sync_daemon(b));
    auto c = flow(protocol::tcp, "10.0.0.7:41000", "10.89.0.1:80", "10.88.0.3:80", XLB_TCP_S_ESTABLISHED, 600);
    auto carried = _dp->carry_conns({c}, "xlbsd0");
    ASSERT_TRUE(carried) << carried.error().message();
    EXPECT_EQ(*carried, 1u);
    auto daemons = _dp->list_sync_daemons();
    ASSERT_TRUE(daemons);
    ASSERT_EQ(daemons->size(), 1u);
    EXPECT_EQ(daemons->at(0).syncid, 7);
}

TEST_F(ipvs_carry, what_the_protocol_cannot_carry_is_refused_before_anything_is_sent) {
    // A dest of the other family (an IPv6 tunnel behind an IPv4 VIP).
    auto mixed = flow(protocol::tcp, "10.0.0.8:42000", "10.89.0.1:80", "[2001:db8:88::3]:80", XLB_TCP_S_ESTABLISHED,
                      600);
    auto plain = flow(protocol::tcp, "10.0.0.8:42001", "10.89.0.1:80", "10.88.0.3:80", XLB_TCP_S_ESTABLISHED, 600);
    auto r = _dp->carry_conns({plain, mixed}, "xlbsd0");
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, EINVAL) << r.error().message();
    auto all = _dp->list_conns();
    ASSERT_TRUE(all);
    EXPECT_EQ(listed(*all, plain), nullptr) << "nothing was sent";
    auto daemons = _dp->list_sync_daemons();
    ASSERT_TRUE(daemons);
    EXPECT_TRUE(daemons->empty());

    auto none = _dp->carry_conns({plain}, "xlbnosuch0");
    ASSERT_FALSE(none);
    EXPECT_EQ(none.error().code, ENODEV) << none.error().message();
}
