#pragma once
// The IPVS table as value types: what ipvsadm adds, edits and lists.

#include <xlb/abi.h>
#include <xlb/model/address.h>

#include <compare>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace xlb {

enum class protocol : uint8_t { tcp = 6, udp = 17, sctp = 132 };
// Every IPVS scheduler, so a table can be described; the XDP data path
// schedules those for which supported() is true.
enum class scheduler : uint32_t {
    rr = XLB_SCHED_RR,
    wrr = XLB_SCHED_WRR,
    lc = XLB_SCHED_LC,
    wlc = XLB_SCHED_WLC,
    sed = XLB_SCHED_SED,
    nq = XLB_SCHED_NQ,
    sh = XLB_SCHED_SH,
    dh = XLB_SCHED_DH,
    mh = XLB_SCHED_MH,
    fo = XLB_SCHED_FO,
    ovf = XLB_SCHED_OVF,
    twos = XLB_SCHED_TWOS,
    lblc = XLB_SCHED_LBLC,
    lblcr = XLB_SCHED_LBLCR,
};
enum class forwarding : uint8_t { dr = XLB_FWD_DR, tun = XLB_FWD_TUN, nat = XLB_FWD_NAT };

std::optional<scheduler> parse_scheduler(std::string_view name) noexcept;
std::string_view to_string(scheduler s) noexcept;
// Whether the XDP data path implements it yet.
bool supported(scheduler s) noexcept;
// Whether each new flow scans every dest (lc wlc sed nq fo ovf twos lblc
// lblcr), not an O(1) pick from a table (rr wrr sh dh mh): a backend bounds
// the two kinds' dests per service apart.
bool scans_dests(scheduler s) noexcept;
std::string_view to_string(protocol p) noexcept; // "TCP", "UDP", "SCTP"
// ipvsadm's column: "Route", "Tunnel", "Masq".
std::string_view forward_name(forwarding f) noexcept;

// A virtual service: {protocol, VIP, port}, or a firewall-mark service
// (ipvsadm -f): fwmark non-zero, proto and port unused, and the family in
// vip.addr (a zero address of that family).
struct service_key {
    protocol proto = protocol::tcp;
    endpoint vip;
    uint32_t fwmark = 0;

    [[nodiscard]] bool is_fwmark() const noexcept { return fwmark != 0; }
    auto operator<=>(const service_key&) const noexcept = default;
};

struct service_config {
    service_key key;
    scheduler sched = scheduler::wrr;
    uint32_t flags = 0;            // XLB_IPVS_SVC_F_*: persistent, one-packet (-o), scheduler flags (-b)
    uint32_t timeout = 0;          // persistence timeout, seconds (-p)
    uint32_t netmask = 0xffffffff; // -M: IPv4 netmask (host order), or IPv6 prefix length
    std::string pe_name{};         // --pe: the persistence engine ("sip"), empty for none

    [[nodiscard]] bool persistent() const noexcept { return flags & XLB_IPVS_SVC_F_PERSISTENT; }
};

enum class tun_type : uint8_t { ipip = XLB_TUN_IPIP, gue = XLB_TUN_GUE, gre = XLB_TUN_GRE };

struct dest_config {
    endpoint addr;
    forwarding fwd = forwarding::dr;
    int32_t weight = 1;
    uint32_t u_threshold = 0;
    uint32_t l_threshold = 0;
    tun_type tunnel = tun_type::ipip; // with forwarding::tun
    uint16_t tun_port = 0;            // GUE's UDP port
    uint8_t tun_flags = 0;            // XLB_TUN_F_*
};

struct counters {
    uint64_t conns = 0;
    uint64_t inpkts = 0;
    uint64_t inbytes = 0;
    uint64_t outpkts = 0;
    uint64_t outbytes = 0;
};

// IPVS's estimated rates (ip_vs_read_estimator()): per second, over about
// the last 8 s, updated every 2 s.
struct rates {
    uint64_t cps = 0;
    uint64_t inpps = 0;
    uint64_t outpps = 0;
    uint64_t inbps = 0;
    uint64_t outbps = 0;
};

struct dest_state {
    dest_config config;
    uint32_t active_conns = 0;
    uint32_t inactive_conns = 0;
    uint32_t persist_conns = 0;
    bool overloaded = false; // above its -x threshold, not yet below -y
    counters stats;
    rates rate;
};

struct service_state {
    service_config config;
    uint32_t fwmark = 0;
    counters stats;
    rates rate;
    std::vector<dest_state> dests; // in IPVS list order: newest first
};

} // namespace xlb
