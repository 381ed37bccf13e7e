#pragma once
// Builds the band table the XDP program walks for rr and wrr (see struct
// xlb_sched_table in <xlb/abi.h>), and expands it for tests and tools.

#include <xlb/abi.h>
#include <xlb/model/service.h>
#include <xlb/util/error.h>

#include <cstdint>
#include <memory>
#include <vector>

namespace xlb::sched {

struct member {
    uint32_t id;    // dest id, what the table stores
    int32_t weight; // <= 0: takes no new flows
};

// Members in IPVS list order. IPVS wrr: di = gcd of the positive weights,
// mw = max - (di - 1), cw steps from mw down by di while > 0, and at each cw
// the dests with weight >= cw are taken in list order. rr: every dest with
// weight > 0, once. Fails with E2BIG past XLB_MAX_DESTS_PER_SVC members.
result<std::unique_ptr<struct xlb_sched_table>> build_table(scheduler s, const std::vector<member>& members,
                                                            uint32_t gen);

// One period of the sequence the table produces, as dest ids.
std::vector<uint32_t> expand(const struct xlb_sched_table& t);

} // namespace xlb::sched
