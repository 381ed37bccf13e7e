#pragma once
// The model (service_config, dest_config, their states) to and from the
// IPVS family's attributes (<linux/ip_vs.h>), as ip_vs_ctl.c reads and
// fills them: addresses as 16-byte nf_inet_addr, ports in network order, an
// IPv4 netmask in network order and an IPv6 one as a prefix length, flags
// as struct ip_vs_flags. Private to libxlb's ipvs backend.

#include <xlb/model/service.h>
#include <xlb/util/error.h>

struct nl_msg;
struct nlattr;

namespace xlb::ipvs {

// IPVS_CMD_ATTR_SERVICE with what identifies the service: the family and
// either the mark or protocol, address and port.
[[nodiscard]] result<> put_service_key(nl_msg* m, const service_key& key);
// IPVS_CMD_ATTR_SERVICE with everything NEW_SERVICE / SET_SERVICE need.
[[nodiscard]] result<> put_service(nl_msg* m, const service_config& s);
// IPVS_CMD_ATTR_DEST: the address, port and family, and with `full`
// everything NEW_DEST / SET_DEST need.
[[nodiscard]] result<> put_dest(nl_msg* m, const dest_config& d, bool full);

// A reply's IPVS_CMD_ATTR_SERVICE, without its dests.
[[nodiscard]] result<service_state> parse_service(nl_msg* m);
// A reply's IPVS_CMD_ATTR_DEST of a service of family `svc_af`.
[[nodiscard]] result<dest_state> parse_dest(nl_msg* m, family svc_af);

} // namespace xlb::ipvs
