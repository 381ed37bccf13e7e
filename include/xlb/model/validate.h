#pragma once
// Addresses in a table change: what kernel IPVS refuses (with the errno it
// answers), and what it accepts although no packet could ever be balanced
// through xlb's data path that way (warnings).

#include <xlb/model/service.h>
#include <xlb/util/error.h>

#include <string>
#include <vector>

namespace xlb {

// What kernel IPVS answers when d is added to svc, as far as the address
// goes (ip_vs_new_dest() in net/netfilter/ipvs/ip_vs_ctl.c): EINVAL for a
// real server that is neither unicast nor local.
//  - IPv4 (inet_addr_type() must be RTN_UNICAST or RTN_LOCAL): 0.0.0.0 and
//    255.255.255.255 are broadcast, 224.0.0.0/4 multicast, and
//    127.255.255.255 is the broadcast route lo's 127.0.0.1/8 puts in the
//    local table. The rest of 0.0.0.0/8 is unicast since Linux 5.3.
//  - IPv6 (ipv6_addr_type() must be unicast and not link-local, unless the
//    address is one of this host's): ::, ff00::/8, fe80::/10 and the
//    IPv4-mapped ::ffff:0:0/96 (ipv6_addr_type() gives it no unicast bit).
// The family is the real server's own (a tunnel server may differ from the
// service's). What depends on this host's configuration is left out: the
// broadcast address of a configured subnet (refused by IPVS), and the
// director's own link-local or mapped address (accepted by IPVS).
[[nodiscard]] result<> check_dest_address(const service_key& svc, const dest_config& d);

// Why an address IPVS accepts cannot work through xlb: a virtual address no
// packet on the wire carries to this host (unspecified, broadcast,
// multicast, loopback, IPv4-mapped), or a real server that is the virtual
// address itself. With d null, the warnings for the service (-A, -E);
// otherwise those for d in it (-a, -e). Each warning is one sentence,
// without the program's name or a newline.
[[nodiscard]] std::vector<std::string> address_warnings(const service_key& svc, const dest_config* d);

} // namespace xlb
