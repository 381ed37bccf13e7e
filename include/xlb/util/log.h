#pragma once
// Levelled logging through fmt to stderr. libbpf's messages come through here
// one level lower than libbpf gives them (its warnings are our debug).

#include <fmt/format.h>

#include <cstdio>
#include <utility>

namespace xlb::log {

enum class level { debug = 0, info = 1, warn = 2, error = 3, off = 4 };

level threshold() noexcept;
void set_threshold(level l) noexcept;
// Routes libbpf_set_print() into this logger.
void install_libbpf_logger() noexcept;

template <class... Args>
void emit(level l, fmt::format_string<Args...> f, Args&&... args) {
    if (l < threshold()) {
        return;
    }
    static constexpr const char* names[] = {"debug", "info", "warning", "error"};
    fmt::print(stderr, "xlb: {}: {}\n", names[static_cast<int>(l)],
               fmt::format(f, std::forward<Args>(args)...));
}

template <class... Args>
void debug(fmt::format_string<Args...> f, Args&&... a) { emit(level::debug, f, std::forward<Args>(a)...); }
template <class... Args>
void info(fmt::format_string<Args...> f, Args&&... a) { emit(level::info, f, std::forward<Args>(a)...); }
template <class... Args>
void warn(fmt::format_string<Args...> f, Args&&... a) { emit(level::warn, f, std::forward<Args>(a)...); }

} // namespace xlb::log
