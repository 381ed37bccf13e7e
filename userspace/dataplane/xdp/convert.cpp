#include <xlb/dataplane/xdp/convert.h>

#include <arpa/inet.h>

namespace xlb::xdp {

struct xlb_svc_key svc_key_to_abi(const service_key& k) noexcept {
    struct xlb_svc_key a {};
    a.vip = k.vip.addr.to_abi();
    a.vport = htons(k.vip.port);
    a.proto = static_cast<uint8_t>(k.proto);
    a.af = static_cast<uint8_t>(k.vip.addr.af());
    return a;
}

service_key svc_key_from_abi(const struct xlb_svc_key& k) noexcept {
    return service_key{static_cast<protocol>(k.proto), endpoint{ip_address::from_abi(k.af, k.vip), ntohs(k.vport)}};
}

uint32_t svc_flags_to_abi(const service_config& c) noexcept {
    return (c.flags & ~XLB_SVC_PE_SIP) | (c.pe_name == "sip" ? XLB_SVC_PE_SIP : 0u);
}

service_config svc_config_from_abi(const struct xlb_svc& s) noexcept {
    service_config c;
    c.key = svc_key_from_abi(s.key);
    c.sched = static_cast<scheduler>(s.sched);
    c.flags = s.ipvs_flags & ~XLB_SVC_PE_SIP;
    c.timeout = s.timeout;
    c.netmask = s.netmask;
    if (s.ipvs_flags & XLB_SVC_PE_SIP) {
        c.pe_name = "sip";
    }
    return c;
}

dest_config dest_from_abi(const struct xlb_dest& d) noexcept {
    dest_config c;
    c.addr = endpoint{ip_address::from_abi(d.af, d.addr), ntohs(d.port)};
    c.fwd = static_cast<forwarding>(d.fwd);
    c.weight = d.weight;
    c.u_threshold = d.u_threshold;
    c.l_threshold = d.l_threshold;
    c.tunnel = static_cast<tun_type>(d.tun_type);
    c.tun_port = ntohs(d.tun_port);
    c.tun_flags = d.tun_flags;
    return c;
}

} // namespace xlb::xdp
