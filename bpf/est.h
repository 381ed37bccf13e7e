/* SPDX-License-Identifier: Apache-2.0 */
/*
 * IPVS's rate estimator (net/netfilter/ipvs/ip_vs_est.c), run by the sweeper
 * with no daemon. Every 2 seconds it sums each active service's and dest's
 * per-CPU counters and moves its averages a quarter of the way (W = 2^-2)
 * towards the rate of the last period:
 *
 *     rate = delta << 9   conns and packets: per second, scaled by 2^10
 *     rate = delta << 4   bytes: per second, scaled by 2^5
 *     avg += (rate - avg) >> 2
 *
 * config.est_ms changes the period (tests use a short one). The rate is then
 * scaled by 2000 / est_ms so that it stays per second; at 2000 it is IPVS's
 * exact arithmetic.
 *
 * Other CPUs' counters are read with bpf_map_lookup_percpu_elem() (5.19+),
 * over xlb_nr_cpus set at load. A counter that went backwards was zeroed
 * (xlbctl -Z racing a run): the whole of it counts as the period's delta.
 */
#ifndef XLB_BPF_EST_H
#define XLB_BPF_EST_H
#include "maps.h"

struct est_sum {
    __u32 key;
    __u32 pad;
    struct xlb_stats sum;
};

XLB_INLINE void est_add(struct xlb_stats *sum, const struct xlb_stats *s)
{
    sum->conns += s->conns;
    sum->inpkts += s->inpkts;
    sum->inbytes += s->inbytes;
    sum->outpkts += s->outpkts;
    sum->outbytes += s->outbytes;
}

static long est_sum_svc_cb(__u32 cpu, struct est_sum *c)
{
    __u32 k = c->key;
    struct xlb_stats *s = bpf_map_lookup_percpu_elem(&svc_stats, &k, cpu);

    if (!s)
        return 1;
    est_add(&c->sum, s);
    return 0;
}

static long est_sum_dest_cb(__u32 cpu, struct est_sum *c)
{
    __u32 k = c->key;
    struct xlb_stats *s = bpf_map_lookup_percpu_elem(&dest_stats, &k, cpu);

    if (!s)
        return 1;
    est_add(&c->sum, s);
    return 0;
}

/* One counter's rate over the period: the delta shifted as IPVS shifts a 2 s
 * delta, then rescaled to 2 s when the period is another. */
XLB_INLINE __u64 est_rate(__u64 cur, __u64 *last, int shift, __u64 period_ms)
{
    __u64 delta = cur >= *last ? cur - *last : cur;
    __u64 rate = delta << shift;

    *last = cur;
    if (period_ms != XLB_EST_PERIOD_MS)
        rate = rate * XLB_EST_PERIOD_MS / period_ms;
    return rate;
}

XLB_INLINE void est_avg(__u64 *avg, __u64 rate)
{
    *avg += ((__s64)rate - (__s64)*avg) >> 2;
}

XLB_INLINE void est_update(struct xlb_est *e, const struct xlb_stats *s, __u64 period_ms)
{
    est_avg(&e->cps, est_rate(s->conns, &e->last_conns, 9, period_ms));
    est_avg(&e->inpps, est_rate(s->inpkts, &e->last_inpkts, 9, period_ms));
    est_avg(&e->outpps, est_rate(s->outpkts, &e->last_outpkts, 9, period_ms));
    est_avg(&e->inbps, est_rate(s->inbytes, &e->last_inbytes, 4, period_ms));
    est_avg(&e->outbps, est_rate(s->outbytes, &e->last_outbytes, 4, period_ms));
}

struct est_ctx {
    __u64 period_ms;
};

static long est_svc_cb(__u32 i, struct est_ctx *ctx)
{
    struct est_sum c = {};
    struct xlb_svc *s;
    struct xlb_est *e;
    __u32 k = i;

    s = svc_get(k);
    e = bpf_map_lookup_elem(&svc_est, &k);
    if (!s || !e)
        return 1;
    if (!(s->flags & XLB_SVC_F_ACTIVE))
        return 0;
    c.key = k;
    bpf_loop(xlb_nr_cpus, est_sum_svc_cb, &c, 0);
    est_update(e, &c.sum, ctx->period_ms);
    return 0;
}

static long est_dest_cb(__u32 i, struct est_ctx *ctx)
{
    struct est_sum c = {};
    struct xlb_dest *d;
    struct xlb_est *e;
    __u32 k = i;

    d = dest_get(k);
    e = bpf_map_lookup_elem(&dest_est, &k);
    if (!d || !e)
        return 1;
    if (!(d->flags & XLB_DEST_F_ACTIVE))
        return 0;
    c.key = k;
    bpf_loop(xlb_nr_cpus, est_sum_dest_cb, &c, 0);
    est_update(e, &c.sum, ctx->period_ms);
    return 0;
}

/* Called on every sweeper tick: runs the estimators once a period has passed.
 * The next period starts where this one should have ended, so ticks landing
 * late do not make the periods drift; after a long gap it starts afresh. */
XLB_INLINE void est_tick(const struct xlb_config *cfg, struct xlb_sweeper *sw, __u64 now)
{
    struct est_ctx ctx;
    __u64 period;

    ctx.period_ms = cfg->est_ms ? cfg->est_ms : XLB_EST_PERIOD_MS;
    period = ctx.period_ms * cfg->hz / 1000; /* jiffies */
    if (now - sw->est_last < period)
        return;
    sw->est_last = now - sw->est_last < 2 * period ? sw->est_last + period : now;
    bpf_loop(xlb_max_services, est_svc_cb, &ctx, 0);
    bpf_loop(xlb_max_dests, est_dest_cb, &ctx, 0);
    sw->est_runs++;
}
#endif
