/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Persistence (ipvsadm -p [timeout] -M netmask), after ip_vs_sched_persist():
 * a client, masked by the netmask, goes to the same dest across connections
 * while its template lives. A template lives for the service's timeout after
 * it was made or last used by a new connection, and the sweeper keeps it alive
 * while connections it placed are live (IPVS: a template does not expire while
 * it controls connections). A template whose dest was deleted is ignored; one
 * whose dest has weight 0 still holds, as with expire_quiescent_template=0.
 */
#ifndef XLB_BPF_PERSIST_H
#define XLB_BPF_PERSIST_H
#include "maps.h"

/* The mask of word i (network order) for an IPv6 prefix length. */
XLB_INLINE __be32 prefix_word_mask(__u32 plen, int i)
{
    int bits = (int)plen - 32 * i;

    if (bits <= 0)
        return 0;
    if (bits >= 32)
        return 0xffffffff;
    return bpf_htonl(~0u << (32 - bits));
}

XLB_INLINE void persist_key_of(struct xlb_persist_key *k, __u32 svc, const struct xlb_sched_table *t,
                               __u8 af, const union xlb_addr *client)
{
    __builtin_memset(k, 0, sizeof(*k));
    k->svc = svc;
    k->af = af;
    if (af == XLB_AF_INET) {
        k->client.v4 = client->v4 & t->netmask;
        return;
    }
#pragma unroll
    for (int i = 0; i < 4; i++)
        k->client.v6[i] = client->v6[i] & prefix_word_mask(t->netmask, i);
}

/* The dest a live template gives this client, or -1. */
/* Keys are copied to the stack first: 6.1 takes a map key from the stack, a
 * map value or the packet, not from a global function's argument memory. */
XLB_INLINE long persist_find(const struct xlb_persist_key *k, const struct xlb_sched_table *t,
                             const struct xlb_config *cfg, __u64 now)
{
    struct xlb_persist_key key = *k;
    struct xlb_persist *p = bpf_map_lookup_elem(&persist, &key);
    struct xlb_dest *d;
    __u32 id;

    if (!p || jiffies_since(now, p->last_seen) > (__u64)t->timeout * cfg->hz)
        return -1;
    id = p->dest;
    d = dest_get(id);
    if (!d || !(d->flags & XLB_DEST_F_ACTIVE) || d->gen != p->dest_gen)
        return -1;
    return id;
}

XLB_INLINE void persist_store(const struct xlb_persist_key *k, __u32 id, __u32 gen, __u64 now, bool counted)
{
    struct xlb_persist p = { .last_seen = now, .dest = id, .dest_gen = gen };
    struct xlb_persist_key key = *k;
    struct xlb_dest_conns *c;

    bpf_map_update_elem(&persist, &key, &p, BPF_ANY);
    if (counted)
        return;
    c = bpf_map_lookup_elem(&dest_conns, &id);
    if (c)
        __sync_fetch_and_add(&c->persist, 1);
}
#endif
