#include <xlb/ipvsadm/format.h>

#include <fmt/format.h>

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>

namespace xlb::ipvsadm {
namespace {

// The fields ipvs_cmp_services / ipvs_cmp_dests read, in a trivially copyable
// record so qsort can move it as ipvsadm's qsort moves its entries.
struct sort_rec {
    uint32_t fwmark;
    uint16_t af;
    uint16_t protocol;
    uint32_t addr[4]; // host order
    uint16_t port;
    uint32_t index;
};

sort_rec make_rec(const endpoint& e, uint16_t proto, uint32_t fwmark, uint32_t index) {
    sort_rec r{};
    r.fwmark = fwmark;
    r.af = e.addr.is_v4() ? AF_INET : AF_INET6;
    r.protocol = proto;
    auto w = e.addr.host_words();
    std::copy(w.begin(), w.end(), r.addr);
    r.port = e.port;
    r.index = index;
    return r;
}

// Subtractions as libipvs writes them: unsigned 32-bit, returned as int.
int addr_cmp(const sort_rec& a, const sort_rec& b) {
    int r = 0;
    if (a.af == AF_INET6) {
        for (int i = 0; !r && i < 4; ++i) {
            r = static_cast<int>(a.addr[i] - b.addr[i]);
        }
    } else {
        r = static_cast<int>(a.addr[0] - b.addr[0]);
    }
    return r;
}

int cmp_services(const void* x, const void* y) {
    const auto& a = *static_cast<const sort_rec*>(x);
    const auto& b = *static_cast<const sort_rec*>(y);
    int r = static_cast<int>(a.fwmark - b.fwmark);
    if (r) {
        return r;
    }
    r = a.af - b.af;
    if (r) {
        return r;
    }
    r = a.protocol - b.protocol;
    if (r) {
        return r;
    }
    r = addr_cmp(a, b);
    if (r) {
        return r;
    }
    return a.port - b.port;
}

int cmp_dests(const void* x, const void* y) {
    const auto& a = *static_cast<const sort_rec*>(x);
    const auto& b = *static_cast<const sort_rec*>(y);
    int r = addr_cmp(a, b);
    if (r) {
        return r;
    }
    return a.port - b.port;
}

template <class T>
void sort_by(std::vector<T>& items, std::vector<sort_rec> recs, int (*cmp)(const void*, const void*)) {
    if (recs.empty()) {
        return; // qsort(NULL, 0, ...) is undefined
    }
    std::qsort(recs.data(), recs.size(), sizeof(sort_rec), cmp);
    std::vector<T> sorted;
    sorted.reserve(items.size());
    for (const auto& r : recs) {
        sorted.push_back(std::move(items[r.index]));
    }
    items = std::move(sorted);
}

// The persistence netmask as ipvsadm shows it (-L "mask", -S "-M"): dotted
// for IPv4, a prefix length for IPv6; empty when it is the full mask.
std::string persistence_mask(const service_config& c) {
    const uint32_t full = c.key.vip.addr.is_v4() ? 0xffffffff : 128;
    return c.netmask == full ? std::string() : netmask_text(c);
}

// The service's firewall mark, 0 if it is not a fwmark service.
uint32_t fwmark_of(const service_state& s) { return s.config.key.fwmark ? s.config.key.fwmark : s.fwmark; }

// option_from_protocol(): how -S names the service's protocol.
const char* service_option(protocol p) {
    switch (p) {
    case protocol::tcp:
        return "-t";
    case protocol::udp:
        return "-u";
    case protocol::sctp:
        return "--sctp-service";
    }
    return "--xxx-service";
}

std::string name_of(const endpoint& e, protocol p, bool numeric, const name_fn& names) {
    return numeric ? e.to_string() : names(e, p);
}

std::string service_name(const service_state& s, bool numeric, const name_fn& names) {
    if (auto mark = fwmark_of(s)) {
        return s.config.key.vip.addr.is_v4() ? fmt::format("FWM  {}", mark) : fmt::format("FWM  {} IPv6", mark);
    }
    auto name = fmt::format("{:<4} {}", to_string(s.config.key.proto), name_of(s.config.key.vip, s.config.key.proto,
                                                                              numeric, names));
    // ipvsadm cuts IPv4 names at 33 characters; IPv6 ones overflow the column.
    if (s.config.key.vip.addr.is_v4() && name.size() > 33) {
        name.resize(33);
    }
    return name;
}

std::string dest_name(const service_state& s, const dest_state& d, bool numeric, const name_fn& names) {
    auto name = name_of(d.config.addr, s.config.key.proto, numeric, names);
    if (d.config.addr.addr.is_v4() && name.size() > 28) {
        name.resize(28);
    }
    return name;
}

void print_title(std::string& out, list_format f) {
    switch (f) {
    case list_format::stats:
        out += fmt::format("{:<33} {:>8} {:>8} {:>8} {:>8} {:>8}\n  -> RemoteAddress:Port\n",
                           "Prot LocalAddress:Port", "Conns", "InPkts", "OutPkts", "InBytes", "OutBytes");
        break;
    case list_format::rate:
        out += fmt::format("{:<33} {:>8} {:>8} {:>8} {:>8} {:>8}\n  -> RemoteAddress:Port\n",
                           "Prot LocalAddress:Port", "CPS", "InPPS", "OutPPS", "InBPS", "OutBPS");
        break;
    case list_format::thresholds:
        out += fmt::format("{:<33} {:<10} {:<10} {:<10} {:<10}\n  -> RemoteAddress:Port\n",
                           "Prot LocalAddress:Port", "Uthreshold", "Lthreshold", "ActiveConn", "InActConn");
        break;
    case list_format::persistent_conn:
        out += fmt::format("{:<33} {:<9} {:<11} {:<10} {:<10}\n  -> RemoteAddress:Port\n",
                           "Prot LocalAddress:Port", "Weight", "PersistConn", "ActiveConn", "InActConn");
        break;
    case list_format::normal:
        out += "Prot LocalAddress:Port Scheduler Flags\n"
               "  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n";
        break;
    case list_format::tun_info:
        out += "Prot LocalAddress:Port Scheduler Flags\n"
               "  -> RemoteAddress:Port           Forward TunnelInfo    Weight ActiveConn InActConn\n";
        break;
    }
}

void print_counters(std::string& out, const counters& c, bool exact) {
    out += largenum(c.conns, exact);
    out += largenum(c.inpkts, exact);
    out += largenum(c.outpkts, exact);
    out += largenum(c.inbytes, exact);
    out += largenum(c.outbytes, exact);
}

// fwd_tun_info(): "ipip", "gue:PORT:-c|+c|r+c", "gre:-c|+c", or "n/a" for other methods.
std::string tun_info(const dest_config& d) {
    if (d.fwd != forwarding::tun) {
        return "n/a";
    }
    const char* csum = (d.tun_flags & XLB_TUN_F_REMCSUM) ? "r+c" : (d.tun_flags & XLB_TUN_F_CSUM) ? "+c" : "-c";
    switch (d.tunnel) {
    case tun_type::gue:
        return fmt::format("gue:{}:{}", d.tun_port, csum);
    case tun_type::gre:
        return fmt::format("gre:{}", csum);
    case tun_type::ipip:
        break;
    }
    return "ipip";
}

void print_rates(std::string& out, const rates& r, bool exact) {
    out += largenum(r.cps, exact);
    out += largenum(r.inpps, exact);
    out += largenum(r.outpps, exact);
    out += largenum(r.inbps, exact);
    out += largenum(r.outbps, exact);
}

void print_service(std::string& out, const service_state& s, const list_options& o, const name_fn& names) {
    auto svc = service_name(s, o.numeric, names);
    if (o.format == list_format::stats) {
        out += fmt::format("{:<33}", svc);
        print_counters(out, s.stats, o.exact);
        out += "\n";
    } else if (o.format == list_format::rate) {
        out += fmt::format("{:<33}", svc);
        print_rates(out, s.rate, o.exact);
        out += "\n";
    } else {
        const auto& c = s.config;
        out += fmt::format("{} {}", svc, to_string(c.sched));
        if (c.flags & (XLB_IPVS_SVC_F_SCHED1 | XLB_IPVS_SVC_F_SCHED2 | XLB_IPVS_SVC_F_SCHED3)) {
            out += fmt::format(" ({})", sched_flags_string(c.sched, c.flags));
        }
        if (c.persistent()) {
            out += fmt::format(" persistent {}", c.timeout);
            if (auto mask = persistence_mask(c); !mask.empty()) {
                out += fmt::format(" mask {}", mask);
            }
            if (!c.pe_name.empty()) {
                out += fmt::format(" pe {}", c.pe_name);
            }
        }
        if (c.flags & XLB_IPVS_SVC_F_ONEPACKET) {
            out += " ops";
        }
        out += "\n";
    }
    for (const auto& d : s.dests) {
        auto dn = dest_name(s, d, o.numeric, names);
        switch (o.format) {
        case list_format::stats:
            out += fmt::format("  -> {:<28}", dn);
            print_counters(out, d.stats, o.exact);
            out += "\n";
            break;
        case list_format::rate:
            // ipvsadm prints a dest's CPS, InPPS and OutPPS with %8u, unscaled.
            out += fmt::format("  -> {:<28} {:>8} {:>8} {:>8}", dn, d.rate.cps, d.rate.inpps, d.rate.outpps);
            out += largenum(d.rate.inbps, o.exact);
            out += largenum(d.rate.outbps, o.exact);
            out += "\n";
            break;
        case list_format::thresholds:
            out += fmt::format("  -> {:<28} {:<10} {:<10} {:<10} {:<10}\n", dn, d.config.u_threshold,
                               d.config.l_threshold, d.active_conns, d.inactive_conns);
            break;
        case list_format::persistent_conn:
            out += fmt::format("  -> {:<28} {:<9} {:<11} {:<10} {:<10}\n", dn, d.config.weight, d.persist_conns,
                               d.active_conns, d.inactive_conns);
            break;
        case list_format::normal:
            out += fmt::format("  -> {:<28} {:<7} {:<6} {:<10} {:<10}\n", dn, forward_name(d.config.fwd),
                               d.config.weight, d.active_conns, d.inactive_conns);
            break;
        case list_format::tun_info:
            out += fmt::format("  -> {:<28} {:<7} {:<13} {:<6} {:<10} {:<10}\n", dn, forward_name(d.config.fwd),
                               tun_info(d.config), d.config.weight, d.active_conns, d.inactive_conns);
            break;
        }
    }
}

} // namespace

std::string sched_flags_string(scheduler s, uint32_t flags) {
    // print_sched_flags(): sh and mh name their flags, others number them.
    const char* names[3] = {"flag-1", "flag-2", "flag-3"};
    if (s == scheduler::sh) {
        names[0] = "sh-fallback";
        names[1] = "sh-port";
    } else if (s == scheduler::mh) {
        names[0] = "mh-fallback";
        names[1] = "mh-port";
    }
    std::string out;
    const uint32_t bits[3] = {XLB_IPVS_SVC_F_SCHED1, XLB_IPVS_SVC_F_SCHED2, XLB_IPVS_SVC_F_SCHED3};
    for (int i = 0; i < 3; ++i) {
        if (flags & bits[i]) {
            out += out.empty() ? names[i] : std::string(",") + names[i];
        }
    }
    return out;
}

std::string resolve_names(const endpoint& e, protocol p) {
    // ipvsadm: gethostbyaddr() for the host, getservbyport() for the port,
    // each falling back to the number.
    std::string host = e.addr.to_string();
    sockaddr_storage ss{};
    socklen_t len;
    if (e.addr.is_v4()) {
        auto* sin = reinterpret_cast<sockaddr_in*>(&ss);
        sin->sin_family = AF_INET;
        std::memcpy(&sin->sin_addr, e.addr.bytes().data(), 4);
        len = sizeof(*sin);
    } else {
        auto* sin6 = reinterpret_cast<sockaddr_in6*>(&ss);
        sin6->sin6_family = AF_INET6;
        std::memcpy(&sin6->sin6_addr, e.addr.bytes().data(), 16);
        len = sizeof(*sin6);
    }
    char name[NI_MAXHOST] = {};
    if (getnameinfo(reinterpret_cast<sockaddr*>(&ss), len, name, sizeof(name), nullptr, 0, NI_NAMEREQD) == 0) {
        host = name;
    }
    std::string port = std::to_string(e.port);
    const char* proto = p == protocol::udp ? "udp" : p == protocol::sctp ? "sctp" : "tcp";
    if (const servent* se = getservbyport(htons(e.port), proto)) {
        port = se->s_name;
    }
    return e.addr.is_v4() ? host + ":" + port : "[" + host + "]:" + port;
}

namespace {

// print_conn() reads /proc/net/ip_vs_conn, where an IPv4 entry's addresses are
// hex words but a dest of the other family is written the way of that
// family; ipvsadm then reads the dest with the entry's family.
endpoint conn_dest_as_printed(const conn_state& c) {
    const auto& d = c.dest.addr;
    if (d.af() == c.client.addr.af()) {
        return c.dest;
    }
    std::array<uint8_t, 16> b{};
    if (c.client.addr.is_v4()) {
        // strtoul("2001:0db8:...", 16) stops at the first colon: the IPv4
        // address 0.0.0x20.0x01.
        b[2] = d.bytes()[0];
        b[3] = d.bytes()[1];
        return endpoint{ip_address(family::inet, b), c.dest.port};
    }
    // ipvsadm leaves an IPv6 entry's IPv4 dest unparsed (whatever its stack
    // held); xlb shows it IPv4-mapped.
    b[10] = b[11] = 0xff;
    std::copy_n(d.bytes().begin(), 4, b.begin() + 12);
    return endpoint{ip_address(family::inet6, b), c.dest.port};
}

} // namespace

std::string format_daemons(const std::vector<sync_daemon>& daemons) {
    std::string out;
    for (const auto& d : daemons) {
        out += fmt::format("{} sync daemon (mcast={}, syncid={}", d.state == sync_state::master ? "master" : "backup",
                           d.mcast_ifn, d.syncid);
        if (d.sync_maxlen) {
            out += fmt::format(", maxlen={}", d.sync_maxlen);
        }
        if (d.mcast_group) {
            out += fmt::format(", group={}", d.mcast_group->to_string());
        }
        if (d.mcast_port) {
            out += fmt::format(", port={}", d.mcast_port);
        }
        if (d.mcast_ttl) {
            out += fmt::format(", ttl={}", d.mcast_ttl);
        }
        out += ")\n";
    }
    return out;
}

std::string format_conns(const std::vector<conn_state>& conns, bool numeric, bool persistent_conn, const name_fn& names) {
    std::string out = "IPVS connection entries\n";
    if (persistent_conn) {
        out += fmt::format("pro expire {:<11} {:<18} {:<18} {:<18} {:<16} {}\n", "state", "source", "virtual",
                           "destination", "pe name", "pe_data");
    } else {
        out += fmt::format("pro expire {:<11} {:<18} {:<18} {}\n", "state", "source", "virtual", "destination");
    }
    // In the order the backend gives: kernel IPVS's is its hash table's, as
    // ipvsadm prints it; the XDP backend sorts its own.
    for (const auto& c : conns) {
        auto expire = fmt::format("{:02}:{:02}", c.expire_s / 60, c.expire_s % 60);
        auto client = name_of(c.client, c.proto, numeric, names);
        auto vip = name_of(c.vip, c.proto, numeric, names);
        auto dest = name_of(conn_dest_as_printed(c), c.proto, numeric, names);
        if (persistent_conn && c.pe_hash) {
            // print_conn() with pe data: the engine's name and its data. The
            // data is the Call-ID in IPVS; xlb keeps only its hash.
            out += fmt::format("{:<3} {:<6} {:<11} {:<18} {:<18} {:<18} {:<16} {}\n", conn_protocol_name(c), expire,
                               conn_state_name(c), client, vip, dest, "sip", fmt::format("#{:08x}", c.pe_hash));
            continue;
        }
        out += fmt::format("{:<3} {:<6} {:<11} {:<18} {:<18} {}\n", conn_protocol_name(c), expire, conn_state_name(c),
                           client, vip, dest);
    }
    return out;
}

std::string largenum(uint64_t n, bool exact) {
    if (exact) {
        auto digits = fmt::format("{}", n);
        return fmt::format("{:>{}}", n, digits.size() <= 8 ? 9 : digits.size() + 1);
    }
    if (n < 100000000ull) {
        return fmt::format("{:>9}", n);
    }
    if (n < 1000000000ull) {
        return fmt::format("{:>8}K", n / 1000);
    }
    if (n < 100000000000ull) {
        return fmt::format("{:>8}M", n / 1000000);
    }
    if (n < 100000000000000ull) {
        return fmt::format("{:>8}G", n / 1000000000ull);
    }
    return fmt::format("{:>8}T", n / 1000000000000ull);
}

void sort_services(std::vector<service_state>& services) {
    std::vector<sort_rec> recs;
    for (uint32_t i = 0; i < services.size(); ++i) {
        const auto& s = services[i];
        recs.push_back(make_rec(s.config.key.vip, static_cast<uint16_t>(s.config.key.proto), fwmark_of(s), i));
    }
    sort_by(services, recs, cmp_services);
    for (auto& s : services) {
        std::vector<sort_rec> drecs;
        for (uint32_t i = 0; i < s.dests.size(); ++i) {
            drecs.push_back(make_rec(s.dests[i].config.addr, 0, 0, i));
        }
        sort_by(s.dests, drecs, cmp_dests);
    }
}

std::string format_rules(std::vector<service_state> services, bool numeric, bool sort, const name_fn& names) {
    if (sort) {
        sort_services(services);
    }
    std::string out;
    for (const auto& s : services) {
        const auto& c = s.config;
        const uint32_t mark = fwmark_of(s);
        std::string svc = mark ? fmt::format("-f {}{}", mark, c.key.vip.addr.is_v4() ? "" : " -6")
                               : fmt::format("{} {}", service_option(c.key.proto),
                                             name_of(c.key.vip, c.key.proto, numeric, names));
        out += fmt::format("-A {} -s {}", svc, to_string(c.sched));
        if (c.persistent()) {
            out += fmt::format(" -p {}", c.timeout);
            if (auto mask = persistence_mask(c); !mask.empty()) {
                out += fmt::format(" -M {}", mask);
            }
        }
        if (!c.pe_name.empty()) {
            out += fmt::format(" --pe {}", c.pe_name);
        }
        if (c.flags & XLB_IPVS_SVC_F_ONEPACKET) {
            out += " -o";
        }
        if (c.flags & (XLB_IPVS_SVC_F_SCHED1 | XLB_IPVS_SVC_F_SCHED2 | XLB_IPVS_SVC_F_SCHED3)) {
            out += fmt::format(" -b {}", sched_flags_string(c.sched, c.flags));
        }
        out += "\n";
        for (const auto& d : s.dests) {
            const auto& dc = d.config;
            const char* fwd = dc.fwd == forwarding::nat ? "-m" : dc.fwd == forwarding::tun ? "-i" : "-g";
            out += fmt::format("-a {} -r {} {} -w {}", svc, name_of(dc.addr, c.key.proto, numeric, names), fwd,
                               dc.weight);
            if (dc.fwd == forwarding::tun) {
                // print_tunnel_rule(): gue and gre always name their checksum option.
                switch (dc.tunnel) {
                case tun_type::gue:
                    out += fmt::format(" --tun-type gue --tun-port {} --tun-{}", dc.tun_port,
                                       tun_checksum_name(dc.tun_flags));
                    break;
                case tun_type::gre:
                    out += fmt::format(" --tun-type gre --tun-{}", tun_checksum_name(dc.tun_flags));
                    break;
                case tun_type::ipip:
                    out += " --tun-type ipip";
                    break;
                }
            }
            // xlb's addition, after everything ipvsadm prints: ipvsadm -S
            // forgets the thresholds, and a restore should not.
            if (dc.u_threshold) {
                out += fmt::format(" -x {}", dc.u_threshold);
            }
            if (dc.l_threshold) {
                out += fmt::format(" -y {}", dc.l_threshold);
            }
            out += "\n";
        }
    }
    return out;
}

std::string format_list(std::vector<service_state> services, const list_options& opts, uint32_t conn_table_size,
                        const name_fn& names) {
    std::string out;
    if (opts.header) {
        out += fmt::format("IP Virtual Server version 1.2.1 (size={})\n", conn_table_size);
    }
    print_title(out, opts.format);
    if (opts.sort) {
        sort_services(services);
    }
    for (const auto& s : services) {
        print_service(out, s, opts, names);
    }
    return out;
}

std::string netmask_text(const service_config& c) {
    if (!c.key.vip.addr.is_v4()) {
        return std::to_string(c.netmask);
    }
    uint32_t be = htonl(c.netmask);
    char buf[INET_ADDRSTRLEN] = {};
    inet_ntop(AF_INET, &be, buf, sizeof(buf));
    return buf;
}

const char* tun_checksum_name(uint8_t flags) {
    return (flags & XLB_TUN_F_REMCSUM) ? "remcsum" : (flags & XLB_TUN_F_CSUM) ? "csum" : "nocsum";
}

} // namespace xlb::ipvsadm
