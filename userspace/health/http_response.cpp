#include "http_response.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <charconv>

namespace xlb::health::detail {
namespace {

constexpr size_t max_head = 16 * 1024;

std::string hex(const unsigned char* p, unsigned n) {
    std::string out;
    out.reserve(2 * n);
    for (unsigned i = 0; i < n; ++i) {
        fmt::format_to(std::back_inserter(out), "{:02x}", p[i]);
    }
    return out;
}

bool iequals_prefix(std::string_view line, std::string_view name) {
    if (line.size() < name.size()) {
        return false;
    }
    return std::equal(name.begin(), name.end(), line.begin(), [](char a, char b) {
        return std::tolower(static_cast<unsigned char>(a)) == std::tolower(static_cast<unsigned char>(b));
    });
}

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) {
        s.remove_prefix(1);
    }
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) {
        s.remove_suffix(1);
    }
    return s;
}

} // namespace

http_response::http_response() = default;

void http_response::reset(bool hash) {
    _hash = hash;
    _in_body = false;
    _head.clear();
    _status.reset();
    _content_length.reset();
    _body_len = 0;
    _problem.clear();
    if (_hash) {
        // Made once per check, and only for a url with a digest.
        if (!_md) {
            _md.reset(EVP_MD_CTX_new());
        }
        if (_md) {
            EVP_DigestInit_ex(_md.get(), EVP_md5(), nullptr);
        }
    }
}

bool http_response::feed(std::string_view bytes) {
    if (_in_body) {
        body(bytes);
        return true;
    }
    size_t old = _head.size();
    _head.append(bytes);
    // The blank line may straddle the previous piece.
    size_t from = old >= 3 ? old - 3 : 0;
    size_t end = _head.find("\r\n\r\n", from);
    if (end == std::string::npos) {
        if (_head.size() > max_head) {
            _problem = fmt::format("HTTP header over {} bytes", max_head);
            return false;
        }
        return true;
    }
    std::string rest = _head.substr(end + 4);
    _head.resize(end + 2);
    if (!parse_head()) {
        return false;
    }
    _in_body = true;
    body(rest);
    return true;
}

bool http_response::parse_head() {
    // "HTTP/1.x NNN reason"
    std::string_view head(_head);
    size_t eol = head.find("\r\n");
    std::string_view line = head.substr(0, eol);
    size_t sp = line.find(' ');
    unsigned code = 0;
    if (!line.starts_with("HTTP/") || sp == std::string_view::npos || line.size() < sp + 4 ||
        std::from_chars(line.data() + sp + 1, line.data() + sp + 4, code).ptr != line.data() + sp + 4) {
        _problem = fmt::format("bad HTTP status line '{}'", line.substr(0, 64));
        return false;
    }
    _status = code;
    for (size_t pos = eol + 2; pos < head.size();) {
        size_t next = head.find("\r\n", pos);
        std::string_view h = head.substr(pos, next - pos);
        pos = next == std::string_view::npos ? head.size() : next + 2;
        if (iequals_prefix(h, "content-length:")) {
            auto v = trim(h.substr(15));
            uint64_t len = 0;
            if (std::from_chars(v.data(), v.data() + v.size(), len).ptr == v.data() + v.size()) {
                _content_length = len;
            }
        }
    }
    return true;
}

void http_response::body(std::string_view bytes) {
    if (_content_length) {
        bytes = bytes.substr(0, std::min<uint64_t>(bytes.size(), *_content_length - _body_len));
    }
    _body_len += bytes.size();
    if (_hash && _md && !bytes.empty()) {
        EVP_DigestUpdate(_md.get(), bytes.data(), bytes.size());
    }
}

bool http_response::complete() const noexcept {
    return _in_body && _content_length && _body_len >= *_content_length;
}

std::string http_response::digest() {
    unsigned char out[EVP_MAX_MD_SIZE];
    unsigned n = 0;
    if (!_hash || !_md || EVP_DigestFinal_ex(_md.get(), out, &n) != 1) {
        return {};
    }
    _hash = false;
    return hex(out, n);
}

std::string md5_hex(std::string_view bytes) {
    unsigned char out[EVP_MAX_MD_SIZE];
    unsigned n = 0;
    EVP_Digest(bytes.data(), bytes.size(), out, &n, EVP_md5(), nullptr);
    return hex(out, n);
}

} // namespace xlb::health::detail
