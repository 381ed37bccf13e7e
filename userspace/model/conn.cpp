#include <xlb/model/conn.h>

#include <iterator>

namespace xlb {

namespace {
// tcp_state_name_table[] in ip_vs_proto_tcp.c, in enum xlb_tcp_state order.
constexpr std::string_view tcp_state_names[] = {"NONE",     "ESTABLISHED", "SYN_SENT",   "SYN_RECV",
                                                "FIN_WAIT", "TIME_WAIT",   "CLOSE",      "CLOSE_WAIT",
                                                "LAST_ACK", "LISTEN",      "SYNACK"};
static_assert(std::size(tcp_state_names) == XLB_TCP_S_LAST);
} // namespace

std::string_view conn_state_name(const conn_state& c) noexcept {
    if (c.is_template) {
        return c.assured ? "ASSURED" : "NONE"; // ip_vs_ctpl_state_name_table[]
    }
    if (c.proto == protocol::udp) {
        return "UDP"; // udp_state_name_table[IP_VS_UDP_S_NORMAL]
    }
    return c.state < XLB_TCP_S_LAST ? tcp_state_names[c.state] : "ERR!";
}

} // namespace xlb
