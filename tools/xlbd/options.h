#pragma once
// xlbd's command line.

#include <xlb/util/log.h>

#include <stdexcept>
#include <string>
#include <vector>

namespace xlbd {

struct options {
    std::string config_file = "/etc/keepalived/keepalived.conf";
    bool test_only = false;                 // -t: check the configuration and exit
    std::vector<std::string> interfaces;    // --interface, repeatable
    std::string pin_dir;                    // --pin-dir, else $XLB_PIN_DIR, else the default
    std::string backend = "auto";           // --backend xdp|ipvs|auto, else $XLB_BACKEND
    std::string metrics = "127.0.0.1:9473"; // --metrics [ADDR:]PORT (a bare port: loopback), or "off"
    xlb::log::level log_level = xlb::log::level::info;
    xlb::log::target log_target = xlb::log::target::stderr_stream;
    bool cleanup_on_exit = false;
    std::string socket;                     // --socket; empty: $XLB_RUN_DIR/xlbd.sock
    bool help = false;
    bool version = false;                   // -v: print the version and exit
};

struct usage_error : std::runtime_error {
    using std::runtime_error::runtime_error;
};

// Throws usage_error with the reason on a bad command line.
options parse_options(int argc, const char* const* argv);
std::string usage();

} // namespace xlbd
