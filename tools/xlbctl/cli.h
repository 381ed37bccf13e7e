#pragma once
// What every xlbctl command shares: the global options and the one
// exception that carries a message and an exit status to main().

#include <chrono>
#include <optional>
#include <stdexcept>
#include <string>

namespace xlbctl {

struct cli_error : std::runtime_error {
    int code;
    cli_error(const std::string& m, int c) : std::runtime_error(m), code(c) {}
};

struct globals {
    std::string pin_dir;
    std::string backend;                    // --backend, else $XLB_BACKEND, else auto
    std::string backend_from = "--backend"; // or "XLB_BACKEND" or "default"
    bool json = false;                      // --json
    std::optional<std::chrono::milliseconds> lock_wait; // --lock-wait MS, else $XLB_LOCK_WAIT_MS, else 10 s
    std::string prog = "xlbctl";            // basename(argv[0]): "ipvsadm" through a link so named
};

} // namespace xlbctl
