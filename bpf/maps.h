/* SPDX-License-Identifier: Apache-2.0 */
/* Map definitions. Sizes here are defaults; the loader sets them at load time. */
#ifndef XLB_BPF_MAPS_H
#define XLB_BPF_MAPS_H
#include "common.h"

/* Set by the loader before load. */
const volatile __u32 xlb_mh_size = XLB_DEFAULT_MH_SIZE;
const volatile __u32 xlb_max_dests = XLB_DEFAULT_MAX_DESTS;
const volatile __u32 xlb_max_services = XLB_DEFAULT_MAX_SERVICES;
const volatile __u32 xlb_nr_cpus = 1; /* possible CPUs: the per-CPU maps' width */

/* The publish switch (struct xlb_table_ctl in <xlb/abi.h>). */
struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, struct xlb_table_ctl);
} table_ctl SEC(".maps");

/* readers[side], per CPU: the packets and sweeps in progress that read that
 * side. A writer rewrites the unpublished side only once its count is zero
 * on every CPU (table_side_enter() below; userspace's wait_for_readers()). */
struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, 2);
    __type(key, __u32);
    __type(value, __u64);
} readers SEC(".maps");

/* Written and read by writers only: the slots the last one touched. */
struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, struct xlb_journal_entry);
} journal SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 2 * XLB_DEFAULT_MAX_SERVICES);
    __type(key, struct xlb_svc_index_key);
    __type(value, __u32); /* service index */
} svc_index SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 2 * XLB_DEFAULT_MAX_SERVICES);
    __type(key, struct xlb_svc_index_key);
    __type(value, __u32); /* services on this address */
} vips SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 2 * XLB_DEFAULT_MAX_SERVICES);
    __type(key, __u32);
    __type(value, struct xlb_svc);
} svcs SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 2 * XLB_DEFAULT_MAX_DESTS);
    __type(key, __u32);
    __type(value, struct xlb_dest);
} dests SEC(".maps");

/* sched_tables[svc]: the service's scheduling table, an array of chunks
 * (union xlb_sched_chunk, chunk 0 the header). BPF_F_INNER_MAP lets every
 * inner map have its own max_entries: a table is as big as its scheduler and
 * dests need (<xlb/abi.h> has the formula), not as the worst case. */
struct sched_inner {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 1);
    __uint(map_flags, BPF_F_INNER_MAP);
    __uint(key_size, sizeof(__u32));
    /* value_size, not __type: clang emits only a forward declaration of a
     * type used solely behind a map-in-map, and libbpf cannot size it. */
    __uint(value_size, sizeof(union xlb_sched_chunk));
};

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
    __uint(max_entries, 2 * XLB_DEFAULT_MAX_SERVICES);
    __type(key, __u32);
    __array(values, struct sched_inner);
} sched_tables SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, XLB_DEFAULT_MAX_SERVICES);
    __type(key, __u32);
    __type(value, struct xlb_sched_cursor);
} sched_cursor SEC(".maps");

/* mh_tables[svc]: the Maglev lookup table of an mh service, dest ids. Its
 * size (a prime) is set at load, on the inner map and in xlb_mh_size. */
struct mh_inner {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, XLB_DEFAULT_MH_SIZE);
    __type(key, __u32);
    __type(value, __u32);
};

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
    __uint(max_entries, 2 * XLB_DEFAULT_MAX_SERVICES);
    __type(key, __u32);
    __array(values, struct mh_inner);
} mh_tables SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, XLB_DEFAULT_MAX_DESTS);
    __type(key, __u32);
    __type(value, struct xlb_dest_conns);
} dest_conns SEC(".maps");

/* The sweeper's private recount, one entry per dest. */
struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, XLB_DEFAULT_MAX_DESTS);
    __type(key, __u32);
    __type(value, struct xlb_dest_conns);
} conn_scratch SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_LRU_HASH);
    __uint(max_entries, XLB_DEFAULT_MAX_FLOWS);
    __type(key, struct xlb_persist_key);
    __type(value, struct xlb_persist);
} persist SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, struct xlb_sweeper);
} sweeper SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_LRU_HASH);
    __uint(max_entries, XLB_DEFAULT_MAX_FLOWS);
    __type(key, struct xlb_flow_key);
    __type(value, struct xlb_nat_rev);
} nat_rev SEC(".maps");

/* embryo_rev: nat_rev for the NAT flows in embryos, so a flood does not
 * evict an established NAT flow's reply key either. Sized as embryos. */
struct {
    __uint(type, BPF_MAP_TYPE_LRU_HASH);
    __uint(max_entries, XLB_DEFAULT_MAX_FLOWS / 4);
    __type(key, struct xlb_flow_key);
    __type(value, struct xlb_nat_rev);
} embryo_rev SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_LRU_HASH);
    __uint(max_entries, XLB_DEFAULT_MAX_FLOWS);
    __type(key, struct xlb_flow_key);
    __type(value, struct xlb_flow);
} flows SEC(".maps");

/* embryos: flows that have not shown a handshake yet: a TCP flow until the
 * client's first ACK, a UDP flow until its second datagram. They move to
 * flows then, so a flood of SYNs (or of one-datagram sources) churns this
 * table and never evicts an established flow. Sized at load
 * (--max-embryonic). Same key, value, states and timeouts as flows. */
struct {
    __uint(type, BPF_MAP_TYPE_LRU_HASH);
    __uint(max_entries, XLB_DEFAULT_MAX_FLOWS / 4);
    __type(key, struct xlb_flow_key);
    __type(value, struct xlb_flow);
} embryos SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, XLB_DEFAULT_MAX_SERVICES);
    __type(key, __u32);
    __type(value, struct xlb_stats);
} svc_stats SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, XLB_DEFAULT_MAX_DESTS);
    __type(key, __u32);
    __type(value, struct xlb_stats);
} dest_stats SEC(".maps");

/* Rate estimators, shared by all CPUs and written only by the sweeper. */
struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, XLB_DEFAULT_MAX_SERVICES);
    __type(key, __u32);
    __type(value, struct xlb_est);
} svc_est SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, XLB_DEFAULT_MAX_DESTS);
    __type(key, __u32);
    __type(value, struct xlb_est);
} dest_est SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, XLB_R_MAX);
    __type(key, __u32);
    __type(value, __u64);
} reasons SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, struct xlb_config);
} config SEC(".maps");

/* The path-MTU errors' rate limit (icmp.h): a bucket per client, as the
 * kernel's inet_peer, and one for all, as its icmp_global. */
struct {
    __uint(type, BPF_MAP_TYPE_LRU_HASH);
    __uint(max_entries, XLB_ICMP_PEERS);
    __type(key, struct xlb_icmp_peer_key);
    __type(value, struct xlb_icmp_peer);
} icmp_peers SEC(".maps");

struct xlb_icmp_credit {
    struct bpf_spin_lock lock;
    __s32 credit; /* errors that may go now; below 0 after a race, as the kernel's */
    __u32 stamp;  /* jiffies (low 32 bits) of the last refill */
};

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, struct xlb_icmp_credit);
} icmp_credit SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, XLB_DEFAULT_MAX_DESTS);
    __type(key, __u32);
    __type(value, struct xlb_fib_cache);
} fib_cache SEC(".maps");

/* Egress interfaces for XDP_REDIRECT, keyed by ifindex. */
struct {
    __uint(type, BPF_MAP_TYPE_DEVMAP_HASH);
    __uint(max_entries, 64);
    __type(key, __u32);
    __type(value, struct bpf_devmap_val);
} tx_ports SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_RINGBUF);
    __uint(max_entries, 4096 * 4);
} neigh_events SEC(".maps");


/* --- the published side --------------------------------------------------- */

/* The side this CPU's packet (or sweep) reads, copied from table_ctl once
 * when it starts, so that one packet never reads both sides. XDP and the
 * sweeper's timer run to completion on their CPU without being preempted.
 * Global data, not a map lookup: reading it takes no stack, and the deepest
 * call chain must fit in 512 bytes. */
#define XLB_SIDE_CPUS 1024
__u32 xlb_cur_side[XLB_SIDE_CPUS];

/* Counts this run as a reader of the published side and returns that side;
 * table_side_leave() takes the count back. The count comes first, then the
 * side is read again: a writer that flipped in between, and may have seen
 * no reader yet, is followed to the side it published. A locked add is a
 * full barrier on x86 (the JIT emits `lock add`), which orders the count
 * before the second read; the writer fences between its flip and its read
 * of the counts. Out of line: its keys stay out of the callers' frames. */
static __attribute__((noinline)) __u32 table_side_enter(void)
{
    __u32 zero = 0, side, now, i;
    struct xlb_table_ctl *ctl = bpf_map_lookup_elem(&table_ctl, &zero);
    __u64 *n;

    side = ctl ? *(volatile __u32 *)&ctl->side & 1 : 0;
    for (i = 0; i < 4; i++) {
        n = bpf_map_lookup_elem(&readers, &side);
        if (!n)
            break;
        __sync_fetch_and_add(n, 1);
        now = ctl ? *(volatile __u32 *)&ctl->side & 1 : 0;
        if (now == side || i == 3)
            break; /* a fourth flip within one entry is not a writer's pace */
        __sync_fetch_and_add(n, -1);
        side = now;
    }
    xlb_cur_side[bpf_get_smp_processor_id() & (XLB_SIDE_CPUS - 1)] = side;
    return side;
}

/* The side comes from xlb_cur_side, not the caller: a local kept across the
 * packet's calls would cost the deepest chain 8 bytes of stack it lacks on
 * 6.1. */
static __attribute__((noinline)) int table_side_leave(void)
{
    __u32 k = xlb_cur_side[bpf_get_smp_processor_id() & (XLB_SIDE_CPUS - 1)] & 1;
    __u64 *n = bpf_map_lookup_elem(&readers, &k);

    if (n)
        __sync_fetch_and_add(n, -1);
    return 0;
}

XLB_INLINE __u32 table_side(void)
{
    return xlb_cur_side[bpf_get_smp_processor_id() & (XLB_SIDE_CPUS - 1)] & 1;
}

/* dests[id] on the published side. */
XLB_INLINE struct xlb_dest *dest_get(__u32 id)
{
    __u32 k;

    if (id >= xlb_max_dests)
        return NULL;
    k = id + table_side() * xlb_max_dests;
    return bpf_map_lookup_elem(&dests, &k);
}

/* svcs[idx] on the published side. */
XLB_INLINE struct xlb_svc *svc_get(__u32 idx)
{
    __u32 k;

    if (idx >= xlb_max_services)
        return NULL;
    k = idx + table_side() * xlb_max_services;
    return bpf_map_lookup_elem(&svcs, &k);
}
#endif
