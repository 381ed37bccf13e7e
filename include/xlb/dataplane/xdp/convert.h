#pragma once
// The XDP backend's conversions between the model (model/) and the map ABI
// (<xlb/abi.h>). Nothing above the XDP backend includes this.

#include <xlb/abi.h>
#include <xlb/model/service.h>

namespace xlb::xdp {

// {af, proto, vip, vport} in network order. A fwmark key has no ABI form:
// the XDP backend refuses fwmark services before it gets here.
struct xlb_svc_key svc_key_to_abi(const service_key& k) noexcept;
service_key svc_key_from_abi(const struct xlb_svc_key& k) noexcept;

// ipvs_flags as svcs[] stores them: IPVS's bits, plus XLB_SVC_PE_SIP for --pe sip.
uint32_t svc_flags_to_abi(const service_config& c) noexcept;
// svcs[] back into the model: the XLB_SVC_PE_SIP bit becomes pe_name "sip".
service_config svc_config_from_abi(const struct xlb_svc& s) noexcept;

dest_config dest_from_abi(const struct xlb_dest& d) noexcept;

} // namespace xlb::xdp
