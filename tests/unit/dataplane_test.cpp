// userspace/dataplane/dataplane.cpp: capabilities::check() and its reasons,
// the XDP backend's capabilities, and the open_dataplane() factory's names.

#include <xlb/dataplane/dataplane.h>
#include <xlb/dataplane/memory_dataplane.h>
#include <xlb/dataplane/xdp/capabilities.h>

#include <gtest/gtest.h>

#include <unistd.h>

using namespace xlb;

namespace {

service_config svc(scheduler s = scheduler::wlc) {
    service_config c;
    c.key = {protocol::tcp, *endpoint::parse("10.0.0.1:80")};
    c.sched = s;
    return c;
}

std::string refusal(const result<>& r) {
    EXPECT_FALSE(r);
    if (r) {
        return "";
    }
    EXPECT_EQ(r.error().code, EOPNOTSUPP);
    return r.error().context;
}

} // namespace

TEST(capabilities, xdp_schedules_all_but_the_locality_based) {
    auto c = xdp::xdp_capabilities(128, 64);
    EXPECT_EQ(c.backend, "xdp");
    for (uint32_t i = 0; i < XLB_SCHED_MAX; ++i) {
        auto s = static_cast<scheduler>(i);
        EXPECT_EQ(c.has(s), s != scheduler::lblc && s != scheduler::lblcr) << to_string(s);
    }
    EXPECT_TRUE(c.has(protocol::tcp));
    EXPECT_TRUE(c.has(protocol::udp));
    EXPECT_FALSE(c.has(protocol::sctp));
    EXPECT_TRUE(c.has(tun_type::ipip));
    EXPECT_TRUE(c.has(tun_type::gue));
    EXPECT_FALSE(c.has(tun_type::gre));
    EXPECT_FALSE(c.fwmark_services);
    EXPECT_TRUE(c.verdict_counters && c.rates && c.conn_listing);
    EXPECT_EQ(c.max_dests(scheduler::mh), 128u) << "hashed and stepping";
    EXPECT_EQ(c.max_dests(scheduler::wrr), 128u);
    EXPECT_EQ(c.max_dests(scheduler::wlc), 64u) << "scanning";
    EXPECT_EQ(c.max_dests(scheduler::twos), 64u);
}

TEST(capabilities, check_gives_the_reason) {
    auto c = xdp::xdp_capabilities(128, 128);
    EXPECT_TRUE(c.check(svc()));
    EXPECT_EQ(refusal(c.check(svc(scheduler::lblc))),
              "scheduler 'lblc' is refused by the xdp backend: locality-based schedulers need a "
              "per-destination-address table the data path does not keep");
    auto fwm = svc();
    fwm.key.fwmark = 3;
    EXPECT_EQ(refusal(c.check(fwm)),
              "fwmark services (-f) need netfilter marks, which do not exist at XDP time; use --backend ipvs");
    auto sctp = svc();
    sctp.key.proto = protocol::sctp;
    EXPECT_EQ(refusal(c.check(sctp)), "SCTP services are not balanced by the xdp backend; use --backend ipvs");
    auto pe = svc();
    pe.pe_name = "sip";
    EXPECT_TRUE(c.check(pe));
    dest_config d;
    d.addr = *endpoint::parse("10.1.0.11:80");
    EXPECT_TRUE(c.check(d));
    d.fwd = forwarding::tun;
    d.tunnel = tun_type::gre;
    EXPECT_EQ(refusal(c.check(d)), "GRE tunnels (--tun-type gre) are not implemented by the xdp backend");
    d.fwd = forwarding::dr; // the tunnel type only matters with -i
    EXPECT_TRUE(c.check(d));
    // A backend with fewer methods says which.
    capabilities only_dr;
    only_dr.backend = "test";
    only_dr.methods = {forwarding::dr};
    d.fwd = forwarding::nat;
    EXPECT_EQ(refusal(only_dr.check(d)), "masquerading (-m) is not implemented by the test backend");
}

TEST(capabilities, memory_has_everything) {
    auto c = memory_capabilities();
    EXPECT_EQ(c.backend, "memory");
    EXPECT_TRUE(c.has(scheduler::lblcr));
    EXPECT_TRUE(c.has(protocol::sctp));
    EXPECT_TRUE(c.has(tun_type::gre));
    EXPECT_TRUE(c.fwmark_services);
    EXPECT_EQ(c.max_dests(scheduler::wlc), 0u) << "no limit of its own";
}

TEST(open_dataplane, by_name) {
    open_options o;
    o.pin_dir = fmt::format("/sys/fs/bpf/xlb/unit-none-{}", getpid());
    auto mem = open_dataplane("memory", o);
    ASSERT_TRUE(mem) << mem.error().message();
    EXPECT_EQ((*mem)->caps().backend, "memory");
    EXPECT_TRUE((*mem)->list()->empty()) << "a fresh table";

    // Kernel IPVS where the kernel has it (after `modprobe ip_vs`), else a
    // refusal that says why.
    auto ipvs = open_dataplane("ipvs", o);
    const std::string missing_prefix =
        "kernel IPVS is not available: the IPVS generic netlink family is missing (modprobe ip_vs: ";
    if (ipvs) {
        EXPECT_EQ((*ipvs)->caps().backend, "ipvs");
        EXPECT_FALSE((*ipvs)->caps().conn_listing);
    } else if (ipvs.error().code == EPERM && geteuid() != 0) {
        // The kernel has IPVS, and answers only root (GENL_ADMIN_PERM).
        EXPECT_NE(ipvs.error().context.find("IPVS"), std::string::npos) << ipvs.error().context;
    } else {
        EXPECT_EQ(ipvs.error().code, EOPNOTSUPP) << ipvs.error().message();
        EXPECT_EQ(ipvs.error().context.rfind(missing_prefix, 0), 0u) << ipvs.error().context;
        EXPECT_EQ(ipvs.error().context.back(), ')') << ipvs.error().context;
    }

    auto xdp = open_dataplane("xdp", o);
    ASSERT_FALSE(xdp) << "nothing is loaded there";
    EXPECT_NE(xdp.error().code, EOPNOTSUPP);

    auto any = open_dataplane("auto", o);
    if (xdp.error().code == ENOENT) {
        // No XDP instance: kernel IPVS, or both reasons together.
        if (ipvs) {
            ASSERT_TRUE(any) << any.error().message();
            EXPECT_EQ((*any)->caps().backend, "ipvs");
        } else if (ipvs.error().code != EOPNOTSUPP) {
            ASSERT_FALSE(any);
            EXPECT_EQ(any.error().code, ipvs.error().code);
        } else {
            ASSERT_FALSE(any);
            EXPECT_EQ(any.error().code, EOPNOTSUPP) << "no XDP instance, and no kernel IPVS";
            EXPECT_EQ(any.error().context.rfind("no XDP data path (", 0), 0u) << any.error().context;
            EXPECT_NE(any.error().context.find("), and " + missing_prefix), std::string::npos)
                << any.error().context;
        }
    } else {
        // Unprivileged, bpf() may refuse before it looks: that is the answer.
        ASSERT_FALSE(any);
        EXPECT_EQ(any.error().code, xdp.error().code);
    }

    auto bogus = open_dataplane("bogus", o);
    ASSERT_FALSE(bogus);
    EXPECT_EQ(bogus.error().code, EINVAL);
}
