#pragma once
// Health checks on one Boost.Asio event loop, no thread per check.
//
// A monitor runs each checker it holds as keepalived does: a check every
// delay_loop; a failed check is retried after delay_before_retry up to
// `retry` times, and only then does the checker count as failed (so down
// after retry + 1 consecutive failures); one success brings it up. The next
// check is scheduled when one ends (keepalived's tcp_epilog(): delay_loop
// after a success or a final failure, delay_before_retry after a failure
// that will be retried). Retries happen only while the checker is up (or
// before its first result): a down checker is checked every delay_loop.
//
// With rise or fall set (non-zero), the counts decide instead: a checker
// goes up after `rise` consecutive successful attempts (0: 1) and down after
// `fall` consecutive failed ones (0: retry + 1); retries count as attempts.
// While up, a failed attempt that does not yet reach `fall` is followed by
// the next after delay_before_retry; every other attempt after delay_loop.
//
// The first check waits a random time in [0, warmup]. Callbacks run only on
// a change: up <-> down, or (misc_dynamic) a new weight from a successful
// check; a failed check leaves the weight as it was.

#include <xlb/keepalived/config.h>

#include <boost/asio/io_context.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

namespace xlb::health {

// The outcome of one check attempt.
struct check_result {
    bool ok = false;
    std::string detail;            // "connected", "HTTP status 503", "timeout after 3 s", ...
    std::chrono::microseconds latency{0};
    // MISC_CHECK with misc_dynamic: an exit code 2..255 sets the weight to
    // code - 2 (keepalived's rule); unset otherwise.
    std::optional<int32_t> weight;
};

// Runs one attempt of `spec` and calls `done` exactly once, on the loop
// (never from inside run_check()).
void run_check(boost::asio::io_context& io, const keepalived::checker_spec& spec,
               std::function<void(check_result)> done);
// The same with a shared spec, which the attempt keeps alive (no copy).
void run_check(boost::asio::io_context& io, std::shared_ptr<const keepalived::checker_spec> spec,
               std::function<void(check_result)> done);

using checker_id = uint64_t;

struct checker_status {
    bool up = false;
    check_result last;                        // the last attempt
    std::chrono::system_clock::time_point last_transition{}; // epoch: never
    std::chrono::system_clock::time_point last_check{};
    uint64_t checks = 0;
    uint64_t failures = 0;
    uint64_t transitions = 0;
    std::optional<int32_t> weight;            // misc_dynamic's last weight
};

class monitor {
public:
    explicit monitor(boost::asio::io_context& io);
    ~monitor();
    monitor(const monitor&) = delete;
    monitor& operator=(const monitor&) = delete;

    // Called on the loop when a checker goes up or down, or when
    // misc_dynamic's weight changes.
    using on_change = std::function<void(checker_id, const checker_status&)>;

    // Starts checking; `initially_up` is the state before the first result
    // (keepalived: up, or down with alpha).
    checker_id add(const keepalived::checker_spec& spec, bool initially_up, on_change cb);
    // Stops checking; a check in flight is abandoned (its callback never runs).
    void remove(checker_id id);
    [[nodiscard]] std::optional<checker_status> status(checker_id id) const;
    [[nodiscard]] size_t size() const noexcept;

    // Called on the loop as each attempt starts, with how late it starts
    // (now - its scheduled time): for benchmarks and lag metrics.
    using on_start = std::function<void(checker_id, std::chrono::steady_clock::duration lateness)>;
    void set_start_hook(on_start hook);

private:
    struct impl;
    std::unique_ptr<impl> _impl;
};

} // namespace xlb::health
