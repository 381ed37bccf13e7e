/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Every IPVS scheduler, from the service's scheduling table (struct
 * xlb_sched_table in <xlb/abi.h>), with the semantics of the kernel's
 * net/netfilter/ipvs/ip_vs_<name>.c.
 *
 *  rr wrr        the band table and a per-CPU cursor: O(1) per pick. Each CPU
 *                runs the exact IPVS sequence; a rebuilt table restarts it.
 *  lc wlc sed nq fo ovf twos
 *                a scan of the members, in IPVS list order, reading the shared
 *                dest_conns counters: O(dests), at most XLB_MAX_DESTS_PER_SVC.
 *  sh dh         IPVS's weight-filled 256-bucket table: O(1), sh-fallback
 *                probes at most 256 buckets.
 *  mh            the Maglev table in mh_tables[svc]: O(1), mh-fallback
 *                probes at most the table size.
 *
 * A dest takes no new flows when its weight is 0 or it is overloaded (-x/-y).
 */
#ifndef XLB_BPF_SCHED_H
#define XLB_BPF_SCHED_H
#include "maps.h"
#include <xlb/ipvs_hash.h>

#define XLB_BAND_MASK (XLB_MAX_DESTS_PER_SVC - 1)

/*
 * Always 0, but in .bss, so the verifier cannot know it. Kernels before 6.7
 * verify a bpf_loop() callback once, with the context as it is before the
 * first iteration: a field initialised to a constant (best = -1) looks
 * constant inside the callback, and the branch on it is hard-wired, so every
 * member looked like the first. The vm tier caught it on Debian 12's 6.1
 * (lc/wlc/nq took the last member). Loop contexts start from XLB_OPAQUE()
 * values instead.
 */
volatile __s64 xlb_opaque_zero;
#define XLB_OPAQUE(v) ((v) + xlb_opaque_zero)
_Static_assert((XLB_MAX_DESTS_PER_SVC & XLB_BAND_MASK) == 0, "XLB_MAX_DESTS_PER_SVC must be a power of 2");

/* How many overloaded entries rr/wrr step over before giving up on a pick. */
#define XLB_SCHED_SKIP_MAX 256

/* The slot of svc's per-service tables (sched_tables, mh_tables) in the
 * published table. Every per-service table lookup goes through it. */
XLB_INLINE __u32 xlb_table_slot(__u32 svc)
{
    return svc + table_side() * xlb_max_services;
}

XLB_INLINE struct xlb_sched_table *sched_table(__u32 svc)
{
    __u32 zero = 0, slot = xlb_table_slot(svc);
    void *inner = bpf_map_lookup_elem(&sched_tables, &slot);

    if (!inner)
        return NULL;
    return bpf_map_lookup_elem(inner, &zero);
}

XLB_INLINE bool dest_overloaded(__u32 id)
{
    struct xlb_dest_conns *c = bpf_map_lookup_elem(&dest_conns, &id);

    return c && c->overloaded;
}

/* IPVS's ip_vs_dest_conn_overhead(): (active << 8) + inactive. */
XLB_INLINE __u64 dest_overhead(__u32 id)
{
    struct xlb_dest_conns *c = bpf_map_lookup_elem(&dest_conns, &id);

    return c ? ((__u64)c->active << 8) + c->inactive : 0;
}

XLB_INLINE __u64 dest_active(__u32 id)
{
    struct xlb_dest_conns *c = bpf_map_lookup_elem(&dest_conns, &id);

    return c ? c->active : 0;
}

/* sh/dh/mh: a dest in the table is usable if live, weighted and not overloaded. */
XLB_INLINE bool dest_usable(__u32 id)
{
    struct xlb_dest *d = dest_get(id);

    return d && (d->flags & XLB_DEST_F_ACTIVE) && d->weight > 0 && !dest_overloaded(id);
}

/* --- rr, wrr ---------------------------------------------------------------- */

/* A scheduling decision not yet taken: where the cursor will be after it.
 * Scalars only, so it can cross a global function's boundary. */
struct sched_pick {
    struct xlb_sched_cursor next;
    __u32 valid; /* rr/wrr: next must be stored on commit */
};

XLB_INLINE void cursor_advance(const struct xlb_sched_table *t, struct xlb_sched_cursor *c)
{
    const struct xlb_sched_band *b = &t->bands[c->band & XLB_BAND_MASK];

    if (++c->pos >= b->len) {
        c->pos = 0;
        if (++c->rep >= b->repeats) {
            c->rep = 0;
            if (++c->band >= t->nbands)
                c->band = 0;
        }
    }
}

struct band_walk {
    const struct xlb_sched_table *t;
    struct xlb_sched_cursor cur;
    long id;
};

static long band_walk_cb(__u32 i, struct band_walk *w)
{
    const struct xlb_sched_table *t = w->t;
    __u32 idx, id;

    idx = t->bands[w->cur.band & XLB_BAND_MASK].off + w->cur.pos;
    if (idx >= XLB_SCHED_FLAT_MAX) {
        w->id = -XLB_R_DROP_INTERNAL;
        return 1;
    }
    id = t->flat[idx];
    cursor_advance(t, &w->cur);
    if (!dest_overloaded(id)) {
        w->id = id;
        return 1;
    }
    return 0;
}

/* The next dest of the sequence that is not overloaded, without moving the
 * cursor: sched_commit() does, once the flow is in the table. */
XLB_INLINE long sched_band_peek(__u32 svc, const struct xlb_sched_table *t, struct sched_pick *p)
{
    struct band_walk w = { .t = t };
    struct xlb_sched_cursor *c;

    if (t->nbands == 0)
        return -XLB_R_DROP_NO_DEST;
    c = bpf_map_lookup_elem(&sched_cursor, &svc);
    if (!c)
        return -XLB_R_DROP_INTERNAL;
    w.id = XLB_OPAQUE(-XLB_R_DROP_NO_DEST);
    w.cur = *c;
    if (w.cur.gen != t->gen || w.cur.band >= t->nbands) {
        w.cur.gen = t->gen;
        w.cur.band = 0;
        w.cur.rep = 0;
        w.cur.pos = 0;
    }
    /* The common case, inline: the entry under the cursor is usable. Only an
     * overloaded one costs a walk. */
    if (band_walk_cb(0, &w) == 0)
        bpf_loop(XLB_SCHED_SKIP_MAX - 1, band_walk_cb, &w, 0);
    p->next = w.cur;
    p->valid = 1;
    return w.id;
}

/* Stores the cursor sched_band_peek() computed. Per CPU, so no other writer
 * can have moved it in between. */
XLB_INLINE void sched_commit(__u32 svc, const struct sched_pick *p)
{
    struct xlb_sched_cursor *c;

    if (!p->valid)
        return;
    c = bpf_map_lookup_elem(&sched_cursor, &svc);
    if (c)
        *c = p->next;
}

/* --- lc wlc sed nq fo ovf twos -------------------------------------------------- */

struct scan {
    const struct xlb_sched_table *t;
    __u32 sched;
    __s32 best_w;    /* the best's weight */
    long best;       /* dest id, or -1 */
    __u64 best_oh;   /* its overhead */
};

struct twos {
    const struct xlb_sched_table *t;
    __s64 r1, r2, total;
    long c1, c2, any;
    __u32 oh1, oh2;
    __s32 w1, w2;
};

XLB_INLINE __u64 scan_overhead(__u32 sched, __u32 id)
{
    /* sed and nq count only active connections, plus one. */
    if (sched == XLB_SCHED_SED || sched == XLB_SCHED_NQ)
        return dest_active(id) + 1;
    return dest_overhead(id);
}

static long scan_cb(__u32 i, struct scan *s)
{
    const struct xlb_sched_member *m = &s->t->members[i & XLB_BAND_MASK];
    __u32 id = m->id;
    __s32 w = m->weight;
    __u64 oh;

    if (w <= 0 || dest_overloaded(id))
        return 0;

    switch (s->sched) {
    case XLB_SCHED_LC:
        /* least (active << 8) + inactive; ties go to the earlier dest */
        oh = dest_overhead(id);
        if (s->best < 0 || oh < s->best_oh) {
            s->best = id;
            s->best_oh = oh;
        }
        return 0;
    case XLB_SCHED_NQ:
        /* an idle server wins at once */
        if (dest_active(id) == 0) {
            s->best = id;
            return 1;
        }
        __attribute__((fallthrough)); /* otherwise as sed */
    case XLB_SCHED_WLC:
    case XLB_SCHED_SED:
        /* least overhead / weight: loh * w > oh * lw, as 64-bit products */
        oh = scan_overhead(s->sched, id);
        if (s->best < 0 || s->best_oh * (__u64)w > oh * (__u64)s->best_w) {
            s->best = id;
            s->best_oh = oh;
            s->best_w = w;
        }
        return 0;
    case XLB_SCHED_FO:
        /* the highest weight; ties go to the earlier dest */
        if (w > s->best_w) {
            s->best = id;
            s->best_w = w;
        }
        return 0;
    case XLB_SCHED_OVF:
        /* the highest weight among dests with no more active conns than weight */
        if (dest_active(id) <= (__u64)w && w > s->best_w) {
            s->best = id;
            s->best_w = w;
        }
        return 0;
    }
    return 1;
}

/* twos, pass 1: total weight of the usable dests. */
static long twos_total_cb(__u32 i, struct twos *s)
{
    const struct xlb_sched_member *m = &s->t->members[i & XLB_BAND_MASK];

    if (m->weight > 0 && !dest_overloaded(m->id)) {
        s->total += m->weight;
        s->any = m->id;
    }
    return 0;
}

/* twos, pass 2: the dests where the two random weights fall. */
static long twos_pick_cb(__u32 i, struct twos *s)
{
    const struct xlb_sched_member *m = &s->t->members[i & XLB_BAND_MASK];
    __s32 w = m->weight;

    if (w <= 0 || dest_overloaded(m->id))
        return 0;
    s->r1 -= w;
    s->r2 -= w;
    if (s->r1 <= 0 && s->w1 < 0) {
        s->c1 = m->id;
        s->w1 = w;
        s->oh1 = dest_overhead(m->id);
    }
    if (s->r2 <= 0 && s->w2 < 0) {
        s->c2 = m->id;
        s->w2 = w;
        s->oh2 = dest_overhead(m->id);
    }
    return s->w1 >= 0 && s->w2 >= 0;
}

/* ip_vs_twos.c: two random weighted choices, keep the less loaded. */
static __attribute__((noinline)) long sched_twos(const struct xlb_sched_table *t, __u32 n)
{
    struct twos s = { .t = t };

    s.any = XLB_OPAQUE(-1);
    s.c1 = XLB_OPAQUE(-1);
    s.c2 = XLB_OPAQUE(-1);
    s.w1 = XLB_OPAQUE(-1);
    s.w2 = XLB_OPAQUE(-1);
    s.total = XLB_OPAQUE(0);
    s.oh1 = XLB_OPAQUE(0);
    s.oh2 = XLB_OPAQUE(0);

    bpf_loop(n, twos_total_cb, &s, 0);
    if (s.any < 0)
        return -XLB_R_DROP_NO_DEST;
    s.total += 1;
    s.r1 = bpf_get_prandom_u32() % (__u64)s.total;
    s.r2 = bpf_get_prandom_u32() % (__u64)s.total;
    bpf_loop(n, twos_pick_cb, &s, 0);
    if (s.c1 < 0)
        return s.any;
    if (s.c2 >= 0 && (__u64)s.w2 * s.oh1 > (__u64)s.w1 * s.oh2)
        return s.c2;
    return s.c1;
}

/* Out of line, like sched_twos(): the loop's context then sits in a frame of
 * its own. Inlined into the global xlb_schedule(), 6.1's inlined bpf_loop
 * returned the last member every time (tests/bpf in the vm tier caught it). */
static __attribute__((noinline)) long sched_scan(const struct xlb_sched_table *t)
{
    struct scan s = { .t = t, .sched = t->sched };

    s.best = XLB_OPAQUE(-1);
    s.best_oh = XLB_OPAQUE(0);
    s.best_w = XLB_OPAQUE(0);
    __u32 n = t->nmembers;

    if (n > XLB_MAX_DESTS_PER_SVC)
        n = XLB_MAX_DESTS_PER_SVC;
    bpf_loop(n, scan_cb, &s, 0);
    return s.best >= 0 ? s.best : -XLB_R_DROP_NO_DEST;
}

/* --- sh, dh ------------------------------------------------------------------------ */

XLB_INLINE __u32 addr_fold_host(const union xlb_addr *a, __u8 af)
{
    return bpf_ntohl(xlb_addr_fold(a->v6, af == XLB_AF_INET6));
}

struct sh_probe {
    const struct xlb_sched_table *t;
    __u32 fold;
    __u16 port;
    long id;
};

static long sh_probe_cb(__u32 offset, struct sh_probe *p)
{
    __u32 id = p->t->buckets[xlb_sh_hashkey(p->fold, p->port, offset) & (XLB_SH_TAB_SIZE - 1)];

    if (id == XLB_NO_DEST)
        return 1;
    if (dest_usable(id)) {
        p->id = id;
        return 1;
    }
    return 0;
}

XLB_INLINE long sched_sh(const struct xlb_sched_table *t, const struct xlb_flow_key *k)
{
    struct sh_probe p = { .t = t };
    __u32 id;

    p.id = XLB_OPAQUE(-XLB_R_DROP_NO_DEST);
    p.fold = addr_fold_host(&k->saddr, k->af);
    p.port = (t->ipvs_flags & XLB_IPVS_SVC_F_SCHED2) ? bpf_ntohs(k->sport) : 0;
    if (t->ipvs_flags & XLB_IPVS_SVC_F_SCHED1) {
        bpf_loop(XLB_SH_TAB_SIZE, sh_probe_cb, &p, 0);
        return p.id;
    }
    id = t->buckets[xlb_sh_hashkey(p.fold, p.port, 0) & (XLB_SH_TAB_SIZE - 1)];
    return id != XLB_NO_DEST && dest_usable(id) ? id : -XLB_R_DROP_NO_DEST;
}

XLB_INLINE long sched_dh(const struct xlb_sched_table *t, const struct xlb_flow_key *k)
{
    __u32 id = t->buckets[xlb_hash_32(addr_fold_host(&k->daddr, k->af), XLB_SH_TAB_BITS) &
                          (XLB_SH_TAB_SIZE - 1)];

    return id != XLB_NO_DEST && dest_usable(id) ? id : -XLB_R_DROP_NO_DEST;
}

/* --- mh ----------------------------------------------------------------------------- */

struct mh_probe {
    void *table;
    __u32 fold;
    __u16 port;
    __u32 ihash;
    long id;
};

XLB_INLINE __u32 mh_slot(__u32 fold, __u16 port, __u32 offset)
{
    __u32 m = xlb_mh_size;

    return m ? xlb_mh_hashkey(fold, port, XLB_MH_HASH1, offset) % m : 0;
}

static long mh_probe_cb(__u32 offset, struct mh_probe *p)
{
    __u32 m = xlb_mh_size, roffset, slot, *id;

    if (!m)
        return 1;
    roffset = (offset + p->ihash) % m;
    slot = mh_slot(p->fold, p->port, roffset);
    id = bpf_map_lookup_elem(p->table, &slot);
    if (!id || *id == XLB_NO_DEST)
        return 1;
    if (dest_usable(*id)) {
        p->id = *id;
        return 1;
    }
    return 0;
}

XLB_INLINE long sched_mh(__u32 svc, const struct xlb_sched_table *t, const struct xlb_flow_key *k)
{
    struct mh_probe p = {};
    __u32 *id, slot = xlb_table_slot(svc);

    p.id = XLB_OPAQUE(-XLB_R_DROP_NO_DEST);
    p.table = bpf_map_lookup_elem(&mh_tables, &slot);
    if (!p.table)
        return -XLB_R_DROP_NO_DEST;
    p.fold = addr_fold_host(&k->saddr, k->af);
    p.port = (t->ipvs_flags & XLB_IPVS_SVC_F_SCHED2) ? bpf_ntohs(k->sport) : 0;
    p.ihash = mh_slot(p.fold, p.port, 0);
    id = bpf_map_lookup_elem(p.table, &p.ihash);
    if (!id || *id == XLB_NO_DEST)
        return -XLB_R_DROP_NO_DEST;
    if (dest_usable(*id))
        return *id;
    if (!(t->ipvs_flags & XLB_IPVS_SVC_F_SCHED1))
        return -XLB_R_DROP_NO_DEST;
    bpf_loop(xlb_mh_size, mh_probe_cb, &p, 0);
    return p.id;
}

/* --- dispatch ----------------------------------------------------------------------- */

XLB_INLINE long sched_choose(__u32 svc, const struct xlb_sched_table *t, const struct xlb_flow_key *k,
                             struct sched_pick *pick)
{
    switch (t->sched) {
    case XLB_SCHED_RR:
    case XLB_SCHED_WRR:
        return sched_band_peek(svc, t, pick);
    case XLB_SCHED_SH:
        return sched_sh(t, k);
    case XLB_SCHED_DH:
        return sched_dh(t, k);
    case XLB_SCHED_MH:
        return sched_mh(svc, t, k);
    case XLB_SCHED_TWOS:
        /* Called from here, not from sched_scan(): one frame less on the
         * deepest call chain, which must fit in 512 bytes of stack. */
        return sched_twos(t, t->nmembers > XLB_MAX_DESTS_PER_SVC ? XLB_MAX_DESTS_PER_SVC : t->nmembers);
    default:
        return sched_scan(t);
    }
}
#endif
