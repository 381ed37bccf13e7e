#pragma once
// Builds the scheduling table the XDP program reads (struct xlb_sched_table
// in <xlb/abi.h>) and the Maglev lookup table of mh services, with the
// algorithms of the kernel's ip_vs_wrr.c, ip_vs_sh.c, ip_vs_dh.c and
// ip_vs_mh.c. Pure functions, so tests can check them without a kernel.

#include <xlb/abi.h>
#include <xlb/model/service.h>
#include <xlb/util/error.h>

#include <cstdint>
#include <memory>
#include <vector>

namespace xlb::sched {

struct member {
    uint32_t id;          // dest id, what the tables store
    int32_t weight;       // <= 0: takes no new flows
    endpoint addr = {};   // mh hashes the dest's address and port
    int32_t last_weight = 0; // mh: the last weight > 0 (0: use weight)
};

// Members in IPVS list order (newest first). The table carries:
//  - bands (rr, wrr): IPVS wrr walks cw = mw, mw - di, ... > 0 (di the gcd
//    of the positive weights, mw = max - (di - 1)) and at each cw takes the
//    dests with weight >= cw in list order; rr takes every dest with weight > 0.
//  - members (lc wlc sed nq fo ovf twos) in list order.
//  - buckets (sh, dh): 256 buckets filled walking the list; sh gives a dest
//    max(weight, 1) consecutive buckets per turn, dh one.
//  - the service's scheduler, flags and persistence.
// E2BIG past XLB_MAX_DESTS_PER_SVC members.
result<std::unique_ptr<struct xlb_sched_table>> build_table(const service_config& svc,
                                                            const std::vector<member>& members, uint32_t gen);

// One period of the rr/wrr sequence the table produces, as dest ids.
std::vector<uint32_t> expand(const struct xlb_sched_table& t);

// ip_vs_mh.c: each dest gets an offset and a skip from hsiphash of its address
// and port, and (last_weight / gcd) >> shift turns per round; rounds fill the
// table of `size` (a prime) slots. XLB_NO_DEST where nothing is (no dests).
std::vector<uint32_t> build_maglev(const std::vector<member>& members, uint32_t size);

bool is_prime(uint32_t n) noexcept;

} // namespace xlb::sched
