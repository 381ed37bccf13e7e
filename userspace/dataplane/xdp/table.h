#pragma once
// The XDP backend's table: the published side of the double-buffered maps
// read as one snapshot (the index writers build at open), and the journal
// that brings the unpublished side back in line. Private to
// userspace/dataplane/xdp/.

#include <xlb/abi.h>
#include <xlb/dataplane/xdp_dataplane.h>
#include <xlb/model/service.h>
#include <xlb/util/error.h>

#include <cstdint>
#include <map>
#include <vector>

namespace xlb::xdp {

// Slot i of side s in a double-buffered array map.
inline uint32_t sided(uint32_t i, uint32_t side, uint32_t max) noexcept { return i + side * max; }

struct dest_slot {
    uint32_t id = 0;
    struct xlb_dest d {};
};

struct svc_slot {
    uint32_t idx = 0;
    struct xlb_svc svc {};
    std::vector<dest_slot> dests; // IPVS list order (newest first)
};

// The published side. Whole: every slot read with batch lookups (svcs and
// dests by slot), and the index of active services and their dests built
// from them. Otherwise only the services a writer touches, found through
// svc_index and their dest lists.
struct snapshot {
    struct xlb_table_ctl ctl {};
    bool whole = false;
    std::vector<struct xlb_svc> svcs;   // by idx (whole only)
    std::vector<struct xlb_dest> dests; // by id (whole only)
    std::vector<svc_slot> services;     // the active ones read, by idx
    std::map<service_key, size_t> by_key; // -> services[]

    [[nodiscard]] const svc_slot* find(const service_key& k) const;
};

// What packets see now. Readers never lock: the read is retried while a
// publish moves under it.
result<snapshot> read_published(const xdp_dataplane::maps& m, const load_options& sizes);

// Under the writer lock: if the last writer left the unpublished side
// different from the published one (it published, or died while building),
// copy the slots its journal names across, once no packet reads that side.
result<> recover(const xdp_dataplane::maps& m, const load_options& sizes);

} // namespace xlb::xdp
