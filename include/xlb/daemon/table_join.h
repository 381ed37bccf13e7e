#pragma once
// The daemon's view and the data path's table side by side: each service
// and real server with what xlbd knows of it (health, weights) and what the
// table holds (counters, connections, rates). Either half may be missing: a
// real server xlbd took out of the table (down, removed) has no table half,
// one added by hand (xlbctl -a) has no view half. The metrics endpoint and
// the status page both render this.

#include <xlb/daemon/view.h>
#include <xlb/model/service.h>

#include <string>
#include <vector>

namespace xlb::daemon {

struct joined_real {
    endpoint addr;
    const real_server_view* health = nullptr; // xlbd's half, if it manages it
    const dest_state* table = nullptr;        // the table's half, if it is there
};

struct joined_service {
    service_key key;                          // fwmark services: fwmark set, family in vip
    const service_view* health = nullptr;
    const service_state* table = nullptr;
    std::vector<joined_real> reals;
};

// Table order as ipvsadm -L lists it (ipvsadm::sort_services), then what
// only the view knows, in its order. The result points into both inputs.
std::vector<joined_service> join_table(const view& v, const std::vector<service_state>& table);

// The key with the fwmark a listing carries apart (service_state::fwmark).
service_key listed_key(const service_state& s);
// Whether two keys name the same service: fwmark services by family and
// mark alone, as IPVS finds them.
bool same_service(const service_key& a, const service_key& b) noexcept;

// "TCP 10.0.0.1:80", "UDP [2001:db8::1]:53", "FWM 5", "FWM 5 IPv6".
std::string service_label(const service_key& k);
// "tcp", "udp", "sctp" or "fwm".
std::string protocol_label(const service_key& k);

} // namespace xlb::daemon
