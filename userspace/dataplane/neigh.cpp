#include <xlb/dataplane/neigh.h>
#include <xlb/util/fd.h>

#include <linux/neighbour.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <map>
#include <set>

namespace xlb::neigh {
namespace {

using steady = std::chrono::steady_clock;

// The kernel's NUD_VALID (net/neighbour.h; uapi has the bits, not the mask):
// states whose lladdr may be used. An entry in one of them is left alone: on
// the NTF_USE path the kernel may rewrite even a permanent entry into an
// incomplete one.
constexpr uint16_t nud_valid = NUD_PERMANENT | NUD_NOARP | NUD_REACHABLE | NUD_PROBE | NUD_STALE | NUD_DELAY;

// Requests in flight on one socket at once: their replies must fit in its
// receive buffer beside whatever notifications arrive meanwhile.
constexpr size_t window = 64;

struct request_buf {
    alignas(NLMSG_ALIGNTO) std::array<char, 128> data{};
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

size_t addr_len(const ip_address& a) { return a.is_v4() ? 4 : 16; }

request_buf route_request(const ip_address& dst) {
    request_buf req;
    auto* h = req.hdr();
    h->nlmsg_len = NLMSG_LENGTH(sizeof(rtmsg));
    h->nlmsg_type = RTM_GETROUTE;
    h->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
    auto* rtm = static_cast<rtmsg*>(NLMSG_DATA(h));
    rtm->rtm_family = dst.is_v4() ? AF_INET : AF_INET6;
    rtm->rtm_dst_len = dst.is_v4() ? 32 : 128;
    req.add_attr(RTA_DST, dst.bytes().data(), addr_len(dst));
    return req;
}

request_buf neigh_get_request(int ifindex, const ip_address& addr) {
    request_buf req;
    auto* h = req.hdr();
    h->nlmsg_len = NLMSG_LENGTH(sizeof(ndmsg));
    h->nlmsg_type = RTM_GETNEIGH;
    h->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
    auto* nd = static_cast<ndmsg*>(NLMSG_DATA(h));
    nd->ndm_family = addr.is_v4() ? AF_INET : AF_INET6;
    nd->ndm_ifindex = ifindex;
    req.add_attr(NDA_DST, addr.bytes().data(), addr_len(addr));
    return req;
}

request_buf neigh_use_request(int ifindex, const ip_address& addr) {
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
    req.add_attr(NDA_DST, addr.bytes().data(), addr_len(addr));
    return req;
}

// An RTM_NEWROUTE reply for dst: output interface, gateway, preferred source.
next_hop parse_route(const nlmsghdr* m, const ip_address& dst) {
    next_hop hop{0, dst, std::nullopt};
    const auto* rm = static_cast<const rtmsg*>(NLMSG_DATA(m));
    int alen = static_cast<int>(RTM_PAYLOAD(m));
    const size_t len = addr_len(dst);
    for (const auto* a = RTM_RTA(rm); RTA_OK(a, alen); a = RTA_NEXT(a, alen)) {
        if (a->rta_type == RTA_OIF && RTA_PAYLOAD(a) >= sizeof(int)) {
            std::memcpy(&hop.ifindex, RTA_DATA(a), sizeof(int));
        } else if ((a->rta_type == RTA_PREFSRC || a->rta_type == RTA_GATEWAY) && RTA_PAYLOAD(a) >= len) {
            std::array<uint8_t, 16> b{};
            std::memcpy(b.data(), RTA_DATA(a), len);
            if (a->rta_type == RTA_PREFSRC) {
                hop.source = ip_address(dst.af(), b);
            } else {
                hop.addr = ip_address(dst.af(), b);
            }
        }
    }
    return hop;
}

using hop_key = std::pair<int, ip_address>; // ifindex, neighbour address

struct neigh_msg {
    hop_key key;
    uint16_t nud = 0; // 0 for a deleted entry
};

// A neighbour reply or notification (RTM_NEWNEIGH, RTM_DELNEIGH).
std::optional<neigh_msg> parse_neigh(const nlmsghdr* m) {
    if ((m->nlmsg_type != RTM_NEWNEIGH && m->nlmsg_type != RTM_DELNEIGH) || m->nlmsg_len < NLMSG_LENGTH(sizeof(ndmsg))) {
        return std::nullopt;
    }
    const auto* nd = static_cast<const ndmsg*>(NLMSG_DATA(m));
    if (nd->ndm_family != AF_INET && nd->ndm_family != AF_INET6) {
        return std::nullopt;
    }
    const family f = nd->ndm_family == AF_INET ? family::inet : family::inet6;
    const size_t len = f == family::inet ? 4 : 16;
    int alen = static_cast<int>(m->nlmsg_len - NLMSG_LENGTH(sizeof(ndmsg)));
    for (const auto* a = reinterpret_cast<const rtattr*>(reinterpret_cast<const char*>(nd) +
                                                         NLMSG_ALIGN(sizeof(ndmsg)));
         RTA_OK(a, alen); a = RTA_NEXT(a, alen)) {
        if (a->rta_type == NDA_DST && RTA_PAYLOAD(a) == len) {
            std::array<uint8_t, 16> b{};
            std::memcpy(b.data(), RTA_DATA(a), len);
            return neigh_msg{{nd->ndm_ifindex, ip_address(f, b)},
                             m->nlmsg_type == RTM_DELNEIGH ? uint16_t{0} : nd->ndm_state};
        }
    }
    return std::nullopt;
}

// One rtnetlink socket, optionally subscribed to neighbour notifications,
// carrying many requests at once: each asks for an ACK, and its sequence
// number tells its replies apart from the rest.
class rtnl_session {
public:
    static constexpr size_t no_request = static_cast<size_t>(-1);

    static result<rtnl_session> open(bool neigh_notifications) {
        rtnl_session s;
        s._fd = file_desc(::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE));
        if (!s._fd) {
            return errno_error("open rtnetlink socket");
        }
        // Room for a window of replies and a burst of notifications; the
        // FORCE variant (root) passes rmem_max, the plain one is the fallback.
        int rcvbuf = 1 << 21;
        if (::setsockopt(s._fd.get(), SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof(rcvbuf)) < 0) {
            ::setsockopt(s._fd.get(), SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
        }
        sockaddr_nl sa{};
        sa.nl_family = AF_NETLINK;
        sa.nl_groups = neigh_notifications ? RTMGRP_NEIGH : 0;
        if (::bind(s._fd.get(), reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) < 0) {
            return errno_error("bind rtnetlink socket");
        }
        socklen_t sl = sizeof(sa);
        if (::getsockname(s._fd.get(), reinterpret_cast<sockaddr*>(&sa), &sl) < 0) {
            return errno_error("rtnetlink socket name");
        }
        s._portid = sa.nl_pid;
        return s;
    }

    // Sends every request, at most `window` in flight, and returns each one's
    // errno (0: done). Every other message that arrives meanwhile goes to
    // on_msg(i, msg): i is the request a reply answers, no_request for a
    // notification.
    template <class F>
    result<std::vector<int>> exchange(std::vector<request_buf>& reqs, F&& on_msg) {
        const uint32_t base = _seq + 1;
        _seq += static_cast<uint32_t>(reqs.size());
        std::vector<int> errs(reqs.size(), 0);
        std::vector<bool> done(reqs.size(), false);
        size_t sent = 0, finished = 0, first_open = 0;
        int silent_rounds = 0;
        while (finished < reqs.size()) {
            for (; sent < reqs.size() && sent - first_open < window; ++sent) {
                reqs[sent].hdr()->nlmsg_seq = base + static_cast<uint32_t>(sent);
                if (auto r = send(reqs[sent]); !r) {
                    return r.error();
                }
            }
            auto got = receive(1000, [&](const nlmsghdr* h) {
                size_t i = h->nlmsg_pid == _portid && h->nlmsg_seq - base < reqs.size() ? h->nlmsg_seq - base
                                                                                          : no_request;
                if (h->nlmsg_type == NLMSG_ERROR) {
                    if (i != no_request && !done[i] && h->nlmsg_len >= NLMSG_LENGTH(sizeof(nlmsgerr))) {
                        errs[i] = -static_cast<const nlmsgerr*>(NLMSG_DATA(h))->error;
                        done[i] = true;
                        ++finished;
                    }
                    return;
                }
                if (h->nlmsg_type != NLMSG_DONE && (i == no_request || !done[i])) {
                    on_msg(i, h);
                }
            });
            if (!got) {
                return got.error();
            }
            while (first_open < sent && done[first_open]) {
                ++first_open;
            }
            // A reply lost to a full receive buffer (ENOBUFS) or never sent:
            // ask again. Every request here may be repeated.
            if (*got == received::overflow || *got == received::nothing) {
                if (*got == received::nothing && ++silent_rounds > 3) {
                    return make_error(ETIMEDOUT, "rtnetlink: no answer");
                }
                for (size_t i = first_open; i < sent; ++i) {
                    if (!done[i]) {
                        if (auto r = send(reqs[i]); !r) {
                            return r.error();
                        }
                    }
                }
            }
        }
        return errs;
    }

    enum class received { messages, nothing, overflow };

    // Waits up to timeout_ms for messages, then reads all there are, handing
    // each to on_msg. `overflow`: the kernel dropped some (ENOBUFS).
    template <class F>
    result<received> receive(int timeout_ms, F&& on_msg) {
        pollfd p{_fd.get(), POLLIN, 0};
        int n = ::poll(&p, 1, std::max(timeout_ms, 0));
        if (n < 0 && errno == EINTR) {
            return received::nothing;
        }
        if (n < 0) {
            return errno_error("poll rtnetlink");
        }
        if (n == 0) {
            return received::nothing;
        }
        auto out = received::messages;
        alignas(NLMSG_ALIGNTO) char buf[32768];
        for (;;) {
            ssize_t got = ::recv(_fd.get(), buf, sizeof(buf), MSG_DONTWAIT);
            if (got < 0) {
                if (errno == EAGAIN || errno == EWOULDBLOCK) {
                    return out;
                }
                if (errno == ENOBUFS) {
                    out = received::overflow;
                    continue;
                }
                if (errno == EINTR) {
                    continue;
                }
                return errno_error("receive from rtnetlink");
            }
            int len = static_cast<int>(got);
            for (auto* h = reinterpret_cast<nlmsghdr*>(buf); NLMSG_OK(h, len); h = NLMSG_NEXT(h, len)) {
                on_msg(h);
            }
        }
    }

private:
    rtnl_session() = default;

    result<> send(request_buf& req) {
        sockaddr_nl sa{};
        sa.nl_family = AF_NETLINK;
        if (::sendto(_fd.get(), req.data.data(), req.hdr()->nlmsg_len, 0, reinterpret_cast<sockaddr*>(&sa),
                     sizeof(sa)) < 0) {
            return errno_error("send to rtnetlink");
        }
        return {};
    }

    file_desc _fd;
    uint32_t _portid = 0;
    uint32_t _seq = 0;
};

// What resolve_all() tracks for each distinct next hop.
struct hop_state {
    uint16_t nud = 0;
    bool settled() const noexcept { return (nud & nud_valid) || (nud & NUD_FAILED); }
};

using hop_table = std::map<hop_key, hop_state>;

// Updates the table from any neighbour message about one of its entries.
void note_neigh(hop_table& hops, const nlmsghdr* m) {
    if (auto n = parse_neigh(m)) {
        if (auto it = hops.find(n->key); it != hops.end()) {
            it->second.nud = n->nud;
        }
    }
}

// Reads the current state of the given entries (ENOENT: none, state 0).
result<> query_states(rtnl_session& s, hop_table& hops, const std::vector<hop_key>& which) {
    std::vector<request_buf> reqs;
    reqs.reserve(which.size());
    for (const auto& k : which) {
        reqs.push_back(neigh_get_request(k.first, k.second));
    }
    auto errs = s.exchange(reqs, [&](size_t, const nlmsghdr* m) { note_neigh(hops, m); });
    if (!errs) {
        return errs.error();
    }
    for (size_t i = 0; i < which.size(); ++i) {
        if ((*errs)[i] == ENOENT) {
            hops[which[i]].nud = 0;
        }
    }
    return {};
}

std::vector<hop_key> unsettled(const hop_table& hops) {
    std::vector<hop_key> out;
    for (const auto& [k, st] : hops) {
        if (!st.settled()) {
            out.push_back(k);
        }
    }
    return out;
}

} // namespace

result<next_hop> route_get(const ip_address& dst) {
    auto s = rtnl_session::open(false);
    if (!s) {
        return s.error();
    }
    std::vector<request_buf> reqs{route_request(dst)};
    std::optional<next_hop> hop;
    auto errs = s->exchange(reqs, [&](size_t i, const nlmsghdr* m) {
        if (i == 0 && m->nlmsg_type == RTM_NEWROUTE) {
            hop = parse_route(m, dst);
        }
    });
    if (!errs) {
        return errs.error();
    }
    if ((*errs)[0]) {
        return make_error((*errs)[0], "route to {}", dst.to_string());
    }
    if (!hop || hop->ifindex == 0) {
        return make_error(ENETUNREACH, "route to {}: no output interface", dst.to_string());
    }
    return *hop;
}

result<> request(int ifindex, const ip_address& addr) {
    if (auto s = state(ifindex, addr); s && (*s & nud_valid)) {
        return {};
    }
    auto s = rtnl_session::open(false);
    if (!s) {
        return s.error();
    }
    std::vector<request_buf> reqs{neigh_use_request(ifindex, addr)};
    auto errs = s->exchange(reqs, [](size_t, const nlmsghdr*) {});
    if (!errs) {
        return errs.error();
    }
    if ((*errs)[0]) {
        return make_error((*errs)[0], "resolve neighbour {} on ifindex {}", addr.to_string(), ifindex);
    }
    return {};
}

result<uint16_t> state(int ifindex, const ip_address& addr) {
    auto s = rtnl_session::open(false);
    if (!s) {
        return s.error();
    }
    hop_key key{ifindex, addr};
    hop_table hops{{key, {}}};
    if (auto r = query_states(*s, hops, {key}); !r) {
        return make_error(r.error().code, "neighbour {} on ifindex {}: {}", addr.to_string(), ifindex,
                          r.error().context);
    }
    return hops[key].nud;
}

result<resolve_report> resolve_all(const std::vector<ip_address>& dsts, std::chrono::milliseconds wait) {
    std::vector<ip_address> uniq;
    {
        std::set<ip_address> seen;
        for (const auto& d : dsts) {
            if (seen.insert(d).second) {
                uniq.push_back(d);
            }
        }
    }
    resolve_report rep;
    if (uniq.empty()) {
        return rep;
    }
    // Subscribed before anything is asked, so no transition is missed.
    auto s = rtnl_session::open(true);
    if (!s) {
        return s.error();
    }

    // 1. Every route.
    std::vector<request_buf> reqs;
    reqs.reserve(uniq.size());
    for (const auto& d : uniq) {
        reqs.push_back(route_request(d));
    }
    std::vector<std::optional<next_hop>> routes(uniq.size());
    hop_table hops;
    auto errs = s->exchange(reqs, [&](size_t i, const nlmsghdr* m) {
        if (i != rtnl_session::no_request && m->nlmsg_type == RTM_NEWROUTE) {
            routes[i] = parse_route(m, uniq[i]);
        }
    });
    if (!errs) {
        return errs.error();
    }
    std::vector<std::optional<error>> no_route(uniq.size());
    for (size_t i = 0; i < uniq.size(); ++i) {
        if ((*errs)[i]) {
            no_route[i] = make_error((*errs)[i], "route to {}", uniq[i].to_string());
        } else if (!routes[i] || routes[i]->ifindex == 0) {
            no_route[i] = make_error(ENETUNREACH, "route to {}: no output interface", uniq[i].to_string());
        } else {
            hops.try_emplace(hop_key{routes[i]->ifindex, routes[i]->addr});
        }
    }

    // 2. What each next hop's entry says now; 3. a request for each one that
    // is not valid (valid and static entries are left alone).
    std::vector<hop_key> all;
    for (const auto& [k, st] : hops) {
        all.push_back(k);
    }
    if (auto r = query_states(*s, hops, all); !r) {
        return r.error();
    }
    reqs.clear();
    std::vector<hop_key> asked;
    for (auto& [k, st] : hops) {
        if (!(st.nud & nud_valid)) {
            reqs.push_back(neigh_use_request(k.first, k.second));
            asked.push_back(k);
            st.nud = NUD_INCOMPLETE; // a FAILED entry starts again; notifications say what follows
        }
    }
    if (!reqs.empty()) {
        auto asks = s->exchange(reqs, [&](size_t, const nlmsghdr* m) { note_neigh(hops, m); });
        if (!asks) {
            return asks.error();
        }
        // A refused request (an interface without neighbours) is not waited
        // for: its entry stays unresolved, and the report says so.
        for (size_t i = 0; i < asked.size(); ++i) {
            if ((*asks)[i]) {
                hops[asked[i]].nud = NUD_FAILED;
            }
        }
    }

    // 4. One wait for them all, on notifications; the states are read again
    // now and then in case one was lost (or the buffer overflowed).
    const auto deadline = steady::now() + wait;
    auto last_query = steady::now();
    constexpr auto requery_every = std::chrono::milliseconds(200);
    for (auto pending = unsettled(hops); !pending.empty(); pending = unsettled(hops)) {
        auto now = steady::now();
        if (now >= deadline) {
            // The report is what the kernel says at the end, not what was heard.
            if (auto r = query_states(*s, hops, pending); !r) {
                return r.error();
            }
            break;
        }
        auto until = std::min(deadline, last_query + requery_every);
        auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(until - now).count() + 1;
        auto got = s->receive(static_cast<int>(ms), [&](const nlmsghdr* m) { note_neigh(hops, m); });
        if (!got) {
            return got.error();
        }
        if (*got == rtnl_session::received::overflow || steady::now() - last_query >= requery_every) {
            if (auto r = query_states(*s, hops, unsettled(hops)); !r) {
                return r.error();
            }
            last_query = steady::now();
        }
    }

    for (size_t i = 0; i < uniq.size(); ++i) {
        if (no_route[i]) {
            rep.no_route.push_back({uniq[i], *no_route[i]});
        } else if (hops[hop_key{routes[i]->ifindex, routes[i]->addr}].nud & nud_valid) {
            rep.resolved.push_back(uniq[i]);
        } else {
            rep.unresolved.push_back(uniq[i]);
        }
    }
    return rep;
}

std::string describe_unresolved(const resolve_report& r, std::chrono::milliseconds wait) {
    // One line, whatever the number: the first few of each kind, then a count.
    constexpr size_t shown = 8;
    std::string out;
    if (!r.unresolved.empty()) {
        out = fmt::format("next hop not resolved within {} ms for {} real server(s):", wait.count(),
                          r.unresolved.size());
        for (size_t i = 0; i < r.unresolved.size() && i < shown; ++i) {
            out += ' ';
            out += r.unresolved[i].to_string();
        }
        if (r.unresolved.size() > shown) {
            out += fmt::format(" and {} more", r.unresolved.size() - shown);
        }
    }
    for (size_t i = 0; i < r.no_route.size() && i < shown; ++i) {
        out += out.empty() ? "" : "; ";
        out += r.no_route[i].why.message();
    }
    if (r.no_route.size() > shown) {
        out += fmt::format("; and {} more real server(s) with no route", r.no_route.size() - shown);
    }
    return out;
}

result<> resolve(const ip_address& dst, std::chrono::milliseconds wait) {
    auto rep = resolve_all({dst}, wait);
    if (!rep) {
        return rep.error();
    }
    if (!rep->no_route.empty()) {
        return rep->no_route.front().why;
    }
    if (!rep->unresolved.empty()) {
        return make_error(ETIMEDOUT, "the next hop of {} did not resolve within {} ms", dst.to_string(), wait.count());
    }
    return {};
}

} // namespace xlb::neigh
