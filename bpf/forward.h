/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Forwarding. DR rewrites the MAC addresses only; the kernel's FIB and
 * neighbour tables, read through bpf_fib_lookup(), say where and to whom.
 */
#ifndef XLB_BPF_FORWARD_H
#define XLB_BPF_FORWARD_H
#include "maps.h"

#ifndef AF_INET
#define AF_INET 2
#endif
#ifndef AF_INET6
#define AF_INET6 10
#endif

XLB_INLINE void neigh_request(__u32 ifindex, const struct bpf_fib_lookup *fib)
{
    struct xlb_neigh_event ev = {};

    ev.ifindex = ifindex;
    ev.af = fib->family;
    /* On NO_NEIGH the kernel has already replaced the destination with the
     * route's gateway when there is one, so this is the next hop to resolve. */
    if (fib->family == AF_INET)
        ev.addr.v4 = fib->ipv4_dst;
    else
        __builtin_memcpy(ev.addr.v6, fib->ipv6_dst, 16);
    bpf_ringbuf_output(&neigh_events, &ev, sizeof(ev), 0);
}

/*
 * A TUN dest added while no route led to it has no outer source yet (tun_src
 * all zero; ipvsadm accepts such a dest). A packet from 0.0.0.0 would reach
 * no one, so it is counted and dropped, and userspace is told through
 * neigh_events as for an unresolved neighbour: `xlbctl resolve` looks the
 * route up again and writes the source once the route exists.
 */
XLB_INLINE bool tun_src_missing(const struct xlb_dest *d)
{
    struct xlb_neigh_event *ev;

    if (d->fwd != XLB_FWD_TUN || (d->tun_src.v6[0] | d->tun_src.v6[1] | d->tun_src.v6[2] | d->tun_src.v6[3]))
        return false;
    /* Written in the ring buffer itself: this frame is on the deepest call
     * chain, which must fit in 512 bytes of stack. */
    ev = bpf_ringbuf_reserve(&neigh_events, sizeof(*ev), 0);
    if (ev) {
        __builtin_memset(ev, 0, sizeof(*ev));
        ev->addr = d->addr;
        ev->af = d->af;
        ev->kind = XLB_NEIGH_EV_TUN_SRC;
        bpf_ringbuf_submit(ev, 0);
    }
    return true;
}

/*
 * bpf_fib_lookup() return codes, and what they mean here:
 *  SUCCESS      dmac/smac/ifindex are filled in: forward.
 *  NO_NEIGH     route found, neighbour not (or not yet) valid. The kernel does
 *               not start resolution for us, so userspace is told (ring buffer)
 *               and asks for it with NTF_USE. Passing the packet instead would
 *               reach a stack that owns the VIP and answers with a RST.
 *  NOT_FWDED    the route is local, broadcast or multicast: the dest is us.
 *  FWD_DISABLED forwarding is off on the ingress device (the lookup is an
 *               input lookup, as for a routed packet).
 *  FRAG_NEEDED  the packet exceeds the egress MTU.
 *  others       blackhole, unreachable, prohibit, no source address.
 */
/*
 * bpf_fib_lookup() is the costliest step of an established flow (a FIB walk
 * plus a neighbour lookup, ~150 ns here). Its answer for a dest is kept per
 * CPU for fib_cache_ms, so the kernel's tables stay the truth within that
 * bound and most packets skip the walk.
 */
XLB_INLINE bool fib_cache_fresh(const struct xlb_fib_cache *fc, __u32 gen, __u32 ifindex,
                                const struct xlb_config *cfg, __u64 now)
{
    return fc->dest_gen == gen && fc->in_ifindex == ifindex && cfg->fib_cache_ms &&
           jiffies_since(now, fc->stamp) * 1000 < (__u64)cfg->fib_cache_ms * cfg->hz;
}

/* The established flow's fast path, inline: a fresh cached answer for the
 * same interface, and a packet that fits, go straight out with XDP_TX (after
 * the NAT rewrite); anything else returns false for xlb_forward(). */
XLB_INLINE bool fib_fast_tx(struct xdp_md *ctx, struct ethhdr *eth, const struct xlb_pkt *pkt, __u32 dest_id,
                            const struct xlb_dest *d, const struct xlb_config *cfg, __u64 now)
{
    struct xlb_fib_cache *fc = bpf_map_lookup_elem(&fib_cache, &dest_id);
    __u32 ifindex = ctx->ingress_ifindex;

    if (!fc || !fib_cache_fresh(fc, d->gen, ifindex, cfg, now) || fc->out_ifindex != ifindex ||
        (fc->mtu && pkt->l3_len > fc->mtu))
        return false;
    __builtin_memcpy(eth->h_dest, fc->dmac, ETH_ALEN);
    __builtin_memcpy(eth->h_source, fc->smac, ETH_ALEN);
    return true;
}

/* A global function: verified once on its own, not once per caller's path,
 * and its 64-byte bpf_fib_lookup argument lives in its own frame. */
/*
 * Routes the packet toward dest `dest_id` (whose FIB answer may be cached), or
 * with XLB_NO_DEST toward the packet's own destination (a NAT reply going to
 * its client; never cached). `overhead` is what forwarding will add (a TUN
 * header): a packet that would then exceed the egress MTU is not sent; the
 * caller answers -XLB_R_TX_ICMP_TOO_BIG with an ICMP error (pkt->mtu set).
 */
__attribute__((noinline)) int xlb_forward(struct xdp_md *ctx, struct xlb_pkt_info *pkt, __u32 dest_id,
                                          __u32 overhead, __u64 now)
{
    struct ethhdr *eth = (void *)(long)ctx->data;
    __u32 ifindex = ctx->ingress_ifindex;
    struct xlb_fib_cache *fc = NULL;
    const struct xlb_config *cfg;
    const union xlb_addr *dst;
    struct bpf_fib_lookup fib;
    __u32 out_ifindex, zero = 0, gen = 0;
    struct xlb_dest *d = NULL;
    __be16 dport;
    __u8 af;
    long rc;

    /* Re-read from ctx: an encapsulation may have moved the packet's start. */
    if ((void *)(eth + 1) > (void *)(long)ctx->data_end)
        return -XLB_R_DROP_INTERNAL;
    cfg = bpf_map_lookup_elem(&config, &zero);
    if (!cfg || !pkt)
        return -XLB_R_DROP_INTERNAL;
    if (dest_id != XLB_NO_DEST) {
        d = dest_get(dest_id);
        if (!d)
            return -XLB_R_DROP_INTERNAL;
        if (tun_src_missing(d))
            return -XLB_R_DROP_NO_TUN_SRC;
        dst = &d->addr;
        af = d->af;
        dport = d->port;
        gen = d->gen;
        fc = bpf_map_lookup_elem(&fib_cache, &dest_id);
    } else {
        dst = &pkt->key.daddr;
        af = pkt->key.af;
        dport = pkt->key.dport;
    }

    if (fc && fib_cache_fresh(fc, gen, ifindex, cfg, now)) {
        /* Too big: answered by the caller, with the L2 header untouched. */
        if (fc->mtu && pkt->l3_len + overhead > fc->mtu) {
            pkt->mtu = fc->mtu;
            return -XLB_R_TX_ICMP_TOO_BIG;
        }
        __builtin_memcpy(eth->h_dest, fc->dmac, ETH_ALEN);
        __builtin_memcpy(eth->h_source, fc->smac, ETH_ALEN);
        out_ifindex = fc->out_ifindex;
        goto xmit;
    }

    __builtin_memset(&fib, 0, sizeof(fib)); /* only on a cache miss */
    fib.ifindex = ifindex;
    fib.l4_protocol = pkt->key.proto;
    fib.sport = pkt->key.sport;
    fib.dport = dport;
    fib.tot_len = pkt->l3_len + overhead;
    if (af == XLB_AF_INET) {
        fib.family = AF_INET;
        fib.ipv4_src = pkt->key.saddr.v4;
        fib.ipv4_dst = dst->v4;
    } else {
        fib.family = AF_INET6;
        __builtin_memcpy(fib.ipv6_src, pkt->key.saddr.v6, 16);
        __builtin_memcpy(fib.ipv6_dst, dst->v6, 16);
    }

    rc = bpf_fib_lookup(ctx, &fib, sizeof(fib), 0);
    switch (rc) {
    case BPF_FIB_LKUP_RET_SUCCESS:
        break;
    case BPF_FIB_LKUP_RET_NO_NEIGH:
        neigh_request(fib.ifindex, &fib);
        return -XLB_R_DROP_NO_NEIGH;
    case BPF_FIB_LKUP_RET_NOT_FWDED:
        return -XLB_R_PASS_LOCAL;
    case BPF_FIB_LKUP_RET_FWD_DISABLED:
        return -XLB_R_DROP_FWD_DISABLED;
    case BPF_FIB_LKUP_RET_FRAG_NEEDED:
        pkt->mtu = fib.mtu_result;
        return -XLB_R_TX_ICMP_TOO_BIG;
    default:
        return -XLB_R_DROP_FIB;
    }

    __builtin_memcpy(eth->h_dest, fib.dmac, ETH_ALEN);
    __builtin_memcpy(eth->h_source, fib.smac, ETH_ALEN);
    out_ifindex = fib.ifindex;
    if (fc) {
        fc->stamp = now;
        fc->dest_gen = gen;
        fc->in_ifindex = ifindex;
        fc->out_ifindex = out_ifindex;
        fc->mtu = fib.mtu_result; /* on success too (union with tot_len) */
        __builtin_memcpy(fc->dmac, fib.dmac, ETH_ALEN);
        __builtin_memcpy(fc->smac, fib.smac, ETH_ALEN);
    }

xmit:
    if (out_ifindex == ifindex)
        return XDP_TX;

    /* XDP_REDIRECT needs the egress in tx_ports (userspace adds every attached
     * interface). Look first so a miss is counted, not an anonymous abort. */
    if (!bpf_map_lookup_elem(&tx_ports, &out_ifindex))
        return -XLB_R_DROP_NO_TX_PORT;
    return bpf_redirect_map(&tx_ports, out_ifindex, 0);
}
#endif
