#include <xlb/model/service.h>

#include <iterator>

namespace xlb {

namespace {
constexpr std::string_view sched_names[] = {"rr", "wrr", "lc", "wlc", "sed", "nq", "sh",
                                            "dh", "mh", "fo", "ovf", "twos", "lblc", "lblcr"};
static_assert(std::size(sched_names) == XLB_SCHED_MAX);
} // namespace

std::optional<scheduler> parse_scheduler(std::string_view name) noexcept {
    for (uint32_t i = 0; i < XLB_SCHED_MAX; ++i) {
        if (sched_names[i] == name) {
            return static_cast<scheduler>(i);
        }
    }
    return std::nullopt;
}

std::string_view to_string(scheduler s) noexcept {
    auto i = static_cast<uint32_t>(s);
    return i < XLB_SCHED_MAX ? sched_names[i] : "?";
}

bool supported(scheduler s) noexcept { return s != scheduler::lblc && s != scheduler::lblcr; }

bool scans_dests(scheduler s) noexcept {
    switch (s) {
    case scheduler::rr:
    case scheduler::wrr:
    case scheduler::sh:
    case scheduler::dh:
    case scheduler::mh:
        return false;
    default:
        return true;
    }
}

std::string_view to_string(protocol p) noexcept {
    switch (p) {
    case protocol::tcp:
        return "TCP";
    case protocol::udp:
        return "UDP";
    case protocol::sctp:
        return "SCTP";
    }
    return "?";
}

std::string_view forward_name(forwarding f) noexcept {
    switch (f) {
    case forwarding::dr:
        return "Route";
    case forwarding::tun:
        return "Tunnel";
    case forwarding::nat:
        return "Masq";
    }
    return "?";
}

} // namespace xlb
