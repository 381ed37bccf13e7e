#include <xlb/dataplane/dataplane.h>

#include <algorithm>

namespace xlb {

bool capabilities::has(scheduler s) const noexcept {
    return std::find(schedulers.begin(), schedulers.end(), s) != schedulers.end();
}
bool capabilities::has(forwarding f) const noexcept {
    return std::find(methods.begin(), methods.end(), f) != methods.end();
}
bool capabilities::has(protocol p) const noexcept {
    return std::find(protocols.begin(), protocols.end(), p) != protocols.end();
}
bool capabilities::has(tun_type t) const noexcept { return std::find(tunnels.begin(), tunnels.end(), t) != tunnels.end(); }

uint32_t capabilities::max_dests(scheduler s) const noexcept {
    switch (s) {
    case scheduler::rr:
    case scheduler::wrr:
    case scheduler::sh:
    case scheduler::dh:
    case scheduler::mh:
        return max_dests_hashed;
    default:
        return max_dests_scanned;
    }
}

result<> capabilities::check(const service_config&) const { return {}; }
result<> capabilities::check(const dest_config&) const { return {}; }

result<std::vector<reason_report>> dataplane::verdicts() const {
    return make_error(EOPNOTSUPP, "the {} backend keeps no verdict counters", caps().backend);
}

result<status_report> dataplane::report() const {
    return make_error(EOPNOTSUPP, "the {} backend has no status report", caps().backend);
}

result<std::unique_ptr<dataplane>> open_dataplane(std::string_view backend, const open_options&) {
    return make_error(EOPNOTSUPP, "backend {} is not available yet", backend);
}

} // namespace xlb
