// -L --rate on real traffic: several seconds of TCP connections from the
// client namespace through xlb (DR), with no daemon running. The estimator
// in the data path must show rates near the real ones, and --stats must count
// exactly what the client sent.

#include "support/lab_fixture.h"

#include <chrono>
#include <thread>

using namespace xlb::test;

namespace {

// "Ip: Forwarding DefaultTTL ..." followed by "Ip: 1 64 ...", as in
// /proc/net/snmp and /proc/net/netstat: the named counter of a group.
uint64_t snmp_counter(const std::string& text, const std::string& group, const std::string& name) {
    std::istringstream in(text);
    std::string names, values;
    while (std::getline(in, names) && std::getline(in, values)) {
        if (names.rfind(group + ":", 0) != 0) {
            continue;
        }
        std::istringstream n(names), v(values);
        std::string key, val;
        while (n >> key && v >> val) {
            if (key == name) {
                return std::stoull(val);
            }
        }
    }
    ADD_FAILURE() << "no counter " << group << " " << name;
    return 0;
}

// The five numbers after `what` on its line of a --stats or --rate listing:
// Conns/CPS, InPkts/InPPS, OutPkts/OutPPS, InBytes/InBPS, OutBytes/OutBPS.
struct row {
    uint64_t conns = 0, inpkts = 0, outpkts = 0, inbytes = 0, outbytes = 0;
};

row row_of(const std::string& listing, const std::string& what) {
    row r;
    auto at = listing.find(what);
    if (at == std::string::npos) {
        ADD_FAILURE() << what << " not listed:\n" << listing;
        return r;
    }
    std::istringstream in(listing.substr(at + what.size(), listing.find('\n', at) - at - what.size()));
    in >> r.conns >> r.inpkts >> r.outpkts >> r.inbytes >> r.outbytes;
    EXPECT_FALSE(in.fail()) << "unparsable line for " << what << ":\n" << listing;
    return r;
}

class rate_lab : public lab_fixture {
protected:
    struct sent {
        uint64_t packets = 0, bytes = 0;
    };
    // What the client's IP layer has sent so far: every packet it sends in
    // this lab goes to the VIP.
    sent client_sent() {
        auto ns = fmt::format("ip netns exec {}-cli cat ", _prefix);
        return {snmp_counter(sh_out(ns + "/proc/net/snmp"), "Ip", "OutRequests"),
                snmp_counter(sh_out(ns + "/proc/net/netstat"), "IpExt", "OutOctets")};
    }
};

TEST_F(rate_lab, rate_follows_real_traffic_with_no_daemon) {
    ASSERT_EQ(xlbctl("-A -t 10.77.0.100:80 -s rr"), 0);
    for (const char* b : {"b1", "b2", "b3"}) {
        ASSERT_EQ(xlbctl(fmt::format("-a -t 10.77.0.100:80 -r {} -g -w 1", server_ip(b))), 0);
    }

    // About 14 s of connections, paced to a steady 800 a second: the
    // estimator runs every 2 s, and 6 runs take its average within a fifth
    // of a steady rate. Every connection should be a new one for the
    // director, so the client's ports are many:
    ASSERT_EQ(sh(fmt::format("ip netns exec {}-cli sysctl -qw net.ipv4.ip_local_port_range='1024 65535'", _prefix)),
              0);
    // Linux may still hand a port out again within seconds. A SYN on a flow
    // in FIN_WAIT joins that connection uncounted, in IPVS (conn_reuse_mode
    // 1) as in xlb; a 1 s FIN_WAIT timeout lets such flows go first.
    ASSERT_EQ(xlbctl("--set 0 1 0"), 0);
    constexpr double target = 800;
    auto before = client_sent();
    auto t0 = std::chrono::steady_clock::now();
    auto elapsed = [&] { return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(); };
    long conns = 0, failed = 0;
    while (elapsed() < 14) {
        auto t = connect("10.77.0.100", 40);
        for (const auto& [name, n] : t) {
            (name == "failed" ? failed : conns) += n;
        }
        if (double ahead = (conns + failed) / target - elapsed(); ahead > 0) {
            std::this_thread::sleep_for(std::chrono::duration<double>(ahead));
        }
    }
    double secs = elapsed();
    auto rate = xlbctl_out("-L -n --rate");
    auto after = client_sent();
    EXPECT_EQ(failed, 0);
    ASSERT_GT(conns, 0);

    // Counters: exactly the traffic sent. Every connection counts once, and
    // every packet finds its flow: none is passed to the kernel with no flow
    // and no SYN (`pass_tcp_not_syn`), which would reset the connection.
    auto stats = xlbctl_out("-L -n --stats --exact");
    auto s = row_of(stats, "TCP  10.77.0.100:80");
    auto sent_pkts = after.packets - before.packets, sent_bytes = after.bytes - before.bytes;
    EXPECT_EQ(s.conns, static_cast<uint64_t>(conns)) << stats;
    auto status = xlbctl_out("status");
    EXPECT_EQ(s.inpkts, sent_pkts) << stats << status;
    EXPECT_EQ(s.inbytes, sent_bytes) << stats;
    EXPECT_NE(status.find(" pass_tcp_not_syn"), std::string::npos) << status;
    EXPECT_EQ(status.find(" pass_tcp_not_syn"), status.find(" pass_tcp_not_syn     pass                0")) << status;
    EXPECT_EQ(s.outpkts, 0u) << "DR: the director never sees replies\n" << stats;

    // Rates: near the real ones, within a factor of 2 (the average lags a
    // ramp-up, and the last period may be cut short).
    auto r = row_of(rate, "TCP  10.77.0.100:80");
    double cps = conns / secs;
    double pps = static_cast<double>(after.packets - before.packets) / secs;
    double bps = static_cast<double>(after.bytes - before.bytes) / secs;
    EXPECT_GE(r.conns, cps / 2) << rate;
    EXPECT_LE(r.conns, cps * 2) << rate;
    EXPECT_GE(r.inpkts, pps / 2) << rate;
    EXPECT_LE(r.inpkts, pps * 2) << rate;
    EXPECT_GE(r.inbytes, bps / 2) << rate;
    EXPECT_LE(r.inbytes, bps * 2) << rate;
    EXPECT_EQ(r.outpkts, 0u) << rate;
    EXPECT_EQ(r.outbytes, 0u) << rate;
    for (const char* b : {"b1", "b2", "b3"}) {
        auto d = row_of(rate, fmt::format("-> {}:80", server_ip(b)));
        EXPECT_GT(d.conns, 0u) << b << "\n" << rate;
        EXPECT_GT(d.inpkts, 0u) << b << "\n" << rate;
        EXPECT_GT(d.inbytes, 0u) << b << "\n" << rate;
    }
    std::printf("real: %.0f conn/s %.0f pkt/s %.0f B/s over %.1f s\n%s", cps, pps, bps, secs, rate.c_str());
}

} // namespace
