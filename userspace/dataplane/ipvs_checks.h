#pragma once
// The checks kernel IPVS makes of a service's or a dest's own values, in its
// order, with the backend's capabilities where the kernel looks up a
// scheduler or an engine. They need no table: ip_vs_genl_set_cmd() looks the
// service up first (EEXIST / ESRCH), then these run, then the dest lookup.
// Private to libxlb's backends.

#include <xlb/dataplane/dataplane.h>

namespace xlb {

// ip_vs_add_service() / ip_vs_edit_service(): the persistence engine
// (ENOENT unless IPVS has it), what the backend schedules (EOPNOTSUPP), the
// IPv6 prefix length (EINVAL).
result<> check_service_values(const service_config& s, const capabilities& caps);

// ip_vs_genl_set_cmd(), then ip_vs_add_dest() / ip_vs_edit_dest(): another
// family without tunnelling (EINVAL), the weight and the thresholds
// (ERANGE), GUE's port (EINVAL), then what the backend forwards (EOPNOTSUPP).
result<> check_dest_values(const service_key& svc, const dest_config& d, const capabilities& caps);

} // namespace xlb
