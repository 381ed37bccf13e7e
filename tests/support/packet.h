#pragma once
// Builds test frames byte by byte: Ethernet, VLAN tags, IPv4 (options,
// fragment bits) or IPv6 (extension headers), TCP or UDP, with correct
// checksums. Used by tests/bpf and bench/.

#include <xlb/model/address.h>

#include <array>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace xlb::test {

using mac = std::array<uint8_t, 6>;
mac parse_mac(const std::string& text);

inline constexpr uint8_t tcp_fin = 0x01, tcp_syn = 0x02, tcp_rst = 0x04, tcp_psh = 0x08, tcp_ack = 0x10;

struct packet_spec {
    mac src{0x02, 0, 0, 0, 0, 0xc1};
    mac dst{0x02, 0, 0, 0, 0, 0xd1};
    std::vector<std::pair<uint16_t, uint16_t>> vlans; // {TPID, TCI}, outermost first
    uint16_t ethertype = 0;                           // 0: from the IP version
    ip_address saddr;
    ip_address daddr;
    uint8_t proto = 6;
    uint16_t sport = 40000;
    uint16_t dport = 80;
    uint8_t tcp_flags = tcp_syn;
    uint8_t tcp_doff = 5;
    std::vector<uint8_t> payload;
    std::vector<uint8_t> ip_options;   // IPv4 only, multiple of 4
    uint16_t frag_off = 0;             // IPv4 flags+offset field, host order
    std::vector<std::pair<uint8_t, std::vector<uint8_t>>> ext; // IPv6: {type, whole header bytes after nexthdr}
};

std::vector<uint8_t> build(const packet_spec& p);

// Offsets into a built frame.
size_t l3_offset(const packet_spec& p);

// Internet checksum of data (for verifying packets independently).
uint16_t inet_csum(const uint8_t* data, size_t len, uint32_t seed = 0);

} // namespace xlb::test
