#include "convert.h"

#include <netlink/attr.h>
#include <netlink/genl/genl.h>
#include <netlink/msg.h>

#include <arpa/inet.h>
#include <linux/ip_vs.h>
#include <sys/socket.h>

#include <array>
#include <cstring>

namespace xlb::ipvs {

static_assert(static_cast<int>(family::inet) == AF_INET && static_cast<int>(family::inet6) == AF_INET6);
static_assert(XLB_IPVS_SVC_F_PERSISTENT == IP_VS_SVC_F_PERSISTENT && XLB_IPVS_SVC_F_HASHED == IP_VS_SVC_F_HASHED &&
              XLB_IPVS_SVC_F_ONEPACKET == IP_VS_SVC_F_ONEPACKET && XLB_IPVS_SVC_F_SCHED1 == IP_VS_SVC_F_SCHED1 &&
              XLB_IPVS_SVC_F_SCHED2 == IP_VS_SVC_F_SCHED2 && XLB_IPVS_SVC_F_SCHED3 == IP_VS_SVC_F_SCHED3);
static_assert(static_cast<int>(XLB_TUN_IPIP) == static_cast<int>(IP_VS_CONN_F_TUNNEL_TYPE_IPIP) &&
              static_cast<int>(XLB_TUN_GUE) == static_cast<int>(IP_VS_CONN_F_TUNNEL_TYPE_GUE) &&
              static_cast<int>(XLB_TUN_GRE) == static_cast<int>(IP_VS_CONN_F_TUNNEL_TYPE_GRE));
static_assert(XLB_TUN_F_CSUM == IP_VS_TUNNEL_ENCAP_FLAG_CSUM && XLB_TUN_F_REMCSUM == IP_VS_TUNNEL_ENCAP_FLAG_REMCSUM);

namespace {

// The attribute spaces as far as this backend reads them: the host's uapi
// may know more attributes than the kernel sends, never fewer (6.1 has
// every one used here).
constexpr int cmd_max = IPVS_CMD_ATTR_MAX;
constexpr int svc_max = IPVS_SVC_ATTR_MAX;
constexpr int dest_max = IPVS_DEST_ATTR_MAX;
constexpr int stats_max = IPVS_STATS_ATTR_MAX;

error too_big(const char* what) { return make_error(EMSGSIZE, "netlink message: {}", what); }

// nf_inet_addr: an IPv4 address in the first 4 of 16 bytes.
int put_addr(nl_msg* m, int type, const ip_address& a) {
    return nla_put(m, type, 16, a.bytes().data());
}

uint32_t fwd_to_kernel(forwarding f) {
    switch (f) {
    case forwarding::dr:
        return IP_VS_CONN_F_DROUTE;
    case forwarding::tun:
        return IP_VS_CONN_F_TUNNEL;
    case forwarding::nat:
        return IP_VS_CONN_F_MASQ;
    }
    return IP_VS_CONN_F_DROUTE;
}

result<forwarding> fwd_from_kernel(uint32_t v) {
    switch (v & IP_VS_CONN_F_FWD_MASK) {
    case IP_VS_CONN_F_MASQ:
        return forwarding::nat;
    case IP_VS_CONN_F_TUNNEL:
        return forwarding::tun;
    case IP_VS_CONN_F_DROUTE:
        return forwarding::dr;
    default:
        break;
    }
    return make_error(EOPNOTSUPP, "forwarding method {} (local node or bypass) is not in xlb's model",
                      v & IP_VS_CONN_F_FWD_MASK);
}

result<family> family_of(uint16_t af) {
    if (af == AF_INET) {
        return family::inet;
    }
    if (af == AF_INET6) {
        return family::inet6;
    }
    return make_error(EAFNOSUPPORT, "address family {}", af);
}

ip_address get_addr(family af, nlattr* a) {
    std::array<uint8_t, 16> bytes{};
    if (a) {
        std::memcpy(bytes.data(), nla_data(a), std::min<size_t>(16, static_cast<size_t>(nla_len(a))));
    }
    if (af == family::inet) {
        std::fill(bytes.begin() + 4, bytes.end(), 0);
    }
    return ip_address(af, bytes);
}

// IPVS_*_ATTR_STATS64 (u64 each), else the older IPVS_*_ATTR_STATS (u32).
result<> get_stats(nlattr* stats64, nlattr* stats32, counters& c, rates& r) {
    nlattr* tb[stats_max + 1] = {};
    bool wide = stats64 != nullptr;
    nlattr* nest = wide ? stats64 : stats32;
    if (!nest) {
        return {};
    }
    if (int rc = nla_parse_nested(tb, stats_max, nest, nullptr); rc < 0) {
        return make_error(EINVAL, "malformed IPVS statistics");
    }
    auto get = [&](int type) -> uint64_t {
        if (!tb[type]) {
            return 0;
        }
        return wide ? nla_get_u64(tb[type]) : nla_get_u32(tb[type]);
    };
    c.conns = get(IPVS_STATS_ATTR_CONNS);
    c.inpkts = get(IPVS_STATS_ATTR_INPKTS);
    c.outpkts = get(IPVS_STATS_ATTR_OUTPKTS);
    c.inbytes = get(IPVS_STATS_ATTR_INBYTES);
    c.outbytes = get(IPVS_STATS_ATTR_OUTBYTES);
    r.cps = get(IPVS_STATS_ATTR_CPS);
    r.inpps = get(IPVS_STATS_ATTR_INPPS);
    r.outpps = get(IPVS_STATS_ATTR_OUTPPS);
    r.inbps = get(IPVS_STATS_ATTR_INBPS);
    r.outbps = get(IPVS_STATS_ATTR_OUTBPS);
    return {};
}

// The reply's top-level attributes.
result<> parse_top(nl_msg* m, nlattr* (&tb)[cmd_max + 1]) {
    if (int rc = genlmsg_parse(nlmsg_hdr(m), 0, tb, cmd_max, nullptr); rc < 0) {
        return make_error(EINVAL, "malformed IPVS reply");
    }
    return {};
}

result<> put_key_attrs(nl_msg* m, const service_key& key) {
    if (nla_put_u16(m, IPVS_SVC_ATTR_AF, static_cast<uint16_t>(key.vip.addr.af())) < 0) {
        return too_big("service family");
    }
    if (key.is_fwmark()) {
        if (nla_put_u32(m, IPVS_SVC_ATTR_FWMARK, key.fwmark) < 0) {
            return too_big("service mark");
        }
        return {};
    }
    if (nla_put_u16(m, IPVS_SVC_ATTR_PROTOCOL, static_cast<uint16_t>(key.proto)) < 0 ||
        put_addr(m, IPVS_SVC_ATTR_ADDR, key.vip.addr) < 0 || nla_put_u16(m, IPVS_SVC_ATTR_PORT, htons(key.vip.port)) < 0) {
        return too_big("service address");
    }
    return {};
}

} // namespace

result<> put_service_key(nl_msg* m, const service_key& key) {
    nlattr* nest = nla_nest_start(m, IPVS_CMD_ATTR_SERVICE);
    if (!nest) {
        return too_big("service");
    }
    if (auto r = put_key_attrs(m, key); !r) {
        return r;
    }
    nla_nest_end(m, nest);
    return {};
}

result<> put_service(nl_msg* m, const service_config& s) {
    nlattr* nest = nla_nest_start(m, IPVS_CMD_ATTR_SERVICE);
    if (!nest) {
        return too_big("service");
    }
    if (auto r = put_key_attrs(m, s.key); !r) {
        return r;
    }
    // The kernel keeps HASHED for itself: a new service that carried it
    // would never be hashed (ip_vs_svc_hash()).
    ip_vs_flags flags{};
    flags.flags = s.flags & ~static_cast<uint32_t>(IP_VS_SVC_F_HASHED);
    flags.mask = ~0u;
    // -M: an IPv4 mask travels in network order, an IPv6 prefix length as is.
    uint32_t netmask = s.key.vip.addr.is_v4() ? htonl(s.netmask) : s.netmask;
    std::string sched(to_string(s.sched));
    if (nla_put_string(m, IPVS_SVC_ATTR_SCHED_NAME, sched.c_str()) < 0 ||
        nla_put(m, IPVS_SVC_ATTR_FLAGS, sizeof(flags), &flags) < 0 ||
        nla_put_u32(m, IPVS_SVC_ATTR_TIMEOUT, s.timeout) < 0 || nla_put_u32(m, IPVS_SVC_ATTR_NETMASK, netmask) < 0) {
        return too_big("service settings");
    }
    if (!s.pe_name.empty() && nla_put_string(m, IPVS_SVC_ATTR_PE_NAME, s.pe_name.c_str()) < 0) {
        return too_big("persistence engine");
    }
    nla_nest_end(m, nest);
    return {};
}

result<> put_dest(nl_msg* m, const dest_config& d, bool full) {
    nlattr* nest = nla_nest_start(m, IPVS_CMD_ATTR_DEST);
    if (!nest) {
        return too_big("dest");
    }
    if (put_addr(m, IPVS_DEST_ATTR_ADDR, d.addr.addr) < 0 || nla_put_u16(m, IPVS_DEST_ATTR_PORT, htons(d.addr.port)) < 0 ||
        nla_put_u16(m, IPVS_DEST_ATTR_ADDR_FAMILY, static_cast<uint16_t>(d.addr.addr.af())) < 0) {
        return too_big("dest address");
    }
    if (full) {
        if (nla_put_u32(m, IPVS_DEST_ATTR_FWD_METHOD, fwd_to_kernel(d.fwd)) < 0 ||
            nla_put_u32(m, IPVS_DEST_ATTR_WEIGHT, static_cast<uint32_t>(d.weight)) < 0 ||
            nla_put_u32(m, IPVS_DEST_ATTR_U_THRESH, d.u_threshold) < 0 ||
            nla_put_u32(m, IPVS_DEST_ATTR_L_THRESH, d.l_threshold) < 0 ||
            nla_put_u8(m, IPVS_DEST_ATTR_TUN_TYPE, static_cast<uint8_t>(d.tunnel)) < 0 ||
            nla_put_u16(m, IPVS_DEST_ATTR_TUN_PORT, htons(d.tun_port)) < 0 ||
            nla_put_u16(m, IPVS_DEST_ATTR_TUN_FLAGS, d.tun_flags) < 0) {
            return too_big("dest settings");
        }
    }
    nla_nest_end(m, nest);
    return {};
}

result<service_state> parse_service(nl_msg* m) {
    nlattr* top[cmd_max + 1] = {};
    if (auto r = parse_top(m, top); !r) {
        return r.error();
    }
    nlattr* tb[svc_max + 1] = {};
    if (!top[IPVS_CMD_ATTR_SERVICE] || nla_parse_nested(tb, svc_max, top[IPVS_CMD_ATTR_SERVICE], nullptr) < 0 ||
        !tb[IPVS_SVC_ATTR_AF] || !tb[IPVS_SVC_ATTR_SCHED_NAME]) {
        return make_error(EINVAL, "malformed IPVS service");
    }
    auto af = family_of(nla_get_u16(tb[IPVS_SVC_ATTR_AF]));
    if (!af) {
        return af.error();
    }
    service_state s;
    auto& c = s.config;
    uint32_t mark = tb[IPVS_SVC_ATTR_FWMARK] ? nla_get_u32(tb[IPVS_SVC_ATTR_FWMARK]) : 0;
    if (mark) {
        // How the model keeps a mark service: TCP, no address, no port.
        c.key = service_key{protocol::tcp, endpoint{ip_address(*af, {}), 0}, mark};
    } else {
        if (!tb[IPVS_SVC_ATTR_PROTOCOL] || !tb[IPVS_SVC_ATTR_ADDR] || !tb[IPVS_SVC_ATTR_PORT]) {
            return make_error(EINVAL, "malformed IPVS service: no protocol, address or port");
        }
        c.key.proto = static_cast<protocol>(nla_get_u16(tb[IPVS_SVC_ATTR_PROTOCOL]));
        c.key.vip = endpoint{get_addr(*af, tb[IPVS_SVC_ATTR_ADDR]), ntohs(nla_get_u16(tb[IPVS_SVC_ATTR_PORT]))};
    }
    s.fwmark = mark;
    const char* name = nla_get_string(tb[IPVS_SVC_ATTR_SCHED_NAME]);
    auto sched = parse_scheduler(name);
    if (!sched) {
        return make_error(EOPNOTSUPP, "a service schedules with '{}', which xlb's model does not know", name);
    }
    c.sched = *sched;
    if (tb[IPVS_SVC_ATTR_FLAGS] && nla_len(tb[IPVS_SVC_ATTR_FLAGS]) >= static_cast<int>(sizeof(ip_vs_flags))) {
        ip_vs_flags f{};
        std::memcpy(&f, nla_data(tb[IPVS_SVC_ATTR_FLAGS]), sizeof(f));
        c.flags = f.flags & ~static_cast<uint32_t>(IP_VS_SVC_F_HASHED);
    }
    c.timeout = tb[IPVS_SVC_ATTR_TIMEOUT] ? nla_get_u32(tb[IPVS_SVC_ATTR_TIMEOUT]) : 0;
    if (tb[IPVS_SVC_ATTR_NETMASK]) {
        uint32_t raw = nla_get_u32(tb[IPVS_SVC_ATTR_NETMASK]);
        c.netmask = *af == family::inet ? ntohl(raw) : raw;
    }
    if (tb[IPVS_SVC_ATTR_PE_NAME]) {
        c.pe_name = nla_get_string(tb[IPVS_SVC_ATTR_PE_NAME]);
    }
    if (auto r = get_stats(tb[IPVS_SVC_ATTR_STATS64], tb[IPVS_SVC_ATTR_STATS], s.stats, s.rate); !r) {
        return r.error();
    }
    return s;
}

result<dest_state> parse_dest(nl_msg* m, family svc_af) {
    nlattr* top[cmd_max + 1] = {};
    if (auto r = parse_top(m, top); !r) {
        return r.error();
    }
    nlattr* tb[dest_max + 1] = {};
    if (!top[IPVS_CMD_ATTR_DEST] || nla_parse_nested(tb, dest_max, top[IPVS_CMD_ATTR_DEST], nullptr) < 0 ||
        !tb[IPVS_DEST_ATTR_ADDR] || !tb[IPVS_DEST_ATTR_PORT] || !tb[IPVS_DEST_ATTR_FWD_METHOD]) {
        return make_error(EINVAL, "malformed IPVS dest");
    }
    family af = svc_af;
    if (tb[IPVS_DEST_ATTR_ADDR_FAMILY]) {
        auto f = family_of(nla_get_u16(tb[IPVS_DEST_ATTR_ADDR_FAMILY]));
        if (!f) {
            return f.error();
        }
        af = *f;
    }
    dest_state d;
    auto& c = d.config;
    c.addr = endpoint{get_addr(af, tb[IPVS_DEST_ATTR_ADDR]), ntohs(nla_get_u16(tb[IPVS_DEST_ATTR_PORT]))};
    auto fwd = fwd_from_kernel(nla_get_u32(tb[IPVS_DEST_ATTR_FWD_METHOD]));
    if (!fwd) {
        return fwd.error();
    }
    c.fwd = *fwd;
    auto u32 = [&](int type) { return tb[type] ? nla_get_u32(tb[type]) : 0u; };
    c.weight = static_cast<int32_t>(u32(IPVS_DEST_ATTR_WEIGHT));
    c.u_threshold = u32(IPVS_DEST_ATTR_U_THRESH);
    c.l_threshold = u32(IPVS_DEST_ATTR_L_THRESH);
    if (tb[IPVS_DEST_ATTR_TUN_TYPE]) {
        c.tunnel = static_cast<tun_type>(nla_get_u8(tb[IPVS_DEST_ATTR_TUN_TYPE]));
    }
    if (tb[IPVS_DEST_ATTR_TUN_PORT]) {
        c.tun_port = ntohs(nla_get_u16(tb[IPVS_DEST_ATTR_TUN_PORT]));
    }
    if (tb[IPVS_DEST_ATTR_TUN_FLAGS]) {
        c.tun_flags = static_cast<uint8_t>(nla_get_u16(tb[IPVS_DEST_ATTR_TUN_FLAGS]));
    }
    d.active_conns = u32(IPVS_DEST_ATTR_ACTIVE_CONNS);
    d.inactive_conns = u32(IPVS_DEST_ATTR_INACT_CONNS);
    d.persist_conns = u32(IPVS_DEST_ATTR_PERSIST_CONNS);
    if (auto r = get_stats(tb[IPVS_DEST_ATTR_STATS64], tb[IPVS_DEST_ATTR_STATS], d.stats, d.rate); !r) {
        return r.error();
    }
    return d;
}

} // namespace xlb::ipvs
