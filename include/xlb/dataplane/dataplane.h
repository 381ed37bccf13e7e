#pragma once
// The one interface xlbctl, xlbd and the tests program the load balancer
// through. Errors carry the errno kernel IPVS would give for the same
// request (EEXIST, ESRCH, ENOENT, ...), so ipvsadm's messages map onto them.

#include <xlb/model/conn.h>
#include <xlb/model/service.h>
#include <xlb/util/error.h>

#include <cstdint>
#include <optional>
#include <vector>

namespace xlb {

// ipvsadm --set / --timeout: seconds for ESTABLISHED, FIN_WAIT and UDP flows.
struct timeouts {
    uint32_t tcp = 0;
    uint32_t tcp_fin = 0;
    uint32_t udp = 0;
};

class dataplane {
public:
    virtual ~dataplane() = default;

    virtual result<> add_service(const service_config& svc) = 0;  // EEXIST
    virtual result<> edit_service(const service_config& svc) = 0; // ESRCH
    virtual result<> del_service(const service_key& key) = 0;     // ESRCH
    virtual result<> clear() = 0;

    virtual result<> add_dest(const service_key& svc, const dest_config& dest) = 0;  // ESRCH, EEXIST
    virtual result<> edit_dest(const service_key& svc, const dest_config& dest) = 0; // ESRCH, ENOENT
    virtual result<> del_dest(const service_key& svc, const endpoint& dest) = 0;     // ESRCH, ENOENT

    // Every service with its dests, counters and connection counts.
    [[nodiscard]] virtual result<std::vector<service_state>> list() const = 0;
    [[nodiscard]] virtual result<timeouts> get_timeouts() const = 0;
    // A zero field keeps the current value, as with ipvsadm --set.
    virtual result<> set_timeouts(const timeouts& t) = 0;

    // ipvsadm -Z: zeroes the counters of one service and its dests, or of all.
    virtual result<> zero(const std::optional<service_key>& key) = 0; // ESRCH

    // ipvsadm -L -c: the live connections and persistence templates, in no
    // particular order. Expired entries not yet swept are left out.
    [[nodiscard]] virtual result<std::vector<conn_state>> list_conns() const = 0;

    // The connection table size ipvsadm shows in its header.
    [[nodiscard]] virtual uint32_t conn_table_size() const = 0;
};

} // namespace xlb
