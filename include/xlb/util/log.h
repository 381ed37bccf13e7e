#pragma once
// Levelled logging through fmt to stderr. libbpf's messages come through here
// one level lower than libbpf gives them (its warnings are our debug).

#include <fmt/format.h>

#include <cstdio>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace xlb::log {

enum class level { debug = 0, info = 1, warn = 2, error = 3, off = 4 };

level threshold() noexcept;
void set_threshold(level l) noexcept;
// "debug", "info", "warning" (or "warn"), "error"; nothing for another word.
std::optional<level> parse_level(std::string_view name) noexcept;

// Where messages go: stderr ("PROGRAM: LEVEL: text"), or systemd's journal
// through its native socket ($XLB_JOURNAL_SOCKET, else
// /run/systemd/journal/socket) with PRIORITY and SYSLOG_IDENTIFIER set.
// A message the journal does not take goes to stderr.
enum class target { stderr_stream, journald };
void set_target(target t, std::string program = "xlb");
void write(level l, std::string_view text);
// Routes libbpf_set_print() into this logger.
void install_libbpf_logger() noexcept;

template <class... Args>
void emit(level l, fmt::format_string<Args...> f, Args&&... args) {
    if (l < threshold()) {
        return;
    }
    write(l, fmt::format(f, std::forward<Args>(args)...));
}

template <class... Args>
void debug(fmt::format_string<Args...> f, Args&&... a) { emit(level::debug, f, std::forward<Args>(a)...); }
template <class... Args>
void info(fmt::format_string<Args...> f, Args&&... a) { emit(level::info, f, std::forward<Args>(a)...); }
template <class... Args>
void error(fmt::format_string<Args...> f, Args&&... a) { emit(level::error, f, std::forward<Args>(a)...); }
template <class... Args>
void warn(fmt::format_string<Args...> f, Args&&... a) { emit(level::warn, f, std::forward<Args>(a)...); }

} // namespace xlb::log
