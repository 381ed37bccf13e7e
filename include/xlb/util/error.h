#pragma once
// Errors are values inside libxlb: result<T> carries either T or an errno with
// the context it happened in. Only main() and CLI parsing throw.

#include <boost/system/result.hpp>
#include <fmt/format.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <string>
#include <utility>

namespace xlb {

struct error {
    int code = 0;        // an errno value
    std::string context; // what was being done, e.g. "pin map flows at /sys/fs/bpf/..."

    error() = default;
    // Not an aggregate: result<size_t> must not read a size_t as an error.
    error(int c, std::string ctx) : code(c), context(std::move(ctx)) {}

    [[nodiscard]] std::string message() const {
        return code ? fmt::format("{}: {}", context, std::strerror(code)) : context;
    }
};

// For boost::system::result<T, error>::value() on an error.
[[noreturn]] inline void throw_exception_from_error(const error& e, const boost::source_location&) {
    throw std::runtime_error(e.message());
}

template <class T = void>
using result = boost::system::result<T, error>;

// An error from a negative return code or errno, with a formatted context.
template <class... Args>
error make_error(int code, fmt::format_string<Args...> f, Args&&... args) {
    return error{code < 0 ? -code : code, fmt::format(f, std::forward<Args>(args)...)};
}

template <class... Args>
error errno_error(fmt::format_string<Args...> f, Args&&... args) {
    int e = errno;
    return error{e, fmt::format(f, std::forward<Args>(args)...)};
}

} // namespace xlb
