// The pin directory and the writers' lock, against real instances on bpffs:
// load makes the directory root-owned 0700; a directory someone else owns or
// may write is refused by load and open with the reason; only root can take
// the lock; a held lock makes writers (the library, xlbctl, unload) give up
// after the bounded wait naming the holder; listings never wait.

#include "support/cmd.h"
#include "support/priv.h"

#include "xdp/pin_dir.h"

#include <xlb/dataplane/xdp_dataplane.h>

#include <bpf/bpf.h>
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <optional>
#include <string_view>
#include <thread>

using namespace xlb;
using namespace xlb::test;
namespace fs = std::filesystem;
using std::chrono::milliseconds;
using steady = std::chrono::steady_clock;

namespace {

constexpr uid_t nobody = 65534;
const load_options sizes{4, 16, 1024, 257};

std::string fresh_dir(const char* tag) {
    static std::atomic<int> n{0};
    return fmt::format("/sys/fs/bpf/xlb/pindir-{}-{}-{}", tag, getpid(), n++);
}

// Removes a pin dir (and whatever is pinned in it) however the test ended.
struct dir_guard {
    std::string path;
    ~dir_guard() {
        ::chown(path.c_str(), 0, 0);
        ::chmod(path.c_str(), 0700);
        std::error_code ec;
        fs::remove_all(path, ec);
    }
};

long elapsed_ms(steady::time_point since) {
    return static_cast<long>(std::chrono::duration_cast<milliseconds>(steady::now() - since).count());
}

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

// Runs f in a forked child and returns what it returned, through a pipe.
std::string in_child(const std::function<std::string()>& f) {
    int p[2];
    if (::pipe(p) < 0) {
        return "pipe failed";
    }
    pid_t pid = ::fork();
    if (pid == 0) {
        ::close(p[0]);
        auto s = f();
        (void)!::write(p[1], s.data(), s.size());
        ::_exit(0);
    }
    ::close(p[1]);
    std::string out;
    char buf[512];
    for (ssize_t n; (n = ::read(p[0], buf, sizeof(buf))) > 0;) {
        out.append(buf, static_cast<size_t>(n));
    }
    ::close(p[0]);
    int status = 0;
    ::waitpid(pid, &status, 0);
    return out;
}

// Becomes nobody:nogroup; false if it could not.
bool drop_to_nobody() {
    return ::setgroups(0, nullptr) == 0 && ::setgid(nobody) == 0 && ::setuid(nobody) == 0 && ::geteuid() == nobody;
}

// A child process named xlb-holder that holds the lock on dir for hold_ms
// (then exits, releasing it), or until this object is destroyed.
class lock_holder_child {
public:
    lock_holder_child(const std::string& dir, int hold_ms) {
        int p[2];
        if (::pipe(p) < 0) {
            return;
        }
        _pid = ::fork();
        if (_pid == 0) {
            ::close(p[0]);
            ::prctl(PR_SET_NAME, "xlb-holder");
            int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
            char ok = fd >= 0 && ::flock(fd, LOCK_EX) == 0 ? 'y' : 'n';
            (void)!::write(p[1], &ok, 1);
            ::close(p[1]);
            std::this_thread::sleep_for(milliseconds(hold_ms));
            ::_exit(0);
        }
        ::close(p[1]);
        char ok = 0;
        _locked = ::read(p[0], &ok, 1) == 1 && ok == 'y';
        ::close(p[0]);
    }
    ~lock_holder_child() { release(); }
    lock_holder_child(const lock_holder_child&) = delete;
    lock_holder_child& operator=(const lock_holder_child&) = delete;

    [[nodiscard]] bool locked() const { return _locked; }
    [[nodiscard]] pid_t pid() const { return _pid; }
    // Ends the holder now.
    void release() {
        if (_pid > 0) {
            ::kill(_pid, SIGKILL);
            ::waitpid(_pid, nullptr, 0);
            _pid = -1;
        }
    }

private:
    pid_t _pid = -1;
    bool _locked = false;
};

cmd_result xlbctl(const std::string& dir, const std::string& args) {
    return run_cmd(fmt::format("{} --pin-dir {} {}", xlbctl_bin(), dir, args));
}

class pin_dir : public ::testing::Test {
protected:
    void SetUp() override { XLB_REQUIRE_PRIVILEGE(); }

    // Loads an instance at a fresh dir, removed when the test ends.
    std::string load(const char* tag) {
        auto dir = fresh_dir(tag);
        _guards.push_back(std::make_unique<dir_guard>(dir_guard{dir}));
        auto dp = xdp_dataplane::load(dir, sizes);
        EXPECT_TRUE(dp) << dp.error().message();
        return dir;
    }
    // A dir that exists but holds nothing, removed when the test ends.
    std::string empty_dir(const char* tag, mode_t mode, uid_t owner = 0) {
        auto dir = fresh_dir(tag);
        _guards.push_back(std::make_unique<dir_guard>(dir_guard{dir}));
        EXPECT_EQ(::mkdir(dir.c_str(), 0700), 0) << dir;
        EXPECT_EQ(::chmod(dir.c_str(), mode), 0);
        EXPECT_EQ(::chown(dir.c_str(), owner, owner), 0);
        return dir;
    }

    std::vector<std::unique_ptr<dir_guard>> _guards;
};

TEST_F(pin_dir, load_creates_it_root_owned_0700) {
    auto dir = load("mode");
    struct stat st {};
    ASSERT_EQ(::lstat(dir.c_str(), &st), 0);
    EXPECT_TRUE(S_ISDIR(st.st_mode));
    EXPECT_EQ(st.st_uid, 0u);
    EXPECT_EQ(st.st_mode & 07777, 0700u);
    EXPECT_TRUE(xdp_dataplane::open(dir)) << "a dir load made is accepted by open";

    // A missing parent is made 0700 too.
    auto parent = fresh_dir("parent");
    dir_guard pg{parent};
    auto nested = parent + "/inner";
    dir_guard ng{nested};
    auto dp = xdp_dataplane::load(nested, sizes);
    ASSERT_TRUE(dp) << dp.error().message();
    ASSERT_EQ(::lstat(parent.c_str(), &st), 0);
    EXPECT_EQ(st.st_uid, 0u);
    EXPECT_EQ(st.st_mode & 07777, 0700u);
    ASSERT_EQ(::lstat(nested.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 07777, 0700u);
    ASSERT_TRUE(xdp_dataplane::unload(nested));
    EXPECT_FALSE(fs::exists(nested));
}

TEST_F(pin_dir, an_older_0755_dir_is_tightened_to_0700) {
    auto dir = empty_dir("legacy", 0755);
    ASSERT_TRUE(xdp::check_pin_dir(dir)) << "root-owned and written by root only: accepted";
    // A writer's lock tightens it: before that, anyone could open and flock it.
    ASSERT_TRUE(xdp::writer_lock::take(dir, milliseconds(100)));
    struct stat st {};
    ASSERT_EQ(::lstat(dir.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 07777, 0700u);
    // And load does.
    ASSERT_EQ(::chmod(dir.c_str(), 0755), 0);
    auto dp = xdp_dataplane::load(dir, sizes);
    ASSERT_TRUE(dp) << dp.error().message();
    ASSERT_EQ(::lstat(dir.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 07777, 0700u);
}

TEST_F(pin_dir, a_dir_owned_by_someone_else_is_refused) {
    auto dir = empty_dir("owned", 0700, nobody);
    auto dp = xdp_dataplane::load(dir, sizes);
    ASSERT_FALSE(dp);
    EXPECT_EQ(dp.error().code, EPERM);
    auto msg = dp.error().message();
    EXPECT_TRUE(contains(msg, fmt::format("pin directory {} is owned by uid 65534, not root", dir))) << msg;
    EXPECT_TRUE(contains(msg, "remove it or chown root")) << msg;
    EXPECT_TRUE(fs::is_empty(dir)) << "nothing was pinned there";

    // An instance whose dir was handed to someone else after load: open,
    // unload and the CLI refuse it too.
    auto loaded = load("chowned");
    ASSERT_EQ(::chown(loaded.c_str(), nobody, nobody), 0);
    auto op = xdp_dataplane::open(loaded);
    ASSERT_FALSE(op);
    EXPECT_EQ(op.error().code, EPERM);
    EXPECT_TRUE(contains(op.error().message(), "is owned by uid 65534, not root")) << op.error().message();
    auto un = xdp_dataplane::unload(loaded);
    ASSERT_FALSE(un);
    EXPECT_EQ(un.error().code, EPERM);
    auto cli = xlbctl(loaded, "-L -n");
    EXPECT_NE(cli.code, 0);
    EXPECT_TRUE(contains(cli.err, "is owned by uid 65534, not root")) << cli.err;
    ASSERT_EQ(::chown(loaded.c_str(), 0, 0), 0);
    EXPECT_TRUE(xdp_dataplane::unload(loaded));

    // A parent on bpffs that someone else owns could swap the dir: refused.
    auto parent = empty_dir("owned-parent", 0755, nobody);
    auto inner = parent + "/inner";
    auto in = xdp_dataplane::load(inner, sizes);
    ASSERT_FALSE(in);
    EXPECT_EQ(in.error().code, EPERM);
    EXPECT_TRUE(contains(in.error().message(), fmt::format("{} (above pin directory {}) is owned by uid 65534", parent, inner)))
        << in.error().message();
}

// An instance loaded by another build of xlb, whose records are laid out
// otherwise (here table_ctl 16 bytes shorter, as before its counts), is
// refused by open and the CLI with the reason, not read with this build's
// records; unload still takes it away.
TEST_F(pin_dir, maps_of_another_build_are_refused) {
    auto dir = load("other-build");
    const auto path = dir + "/table_ctl";
    ASSERT_EQ(::unlink(path.c_str()), 0);
    int old = bpf_map_create(BPF_MAP_TYPE_ARRAY, "table_ctl", 4, sizeof(struct xlb_table_ctl) - 16, 1, nullptr);
    ASSERT_GE(old, 0) << std::strerror(errno);
    ASSERT_EQ(bpf_obj_pin(old, path.c_str()), 0) << std::strerror(errno);
    ::close(old);
    auto op = xdp_dataplane::open(dir);
    ASSERT_FALSE(op);
    EXPECT_EQ(op.error().code, EPROTO);
    const auto want = fmt::format("pinned map {} has 4-byte keys and {}-byte values where this build of xlb has 4 and {}",
                                  path, sizeof(struct xlb_table_ctl) - 16, sizeof(struct xlb_table_ctl));
    EXPECT_TRUE(contains(op.error().message(), want)) << op.error().message();
    auto cli = xlbctl(dir, "-A -t 10.9.0.1:80 -s rr");
    EXPECT_NE(cli.code, 0);
    EXPECT_TRUE(contains(cli.err, "it was loaded by another build (xlbctl unload, then load)")) << cli.err;
    auto un = xdp_dataplane::unload(dir);
    EXPECT_TRUE(un) << un.error().message();
    EXPECT_FALSE(fs::exists(dir + "/xlb_xdp"));
}

TEST_F(pin_dir, a_dir_others_may_write_is_refused) {
    struct row {
        mode_t mode;
        const char* says;
    };
    for (auto r : {row{0777, "is writable by others (mode 0777): remove it or chmod 0700"},
                   row{0775, "is writable by its group (mode 0775)"}, row{0702, "is writable by others (mode 0702)"}}) {
        auto dir = empty_dir("mode", r.mode);
        auto dp = xdp_dataplane::load(dir, sizes);
        ASSERT_FALSE(dp) << fmt::format("{:o}", r.mode);
        EXPECT_EQ(dp.error().code, EPERM);
        EXPECT_TRUE(contains(dp.error().message(), r.says)) << dp.error().message();
        auto chk = xdp::check_pin_dir(dir);
        ASSERT_FALSE(chk);
        EXPECT_TRUE(contains(chk.error().message(), r.says)) << chk.error().message();
        auto lk = xdp::writer_lock::take(dir, milliseconds(0));
        ASSERT_FALSE(lk);
        EXPECT_EQ(lk.error().code, EPERM);
    }

    // A loaded instance made world-writable afterwards: open refuses it.
    auto loaded = load("chmodded");
    ASSERT_EQ(::chmod(loaded.c_str(), 0777), 0);
    auto op = xdp_dataplane::open(loaded);
    ASSERT_FALSE(op);
    EXPECT_TRUE(contains(op.error().message(), "is writable by others")) << op.error().message();
}

TEST_F(pin_dir, a_symlink_is_refused) {
    auto target = load("target");
    auto link = fresh_dir("link");
    if (::symlink(target.c_str(), link.c_str()) < 0) {
        GTEST_SKIP() << "this bpffs has no symlinks: " << std::strerror(errno);
    }
    dir_guard lg{link};
    for (auto r : {xdp::check_pin_dir(link), xdp::prepare_pin_dir(link)}) {
        ASSERT_FALSE(r);
        EXPECT_EQ(r.error().code, EPERM);
        EXPECT_TRUE(contains(r.error().message(), "is a symbolic link")) << r.error().message();
    }
    EXPECT_FALSE(xdp_dataplane::open(link));
    EXPECT_FALSE(xdp::writer_lock::take(link, milliseconds(0)));
}

TEST_F(pin_dir, only_root_can_take_the_lock) {
    auto dir = load("nonroot");
    auto got = in_child([&] {
        if (!drop_to_nobody()) {
            return std::string("could not become nobody");
        }
        std::string out;
        auto l = xdp::writer_lock::take(dir, milliseconds(200));
        out += l ? "take: locked\n" : fmt::format("take: {} {}\n", l.error().code, l.error().message());
        int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY);
        if (fd < 0) {
            out += fmt::format("raw: open errno {}\n", errno);
        } else {
            out += ::flock(fd, LOCK_EX | LOCK_NB) == 0 ? "raw: locked\n" : "raw: flock failed\n";
        }
        auto c = xdp::check_pin_dir(dir);
        out += c ? "check: ok\n" : fmt::format("check: {}\n", c.error().message());
        return out;
    });
    EXPECT_TRUE(contains(got, fmt::format("take: {} only root can write to the xlb table at {}", EACCES, dir))) << got;
    EXPECT_TRUE(contains(got, fmt::format("raw: open errno {}", EACCES))) << got;
    EXPECT_TRUE(contains(got, "check: only root can use the xlb table at")) << got;

    // An older 0755 dir lets anyone open it; the lock still refuses nobody.
    auto legacy = empty_dir("legacy-nonroot", 0755);
    got = in_child([&] {
        if (!drop_to_nobody()) {
            return std::string("could not become nobody");
        }
        auto l = xdp::writer_lock::take(legacy, milliseconds(200));
        return l ? std::string("locked") : l.error().message();
    });
    EXPECT_TRUE(contains(got, fmt::format("only root can write to the xlb table at {}", legacy))) << got;
}

TEST_F(pin_dir, a_held_lock_times_out_naming_the_holder) {
    auto dir = load("held");
    lock_holder_child holder(dir, 20000);
    ASSERT_TRUE(holder.locked());
    const auto pid_comm = fmt::format("pid {} (xlb-holder)", holder.pid());

    auto t0 = steady::now();
    auto l = xdp::writer_lock::take(dir, milliseconds(300));
    auto took = elapsed_ms(t0);
    ASSERT_FALSE(l);
    EXPECT_EQ(l.error().code, ETIMEDOUT);
    EXPECT_GE(took, 300);
    EXPECT_LT(took, 3000);
    auto msg = l.error().message();
    EXPECT_TRUE(contains(msg, fmt::format("pin directory {} is locked by {} for more than 300 ms; is another writer stuck?",
                                          dir, pid_comm)))
        << msg;

    auto now = xdp::writer_lock::take(dir, milliseconds(0));
    ASSERT_FALSE(now);
    EXPECT_EQ(now.error().code, EWOULDBLOCK);
    EXPECT_TRUE(contains(now.error().message(), pid_comm)) << now.error().message();

    // Every write of an open instance waits the same way.
    auto dp = xdp_dataplane::open(dir);
    ASSERT_TRUE(dp) << dp.error().message();
    dp->set_lock_wait(milliseconds(300));
    t0 = steady::now();
    auto add = dp->add_service({{protocol::tcp, *endpoint::parse("10.9.0.1:80")}, scheduler::rr});
    ASSERT_FALSE(add);
    EXPECT_GE(elapsed_ms(t0), 300);
    EXPECT_TRUE(contains(add.error().message(), pid_comm)) << add.error().message();

    // And xlbctl, with --lock-wait or XLB_LOCK_WAIT_MS.
    t0 = steady::now();
    auto cli = xlbctl(dir, "--lock-wait 300 -A -t 10.9.0.1:80 -s rr");
    EXPECT_NE(cli.code, 0);
    EXPECT_LT(elapsed_ms(t0), 3000);
    EXPECT_TRUE(contains(cli.err, fmt::format("is locked by {} for more than 300 ms", pid_comm))) << cli.err;
    cli = run_cmd(fmt::format("XLB_LOCK_WAIT_MS=200 {} --pin-dir {} -A -t 10.9.0.1:80 -s rr", xlbctl_bin(), dir));
    EXPECT_NE(cli.code, 0);
    EXPECT_TRUE(contains(cli.err, fmt::format("is locked by {} for more than 200 ms", pid_comm))) << cli.err;
    cli = run_cmd(fmt::format("{} --lock-wait=250 --pin-dir {} -A -t 10.9.0.1:80 -s rr", xlbctl_bin(), dir));
    EXPECT_NE(cli.code, 0);
    EXPECT_TRUE(contains(cli.err, "for more than 250 ms")) << cli.err;
    cli = xlbctl(dir, "--lock-wait soon -A -t 10.9.0.1:80");
    EXPECT_EQ(cli.code, 2);
    EXPECT_TRUE(contains(cli.err, "--lock-wait needs a number of milliseconds, not 'soon'")) << cli.err;

    // Nothing was written.
    auto list = dp->list();
    ASSERT_TRUE(list);
    EXPECT_TRUE(list->empty());
}

TEST_F(pin_dir, the_lock_frees_when_its_holder_lets_go) {
    auto dir = load("released");
    lock_holder_child holder(dir, 300);
    ASSERT_TRUE(holder.locked());
    auto t0 = steady::now();
    auto l = xdp::writer_lock::take(dir, milliseconds(5000));
    ASSERT_TRUE(l) << l.error().message();
    EXPECT_GE(elapsed_ms(t0), 200);
}

TEST_F(pin_dir, unload_waits_for_the_lock) {
    auto dir = load("unload");
    {
        lock_holder_child holder(dir, 300);
        ASSERT_TRUE(holder.locked());
        auto t0 = steady::now();
        auto r = xdp_dataplane::unload(dir, milliseconds(2000));
        ASSERT_TRUE(r) << r.error().message();
        EXPECT_GE(elapsed_ms(t0), 200) << "it waited for the holder";
        EXPECT_FALSE(fs::exists(dir));
    }

    dir = load("unload-stuck");
    lock_holder_child holder(dir, 20000);
    ASSERT_TRUE(holder.locked());
    auto r = xdp_dataplane::unload(dir, milliseconds(100));
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, ETIMEDOUT);
    EXPECT_TRUE(contains(r.error().message(), fmt::format("pid {} (xlb-holder)", holder.pid()))) << r.error().message();
    EXPECT_TRUE(fs::exists(dir + "/xlb_xdp")) << "still loaded";
    auto cli = xlbctl(dir, "--lock-wait 100 unload");
    EXPECT_EQ(cli.code, 1);
    EXPECT_TRUE(contains(cli.err, fmt::format("pid {} (xlb-holder)", holder.pid()))) << cli.err;
    holder.release();
    cli = xlbctl(dir, "unload");
    EXPECT_EQ(cli.code, 0) << cli.err;
    EXPECT_FALSE(fs::exists(dir));
}

TEST_F(pin_dir, a_writer_waiting_while_the_dir_is_removed_fails) {
    auto dir = load("removed");
    int go[2];
    int p[2];
    ASSERT_EQ(::pipe(go), 0);
    ASSERT_EQ(::pipe(p), 0);
    // Forked before the lock is taken: a child must not inherit the held fd.
    pid_t pid = ::fork();
    if (pid == 0) {
        ::close(p[0]);
        ::close(go[1]);
        char c = 0;
        (void)!::read(go[0], &c, 1);
        auto l = xdp::writer_lock::take(dir, milliseconds(5000));
        auto s = l ? std::string("locked") : fmt::format("{} {}", l.error().code, l.error().message());
        (void)!::write(p[1], s.data(), s.size());
        ::_exit(0);
    }
    ::close(p[1]);
    ::close(go[0]);
    auto taken = xdp::writer_lock::take(dir, milliseconds(100));
    ASSERT_TRUE(taken) << taken.error().message();
    std::optional<xdp::writer_lock> lock(std::move(*taken));
    (void)!::write(go[1], "g", 1);
    ::close(go[1]);
    std::this_thread::sleep_for(milliseconds(200)); // the child is waiting
    // What unload does under the lock.
    std::error_code ec;
    fs::remove_all(dir, ec);
    ASSERT_FALSE(ec);
    lock.reset();
    std::string got;
    char buf[512];
    for (ssize_t n; (n = ::read(p[0], buf, sizeof(buf))) > 0;) {
        got.append(buf, static_cast<size_t>(n));
    }
    ::close(p[0]);
    ::waitpid(pid, nullptr, 0);
    EXPECT_TRUE(contains(got, fmt::format("{} pin directory {} was removed", ENOENT, dir))) << got;
}

TEST_F(pin_dir, listings_do_not_wait_for_the_lock) {
    auto dir = load("listing");
    ASSERT_EQ(xlbctl(dir, "-A -t 10.9.0.2:80 -s wrr").code, 0);
    lock_holder_child holder(dir, 20000);
    ASSERT_TRUE(holder.locked());
    for (const char* args : {"-L -n", "-S -n", "-L -n --stats", "--json -L -n", "status"}) {
        auto t0 = steady::now();
        auto r = xlbctl(dir, fmt::format("--lock-wait 5000 {}", args));
        EXPECT_EQ(r.code, 0) << args << ": " << r.err;
        EXPECT_LT(elapsed_ms(t0), 2500) << args << " waited";
        if (std::string_view(args) != "status") {
            EXPECT_TRUE(contains(r.out, "10.9.0.2")) << args << ": " << r.out;
        }
    }
}

TEST(lock_wait, default_comes_from_the_environment) {
    ::unsetenv("XLB_LOCK_WAIT_MS");
    EXPECT_EQ(xdp::default_lock_wait(), milliseconds(10000));
    ::setenv("XLB_LOCK_WAIT_MS", "250", 1);
    EXPECT_EQ(xdp::default_lock_wait(), milliseconds(250));
    ::setenv("XLB_LOCK_WAIT_MS", "0", 1);
    EXPECT_EQ(xdp::default_lock_wait(), milliseconds(0));
    ::setenv("XLB_LOCK_WAIT_MS", "soon", 1);
    EXPECT_EQ(xdp::default_lock_wait(), milliseconds(10000)) << "ignored, with a warning";
    ::unsetenv("XLB_LOCK_WAIT_MS");
}

} // namespace
