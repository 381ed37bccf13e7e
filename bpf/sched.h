/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Every IPVS scheduler, from the service's scheduling table (struct
 * xlb_sched_table and its chunks in <xlb/abi.h>), with the semantics of the
 * kernel's net/netfilter/ipvs/ip_vs_<name>.c.
 *
 *  rr wrr        the bands and a per-CPU cursor: O(1) per pick. Each CPU
 *                runs the exact IPVS sequence; the writer carries each
 *                cursor across a change as IPVS carries its list pointer
 *                and current weight (userspace/sched/cursor.cpp).
 *                Overloaded dests are stepped over, at most
 *                XLB_SCHED_SKIP_MAX of them (a full rr circle) per pick.
 *  lc wlc sed nq fo ovf twos
 *                a scan of the members, in IPVS list order, reading the shared
 *                dest_conns counters: O(dests), at most XLB_MAX_DESTS_SCANNED.
 *  sh dh         IPVS's weight-filled 256-bucket table: O(1), sh-fallback
 *                probes at most 257 buckets, in ip_vs_sh_get_fallback()'s order.
 *  mh            the Maglev table in mh_tables[svc]: O(1), mh-fallback
 *                probes at most the table size.
 *
 * A service's table is an inner map of 64-byte chunks sized to what its
 * scheduler needs (abi.h explains the layout). Its lookups are not inlined
 * (BPF_F_INNER_MAP: the verifier cannot know max_entries), so each chunk is
 * one helper call: rr/wrr read three (header, band, id), sh/dh two.
 *
 * A dest takes no new flows when its weight is 0 or it is overloaded (-x/-y).
 */
#ifndef XLB_BPF_SCHED_H
#define XLB_BPF_SCHED_H
#include "maps.h"
#include <xlb/ipvs_hash.h>

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

/* How many overloaded entries rr/wrr step over before giving up on a pick:
 * one full circle of the biggest rr service, as IPVS's rr walks. */
#define XLB_SCHED_SKIP_MAX XLB_MAX_DESTS_HASHED

/* The slot of svc's per-service tables (sched_tables, mh_tables) in the
 * published table. Every per-service table lookup goes through it. */
XLB_INLINE __u32 xlb_table_slot(__u32 svc)
{
    return svc + table_side() * xlb_max_services;
}

/* svc's scheduling table: the inner map. A packet reads its header and its
 * chunks from this one map, so a swap in between cannot mix two tables. */
XLB_INLINE void *sched_inner(__u32 svc)
{
    __u32 slot = xlb_table_slot(svc);

    return bpf_map_lookup_elem(&sched_tables, &slot);
}

XLB_INLINE struct xlb_sched_table *sched_header(void *inner)
{
    __u32 zero = 0;

    if (!inner)
        return NULL;
    return bpf_map_lookup_elem(inner, &zero);
}

/* The header alone: persistence and the sweeper need no more. */
XLB_INLINE struct xlb_sched_table *sched_table(__u32 svc)
{
    return sched_header(sched_inner(svc));
}

XLB_INLINE const union xlb_sched_chunk *sched_chunk(void *inner, __u32 chunk)
{
    return bpf_map_lookup_elem(inner, &chunk);
}

/* Entry i of the id region starting at chunk `at` (flat ids, buckets), or
 * -XLB_R_DROP_INTERNAL past the map's end. */
XLB_INLINE long sched_id(void *inner, __u32 at, __u32 i)
{
    const union xlb_sched_chunk *c = sched_chunk(inner, at + i / XLB_SCHED_CHUNK_IDS);

    return c ? (long)c->ids[i & (XLB_SCHED_CHUNK_IDS - 1)] : -XLB_R_DROP_INTERNAL;
}

/* One lookup for both: scan_cb reads overload and load of every member. */
XLB_INLINE const struct xlb_dest_conns *dest_counts(__u32 id)
{
    return bpf_map_lookup_elem(&dest_conns, &id);
}

XLB_INLINE bool dest_overloaded(__u32 id)
{
    const struct xlb_dest_conns *c = dest_counts(id);

    return c && c->overloaded;
}

/* IPVS's ip_vs_dest_conn_overhead(): (active << 8) + inactive. */
XLB_INLINE __u64 conns_overhead(const struct xlb_dest_conns *c)
{
    return c ? ((__u64)c->active << 8) + c->inactive : 0;
}

XLB_INLINE __u64 dest_overhead(__u32 id)
{
    return conns_overhead(dest_counts(id));
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

struct band_walk {
    void *inner;
    __u32 nbands, bands_at, flat_at, flat_len;
    struct xlb_sched_cursor cur;
    long id;
};

static long band_walk_cb(__u32 i, struct band_walk *w)
{
    const union xlb_sched_chunk *bc;
    const struct xlb_sched_band *b;
    __u32 idx, len, repeats;
    long id;

    bc = sched_chunk(w->inner, w->bands_at + w->cur.band / XLB_SCHED_CHUNK_BANDS);
    if (!bc) {
        w->id = -XLB_R_DROP_INTERNAL;
        return 1;
    }
    b = &bc->bands[w->cur.band & (XLB_SCHED_CHUNK_BANDS - 1)];
    len = b->len;
    repeats = b->repeats;
    idx = b->off + w->cur.pos;
    if (idx >= w->flat_len) {
        w->id = -XLB_R_DROP_INTERNAL;
        return 1;
    }
    id = sched_id(w->inner, w->flat_at, idx);
    if (id < 0) {
        w->id = id;
        return 1;
    }
    /* Advance: the next entry of the set, the next repeat, the next band. */
    if (++w->cur.pos >= len) {
        w->cur.pos = 0;
        if (++w->cur.rep >= repeats) {
            w->cur.rep = 0;
            if (++w->cur.band >= w->nbands)
                w->cur.band = 0;
        }
    }
    if (!dest_overloaded(id)) {
        w->id = id;
        return 1;
    }
    return 0;
}

/* The next dest of the sequence that is not overloaded, without moving the
 * cursor: sched_commit() does, once the flow is in the table. Out of line:
 * the walk's context sits in a frame of its own, off the deepest call chain
 * (xlb_xdp -> xlb_schedule -> persist_step) and its 512 bytes of stack. */
static __attribute__((noinline)) long sched_band_peek(__u32 svc, void *inner, const struct xlb_sched_table *t, struct sched_pick *p)
{
    struct band_walk w = { .inner = inner };
    struct xlb_sched_cursor *c;

    if (t->nbands == 0)
        return -XLB_R_DROP_NO_DEST;
    c = bpf_map_lookup_elem(&sched_cursor, &svc);
    if (!c)
        return -XLB_R_DROP_INTERNAL;
    w.id = XLB_OPAQUE(-XLB_R_DROP_NO_DEST);
    w.nbands = t->nbands;
    w.bands_at = t->bands_at;
    w.flat_at = t->flat_at;
    w.flat_len = t->flat_len;
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
    /* The writer's anchor says where IPVS's list pointer was; after a pick
     * the position alone does. */
    w.cur.anchor = XLB_CURSOR_MOVED;
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
    void *inner;
    __u32 members_at;
    __u32 sched;
    __s32 best_w;    /* the best's weight */
    __u32 n;         /* members */
    long best;       /* dest id, or -1 */
    __u64 best_oh;   /* its overhead */
};

struct twos {
    void *inner;
    __u32 members_at;
    __s64 r1, r2, total;
    long c1, c2, any;
    __u32 oh1, oh2;
    __s32 w1, w2;
};

/* Member i of the member region starting at chunk `at`, or NULL. */
XLB_INLINE const struct xlb_sched_member *sched_member(void *inner, __u32 at, __u32 i)
{
    const union xlb_sched_chunk *c = sched_chunk(inner, at + i / XLB_SCHED_CHUNK_MEMBERS);

    return c ? &c->members[i & (XLB_SCHED_CHUNK_MEMBERS - 1)] : NULL;
}

/* One member of a scan, in list order; 1 ends the scan. */
XLB_INLINE long scan_member(struct scan *s, const struct xlb_sched_member *m)
{
    const struct xlb_dest_conns *c;
    __u32 id = m->id;
    __s32 w = m->weight;
    __u64 oh;

    if (w <= 0)
        return 0;
    c = dest_counts(id);
    if (c && c->overloaded)
        return 0;

    switch (s->sched) {
    case XLB_SCHED_LC:
        /* least (active << 8) + inactive; ties go to the earlier dest */
        oh = conns_overhead(c);
        if (s->best < 0 || oh < s->best_oh) {
            s->best = id;
            s->best_oh = oh;
        }
        return 0;
    case XLB_SCHED_NQ:
        /* an idle server wins at once */
        if (!c || c->active == 0) {
            s->best = id;
            return 1;
        }
        __attribute__((fallthrough)); /* otherwise as sed */
    case XLB_SCHED_WLC:
    case XLB_SCHED_SED:
        /* least overhead / weight: loh * w > oh * lw, as 64-bit products.
         * sed and nq count only active connections, plus one. */
        if (s->sched == XLB_SCHED_WLC)
            oh = conns_overhead(c);
        else
            oh = (c ? c->active : 0) + 1;
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
        if ((c ? c->active : 0) <= (__u64)w && w > s->best_w) {
            s->best = id;
            s->best_w = w;
        }
        return 0;
    }
    return 1;
}

/*
 * XLB_SCAN_STEP members per bpf_loop() iteration, one table lookup for them.
 * On the development VM an iteration costs about 10 ns and a member about 6:
 * one at a time, lc scanned 1,024 members in 17 us; four at a time in 9 (the
 * benchmark's lc/wlc rows). The verifier walks the inner loop once per
 * member, so each member more per step costs about 10,000 verified
 * instructions (four: 25,000 more than one).
 */
#define XLB_SCAN_STEP 4
_Static_assert(XLB_SCHED_CHUNK_MEMBERS % XLB_SCAN_STEP == 0, "a step stays within a chunk");

static long scan_cb(__u32 step, struct scan *s)
{
    __u32 j, i = step * XLB_SCAN_STEP;
    const union xlb_sched_chunk *c = sched_chunk(s->inner, s->members_at + i / XLB_SCHED_CHUNK_MEMBERS);

    if (!c)
        return 1;
    for (j = 0; j < XLB_SCAN_STEP; j++) {
        if (i + j >= s->n || scan_member(s, &c->members[(i + j) & (XLB_SCHED_CHUNK_MEMBERS - 1)]))
            return 1;
    }
    return 0;
}

/* twos, pass 1: total weight of the usable dests. */
static long twos_total_cb(__u32 i, struct twos *s)
{
    const struct xlb_sched_member *m = sched_member(s->inner, s->members_at, i);

    if (!m)
        return 1;
    if (m->weight > 0 && !dest_overloaded(m->id)) {
        s->total += m->weight;
        s->any = m->id;
    }
    return 0;
}

/* twos, pass 2: the dests where the two random weights fall. */
static long twos_pick_cb(__u32 i, struct twos *s)
{
    const struct xlb_sched_member *m = sched_member(s->inner, s->members_at, i);
    __s32 w;

    if (!m)
        return 1;
    w = m->weight;
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

/* The members a scan reads: the table's count, within the scan bound. */
XLB_INLINE __u32 scan_count(const struct xlb_sched_table *t)
{
    return t->nmembers > XLB_MAX_DESTS_SCANNED ? XLB_MAX_DESTS_SCANNED : t->nmembers;
}

/* ip_vs_twos.c: two random weighted choices, keep the less loaded. */
static __attribute__((noinline)) long sched_twos(void *inner, __u32 members_at, __u32 n)
{
    struct twos s = { .inner = inner };

    s.members_at = XLB_OPAQUE(members_at);
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
static __attribute__((noinline)) long sched_scan(void *inner, __u32 members_at, __u32 sched, __u32 n)
{
    struct scan s = { .inner = inner };

    s.members_at = XLB_OPAQUE(members_at);
    s.sched = XLB_OPAQUE(sched);
    s.best = XLB_OPAQUE(-1);
    s.best_oh = XLB_OPAQUE(0);
    s.best_w = XLB_OPAQUE(0);
    if (n > XLB_MAX_DESTS_SCANNED)
        n = XLB_MAX_DESTS_SCANNED;
    s.n = XLB_OPAQUE(n);
    bpf_loop((n + XLB_SCAN_STEP - 1) / XLB_SCAN_STEP, scan_cb, &s, 0);
    return s.best >= 0 ? s.best : -XLB_R_DROP_NO_DEST;
}

/* --- sh, dh ------------------------------------------------------------------------ */

XLB_INLINE __u32 addr_fold_host(const union xlb_addr *a, __u8 af)
{
    return bpf_ntohl(xlb_addr_fold(a->v6, af == XLB_AF_INET6));
}

struct sh_probe {
    void *inner;
    __u32 buckets_at;
    __u32 fold;
    __u32 ihash;
    __u16 port;
    long id;
};

/* ip_vs_sh_get_fallback()'s probe: the client's own bucket ihash first, then
 * for offset 0..255 the bucket of ip_vs_sh_hashkey() at roffset = (offset +
 * ihash) % 256, which adds ihash again: 2 * ihash + offset. An empty bucket
 * ends it. */
static long sh_probe_cb(__u32 i, struct sh_probe *p)
{
    __u32 bucket = i == 0 ? p->ihash : xlb_sh_hashkey(p->fold, p->port, (i - 1 + p->ihash) & (XLB_SH_TAB_SIZE - 1));
    long id = sched_id(p->inner, p->buckets_at, bucket & (XLB_SH_TAB_SIZE - 1));

    if (id < 0 || id == XLB_NO_DEST)
        return 1;
    if (dest_usable(id)) {
        p->id = id;
        return 1;
    }
    return 0;
}

XLB_INLINE long sched_sh(void *inner, const struct xlb_sched_table *t, const struct xlb_flow_key *k)
{
    struct sh_probe p = { .inner = inner };
    long id;

    p.id = XLB_OPAQUE(-XLB_R_DROP_NO_DEST);
    p.buckets_at = t->buckets_at;
    p.fold = addr_fold_host(&k->saddr, k->af);
    p.port = (t->ipvs_flags & XLB_IPVS_SVC_F_SCHED2) ? bpf_ntohs(k->sport) : 0;
    p.ihash = xlb_sh_hashkey(p.fold, p.port, 0) & (XLB_SH_TAB_SIZE - 1);
    if (t->ipvs_flags & XLB_IPVS_SVC_F_SCHED1) {
        bpf_loop(XLB_SH_TAB_SIZE + 1, sh_probe_cb, &p, 0);
        return p.id;
    }
    id = sched_id(inner, p.buckets_at, p.ihash);
    return id >= 0 && id != XLB_NO_DEST && dest_usable(id) ? id : -XLB_R_DROP_NO_DEST;
}

XLB_INLINE long sched_dh(void *inner, const struct xlb_sched_table *t, const struct xlb_flow_key *k)
{
    long id = sched_id(inner, t->buckets_at,
                       xlb_hash_32(addr_fold_host(&k->daddr, k->af), XLB_SH_TAB_BITS) & (XLB_SH_TAB_SIZE - 1));

    return id >= 0 && id != XLB_NO_DEST && dest_usable(id) ? id : -XLB_R_DROP_NO_DEST;
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

XLB_INLINE long sched_choose(__u32 svc, void *inner, const struct xlb_sched_table *t,
                             const struct xlb_flow_key *k, struct sched_pick *pick)
{
    switch (t->sched) {
    case XLB_SCHED_RR:
    case XLB_SCHED_WRR:
        return sched_band_peek(svc, inner, t, pick);
    case XLB_SCHED_SH:
        return sched_sh(inner, t, k);
    case XLB_SCHED_DH:
        return sched_dh(inner, t, k);
    case XLB_SCHED_MH:
        return sched_mh(svc, t, k);
    case XLB_SCHED_TWOS:
        /* Called from here, not from sched_scan(): one frame less on the
         * deepest call chain, which must fit in 512 bytes of stack. */
        return sched_twos(inner, t->members_at, scan_count(t));
    default:
        return sched_scan(inner, t->members_at, t->sched, scan_count(t));
    }
}
#endif
