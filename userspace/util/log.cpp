#include <xlb/util/log.h>

#include <bpf/libbpf.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <cstdarg>
#include <cstdlib>
#include <mutex>
#include <string>

namespace xlb::log {
namespace {

// $XLB_LOG names the threshold as --log-level does; unset or another word: warn.
level initial_threshold() noexcept {
    const char* env = std::getenv("XLB_LOG");
    return env ? parse_level(env).value_or(level::warn) : level::warn;
}

std::atomic<level> g_threshold{initial_threshold()};

struct sink {
    std::mutex lock;
    target where = target::stderr_stream;
    std::string program = "xlb";
    int journal = -1;
};
sink& the_sink() {
    static sink s;
    return s;
}

constexpr const char* level_names[] = {"debug", "info", "warning", "error"};
// syslog priorities: LOG_DEBUG, LOG_INFO, LOG_WARNING, LOG_ERR.
constexpr int priorities[] = {7, 6, 4, 3};

// One datagram of the journal's native protocol: KEY=value lines; a value
// with a newline in it is sent as KEY, newline, 64-bit little-endian length,
// the bytes, newline.
bool send_journal(sink& s, level l, std::string_view text) {
    std::string msg = fmt::format("PRIORITY={}\nSYSLOG_IDENTIFIER={}\n", priorities[static_cast<int>(l)], s.program);
    if (text.find('\n') == std::string_view::npos) {
        msg += fmt::format("MESSAGE={}\n", text);
    } else {
        msg += "MESSAGE\n";
        uint64_t n = text.size();
        for (int i = 0; i < 8; ++i) {
            msg += static_cast<char>((n >> (8 * i)) & 0xff);
        }
        msg.append(text);
        msg += '\n';
    }
    const char* env = std::getenv("XLB_JOURNAL_SOCKET");
    std::string path = env && *env ? env : "/run/systemd/journal/socket";
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    if (path.size() >= sizeof sa.sun_path) {
        return false;
    }
    std::copy(path.begin(), path.end(), sa.sun_path);
    return ::sendto(s.journal, msg.data(), msg.size(), MSG_NOSIGNAL, reinterpret_cast<sockaddr*>(&sa),
                    sizeof sa) == static_cast<ssize_t>(msg.size());
}

int libbpf_print(enum libbpf_print_level lvl, const char* format, va_list args) {
    // One level lower than libbpf's own: its warnings are our debug output.
    level ours = lvl == LIBBPF_WARN ? level::info : level::debug;
    if (ours < threshold()) {
        return 0;
    }
    // The verifier log comes through here as one long message: no fixed buffer.
    char* buf = nullptr;
    int n = vasprintf(&buf, format, args);
    if (n < 0) {
        return 0;
    }
    std::string msg(buf, static_cast<size_t>(n));
    free(buf);
    while (!msg.empty() && msg.back() == '\n') {
        msg.pop_back();
    }
    emit(ours, "libbpf: {}", msg);
    return n;
}

} // namespace

std::optional<level> parse_level(std::string_view name) noexcept {
    if (name == "debug") {
        return level::debug;
    }
    if (name == "info") {
        return level::info;
    }
    if (name == "warning" || name == "warn") {
        return level::warn;
    }
    if (name == "error") {
        return level::error;
    }
    return std::nullopt;
}

void set_target(target t, std::string program) {
    auto& s = the_sink();
    std::lock_guard g(s.lock);
    s.where = t;
    s.program = std::move(program);
    if (t == target::journald && s.journal < 0) {
        s.journal = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    }
}

void write(level l, std::string_view text) {
    auto& s = the_sink();
    std::lock_guard g(s.lock);
    if (s.where == target::journald && s.journal >= 0 && send_journal(s, l, text)) {
        return;
    }
    fmt::print(stderr, "{}: {}: {}\n", s.program, level_names[static_cast<int>(l)], text);
}

level threshold() noexcept { return g_threshold.load(std::memory_order_relaxed); }
void set_threshold(level l) noexcept { g_threshold.store(l, std::memory_order_relaxed); }
void install_libbpf_logger() noexcept { libbpf_set_print(libbpf_print); }

} // namespace xlb::log
