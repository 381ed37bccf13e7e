#pragma once
// The checker blocks inside a real_server (internal to the parser):
// TCP_CHECK, HTTP_GET, SSL_GET, MISC_CHECK, UDP_CHECK and DNS_CHECK with
// keepalived's keywords (check_api.c's common ones, then each checker's
// own file), plus xlb's rise and fall.

#include "draft.h"

#include <optional>
#include <string_view>

namespace xlb::keepalived::detail {

// The checker a keyword opens, if it is one xlb runs.
std::optional<checker_kind> checker_keyword(std::string_view keyword) noexcept;
// A checker keepalived knows that xlb does not run (SMTP_CHECK, BFD_CHECK, ...).
bool unsupported_checker(std::string_view keyword) noexcept;

// Reads the block after st. nullopt: keepalived would drop the checker
// (an HTTP_GET without a url, a MISC_CHECK without misc_path); a notice
// says so.
result<std::optional<checker_draft>> parse_checker(session& s, const statement& st,
                                                   checker_kind kind);

} // namespace xlb::keepalived::detail
