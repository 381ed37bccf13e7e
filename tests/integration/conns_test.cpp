// xlbctl -L -n -c with real TCP connections held open from the client
// namespace: each must be listed once, ESTABLISHED, on the server that
// answered it.

#include "support/lab_fixture.h"
#include "support/packet.h"

#include <netinet/ip.h>

#include <algorithm>
#include <chrono>
#include <random>
#include <thread>

using namespace xlb::test;

namespace {

// The client's address:port of a held connection, as -n prints it.
std::string local_endpoint(const held_connection& c) {
    sockaddr_in a{};
    socklen_t len = sizeof(a);
    if (getsockname(c.fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
        return {};
    }
    char buf[INET_ADDRSTRLEN] = {};
    inet_ntop(AF_INET, &a.sin_addr, buf, sizeof(buf));
    return fmt::format("{}:{}", buf, ntohs(a.sin_port));
}

// The listing's line for a connection from client, without the expiry.
std::string row_tail(const std::string& state, const std::string& client, const std::string& dest) {
    return fmt::format(" {:<11} {:<18} {:<18} {}\n", state, client, "10.77.0.100:80", dest);
}

// The expiry column of the line that ends with tail ("mm:ss"), or "".
std::string expiry_of(const std::string& list, const std::string& tail) {
    auto at = list.find(tail);
    if (at == std::string::npos) {
        return {};
    }
    auto bol = list.rfind('\n', at);
    auto line = list.substr(bol + 1, at - bol - 1); // "TCP mm:ss "
    return line.size() > 4 ? line.substr(4, line.find(' ', 4) - 4) : "";
}

class conns_lab : public lab_fixture {
protected:
    explicit conns_lab(std::string mode = "dr") : lab_fixture(std::move(mode)) {}

    void check_held(const std::string& dest_net) {
        // Which server took each is rr's per-CPU business; the listing must
        // name the one that answered.
        auto list = xlbctl_out("-L -n -c");
        ASSERT_EQ(list.rfind("IPVS connection entries\n"
                             "pro expire state       source             virtual            destination\n",
                             0),
                  0u)
            << list;
        size_t rows = std::count(list.begin(), list.end(), '\n') - 2;
        EXPECT_EQ(rows, _names.size()) << "each connection once:\n" << list;
        for (size_t i = 0; i < _names.size(); ++i) {
            auto dest = fmt::format("10.{}.0.1{}:80", dest_net, _names[i].back());
            auto tail = row_tail("ESTABLISHED", local_endpoint(*_held[i]), dest);
            auto expire = expiry_of(list, tail);
            EXPECT_TRUE(expire == "15:00" || expire.rfind("14:5", 0) == 0)
                << "ESTABLISHED, 900 s from the last packet, on " << _names[i] << ":\n"
                << list;
        }
    }

    void hold_three() {
        for (int i = 0; i < 3; ++i) {
            auto name = hold("10.77.0.100");
            ASSERT_FALSE(name.empty());
            _names.push_back(name);
        }
    }

    std::vector<std::string> _names;
};

TEST_F(conns_lab, dr_connections_are_listed_established_on_their_servers) {
    ASSERT_EQ(xlbctl("-A -t 10.77.0.100:80 -s rr"), 0);
    for (const char* b : {"b1", "b2", "b3"}) {
        ASSERT_EQ(xlbctl(fmt::format("-a -t 10.77.0.100:80 -r {} -g", server_ip(b))), 0);
    }
    hold_three();
    check_held("77");

    // The client closes one: its FIN moves the flow to FIN_WAIT (IPVS's
    // INPUT-ONLY table), with the 120 s FIN timeout.
    auto client = local_endpoint(*_held[0]);
    auto dest = fmt::format("10.77.0.1{}:80", _names[0].back());
    ::close(_held[0]->fd);
    _held[0]->fd = -1;
    std::string list, expire;
    for (int i = 0; i < 50 && expire.empty(); ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
        list = xlbctl_out("-Lnc");
        expire = expiry_of(list, row_tail("FIN_WAIT", client, dest));
    }
    EXPECT_TRUE(expire == "02:00" || expire.rfind("01:5", 0) == 0) << list;
}

// SYNs from a second client: spoofed sources in 10.200.0.0/16 (none of them
// routed back; the servers' SYN-ACKs go nowhere), sent from the client
// namespace with a raw socket, all to the VIP.
void syn_flood(const std::string& ns, const std::string& vip, int n) {
    in_netns(ns, [&] {
        int fd = ::socket(AF_INET, SOCK_RAW, IPPROTO_RAW);
        ASSERT_GE(fd, 0) << "raw socket";
        std::mt19937 rng(11);
        sockaddr_in to{};
        to.sin_family = AF_INET;
        inet_pton(AF_INET, vip.c_str(), &to.sin_addr);
        int sent = 0;
        for (int i = 0; i < n; ++i) {
            packet_spec p;
            p.saddr = *xlb::ip_address::parse(fmt::format("10.200.{}.{}", (rng() >> 8) & 0xff, rng() % 254 + 1));
            p.daddr = *xlb::ip_address::parse(vip);
            p.sport = static_cast<uint16_t>(1024 + rng() % 60000);
            p.dport = 80;
            p.tcp_flags = tcp_syn;
            auto frame = build(p);
            sent += ::sendto(fd, frame.data() + 14, frame.size() - 14, 0, reinterpret_cast<sockaddr*>(&to),
                             sizeof(to)) == static_cast<ssize_t>(frame.size() - 14);
        }
        ::close(fd);
        EXPECT_EQ(sent, n);
    });
}

TEST_F(conns_lab, fifty_connections_outlive_a_syn_flood) {
    ASSERT_EQ(xlbctl("-A -t 10.77.0.100:80 -s rr"), 0);
    for (const char* b : {"b1", "b2", "b3"}) {
        ASSERT_EQ(xlbctl(fmt::format("-a -t 10.77.0.100:80 -r {} -g", server_ip(b))), 0);
    }
    for (int i = 0; i < 50; ++i) {
        auto name = hold("10.77.0.100");
        ASSERT_FALSE(name.empty()) << i;
        _names.push_back(name);
    }
    // The lab loads 65,536 flows, so 16,384 embryonic: the flood is four
    // times that, the whole flow table's size.
    syn_flood(_prefix + "-cli", "10.77.0.100", 65536);
    auto status = xlbctl_out("--json status");
    EXPECT_NE(status.find("\"embryonic\":{\"used\":"), std::string::npos) << status;
    int kept = 0;
    for (size_t i = 0; i < _names.size(); ++i) {
        kept += _held[i]->ask() == _names[i];
    }
    EXPECT_EQ(kept, 50) << "every held connection answers from its own server\n" << xlbctl_out("status");
    // The flood went through the embryonic table: it is full or nearly.
    auto st = xlbctl_out("status");
    auto at = st.find("embryonic: ");
    ASSERT_NE(at, std::string::npos) << st;
    unsigned long used = std::stoul(st.substr(at + 11));
    EXPECT_GE(used, 16384ul * 9 / 10) << st;
}

class nat_conns_lab : public conns_lab {
protected:
    nat_conns_lab() : conns_lab("nat") {}
};

TEST_F(nat_conns_lab, nat_connections_are_listed_once) {
    ASSERT_EQ(xlbctl("-A -t 10.77.0.100:80 -s rr"), 0);
    for (const char* b : {"b1", "b2", "b3"}) {
        ASSERT_EQ(xlbctl(fmt::format("-a -t 10.77.0.100:80 -r {}:80 -m", server_ip(b))), 0);
    }
    hold_three();
    check_held("78");
}

} // namespace
