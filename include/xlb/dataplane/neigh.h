#pragma once
// Neighbour resolution over rtnetlink. XDP forwarding neither resolves nor
// refreshes neighbour entries; these ask the kernel to (NTF_USE), so that
// bpf_fib_lookup() finds a valid entry.

#include <xlb/model/address.h>
#include <xlb/util/error.h>

#include <cstdint>

namespace xlb::neigh {

struct next_hop {
    int ifindex = 0;
    ip_address addr; // the gateway, or the destination itself when on-link
};

// The kernel's route to dst (RTM_GETROUTE).
result<next_hop> route_get(const ip_address& dst);
// Starts resolution of addr on ifindex, creating the entry if needed.
result<> request(int ifindex, const ip_address& addr);
// route_get() then request(): what xlbctl does for every dest it adds.
result<> resolve(const ip_address& dst);

} // namespace xlb::neigh
