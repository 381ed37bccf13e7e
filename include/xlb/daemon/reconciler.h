#pragma once
// Desired against actual: the reconciler turns what xlbd wants for some
// services into one change set, applies it, and keeps its own copy of what
// the backend holds, so a health flip costs work in proportion to the one
// service it touches, never a listing of the whole table.
//
// It touches only what it owns: the services it is given, and in them the
// dests it is told it owns (the configuration's real servers and sorry
// server, now or before a reload). A dest added by hand with xlbctl to a
// managed service stays; a service xlbd never managed is never touched.

#include <xlb/dataplane/dataplane.h>

#include <map>
#include <set>
#include <vector>

namespace xlb::daemon {

struct desired_service {
    service_config config;
    std::vector<dest_config> dests;
    std::set<endpoint> owned; // dests xlbd may edit or delete (those in `dests` always)
};

// What one apply did, for logs and tests.
struct sync_report {
    size_t changes = 0;
    size_t services_added = 0;
    size_t services_edited = 0;
    size_t services_deleted = 0;
    size_t dests_added = 0;
    size_t dests_edited = 0;
    size_t dests_deleted = 0;
};

class reconciler {
public:
    explicit reconciler(dataplane& dp) : _dp(dp) {}

    // Reads the backend's table once (at start, or after a refused change
    // set). Services not read back are taken as absent.
    result<> refresh();

    // Brings `want` into the table and deletes the services in `remove`
    // (those xlbd managed and no longer wants), as one change set.
    // Services not named are not touched. If the backend refuses the set
    // because the table changed under xlbd (a service or dest deleted or
    // added by hand), it reads the table again and retries once.
    result<sync_report> sync(const std::vector<desired_service>& want, const std::vector<service_key>& remove = {});

    // The change set sync() would apply now, against the copy.
    [[nodiscard]] change_set diff(const std::vector<desired_service>& want,
                                  const std::vector<service_key>& remove) const;

    [[nodiscard]] const std::map<service_key, service_state>& table() const noexcept { return _table; }
    [[nodiscard]] const service_state* find(const service_key& key) const;
    // A dest of a service in the copy; null when either is absent.
    [[nodiscard]] const dest_state* find(const service_key& key, const endpoint& dest) const;

private:
    void diff_service(const desired_service& want, change_set& out) const;
    void record(const change_set& applied);

    dataplane& _dp;
    std::map<service_key, service_state> _table;
};

} // namespace xlb::daemon
