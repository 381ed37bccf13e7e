#include "support/priv.h"

#include <sys/statfs.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>

namespace xlb::test {

std::string missing_privilege() {
    if (geteuid() != 0) {
        return "needs root (BPF, network namespaces); run the suite as root";
    }
    struct statfs st {};
    if (statfs("/sys/fs/bpf", &st) != 0 || st.f_type != 0xcafe4a11) {
        return "bpffs is not mounted on /sys/fs/bpf (scripts/bootstrap mounts it)";
    }
    return {};
}

bool require_priv() {
    const char* v = std::getenv("XLB_REQUIRE_PRIV");
    return v && std::strcmp(v, "1") == 0;
}

} // namespace xlb::test
