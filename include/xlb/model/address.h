#pragma once
// Value types for addresses: ip_address (IPv4 or IPv6) and endpoint
// (address and port). Parse and format round-trip: "10.0.0.1", "2001:db8::1",
// "10.0.0.1:80", "[2001:db8::1]:443".

#include <xlb/abi.h>

#include <array>
#include <compare>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace xlb {

enum class family : uint8_t { inet = XLB_AF_INET, inet6 = XLB_AF_INET6 };

class ip_address {
public:
    ip_address() noexcept = default;
    // Network-order bytes; IPv4 uses the first 4.
    ip_address(family f, const std::array<uint8_t, 16>& bytes) noexcept;

    static std::optional<ip_address> parse(std::string_view text) noexcept;
    static ip_address from_abi(uint8_t af, const union xlb_addr& a) noexcept;
    [[nodiscard]] union xlb_addr to_abi() const noexcept;

    [[nodiscard]] family af() const noexcept { return _family; }
    [[nodiscard]] bool is_v4() const noexcept { return _family == family::inet; }
    [[nodiscard]] const std::array<uint8_t, 16>& bytes() const noexcept { return _bytes; }
    // The address as host-order 32-bit words: v4 in [0], v6 in [0..3].
    [[nodiscard]] std::array<uint32_t, 4> host_words() const noexcept;
    [[nodiscard]] std::string to_string() const;

    auto operator<=>(const ip_address&) const noexcept = default;

private:
    family _family = family::inet;
    std::array<uint8_t, 16> _bytes{};
};

struct endpoint {
    ip_address addr;
    uint16_t port = 0; // host order

    // "a.b.c.d[:port]" or "[v6][:port]"; a bare v6 address without brackets
    // is accepted only when no port follows. A missing port gives port 0.
    static std::optional<endpoint> parse(std::string_view text) noexcept;
    // "a.b.c.d:port" / "[v6]:port", as ipvsadm -n prints them.
    [[nodiscard]] std::string to_string() const;

    auto operator<=>(const endpoint&) const noexcept = default;
};

std::optional<uint16_t> parse_port(std::string_view text) noexcept;

} // namespace xlb

template <>
struct std::hash<xlb::ip_address> {
    size_t operator()(const xlb::ip_address& a) const noexcept;
};
template <>
struct std::hash<xlb::endpoint> {
    size_t operator()(const xlb::endpoint& e) const noexcept;
};
