/* SPDX-License-Identifier: Apache-2.0 */
/*
 * NAT (ipvsadm -m): client packets get the dest's address and port as their
 * destination; the dest's replies, which route back through the director,
 * get the VIP and virtual port back as their source. Checksums are updated
 * incrementally: the IPv4 header's, and TCP's or UDP's over the pseudo-header
 * and the ports. A UDP/IPv4 datagram without a checksum (0) keeps none.
 */
#ifndef XLB_BPF_NAT_H
#define XLB_BPF_NAT_H
#include "maps.h"
#include "csum.h"
#include "l2.h"

/* Rewrites the destination (dst_side) or the source of the packet to
 * addr:port, in the packet and in pkt->key. */
XLB_INLINE int nat_rewrite_pkt(struct xlb_pkt *pkt, void *data_end, bool dst_side, const union xlb_addr *addr,
                               __be16 port)
{
    union xlb_addr new_addr = *addr;
    __be16 ports[2], old_ports[2];
    __u16 *l4check = NULL;
    bool udp_nocsum = false;
    void *l4 = pkt_l4(pkt);

    if (!l4 || l4 + 8 > data_end)
        return -XLB_R_DROP_INTERNAL;
    if (pkt->key.proto == IPPROTO_TCP) {
        struct tcphdr *th = l4;

        if ((void *)(th + 1) > data_end)
            return -XLB_R_DROP_INTERNAL;
        l4check = &th->check;
    } else {
        struct udphdr *uh = l4;

        l4check = &uh->check;
        udp_nocsum = pkt->key.af == XLB_AF_INET && uh->check == 0;
    }
    __builtin_memcpy(old_ports, l4, 4);
    ports[0] = dst_side ? old_ports[0] : port;
    ports[1] = dst_side ? port : old_ports[1];

    if (pkt->key.af == XLB_AF_INET) {
        struct iphdr *iph = pkt->l3;
        __be32 old;

        if (!iph || (void *)(iph + 1) > data_end)
            return -XLB_R_DROP_INTERNAL;
        old = dst_side ? iph->daddr : iph->saddr;
        csum_replace(&iph->check, &old, &new_addr.v4, 4);
        if (!udp_nocsum) {
            csum_replace(l4check, &old, &new_addr.v4, 4);
            csum_replace(l4check, old_ports, ports, 4);
        }
        if (dst_side)
            iph->daddr = new_addr.v4;
        else
            iph->saddr = new_addr.v4;
    } else {
        struct ipv6hdr *ip6h = pkt->l3;
        union xlb_addr old;

        if (!ip6h || (void *)(ip6h + 1) > data_end)
            return -XLB_R_DROP_INTERNAL;
        __builtin_memcpy(old.v6, dst_side ? (void *)&ip6h->daddr : (void *)&ip6h->saddr, 16);
        csum_replace(l4check, old.v6, new_addr.v6, 16);
        csum_replace(l4check, old_ports, ports, 4);
        __builtin_memcpy(dst_side ? (void *)&ip6h->daddr : (void *)&ip6h->saddr, new_addr.v6, 16);
    }
    /* A UDP checksum that computes to 0 is sent as all ones. */
    if (pkt->key.proto == IPPROTO_UDP && !udp_nocsum && *l4check == 0)
        *l4check = 0xffff;
    __builtin_memcpy(l4, ports, 4);

    if (dst_side) {
        pkt->key.daddr = new_addr;
        pkt->key.dport = port;
    } else {
        pkt->key.saddr = new_addr;
        pkt->key.sport = port;
    }
    return 0;
}

/* nat_rewrite_pkt() as a global function, verified once for its three
 * callers: the packet's scalars and offsets in (p, as xlb_parse() gave
 * them), its new 5-tuple back in p->key. port is in network order. */
__attribute__((noinline)) int nat_rewrite(struct xdp_md *ctx, struct xlb_parsed *p, int dst_side,
                                          const union xlb_addr *addr, __u32 port)
{
    void *data = (void *)(long)ctx->data;
    void *data_end = (void *)(long)ctx->data_end;
    struct xlb_pkt pkt = {};
    union xlb_addr a;
    __u32 l3_off;
    int rc;

    if (!p || !addr)
        return -XLB_R_DROP_INTERNAL;
    pkt.parsed = *p;
    a = *addr;
    l3_off = pkt.l3_off;
    if (!l3_off_valid(l3_off))
        return -XLB_R_DROP_INTERNAL;
    pkt.l3 = data + l3_off;
    rc = nat_rewrite_pkt(&pkt, data_end, dst_side, &a, (__be16)port);
    if (rc == 0)
        p->key = pkt.key;
    return rc;
}

/* The reply 5-tuple of a NAT flow: dest:port -> client:cport. */
XLB_INLINE void nat_reply_key(struct xlb_flow_key *rk, const struct xlb_flow_key *fwd, const struct xlb_dest *d)
{
    __builtin_memset(rk, 0, sizeof(*rk));
    rk->saddr = d->addr;
    rk->daddr = fwd->saddr;
    rk->sport = d->port;
    rk->dport = fwd->sport;
    rk->proto = fwd->proto;
    rk->af = fwd->af;
}
#endif
