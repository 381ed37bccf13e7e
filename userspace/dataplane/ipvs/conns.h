#pragma once
// Kernel IPVS's connection table as ipvsadm -L -c reads it: the text of
// /proc/net/ip_vs_conn (ip_vs_conn_seq_show() in net/netfilter/ipvs/
// ip_vs_conn.c), one entry a line after a title line:
//
//   Pro FromIP   FPrt ToIP     TPrt DestIP   DPrt State       Expires PEName PEData
//   TCP 0A000001 9C40 0A000064 0050 0A010002 0050 ESTABLISHED     898
//
// An IPv4 entry's addresses are hex words (host order of the value), an
// IPv6 one's as %pI6 writes them (eight groups of four hex digits); the
// dest has its own family (a tunnel dest may differ). Ports are hex, the
// state is the protocol's name for it, Expires is whole seconds.
// Private to libxlb's ipvs backend.

#include <xlb/model/conn.h>
#include <xlb/util/error.h>

#include <string_view>
#include <vector>

namespace xlb::ipvs {

// Every entry of the text: TCP, UDP and SCTP flows (each with its
// protocol's states) and persistence templates (state NONE or ASSURED),
// a fwmark service's with protocol "IP" and the mark as its virtual
// address. In the text's order. EINVAL for a line that is not the
// kernel's format.
[[nodiscard]] result<std::vector<conn_state>> parse_proc_conns(std::string_view text);

} // namespace xlb::ipvs
