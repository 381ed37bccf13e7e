#include <xlb/model/address.h>

#include <arpa/inet.h>
#include <fmt/format.h>

#include <charconv>
#include <cstring>

namespace xlb {

ip_address::ip_address(family f, const std::array<uint8_t, 16>& bytes) noexcept
    : _family(f), _bytes(bytes) {
    if (f == family::inet) {
        std::fill(_bytes.begin() + 4, _bytes.end(), 0);
    }
}

std::optional<ip_address> ip_address::parse(std::string_view text) noexcept {
    if (text.empty() || text.size() >= INET6_ADDRSTRLEN) {
        return std::nullopt;
    }
    char buf[INET6_ADDRSTRLEN] = {};
    std::memcpy(buf, text.data(), text.size());
    std::array<uint8_t, 16> bytes{};
    // inet_pton, not inet_aton: "10.1" or "0x0a000001" are not addresses here.
    if (inet_pton(AF_INET, buf, bytes.data()) == 1) {
        return ip_address(family::inet, bytes);
    }
    if (inet_pton(AF_INET6, buf, bytes.data()) == 1) {
        return ip_address(family::inet6, bytes);
    }
    return std::nullopt;
}

ip_address ip_address::from_abi(uint8_t af, const union xlb_addr& a) noexcept {
    std::array<uint8_t, 16> bytes{};
    std::memcpy(bytes.data(), a.bytes, 16);
    return ip_address(af == XLB_AF_INET6 ? family::inet6 : family::inet, bytes);
}

union xlb_addr ip_address::to_abi() const noexcept {
    union xlb_addr a {};
    std::memcpy(a.bytes, _bytes.data(), 16);
    return a;
}

std::array<uint32_t, 4> ip_address::host_words() const noexcept {
    std::array<uint32_t, 4> w{};
    for (size_t i = 0; i < 4; ++i) {
        uint32_t be;
        std::memcpy(&be, _bytes.data() + 4 * i, 4);
        w[i] = ntohl(be);
    }
    return w;
}

std::string ip_address::to_string() const {
    char buf[INET6_ADDRSTRLEN] = {};
    inet_ntop(is_v4() ? AF_INET : AF_INET6, _bytes.data(), buf, sizeof(buf));
    return buf;
}

std::optional<uint16_t> parse_port(std::string_view text) noexcept {
    unsigned v = 0;
    auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    if (text.empty() || ec != std::errc() || p != text.data() + text.size() || v > 65535) {
        return std::nullopt;
    }
    return static_cast<uint16_t>(v);
}

std::optional<endpoint> endpoint::parse(std::string_view text) noexcept {
    std::string_view host = text;
    std::string_view port;
    bool has_port = false;
    if (!text.empty() && text.front() == '[') {
        auto close = text.find(']');
        if (close == std::string_view::npos) {
            return std::nullopt;
        }
        host = text.substr(1, close - 1);
        auto rest = text.substr(close + 1);
        if (!rest.empty()) {
            if (rest.front() != ':') {
                return std::nullopt;
            }
            port = rest.substr(1);
            has_port = true;
        }
        auto a = ip_address::parse(host);
        if (!a || a->is_v4()) {
            return std::nullopt;
        }
    } else if (auto colon = text.find(':'); colon != std::string_view::npos) {
        if (text.find(':', colon + 1) == std::string_view::npos) {
            host = text.substr(0, colon);
            port = text.substr(colon + 1);
            has_port = true;
        }
        // else: a bare IPv6 address without a port.
    }
    auto a = ip_address::parse(host);
    if (!a) {
        return std::nullopt;
    }
    endpoint e{*a, 0};
    if (has_port) {
        auto p = parse_port(port);
        if (!p) {
            return std::nullopt;
        }
        e.port = *p;
    }
    return e;
}

std::string endpoint::to_string() const {
    // fmt rather than `"[" + s + "]:"`: g++ 12 at -O3 reports a false -Wrestrict
    // inside operator+(const char*, std::string&&) (GCC bug 105329).
    if (addr.is_v4()) {
        return fmt::format("{}:{}", addr.to_string(), port);
    }
    return fmt::format("[{}]:{}", addr.to_string(), port);
}

} // namespace xlb

size_t std::hash<xlb::ip_address>::operator()(const xlb::ip_address& a) const noexcept {
    size_t h = static_cast<size_t>(a.af());
    for (uint8_t b : a.bytes()) {
        h = h * 131 + b;
    }
    return h;
}

size_t std::hash<xlb::endpoint>::operator()(const xlb::endpoint& e) const noexcept {
    return std::hash<xlb::ip_address>{}(e.addr) * 65537 + e.port;
}
