#pragma once
// What the ipvs tier's side-by-side tests need of the VM: root, kernel
// IPVS, and Debian's own ipvsadm, which the image brings (scripts/vm-image
// --debs ipvsadm,libpopt0).

#include <fmt/format.h>

#include <unistd.h>

#include <string>

namespace xlb::test {

inline constexpr const char* real_ipvsadm = "/sbin/ipvsadm";

// Why they cannot run here, or empty; `not_root` is the reason given to a
// user who is not root (what the test needs root for).
inline std::string real_ipvs_missing(const std::string& not_root) {
    if (geteuid() != 0) {
        return not_root;
    }
    if (access("/proc/net/ip_vs", F_OK) != 0) {
        return "no kernel IPVS (/proc/net/ip_vs)";
    }
    if (access(real_ipvsadm, X_OK) != 0) {
        return fmt::format("no real ipvsadm at {} (scripts/vm-image --debs ipvsadm,libpopt0)", real_ipvsadm);
    }
    return {};
}

} // namespace xlb::test
