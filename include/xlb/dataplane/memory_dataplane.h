#pragma once
// memory_dataplane: the IPVS table in memory, with kernel IPVS's semantics.
// It is the reference model the other backends are tested against, the fake
// for root-free tests, and the model a backend can keep of its own table:
// apply() checks a change set as ip_vs_ctl.c would (same errnos, same order)
// on a copy, and keeps the copy only if every change passed.
//
// Order: services in the order they were added (an edit keeps the place);
// dests newest first, as IPVS lists them (an edit keeps the place). A
// fwmark service is found by family and mark alone, and kept with the
// protocol ipvsadm gives it (TCP) and no address or port.

#include <xlb/dataplane/dataplane.h>

#include <cstdint>
#include <map>
#include <vector>

namespace xlb {

// Everything: every scheduler, method, protocol, tunnel, fwmark services,
// sip, and no limit of its own on dests per service.
capabilities memory_capabilities();

// Sizes a backend gives its table; 0 means no limit.
struct memory_limits {
    uint32_t max_services = 0;
    uint32_t max_dests = 0;          // over all services
    uint32_t conn_table_size = 4096; // what -L's header shows (IPVS's default, 2^12)
    // Entries of the backend's table that this model does not hold but that
    // count against the limits: a backend that models only the services a
    // change set touches passes the rest here.
    uint32_t outside_services = 0;
    uint32_t outside_dests = 0;
};

class memory_dataplane final : public dataplane {
public:
    memory_dataplane();
    memory_dataplane(capabilities caps, memory_limits limits);

    // Replaces the whole table with no checks, counters and connection
    // counts included: a backend seeds its model with what it read back.
    void assign(std::vector<service_state> table, timeouts t);

    [[nodiscard]] const capabilities& caps() const noexcept override { return _caps; }
    [[nodiscard]] const memory_limits& limits() const noexcept { return _limits; }

    apply_result apply(const change_set& changes) override;

    [[nodiscard]] result<std::vector<service_state>> list() const override;
    [[nodiscard]] result<timeouts> get_timeouts() const override { return _table.times; }
    // No data path, so no connections.
    [[nodiscard]] result<std::vector<conn_state>> list_conns() const override {
        return std::vector<conn_state>{};
    }
    [[nodiscard]] uint32_t conn_table_size() const override { return _limits.conn_table_size; }
    // No sync daemon: start and stop refuse (no_sync_daemon()), none is listed.
    result<> start_sync_daemon(const sync_daemon&) override { return no_sync_daemon(); }
    result<> stop_sync_daemon(sync_state) override { return no_sync_daemon(); }
    [[nodiscard]] result<std::vector<sync_daemon>> list_sync_daemons() const override {
        return std::vector<sync_daemon>{};
    }

    // The table as it stands, without copying it.
    [[nodiscard]] const service_state* find(const service_key& key) const noexcept;
    [[nodiscard]] size_t service_count() const noexcept { return _table.services.size(); }
    [[nodiscard]] size_t dest_count() const noexcept { return _table.ndests; }

private:
    struct entry {
        uint64_t seq = 0; // list order: when the service was added
        service_state state;
    };
    struct table {
        std::map<service_key, entry> services;
        timeouts times{900, 120, 300}; // IPVS's defaults: tcp, tcpfin, udp
        size_t ndests = 0;
        uint64_t next_seq = 0;
    };

    // One change against t, as the kernel checks it; t is unchanged on error.
    [[nodiscard]] result<> step(table& t, const change& c) const;
    [[nodiscard]] result<> do_add_service(table& t, const service_config& s) const;
    [[nodiscard]] result<> do_edit_service(table& t, const service_config& s) const;
    [[nodiscard]] result<> do_add_dest(table& t, const service_key& k, const dest_config& d) const;
    [[nodiscard]] result<> do_edit_dest(table& t, const service_key& k, const dest_config& d) const;
    [[nodiscard]] result<> do_del_dest(table& t, const service_key& k, const endpoint& a) const;

    capabilities _caps;
    memory_limits _limits;
    table _table;
};

} // namespace xlb
