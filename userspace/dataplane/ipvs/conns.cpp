#include "conns.h"

#include <xlb/abi.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <iterator>
#include <optional>
#include <sstream>
#include <string>

namespace xlb::ipvs {

namespace {

// tcp_state_name_table[] in ip_vs_proto_tcp.c, in enum xlb_tcp_state order.
constexpr std::string_view tcp_states[] = {"NONE",     "ESTABLISHED", "SYN_SENT", "SYN_RECV", "FIN_WAIT", "TIME_WAIT",
                                           "CLOSE",    "CLOSE_WAIT",  "LAST_ACK", "LISTEN",   "SYNACK"};
static_assert(std::size(tcp_states) == XLB_TCP_S_LAST);

template <typename T>
std::optional<T> hex(std::string_view s) {
    T v{};
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v, 16);
    if (s.empty() || ec != std::errc() || p != s.data() + s.size()) {
        return std::nullopt;
    }
    return v;
}

// "0A000001" (IPv4, the value's hex digits) or %pI6's eight groups.
std::optional<ip_address> address(std::string_view s) {
    if (s.find(':') != std::string_view::npos) {
        return ip_address::parse(s);
    }
    auto v = hex<uint32_t>(s);
    if (!v || s.size() != 8) {
        return std::nullopt;
    }
    std::array<uint8_t, 16> b{};
    b[0] = static_cast<uint8_t>(*v >> 24);
    b[1] = static_cast<uint8_t>(*v >> 16);
    b[2] = static_cast<uint8_t>(*v >> 8);
    b[3] = static_cast<uint8_t>(*v);
    return ip_address(family::inet, b);
}

std::optional<endpoint> endpoint_of(std::string_view addr, std::string_view port) {
    auto a = address(addr);
    auto p = hex<uint16_t>(port);
    if (!a || !p || port.size() != 4) {
        return std::nullopt;
    }
    return endpoint{*a, *p};
}

} // namespace

result<std::vector<conn_state>> parse_proc_conns(std::string_view text) {
    std::vector<conn_state> out;
    std::istringstream in{std::string(text)};
    std::string line;
    for (size_t n = 1; std::getline(in, line); ++n) {
        if (line.empty() || line.rfind("Pro ", 0) == 0) {
            continue;
        }
        std::istringstream words(line);
        std::string pro, caddr, cport, vaddr, vport, daddr, dport, state, expires;
        if (!(words >> pro >> caddr >> cport >> vaddr >> vport >> daddr >> dport >> state >> expires)) {
            return make_error(EINVAL, "/proc/net/ip_vs_conn line {}: not the kernel's format: {}", n, line);
        }
        conn_state c;
        if (pro == "TCP") {
            c.proto = protocol::tcp;
        } else if (pro == "UDP") {
            c.proto = protocol::udp;
        } else if (pro == "SCTP") {
            c.proto = protocol::sctp;
        } else if (pro != "IP") { // "IP": a fwmark service's template
            return make_error(EINVAL, "/proc/net/ip_vs_conn line {}: protocol {}", n, pro);
        }
        auto client = endpoint_of(caddr, cport);
        auto vip = endpoint_of(vaddr, vport);
        auto dest = endpoint_of(daddr, dport);
        unsigned long exp = 0;
        auto [p, ec] = std::from_chars(expires.data(), expires.data() + expires.size(), exp);
        if (!client || !vip || !dest || ec != std::errc() || p != expires.data() + expires.size()) {
            return make_error(EINVAL, "/proc/net/ip_vs_conn line {}: not the kernel's format: {}", n, line);
        }
        c.client = *client;
        c.vip = *vip;
        c.dest = *dest;
        c.expire_s = static_cast<uint32_t>(exp);
        // ip_vs_state_name(): a template's states are NONE and ASSURED
        // (ip_vs_ctpl_state_name_table[]). The text carries no flags, so a
        // template is told by them, with its client port 0; a UDP flow is
        // always "UDP".
        if (state == "ASSURED" || (state == "NONE" && client->port == 0)) {
            c.is_template = true;
            c.assured = state == "ASSURED";
            if (pro == "IP") {
                // ip_vs_sched_persist(): the mark, in network order, is the
                // virtual address's first word.
                const auto& b = vip->addr.bytes();
                c.fwmark = uint32_t{b[0]} << 24 | uint32_t{b[1]} << 16 | uint32_t{b[2]} << 8 | b[3];
                if (c.fwmark == 0) {
                    return make_error(EINVAL, "/proc/net/ip_vs_conn line {}: a fwmark template with mark 0", n);
                }
            }
        } else if (pro == "IP") {
            return make_error(EINVAL, "/proc/net/ip_vs_conn line {}: an IP entry that is no template", n);
        } else if (c.proto == protocol::sctp) {
            auto s = sctp_state::none;
            while (s != sctp_state::last && sctp_state_name(s) != state) {
                s = static_cast<sctp_state>(static_cast<uint8_t>(s) + 1);
            }
            if (s == sctp_state::last) {
                return make_error(EINVAL, "/proc/net/ip_vs_conn line {}: SCTP state {}", n, state);
            }
            c.state = static_cast<uint8_t>(s);
        } else if (c.proto == protocol::tcp) {
            auto it = std::find(std::begin(tcp_states), std::end(tcp_states), state);
            if (it == std::end(tcp_states)) {
                return make_error(EINVAL, "/proc/net/ip_vs_conn line {}: TCP state {}", n, state);
            }
            c.state = static_cast<uint8_t>(it - std::begin(tcp_states));
        } else if (state == "UDP") {
            c.state = XLB_UDP_S_NORMAL;
        } else {
            return make_error(EINVAL, "/proc/net/ip_vs_conn line {}: UDP state {}", n, state);
        }
        out.push_back(c);
    }
    return out;
}

} // namespace xlb::ipvs
