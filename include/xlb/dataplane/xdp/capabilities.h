#pragma once
// What the XDP data path does today, for capabilities::check() to refuse
// the rest with EOPNOTSUPP and a reason.

#include <xlb/dataplane/dataplane.h>

#include <cstdint>

namespace xlb::xdp {

// Every scheduler but lblc and lblcr; -g -i -m; TCP and UDP; ipip and gue
// tunnels; --pe sip; verdict counters, rates and the connection listing.
// max_dests_*: the dests one service can hold (capabilities::max_dests()).
capabilities xdp_capabilities(uint32_t max_dests_hashed, uint32_t max_dests_scanned);

} // namespace xlb::xdp
