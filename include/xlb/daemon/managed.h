#pragma once
// The record of the services xlbd manages, kept beside the fallback record
// under the run directory: a restarted xlbd whose configuration no longer
// names a service it added deletes it, and leaves alone every service it
// never added. Written atomically (temp file, rename).

#include <xlb/model/service.h>
#include <xlb/util/error.h>

#include <string>
#include <vector>

namespace xlb::daemon {

// RUN_DIR/xlbd/<pin dir or "ipvs", escaped>.managed
std::string managed_path(const std::string& backend, const std::string& pin_dir);

// No record is an empty list; a malformed one is EINVAL.
result<std::vector<service_key>> read_managed(const std::string& path);
result<> write_managed(const std::string& path, const std::vector<service_key>& keys);

} // namespace xlb::daemon
