#include "reader.h"

#include <fmt/format.h>

#include <cerrno>

namespace xlb::keepalived::detail {

std::string statement::rest(size_t i) const {
    std::string out;
    for (; i < words.size(); ++i) {
        if (!out.empty()) {
            out += ' ';
        }
        out += words[i].text;
    }
    return out;
}

void token_stream::skip_eols() {
    while (_i < _tokens.size() && _tokens[_i].kind == token_kind::end_of_line) {
        ++_i;
    }
}

std::optional<statement> token_stream::next_statement() {
    skip_eols();
    if (at_end() || _tokens[_i].kind != token_kind::word) {
        return std::nullopt;
    }
    statement st;
    while (_i < _tokens.size() && _tokens[_i].kind == token_kind::word) {
        st.words.push_back(_tokens[_i]);
        ++_i;
    }
    if (_i < _tokens.size() && _tokens[_i].kind == token_kind::end_of_line) {
        ++_i;
    }
    return st;
}

bool token_stream::block_follows() {
    skip_eols();
    return !at_end() && _tokens[_i].kind == token_kind::open;
}

const token* token_stream::peek_close() {
    skip_eols();
    if (!at_end() && _tokens[_i].kind != token_kind::word) {
        return &_tokens[_i];
    }
    return nullptr;
}

result<void> token_stream::each_in_block(const statement& owner,
                                         const std::function<result<void>(const statement&)>& fn) {
    if (!block_follows()) {
        return syntax_error(owner.where(), fmt::format("{} needs a '{{' block", owner.keyword()));
    }
    const source_pos opened = _tokens[_i].where;
    ++_i;
    while (true) {
        skip_eols();
        if (at_end()) {
            return syntax_error(opened, fmt::format("'{{' of {} is never closed (missing '}}')",
                                                    owner.keyword()));
        }
        const token& t = _tokens[_i];
        if (t.kind == token_kind::close) {
            ++_i;
            return {};
        }
        if (t.kind == token_kind::open) {
            return syntax_error(t.where, "unexpected '{' without a keyword");
        }
        auto st = next_statement();
        if (auto r = fn(*st); !r) {
            return r;
        }
        if (auto r = no_block(*st); !r) {
            return r;
        }
    }
}

result<void> token_stream::skip_block_if_any(const statement& owner) {
    if (!block_follows()) {
        return {};
    }
    const source_pos opened = _tokens[_i].where;
    int depth = 0;
    for (; _i < _tokens.size(); ++_i) {
        if (_tokens[_i].kind == token_kind::open) {
            ++depth;
        } else if (_tokens[_i].kind == token_kind::close && --depth == 0) {
            ++_i;
            return {};
        }
    }
    return syntax_error(opened,
                        fmt::format("'{{' of {} is never closed (missing '}}')", owner.keyword()));
}

result<void> token_stream::no_block(const statement& owner) {
    if (!at_end() && _tokens[_i].kind == token_kind::open) {
        return syntax_error(_tokens[_i].where,
                            fmt::format("unexpected '{{': {} takes no block", owner.keyword()));
    }
    return {};
}

result<void> need_args(const statement& st, size_t n, std::string_view what) {
    if (st.args() < n) {
        return syntax_error(st.where(), fmt::format("{} needs {}", st.keyword(), what));
    }
    return {};
}

result<uint32_t> read_uint(const token& t, uint64_t min, uint64_t max, std::string_view what) {
    uint64_t v = 0;
    bool ok = !t.text.empty() && t.text.size() <= 10;
    for (char c : t.text) {
        if (c < '0' || c > '9') {
            ok = false;
            break;
        }
        v = v * 10 + static_cast<uint64_t>(c - '0');
    }
    if (!ok) {
        return syntax_error(t.where, fmt::format("bad number '{}' for {}", t.text, what));
    }
    if (v < min || v > max) {
        return syntax_error(t.where,
                            fmt::format("{} {} out of range {}-{}", what, t.text, min, max));
    }
    return static_cast<uint32_t>(v);
}

result<std::chrono::milliseconds> read_seconds(const token& t, std::chrono::milliseconds min,
                                               std::string_view what) {
    // read_timer(): decimal seconds; keepalived keeps microseconds, xlb
    // milliseconds, so at most three decimals.
    const std::string& s = t.text;
    uint64_t whole = 0;
    uint64_t frac = 0;
    size_t i = 0;
    size_t digits = 0;
    for (; i < s.size() && s[i] >= '0' && s[i] <= '9' && digits < 9; ++i, ++digits) {
        whole = whole * 10 + static_cast<uint64_t>(s[i] - '0');
    }
    bool ok = digits > 0;
    if (ok && i < s.size() && s[i] == '.') {
        ++i;
        size_t fdigits = 0;
        for (; i < s.size() && s[i] >= '0' && s[i] <= '9' && fdigits < 3; ++i, ++fdigits) {
            frac = frac * 10 + static_cast<uint64_t>(s[i] - '0');
        }
        ok = fdigits > 0;
        for (; fdigits < 3; ++fdigits) {
            frac *= 10;
        }
    }
    if (!ok || i != s.size()) {
        return syntax_error(t.where, fmt::format("bad time '{}' for {} (seconds, at most 3 decimals)",
                                                 s, what));
    }
    std::chrono::milliseconds v(whole * 1000 + frac);
    if (v < min) {
        return syntax_error(t.where, fmt::format("{} {} must be at least {} ms", what, s, min.count()));
    }
    return v;
}

result<ip_address> read_address(const token& t, std::string_view what) {
    auto a = ip_address::parse(t.text);
    if (!a) {
        return syntax_error(t.where, fmt::format("bad address '{}' for {}", t.text, what));
    }
    return *a;
}

result<uint16_t> read_port(const token& t, std::string_view what) {
    auto v = read_uint(t, 0, 65535, what);
    if (!v) {
        return v.error();
    }
    return static_cast<uint16_t>(*v);
}

result<bool> read_flag(const statement& st) {
    if (st.args() == 0) {
        return true;
    }
    const std::string& s = st.arg(1).text;
    if (s == "true" || s == "on" || s == "yes") {
        return true;
    }
    if (s == "false" || s == "off" || s == "no") {
        return false;
    }
    return syntax_error(st.arg(1).where,
                        fmt::format("bad {} value '{}' (true/on/yes or false/off/no)", st.keyword(), s));
}

namespace {
int hex_value(char c) {
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}
} // namespace

result<std::string> read_hex(const statement& st, size_t from, std::string_view what) {
    if (auto r = need_args(st, from, fmt::format("{} in hex", what)); !r) {
        return r.error();
    }
    // Each word is bytes of two digits; an odd last digit is a byte of its
    // own, as read_hex_str() reads "1 23".
    std::string out;
    for (size_t w = from; w <= st.args(); ++w) {
        const token& t = st.arg(w);
        for (size_t i = 0; i < t.text.size(); i += 2) {
            int hi = hex_value(t.text[i]);
            int lo = i + 1 < t.text.size() ? hex_value(t.text[i + 1]) : 0;
            if (hi < 0 || lo < 0) {
                return syntax_error(t.where, fmt::format("bad hex '{}' for {}", t.text, what));
            }
            int v = i + 1 < t.text.size() ? hi * 16 + lo : hi;
            out += static_cast<char>(v);
        }
    }
    return out;
}

} // namespace xlb::keepalived::detail
