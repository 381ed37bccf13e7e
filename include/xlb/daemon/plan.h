#pragma once
// From keepalived.conf to the table xlbd wants: each virtual_server block
// becomes one service (or, for a group, one per group entry), and each real
// server's health decides whether and with which weight it is a dest.
//
// keepalived's rules (keepalived/check/ipwrapper.c), as this file applies them:
//  - a real server is alive when all its checkers are up (one without
//    checkers always is); an alive server is a dest with its weight, a dead
//    one is removed, or kept with weight 0 under inhibit_on_failure;
//  - quorum: the live weight (the sum of the alive servers' weights) gains
//    quorum at >= quorum + hysteresis and loses it at 0 or < quorum -
//    hysteresis. Without quorum a sorry_server, if set, replaces the alive
//    servers (they leave the table, or go to weight 0 under inhibit);
//    with quorum it leaves again (or goes to weight 0 with
//    sorry_server_inhibit).
// Beyond keepalived:
//  - drain_time: a server that fails (or leaves the configuration) first
//    goes to weight 0, so its flows finish, and is deleted after drain_time;
//  - slow start: a server that comes back ramps its weight over its ramp
//    time (real_server_spec::ramp) instead of jumping.

#include <xlb/keepalived/config.h>
#include <xlb/model/service.h>
#include <xlb/util/error.h>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

namespace xlb::daemon {

using clock = std::chrono::steady_clock;

// One virtual_server block, expanded.
struct vs_plan {
    std::string id; // stable across reloads: "TCP 10.0.0.1:80", "FWM 1 IPv4", "group NAME TCP"
    keepalived::virtual_server_spec spec;
    std::vector<service_config> services; // one, or one per group entry and address
};

// EINVAL with the block's position when a group is unknown or a range is
// bad; the services of every block, in the configuration's order.
result<std::vector<vs_plan>> plan_services(const keepalived::config& cfg);

// "TCP  10.0.0.1:80" as ipvsadm -L -n names a service.
std::string service_name(const service_key& key);

// A real server's dest in one service of its block.
dest_config make_dest(const keepalived::virtual_server_spec& vs, const keepalived::real_server_spec& rs,
                      const service_config& svc, int32_t weight);

// What xlbd holds about one real server between checks.
struct real_health {
    bool alive = true;
    std::optional<int32_t> dynamic_weight; // misc_dynamic's last weight
    std::optional<clock::time_point> ramp_from; // came back at; ramping while set
    std::optional<clock::time_point> drain_until; // failed, draining until
};

// The weight a live server has now: its dynamic or configured weight,
// ramped over `ramp` since it came back (at least 1 while ramping).
int32_t effective_weight(const keepalived::real_server_spec& rs, const real_health& h, clock::time_point now);

// keepalived's quorum rule: the state after `live_weight` changed, from `was_up`.
bool quorum_state(const keepalived::virtual_server_spec& vs, bool was_up, int64_t live_weight);
int64_t live_weight(const keepalived::virtual_server_spec& vs, const std::vector<real_health>& reals,
                    clock::time_point now);

// The dests a block's service should hold, in configuration order.
// `reals` is parallel to vs.reals.
std::vector<dest_config> plan_dests(const keepalived::virtual_server_spec& vs, const service_config& svc,
                                    const std::vector<real_health>& reals, bool quorum_up,
                                    clock::time_point now);

// When plan_dests() next changes with no check result: a ramp step or a
// drain's end. Unset when nothing is pending.
std::optional<clock::time_point> next_event(const keepalived::virtual_server_spec& vs,
                                            const std::vector<real_health>& reals, clock::time_point now);

} // namespace xlb::daemon
