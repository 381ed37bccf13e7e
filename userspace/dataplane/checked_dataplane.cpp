#include "checked_dataplane.h"

namespace xlb {

apply_result checked_dataplane::apply(const change_set& changes) {
    for (size_t i = 0; i < changes.size(); ++i) {
        const auto& c = changes[i];
        result<> r;
        switch (c.what) {
        case change::kind::add_service:
        case change::kind::edit_service:
            r = caps().check(c.service);
            break;
        case change::kind::add_dest:
        case change::kind::edit_dest:
            r = caps().check(c.dest);
            break;
        default:
            break;
        }
        if (!r) {
            return change_error{i, r.error()};
        }
    }
    return _inner->apply(changes);
}

} // namespace xlb
