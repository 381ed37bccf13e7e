#include "support/xdp_lab.h"
#include "support/netns.h"
#include "support/priv.h"

#include <bpf/bpf.h>
#include <arpa/inet.h>
#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <fmt/format.h>
#include <stdexcept>

namespace xlb::test {

run_result run_xdp(int prog_fd, const std::vector<uint8_t>& frame, int ifindex, uint32_t repeat) {
    run_result r;
    r.out.resize(frame.size() + 256);
    struct xdp_md md {};
    md.data = 0;
    md.data_end = static_cast<uint32_t>(frame.size());
    md.ingress_ifindex = static_cast<uint32_t>(ifindex);
    LIBBPF_OPTS(bpf_test_run_opts, opts);
    opts.data_in = frame.data();
    opts.data_size_in = static_cast<uint32_t>(frame.size());
    opts.data_out = r.out.data();
    opts.data_size_out = static_cast<uint32_t>(r.out.size());
    opts.ctx_in = &md;
    opts.ctx_size_in = sizeof(md);
    opts.repeat = repeat;
    r.rc = bpf_prog_test_run_opts(prog_fd, &opts);
    if (r.rc < 0) {
        r.rc = -errno;
    }
    r.action = opts.retval;
    r.out.resize(opts.data_size_out);
    r.duration_ns = opts.duration;
    return r;
}

ip_address xdp_lab::backend4(int i) { return *ip_address::parse(fmt::format("10.1.0.{}", 10 + i)); }
ip_address xdp_lab::backend6(int i) { return *ip_address::parse(fmt::format("fd01::{}", 10 + i)); }
mac xdp_lab::backend_mac(int i) { return parse_mac(fmt::format("02:00:00:00:01:{:02x}", i)); }

int backend_of(const run_result& r) {
    if (r.action != XDP_TX || r.out.size() < 6) {
        return 0;
    }
    for (int i = 1; i <= 9; ++i) {
        auto m = xdp_lab::backend_mac(i);
        if (std::equal(m.begin(), m.end(), r.out.begin())) {
            return i;
        }
    }
    return -1;
}

void xdp_lab::setup_network() {
    std::string cmds = fmt::format(
        "set -e\n"
        "ip link add {0} address {2} type veth peer name xb\n"
        "ip link add {1} address {3} type veth peer name yb\n"
        // The peers stay silent: no router solicitations or MLD reports
        // reaching a program attached to {0} behind a test's back.
        "sysctl -qw net.ipv6.conf.xb.disable_ipv6=1 net.ipv6.conf.yb.disable_ipv6=1\n"
        "for d in {0} xb {1} yb; do ip link set dev $d up; done\n"
        "ip addr add 10.1.0.1/24 dev {0}\n"
        "ip -6 addr add fd01::1/64 dev {0} nodad\n"
        "ip addr add 10.2.0.1/24 dev {1}\n"
        "sysctl -qw net.ipv4.conf.all.forwarding=1 net.ipv6.conf.all.forwarding=1\n"
        "ip neigh replace 10.2.0.11 lladdr 02:00:00:00:02:01 dev {1} nud permanent\n"
        "ip neigh replace 10.1.0.200 lladdr 02:00:00:00:00:c1 dev {0} nud permanent\n"
        "ip -6 neigh replace fd01::200 lladdr 02:00:00:00:00:c1 dev {0} nud permanent\n",
        dir_if, other_if, dir_mac, other_mac);
    for (int i = 1; i <= 9; ++i) {
        cmds += fmt::format("ip neigh replace 10.1.0.{0} lladdr 02:00:00:00:01:{1:02x} dev {2} nud permanent\n"
                            "ip -6 neigh replace fd01::{0} lladdr 02:00:00:00:01:{1:02x} dev {2} nud permanent\n",
                            10 + i, i, dir_if);
    }
    if (sh(cmds) != 0) {
        throw std::runtime_error("setting up the test namespace failed");
    }
}

void xdp_lab::pin_cpu0() {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(0, &set);
    sched_setaffinity(0, sizeof(set), &set);
}

void lab_environment::SetUp() {
    if (!missing_privilege().empty()) {
        return; // each test skips (or fails under XLB_REQUIRE_PRIV) with the reason
    }
    enter_private_netns();
    xdp_lab::setup_network();
    if (_pin) {
        xdp_lab::pin_cpu0();
    }
}

loaded_xlb::loaded_xlb(const load_options& o) {
    static std::atomic<int> n{0};
    _pin_dir = fmt::format("/sys/fs/bpf/xlb/test-{}-{}", getpid(), n++);
    auto dp = xdp_dataplane::load(_pin_dir, o);
    if (!dp) {
        throw std::runtime_error(dp.error().message());
    }
    _dp.emplace(std::move(*dp));
    // In-process writes do not wait for next hops, as before the backend
    // resolved them itself: most test dests have no neighbour that answers,
    // and the neighbour tests drive xlbctl or neigh:: directly.
    _dp->set_neigh_wait(std::chrono::milliseconds(0));
}

void route_big_dests() {
    if (sh("ip route replace 10.128.0.0/16 via 10.1.0.11 dev xa") != 0) {
        throw std::runtime_error("cannot route 10.128.0.0/16 in the test namespace");
    }
}

ip_address big_dest(uint32_t i) { return *ip_address::parse(fmt::format("10.128.{}.{}", (i >> 8) & 255, i & 255)); }

uint32_t published_side(xdp_dataplane& dp) {
    struct xlb_table_ctl ctl {};
    uint32_t zero = 0;
    if (bpf_map_lookup_elem(dp.map_fds().table_ctl.get(), &zero, &ctl) < 0) {
        throw std::runtime_error("cannot read table_ctl");
    }
    return ctl.side & 1;
}

uint32_t published_dest_slot(xdp_dataplane& dp, uint32_t id) { return id + published_side(dp) * dp.sizes().max_dests; }

void bulk_dests(loaded_xlb& lb, const service_config& svc, const std::vector<dest_config>& dests) {
    // One change set: the table is read, diffed and published once.
    change_set set;
    for (const auto& d : dests) {
        set.push_back(change::add_dest(svc.key, d));
    }
    if (auto r = lb.dp().apply(set); !r) {
        throw std::runtime_error(fmt::format("add {} dests: change {}: {}", dests.size(), r.error().index,
                                             r.error().err.message()));
    }
}

loaded_xlb::~loaded_xlb() {
    _dp.reset();
    (void)xdp_dataplane::unload(_pin_dir);
}

} // namespace xlb::test
