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
    uint8_t state = XLB_TCP_S_NONE; // enum xlb_tcp_state for TCP flows; unused for UDP and templates
    bool is_template = false;
    // A template whose connection reached ESTABLISHED (IPVS's
    // IP_VS_CTPL_S_ASSURED).
    bool assured = false;
    uint32_t expire_s = 0; // seconds until it expires, rounded down
    // A --pe sip template's Call-ID hash (xlb keeps the hash, not the text);
    // 0 for everything else.
    uint32_t pe_hash = 0;

    auto operator<=>(const conn_state&) const noexcept = default;
};

// The state column: IPVS's TCP state names, "UDP", and for templates "NONE"
// or "ASSURED" (ip_vs_state_name()).
std::string_view conn_state_name(const conn_state& c) noexcept;

} // namespace xlb
