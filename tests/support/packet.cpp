#include "support/packet.h"

#include <arpa/inet.h>

#include <cstdio>
#include <stdexcept>

namespace xlb::test {
namespace {

void put16(std::vector<uint8_t>& v, uint16_t x) {
    v.push_back(static_cast<uint8_t>(x >> 8));
    v.push_back(static_cast<uint8_t>(x));
}

void set16(std::vector<uint8_t>& v, size_t off, uint16_t x) {
    v[off] = static_cast<uint8_t>(x >> 8);
    v[off + 1] = static_cast<uint8_t>(x);
}

uint32_t sum_words(const uint8_t* d, size_t len, uint32_t s) {
    for (size_t i = 0; i + 1 < len; i += 2) {
        s += static_cast<uint32_t>(d[i] << 8 | d[i + 1]);
    }
    if (len & 1) {
        s += static_cast<uint32_t>(d[len - 1] << 8);
    }
    return s;
}

} // namespace

uint16_t inet_csum(const uint8_t* data, size_t len, uint32_t seed) {
    uint32_t s = sum_words(data, len, seed);
    while (s >> 16) {
        s = (s & 0xffff) + (s >> 16);
    }
    return static_cast<uint16_t>(~s);
}

mac parse_mac(const std::string& text) {
    mac m{};
    unsigned b[6];
    if (std::sscanf(text.c_str(), "%x:%x:%x:%x:%x:%x", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5]) != 6) {
        throw std::runtime_error("bad MAC " + text);
    }
    for (int i = 0; i < 6; ++i) {
        m[i] = static_cast<uint8_t>(b[i]);
    }
    return m;
}

size_t l3_offset(const packet_spec& p) { return 14 + 4 * p.vlans.size(); }

std::vector<uint8_t> build(const packet_spec& p) {
    std::vector<uint8_t> f;
    f.insert(f.end(), p.dst.begin(), p.dst.end());
    f.insert(f.end(), p.src.begin(), p.src.end());
    bool v4 = p.saddr.is_v4();
    uint16_t et = p.ethertype ? p.ethertype : (v4 ? 0x0800 : 0x86dd);
    for (const auto& [tpid, tci] : p.vlans) {
        put16(f, tpid);
        put16(f, tci);
    }
    put16(f, et);

    // L4
    std::vector<uint8_t> l4;
    if (p.proto == 6) {
        put16(l4, p.sport);
        put16(l4, p.dport);
        l4.insert(l4.end(), {0, 0, 0x10, 0x00}); // seq
        l4.insert(l4.end(), {0, 0, 0, 0});       // ack
        l4.push_back(static_cast<uint8_t>(p.tcp_doff << 4));
        l4.push_back(p.tcp_flags);
        put16(l4, 64240); // window
        put16(l4, 0);     // csum
        put16(l4, 0);     // urg
        size_t opt = p.tcp_doff > 5 ? (p.tcp_doff - 5) * 4u : 0;
        l4.insert(l4.end(), opt, 1); // NOPs
    } else if (p.proto == 17) {
        put16(l4, p.sport);
        put16(l4, p.dport);
        put16(l4, static_cast<uint16_t>(8 + p.payload.size()));
        put16(l4, 0);
    }
    l4.insert(l4.end(), p.payload.begin(), p.payload.end());

    // pseudo-header sum
    uint32_t ph = 0;
    if (v4) {
        ph = sum_words(p.saddr.bytes().data(), 4, ph);
        ph = sum_words(p.daddr.bytes().data(), 4, ph);
        ph += p.proto;
        ph += static_cast<uint32_t>(l4.size());
    } else {
        ph = sum_words(p.saddr.bytes().data(), 16, ph);
        ph = sum_words(p.daddr.bytes().data(), 16, ph);
        ph += static_cast<uint32_t>(l4.size());
        ph += p.proto;
    }
    if (p.proto == 6 && l4.size() >= 20) {
        set16(l4, 16, inet_csum(l4.data(), l4.size(), ph));
    } else if (p.proto == 17 && l4.size() >= 8) {
        uint16_t c = inet_csum(l4.data(), l4.size(), ph);
        set16(l4, 6, c == 0 ? 0xffff : c);
    }

    if (v4) {
        size_t ihl = 20 + p.ip_options.size();
        size_t start = f.size();
        f.push_back(static_cast<uint8_t>(0x40 | (ihl / 4)));
        f.push_back(0);
        put16(f, static_cast<uint16_t>(ihl + l4.size()));
        put16(f, 0x1234);
        put16(f, p.frag_off);
        f.push_back(64);
        f.push_back(p.proto);
        put16(f, 0);
        f.insert(f.end(), p.saddr.bytes().begin(), p.saddr.bytes().begin() + 4);
        f.insert(f.end(), p.daddr.bytes().begin(), p.daddr.bytes().begin() + 4);
        f.insert(f.end(), p.ip_options.begin(), p.ip_options.end());
        set16(f, start + 10, inet_csum(f.data() + start, ihl));
    } else {
        size_t ext_len = 0;
        for (const auto& e : p.ext) {
            ext_len += 1 + e.second.size();
        }
        f.insert(f.end(), {0x60, 0, 0, 0});
        put16(f, static_cast<uint16_t>(ext_len + l4.size()));
        f.push_back(p.ext.empty() ? p.proto : p.ext.front().first);
        f.push_back(64);
        f.insert(f.end(), p.saddr.bytes().begin(), p.saddr.bytes().end());
        f.insert(f.end(), p.daddr.bytes().begin(), p.daddr.bytes().end());
        for (size_t i = 0; i < p.ext.size(); ++i) {
            f.push_back(i + 1 < p.ext.size() ? p.ext[i + 1].first : p.proto);
            f.insert(f.end(), p.ext[i].second.begin(), p.ext[i].second.end());
        }
    }
    f.insert(f.end(), l4.begin(), l4.end());
    return f;
}

} // namespace xlb::test
