#pragma once
// The XDP backend's pin directory and its writer lock. Private to the XDP
// backend: nothing above it includes this.
//
// The pin directory holds an instance's pinned maps and program. It is
// root-owned and 0700, and so are the parents xlb creates for it, so only
// root can open it: to read the maps through it, and to flock() it. Writers
// (xlbctl, xlbd, tests) serialise on that flock with a bounded wait, and a
// writer that gives up names the holder. Readers never take the lock.

#include <xlb/util/error.h>
#include <xlb/util/fd.h>

#include <sys/types.h>

#include <chrono>
#include <string>
#include <utility>
#include <vector>

namespace xlb::xdp {

// How long a writer waits for the lock unless told otherwise.
inline constexpr std::chrono::milliseconds builtin_lock_wait{10000};

// For load: mounts bpffs on /sys/fs/bpf if it is not mounted, creates the
// missing components of dir root-owned 0700, and checks what exists (see
// check_pin_dir). An existing root-owned dir that others may read (0755, as
// older xlb made it) is tightened to 0700.
result<> prepare_pin_dir(const std::string& dir);

// For open and unload: dir must be a directory on bpffs (EINVAL otherwise),
// not a symlink, owned by root and writable by no one else (EPERM otherwise,
// with the reason and the fix); so must its parents on bpffs, unless they are
// sticky (/sys/fs/bpf is often 1777). ENOENT if dir does not exist, EACCES
// if this process may not look (only root may).
result<> check_pin_dir(const std::string& dir);

// $XLB_LOCK_WAIT_MS if set (a number of milliseconds; anything else is
// ignored with a warning), else builtin_lock_wait.
std::chrono::milliseconds default_lock_wait();

// A process holding a flock() on a file, from /proc/locks.
struct lock_holder {
    pid_t pid = 0;    // 0: not visible from this PID namespace, or gone
    std::string comm; // /proc/PID/comm, empty if unreadable
};

// Who holds a flock() on the file with this device and inode (waiters
// blocked on it are not holders).
std::vector<lock_holder> flock_holders(dev_t dev, ino_t ino);

// The writers' lock on one instance: an exclusive flock() of its pin dir,
// held while this object lives.
class writer_lock {
public:
    // Polls for the lock for up to wait (0: tries once). ETIMEDOUT (or
    // EWOULDBLOCK for a wait of 0) naming the holder's pid and command;
    // EACCES/EPERM if this process is not root; ENOENT if dir is gone, also
    // when it was unloaded while we waited.
    static result<writer_lock> take(const std::string& dir, std::chrono::milliseconds wait);

    writer_lock(writer_lock&&) noexcept = default;
    writer_lock& operator=(writer_lock&&) noexcept = default;
    writer_lock(const writer_lock&) = delete;
    writer_lock& operator=(const writer_lock&) = delete;
    ~writer_lock() = default; // closing the fd releases the lock

private:
    explicit writer_lock(file_desc fd) noexcept : _fd(std::move(fd)) {}

    file_desc _fd;
};

} // namespace xlb::xdp
