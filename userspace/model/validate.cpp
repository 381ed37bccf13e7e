#include <xlb/model/validate.h>

#include <fmt/format.h>

#include <cerrno>

namespace xlb {
namespace {

// The kinds of address the kernel's checks and xlb's warnings tell apart.
enum class kind {
    unicast,
    unspecified, // 0.0.0.0 (ipv4_is_zeronet() since Linux 5.3; 0.0.0.0/8 is unicast now), ::
    broadcast,   // 255.255.255.255, and 127.255.255.255 (lo's broadcast route)
    multicast,   // 224.0.0.0/4, ff00::/8
    loopback,    // 127.0.0.0/8 (but its broadcast), ::1
    link_local,  // fe80::/10
    mapped,      // ::ffff:0:0/96
};

kind classify(const ip_address& a) {
    auto w = a.host_words();
    if (a.is_v4()) {
        uint32_t v = w[0];
        if (v == 0) {
            return kind::unspecified;
        }
        if (v == 0xffffffffu || v == 0x7fffffffu) {
            return kind::broadcast;
        }
        if ((v & 0xf0000000u) == 0xe0000000u) {
            return kind::multicast;
        }
        if ((v & 0xff000000u) == 0x7f000000u) {
            return kind::loopback;
        }
        return kind::unicast;
    }
    // __ipv6_addr_type(), in its order: 001-110 in the first three bits is
    // global unicast; then multicast, link-local (site-local is unicast);
    // then the ::/64 forms.
    uint32_t top = w[0] & 0xe0000000u;
    if (top != 0 && top != 0xe0000000u) {
        return kind::unicast;
    }
    if ((w[0] & 0xff000000u) == 0xff000000u) {
        return kind::multicast;
    }
    if ((w[0] & 0xffc00000u) == 0xfe800000u) {
        return kind::link_local;
    }
    if (w[0] == 0 && w[1] == 0) {
        if (w[2] == 0 && w[3] == 0) {
            return kind::unspecified;
        }
        if (w[2] == 0 && w[3] == 1) {
            return kind::loopback;
        }
        if (w[2] == 0x0000ffffu) {
            return kind::mapped;
        }
    }
    return kind::unicast;
}

} // namespace

result<> check_dest_address(const service_key& svc, const dest_config& d) {
    (void)svc; // IPVS judges the real server's address alone, in its own family
    switch (classify(d.addr.addr)) {
    case kind::unspecified:
    case kind::broadcast:
    case kind::multicast:
    case kind::link_local:
    case kind::mapped:
        return error{EINVAL, fmt::format("real server {} is not a unicast address", d.addr.addr.to_string())};
    case kind::unicast:
    case kind::loopback:
        break;
    }
    return {};
}

std::vector<std::string> address_warnings(const service_key& svc, const dest_config* d) {
    std::vector<std::string> out;
    if (!d && !svc.is_fwmark()) {
        auto vip = svc.vip.addr.to_string();
        switch (classify(svc.vip.addr)) {
        case kind::unspecified:
            out.push_back(fmt::format("virtual address {} is unspecified: no packet is addressed to it, so the "
                                      "service never gets one",
                                      vip));
            break;
        case kind::broadcast:
            out.push_back(fmt::format("virtual address {} is a broadcast address: no connection is addressed to it, "
                                      "so the service never gets one",
                                      vip));
            break;
        case kind::multicast:
            out.push_back(fmt::format("virtual address {} is a multicast address: no connection is addressed to it, "
                                      "so the service never gets one",
                                      vip));
            break;
        case kind::loopback:
            out.push_back(fmt::format("virtual address {} is a loopback address: its packets never arrive on an "
                                      "interface, where xlb's XDP program sees them",
                                      vip));
            break;
        case kind::mapped:
            out.push_back(fmt::format("virtual address {} is IPv4-mapped: its packets arrive as IPv4, so the service "
                                      "never gets one (use the IPv4 address)",
                                      vip));
            break;
        case kind::unicast:
        case kind::link_local:
            break;
        }
    }
    if (d && !svc.is_fwmark() && d->addr.addr == svc.vip.addr) {
        out.push_back(fmt::format("real server {} is the virtual address itself: xlb hands its packets to this "
                                  "host's stack if the address is local here, and otherwise sends them back towards "
                                  "the service",
                                  d->addr.addr.to_string()));
    }
    return out;
}

} // namespace xlb
