#include "support/netns.h"

#include <fcntl.h>
#include <net/if.h>
#include <sched.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <stdexcept>
#include <thread>

namespace xlb::test {

int sh(const std::string& cmd) {
    int rc = std::system(cmd.c_str());
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : 128;
}

std::string sh_out(const std::string& cmd) {
    std::string out;
    FILE* p = popen(cmd.c_str(), "r");
    if (!p) {
        throw std::runtime_error("popen: " + cmd);
    }
    std::array<char, 4096> buf{};
    size_t n;
    while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) {
        out.append(buf.data(), n);
    }
    int rc = pclose(p);
    if (!WIFEXITED(rc) || WEXITSTATUS(rc) != 0) {
        throw std::runtime_error("command failed: " + cmd + "\n" + out);
    }
    return out;
}

void enter_private_netns() {
    if (unshare(CLONE_NEWNET) != 0) {
        throw std::runtime_error("unshare(CLONE_NEWNET) failed");
    }
    if (sh("ip link set dev lo up") != 0) {
        throw std::runtime_error("cannot bring lo up in the private namespace");
    }
}

void in_netns(const std::string& name, const std::function<void()>& fn) {
    std::exception_ptr err;
    std::thread t([&] {
        try {
            int fd = ::open(("/var/run/netns/" + name).c_str(), O_RDONLY | O_CLOEXEC);
            if (fd < 0 || setns(fd, CLONE_NEWNET) != 0) {
                throw std::runtime_error("cannot enter netns " + name);
            }
            ::close(fd);
            fn();
        } catch (...) {
            err = std::current_exception();
        }
    });
    t.join();
    if (err) {
        std::rethrow_exception(err);
    }
}

int ifindex(const std::string& ifname) { return static_cast<int>(if_nametoindex(ifname.c_str())); }

} // namespace xlb::test
