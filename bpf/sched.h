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

/* A scheduling decision not yet taken: the dest the cursor points at. */
struct sched_pick {
    struct xlb_sched_cursor *c;
    struct xlb_sched_table *t;
    __u32 len;     /* current band's size */
    __u32 repeats; /* and repeat count */
};

/* The dest id a new flow of service svc would get, or -XLB_R_*. Nothing moves
 * until sched_commit(): a flow that turns out to exist takes no turn. */
XLB_INLINE long sched_peek(__u32 svc, struct sched_pick *p)
{
    struct xlb_sched_band *b;
    __u32 zero = 0, idx;
    void *inner;

    inner = bpf_map_lookup_elem(&sched_tables, &svc);
    if (!inner)
        return -XLB_R_DROP_NO_DEST;
    p->t = bpf_map_lookup_elem(inner, &zero);
    if (!p->t)
        return -XLB_R_DROP_INTERNAL;
    if (p->t->nbands == 0)
        return -XLB_R_DROP_NO_DEST;
    p->c = bpf_map_lookup_elem(&sched_cursor, &svc);
    if (!p->c)
        return -XLB_R_DROP_INTERNAL;
    if (p->c->gen != p->t->gen || p->c->band >= p->t->nbands) {
        p->c->gen = p->t->gen;
        p->c->band = 0;
        p->c->rep = 0;
        p->c->pos = 0;
    }

    b = &p->t->bands[p->c->band & XLB_BAND_MASK];
    idx = b->off + p->c->pos;
    if (idx >= XLB_SCHED_FLAT_MAX)
        return -XLB_R_DROP_INTERNAL;
    p->len = b->len;
    p->repeats = b->repeats;
    return p->t->flat[idx];
}

/* Moves the cursor past the dest sched_peek() returned. */
XLB_INLINE void sched_commit(struct sched_pick *p)
{
    struct xlb_sched_cursor *c = p->c;

    if (++c->pos >= p->len) {
        c->pos = 0;
        if (++c->rep >= p->repeats) {
            c->rep = 0;
            if (++c->band >= p->t->nbands)
                c->band = 0;
        }
    }
}

#endif
