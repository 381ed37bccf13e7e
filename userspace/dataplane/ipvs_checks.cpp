#include "ipvs_checks.h"

namespace xlb {

namespace {

// The persistence engines IPVS has (ip_vs_pe_getbyname()): only sip.
bool ipvs_knows_pe(const std::string& name) { return name.empty() || name == "sip"; }

} // namespace

result<> check_service_values(const service_config& s, const capabilities& caps) {
    if (!ipvs_knows_pe(s.pe_name)) {
        return make_error(ENOENT, "persistence engine {}", s.pe_name);
    }
    if (auto r = caps.check(s); !r) {
        return r;
    }
    if (!s.key.vip.addr.is_v4() && (s.netmask < 1 || s.netmask > 128)) {
        return make_error(EINVAL, "IPv6 prefix length {}", s.netmask);
    }
    return {};
}

result<> check_dest_values(const service_key& svc, const dest_config& d, const capabilities& caps) {
    if (d.addr.addr.af() != svc.vip.addr.af() && d.fwd != forwarding::tun) {
        return make_error(EINVAL, "an IPv{} dest of an IPv{} service needs tunnelling", d.addr.addr.is_v4() ? 4 : 6,
                          svc.vip.addr.is_v4() ? 4 : 6);
    }
    if (d.weight < 0) {
        return make_error(ERANGE, "weight {} below zero", d.weight);
    }
    if (d.l_threshold > d.u_threshold) {
        return make_error(ERANGE, "lower threshold {} above upper threshold {}", d.l_threshold, d.u_threshold);
    }
    if (d.tunnel == tun_type::gue && d.tun_port == 0) {
        return make_error(EINVAL, "a GUE tunnel needs --tun-port");
    }
    return caps.check(d);
}

} // namespace xlb
