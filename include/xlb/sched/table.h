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

// The dests a service may have under scheduler s: XLB_MAX_DESTS_HASHED for
// rr wrr sh dh mh (O(1) per pick), XLB_MAX_DESTS_SCANNED for the schedulers
// that scan every dest for each new flow (lc wlc sed nq fo ovf twos, and
// lblc lblcr, which the XDP data path lacks).
uint32_t max_dests(scheduler s) noexcept;

// A service's scheduling table as the inner map of sched_tables holds it:
// chunk 0 the header, then the regions it names (layout in <xlb/abi.h>).
struct table {
    std::vector<union xlb_sched_chunk> chunks;

    const struct xlb_sched_table& header() const noexcept { return chunks[0].hdr; }
    uint32_t flat(uint32_t i) const noexcept;
    const struct xlb_sched_band& band(uint32_t i) const noexcept;
    struct xlb_sched_member member(uint32_t i) const noexcept;
    uint32_t bucket(uint32_t i) const noexcept; // sh, dh
    size_t bytes() const noexcept { return chunks.size() * sizeof(union xlb_sched_chunk); }
};

// Members in IPVS list order (newest first). The table carries:
//  - bands (rr, wrr): IPVS wrr walks cw = mw, mw - di, ... > 0 (di the gcd
//    of the positive weights, mw = max - (di - 1)) and at each cw takes the
//    dests with weight >= cw in list order; rr takes every dest with weight > 0.
//  - members (lc wlc sed nq fo ovf twos) in list order.
//  - buckets (sh, dh): 256 buckets filled walking the list; sh gives a dest
//    max(weight, 1) consecutive buckets per turn, dh one.
//  - the service's scheduler, flags and persistence.
// Each only for the schedulers that read it. E2BIG past max_dests(sched).
result<table> build_table(const service_config& svc, const std::vector<member>& members, uint32_t gen);

// One period of the rr/wrr sequence the table produces, as dest ids.
std::vector<uint32_t> expand(const table& t);

// ip_vs_mh.c: each dest gets an offset and a skip from hsiphash of its address
// and port, and (last_weight / gcd) >> shift turns per round; rounds fill the
// table of `size` (a prime) slots. XLB_NO_DEST where nothing is (no dests).
std::vector<uint32_t> build_maglev(const std::vector<member>& members, uint32_t size);

bool is_prime(uint32_t n) noexcept;

} // namespace xlb::sched
