#pragma once
// virtual_server blocks with their real_server and sorry_server (internal
// to the parser), keepalived's defaults applied when the block closes.

#include "draft.h"

#include <optional>

namespace xlb::keepalived::detail {

// Reads `virtual_server ADDR PORT | fwmark N | group NAME { ... }`.
// nullopt: keepalived would drop it (no real servers); a notice says so.
result<std::optional<virtual_server_spec>> parse_virtual_server(session& s, const statement& st);

} // namespace xlb::keepalived::detail
