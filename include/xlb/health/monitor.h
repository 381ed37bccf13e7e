#pragma once
// Health checks on one Boost.Asio event loop, no thread per check.
//
// A monitor runs each checker it holds as keepalived does: a check every
// delay_loop; a failed check is retried after delay_before_retry up to
// `retry` times, and only then does the checker count as failed (so down
// after retry + 1 consecutive failures); one success brings it up. With
// rise / fall set, up needs `rise` consecutive successful checks and down
// `fall` consecutive failed ones (retries included as checks). The first
// check waits a random time in [0, warmup].

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

// Runs one attempt of `spec` and calls `done` exactly once, on the loop.
void run_check(boost::asio::io_context& io, const keepalived::checker_spec& spec,
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

private:
    struct impl;
    std::unique_ptr<impl> _impl;
};

} // namespace xlb::health
