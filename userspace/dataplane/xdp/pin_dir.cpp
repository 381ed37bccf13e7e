#include "pin_dir.h"

#include <xlb/util/log.h>

#include <fcntl.h>
#include <linux/magic.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>

#include <charconv>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <thread>

namespace xlb::xdp {
namespace {

namespace fs = std::filesystem;

bool on_bpffs(const std::string& path) {
    struct statfs st {};
    return ::statfs(path.c_str(), &st) == 0 && st.f_type == BPF_FS_MAGIC;
}

result<> mount_bpffs() {
    if (on_bpffs("/sys/fs/bpf")) {
        return {};
    }
    ::mkdir("/sys/fs/bpf", 0755);
    if (::mount("bpf", "/sys/fs/bpf", "bpf", 0, nullptr) < 0) {
        return errno_error("mount bpffs on /sys/fs/bpf");
    }
    return {};
}

// What makes an existing directory unfit to hold (final) or lead to the
// table, or nothing. Only root may write into either; a parent may be
// sticky instead, as /sys/fs/bpf often is (1777).
std::optional<std::string> unfit(const std::string& what, const std::string& path, const struct stat& st, bool final) {
    if (S_ISLNK(st.st_mode)) {
        return fmt::format("{} is a symbolic link: use the real directory, or remove the link", what);
    }
    if (!S_ISDIR(st.st_mode)) {
        return fmt::format("{} is not a directory: remove it", what);
    }
    if (st.st_uid != 0) {
        return fmt::format("{} is owned by uid {}, not root: remove it or chown root {}", what, st.st_uid, path);
    }
    const bool writable = (st.st_mode & (S_IWGRP | S_IWOTH)) != 0;
    if (writable && (final || (st.st_mode & S_ISVTX) == 0)) {
        return fmt::format("{} is writable by {} (mode {:04o}): remove it or chmod {} {}", what,
                           (st.st_mode & S_IWOTH) ? "others" : "its group", st.st_mode & 07777,
                           final ? "0700" : "go-w", path);
    }
    return std::nullopt;
}

// Takes away group and other access from a root-owned dir (older xlb made
// pin dirs 0755, which lets anyone open and flock them).
result<> tighten(int fd, const struct stat& st, const std::string& dir) {
    if ((st.st_mode & 077) == 0) {
        return {};
    }
    if (::fchmod(fd, 0700) < 0) {
        if (errno == EPERM || errno == EACCES) {
            return make_error(errno, "only root can write to the xlb table at {}", dir);
        }
        return errno_error("chmod 0700 pin directory {}", dir);
    }
    return {};
}

// lstat() of every component of dir from the bpffs mount down, checking
// each, creating what is missing when create is set.
result<> walk(const std::string& dir, bool create) {
    if (dir.empty()) {
        return make_error(EINVAL, "the pin directory is empty");
    }
    std::error_code ec;
    fs::path full = fs::absolute(fs::path(dir), ec).lexically_normal();
    if (ec) {
        return make_error(ec.value(), "resolve pin directory {}", dir);
    }
    if (!full.has_filename()) {
        full = full.parent_path(); // a trailing slash
    }
    std::vector<std::string> prefixes;
    fs::path prefix;
    for (const auto& part : full) {
        prefix /= part;
        prefixes.push_back(prefix.string());
    }
    bool below_bpffs = false;
    for (size_t i = 0; i < prefixes.size(); ++i) {
        const auto& p = prefixes[i];
        const bool final = i + 1 == prefixes.size();
        struct stat st {};
        if (::lstat(p.c_str(), &st) < 0) {
            if (errno == EACCES) {
                return make_error(EACCES, "only root can use the xlb table at {}", dir);
            }
            if (errno != ENOENT) {
                return errno_error("inspect {}", p);
            }
            if (!create) {
                return make_error(ENOENT, "pin directory {} does not exist", dir);
            }
            if (::mkdir(p.c_str(), 0700) < 0 && errno != EEXIST) {
                if (errno == EACCES || errno == EPERM) {
                    return errno_error("create {} (only root can load xlb)", p);
                }
                return errno_error("create {}", p);
            }
            if (::lstat(p.c_str(), &st) < 0) {
                return errno_error("inspect {}", p);
            }
        }
        if (!below_bpffs && !final) {
            if (S_ISLNK(st.st_mode) || !on_bpffs(p)) {
                continue; // above the bpffs mount: not ours to judge
            }
            below_bpffs = true;
        }
        auto what = final ? fmt::format("pin directory {}", dir) : fmt::format("{} (above pin directory {})", p, dir);
        if (auto why = unfit(what, p, st, final)) {
            return make_error(EPERM, "{}", *why);
        }
        if (!final) {
            continue;
        }
        // The last checks on an fd, so they are about what we looked at.
        file_desc fd(::open(p.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
        if (!fd) {
            if (errno == EACCES || errno == EPERM) {
                return make_error(errno, "only root can use the xlb table at {}", dir);
            }
            return errno_error("open pin directory {}", dir);
        }
        struct stat now {};
        struct statfs fsst {};
        if (::fstat(fd.get(), &now) < 0 || ::fstatfs(fd.get(), &fsst) < 0) {
            return errno_error("stat pin directory {}", dir);
        }
        if (now.st_dev != st.st_dev || now.st_ino != st.st_ino) {
            return make_error(EAGAIN, "pin directory {} changed while it was checked", dir);
        }
        if (fsst.f_type != BPF_FS_MAGIC) {
            return make_error(EINVAL, "pin directory {} is not on a bpf filesystem", dir);
        }
        if (create) {
            if (auto r = tighten(fd.get(), now, dir); !r) {
                return r;
            }
        }
    }
    return {};
}

std::string duration_text(std::chrono::milliseconds d) {
    if (d.count() >= 1000 && d.count() % 1000 == 0) {
        return fmt::format("{} s", d.count() / 1000);
    }
    return fmt::format("{} ms", d.count());
}

std::string holders_text(const std::vector<lock_holder>& holders) {
    if (holders.empty()) {
        return "another process (not found in /proc/locks)";
    }
    std::string s;
    for (const auto& h : holders) {
        if (!s.empty()) {
            s += ", ";
        }
        if (h.pid == 0) {
            s += "a process outside this PID namespace";
        } else if (h.comm.empty()) {
            s += fmt::format("pid {}", h.pid);
        } else {
            s += fmt::format("pid {} ({})", h.pid, h.comm);
        }
    }
    return s;
}

template <class T>
bool parse_number(std::string_view s, T& out, int base = 10) {
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out, base);
    return !s.empty() && ec == std::errc() && p == s.data() + s.size();
}

} // namespace

result<> prepare_pin_dir(const std::string& dir) {
    if (auto r = mount_bpffs(); !r) {
        return r;
    }
    return walk(dir, true);
}

result<> check_pin_dir(const std::string& dir) { return walk(dir, false); }

std::chrono::milliseconds default_lock_wait() {
    const char* env = std::getenv("XLB_LOCK_WAIT_MS");
    if (!env || !*env) {
        return builtin_lock_wait;
    }
    uint64_t ms = 0;
    if (!parse_number(std::string_view(env), ms) || ms > 86400000) {
        log::warn("XLB_LOCK_WAIT_MS is a number of milliseconds up to a day, not '{}'; waiting {}", env,
                  duration_text(builtin_lock_wait));
        return builtin_lock_wait;
    }
    return std::chrono::milliseconds(ms);
}

// /proc/locks lines look like
//   1: FLOCK  ADVISORY  WRITE 1234 00:2d:5678 0 EOF
//   1: -> FLOCK  ADVISORY  WRITE 1240 00:2d:5678 0 EOF   (a waiter)
// with the device's major and minor in hex and the inode in decimal.
std::vector<lock_holder> flock_holders(dev_t dev, ino_t ino) {
    std::vector<lock_holder> out;
    std::ifstream in("/proc/locks");
    for (std::string line; std::getline(in, line);) {
        std::istringstream words(line);
        std::vector<std::string> w;
        for (std::string s; words >> s;) {
            w.push_back(s);
        }
        if (w.size() < 6 || w[1] != "FLOCK") {
            continue; // not a flock, or "->": blocked, not holding
        }
        const auto& id = w[5];
        auto c1 = id.find(':');
        auto c2 = c1 == std::string::npos ? c1 : id.find(':', c1 + 1);
        unsigned maj = 0;
        unsigned min = 0;
        uint64_t inode = 0;
        pid_t pid = 0;
        if (c2 == std::string::npos || !parse_number(std::string_view(id).substr(0, c1), maj, 16) ||
            !parse_number(std::string_view(id).substr(c1 + 1, c2 - c1 - 1), min, 16) ||
            !parse_number(std::string_view(id).substr(c2 + 1), inode) || !parse_number(std::string_view(w[4]), pid)) {
            continue;
        }
        if (maj != major(dev) || min != minor(dev) || inode != ino) {
            continue;
        }
        lock_holder h;
        h.pid = pid < 0 ? 0 : pid;
        if (h.pid != 0) {
            std::ifstream comm(fmt::format("/proc/{}/comm", h.pid));
            std::getline(comm, h.comm);
        }
        out.push_back(std::move(h));
    }
    return out;
}

result<writer_lock> writer_lock::take(const std::string& dir, std::chrono::milliseconds wait) {
    file_desc fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!fd) {
        if (errno == EACCES || errno == EPERM) {
            return make_error(errno, "only root can write to the xlb table at {}", dir);
        }
        return errno_error("open pin directory {}", dir);
    }
    struct stat st {};
    if (::fstat(fd.get(), &st) < 0) {
        return errno_error("stat pin directory {}", dir);
    }
    if (auto why = unfit(fmt::format("pin directory {}", dir), dir, st, true)) {
        return make_error(EPERM, "{}", *why);
    }
    if (auto r = tighten(fd.get(), st, dir); !r) {
        return r.error();
    }
    using clock = std::chrono::steady_clock;
    const auto deadline = clock::now() + wait;
    auto nap = std::chrono::milliseconds(1);
    for (;;) {
        if (::flock(fd.get(), LOCK_EX | LOCK_NB) == 0) {
            break;
        }
        if (errno == EINTR) {
            continue;
        }
        if (errno != EWOULDBLOCK) {
            return errno_error("lock pin directory {}", dir);
        }
        const auto now = clock::now();
        if (now >= deadline) {
            auto holders = holders_text(flock_holders(st.st_dev, st.st_ino));
            if (wait.count() == 0) {
                return make_error(EWOULDBLOCK, "pin directory {} is locked by {}", dir, holders);
            }
            return make_error(ETIMEDOUT, "pin directory {} is locked by {} for more than {}; is another writer stuck?",
                              dir, holders, duration_text(wait));
        }
        std::this_thread::sleep_for(std::min<clock::duration>(nap, deadline - now));
        nap = std::min(nap * 2, std::chrono::milliseconds(10));
    }
    // The holder may have been `unload`, which removes the directory under
    // its lock: then there is nothing left to write to.
    struct stat now {};
    if (::lstat(dir.c_str(), &now) < 0 || now.st_dev != st.st_dev || now.st_ino != st.st_ino) {
        return make_error(ENOENT, "pin directory {} was removed (unloaded?) while this writer waited for its lock",
                          dir);
    }
    return writer_lock(std::move(fd));
}

} // namespace xlb::xdp
