#pragma once
// Checks of a table entry's values that kernel IPVS makes and the model's
// types cannot express.
//
// Placeholder: the real checks (ip_vs_new_dest()'s address types) come from
// another branch; until then every address is accepted.

#include <xlb/model/service.h>
#include <xlb/util/error.h>

namespace xlb {

// EINVAL if IPVS would refuse addr as a dest of the service (not unicast,
// IPv6 link-local, ...), else nothing.
result<> check_dest_address(const service_key& svc, const dest_config& dest);

} // namespace xlb
