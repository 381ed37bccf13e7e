#pragma once
// `modprobe MODULE`, as ipvsadm runs it when the IPVS family is missing.
// Private to libxlb's ipvs backend.

#include <xlb/util/error.h>

#include <string>

namespace xlb::ipvs {

// Nothing if modprobe exited 0, else why not: its exit status and the first
// line it wrote to stderr, or why it could not run.
[[nodiscard]] result<> modprobe(const std::string& module);

} // namespace xlb::ipvs
