/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The sweeper: a bpf_timer in the data path, so it runs with no daemon. Every
 * config.sweep_ms (checked on a 10 ms tick) it walks the flow tables (flows
 * and embryos) and the persistence templates,
 * deletes what has expired (flows that ended silently by timeout), and
 * recounts each dest's ActiveConn, InActConn and PersistConn. Between sweeps
 * the data path keeps the counts with atomics; a count can be off by what
 * changed during one sweep, so `xlbctl -L` matches the live flows within one
 * sweep interval. It clears the overload flag by IPVS's unbind rule. On the
 * same tick it runs IPVS's rate estimator every 2 s (est.h).
 *
 * A full walk costs time in softirq context proportional to the tables
 * (about 25 ms per million flows here), once per interval.
 */
#ifndef XLB_BPF_SWEEP_H
#define XLB_BPF_SWEEP_H
#include "maps.h"
#include "conntrack.h"
#include "persist.h"
#include "est.h"

struct bpf_map;

#ifndef CLOCK_MONOTONIC
#define CLOCK_MONOTONIC 1
#endif

struct sweep_ctx {
    const struct xlb_config *cfg;
    __u64 now;
};

static long sweep_zero_cb(__u32 i, void *unused)
{
    __u32 k = i;
    struct xlb_dest_conns *s = bpf_map_lookup_elem(&conn_scratch, &k);

    if (!s)
        return 1;
    s->active = 0;
    s->inactive = 0;
    s->persist = 0;
    return 0;
}

static long sweep_flow_cb(struct bpf_map *map, struct xlb_flow_key *key, struct xlb_flow *f,
                          struct sweep_ctx *ctx)
{
    struct xlb_dest_conns *s;
    struct xlb_dest *d;
    __u32 id = f->dest;

    if (flow_expired(ctx->cfg, f, key->proto, ctx->now)) {
        bpf_map_delete_elem(map, key);
        return 0;
    }
    /* A flow of a deleted dest stays until its next packet reschedules it,
     * but counts nowhere. */
    d = dest_get(id);
    if (!d || !(d->flags & XLB_DEST_F_ACTIVE) || d->gen != f->dest_gen)
        return 0;
    s = bpf_map_lookup_elem(&conn_scratch, &id);
    if (!s)
        return 0;
    if (f->flags & XLB_FLOW_F_ACTIVE)
        s->active++;
    else
        s->inactive++;

    /* A live connection keeps the template that placed it alive. */
    if (f->flags & XLB_FLOW_F_PERSIST) {
        struct xlb_persist_key pk;
        struct xlb_sched_table *t;
        struct xlb_persist *p;
        t = sched_table(f->svc);
        if (t) {
            persist_key_of(&pk, f->svc, t, key->af, &key->saddr);
            p = bpf_map_lookup_elem(&persist, &pk);
            if (p && p->dest == id)
                p->last_seen = ctx->now;
        }
    }
    return 0;
}

static long sweep_persist_cb(struct bpf_map *map, struct xlb_persist_key *key, struct xlb_persist *p,
                             struct sweep_ctx *ctx)
{
    struct xlb_sched_table *t;
    struct xlb_dest_conns *s;
    __u32 id = p->dest;

    t = sched_table(key->svc);
    if (!t || !(t->ipvs_flags & XLB_IPVS_SVC_F_PERSISTENT) ||
        jiffies_since(ctx->now, p->last_seen) > (__u64)t->timeout * ctx->cfg->hz) {
        bpf_map_delete_elem(map, key);
        return 0;
    }
    s = bpf_map_lookup_elem(&conn_scratch, &id);
    if (s)
        s->persist++;
    return 0;
}

static long sweep_store_cb(__u32 i, void *unused)
{
    struct xlb_dest_conns *s, *c;
    struct xlb_dest *d;
    __u32 k = i, total;

    s = bpf_map_lookup_elem(&conn_scratch, &k);
    c = bpf_map_lookup_elem(&dest_conns, &k);
    d = dest_get(k);
    if (!s || !c || !d)
        return 1;
    if (!(d->flags & XLB_DEST_F_ACTIVE))
        return 0;
    c->active = s->active;
    c->inactive = s->inactive;
    c->persist = s->persist;
    /* ip_vs_unbind_dest(): clear the overload flag below the lower threshold,
     * or below 3/4 of the upper one when there is no lower one. */
    if (c->overloaded) {
        total = c->active + c->inactive;
        if (d->l_threshold) {
            if (total < d->l_threshold)
                c->overloaded = 0;
        } else if (d->u_threshold) {
            if ((__u64)total * 4 < (__u64)d->u_threshold * 3)
                c->overloaded = 0;
        } else {
            c->overloaded = 0;
        }
    }
    return 0;
}

/* The timer ticks every XLB_SWEEP_TICK_MS and sweeps once config.sweep_ms has
 * passed since the last sweep, so a new interval takes effect within a tick. */
#define XLB_SWEEP_TICK_MS 10

XLB_INLINE int sweep_run(struct xlb_sweeper *sw)
{
    struct sweep_ctx ctx;
    __u32 zero = 0;

    ctx.cfg = bpf_map_lookup_elem(&config, &zero);
    if (!ctx.cfg)
        return 0;
    ctx.now = bpf_jiffies64();
    bpf_timer_start(&sw->timer, XLB_SWEEP_TICK_MS * 1000000ull, 0);
    est_tick(ctx.cfg, sw, ctx.now);
    if ((ctx.now - sw->last_run) * 1000 < (__u64)ctx.cfg->sweep_ms * ctx.cfg->hz)
        return 0;
    bpf_loop(xlb_max_dests, sweep_zero_cb, NULL, 0);
    bpf_for_each_map_elem(&flows, sweep_flow_cb, &ctx, 0);
    bpf_for_each_map_elem(&embryos, sweep_flow_cb, &ctx, 0);
    bpf_for_each_map_elem(&persist, sweep_persist_cb, &ctx, 0);
    bpf_loop(xlb_max_dests, sweep_store_cb, NULL, 0);
    sw->runs++;
    sw->last_run = ctx.now;
    return 0;
}

/* A sweep reads the table as a packet does: one side, counted. It can
 * interrupt a bpf_prog_test_run() packet on its CPU, so it puts back the
 * side that packet reads. */
static int sweep_cb(void *map, __u32 *key, struct xlb_sweeper *sw)
{
    __u32 cpu = bpf_get_smp_processor_id() & (XLB_SIDE_CPUS - 1);
    __u32 was = xlb_cur_side[cpu];

    table_side_enter();
    sweep_run(sw);
    table_side_leave();
    xlb_cur_side[cpu] = was;
    return 0;
}

/* The first packet arms the sweeper; after that it re-arms itself. A race
 * between CPUs is harmless: bpf_timer_init() fails for all but one. */
XLB_INLINE void sweeper_arm(void)
{
    __u32 zero = 0;
    struct xlb_sweeper *sw = bpf_map_lookup_elem(&sweeper, &zero);

    if (!sw || sw->armed)
        return;
    sw->armed = 1;
    sw->last_run = bpf_jiffies64(); /* the first sweep comes one interval later */
    sw->est_last = sw->last_run;    /* and the first estimate one period later */
    if (bpf_timer_init(&sw->timer, &sweeper, CLOCK_MONOTONIC) == 0) {
        bpf_timer_set_callback(&sw->timer, sweep_cb);
        bpf_timer_start(&sw->timer, 1000000ull, 0);
    }
}
#endif
