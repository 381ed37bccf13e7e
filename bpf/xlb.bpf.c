// SPDX-License-Identifier: Apache-2.0
/*
 * xlb_xdp: the XDP entry point. parse -> service -> conntrack -> schedule ->
 * forward -> count. Inner stages return a verdict or a negative -XLB_R_*
 * reason; the single exit at `out:` turns it into an XDP action and counts it
 * once in reasons[].
 */
#include "common.h"
#include "parse.h"
#include "maps.h"
#include "stats.h"
#include "sched.h"
#include "conntrack.h"
#include "forward.h"
#include "persist.h"
#include "nat.h"
#include "tunnel.h"
#include "icmp.h"
#include "sweep.h"
#include "sip.h"

char LICENSE[] SEC("license") = "GPL";

/* is_vip() and service_lookup() are out of line: their sided keys then sit
 * in frames of their own, off the deepest call chain (xlb_xdp ->
 * xlb_schedule -> persist_step), which 6.1's verifier sums in 32-byte steps
 * and must stay within 512 bytes. */
static __attribute__((noinline)) int is_vip(const struct xlb_pkt *pkt)
{
    struct xlb_svc_index_key k = {};

    k.svc.af = pkt->key.af;
    k.svc.vip = pkt->key.daddr;
    k.side = table_side();
    return bpf_map_lookup_elem(&vips, &k) != NULL;
}

static __attribute__((noinline)) int service_lookup(const struct xlb_pkt *pkt, __u32 *svc)
{
    struct xlb_svc_index_key k = {};
    __u32 *idx;

    k.svc.af = pkt->key.af;
    k.svc.proto = pkt->key.proto;
    k.svc.vip = pkt->key.daddr;
    k.svc.vport = pkt->key.dport;
    k.side = table_side();
    idx = bpf_map_lookup_elem(&svc_index, &k);
    if (!idx) {
        k.svc.vport = 0; /* all-port service */
        idx = bpf_map_lookup_elem(&svc_index, &k);
        if (!idx)
            return -XLB_R_PASS_NO_SERVICE;
    }
    *svc = *idx;
    return 0;
}


/* A new flow, scheduled but not yet in the flow table. Scalars only: it is
 * filled by the global function xlb_schedule(). */
struct new_flow {
    struct xlb_flow f;
    struct sched_pick pick;
    __u32 pe_hash; /* in: the SIP Call-ID's hash, or 0 */
};

/*
 * Persistence, out of line so its keys stay off the deepest call chain:
 * with chosen < 0, the dest of the client's live template, or -1; else
 * chosen packs {dest id, bit 32: it came from the template} and the
 * template is made or refreshed for that dest.
 */
static __attribute__((noinline)) long persist_step(__u32 svc, const struct xlb_flow_key *key, __u64 now, long chosen,
                                                   __u32 pe_hash)
{
    const struct xlb_config *cfg;
    struct xlb_persist_key pkey;
    struct xlb_sched_table *t;
    struct xlb_dest *d;
    __u32 zero = 0, id;

    cfg = bpf_map_lookup_elem(&config, &zero);
    t = sched_table(svc);
    if (!cfg || !t || !key)
        return -1;
    persist_key_of(&pkey, svc, t, key->af, &key->saddr);
    pkey.pe_hash = pe_hash;
    if (chosen < 0)
        return persist_find(&pkey, t, cfg, now);
    id = (__u32)chosen;
    d = dest_get(id);
    if (!d)
        return -1;
    persist_store(&pkey, id, d->gen, now, (chosen >> 32) & 1);
    return 0;
}

/*
 * Picks a dest for a new flow of svc: the client's persistence template if it
 * has a live one, else the scheduler. Nothing shared changes until
 * flow_commit(). prev_state: the TCP state the 5-tuple had, if any.
 *
 * A global function: the verifier checks it once, on its own, instead of once
 * per path into it, which keeps every scheduler compiled in within the
 * verifier's budget.
 */
__attribute__((noinline)) int xlb_schedule(__u32 svc, const struct xlb_flow_key *key, __u32 state_flags,
                                           __u64 now, struct new_flow *nf)
{
    /* Only the key goes in by pointer: the verifier forgets the pointers kept
     * in any stack memory a global function is handed. */
    __u8 prev_state = state_flags & 0xff, tcp_flags = state_flags >> 8;
    const struct xlb_config *cfg;
    struct xlb_sched_table *t;
    void *inner;
    bool persistent, from_template = false;
    struct xlb_dest *d;
    __u32 zero = 0, id32;
    long id = -1;

    if (!key || !nf)
        return -XLB_R_DROP_INTERNAL;
    cfg = bpf_map_lookup_elem(&config, &zero);
    inner = sched_inner(svc);
    t = sched_header(inner);
    if (!cfg || !t)
        return -XLB_R_DROP_NO_DEST;
    nf->pick.valid = 0;
    persistent = (t->ipvs_flags & XLB_IPVS_SVC_F_PERSISTENT) != 0;
    if (persistent) {
        id = persist_step(svc, key, now, -1, nf->pe_hash);
        from_template = id >= 0;
    }
    if (id < 0)
        id = sched_choose(svc, inner, t, key, &nf->pick);
    if (id < 0)
        return id;

    id32 = id;
    d = dest_get(id32);
    if (!d || !(d->flags & XLB_DEST_F_ACTIVE))
        return -XLB_R_DROP_INTERNAL;
    __builtin_memset(&nf->f, 0, sizeof(nf->f));
    nf->f.dest = id32;
    nf->f.dest_gen = d->gen;
    nf->f.svc = svc;
    nf->f.last_seen = now;
    if (d->fwd == XLB_FWD_NAT)
        nf->f.flags |= XLB_FLOW_F_NAT;
    /* One-packet scheduling: each UDP datagram on its own (IPVS ignores -o
     * for other protocols). */
    if ((t->ipvs_flags & XLB_IPVS_SVC_F_ONEPACKET) && key->proto == IPPROTO_UDP)
        nf->f.flags |= XLB_FLOW_F_OPS;
    nf->f.state = key->proto == IPPROTO_TCP
                      ? tcp_next_state_dir(prev_state, tcp_flags,
                                           d->fwd == XLB_FWD_NAT ? XLB_TCP_DIR_INPUT : XLB_TCP_DIR_INPUT_ONLY)
                      : XLB_UDP_S_NORMAL;
    if (persistent) {
        nf->f.flags |= XLB_FLOW_F_PERSIST;
        /* Made or refreshed here, before the flow is inserted: should the
         * insert find the flow already there (a retransmitted SYN), the
         * client still belongs on this dest. */
        persist_step(svc, key, now, (long)id32 | (from_template ? 1l << 32 : 0), nf->pe_hash);
    }
    if (flow_counts_active(key->proto, nf->f.state))
        nf->f.flags |= XLB_FLOW_F_ACTIVE;
    return 0;
}

/* NAT: the dest's replies will be recognised by their 5-tuple, in
 * embryo_rev while the flow is embryonic and in nat_rev once it is
 * established. Out of line, to keep its two keys off xlb_xdp's stack frame. */
_Static_assert(sizeof(struct xlb_nat_rev) == sizeof(struct xlb_flow_key), "a nat_rev value is the forward key");

static __attribute__((noinline)) int nat_track(const struct xlb_flow_key *fwd, __u32 id, int embryonic)
{
    struct xlb_flow_key rk;
    struct xlb_dest *d = dest_get(id);

    if (!d || !fwd)
        return 0;
    nat_reply_key(&rk, fwd, d);
    /* The value is the forward key itself, in the caller's frame: one key
     * less on the deepest call chain's stack. */
    if (embryonic)
        bpf_map_update_elem(&embryo_rev, &rk, fwd, BPF_ANY);
    else
        bpf_map_update_elem(&nat_rev, &rk, fwd, BPF_ANY);
    return 0;
}

/* The handshake is done: the client's first ACK (no SYN, no RST), or a UDP
 * flow's second datagram. */
XLB_INLINE bool flow_completes(__u8 proto, __u8 tcp_flags)
{
    return proto != IPPROTO_TCP || (tcp_flags & (XLB_TCPF_SYN | XLB_TCPF_RST | XLB_TCPF_ACK)) == XLB_TCPF_ACK;
}

/* An embryonic flow becomes established: into flows, as it is, and out of
 * embryos. If flows cannot take it, it stays embryonic and its next packet
 * tries again. */
XLB_INLINE void flow_promote(const struct xlb_flow_key *key, struct xlb_flow *e)
{
    __u32 id = e->dest;
    bool nat = e->flags & XLB_FLOW_F_NAT;

    if (bpf_map_update_elem(&flows, key, e, BPF_ANY) != 0)
        return;
    if (nat)
        nat_track(key, id, 0);
    bpf_map_delete_elem(&embryos, key);
}

/* ip_vs_in()'s is_new_conn() && is_new_conn_expected(): a SYN (no ACK, no
 * RST) on a TCP 5-tuple whose connection is in TIME_WAIT or CLOSE opens a
 * new connection, unless a persistence template controls the old one. */
XLB_INLINE bool flow_reused(__u8 proto, __u8 tcp_flags, const struct xlb_flow *f)
{
    return proto == IPPROTO_TCP && (tcp_flags & (XLB_TCPF_SYN | XLB_TCPF_RST | XLB_TCPF_ACK)) == XLB_TCPF_SYN &&
           (f->state == XLB_TCP_S_TIME_WAIT || f->state == XLB_TCP_S_CLOSE) && !(f->flags & XLB_FLOW_F_PERSIST);
}

/* The flow's connection ends: its dest counts one connection less. */
XLB_INLINE void flow_release(const struct xlb_flow *f)
{
    __u32 id = f->dest;
    struct xlb_dest_conns *c = bpf_map_lookup_elem(&dest_conns, &id);

    if (!c)
        return;
    if (f->flags & XLB_FLOW_F_ACTIVE)
        __sync_fetch_and_add(&c->active, -1);
    else
        __sync_fetch_and_add(&c->inactive, -1);
}

/* The flow is in a table: take the scheduler's turn and count the connection. */
XLB_INLINE void flow_commit(const struct new_flow *nf, const struct xlb_flow_key *key, int embryonic)
{
    struct xlb_dest_conns *c;
    struct xlb_dest *d;
    __u32 id = nf->f.dest;

    sched_commit(nf->f.svc, &nf->pick);
    /* IPVS frees a one-packet connection at once: it is never counted as
     * active or inactive, and a NAT dest's reply finds no connection. */
    if (nf->f.flags & XLB_FLOW_F_OPS)
        return;
    if (nf->f.flags & XLB_FLOW_F_NAT)
        nat_track(key, id, embryonic);

    c = bpf_map_lookup_elem(&dest_conns, &id);
    d = dest_get(id);
    if (c) {
        if (nf->f.flags & XLB_FLOW_F_ACTIVE)
            __sync_fetch_and_add(&c->active, 1);
        else
            __sync_fetch_and_add(&c->inactive, 1);
        /* ip_vs_bind_dest(): overloaded at the upper threshold (-x). */
        if (d && d->u_threshold && c->active + c->inactive >= d->u_threshold)
            c->overloaded = 1;
    }
}

/* What xlb_track() found for a packet's 5-tuple, in its return value. */
#define XLB_TRACK_HIT 1       /* a live flow: out->dest and out->svc say where it goes */
#define XLB_TRACK_LIVE 2      /* a live flow to schedule again (its dest is gone) ... */
#define XLB_TRACK_EMBRYONIC 4 /* ... in embryos; its TCP state in bits 8-15 */

/*
 * The flow tables' stage: a live flow of the 5-tuple in flows, or else in
 * embryos, moves by the packet (state, counts, last_seen; an embryonic one
 * that completes its handshake moves to flows), and XLB_TRACK_HIT says so.
 * Otherwise what a new flow replaces, if anything. A SYN on a connection in
 * TIME_WAIT or CLOSE ends it here (IPVS's conn_reuse_mode 1).
 *
 * A global function: verified once, whatever the packet's shape. The result
 * goes back in scalars and in the caller's new flow, which a hit leaves
 * unused: 6.1's verifier bounds the deepest call chain's stack at 512 bytes.
 */
__attribute__((noinline)) int xlb_track(const struct xlb_flow_key *pkey, __u32 tcp_flags, __u64 now,
                                        struct xlb_flow *out)
{
    const struct xlb_config *cfg;
    struct xlb_flow_key k, *key = &k;
    struct xlb_flow *f;
    __u32 zero = 0;
    __u8 proto, flags = tcp_flags;
    bool embryonic = false;

    if (!pkey || !out)
        return -XLB_R_DROP_INTERNAL;
    /* On the stack: 6.1 takes no argument memory as a map key. */
    k = *pkey;
    cfg = bpf_map_lookup_elem(&config, &zero);
    if (!cfg)
        return -XLB_R_DROP_INTERNAL;
    proto = key->proto;
    f = bpf_map_lookup_elem(&flows, key);
    if (!f || flow_expired(cfg, f, proto, now)) {
        struct xlb_flow *e = bpf_map_lookup_elem(&embryos, key);

        if (!e || flow_expired(cfg, e, proto, now)) {
            /* Another CPU may have moved it in between: flow_promote()
             * inserts into flows before it deletes from embryos, so a
             * second look finds it. A pure SYN is scheduled anyway. */
            if ((flags & (XLB_TCPF_SYN | XLB_TCPF_RST | XLB_TCPF_ACK)) == XLB_TCPF_SYN && proto == IPPROTO_TCP)
                return 0;
            f = bpf_map_lookup_elem(&flows, key);
            if (!f || flow_expired(cfg, f, proto, now))
                return 0;
        } else {
            f = e;
            embryonic = true;
        }
    }
    if (flow_dest(f) && !flow_reused(proto, flags, f)) {
        out->dest = f->dest;
        out->svc = f->svc;
        f->last_seen = now;
        if (proto == IPPROTO_TCP) {
            f->state = tcp_next_state_dir(f->state, flags,
                                          (f->flags & XLB_FLOW_F_NAT) ? XLB_TCP_DIR_INPUT : XLB_TCP_DIR_INPUT_ONLY);
            conn_transition(out->dest, f, proto);
        }
        if (embryonic && flow_completes(proto, flags))
            flow_promote(key, f);
        return XLB_TRACK_HIT;
    }
    if (flow_reused(proto, flags, f)) {
        /* IPVS's conn_reuse_mode 1: the old connection ends now and the SYN
         * is scheduled as a new one (counted, and maybe elsewhere), which
         * starts embryonic. */
        if (flow_dest(f))
            flow_release(f);
        if (!embryonic)
            bpf_map_delete_elem(&flows, key);
        return 0;
    }
    /* Its dest is gone: scheduled again, in the table it is in. */
    return XLB_TRACK_LIVE | (embryonic ? XLB_TRACK_EMBRYONIC : 0) | (int)f->state << 8;
}

/* A new flow goes into embryos (a new connection) or flows (a live one
 * scheduled again), and is committed. A global function, as xlb_track(). */
__attribute__((noinline)) int xlb_flow_open(const struct xlb_flow_key *pkey, struct new_flow *nf, int into_embryos)
{
    struct xlb_flow_key key;
    struct xlb_flow f;

    if (!pkey || !nf)
        return -XLB_R_DROP_INTERNAL;
    /* On the stack: 6.1 takes no argument memory as a map key or value. */
    key = *pkey;
    f = nf->f;
    if (!(f.flags & XLB_FLOW_F_OPS)) {
        if (into_embryos)
            bpf_map_update_elem(&embryos, &key, &f, BPF_ANY);
        else
            bpf_map_update_elem(&flows, &key, &f, BPF_ANY);
    }
    flow_commit(nf, &key, into_embryos);
    return 0;
}

/*
 * A packet that is not for a VIP may be a NAT dest's reply. Its 5-tuple leads
 * to the flow it answers: the TCP state moves by IPVS's OUTPUT table, the
 * source becomes the VIP and virtual port, OutPkts/OutBytes count it, and it
 * is routed to the client.
 */
static __attribute__((noinline)) int xlb_nat_reply(struct xdp_md *ctx, struct ethhdr *eth, struct xlb_pkt *pkt,
                                                   __u64 now)
{
    const struct xlb_config *cfg;
    struct xlb_flow_key *fwd;
    __u32 zero = 0;
    struct xlb_nat_rev *rev;
    struct xlb_flow *f;
    __u32 dest_id, svc;
    int rc;

    cfg = bpf_map_lookup_elem(&config, &zero);
    rev = bpf_map_lookup_elem(&nat_rev, &pkt->key);
    if (!rev)
        rev = bpf_map_lookup_elem(&embryo_rev, &pkt->key);
    if (!rev || !cfg)
        return -XLB_R_PASS_NO_SERVICE;
    fwd = &rev->fwd;
    f = bpf_map_lookup_elem(&flows, fwd);
    if (!f || flow_expired(cfg, f, fwd->proto, now))
        f = bpf_map_lookup_elem(&embryos, fwd);
    if (!f || flow_expired(cfg, f, fwd->proto, now) || !(f->flags & XLB_FLOW_F_NAT) || !flow_dest(f))
        return -XLB_R_PASS_NO_SERVICE;
    dest_id = f->dest;
    svc = f->svc;
    f->last_seen = now;
    if (pkt->key.proto == IPPROTO_TCP) {
        f->state = tcp_next_state_dir(f->state, pkt->tcp_flags, XLB_TCP_DIR_OUTPUT);
        conn_transition(dest_id, f, pkt->key.proto);
    }
    rc = nat_rewrite(ctx, &pkt->parsed, false, &fwd->daddr, fwd->dport);
    if (rc < 0)
        return rc;
    stats_outbound(svc, dest_id, pkt->l3_len);
    rc = xlb_forward(ctx, &pkt->info, XLB_NO_DEST, 0, now);
    /* A reply too big for the client's path: the server hears nothing back
     * from here; count it. */
    return rc == -XLB_R_TX_ICMP_TOO_BIG ? -XLB_R_DROP_TOO_BIG : rc;
}

/* An ICMP error to a VIP: to the server of the flow it is about, if any. */
static __attribute__((noinline)) int xlb_icmp_related(struct xdp_md *ctx, struct xlb_pkt *pkt, void *icmp)
{
    struct xlb_dest *d;
    __u32 id, overhead;
    long dest;
    int rc;

    dest = icmp_related_flow(ctx, pkt, icmp);
    if (dest < 0)
        return -XLB_R_PASS_NOT_L4;
    id = dest;
    d = dest_get(id);
    if (!d)
        return -XLB_R_DROP_INTERNAL;
    if (d->fwd == XLB_FWD_NAT) {
        rc = icmp_nat_rewrite(ctx, pkt, icmp, id);
        if (rc < 0)
            return rc;
    }
    overhead = d->fwd == XLB_FWD_TUN ? tun_overhead(d) : 0;
    rc = xlb_forward(ctx, &pkt->info, id, overhead, bpf_jiffies64());
    if (rc < 0)
        return rc == -XLB_R_TX_ICMP_TOO_BIG ? -XLB_R_DROP_TOO_BIG : rc;
    if (d->fwd == XLB_FWD_TUN) {
        int trc = tun_encap(ctx, &pkt->info, id, XLB_L2_LEN(ctx, pkt));

        if (trc < 0)
            return trc;
    }
    return rc;
}

XLB_INLINE int xlb_handle(struct xdp_md *ctx, struct xlb_pkt *pkt)
{
    void *data = (void *)(long)ctx->data;
    void *data_end = (void *)(long)ctx->data_end;
    const struct xlb_config *cfg;
    struct new_flow nf;
    struct xlb_dest *d;
    __u32 overhead, l3_off, l4_off;
    struct ethhdr *eth = data;
    bool new_conn = false;
    int track;
    __u32 zero = 0, svc, dest_id;
    __u64 now;
    int rc;

    rc = xlb_parse(ctx, &pkt->parsed);
    if (rc < 0)
        return rc;
    /* Back to pointers, from offsets the verifier knows only by their bounds:
     * one state for every packet shape. */
    l3_off = pkt->l3_off;
    l4_off = pkt->l4_off;
    if (!l3_off_valid(l3_off) || l4_off > XLB_L4_OFF_MAX ||
        (void *)(eth + 1) > data_end)
        return -XLB_R_DROP_INTERNAL;
    pkt->l3 = data + l3_off;

    cfg = bpf_map_lookup_elem(&config, &zero);
    if (!cfg)
        return -XLB_R_DROP_INTERNAL;

    /* Without a reassembled L4 header there is no port to balance on. */
    if (pkt->fragment || pkt->ip_options) {
        if (!is_vip(pkt))
            return -XLB_R_PASS_NO_SERVICE;
        if (cfg->flags & XLB_CFG_F_DROP_FRAGS)
            return -XLB_R_DROP_FRAGMENT;
        return pkt->fragment ? -XLB_R_PASS_FRAGMENT : -XLB_R_PASS_IP_OPTIONS;
    }

    rc = pkt->l4_rc;
    if (rc == -XLB_R_DROP_MALFORMED && !is_vip(pkt))
        return -XLB_R_PASS_MALFORMED;
    if (rc == -XLB_R_PASS_NOT_L4 && (pkt->key.proto == IPPROTO_ICMP || pkt->key.proto == IPPROTO_ICMPV6) &&
        is_vip(pkt))
        return xlb_icmp_related(ctx, pkt, pkt_l4(pkt));
    if (rc < 0)
        return rc;

    now = bpf_jiffies64();

    /* An established flow needs no service lookup: its dest is live only
     * while its service exists (deleting a service retires its dests). */
    track = xlb_track(&pkt->key, pkt->tcp_flags, now, &nf.f);
    if (track < 0)
        return track;
    if (track & XLB_TRACK_HIT) {
        dest_id = nf.f.dest;
        svc = nf.f.svc;
        goto forward;
    }

    /* IPVS schedules TCP only on a SYN without RST (sloppy_tcp=0). A flow
     * whose dest was deleted is rescheduled on any packet, as with
     * expire_nodest_conn=1. */
    rc = service_lookup(pkt, &svc);
    if (rc == -XLB_R_PASS_NO_SERVICE && (cfg->flags & XLB_CFG_F_NAT))
        return xlb_nat_reply(ctx, eth, pkt, now);
    if (rc < 0)
        return rc;
    if (pkt->key.proto == IPPROTO_TCP && !(track & XLB_TRACK_LIVE) &&
        (pkt->tcp_flags & (XLB_TCPF_SYN | XLB_TCPF_RST)) != XLB_TCPF_SYN)
        return -XLB_R_PASS_TCP_NOT_SYN;
    sweeper_arm();
    nf.pe_hash = 0;
    if (pkt->key.proto == IPPROTO_UDP)
        nf.pe_hash = xlb_sip_callid(ctx, svc, (__u32)pkt->l4_off + sizeof(struct udphdr),
                                    pkt->udp_len - sizeof(struct udphdr));
    rc = xlb_schedule(svc, &pkt->key, ((track >> 8) & 0xff) | (__u32)pkt->tcp_flags << 8, now, &nf);
    if (rc < 0)
        return rc;
    /* A new connection starts embryonic; a live one scheduled again stays in
     * its table. */
    rc = xlb_flow_open(&pkt->key, &nf, !(track & XLB_TRACK_LIVE) || (track & XLB_TRACK_EMBRYONIC));
    if (rc < 0)
        return rc;
    dest_id = nf.f.dest;
    new_conn = true;

forward:
    d = dest_get(dest_id);
    if (!d)
        return -XLB_R_DROP_INTERNAL;
    stats_inbound(svc, dest_id, pkt->l3_len, new_conn);

    if (d->fwd != XLB_FWD_DR && d->fwd != XLB_FWD_NAT && d->fwd != XLB_FWD_TUN)
        return -XLB_R_DROP_UNSUPPORTED;
    if (d->fwd != XLB_FWD_TUN && fib_fast_tx(ctx, eth, pkt, dest_id, d, cfg, now)) {
        if (d->fwd == XLB_FWD_NAT) {
            rc = nat_rewrite(ctx, &pkt->parsed, true, &d->addr, d->port);
            if (rc < 0)
                return rc;
        }
        return XDP_TX;
    }
    /* Route first, with the TUN header's size: a packet too big for the
     * egress is answered before anything rewrites it, so the ICMP error
     * quotes what the client sent. */
    overhead = d->fwd == XLB_FWD_TUN ? tun_overhead(d) : 0;
    rc = xlb_forward(ctx, &pkt->info, dest_id, overhead, now);
    if (rc == -XLB_R_TX_ICMP_TOO_BIG)
        return icmp_too_big(ctx, &pkt->info, pkt->mtu - overhead, XLB_L2_LEN(ctx, pkt));
    if (rc < 0)
        return rc;
    if (d->fwd == XLB_FWD_NAT) {
        int nrc = nat_rewrite(ctx, &pkt->parsed, true, &d->addr, d->port);

        if (nrc < 0)
            return nrc;
    } else if (d->fwd == XLB_FWD_TUN) {
        int trc = tun_encap(ctx, &pkt->info, dest_id, XLB_L2_LEN(ctx, pkt));

        if (trc < 0)
            return trc;
    }
    return rc;
}

SEC("xdp")
int xlb_xdp(struct xdp_md *ctx)
{
    struct xlb_pkt pkt = {};
    __u32 reason;
    int rc, action;

    table_side_enter();
    rc = xlb_handle(ctx, &pkt);
    if (rc >= 0 && (rc & XLB_ACT_ICMP)) {
        action = XDP_TX;
        reason = XLB_R_TX_ICMP_TOO_BIG;
        goto out;
    }
    if (rc >= 0) {
        action = rc;
        reason = rc == XDP_TX ? XLB_R_TX : XLB_R_REDIRECT;
        if (rc != XDP_TX && rc != XDP_REDIRECT)
            reason = XLB_R_DROP_INTERNAL; /* bpf_redirect_map() failed */
        goto out;
    }
    reason = -rc;
    if (reason >= XLB_R_MAX)
        reason = XLB_R_DROP_INTERNAL;
    action = reason >= XLB_R_DROP_MALFORMED ? XDP_DROP : XDP_PASS;
out:
    stats_reason(reason);
    table_side_leave();
    return action;
}
