#include "support/strict_parse.h"

#include <algorithm>

namespace xlb::test {
namespace {

uint16_t be16(const std::vector<uint8_t>& f, size_t at) {
    return static_cast<uint16_t>(f[at] << 8 | f[at + 1]);
}

// Reads the transport header at p.l4, inside [p.l3, p.l3 + p.l3_len).
void read_l4(const std::vector<uint8_t>& f, strict_packet& p) {
    using v = strict_packet::verdict;
    const size_t end = p.l3 + p.l3_len; // never past the frame: checked by the caller
    const size_t room = end >= p.l4 ? end - p.l4 : 0;
    if (p.proto == 6) { // RFC 9293 3.1: 20 bytes, then options up to the data offset
        if (room < 20) {
            p.v = v::bad_l4;
            return;
        }
        const size_t header = (f[p.l4 + 12] >> 4) * 4u;
        if (header < 20 || header > room) {
            p.v = v::bad_l4;
            return;
        }
        p.sport = be16(f, p.l4);
        p.dport = be16(f, p.l4 + 2);
        p.tcp_flags = f[p.l4 + 13];
        p.v = v::ok;
        return;
    }
    if (p.proto == 17) { // RFC 768: the length counts the 8-byte header and the data
        if (room < 8) {
            p.v = v::bad_l4;
            return;
        }
        const size_t len = be16(f, p.l4 + 4);
        if (len < 8 || len > room) {
            p.v = v::bad_l4;
            return;
        }
        p.sport = be16(f, p.l4);
        p.dport = be16(f, p.l4 + 2);
        p.v = v::ok;
        return;
    }
    p.v = v::not_l4;
    const bool icmp = (p.family == 4 && p.proto == 1) || (p.family == 6 && p.proto == 58);
    if (icmp && room >= 8) {
        const size_t q = p.l4 + 8; // the quoted packet
        if (p.family == 4) {
            p.icmp_error_whole = room >= 8 + 20 + 4 && (f[q] & 0x0f) == 5;
        } else {
            p.icmp_error_whole = room >= 8 + 40 + 4;
        }
    }
}

} // namespace

strict_packet strict_parse(const std::vector<uint8_t>& f) {
    using v = strict_packet::verdict;
    strict_packet p;
    if (f.size() < 14) {
        return p; // bad_l2
    }
    size_t at = 12;
    uint16_t type = be16(f, at);
    at += 2;
    for (int tags = 0; type == 0x8100 || type == 0x88a8; ++tags) {
        if (tags == 2) {
            p.v = v::not_ip;
            return p;
        }
        if (f.size() < at + 4) {
            return p; // bad_l2
        }
        type = be16(f, at + 2);
        at += 4;
    }
    p.l3 = at;
    const size_t rest = f.size() - at;
    if (type == 0x0800) { // RFC 791
        p.family = 4;
        if (rest < 20 || (f[at] >> 4) != 4) {
            p.v = v::bad_l3;
            return p;
        }
        const size_t ihl = (f[at] & 0x0f) * 4u;
        const size_t total = be16(f, at + 2);
        if (ihl < 20 || total < ihl || total > rest) {
            p.v = v::bad_l3;
            return p;
        }
        p.l3_len = total;
        p.proto = f[at + 9];
        std::copy_n(f.begin() + static_cast<long>(at + 12), 4, p.saddr.begin());
        std::copy_n(f.begin() + static_cast<long>(at + 16), 4, p.daddr.begin());
        if ((be16(f, at + 6) & 0x3fff) != 0) { // MF, or an offset
            p.v = v::fragment;
            return p;
        }
        if (ihl > 20) {
            p.v = v::ip_options;
            return p;
        }
        p.l4 = at + ihl;
        read_l4(f, p);
        return p;
    }
    if (type == 0x86dd) { // RFC 8200
        p.family = 6;
        if (rest < 40 || (f[at] >> 4) != 6) {
            p.v = v::bad_l3;
            return p;
        }
        p.l3_len = 40 + size_t{be16(f, at + 4)};
        if (p.l3_len > rest) {
            p.v = v::bad_l3;
            return p;
        }
        std::copy_n(f.begin() + static_cast<long>(at + 8), 16, p.saddr.begin());
        std::copy_n(f.begin() + static_cast<long>(at + 24), 16, p.daddr.begin());
        const size_t end = at + p.l3_len;
        uint8_t next = f[at + 6];
        size_t pos = at + 40;
        bool fragment = false;
        // Hop-by-hop (0), routing (43), destination options (60): 8-octet
        // units after the first 8; fragment (44): 8 bytes; AH (51, RFC
        // 4302): 4-octet units after the first 8. At most six of them.
        for (int n = 0;; ++n) {
            const bool ext = next == 0 || next == 43 || next == 60 || next == 44 || next == 51;
            if (!ext) {
                break;
            }
            if (n == 6) {
                p.proto = next;
                p.v = v::not_l4;
                return p;
            }
            size_t len = 0;
            if (next == 44) {
                if (pos + 8 > end) {
                    p.v = v::bad_l3;
                    return p;
                }
                const uint16_t off_m = be16(f, pos + 2);
                fragment = fragment || (off_m & 0xfff9) != 0; // an offset or M: not atomic
                len = 8;
            } else {
                if (pos + 2 > end) {
                    p.v = v::bad_l3;
                    return p;
                }
                len = next == 51 ? (f[pos + 1] + 2u) * 4u : (f[pos + 1] + 1u) * 8u;
            }
            next = f[pos];
            pos += len;
            if (pos > end) {
                p.v = v::bad_l3;
                return p;
            }
        }
        p.proto = next;
        if (fragment) {
            p.v = v::fragment;
            return p;
        }
        p.l4 = pos;
        read_l4(f, p);
        return p;
    }
    p.v = v::not_ip;
    return p;
}

std::string_view to_string(strict_packet::verdict v) noexcept {
    switch (v) {
    case strict_packet::verdict::bad_l2:
        return "bad_l2";
    case strict_packet::verdict::not_ip:
        return "not_ip";
    case strict_packet::verdict::bad_l3:
        return "bad_l3";
    case strict_packet::verdict::fragment:
        return "fragment";
    case strict_packet::verdict::ip_options:
        return "ip_options";
    case strict_packet::verdict::not_l4:
        return "not_l4";
    case strict_packet::verdict::bad_l4:
        return "bad_l4";
    case strict_packet::verdict::ok:
        return "ok";
    }
    return "?";
}

} // namespace xlb::test
