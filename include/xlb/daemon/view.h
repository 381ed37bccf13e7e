#pragma once
// What xlbd knows beyond the table: each service's real servers with their
// health, configured and current weights. The metrics endpoint, the status
// page and `xlbctl checks` render it together with the data path's own
// listing (dataplane::list()) and verdict counters.

#include <xlb/model/service.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace xlb::daemon {

struct checker_view {
    std::string kind;          // "TCP_CHECK", "HTTP_GET", ...
    bool up = false;
    std::string last_result;   // the last attempt's detail
    std::chrono::microseconds last_latency{0};
    std::chrono::system_clock::time_point last_transition{}; // epoch: never
    std::chrono::system_clock::time_point last_check{};      // epoch: never
    uint64_t checks = 0;
    uint64_t failures = 0;
    uint64_t transitions = 0;
};

struct real_server_view {
    endpoint addr;
    bool up = false;                // every checker up (or none configured)
    bool sorry = false;             // the service's sorry_server
    int32_t config_weight = 0;      // as configured
    int32_t weight = 0;             // what xlbd last put in the table
    bool in_table = false;
    bool draining = false;          // weight 0 until drain_time ends
    std::chrono::system_clock::time_point last_transition{};
    uint64_t transitions = 0;
    std::vector<checker_view> checkers;
};

struct service_view {
    service_key key;
    std::string name;               // "TCP  10.0.0.1:80", ipvsadm -L -n's key
    bool quorum_up = true;
    uint32_t quorum = 1;
    std::vector<real_server_view> reals;
};

struct view {
    std::string backend;            // "xdp" or "ipvs"
    std::string config_file;
    std::chrono::system_clock::time_point started{};
    std::chrono::system_clock::time_point last_reload{}; // epoch: never
    uint64_t reloads = 0;
    uint64_t reload_failures = 0;
    std::vector<service_view> services;
};

} // namespace xlb::daemon
