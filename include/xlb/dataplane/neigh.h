#pragma once
// Neighbour resolution over rtnetlink. XDP forwarding neither resolves nor
// refreshes neighbour entries; these ask the kernel to (NTF_USE), so that
// bpf_fib_lookup() finds a valid entry.

#include <xlb/model/address.h>
#include <xlb/util/error.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace xlb::neigh {

struct next_hop {
    int ifindex = 0;
    ip_address addr; // the gateway, or the destination itself when on-link
    std::optional<ip_address> source; // the route's preferred source (RTA_PREFSRC)
};

// The kernel's route to dst (RTM_GETROUTE).
result<next_hop> route_get(const ip_address& dst);
// Starts resolution of addr on ifindex, creating the entry if needed. An
// entry that is already valid, static (permanent) or NOARP is left alone.
result<> request(int ifindex, const ip_address& addr);
// The entry's NUD_* state; 0 if there is none.
result<uint16_t> state(int ifindex, const ip_address& addr);

// A destination the kernel has no route to, and why
// ("route to 10.1.0.4: Network is unreachable").
struct route_failure {
    ip_address dst;
    error why;
};

// What resolve_all() found: every destination once, in the order given.
struct resolve_report {
    std::vector<ip_address> resolved;    // its next hop is valid (or static)
    std::vector<ip_address> unresolved;  // routed, but the next hop did not answer within the wait
    std::vector<route_failure> no_route; // no route (or no output interface)

    [[nodiscard]] bool complete() const noexcept { return unresolved.empty() && no_route.empty(); }
};

// Resolves the next hops of many destinations with one bounded wait, on one
// rtnetlink socket: every route lookup first, then every resolution request
// (pipelined, not one round trip after another), then a single wait of at
// most `wait` for neighbour notifications until every next hop is valid.
// Valid and static entries are left alone. Destinations sharing a next hop
// cost one request. Fails only when rtnetlink itself does.
result<resolve_report> resolve_all(const std::vector<ip_address>& dsts, std::chrono::milliseconds wait);

// One line for operators naming what resolve_all() left unresolved, or ""
// when it resolved everything.
std::string describe_unresolved(const resolve_report& r, std::chrono::milliseconds wait);

// resolve_all() of one destination: ETIMEDOUT if the next hop did not turn
// valid within `wait`, the route's error if there is no route.
result<> resolve(const ip_address& dst, std::chrono::milliseconds wait);

} // namespace xlb::neigh
