/* SPDX-License-Identifier: Apache-2.0 */
/*
 * rr and wrr from a prebuilt band table (see struct xlb_sched_table in
 * <xlb/abi.h>). Each CPU keeps its own cursor, so each CPU runs the exact IPVS
 * sequence without sharing a cache line; a rebuilt table (new gen) restarts it,
 * as IPVS restarts wrr when the dest list changes.
 */
#ifndef XLB_BPF_SCHED_H
#define XLB_BPF_SCHED_H
#include "maps.h"

#define XLB_BAND_MASK (XLB_MAX_DESTS_PER_SVC - 1)
_Static_assert((XLB_MAX_DESTS_PER_SVC & XLB_BAND_MASK) == 0, "XLB_MAX_DESTS_PER_SVC must be a power of 2");

/* Returns the dest id for a new flow of service svc, or -XLB_R_*. */
XLB_INLINE long sched_pick(__u32 svc)
{
    struct xlb_sched_cursor *c;
    struct xlb_sched_table *t;
    struct xlb_sched_band *b;
    __u32 zero = 0, idx, id;
    void *inner;

    inner = bpf_map_lookup_elem(&sched_tables, &svc);
    if (!inner)
        return -XLB_R_DROP_NO_DEST;
    t = bpf_map_lookup_elem(inner, &zero);
    if (!t)
        return -XLB_R_DROP_INTERNAL;
    if (t->nbands == 0)
        return -XLB_R_DROP_NO_DEST;
    c = bpf_map_lookup_elem(&sched_cursor, &svc);
    if (!c)
        return -XLB_R_DROP_INTERNAL;
    if (c->gen != t->gen || c->band >= t->nbands) {
        c->gen = t->gen;
        c->band = 0;
        c->rep = 0;
        c->pos = 0;
    }

    b = &t->bands[c->band & XLB_BAND_MASK];
    idx = b->off + c->pos;
    if (idx >= XLB_SCHED_FLAT_MAX)
        return -XLB_R_DROP_INTERNAL;
    id = t->flat[idx];

    if (++c->pos >= b->len) {
        c->pos = 0;
        if (++c->rep >= b->repeats) {
            c->rep = 0;
            if (++c->band >= t->nbands)
                c->band = 0;
        }
    }
    return id;
}
#endif
