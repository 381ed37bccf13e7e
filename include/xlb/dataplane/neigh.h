#pragma once
// Neighbour resolution over rtnetlink. XDP forwarding neither resolves nor
// refreshes neighbour entries; these ask the kernel to (NTF_USE), so that
// bpf_fib_lookup() finds a valid entry.

#include <xlb/model/address.h>
#include <xlb/util/error.h>

#include <chrono>
#include <cstdint>
#include <optional>

namespace xlb::neigh {

struct next_hop {
    int ifindex = 0;
    ip_address addr; // the gateway, or the destination itself when on-link
    std::optional<ip_address> source; // the route's preferred source (RTA_PREFSRC)
};

// The kernel's route to dst (RTM_GETROUTE).
result<next_hop> route_get(const ip_address& dst);
// Starts resolution of addr on ifindex, creating the entry if needed.
result<> request(int ifindex, const ip_address& addr);
// The entry's NUD_* state; 0 if there is none.
result<uint16_t> state(int ifindex, const ip_address& addr);
// route_get() then request(), then waits up to `wait` for the entry to turn
// valid: what xlbctl does for every dest it adds. ETIMEDOUT if it did not.
result<> resolve(const ip_address& dst, std::chrono::milliseconds wait);

} // namespace xlb::neigh
