// MISC_CHECK (keepalived check_misc.c): run misc_path in a new process
// group; exit 0 passes, anything else fails, except that with misc_dynamic
// an exit code 2..255 passes and sets the weight to code - 2 (0..253).
//
// After misc_timeout (0: delay_loop; keepalived takes the virtual server's
// delay_loop) the group gets SIGTERM, and SIGKILL 2 s later if it is still
// there, as keepalived does; the check fails when the script ends.
//
// keepalived splits misc_path into words and execve()s them itself (a shell
// only when the file is not an executable); xlbd's config model runs it
// through /bin/sh -c, which accepts the same command lines.
//
// The loop never blocks: the child's pidfd (pidfd_open) becomes readable
// when it exits, and is then reaped with waitpid(), so no zombie is left.

#include "check_op.h"

#include <xlb/util/fd.h>

#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <fmt/format.h>

#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <vector>

extern char** environ;

namespace xlb::health::detail {
namespace {

constexpr std::chrono::seconds kill_grace{2};

struct run_as {
    uid_t uid;
    gid_t gid;
    std::string name;
};

result<std::optional<run_as>> lookup_user(const std::string& user) {
    if (user.empty()) {
        return std::optional<run_as>{};
    }
    std::vector<char> buf(16384);
    passwd pw{};
    passwd* found = nullptr;
    int rc = ::getpwnam_r(user.c_str(), &pw, buf.data(), buf.size(), &found);
    if (rc != 0 || !found) {
        return error(rc ? rc : ENOENT, fmt::format("MISC_CHECK user {}", user));
    }
    if (pw.pw_uid == ::geteuid()) {
        return std::optional<run_as>{};
    }
    return std::optional<run_as>{run_as{pw.pw_uid, pw.pw_gid, user}};
}

// posix_spawn (vfork-like, cheap) when running as ourselves; fork when the
// script runs as another user, which needs setgid/setuid in the child.
result<pid_t> spawn(const keepalived::checker_spec& s) {
    auto as = lookup_user(s.user);
    if (!as) {
        return as.error();
    }
    const char* argv[] = {"/bin/sh", "-c", s.misc_path.c_str(), nullptr};
    if (*as) {
        // Resolved before fork: the child only makes async-signal-safe calls.
        gid_t gid = (*as)->gid;
        uid_t uid = (*as)->uid;
        pid_t pid = ::fork();
        if (pid < 0) {
            return errno_error("fork");
        }
        if (pid == 0) {
            ::setpgid(0, 0);
            ::close_range(3, ~0U, 0);
            if (::setgroups(0, nullptr) != 0 || ::setgid(gid) != 0 || ::setuid(uid) != 0) {
                ::_exit(127);
            }
            ::execve("/bin/sh", const_cast<char* const*>(argv), environ);
            ::_exit(127);
        }
        return pid;
    }
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    sigset_t all;
    sigset_t none;
    sigfillset(&all);
    sigemptyset(&none);
    posix_spawnattr_setsigdefault(&attr, &all);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setpgroup(&attr, 0);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    // Our sockets are not all close-on-exec: the script gets none of them.
    posix_spawn_file_actions_addclosefrom_np(&fa, 3);
    pid_t pid = -1;
    int rc = ::posix_spawn(&pid, "/bin/sh", &fa, &attr, const_cast<char* const*>(argv), environ);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    if (rc != 0) {
        return error(rc, "posix_spawn /bin/sh");
    }
    return pid;
}

class misc_op : public std::enable_shared_from_this<misc_op> {
public:
    misc_op(asio::io_context& io, spec_ptr spec, done_fn done)
        : _io(io), _pidfd(io), _timer(io), _spec(std::move(spec)), _done(std::move(done)) {}

    ~misc_op() {
        // Abandoned with the io_context (never after a normal end): do not
        // leave a zombie behind.
        if (_pid > 0) {
            ::kill(-_pid, SIGKILL);
            ::waitpid(_pid, nullptr, 0);
        }
    }

    void start() {
        auto pid = spawn(*_spec);
        if (!pid) {
            fail_soon(pid.error().message());
            return;
        }
        _pid = *pid;
        int fd = static_cast<int>(::syscall(SYS_pidfd_open, _pid, 0));
        if (fd < 0) {
            auto e = errno_error("pidfd_open");
            ::kill(-_pid, SIGKILL);
            ::waitpid(_pid, nullptr, 0);
            _pid = -1;
            fail_soon(e.message());
            return;
        }
        _pidfd.assign(fd);
        auto timeout = _spec->misc_timeout.count() > 0 ? _spec->misc_timeout : _spec->delay_loop;
        _timer.expires_after(timeout);
        _timer.async_wait([self = shared_from_this()](boost::system::error_code ec) {
            if (!ec) {
                self->on_timeout();
            }
        });
        _pidfd.async_wait(asio::posix::descriptor_base::wait_read,
                          [self = shared_from_this()](boost::system::error_code ec) { self->on_exit(ec); });
    }

private:
    void on_timeout() {
        _timed_out = true;
        ::kill(-_pid, _sent_term ? SIGKILL : SIGTERM);
        if (!_sent_term) {
            _sent_term = true;
            _timer.expires_after(kill_grace);
            _timer.async_wait([self = shared_from_this()](boost::system::error_code ec) {
                if (!ec) {
                    self->on_timeout();
                }
            });
        }
    }

    void on_exit(boost::system::error_code ec) {
        int status = 0;
        pid_t r = ::waitpid(_pid, &status, WNOHANG);
        if (r == 0 && !ec) {
            // Not yet reapable (should not happen with a pidfd): wait again.
            _pidfd.async_wait(asio::posix::descriptor_base::wait_read,
                              [self = shared_from_this()](boost::system::error_code e) { self->on_exit(e); });
            return;
        }
        _timer.cancel();
        boost::system::error_code ignored;
        _pidfd.close(ignored);
        _pid = -1;
        if (r < 0) {
            _done.finish(false, fmt::format("waitpid: {}", std::strerror(errno)));
            return;
        }
        judge(status);
    }

    void judge(int status) {
        auto timeout = _spec->misc_timeout.count() > 0 ? _spec->misc_timeout : _spec->delay_loop;
        if (_timed_out) {
            _done.finish(false, "timed out after " + format_ms(timeout));
            return;
        }
        if (WIFSIGNALED(status)) {
            _done.finish(false, fmt::format("killed by signal {}", WTERMSIG(status)));
            return;
        }
        int code = WEXITSTATUS(status);
        if (code == 0) {
            // misc_dynamic with 0: the configured weight again (keepalived).
            _done.finish(true, "exit 0");
            return;
        }
        if (_spec->misc_dynamic && code >= 2) {
            _done.finish(true, fmt::format("exit {}", code), code - 2);
            return;
        }
        _done.finish(false, fmt::format("exit {}", code));
    }

    void fail_soon(std::string why) { _done.fail_later(_io, shared_from_this(), std::move(why)); }

    asio::io_context& _io;
    asio::posix::stream_descriptor _pidfd;
    asio::steady_timer _timer;
    spec_ptr _spec;
    completion _done;
    pid_t _pid = -1;
    bool _timed_out = false;
    bool _sent_term = false;
};

} // namespace

void run_misc(asio::io_context& io, spec_ptr spec, done_fn done) {
    std::make_shared<misc_op>(io, std::move(spec), std::move(done))->start();
}

} // namespace xlb::health::detail
