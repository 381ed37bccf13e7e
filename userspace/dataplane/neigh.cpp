#include <xlb/dataplane/neigh.h>
#include <xlb/util/fd.h>

#include <linux/neighbour.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <sys/socket.h>

#include <array>
#include <cstring>
#include <thread>

namespace xlb::neigh {
namespace {

struct request_buf {
    alignas(NLMSG_ALIGNTO) std::array<char, 512> data{};
    nlmsghdr* hdr() { return reinterpret_cast<nlmsghdr*>(data.data()); }

    void add_attr(uint16_t type, const void* payload, size_t len) {
        auto* h = hdr();
        auto* rta = reinterpret_cast<rtattr*>(data.data() + NLMSG_ALIGN(h->nlmsg_len));
        rta->rta_type = type;
        rta->rta_len = static_cast<uint16_t>(RTA_LENGTH(len));
        std::memcpy(RTA_DATA(rta), payload, len);
        h->nlmsg_len = NLMSG_ALIGN(h->nlmsg_len) + RTA_ALIGN(rta->rta_len);
    }
};

result<file_desc> rtnl_socket() {
    file_desc fd(::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE));
    if (!fd) {
        return errno_error("open rtnetlink socket");
    }
    return fd;
}

// Sends one request and hands each reply message to on_msg; stops at the ACK
// or error (NLMSG_ERROR) or the first non-multipart reply.
template <class F>
result<> transact(request_buf& req, const char* what, F&& on_msg) {
    auto sock = rtnl_socket();
    if (!sock) {
        return sock.error();
    }
    sockaddr_nl sa{};
    sa.nl_family = AF_NETLINK;
    if (::sendto(sock->get(), req.data.data(), req.hdr()->nlmsg_len, 0, reinterpret_cast<sockaddr*>(&sa),
                 sizeof(sa)) < 0) {
        return errno_error("{}: send", what);
    }
    alignas(NLMSG_ALIGNTO) char buf[8192];
    for (;;) {
        ssize_t n = ::recv(sock->get(), buf, sizeof(buf), 0);
        if (n < 0) {
            return errno_error("{}: receive", what);
        }
        int len = static_cast<int>(n);
        for (auto* h = reinterpret_cast<nlmsghdr*>(buf); NLMSG_OK(h, len); h = NLMSG_NEXT(h, len)) {
            if (h->nlmsg_type == NLMSG_ERROR) {
                auto* e = static_cast<nlmsgerr*>(NLMSG_DATA(h));
                if (e->error) {
                    return make_error(e->error, "{}", what);
                }
                return {};
            }
            if (h->nlmsg_type == NLMSG_DONE) {
                return {};
            }
            on_msg(h);
            if (!(h->nlmsg_flags & NLM_F_MULTI)) {
                return {};
            }
        }
    }
}

} // namespace

result<next_hop> route_get(const ip_address& dst) {
    request_buf req;
    auto* h = req.hdr();
    h->nlmsg_len = NLMSG_LENGTH(sizeof(rtmsg));
    h->nlmsg_type = RTM_GETROUTE;
    h->nlmsg_flags = NLM_F_REQUEST;
    auto* rtm = static_cast<rtmsg*>(NLMSG_DATA(h));
    rtm->rtm_family = dst.is_v4() ? AF_INET : AF_INET6;
    rtm->rtm_dst_len = dst.is_v4() ? 32 : 128;
    req.add_attr(RTA_DST, dst.bytes().data(), dst.is_v4() ? 4 : 16);

    next_hop hop{0, dst, std::nullopt};
    auto what = fmt::format("route to {}", dst.to_string());
    auto r = transact(req, what.c_str(), [&](nlmsghdr* m) {
        if (m->nlmsg_type != RTM_NEWROUTE) {
            return;
        }
        auto* rm = static_cast<rtmsg*>(NLMSG_DATA(m));
        int alen = static_cast<int>(RTM_PAYLOAD(m));
        for (auto* a = RTM_RTA(rm); RTA_OK(a, alen); a = RTA_NEXT(a, alen)) {
            if (a->rta_type == RTA_OIF) {
                std::memcpy(&hop.ifindex, RTA_DATA(a), sizeof(int));
            } else if (a->rta_type == RTA_PREFSRC) {
                std::array<uint8_t, 16> b{};
                std::memcpy(b.data(), RTA_DATA(a), dst.is_v4() ? 4 : 16);
                hop.source = ip_address(dst.af(), b);
            } else if (a->rta_type == RTA_GATEWAY) {
                std::array<uint8_t, 16> b{};
                std::memcpy(b.data(), RTA_DATA(a), dst.is_v4() ? 4 : 16);
                hop.addr = ip_address(dst.af(), b);
            }
        }
    });
    if (!r) {
        return r.error();
    }
    if (hop.ifindex == 0) {
        return make_error(ENETUNREACH, "{}: no output interface", what);
    }
    return hop;
}

result<> request(int ifindex, const ip_address& addr) {
    request_buf req;
    auto* h = req.hdr();
    h->nlmsg_len = NLMSG_LENGTH(sizeof(ndmsg));
    h->nlmsg_type = RTM_NEWNEIGH;
    h->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_REPLACE;
    auto* nd = static_cast<ndmsg*>(NLMSG_DATA(h));
    nd->ndm_family = addr.is_v4() ? AF_INET : AF_INET6;
    nd->ndm_ifindex = ifindex;
    // NTF_USE: the kernel runs neigh_event_send() on the entry, which starts
    // (or refreshes) resolution without touching a valid lladdr.
    nd->ndm_flags = NTF_USE;
    nd->ndm_state = NUD_NONE;
    req.add_attr(NDA_DST, addr.bytes().data(), addr.is_v4() ? 4 : 16);
    auto what = fmt::format("resolve neighbour {} on ifindex {}", addr.to_string(), ifindex);
    return transact(req, what.c_str(), [](nlmsghdr*) {});
}

result<uint16_t> state(int ifindex, const ip_address& addr) {
    request_buf req;
    auto* h = req.hdr();
    h->nlmsg_len = NLMSG_LENGTH(sizeof(ndmsg));
    h->nlmsg_type = RTM_GETNEIGH;
    h->nlmsg_flags = NLM_F_REQUEST;
    auto* nd = static_cast<ndmsg*>(NLMSG_DATA(h));
    nd->ndm_family = addr.is_v4() ? AF_INET : AF_INET6;
    nd->ndm_ifindex = ifindex;
    req.add_attr(NDA_DST, addr.bytes().data(), addr.is_v4() ? 4 : 16);
    uint16_t nud = 0;
    auto what = fmt::format("neighbour {} on ifindex {}", addr.to_string(), ifindex);
    auto r = transact(req, what.c_str(), [&](nlmsghdr* m) {
        if (m->nlmsg_type == RTM_NEWNEIGH) {
            nud = static_cast<ndmsg*>(NLMSG_DATA(m))->ndm_state;
        }
    });
    if (!r) {
        if (r.error().code == ENOENT) {
            return uint16_t{0};
        }
        return r.error();
    }
    return nud;
}

result<> resolve(const ip_address& dst, std::chrono::milliseconds wait) {
    auto hop = route_get(dst);
    if (!hop) {
        return hop.error();
    }
    // A static entry needs nothing, and NTF_USE would spoil it: on 6.18 it
    // turns a PERMANENT entry into an INCOMPLETE one (REACHABLE and STALE
    // ones are merely confirmed).
    if (auto s = state(hop->ifindex, hop->addr); s && (*s & (NUD_PERMANENT | NUD_NOARP))) {
        return {};
    }
    if (auto r = request(hop->ifindex, hop->addr); !r) {
        return r;
    }
    auto deadline = std::chrono::steady_clock::now() + wait;
    for (;;) {
        auto s = state(hop->ifindex, hop->addr);
        if (!s) {
            return s.error();
        }
        if (*s & (NUD_REACHABLE | NUD_STALE | NUD_DELAY | NUD_PROBE | NUD_PERMANENT | NUD_NOARP)) {
            return {};
        }
        if (std::chrono::steady_clock::now() >= deadline) {
            return make_error(ETIMEDOUT, "neighbour {} did not resolve within {} ms", hop->addr.to_string(),
                              wait.count());
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
}

} // namespace xlb::neigh
