#pragma once
// Statements over the lexer's tokens (internal to the parser): a keyword
// line with its arguments and, for block keywords, the `{ ... }` after it
// (keepalived allows the `{` on the next line). Also the readers of
// argument values, each failing with "file:line:column: message".

#include "lexer.h"

#include <xlb/keepalived/config.h>
#include <xlb/model/address.h>
#include <xlb/util/error.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace xlb::keepalived::detail {

struct statement {
    std::vector<token> words; // words[0]: the keyword

    [[nodiscard]] const std::string& keyword() const { return words.front().text; }
    [[nodiscard]] const source_pos& where() const { return words.front().where; }
    [[nodiscard]] size_t args() const { return words.size() - 1; }
    [[nodiscard]] const token& arg(size_t i) const { return words.at(i); } // 1-based
    // The arguments from i on joined with spaces (a command line).
    [[nodiscard]] std::string rest(size_t i) const;
};

class token_stream {
public:
    explicit token_stream(const std::vector<token>& tokens) : _tokens(tokens) {}

    // The next statement, or nullopt at a `}` (not consumed) or the end.
    std::optional<statement> next_statement();
    // Whether a `{` comes next, line ends skipped.
    bool block_follows();
    // Runs fn on each statement of the block that must follow `owner`.
    result<void> each_in_block(const statement& owner,
                               const std::function<result<void>(const statement&)>& fn);
    // Skips the block after owner if there is one.
    result<void> skip_block_if_any(const statement& owner);
    // After a statement: a `{` here means it took a block it should not have.
    result<void> no_block(const statement& owner);
    // At the top level: a `}` with nothing open.
    [[nodiscard]] const token* peek_close();
    void consume() { ++_i; }
    [[nodiscard]] bool at_end() const { return _i >= _tokens.size(); }

private:
    void skip_eols();
    const std::vector<token>& _tokens;
    size_t _i = 0;
};

// Reads args(), failing when fewer than n arguments follow the keyword.
result<void> need_args(const statement& st, size_t n, std::string_view what = "a value");

result<uint32_t> read_uint(const token& t, uint64_t min, uint64_t max, std::string_view what);
// Seconds with up to three decimals ("0.5") as milliseconds, at least min.
result<std::chrono::milliseconds> read_seconds(const token& t, std::chrono::milliseconds min,
                                               std::string_view what);
result<ip_address> read_address(const token& t, std::string_view what);
// A port 0-65535; 0 is "none" (keepalived's legacy spelling).
result<uint16_t> read_port(const token& t, std::string_view what);
// An optional true/on/yes or false/off/no after the keyword (check_true_false()).
result<bool> read_flag(const statement& st);
// Hex digits with optional blanks between bytes (read_hex_str()), as bytes.
result<std::string> read_hex(const statement& st, size_t from, std::string_view what);

} // namespace xlb::keepalived::detail
