#include "checked_dataplane.h"

#include "ipvs_checks.h"

#include <set>

namespace xlb {

namespace {

// The value checks a change needs, whatever the table holds.
result<> check_values(const change& c, const capabilities& caps) {
    switch (c.what) {
    case change::kind::add_service:
    case change::kind::edit_service:
        return check_service_values(c.service, caps);
    case change::kind::add_dest:
    case change::kind::edit_dest:
        return check_dest_values(c.service.key, c.dest, caps);
    default:
        return {};
    }
}

} // namespace

apply_result checked_dataplane::apply(const change_set& changes) {
    for (size_t i = 0; i < changes.size(); ++i) {
        auto r = check_values(changes[i], caps());
        if (r) {
            continue;
        }
        // IPVS looks the service up before it checks values: a missing
        // service (or, for an add, an existing one) is the error to give.
        // Only a refused set pays for reading the table.
        auto table = _inner->list();
        if (!table) {
            return change_error{i, table.error()};
        }
        std::set<service_key> keys;
        for (const auto& s : *table) {
            keys.insert(s.config.key);
        }
        for (size_t j = 0; j < i; ++j) {
            const auto& c = changes[j];
            if (c.what == change::kind::add_service) {
                keys.insert(c.service.key);
            } else if (c.what == change::kind::del_service) {
                keys.erase(c.service.key);
            } else if (c.what == change::kind::clear) {
                keys.clear();
            }
        }
        const auto& c = changes[i];
        const bool exists = keys.contains(c.service.key);
        if (c.what == change::kind::add_service && exists) {
            return change_error{i, make_error(EEXIST, "service {} {}", to_string(c.service.key.proto),
                                              c.service.key.vip.to_string())};
        }
        if (c.what != change::kind::add_service && !exists) {
            return change_error{i, make_error(ESRCH, "service {} {}", to_string(c.service.key.proto),
                                              c.service.key.vip.to_string())};
        }
        return change_error{i, r.error()};
    }
    return _inner->apply(changes);
}

} // namespace xlb
