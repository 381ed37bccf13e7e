// model/validate: the addresses kernel IPVS refuses for a real server, and
// the warnings for what it accepts that xlb cannot balance. The expected
// values are the kernel's rules (net/netfilter/ipvs/ip_vs_ctl.c
// ip_vs_new_dest(), net/ipv4/fib_frontend.c __inet_dev_addr_type(),
// net/ipv6/addrconf_core.c __ipv6_addr_type()); more.golden's A_* and W_*
// sections show the same answers from ipvsadm 1.31 on Debian 12's 6.1.

#include <xlb/model/validate.h>

#include <gtest/gtest.h>

#include <cerrno>

using namespace xlb;

namespace {

service_key svc(const char* vip, protocol p = protocol::tcp) {
    return service_key{p, *endpoint::parse(vip)};
}

dest_config dest(const char* addr, forwarding f = forwarding::dr) {
    dest_config d;
    d.addr = *endpoint::parse(addr);
    d.fwd = f;
    return d;
}

int refusal(const service_key& s, const dest_config& d) {
    auto r = check_dest_address(s, d);
    return r ? 0 : r.error().code;
}

} // namespace

TEST(validate, ipv4_real_servers_must_be_unicast_or_local) {
    const auto s = svc("203.0.113.10:80");
    struct row {
        const char* addr;
        int want;
        const char* why;
    };
    const row rows[] = {
        {"0.0.0.0:80", EINVAL, "ipv4_is_zeronet(): RTN_BROADCAST"},
        {"255.255.255.255:80", EINVAL, "ipv4_is_lbcast(): RTN_BROADCAST"},
        {"224.0.0.5:80", EINVAL, "ipv4_is_multicast(): RTN_MULTICAST"},
        {"239.255.255.250:8080", EINVAL, "the top of 224.0.0.0/4"},
        {"127.255.255.255:80", EINVAL, "lo's broadcast route in the local table"},
        {"0.1.2.3:80", 0, "only 0.0.0.0 is zeronet since Linux 5.3"},
        {"127.0.0.1:80", 0, "RTN_LOCAL"},
        {"127.1.2.3:80", 0, "RTN_LOCAL: lo's 127.0.0.0/8 local route"},
        {"223.255.255.255:80", 0, "below 224.0.0.0/4"},
        {"240.0.0.1:80", 0, "class E is not multicast: RTN_UNICAST"},
        {"198.51.100.13:80", 0, "RTN_UNICAST"},
        {"203.0.113.10:80", 0, "the VIP itself: unicast, accepted"},
    };
    for (const auto& r : rows) {
        EXPECT_EQ(refusal(s, dest(r.addr)), r.want) << r.addr << ": " << r.why;
        EXPECT_EQ(refusal(s, dest(r.addr, forwarding::nat)), r.want) << r.addr << " -m: " << r.why;
    }
}

TEST(validate, ipv6_real_servers_must_be_unicast_and_not_link_local) {
    const auto s = svc("[2001:db8::10]:80");
    struct row {
        const char* addr;
        int want;
        const char* why;
    };
    const row rows[] = {
        {"[::]:80", EINVAL, "IPV6_ADDR_ANY has no unicast bit"},
        {"[ff02::1]:80", EINVAL, "IPV6_ADDR_MULTICAST"},
        {"[ff05::2]:8080", EINVAL, "IPV6_ADDR_MULTICAST, site scope"},
        {"[fe80::1]:80", EINVAL, "IPV6_ADDR_LINKLOCAL"},
        {"[febf:ffff::1]:80", EINVAL, "the top of fe80::/10"},
        {"[::ffff:192.0.2.1]:80", EINVAL, "IPV6_ADDR_MAPPED has no unicast bit"},
        {"[::1]:80", 0, "IPV6_ADDR_LOOPBACK | IPV6_ADDR_UNICAST"},
        {"[::7]:80", 0, "IPV6_ADDR_COMPATv4 | IPV6_ADDR_UNICAST"},
        {"[fec0::1]:80", 0, "site-local is unicast"},
        {"[fc00::1]:80", 0, "unique local is unicast"},
        {"[fd01::16]:80", 0, "unique local is unicast"},
        {"[2001:db8::10]:80", 0, "global unicast, even the VIP itself"},
        {"[100::1]:80", 0, "000 in the top bits, not ::/64: unicast"},
        {"[fe00::1]:80", 0, "111 in the top bits, neither ff, fe80 nor fec0: unicast"},
    };
    for (const auto& r : rows) {
        EXPECT_EQ(refusal(s, dest(r.addr)), r.want) << r.addr << ": " << r.why;
    }
}

TEST(validate, a_tunnel_server_is_judged_in_its_own_family) {
    EXPECT_EQ(refusal(svc("[2001:db8::10]:80"), dest("224.0.0.5:80", forwarding::tun)), EINVAL);
    EXPECT_EQ(refusal(svc("203.0.113.10:80"), dest("[ff02::1]:80", forwarding::tun)), EINVAL);
    EXPECT_EQ(refusal(svc("[2001:db8::10]:80"), dest("10.1.0.19:80", forwarding::tun)), 0);
    EXPECT_EQ(refusal(svc("203.0.113.10:80"), dest("[fd01::13]:80", forwarding::tun)), 0);
}

TEST(validate, virtual_addresses_ipvs_accepts_but_xlb_cannot_balance) {
    struct row {
        const char* vip;
        protocol proto;
        bool warns;
    };
    const row rows[] = {
        {"0.0.0.0:80", protocol::tcp, true},          {"255.255.255.255:67", protocol::udp, true},
        {"224.0.0.1:5000", protocol::udp, true},      {"127.0.0.1:80", protocol::tcp, true},
        {"[::]:80", protocol::tcp, true},             {"[ff02::1]:5000", protocol::udp, true},
        {"[::ffff:192.0.2.1]:80", protocol::tcp, true}, {"[::1]:80", protocol::tcp, true},
        {"203.0.113.10:80", protocol::tcp, false},    {"0.1.2.3:80", protocol::tcp, false},
        {"10.20.0.2:0", protocol::tcp, false},        {"[2001:db8::10]:80", protocol::tcp, false},
        {"[fe80::1]:80", protocol::tcp, false},
    };
    for (const auto& r : rows) {
        auto w = address_warnings(svc(r.vip, r.proto), nullptr);
        EXPECT_EQ(!w.empty(), r.warns) << r.vip;
        for (const auto& line : w) {
            EXPECT_EQ(line.find('\n'), std::string::npos);
            EXPECT_NE(line.find(endpoint::parse(r.vip)->addr.to_string()), std::string::npos) << line;
        }
    }
    EXPECT_EQ(address_warnings(svc("0.0.0.0:80"), nullptr).front(),
              "virtual address 0.0.0.0 is unspecified: no packet is addressed to it, so the service never gets one");
}

TEST(validate, a_real_server_that_is_the_virtual_address) {
    auto same = dest("203.0.113.10:80");
    auto w = address_warnings(svc("203.0.113.10:80"), &same);
    ASSERT_EQ(w.size(), 1u);
    EXPECT_NE(w[0].find("real server 203.0.113.10 is the virtual address itself"), std::string::npos);
    auto nat = dest("203.0.113.10:8080", forwarding::nat);
    EXPECT_EQ(address_warnings(svc("203.0.113.10:80"), &nat).size(), 1u);
    auto v6 = dest("[2001:db8::10]:80");
    EXPECT_EQ(address_warnings(svc("[2001:db8::10]:80"), &v6).size(), 1u);
    // An ordinary server, and a dest of a service whose VIP warns: the VIP
    // was warned about at -A; -a speaks of the real server only.
    auto plain = dest("198.51.100.13:80");
    EXPECT_TRUE(address_warnings(svc("203.0.113.10:80"), &plain).empty());
    EXPECT_TRUE(address_warnings(svc("0.0.0.0:80"), &plain).empty());
    // A fwmark service has no virtual address to compare with.
    service_key fwm{protocol::tcp, *endpoint::parse("0.0.0.0:0"), 7};
    auto zero = dest("0.0.0.0:0");
    EXPECT_TRUE(address_warnings(fwm, nullptr).empty());
    EXPECT_TRUE(address_warnings(fwm, &zero).empty());
}
