#pragma once
// An HTTP response read in pieces: the status line and headers are kept
// (up to a limit), the body is only hashed (MD5, when a digest is wanted)
// and counted, never stored.

#include <openssl/evp.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace xlb::health::detail {

class http_response {
public:
    http_response();

    // Starts a new response; `hash` computes the body's MD5.
    void reset(bool hash);
    // Takes the next bytes; false when the response is malformed (problem()).
    bool feed(std::string_view bytes);

    [[nodiscard]] bool has_status() const noexcept { return _status.has_value(); }
    [[nodiscard]] unsigned status() const noexcept { return _status.value_or(0); }
    // Content-Length given and that much body read.
    [[nodiscard]] bool complete() const noexcept;
    [[nodiscard]] const std::string& problem() const noexcept { return _problem; }
    // The body's MD5 in lowercase hex (ends the hash).
    [[nodiscard]] std::string digest();

private:
    bool parse_head();
    void body(std::string_view bytes);

    struct md_free {
        void operator()(EVP_MD_CTX* c) const noexcept { EVP_MD_CTX_free(c); }
    };
    std::unique_ptr<EVP_MD_CTX, md_free> _md;
    bool _hash = false;
    bool _in_body = false;
    std::string _head;
    std::optional<unsigned> _status;
    std::optional<uint64_t> _content_length;
    uint64_t _body_len = 0;
    std::string _problem;
};

// MD5 of `bytes` in lowercase hex.
std::string md5_hex(std::string_view bytes);

} // namespace xlb::health::detail
