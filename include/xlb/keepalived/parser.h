#pragma once
// keepalived.conf's grammar, the virtual_server half: a lexer (comments `#`
// and `!`, quoted strings, braces, `include` with globs) and a parser that
// fills config.h's types with keepalived's defaults applied.
//
// vrrp_* and global_defs blocks (and every other top-level block keepalived
// knows that is not ours) are skipped with one notice each. A keyword or
// checker not supported yet gives a notice with its name and position.
// A syntax error is an error whose message starts "file:line:column: ".

#include <xlb/keepalived/config.h>
#include <xlb/util/error.h>

#include <string>
#include <string_view>

namespace xlb::keepalived {

// Reads path and what it includes. EINVAL with "file:line:column: message"
// on a syntax or semantic error, the errno on a file that cannot be read.
result<config> parse_file(const std::string& path);
// The same from text; `name` stands for the file in messages, and includes
// resolve relative to the current directory.
result<config> parse_string(std::string_view text, const std::string& name);

} // namespace xlb::keepalived
