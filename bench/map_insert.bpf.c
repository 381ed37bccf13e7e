// SPDX-License-Identifier: Apache-2.0
/*
 * Bare map inserts, the cost a new flow pays for its flow-table insert and
 * nothing else: each program reads a 16-byte key from the frame (after the
 * Ethernet header) and updates one map with it, then returns XDP_TX. The
 * benchmark sizes the maps at load, fills them (or not) from userspace, and
 * reports each program over the floor:
 *   - lru:        BPF_MAP_TYPE_LRU_HASH, the kind of xlb's flows and embryos;
 *   - percpu_lru: the same with BPF_F_NO_COMMON_LRU (a free list per CPU);
 *   - hash:       a preallocated BPF_MAP_TYPE_HASH, no eviction at all.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "GPL";

/* xlb's flow key is 40 bytes and its value 24: the same sizes here. */
struct key {
    __u64 w[5];
};

struct value {
    __u64 w[3];
};

struct {
    __uint(type, BPF_MAP_TYPE_LRU_HASH);
    __uint(max_entries, 1);
    __type(key, struct key);
    __type(value, struct value);
} lru SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_LRU_HASH);
    __uint(map_flags, BPF_F_NO_COMMON_LRU);
    __uint(max_entries, 1);
    __type(key, struct key);
    __type(value, struct value);
} percpu_lru SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 1);
    __type(key, struct key);
    __type(value, struct value);
} hash SEC(".maps");

static __always_inline int insert(struct xdp_md *ctx, void *map)
{
    void *data_end = (void *)(long)ctx->data_end;
    void *data = (void *)(long)ctx->data;
    struct value v = {};
    struct key k = {};
    __u64 *p = data + ETH_HLEN;

    if ((void *)(p + 2) > data_end)
        return XDP_PASS;
    k.w[0] = p[0];
    k.w[1] = p[1];
    v.w[0] = p[0];
    if (bpf_map_update_elem(map, &k, &v, BPF_ANY) != 0)
        return XDP_DROP;
    return XDP_TX;
}

SEC("xdp")
int insert_lru(struct xdp_md *ctx)
{
    return insert(ctx, &lru);
}

SEC("xdp")
int insert_percpu_lru(struct xdp_md *ctx)
{
    return insert(ctx, &percpu_lru);
}

SEC("xdp")
int insert_hash(struct xdp_md *ctx)
{
    return insert(ctx, &hash);
}
