#include <xlb/model/conn.h>

#include <iterator>

namespace xlb {

namespace {
// tcp_state_name_table[] in ip_vs_proto_tcp.c, in enum xlb_tcp_state order.
constexpr std::string_view tcp_state_names[] = {"NONE",     "ESTABLISHED", "SYN_SENT",   "SYN_RECV",
                                                "FIN_WAIT", "TIME_WAIT",   "CLOSE",      "CLOSE_WAIT",
                                                "LAST_ACK", "LISTEN",      "SYNACK"};
static_assert(std::size(tcp_state_names) == XLB_TCP_S_LAST);

// sctp_state_name_table[] in ip_vs_proto_sctp.c, in enum sctp_state order.
constexpr std::string_view sctp_state_names[] = {
    "NONE",      "INIT1",         "INIT",          "COOKIE_SENT",       "COOKIE_REPLIED", "COOKIE_WAIT", "COOKIE_ECHOED",
    "ESTABLISHED", "SHUTDOWN_SENT", "SHUTDOWN_RECEIVED", "SHUTDOWN_ACK_SENT", "REJECTED",   "CLOSED"};
static_assert(std::size(sctp_state_names) == static_cast<size_t>(sctp_state::last));
} // namespace

std::string_view sctp_state_name(sctp_state s) noexcept {
    auto i = static_cast<size_t>(s);
    return i < std::size(sctp_state_names) ? sctp_state_names[i] : "ERR!";
}

std::string_view conn_state_name(const conn_state& c) noexcept {
    if (c.is_template) {
        return c.assured ? "ASSURED" : "NONE"; // ip_vs_ctpl_state_name_table[]
    }
    if (c.proto == protocol::udp) {
        return "UDP"; // udp_state_name_table[IP_VS_UDP_S_NORMAL]
    }
    if (c.proto == protocol::sctp) {
        return sctp_state_name(static_cast<sctp_state>(c.state));
    }
    return c.state < XLB_TCP_S_LAST ? tcp_state_names[c.state] : "ERR!";
}

bool conn_counts_active(const conn_state& c) noexcept {
    return c.proto == protocol::tcp && (c.state == XLB_TCP_S_SYN_SENT || c.state == XLB_TCP_S_SYN_RECV ||
                                        c.state == XLB_TCP_S_SYNACK || c.state == XLB_TCP_S_ESTABLISHED);
}

std::string_view conn_protocol_name(const conn_state& c) noexcept {
    return c.fwmark ? "IP" : to_string(c.proto);
}

} // namespace xlb
