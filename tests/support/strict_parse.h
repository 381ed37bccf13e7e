#pragma once
// An independent, strict reading of a received frame, written from the
// RFCs (791, 8200, 9293, 768) and the rules the README states, not from
// bpf/parse.h: the fuzz tier's oracle for what the data path may forward.

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

namespace xlb::test {

struct strict_packet {
    enum class verdict {
        bad_l2,     // shorter than Ethernet, or a VLAN tag cut short
        not_ip,     // another EtherType, or more than two VLAN tags
        bad_l3,     // an IP header or extension header that breaks its own lengths
        fragment,   // IPv4 MF/offset, or an IPv6 fragment header that is not atomic
        ip_options, // IPv4 with options
        not_l4,     // neither TCP nor UDP (ICMP among them), or too many extension headers
        bad_l4,     // a TCP or UDP header that breaks the IP packet's lengths
        ok,         // a whole TCP or UDP packet
    };
    verdict v = verdict::bad_l2;
    int family = 0; // 4 or 6, once the IP header is read
    uint8_t proto = 0;
    std::array<uint8_t, 16> saddr{}, daddr{}; // IPv4 in the first 4 bytes
    uint16_t sport = 0, dport = 0;            // host order
    uint8_t tcp_flags = 0;
    size_t l3 = 0;     // offset of the IP header in the frame
    size_t l3_len = 0; // the IP packet's own length
    size_t l4 = 0;     // offset of the transport header in the frame
    // ICMP / ICMPv6 errors: whether the ICMP header, the quoted IP header
    // (IPv4 without options) and 4 bytes of its ports lie in the packet.
    bool icmp_error_whole = false;
};

strict_packet strict_parse(const std::vector<uint8_t>& frame);

std::string_view to_string(strict_packet::verdict v) noexcept;

} // namespace xlb::test
