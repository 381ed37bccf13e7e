// The XDP backend's table: change sets checked against the model
// (memory_dataplane), diffed against the index read at open, built on the
// unpublished side of the double-buffered maps and published with one
// update of table_ctl.
//
// A writer, under the lock:
//   1. recover(): if the last writer left the unpublished side different from
//      the published one, copy the slots its journal names across;
//   2. reads the published side (one batch read per map): the index;
//   3. runs the change set through the model; a refusal changes nothing;
//   4. diffs the model's table against the index: services and dests keep
//      their slots (and counters) where they stay, new ones take free slots;
//   5. writes the journal, marks the table BUILDING, writes the unpublished
//      side, then flips table_ctl.side: the publish.
// A writer killed anywhere before 5's flip leaves the published side as it
// was; killed after it, the new table is published. Either way the next
// writer's recover() reclaims what it left on the other side.

#include <xlb/dataplane/memory_dataplane.h>
#include <xlb/dataplane/neigh.h>
#include <xlb/dataplane/xdp/capabilities.h>
#include <xlb/dataplane/xdp/convert.h>
#include <xlb/dataplane/xdp_dataplane.h>
#include <xlb/sched/cursor.h>
#include <xlb/sched/table.h>
#include <xlb/util/log.h>

#include "pin_dir.h"
#include "table.h"
#include "util.h"

#include <arpa/inet.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <bit>
#include <cstring>
#include <set>
#include <system_error>
#include <thread>

namespace xlb {
using namespace xdp;

namespace xdp {
namespace {

// A publish older than this is past any packet that read the side before
// it (a packet's run is microseconds), counted or not.
constexpr uint64_t grace_ns = 1000ull * 1000 * 1000;

// The fewest chunks a scheduling table's map has: a small service that
// gains or loses a dest keeps its map.
constexpr size_t min_chunks = 4;

uint64_t monotonic_ns() {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
}

// Waits until no packet still reads `side`, which was published until
// flip_ns. The fence orders the flip's store before the read of the counts,
// as the data path's locked add orders its count before its second read of
// the side (bpf/maps.h, table_side_enter).
result<> wait_for_readers(const xdp_dataplane::maps& m, uint32_t side, uint64_t flip_ns) {
    std::atomic_thread_fence(std::memory_order_seq_cst);
    for (;;) {
        if (monotonic_ns() - flip_ns >= grace_ns) {
            return {};
        }
        // Packets and sweeps on every CPU that are reading `side`.
        auto n = read_percpu_sum(m.readers.get(), side, "readers");
        if (!n) {
            return n.error();
        }
        if (*n == 0) {
            return {};
        }
        std::this_thread::sleep_for(std::chrono::microseconds(20));
    }
}

// Reads n consecutive slots from first of an array map, in one batch call.
template <class V>
result<std::vector<V>> read_range(int fd, uint32_t first, uint32_t n, const char* what) {
    std::vector<V> vals(n);
    if (auto r = read_slots(fd, first, n, vals.data(), sizeof(V), what); !r) {
        return r.error();
    }
    return vals;
}

template <class V>
result<> write_batch(int fd, const std::vector<uint32_t>& keys, const std::vector<V>& vals, const char* what) {
    if (keys.empty()) {
        return {};
    }
    uint32_t count = static_cast<uint32_t>(keys.size());
    if (bpf_map_update_batch(fd, keys.data(), vals.data(), &count, nullptr) < 0) {
        return errno_error("write {}", what);
    }
    return {};
}

result<struct xlb_table_ctl> read_ctl(const xdp_dataplane::maps& m) {
    return lookup<struct xlb_table_ctl>(m.table_ctl.get(), 0, "table_ctl");
}

bool same_key(const struct xlb_svc_key& a, const struct xlb_svc_key& b) noexcept {
    return std::memcmp(&a, &b, sizeof(a)) == 0;
}

result<snapshot> read_snapshot(const xdp_dataplane::maps& m, const load_options& sizes) {
    snapshot s;
    s.whole = true;
    auto ctl = read_ctl(m);
    if (!ctl) {
        return ctl.error();
    }
    s.ctl = *ctl;
    const uint32_t side = s.ctl.side & 1;
    auto svcs = read_range<struct xlb_svc>(m.svcs.get(), sided(0, side, sizes.max_services), sizes.max_services,
                                           "svcs");
    if (!svcs) {
        return svcs.error();
    }
    auto dests = read_range<struct xlb_dest>(m.dests.get(), sided(0, side, sizes.max_dests), sizes.max_dests,
                                             "dests");
    if (!dests) {
        return dests.error();
    }
    s.svcs = std::move(*svcs);
    s.dests = std::move(*dests);
    std::vector<size_t> at(sizes.max_services, SIZE_MAX);
    for (uint32_t i = 0; i < sizes.max_services; ++i) {
        if (s.svcs[i].flags & XLB_SVC_F_ACTIVE) {
            at[i] = s.services.size();
            s.by_key.emplace(svc_key_from_abi(s.svcs[i].key), s.services.size());
            s.services.push_back({i, s.svcs[i], {}});
        }
    }
    for (uint32_t id = 0; id < sizes.max_dests; ++id) {
        const auto& d = s.dests[id];
        if ((d.flags & XLB_DEST_F_ACTIVE) && d.svc < sizes.max_services && at[d.svc] != SIZE_MAX) {
            s.services[at[d.svc]].dests.push_back({id, d});
        }
    }
    for (auto& svc : s.services) {
        std::sort(svc.dests.begin(), svc.dests.end(),
                  [](const dest_slot& a, const dest_slot& b) { return a.d.order > b.d.order; });
    }
    return s;
}

// Only the services `keys` names, each with its dests: a lookup in
// svc_index, one of the service and one a dest along its list. Under the
// writer lock after recover(), so nothing moves while it reads. nullopt:
// a record disagrees with the list that leads to it.
result<std::optional<snapshot>> read_services(const xdp_dataplane::maps& m, const load_options& sizes,
                                              const struct xlb_table_ctl& ctl,
                                              const std::vector<service_key>& keys) {
    snapshot s;
    s.ctl = ctl;
    const uint32_t side = ctl.side & 1;
    for (const auto& key : keys) {
        struct xlb_svc_index_key k {};
        k.svc = svc_key_to_abi(key);
        k.side = side;
        uint32_t idx = 0;
        if (bpf_map_lookup_elem(m.svc_index.get(), &k, &idx) < 0) {
            if (errno == ENOENT) {
                continue;
            }
            return errno_error("read svc_index");
        }
        if (idx >= sizes.max_services) {
            return std::optional<snapshot>{};
        }
        auto svc = lookup<struct xlb_svc>(m.svcs.get(), sided(idx, side, sizes.max_services), "svcs");
        if (!svc) {
            return svc.error();
        }
        if (!(svc->flags & XLB_SVC_F_ACTIVE) || !same_key(svc->key, k.svc)) {
            return std::optional<snapshot>{};
        }
        svc_slot slot{idx, *svc, {}};
        for (uint32_t id = svc->first_dest; id != XLB_NO_DEST;) {
            // A list longer than the table's count of dests loops.
            if (id >= sizes.max_dests || slot.dests.size() >= ctl.ndests) {
                return std::optional<snapshot>{};
            }
            auto d = lookup<struct xlb_dest>(m.dests.get(), sided(id, side, sizes.max_dests), "dests");
            if (!d) {
                return d.error();
            }
            if (!(d->flags & XLB_DEST_F_ACTIVE) || d->svc != idx) {
                return std::optional<snapshot>{};
            }
            slot.dests.push_back({id, *d});
            id = d->next;
        }
        s.by_key.emplace(svc_key_from_abi(svc->key), s.services.size());
        s.services.push_back(std::move(slot));
    }
    // The counts cover what was read (outside() takes the rest from them).
    size_t dests = 0;
    for (const auto& svc : s.services) {
        dests += svc.dests.size();
    }
    if (s.services.size() > ctl.nsvcs || dests > ctl.ndests) {
        return std::optional<snapshot>{};
    }
    return std::optional<snapshot>(std::move(s));
}

// Copies a sided hash map's key from side `from` to side `to`.
result<> copy_key(int fd, const struct xlb_svc_key& key, uint32_t from, uint32_t to, const char* what) {
    struct xlb_svc_index_key k {};
    k.svc = key;
    k.side = from;
    uint32_t v = 0;
    bool present = bpf_map_lookup_elem(fd, &k, &v) == 0;
    k.side = to;
    if (present) {
        if (bpf_map_update_elem(fd, &k, &v, BPF_ANY) < 0) {
            return errno_error("write {}", what);
        }
    } else if (bpf_map_delete_elem(fd, &k) < 0 && errno != ENOENT) {
        return errno_error("clear {}", what);
    }
    return {};
}

// Installs inner maps at slots of a map-in-map: one batch update, so one
// grace period for all; one at a time where the kernel has no batch for it.
result<> write_inner(int outer, const std::vector<uint32_t>& slots, const std::vector<int>& fds, const char* what) {
    if (slots.empty()) {
        return {};
    }
    uint32_t count = static_cast<uint32_t>(slots.size());
    if (bpf_map_update_batch(outer, slots.data(), fds.data(), &count, nullptr) == 0 && count == slots.size()) {
        return {};
    }
    for (size_t i = 0; i < slots.size(); ++i) {
        if (bpf_map_update_elem(outer, &slots[i], &fds[i], BPF_ANY) < 0) {
            return errno_error("install {}[{}]", what, slots[i]);
        }
    }
    return {};
}

// Empties slots of a map-in-map that hold a map (a delete costs a grace
// period even when there is nothing to delete): one batch delete where the
// kernel has it (hash of maps), else one at a time from up to
// clear_threads threads. Each delete sleeps in synchronize_rcu(), and the
// kernel serves concurrent waiters with the same grace period, so n slots
// cost about n / clear_threads grace periods, not n.
constexpr size_t clear_threads = 64;

result<> clear_inner(int outer, const std::vector<uint32_t>& slots, const char* what) {
    std::vector<uint32_t> full;
    for (uint32_t slot : slots) {
        uint32_t id = 0;
        if (bpf_map_lookup_elem(outer, &slot, &id) == 0) {
            full.push_back(slot);
        }
    }
    if (full.empty()) {
        return {};
    }
    uint32_t count = static_cast<uint32_t>(full.size());
    if (bpf_map_delete_batch(outer, full.data(), &count, nullptr) == 0 && count == full.size()) {
        return {};
    }
    const size_t workers = std::min(clear_threads, full.size());
    std::atomic<int> failed_errno{0};
    std::atomic<uint32_t> failed_slot{0};
    auto clear_every = [&](size_t first) {
        for (size_t i = first; i < full.size(); i += workers) {
            if (bpf_map_delete_elem(outer, &full[i]) < 0 && errno != ENOENT) {
                int expected = 0;
                if (failed_errno.compare_exchange_strong(expected, errno)) {
                    failed_slot = full[i];
                }
                return;
            }
        }
    };
    {
        std::vector<std::jthread> pool;
        std::vector<size_t> here{0}; // shares no thread could be started for
        pool.reserve(workers - 1);
        for (size_t t = 1; t < workers; ++t) {
            try {
                pool.emplace_back(clear_every, t);
            } catch (const std::system_error&) {
                here.push_back(t);
            }
        }
        for (size_t t : here) {
            clear_every(t);
        }
    }
    if (int e = failed_errno.load(); e != 0) {
        errno = e;
        return errno_error("clear {}[{}]", what, failed_slot.load());
    }
    return {};
}

// The inner map at a slot of a map-in-map: its id, 0 if the slot is empty.
uint32_t inner_id(int outer, uint32_t slot) {
    uint32_t id = 0;
    return bpf_map_lookup_elem(outer, &slot, &id) == 0 ? id : 0;
}

// An array map's value area, mapped where the map is BPF_F_MMAPABLE (the
// Maglev tables): entries are elem bytes apart, the value size rounded up
// to 8, as the kernel lays them out.
struct array_view {
    void* at = MAP_FAILED;
    size_t len = 0;
    uint32_t elem = 0;

    array_view(int fd, uint32_t n, uint32_t value_size) : elem((value_size + 7) & ~7u) {
        const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
        len = (static_cast<size_t>(n) * elem + page - 1) / page * page;
        at = len ? ::mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0) : MAP_FAILED;
    }
    ~array_view() {
        if (at != MAP_FAILED) {
            ::munmap(at, len);
        }
    }
    array_view(const array_view&) = delete;
    array_view& operator=(const array_view&) = delete;
    explicit operator bool() const noexcept { return at != MAP_FAILED; }
    uint8_t* entry(uint32_t i) const noexcept { return static_cast<uint8_t*>(at) + static_cast<size_t>(i) * elem; }
};

// Writes all n entries of an array map (keys 0..n-1) from raw values: with
// stores where the map is mapped (a batch update costs some 450 ns an entry,
// 30 ms for a Maglev table), else with one batch update.
result<> fill_array(int fd, const void* values, uint32_t n, uint32_t value_size, const char* what) {
    if (n == 0) {
        return {};
    }
    if (array_view v(fd, n, value_size); v) {
        const auto* src = static_cast<const uint8_t*>(values);
        for (uint32_t i = 0; i < n; ++i) {
            std::memcpy(v.entry(i), src + static_cast<size_t>(i) * value_size, value_size);
        }
        return {};
    }
    std::vector<uint32_t> keys(n);
    std::iota(keys.begin(), keys.end(), 0u);
    uint32_t count = n;
    if (bpf_map_update_batch(fd, keys.data(), values, &count, nullptr) < 0) {
        return errno_error("fill {}", what);
    }
    return {};
}

// Reads all n entries of an array map, mapped or with batch lookups.
result<std::vector<uint8_t>> read_array(int fd, uint32_t n, uint32_t value_size, const char* what) {
    std::vector<uint8_t> vals(static_cast<size_t>(n) * value_size);
    if (array_view v(fd, n, value_size); n > 0 && v) {
        for (uint32_t i = 0; i < n; ++i) {
            std::memcpy(vals.data() + static_cast<size_t>(i) * value_size, v.entry(i), value_size);
        }
        return vals;
    }
    if (auto r = read_slots(fd, 0, n, vals.data(), value_size, what); !r) {
        return r.error();
    }
    return vals;
}

// The inner map at `slot` if this side may rewrite it in place: present, not
// also at `peer` (the other side's slot), and of n entries. Writing an inner
// map's entries costs no grace period; installing one in a map-in-map does
// (maybe_wait_bpf_programs()). An empty file_desc: install a new one.
file_desc own_inner(int outer, uint32_t slot, uint32_t peer, uint32_t n) {
    uint32_t id = inner_id(outer, slot);
    if (id == 0 || id == inner_id(outer, peer)) {
        return {};
    }
    file_desc fd(bpf_map_get_fd_by_id(id));
    if (!fd) {
        return {};
    }
    auto info = map_info(fd.get());
    if (!info || info->max_entries != n) {
        return {};
    }
    return fd;
}

// Slots of a map-in-map to bring from one side to the other. Each side owns
// its inner maps: where the slot behind has one of the same size, the
// entries are copied into it (no grace period); otherwise it gets a copy of
// its own, installed with one batch update for all.
struct inner_sync {
    std::vector<uint32_t> set_slots;
    std::vector<file_desc> set_maps;
    std::vector<uint32_t> clear_slots;

    // Slot `to` gets what slot `from` holds.
    result<> add(int outer, uint32_t from, uint32_t to, const char* what) {
        uint32_t id = inner_id(outer, from);
        uint32_t there = inner_id(outer, to);
        if (id == there) {
            return {};
        }
        if (id == 0) {
            clear_slots.push_back(to);
            return {};
        }
        file_desc src(bpf_map_get_fd_by_id(id));
        if (!src) {
            return errno_error("open inner map {} of {}", id, what);
        }
        auto info = map_info(src.get());
        if (!info) {
            return info.error();
        }
        auto vals = read_array(src.get(), info->max_entries, info->value_size, what);
        if (!vals) {
            return vals.error();
        }
        if (file_desc dst = own_inner(outer, to, from, info->max_entries)) {
            return fill_array(dst.get(), vals->data(), info->max_entries, info->value_size, what);
        }
        LIBBPF_OPTS(bpf_map_create_opts, opts, .map_flags = info->map_flags);
        file_desc copy(bpf_map_create(BPF_MAP_TYPE_ARRAY, info->name, info->key_size, info->value_size,
                                      info->max_entries, &opts));
        if (!copy) {
            return errno_error("copy inner map {} of {}", id, what);
        }
        if (auto r = fill_array(copy.get(), vals->data(), info->max_entries, info->value_size, what); !r) {
            return r;
        }
        set_slots.push_back(to);
        set_maps.push_back(std::move(copy));
        return {};
    }

    result<> write(int outer, const char* what) {
        std::vector<int> fds;
        for (const auto& f : set_maps) {
            fds.push_back(f.get());
        }
        if (auto r = write_inner(outer, set_slots, fds, what); !r) {
            return r;
        }
        return clear_inner(outer, clear_slots, what);
    }
};

} // namespace

namespace {

// --- rr and wrr: each CPU's cursor carried across a change ----------------
//
// IPVS keeps one list pointer (and for wrr a current weight) per service
// and moves it in the callbacks each change runs (<xlb/sched/cursor.h>).
// The writer does the same to every CPU's cursor: it decodes each against
// the table it was made for, replays the set's changes to the service, and
// encodes the result against the new table. Done after the publish, once no
// packet reads the old side: a pick on the new table before the write
// starts from the top, and its cursor is then overwritten.

struct cursor_job {
    uint32_t idx = 0;
    service_key key;
    bool existed = false;                  // at idx before the set
    scheduler old_sched = scheduler::rr;
    std::optional<sched::table> old_table; // rr/wrr before the set
    std::vector<sched::member> old_list;
    sched::table new_table;
    std::vector<sched::member> new_list;
};

bool carries_cursor(scheduler s) { return s == scheduler::rr || s == scheduler::wrr; }

// The service's marks (one per CPU) after the set's changes to it, as IPVS's
// callbacks move them. nullopt: the replay does not end at the new list (it
// would be a bug); the cursors are left to restart.
std::optional<std::vector<sched::mark>> replay_marks(const cursor_job& job, std::vector<sched::mark> marks,
                                                    const change_set& changes) {
    bool present = job.existed;
    scheduler sch = job.old_sched;
    std::vector<sched::member> list = job.old_list;
    auto init = [&] {
        for (auto& m : marks) {
            m = sched::init_mark(sch, list);
        }
    };
    auto find = [&](const endpoint& a) {
        return std::find_if(list.begin(), list.end(), [&](const sched::member& m) { return m.addr == a; });
    };
    for (const auto& c : changes) {
        if (c.what == change::kind::clear) {
            present = false;
            continue;
        }
        if (c.service.key != job.key) {
            continue;
        }
        switch (c.what) {
        case change::kind::add_service:
            present = true;
            sch = c.service.sched;
            list.clear();
            init();
            break;
        case change::kind::edit_service:
            if (c.service.sched != sch) {
                sch = c.service.sched; // ip_vs_edit_service(): unbind, bind: init_service
                init();
            }
            break;
        case change::kind::del_service:
            present = false;
            break;
        case change::kind::add_dest:
            list.insert(list.begin(), {XLB_NO_DEST, c.dest.weight, c.dest.addr, 0});
            if (sch == scheduler::wrr) {
                sched::wrr_dest_changed(marks, list);
            }
            break;
        case change::kind::edit_dest:
            if (auto it = find(c.dest.addr); it != list.end()) {
                it->weight = c.dest.weight;
            }
            if (sch == scheduler::wrr) {
                sched::wrr_dest_changed(marks, list);
            }
            break;
        case change::kind::del_dest:
            if (sch == scheduler::rr) {
                for (auto& m : marks) {
                    sched::rr_del_dest(m, list, c.dest.addr);
                }
            }
            if (auto it = find(c.dest.addr); it != list.end()) {
                list.erase(it);
            }
            if (sch == scheduler::wrr) {
                sched::wrr_dest_changed(marks, list);
            }
            break;
        default:
            break;
        }
    }
    bool same = present && sch == static_cast<scheduler>(job.new_table.header().sched) &&
                list.size() == job.new_list.size();
    for (size_t i = 0; same && i < list.size(); ++i) {
        same = list[i].addr == job.new_list[i].addr && list[i].weight == job.new_list[i].weight;
    }
    if (!same) {
        return std::nullopt;
    }
    return marks;
}

// The gen of the published scheduling table at slot (0: none).
uint32_t published_gen(int outer, uint32_t slot) {
    uint32_t id = inner_id(outer, slot);
    if (id == 0) {
        return 0;
    }
    file_desc fd(bpf_map_get_fd_by_id(id));
    union xlb_sched_chunk head {};
    uint32_t zero = 0;
    if (!fd || bpf_map_lookup_elem(fd.get(), &zero, &head) < 0) {
        return 0;
    }
    return head.hdr.gen;
}

// Every CPU's cursor of each job's service, carried into its new table.
result<> carry_cursors(const xdp_dataplane::maps& m, const std::vector<cursor_job>& jobs, const change_set& changes) {
    const size_t n = ncpus();
    for (const auto& job : jobs) {
        std::vector<struct xlb_sched_cursor> cur(n);
        if (bpf_map_lookup_elem(m.sched_cursor.get(), &job.idx, cur.data()) < 0) {
            return errno_error("read sched_cursor[{}]", job.idx);
        }
        std::vector<sched::mark> marks(n);
        if (job.old_table) {
            for (size_t cpu = 0; cpu < n; ++cpu) {
                marks[cpu] = sched::decode(*job.old_table, cur[cpu], job.old_list);
            }
        }
        auto after = replay_marks(job, std::move(marks), changes);
        if (!after) {
            log::warn("the rr/wrr cursors of service {} restart: the replay of the change set disagrees with its table",
                      job.idx);
            continue;
        }
        const uint32_t gen = job.new_table.header().gen;
        for (size_t cpu = 0; cpu < n; ++cpu) {
            if (cur[cpu].gen != gen) { // a packet on the new table already restarted it: keep that
                cur[cpu] = sched::encode(job.new_table, (*after)[cpu], job.new_list);
            }
        }
        if (bpf_map_update_elem(m.sched_cursor.get(), &job.idx, cur.data(), BPF_ANY) < 0) {
            return errno_error("write sched_cursor[{}]", job.idx);
        }
    }
    return {};
}

} // namespace

const svc_slot* snapshot::find(const service_key& k) const {
    auto it = by_key.find(k);
    return it == by_key.end() ? nullptr : &services[it->second];
}

result<snapshot> read_published(const xdp_dataplane::maps& m, const load_options& sizes) {
    for (int attempt = 0;; ++attempt) {
        auto s = read_snapshot(m, sizes);
        if (!s) {
            return s.error();
        }
        auto after = read_ctl(m);
        if (!after) {
            return after.error();
        }
        // Unchanged: nothing was published while we read. A side that was
        // published is not written again before the next writer's recover().
        if (after->seq == s->ctl.seq || attempt >= 8) {
            return s;
        }
    }
}

result<> recover(const xdp_dataplane::maps& m, const load_options& sizes) {
    auto ctl = read_ctl(m);
    if (!ctl) {
        return ctl.error();
    }
    if (ctl->state == XLB_TABLE_CLEAN) {
        return {};
    }
    if (ctl->state == XLB_TABLE_PUBLISHED) {
        if (auto r = wait_for_readers(m, (ctl->side & 1) ^ 1, ctl->flip_ns); !r) {
            return r.error();
        }
    }
    const uint32_t a = ctl->side & 1, b = a ^ 1;
    const uint32_t n = std::min<uint32_t>(ctl->journal_len, 4 * sizes.max_services + sizes.max_dests + 16);
    std::vector<struct xlb_journal_entry> entries;
    if (n > 0) {
        auto e = read_range<struct xlb_journal_entry>(m.journal.get(), 0, n, "journal");
        if (!e) {
            return e.error();
        }
        entries = std::move(*e);
    }
    inner_sync sched_sync, mh_sync;
    for (const auto& e : entries) {
        result<> r;
        switch (e.kind) {
        case XLB_JOURNAL_SVC: {
            if (e.idx >= sizes.max_services) {
                break;
            }
            auto v = lookup<struct xlb_svc>(m.svcs.get(), sided(e.idx, a, sizes.max_services), "svcs");
            if (!v) {
                return v.error();
            }
            r = update(m.svcs.get(), sided(e.idx, b, sizes.max_services), *v, "svcs");
            if (r) {
                r = sched_sync.add(m.sched_tables.get(), sided(e.idx, a, sizes.max_services),
                                   sided(e.idx, b, sizes.max_services), "sched_tables");
            }
            if (r) {
                r = mh_sync.add(m.mh_tables.get(), sided(e.idx, a, sizes.max_services),
                                sided(e.idx, b, sizes.max_services), "mh_tables");
            }
            break;
        }
        case XLB_JOURNAL_DEST: {
            if (e.idx >= sizes.max_dests) {
                break;
            }
            auto v = lookup<struct xlb_dest>(m.dests.get(), sided(e.idx, a, sizes.max_dests), "dests");
            if (!v) {
                return v.error();
            }
            r = update(m.dests.get(), sided(e.idx, b, sizes.max_dests), *v, "dests");
            break;
        }
        case XLB_JOURNAL_KEY:
            r = copy_key(m.svc_index.get(), e.key, a, b, "svc_index");
            break;
        case XLB_JOURNAL_VIP:
            r = copy_key(m.vips.get(), e.key, a, b, "vips");
            break;
        default:
            break;
        }
        if (!r) {
            return r;
        }
    }
    if (auto r = sched_sync.write(m.sched_tables.get(), "sched_tables"); !r) {
        return r;
    }
    if (auto r = mh_sync.write(m.mh_tables.get(), "mh_tables"); !r) {
        return r;
    }
    struct xlb_table_ctl clean = *ctl;
    clean.state = XLB_TABLE_CLEAN;
    clean.journal_len = 0;
    return update(m.table_ctl.get(), 0, clean, "table_ctl");
}

} // namespace xdp

namespace {

// TUN: the outer header's source is this director's address toward the dest,
// the preferred source of the kernel's route to it. Without a route yet, the
// dest is taken with none: the data path asks for it (neigh_events) and
// resolve_pending_neighbours() fills it in once the route exists.
result<> set_tunnel(struct xlb_dest& d, const dest_config& cfg) {
    d.tun_type = static_cast<uint8_t>(cfg.tunnel);
    d.tun_port = htons(cfg.tun_port);
    d.tun_flags = cfg.tun_flags;
    d.tun_src = {};
    if (cfg.fwd != forwarding::tun) {
        return {};
    }
    if (cfg.tunnel == tun_type::gre) {
        return make_error(EOPNOTSUPP, "GRE tunnels are not supported yet");
    }
    if (cfg.tunnel == tun_type::gue && cfg.tun_port == 0) {
        return make_error(EINVAL, "a GUE tunnel needs --tun-port");
    }
    auto hop = neigh::route_get(cfg.addr.addr);
    if (!hop || !hop->source) {
        log::info("{}: the tunnel's source is set once a route with a source exists (xlbctl resolve)",
                  hop ? fmt::format("no source address toward {}", cfg.addr.addr.to_string()) : hop.error().message());
        return {};
    }
    d.tun_src = hop->source->to_abi();
    return {};
}

// A service whose scheduling tables are built again, with its dests after
// the set in list order.
struct rebuilt {
    struct xlb_svc svc {};
    std::vector<dest_slot> dests;
};

// What the writer puts on the unpublished side.
struct plan {
    std::map<uint32_t, struct xlb_svc> svcs;   // idx -> record (inactive: deleted)
    std::map<uint32_t, struct xlb_dest> dests; // id -> record
    std::map<uint32_t, rebuilt> rebuild;       // idx -> services whose scheduling tables change
    std::set<uint32_t> gone;                   // services deleted: their tables go
    std::vector<std::pair<struct xlb_svc_key, std::optional<uint32_t>>> keys; // svc_index: set or delete
    std::vector<std::pair<struct xlb_svc_key, std::optional<uint32_t>>> vips; // vips: set or delete
    std::vector<uint32_t> new_svcs, new_dests; // fresh slots: their counters start at zero
    std::vector<const svc_slot*> zero_svcs;    // -Z, applied after the publish
    std::optional<timeouts> times;             // --set, applied after the publish
    bool nat = false;                          // a NAT dest exists
    struct xlb_table_ctl sizes {};             // nsvcs, ndests and the high-water marks it publishes
};

bool same_bytes(const void* a, const void* b, size_t n) { return std::memcmp(a, b, n) == 0; }

struct xlb_svc svc_record(const service_config& c) {
    struct xlb_svc s {};
    s.key = svc_key_to_abi(c.key);
    s.flags = XLB_SVC_F_ACTIVE;
    s.sched = static_cast<uint32_t>(c.sched);
    s.ipvs_flags = svc_flags_to_abi(c);
    s.timeout = c.timeout;
    s.netmask = c.netmask;
    s.first_dest = XLB_NO_DEST;
    return s;
}

struct xlb_svc_key vip_key(const struct xlb_svc_key& k) {
    struct xlb_svc_key v {};
    v.af = k.af;
    v.vip = k.vip;
    return v;
}

struct key_less {
    bool operator()(const struct xlb_svc_key& a, const struct xlb_svc_key& b) const noexcept {
        return std::memcmp(&a, &b, sizeof(a)) < 0;
    }
};

// The table as the model sees it: configs and list order, from the index.
std::vector<service_state> model_table(const snapshot& s) {
    std::vector<service_state> out;
    for (const auto& svc : s.services) {
        service_state st;
        st.config = svc_config_from_abi(svc.svc);
        for (const auto& ds : svc.dests) {
            dest_state d;
            d.config = dest_from_abi(ds.d);
            st.dests.push_back(d);
        }
        out.push_back(std::move(st));
    }
    return out;
}

// The services a change set names, or nullopt if it reaches past them
// (-C, -Z of everything): those need the whole table.
std::optional<std::vector<service_key>> touched_services(const change_set& changes) {
    std::vector<service_key> keys;
    for (const auto& c : changes) {
        if (c.what == change::kind::clear || (c.what == change::kind::zero && c.all)) {
            return std::nullopt;
        }
        if (c.what != change::kind::set_timeouts) {
            keys.push_back(c.service.key);
        }
    }
    std::sort(keys.begin(), keys.end());
    keys.erase(std::unique(keys.begin(), keys.end()), keys.end());
    return keys;
}

// Services and dests of the published table that a snapshot does not hold.
struct outside_counts {
    uint32_t svcs = 0, dests = 0;
};
outside_counts outside(const snapshot& s) {
    if (s.whole) {
        return {};
    }
    uint32_t dests = 0;
    for (const auto& svc : s.services) {
        dests += static_cast<uint32_t>(svc.dests.size());
    }
    return {s.ctl.nsvcs - static_cast<uint32_t>(s.services.size()), s.ctl.ndests - dests};
}

// Where new slots come from. A whole snapshot knows every free slot and
// hands out the lowest first. A partial one knows none: it looks at the
// published slots one at a time, next fit from the cursors in table_ctl
// (wrapping), and gives up after max_probes looks (the set is planned
// again from the whole table).
constexpr uint32_t max_probes = 1024;

class slot_pool {
public:
    slot_pool(const xdp_dataplane::maps& m, const snapshot& s, const load_options& sizes)
        : _m(m), _snap(s), _side(s.ctl.side & 1), _max_svcs(sizes.max_services), _max_dests(sizes.max_dests) {
        _next_svc = s.ctl.svc_next < _max_svcs ? s.ctl.svc_next : 0;
        _next_dest = s.ctl.dest_next < _max_dests ? s.ctl.dest_next : 0;
        if (!s.whole) {
            return;
        }
        for (uint32_t i = _max_svcs; i-- > 0;) {
            if (!(s.svcs[i].flags & XLB_SVC_F_ACTIVE)) {
                _free_svcs.push_back(i); // popped from the back: lowest first
            }
        }
        for (uint32_t i = _max_dests; i-- > 0;) {
            if (!(s.dests[i].flags & XLB_DEST_F_ACTIVE)) {
                _free_dests.push_back(i);
            }
        }
    }

    std::optional<uint32_t> svc() {
        if (_snap.whole) {
            return after(take(_free_svcs), _next_svc, _max_svcs);
        }
        auto found = probe<struct xlb_svc>(_m.svcs.get(), _next_svc, _max_svcs, _taken_svcs, XLB_SVC_F_ACTIVE);
        return found ? std::optional<uint32_t>(found->first) : std::nullopt;
    }
    // A free dest slot and the generation its last user had.
    std::optional<std::pair<uint32_t, uint32_t>> dest() {
        if (_snap.whole) {
            auto id = after(take(_free_dests), _next_dest, _max_dests);
            if (!id) {
                return std::nullopt;
            }
            return std::pair<uint32_t, uint32_t>{*id, _snap.dests[*id].gen};
        }
        auto found = probe<struct xlb_dest>(_m.dests.get(), _next_dest, _max_dests, _taken_dests, XLB_DEST_F_ACTIVE);
        if (!found) {
            return std::nullopt;
        }
        return std::pair<uint32_t, uint32_t>{found->first, found->second.gen};
    }
    // The cursors to publish: one past the last slot handed out.
    [[nodiscard]] uint32_t next_svc() const noexcept { return _next_svc; }
    [[nodiscard]] uint32_t next_dest() const noexcept { return _next_dest; }

private:
    static std::optional<uint32_t> take(std::vector<uint32_t>& v) {
        if (v.empty()) {
            return std::nullopt;
        }
        uint32_t i = v.back();
        v.pop_back();
        return i;
    }
    static std::optional<uint32_t> after(std::optional<uint32_t> id, uint32_t& next, uint32_t max) {
        if (id) {
            next = *id + 1 < max ? *id + 1 : 0;
        }
        return id;
    }
    // The next published slot from `next` that is not active and not
    // handed out by this plan already, with its record.
    template <typename Rec>
    std::optional<std::pair<uint32_t, Rec>> probe(int fd, uint32_t& next, uint32_t max, std::set<uint32_t>& taken,
                                                  uint32_t active_flag) {
        for (uint32_t tries = 0; tries < std::min(max, max_probes) && _probes < max_probes; ++tries, ++_probes) {
            const uint32_t id = next;
            next = next + 1 < max ? next + 1 : 0;
            if (taken.count(id)) {
                continue;
            }
            Rec rec{};
            const uint32_t key = sided(id, _side, max);
            if (bpf_map_lookup_elem(fd, &key, &rec) < 0) {
                return std::nullopt; // the whole read reports it
            }
            if (!(rec.flags & active_flag)) {
                taken.insert(id);
                return std::pair<uint32_t, Rec>{id, rec};
            }
        }
        return std::nullopt;
    }

    const xdp_dataplane::maps& _m;
    const snapshot& _snap;
    uint32_t _side;
    uint32_t _max_svcs, _max_dests;
    uint32_t _next_svc = 0, _next_dest = 0;
    uint32_t _probes = 0;
    std::vector<uint32_t> _free_svcs, _free_dests;
    std::set<uint32_t> _taken_svcs, _taken_dests;
};

// Services on an address before the set, from the vips map.
result<uint32_t> vip_services(const xdp_dataplane::maps& m, uint32_t side, const struct xlb_svc_key& v) {
    struct xlb_svc_index_key k {};
    k.svc = v;
    k.side = side;
    uint32_t n = 0;
    if (bpf_map_lookup_elem(m.vips.get(), &k, &n) < 0) {
        if (errno != ENOENT) {
            return errno_error("read vips");
        }
        n = 0;
    }
    return n;
}

// The diff of the model's table against the snapshot: services and dests
// keep their slots (and counters) where they stay, new ones take free
// slots. nullopt: a partial snapshot found no free slot within its
// probes; plan again from the whole table, which knows every free one.
result<std::optional<plan>> make_plan(const xdp_dataplane::maps& m, const load_options& sizes,
                                      const snapshot& snap, const std::vector<service_state>& desired,
                                      const change_set& changes) {
    plan p;
    slot_pool pool(m, snap, sizes);
    std::set<uint32_t> kept_svcs;
    std::map<struct xlb_svc_key, int, key_less> vip_delta;
    uint32_t ndests = 0;
    // The lowest slots this set frees: the next write looks there first, so
    // a server taken out and put back (a health check's flap) finds its
    // slot at the first probe, however full the table is.
    uint32_t freed_svc = UINT32_MAX, freed_dest = UINT32_MAX;
    for (const auto& st : desired) {
        const auto& cfg = st.config;
        const svc_slot* old = snap.find(cfg.key);
        auto rec = svc_record(cfg);
        uint32_t idx = 0;
        bool rebuild = false;
        if (old) {
            idx = old->idx;
            kept_svcs.insert(idx);
            rec.first_dest = old->svc.first_dest;
            rebuild = !same_bytes(&old->svc, &rec, sizeof(rec));
        } else {
            auto slot = pool.svc();
            if (!slot) {
                if (!snap.whole) {
                    return std::optional<plan>{};
                }
                return make_error(ENOSPC, "all {} service slots are in use (xlbctl load --max-services)",
                                  sizes.max_services);
            }
            idx = *slot;
            p.new_svcs.push_back(idx);
            p.keys.emplace_back(rec.key, idx);
            ++vip_delta[vip_key(rec.key)];
            rebuild = true;
        }
        // Each dest's slot, in list order: its own where it stays, a free
        // one where it is new.
        std::map<endpoint, const dest_slot*> old_dests;
        if (old) {
            for (const auto& ds : old->dests) {
                old_dests.emplace(dest_from_abi(ds.d).addr, &ds);
            }
        }
        const auto n = static_cast<uint32_t>(st.dests.size());
        std::vector<dest_slot> list(n);
        std::vector<bool> fresh(n, false);
        for (uint32_t pos = 0; pos < n; ++pos) {
            auto it = old_dests.find(st.dests[pos].config.addr);
            if (it != old_dests.end()) {
                list[pos] = *it->second;
                old_dests.erase(it);
                continue;
            }
            auto slot = pool.dest();
            if (!slot) {
                if (!snap.whole) {
                    return std::optional<plan>{};
                }
                return make_error(ENOSPC, "all {} dest slots are in use (xlbctl load --max-dests)",
                                  sizes.max_dests);
            }
            list[pos].id = slot->first;
            list[pos].d.gen = slot->second + 1; // flows of the slot's last user no longer match
            list[pos].d.last_weight = st.dests[pos].config.weight;
            fresh[pos] = true;
            p.new_dests.push_back(slot->first);
        }
        // The records, the oldest with order 0, each linked to the next.
        for (uint32_t pos = 0; pos < n; ++pos) {
            const auto& dc = st.dests[pos].config;
            auto& d = list[pos].d;
            const struct xlb_dest before = d;
            d.addr = dc.addr.addr.to_abi();
            d.port = htons(dc.addr.port);
            d.af = static_cast<uint8_t>(dc.addr.addr.af());
            d.fwd = static_cast<uint8_t>(dc.fwd);
            d.flags = XLB_DEST_F_ACTIVE;
            d.svc = idx;
            d.weight = dc.weight;
            if (dc.weight > 0) {
                d.last_weight = dc.weight; // mh keeps a quiesced dest's slots
            }
            d.u_threshold = dc.u_threshold;
            d.l_threshold = dc.l_threshold;
            d.order = n - 1 - pos;
            d.next = pos + 1 < n ? list[pos + 1].id : XLB_NO_DEST;
            const auto old_cfg = dest_from_abi(before);
            if (fresh[pos] || old_cfg.fwd != dc.fwd || old_cfg.tunnel != dc.tunnel ||
                old_cfg.tun_port != dc.tun_port || old_cfg.tun_flags != dc.tun_flags) {
                if (auto r = set_tunnel(d, dc); !r) {
                    return r.error();
                }
            }
            if (dc.fwd == forwarding::nat) {
                p.nat = true;
            }
            if (fresh[pos] || !same_bytes(&before, &d, sizeof(d))) {
                if (fresh[pos] || before.weight != d.weight || before.last_weight != d.last_weight ||
                    before.order != d.order || !(before.flags & XLB_DEST_F_ACTIVE)) {
                    rebuild = true;
                }
                p.dests[list[pos].id] = d;
            }
        }
        // Dests the service no longer has: inactive, so their flows are
        // rescheduled on their next packet; the generation stays and moves
        // on when the slot is reused.
        for (const auto& [addr, ds] : old_dests) {
            struct xlb_dest d = ds->d;
            d.flags = 0;
            p.dests[ds->id] = d;
            freed_dest = std::min(freed_dest, ds->id);
            rebuild = true;
        }
        rec.first_dest = n > 0 ? list[0].id : XLB_NO_DEST;
        if (!old || !same_bytes(&old->svc, &rec, sizeof(rec))) {
            p.svcs[idx] = rec;
        }
        if (rebuild) {
            p.rebuild[idx] = rebuilt{rec, std::move(list)};
        }
        ndests += n;
    }
    for (const auto& svc : snap.services) {
        if (kept_svcs.count(svc.idx)) {
            continue;
        }
        struct xlb_svc s = svc.svc;
        s.flags = 0;
        p.svcs[svc.idx] = s;
        p.gone.insert(svc.idx);
        freed_svc = std::min(freed_svc, svc.idx);
        p.keys.emplace_back(svc.svc.key, std::nullopt);
        --vip_delta[vip_key(svc.svc.key)];
        for (const auto& ds : svc.dests) {
            struct xlb_dest d = ds.d;
            d.flags = 0;
            p.dests[ds.id] = d;
            freed_dest = std::min(freed_dest, ds.id);
        }
    }
    // Services on each address the set changes: counted in a whole
    // snapshot, read from the vips map otherwise.
    std::map<struct xlb_svc_key, uint32_t, key_less> counted;
    if (snap.whole && !vip_delta.empty()) {
        for (const auto& svc : snap.services) {
            ++counted[vip_key(svc.svc.key)];
        }
    }
    for (const auto& [v, delta] : vip_delta) {
        if (delta == 0) {
            continue;
        }
        uint32_t n = 0;
        if (snap.whole) {
            auto it = counted.find(v);
            n = it == counted.end() ? 0 : it->second;
        } else if (auto read = vip_services(m, snap.ctl.side & 1, v); read) {
            n = *read;
        } else {
            return read.error();
        }
        const int64_t after = static_cast<int64_t>(n) + delta;
        p.vips.emplace_back(v, after > 0 ? std::optional<uint32_t>(static_cast<uint32_t>(after)) : std::nullopt);
    }
    for (const auto& c : changes) {
        if (c.what != change::kind::zero) {
            continue;
        }
        for (const auto& st : desired) {
            // A service added by this set starts at zero anyway.
            if (const svc_slot* s = snap.find(st.config.key); s && (c.all || st.config.key == c.service.key)) {
                p.zero_svcs.push_back(s);
            }
        }
    }
    const auto out = outside(snap);
    p.sizes.nsvcs = out.svcs + static_cast<uint32_t>(desired.size());
    p.sizes.ndests = out.dests + ndests;
    p.sizes.svc_next = freed_svc != UINT32_MAX ? freed_svc : pool.next_svc();
    p.sizes.dest_next = freed_dest != UINT32_MAX ? freed_dest : pool.next_dest();
    return std::optional<plan>(std::move(p));
}

} // namespace

const capabilities& xdp_dataplane::caps() const noexcept {
    static const capabilities c = xdp::xdp_capabilities(XLB_MAX_DESTS_HASHED, XLB_MAX_DESTS_SCANNED);
    return c;
}

apply_result xdp_dataplane::apply(const change_set& changes) {
    auto fail = [](const error& e) { return change_error{0, e}; };
    auto taken = xdp::writer_lock::take(_pin_dir, _lock_wait);
    if (!taken) {
        return fail(taken.error());
    }
    std::optional<xdp::writer_lock> lock(std::move(*taken));
    if (auto r = recover(_maps, _sizes); !r) {
        return fail(r.error());
    }
    auto before_times = get_timeouts();
    if (!before_times) {
        return fail(before_times.error());
    }
    auto now = read_ctl(_maps);
    if (!now) {
        return fail(now.error());
    }

    // 2. The index: only the services the set names where it names few of
    // them (its work then grows with those, not with the table), else all.
    std::optional<snapshot> snap;
    if (auto keys = touched_services(changes); keys && (keys->size() <= 64 || keys->size() * 4 <= now->nsvcs)) {
        auto some = read_services(_maps, _sizes, *now, *keys);
        if (!some) {
            return fail(some.error());
        }
        if (!*some) {
            log::warn("a dest list of the table disagrees with its records; reading the whole table");
        }
        snap = std::move(*some);
    }
    std::optional<plan> p;
    std::optional<timeouts> desired_times;
    for (;;) {
        if (!snap) {
            auto all = read_snapshot(_maps, _sizes);
            if (!all) {
                return fail(all.error());
            }
            snap = std::move(*all);
            ++_whole_reads;
        }
        // 3. The model decides, with the kernel's checks and this backend's
        // limits, counting the services and dests it was not given.
        const auto out = outside(*snap);
        memory_dataplane model(caps(), memory_limits{_sizes.max_services, _sizes.max_dests, _sizes.max_flows,
                                                     out.svcs, out.dests});
        model.assign(model_table(*snap), *before_times);
        if (auto r = model.apply(changes); !r) {
            return r.error();
        }
        auto desired = model.list();
        auto times = model.get_timeouts();
        if (!desired || !times) {
            return fail(desired ? times.error() : desired.error());
        }
        desired_times = *times;
        // 4. The diff.
        auto made = make_plan(_maps, _sizes, *snap, *desired, changes);
        if (!made) {
            return fail(made.error());
        }
        if (*made) {
            p = std::move(**made);
            break;
        }
        snap.reset(); // no free slot within the probes: the whole table knows them all
    }
    if (!(*desired_times == *before_times)) {
        p->times = *desired_times;
    }

    // Scheduling tables for the services that change, built before anything
    // is written: a build that fails changes nothing.
    // After recover(), nothing reads the unpublished side: its own inner maps
    // can be rewritten.
    const uint32_t side = snap->ctl.side & 1, other = side ^ 1;
    struct built_table {
        file_desc sched, mh;            // the unpublished side's maps, or new ones
        bool sched_new = false, mh_new = false;
        std::vector<union xlb_sched_chunk> chunks;
        std::vector<uint32_t> mh_table; // mh only
    };
    std::map<uint32_t, built_table> tables; // idx ->
    std::vector<cursor_job> cursor_jobs;
    for (const auto& [idx, rb] : p->rebuild) {
        std::vector<sched::member> ms;
        ms.reserve(rb.dests.size());
        for (const auto& [id, d] : rb.dests) {
            ms.push_back({id, d.weight, dest_from_abi(d).addr, d.last_weight});
        }
        auto cfg = svc_config_from_abi(rb.svc);
        // The dest bound is the scheduler's: -E to a scanning scheduler refuses a
        // service too big to scan, and leaves it as it was.
        if (ms.size() > sched::max_dests(cfg.sched)) {
            return fail(make_error(ENOSPC, "the service has {} dests; {} schedules at most {} ({} for rr wrr sh dh mh)",
                                   ms.size(), to_string(cfg.sched), sched::max_dests(cfg.sched),
                                   XLB_MAX_DESTS_HASHED));
        }
        // The publish this table goes out with: a packet's per-CPU cursor
        // from any table before it is stale. (A coarse clock repeated
        // within a tick, and a cursor past the new table's end dropped.)
        const auto gen = static_cast<uint32_t>(snap->ctl.seq + 1);
        auto table = sched::build_table(cfg, ms, gen);
        if (!table) {
            return fail(table.error());
        }
        if (carries_cursor(cfg.sched)) {
            cursor_job job;
            job.idx = idx;
            job.key = cfg.key;
            job.new_table = *table;
            job.new_list = ms;
            if (const svc_slot* old = snap->find(cfg.key); old && old->idx == idx) {
                job.existed = true;
                auto old_cfg = svc_config_from_abi(old->svc);
                job.old_sched = old_cfg.sched;
                for (const auto& ds : old->dests) {
                    job.old_list.push_back({ds.id, ds.d.weight, dest_from_abi(ds.d).addr, ds.d.last_weight});
                }
                if (carries_cursor(old_cfg.sched)) {
                    const uint32_t old_gen = published_gen(_maps.sched_tables.get(), sided(idx, side, _sizes.max_services));
                    if (auto t = sched::build_table(old_cfg, job.old_list, old_gen)) {
                        job.old_table = std::move(*t);
                    }
                }
            }
            cursor_jobs.push_back(std::move(job));
        }
        // The inner map has exactly the table's chunks (BPF_F_INNER_MAP, as the
        // template: each service's table its own max_entries). The
        // unpublished side's own map of that size is rewritten in place;
        // otherwise a new one is made and installed.
        const uint32_t slot = sided(idx, other, _sizes.max_services);
        const uint32_t peer = sided(idx, side, _sizes.max_services);
        built_table bt;
        bt.chunks = std::move(table->chunks);
        // Sized up to a power of two and at least min_chunks, zero-filled
        // past the table: a table that grows or shrinks by a few dests keeps
        // its map and is rewritten in place, where a new map would cost an
        // RCU grace period to install.
        bt.chunks.resize(std::bit_ceil(std::max(bt.chunks.size(), min_chunks)));
        auto nchunks = static_cast<uint32_t>(bt.chunks.size());
        bt.sched = own_inner(_maps.sched_tables.get(), slot, peer, nchunks);
        if (!bt.sched) {
            LIBBPF_OPTS(bpf_map_create_opts, inner_opts, .map_flags = BPF_F_INNER_MAP);
            bt.sched = file_desc(bpf_map_create(BPF_MAP_TYPE_ARRAY, "xlb_sched", sizeof(uint32_t),
                                                sizeof(union xlb_sched_chunk), nchunks, &inner_opts));
            if (!bt.sched) {
                return fail(errno_error("create scheduling table ({} chunks, {} bytes)", nchunks,
                                        static_cast<size_t>(nchunks) * sizeof(union xlb_sched_chunk)));
            }
            bt.sched_new = true;
        }
        if (cfg.sched == scheduler::mh) {
            bt.mh_table = sched::build_maglev(ms, _sizes.mh_size);
            bt.mh = own_inner(_maps.mh_tables.get(), slot, peer, _sizes.mh_size);
            if (!bt.mh) {
                LIBBPF_OPTS(bpf_map_create_opts, mh_opts, .map_flags = BPF_F_MMAPABLE);
                bt.mh = file_desc(bpf_map_create(BPF_MAP_TYPE_ARRAY, "xlb_mh", sizeof(uint32_t), sizeof(uint32_t),
                                                 _sizes.mh_size, &mh_opts));
                if (!bt.mh) {
                    return fail(errno_error("create Maglev table ({} entries)", _sizes.mh_size));
                }
                bt.mh_new = true;
            }
        }
        tables.emplace(idx, std::move(bt));
    }
    // Counters of fresh slots start from zero; nothing reads them yet.
    for (uint32_t idx : p->new_svcs) {
        if (auto r = zero_percpu(_maps.svc_stats.get(), idx, sizeof(struct xlb_stats)); !r) {
            return fail(r.error());
        }
        if (auto r = reset_estimator(_maps.svc_est.get(), _maps.svc_stats.get(), idx); !r) {
            return fail(r.error());
        }
    }
    for (uint32_t id : p->new_dests) {
        if (auto r = zero_percpu(_maps.dest_stats.get(), id, sizeof(struct xlb_stats)); !r) {
            return fail(r.error());
        }
        if (auto r = reset_estimator(_maps.dest_est.get(), _maps.dest_stats.get(), id); !r) {
            return fail(r.error());
        }
        if (auto r = update(_maps.dest_conns.get(), id, xlb_dest_conns{}, "dest_conns"); !r) {
            return fail(r.error());
        }
    }
    if (p->nat) {
        if (auto r = enable_nat_replies(); !r) {
            return fail(r.error());
        }
    }

    // 5. Journal, BUILDING, the unpublished side, the flip->
    std::vector<struct xlb_journal_entry> journal;
    for (const auto& [idx, s] : p->svcs) {
        journal.push_back({XLB_JOURNAL_SVC, idx, {}});
    }
    for (const auto& [idx, rb] : p->rebuild) {
        if (!p->svcs.count(idx)) {
            journal.push_back({XLB_JOURNAL_SVC, idx, {}});
        }
    }
    for (const auto& [id, d] : p->dests) {
        journal.push_back({XLB_JOURNAL_DEST, id, {}});
    }
    for (const auto& [k, v] : p->keys) {
        journal.push_back({XLB_JOURNAL_KEY, 0, k});
    }
    for (const auto& [k, v] : p->vips) {
        journal.push_back({XLB_JOURNAL_VIP, 0, k});
    }
    const bool table_changes = !journal.empty();
    if (table_changes) {
        std::vector<uint32_t> keys(journal.size());
        std::iota(keys.begin(), keys.end(), 0u);
        if (auto r = write_batch(_maps.journal.get(), keys, journal, "journal"); !r) {
            return fail(r.error());
        }
        struct xlb_table_ctl ctl = snap->ctl;
        ctl.state = XLB_TABLE_BUILDING;
        ctl.journal_len = static_cast<uint32_t>(journal.size());
        if (auto r = update(_maps.table_ctl.get(), 0, ctl, "table_ctl"); !r) {
            return fail(r.error());
        }

        std::vector<uint32_t> dkeys;
        std::vector<struct xlb_dest> dvals;
        for (const auto& [id, d] : p->dests) {
            dkeys.push_back(sided(id, other, _sizes.max_dests));
            dvals.push_back(d);
        }
        if (auto r = write_batch(_maps.dests.get(), dkeys, dvals, "dests"); !r) {
            return fail(r.error());
        }
        std::vector<uint32_t> skeys;
        std::vector<struct xlb_svc> svals;
        for (const auto& [idx, s] : p->svcs) {
            skeys.push_back(sided(idx, other, _sizes.max_services));
            svals.push_back(s);
        }
        if (auto r = write_batch(_maps.svcs.get(), skeys, svals, "svcs"); !r) {
            return fail(r.error());
        }
        // Tables are written in place where the side has its own, and new
        // ones go in with batch updates: every single update or delete of a
        // map-in-map waits for an RCU grace period in the kernel
        // (maybe_wait_bpf_programs()), a batch once.
        std::vector<uint32_t> sched_slots, mh_slots, mh_clear;
        std::vector<int> sched_fds, mh_fds;
        for (const auto& [idx, bt] : tables) {
            uint32_t slot = sided(idx, other, _sizes.max_services);
            if (auto r = fill_array(bt.sched.get(), bt.chunks.data(), static_cast<uint32_t>(bt.chunks.size()),
                                    sizeof(union xlb_sched_chunk), "scheduling table");
                !r) {
                return fail(r.error());
            }
            if (bt.sched_new) {
                sched_slots.push_back(slot);
                sched_fds.push_back(bt.sched.get());
            }
            if (bt.mh) {
                if (auto r = fill_array(bt.mh.get(), bt.mh_table.data(), _sizes.mh_size, sizeof(uint32_t), "Maglev table");
                    !r) {
                    return fail(r.error());
                }
                if (bt.mh_new) {
                    mh_slots.push_back(slot);
                    mh_fds.push_back(bt.mh.get());
                }
            } else {
                mh_clear.push_back(slot);
            }
        }
        if (auto r = write_inner(_maps.sched_tables.get(), sched_slots, sched_fds, "sched_tables"); !r) {
            return fail(r.error());
        }
        if (auto r = write_inner(_maps.mh_tables.get(), mh_slots, mh_fds, "mh_tables"); !r) {
            return fail(r.error());
        }
        std::vector<uint32_t> sched_clear;
        for (uint32_t idx : p->gone) {
            uint32_t slot = sided(idx, other, _sizes.max_services);
            sched_clear.push_back(slot);
            mh_clear.push_back(slot);
        }
        if (auto r = clear_inner(_maps.sched_tables.get(), sched_clear, "sched_tables"); !r) {
            return fail(r.error());
        }
        if (auto r = clear_inner(_maps.mh_tables.get(), mh_clear, "mh_tables"); !r) {
            return fail(r.error());
        }
        auto put_keys = [&](int fd, const auto& list, const char* what) -> result<> {
            for (const auto& [k, v] : list) {
                struct xlb_svc_index_key key {};
                key.svc = k;
                key.side = other;
                if (v) {
                    uint32_t val = *v;
                    if (bpf_map_update_elem(fd, &key, &val, BPF_ANY) < 0) {
                        return errno_error("write {}", what);
                    }
                } else if (bpf_map_delete_elem(fd, &key) < 0 && errno != ENOENT) {
                    return errno_error("delete from {}", what);
                }
            }
            return {};
        };
        if (auto r = put_keys(_maps.svc_index.get(), p->keys, "svc_index"); !r) {
            return fail(r.error());
        }
        if (auto r = put_keys(_maps.vips.get(), p->vips, "vips"); !r) {
            return fail(r.error());
        }

        // The publish: one update, with the table's new size.
        ctl.nsvcs = p->sizes.nsvcs;
        ctl.ndests = p->sizes.ndests;
        ctl.svc_next = p->sizes.svc_next;
        ctl.dest_next = p->sizes.dest_next;
        ctl.side = other;
        ctl.state = XLB_TABLE_PUBLISHED;
        ctl.seq += 1;
        ctl.flip_ns = monotonic_ns();
        if (auto r = update(_maps.table_ctl.get(), 0, ctl, "table_ctl"); !r) {
            return fail(r.error());
        }
        if (!cursor_jobs.empty()) {
            // Published: a failure from here on leaves cursors that restart,
            // not a table half changed.
            if (auto r = wait_for_readers(_maps, side, ctl.flip_ns); !r) {
                log::warn("rr/wrr cursors restart: {}", r.error().message());
            } else if (auto c = carry_cursors(_maps, cursor_jobs, changes); !c) {
                log::warn("rr/wrr cursors restart: {}", c.error().message());
            }
        }
    }

    // After the publish: counters and timeouts, which are not part of it.
    for (const svc_slot* s : p->zero_svcs) {
        if (auto r = zero_percpu(_maps.svc_stats.get(), s->idx, sizeof(struct xlb_stats)); !r) {
            return fail(r.error());
        }
        if (auto r = reset_estimator(_maps.svc_est.get(), _maps.svc_stats.get(), s->idx); !r) {
            return fail(r.error());
        }
        for (const auto& ds : s->dests) {
            if (auto r = zero_percpu(_maps.dest_stats.get(), ds.id, sizeof(struct xlb_stats)); !r) {
                return fail(r.error());
            }
            if (auto r = reset_estimator(_maps.dest_est.get(), _maps.dest_stats.get(), ds.id); !r) {
                return fail(r.error());
            }
        }
    }
    if (p->times) {
        auto cfg = config();
        if (!cfg) {
            return fail(cfg.error());
        }
        cfg->tcp_timeout[XLB_TCP_S_ESTABLISHED] = p->times->tcp;
        cfg->tcp_timeout[XLB_TCP_S_FIN_WAIT] = p->times->tcp_fin;
        cfg->udp_timeout = p->times->udp;
        if (auto r = update(_maps.config.get(), 0, *cfg, "config"); !r) {
            return fail(r.error());
        }
    }
    lock.reset();

    // XDP neither resolves nor refreshes neighbours: ask the kernel for every
    // added or edited dest's next hop, all at once, with one bounded wait,
    // outside the lock. What stays unresolved is said in one line; its
    // packets are dropped (drop_no_neigh) and asked for again.
    std::vector<ip_address> hops;
    for (const auto& c : changes) {
        if (c.what == change::kind::add_dest || c.what == change::kind::edit_dest) {
            hops.push_back(c.dest.addr.addr);
        }
    }
    if (!hops.empty() && _neigh_wait.count() > 0) {
        if (auto r = neigh::resolve_all(hops, _neigh_wait); !r) {
            log::warn("{}", r.error().message());
        } else if (auto line = neigh::describe_unresolved(*r, _neigh_wait); !line.empty()) {
            log::warn("{}", line);
        }
    }
    return {};
}

// The data path looks for NAT replies only once a NAT dest exists, so DR-only
// directors pay nothing for it. The flag stays set.
result<> xdp_dataplane::enable_nat_replies() {
    auto cfg = config();
    if (!cfg) {
        return cfg.error();
    }
    if (cfg->flags & XLB_CFG_F_NAT) {
        return {};
    }
    cfg->flags |= XLB_CFG_F_NAT;
    return update(_maps.config.get(), 0, *cfg, "config");
}

} // namespace xlb
