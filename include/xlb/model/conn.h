#pragma once
// One entry of the connection table as ipvsadm -L -c shows it: a tracked
// flow, or a persistence template (IPVS's IP_VS_CONN_F_TEMPLATE entries).

#include <xlb/abi.h>
#include <xlb/model/address.h>
#include <xlb/model/service.h>

#include <compare>
#include <cstdint>
#include <string_view>

namespace xlb {

struct conn_state {
    protocol proto = protocol::tcp;
    endpoint client;  // a template's: the masked client, port 0
    endpoint vip;     // a template's port is 0 for a port-0 or FTP (21) service, as in IPVS
    endpoint dest;    // a template's port is 0 where its virtual port is
    // enum xlb_tcp_state for TCP flows, enum sctp_state for SCTP ones
    // (kernel IPVS only); unused for UDP and templates.
    uint8_t state = XLB_TCP_S_NONE;
    bool is_template = false;
    // A template whose connection reached ESTABLISHED (IPVS's
    // IP_VS_CTPL_S_ASSURED).
    bool assured = false;
    uint32_t expire_s = 0; // seconds until it expires, rounded down
    // A --pe sip template's Call-ID hash (xlb keeps the hash, not the text);
    // 0 for everything else.
    uint32_t pe_hash = 0;
    // A fwmark service's template (kernel IPVS only): the mark, which IPVS
    // keeps in place of the virtual address (vip holds it as an address,
    // 0.0.0.7 for mark 7), with protocol "IP"; 0 for everything else.
    uint32_t fwmark = 0;

    auto operator<=>(const conn_state&) const noexcept = default;
};

// IP_VS_SCTP_S_* of ip_vs.h: an SCTP entry's state, in the order of the
// kernel's sctp_state_name_table[] (ip_vs_proto_sctp.c).
enum class sctp_state : uint8_t {
    none,
    init1,
    init,
    cookie_sent,
    cookie_replied,
    cookie_wait,
    cookie_echoed,
    established,
    shutdown_sent,
    shutdown_received,
    shutdown_ack_sent,
    rejected,
    closed,
    last
};

// The state column: IPVS's TCP and SCTP state names, "UDP", and for
// templates "NONE" or "ASSURED" (ip_vs_state_name()).
std::string_view conn_state_name(const conn_state& c) noexcept;
// Whether a flow counts in its dest's ActiveConn (else InActConn): a TCP
// flow in SYN_SENT, SYN_RECV, SYNACK or ESTABLISHED (IPVS's
// tcp_state_active_table, bpf/conntrack.h's tcp_state_active()). Not
// for templates, which count in PersistConn.
bool conn_counts_active(const conn_state& c) noexcept;
// The protocol column: "TCP", "UDP", "SCTP", or "IP" for a fwmark
// service's template (ip_vs_proto_name(IPPROTO_IP)).
std::string_view conn_protocol_name(const conn_state& c) noexcept;
// The state names, in enum order: what /proc/net/ip_vs_conn writes.
std::string_view sctp_state_name(sctp_state s) noexcept;

} // namespace xlb
