#pragma once
// keepalived.conf's lexical layer (internal to the parser): words, quoted
// strings, braces and line ends, with comments removed and `include`
// globs expanded in place. keepalived's rules (lib/parser.c: decomment(),
// read_line(), alloc_strvec_r(), check_include()):
// - `#` and `!` outside double quotes start a comment, anywhere on a line;
//   `\#` and `\!` outside quotes stand for the character itself;
// - a `\` ending a line joins the next line to it;
// - "a quoted string" is one word without its quotes; a quote left open
//   at the end of its line is an error here;
// - `{` and `}` outside quotes are tokens of their own, even inside a word;
// - a line starting with `include` (or includer/includem/includew/includeb/
//   includea) names a glob; each file it matches is read in its place, in
//   glob's order. A relative pattern is relative to the directory of the
//   file holding the include (keepalived chdir()s there while reading it);
//   a pattern matching nothing gives a notice, as keepalived only logs it,
//   and so does a match that is a directory or an executable (skipped).

#include <xlb/keepalived/config.h>
#include <xlb/util/error.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace xlb::keepalived::detail {

enum class token_kind : uint8_t { word, open, close, end_of_line };

struct token {
    token_kind kind = token_kind::word;
    std::string text; // a word's text, unquoted
    bool quoted = false;
    source_pos where;
};

struct lexed {
    std::vector<token> tokens;
    std::vector<std::string> files;
    std::vector<notice> notices;
};

// Reads path and every file it includes.
result<lexed> lex_file(const std::string& path);
// The same from text named `name`; includes resolve against the current
// directory.
result<lexed> lex_string(std::string_view text, const std::string& name);

// "file:line:column: message" as an EINVAL error.
error syntax_error(const source_pos& at, std::string_view message);

} // namespace xlb::keepalived::detail
