#include <xlb/util/log.h>

#include <bpf/libbpf.h>

#include <atomic>
#include <cstdarg>
#include <cstdlib>
#include <string>

namespace xlb::log {
namespace {

level initial_threshold() noexcept {
    const char* env = std::getenv("XLB_LOG");
    if (!env) {
        return level::warn;
    }
    std::string v(env);
    if (v == "debug") {
        return level::debug;
    }
    if (v == "info") {
        return level::info;
    }
    if (v == "error") {
        return level::error;
    }
    return level::warn;
}

std::atomic<level> g_threshold{initial_threshold()};

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

level threshold() noexcept { return g_threshold.load(std::memory_order_relaxed); }
void set_threshold(level l) noexcept { g_threshold.store(l, std::memory_order_relaxed); }
void install_libbpf_logger() noexcept { libbpf_set_print(libbpf_print); }

} // namespace xlb::log
