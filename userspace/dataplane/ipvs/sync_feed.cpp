#include "sync_feed.h"

#include <xlb/util/fd.h>

#include <arpa/inet.h>
#include <linux/ip_vs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace xlb::ipvs {

namespace {

constexpr size_t header_size = 8;
constexpr size_t v4_size = 36;
constexpr size_t v6_size = 72;
constexpr uint8_t sync_version = 1; // SYNC_PROTO_VER
constexpr uint8_t type_inet6 = 1;   // STYPE_F_INET6
constexpr size_t max_conns = 255;   // the count is one byte

void put16(sync_message& m, uint16_t v) {
    m.push_back(static_cast<uint8_t>(v >> 8));
    m.push_back(static_cast<uint8_t>(v));
}

void put32(sync_message& m, uint32_t v) {
    put16(m, static_cast<uint16_t>(v >> 16));
    put16(m, static_cast<uint16_t>(v));
}

void put_addr(sync_message& m, const ip_address& a) {
    const auto& b = a.bytes();
    m.insert(m.end(), b.begin(), b.begin() + (a.is_v4() ? 4 : 16));
}

// ip_vs_bind_dest() gives a synced connection its dest's forwarding method
// and counts it active unless INACTIVE: set for what IPVS counts inactive.
uint32_t conn_flags(const conn_state& c) {
    if (c.is_template) {
        return IP_VS_CONN_F_TEMPLATE;
    }
    return conn_counts_active(c) ? 0 : IP_VS_CONN_F_INACTIVE;
}

void start_message(sync_message& m, uint8_t syncid) {
    m.clear();
    m.push_back(0); // reserved: a version 0 receiver's count, so it drops this
    m.push_back(syncid);
    put16(m, 0); // size, filled in at the end
    m.push_back(0); // count
    m.push_back(sync_version);
    put16(m, 0);
}

void finish_message(sync_message& m) {
    m[2] = static_cast<uint8_t>(m.size() >> 8);
    m[3] = static_cast<uint8_t>(m.size());
}

} // namespace

result<std::vector<sync_message>> sync_messages(const std::vector<conn_state>& conns, uint8_t syncid, size_t maxlen) {
    if (maxlen < header_size + v6_size || maxlen > 0xffff) {
        return make_error(EINVAL, "a sync message of {} bytes holds no connection", maxlen);
    }
    std::vector<sync_message> out;
    sync_message m;
    start_message(m, syncid);
    for (const auto& c : conns) {
        if (c.fwmark != 0) {
            return make_error(EINVAL, "a fwmark template is not carried (xlb's data path has none)");
        }
        const bool v6 = !c.client.addr.is_v4();
        if (c.vip.addr.is_v4() == v6 || c.dest.addr.is_v4() == v6) {
            // ip_vs_sync_v4/v6 carry one family; IPVS syncs a mixed-family
            // (tunnel) connection as neither.
            return make_error(EINVAL, "connection {} -> {}: the dest's family differs, which the sync protocol "
                                      "cannot carry",
                              c.client.to_string(), c.dest.to_string());
        }
        const size_t size = v6 ? v6_size : v4_size;
        if (m.size() + size > maxlen || m[4] == max_conns) {
            finish_message(m);
            out.push_back(std::move(m));
            start_message(m, syncid);
        }
        m.push_back(v6 ? type_inet6 : 0);
        m.push_back(static_cast<uint8_t>(c.proto));
        put16(m, static_cast<uint16_t>(size)); // version 0 in the top 4 bits
        put32(m, conn_flags(c));
        put16(m, c.is_template || c.proto != protocol::tcp ? 0 : c.state);
        put16(m, c.client.port);
        put16(m, c.vip.port);
        put16(m, c.dest.port);
        put32(m, 0); // fwmark
        // ip_vs_proc_conn(): a timeout of 0 means the state's default; the
        // time left keeps the entry's expiry where it was.
        put32(m, c.expire_s ? c.expire_s : 1);
        put_addr(m, c.client.addr);
        put_addr(m, c.vip.addr);
        put_addr(m, c.dest.addr);
        ++m[4];
    }
    if (m[4] != 0) {
        finish_message(m);
        out.push_back(std::move(m));
    }
    return out;
}

result<> send_sync_messages(const std::vector<sync_message>& messages, const std::string& ifname,
                            const ip_address& group, uint16_t port) {
    const unsigned ifindex = if_nametoindex(ifname.c_str());
    if (ifindex == 0) {
        return errno_error("sync feed: interface {}", ifname);
    }
    const int af = group.is_v4() ? AF_INET : AF_INET6;
    file_desc fd(::socket(af, SOCK_DGRAM | SOCK_CLOEXEC, IPPROTO_UDP));
    if (!fd) {
        return errno_error("sync feed: socket");
    }
    sockaddr_storage to{};
    socklen_t to_len = 0;
    int ttl = 0; // looped back to this host, never sent out
    int loop = 1;
    if (af == AF_INET) {
        ip_mreqn mreq{};
        mreq.imr_ifindex = static_cast<int>(ifindex);
        unsigned char ttl4 = 0;
        unsigned char loop4 = 1;
        if (::setsockopt(fd.get(), IPPROTO_IP, IP_MULTICAST_IF, &mreq, sizeof(mreq)) != 0 ||
            ::setsockopt(fd.get(), IPPROTO_IP, IP_MULTICAST_TTL, &ttl4, sizeof(ttl4)) != 0 ||
            ::setsockopt(fd.get(), IPPROTO_IP, IP_MULTICAST_LOOP, &loop4, sizeof(loop4)) != 0) {
            return errno_error("sync feed: multicast options on {}", ifname);
        }
        auto* sin = reinterpret_cast<sockaddr_in*>(&to);
        sin->sin_family = AF_INET;
        sin->sin_port = htons(port);
        std::memcpy(&sin->sin_addr, group.bytes().data(), 4);
        to_len = sizeof(*sin);
    } else {
        int idx = static_cast<int>(ifindex);
        if (::setsockopt(fd.get(), IPPROTO_IPV6, IPV6_MULTICAST_IF, &idx, sizeof(idx)) != 0 ||
            ::setsockopt(fd.get(), IPPROTO_IPV6, IPV6_MULTICAST_HOPS, &ttl, sizeof(ttl)) != 0 ||
            ::setsockopt(fd.get(), IPPROTO_IPV6, IPV6_MULTICAST_LOOP, &loop, sizeof(loop)) != 0) {
            return errno_error("sync feed: multicast options on {}", ifname);
        }
        auto* sin6 = reinterpret_cast<sockaddr_in6*>(&to);
        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = htons(port);
        sin6->sin6_scope_id = ifindex;
        std::memcpy(&sin6->sin6_addr, group.bytes().data(), 16);
        to_len = sizeof(*sin6);
    }
    for (const auto& m : messages) {
        auto n = ::sendto(fd.get(), m.data(), m.size(), 0, reinterpret_cast<sockaddr*>(&to), to_len);
        if (n != static_cast<ssize_t>(m.size())) {
            return errno_error("sync feed: send {} bytes to {} port {} on {}", m.size(), group.to_string(), port,
                               ifname);
        }
    }
    return {};
}

} // namespace xlb::ipvs
