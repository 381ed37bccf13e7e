#include "modprobe.h"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstring>
#include <string>

extern char** environ;

namespace xlb::ipvs {

namespace {

// The pipe's two ends, closed when done.
struct pipe_fds {
    int fd[2] = {-1, -1};
    ~pipe_fds() {
        for (int f : fd) {
            if (f >= 0) {
                ::close(f);
            }
        }
    }
    void close_write() {
        ::close(fd[1]);
        fd[1] = -1;
    }
};

std::string first_line(std::string s) {
    if (auto nl = s.find('\n'); nl != std::string::npos) {
        s.resize(nl);
    }
    return s;
}

} // namespace

result<> modprobe(const std::string& module) {
    pipe_fds p;
    if (::pipe2(p.fd, O_CLOEXEC) != 0) {
        return errno_error("pipe for modprobe");
    }
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, p.fd[1], STDERR_FILENO);
    posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
    std::string arg0 = "modprobe";
    std::string dashes = "--";
    std::string name = module;
    std::array<char*, 4> argv{arg0.data(), dashes.data(), name.data(), nullptr};
    pid_t pid = -1;
    int rc = posix_spawnp(&pid, "modprobe", &fa, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0) {
        return make_error(rc, "cannot run modprobe");
    }
    p.close_write();
    std::string err;
    std::array<char, 256> buf{};
    for (;;) {
        ssize_t n = ::read(p.fd[0], buf.data(), buf.size());
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            break;
        }
        if (err.size() < 1024) {
            err.append(buf.data(), static_cast<size_t>(n));
        }
    }
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) {
            return errno_error("wait for modprobe");
        }
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
        return {};
    }
    auto line = first_line(err);
    if (WIFEXITED(status)) {
        return make_error(0, "exit status {}{}{}", WEXITSTATUS(status), line.empty() ? "" : ": ", line);
    }
    return make_error(0, "killed by signal {}", WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}

} // namespace xlb::ipvs
