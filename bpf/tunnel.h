/* SPDX-License-Identifier: Apache-2.0 */
/*
 * TUN (ipvsadm -i): the packet is carried whole inside a new outer IP header
 * from the director to the dest, which decapsulates it and answers the
 * client directly. The outer header's family is the dest's, so an IPv4 VIP
 * may have IPv6 dests and the reverse, as in IPVS:
 *   ipip  IPv4 or IPv6 outer, protocol/next header 4 (IPv4 inside) or 41 (IPv6)
 *   gue   the same inside UDP (to --tun-port) and a 4-byte GUE header
 *         (variant 0, no options); the UDP checksum is 0 (--tun-nocsum).
 * The outer source is the director's address toward the dest, found by
 * userspace when the dest is added (the route's preferred source). A dest
 * added while no route led to it has none yet; xlb_forward() drops its
 * packets and tells userspace (tun_src_missing() in forward.h).
 */
#ifndef XLB_BPF_TUNNEL_H
#define XLB_BPF_TUNNEL_H
#include "maps.h"
#include "csum.h"
#include "l2.h"

#define XLB_GUE_HLEN 4

struct xlb_guehdr {
    __u8 flags_hlen; /* version 0, C 0, hlen 0 */
    __u8 proto;      /* the inner protocol */
    __be16 flags;
};

/* A source port with entropy from the inner flow, as udp_flow_src_port() gives. */
XLB_INLINE __be16 gue_src_port(const struct xlb_flow_key *k)
{
    __u32 h = k->saddr.v6[0] ^ k->saddr.v6[1] ^ k->saddr.v6[2] ^ k->saddr.v6[3] ^
              ((__u32)k->sport << 16 | k->dport) ^ k->proto;

    h ^= h >> 16;
    h *= 0x45d9f3b;
    h ^= h >> 16;
    return bpf_htons(49152 + (h & 0x3fff));
}

/*
 * --tun-csum: the outer UDP checksum covers the whole inner packet. Summing it
 * in XDP would read every byte; instead, as the kernel's local checksum
 * offload does, the inner packet's sum is derived from what is already valid:
 * its IP header's sum (20 or 40 bytes, read) plus its TCP/UDP/ICMPv6 segment,
 * whose sum is the complement of its pseudo-header's (the segment's checksum
 * makes the two cancel), or zero for ICMP. Returns that 32-bit partial sum, or
 * -1 when it cannot be derived (IPv6 extension headers, a UDP/IPv4 datagram
 * without a checksum): the outer checksum is then 0, which UDP allows.
 */
struct pseudo4 {
    __be32 saddr, daddr;
    __u8 zero, proto;
    __be16 len;
};

struct pseudo6 {
    __u8 saddr[16], daddr[16];
    __be32 len;
    __u8 zero[3], nexthdr;
};

XLB_INLINE __s64 inner_sum(__u8 af, void *l3, void *data_end)
{
    __s64 hsum, psum;

    if (af == XLB_AF_INET) {
        struct iphdr *iph = l3;
        struct pseudo4 ps = {};

        /* IPv4 options never get here: such packets go to the kernel. */
        if ((void *)(iph + 1) > data_end || iph->ihl != 5)
            return -1;
        hsum = bpf_csum_diff(NULL, 0, (void *)iph, sizeof(*iph), 0);
        if (iph->protocol == IPPROTO_ICMP)
            return hsum;
        if (iph->protocol == IPPROTO_UDP) {
            struct udphdr *uh = (void *)(iph + 1);

            if ((void *)(uh + 1) > data_end || uh->check == 0)
                return -1;
        } else if (iph->protocol != IPPROTO_TCP) {
            return -1;
        }
        ps.saddr = iph->saddr;
        ps.daddr = iph->daddr;
        ps.proto = iph->protocol;
        ps.len = bpf_htons(bpf_ntohs(iph->tot_len) - sizeof(*iph));
        psum = bpf_csum_diff(NULL, 0, (void *)&ps, sizeof(ps), 0);
    } else {
        struct ipv6hdr *ip6h = l3;
        struct pseudo6 ps = {};

        /* With extension headers the next header is not one of these. */
        if ((void *)(ip6h + 1) > data_end)
            return -1;
        if (ip6h->nexthdr != IPPROTO_TCP && ip6h->nexthdr != IPPROTO_UDP && ip6h->nexthdr != IPPROTO_ICMPV6)
            return -1;
        hsum = bpf_csum_diff(NULL, 0, (void *)ip6h, sizeof(*ip6h), 0);
        __builtin_memcpy(ps.saddr, &ip6h->saddr, 16);
        __builtin_memcpy(ps.daddr, &ip6h->daddr, 16);
        ps.len = bpf_htonl(bpf_ntohs(ip6h->payload_len));
        ps.nexthdr = ip6h->nexthdr;
        psum = bpf_csum_diff(NULL, 0, (void *)&ps, sizeof(ps), 0);
    }
    if (hsum < 0 || psum < 0)
        return -1;
    /* the segment's sum: the complement of the pseudo-header's */
    return hsum + csum_fold64(psum);
}

/* What tun_encap() adds in front of the client's packet. */
XLB_INLINE __u32 tun_overhead(const struct xlb_dest *d)
{
    return (d->af == XLB_AF_INET6 ? sizeof(struct ipv6hdr) : sizeof(struct iphdr)) +
           (d->tun_type == XLB_TUN_GUE ? sizeof(struct udphdr) + XLB_GUE_HLEN : 0);
}

/* A global function, verified once; l2_len is XLB_L2_LEN() of the packet. */
__attribute__((noinline)) int tun_encap(struct xdp_md *ctx, struct xlb_pkt_info *pkt, __u32 dest_id, __u32 l2_len)
{
    void *data = (void *)(long)ctx->data;
    void *data_end = (void *)(long)ctx->data_end;
    __u8 l2[XLB_L2_MAX], inner_proto;
    __u32 olen, inner_len;
    __s64 isum;
    struct xlb_dest *d;
    bool outer6, gue;
    void *outer;

    d = dest_get(dest_id);
    if (!d || !pkt)
        return -XLB_R_DROP_INTERNAL;
    if (d->tun_type != XLB_TUN_IPIP && d->tun_type != XLB_TUN_GUE)
        return -XLB_R_DROP_UNSUPPORTED;
    outer6 = d->af == XLB_AF_INET6;
    gue = d->tun_type == XLB_TUN_GUE;
    olen = (outer6 ? sizeof(struct ipv6hdr) : sizeof(struct iphdr)) +
           (gue ? sizeof(struct udphdr) + XLB_GUE_HLEN : 0);
    inner_proto = pkt->key.af == XLB_AF_INET ? IPPROTO_IPIP : IPPROTO_IPV6;
    inner_len = pkt->l3_len;
    if (l2_len != ETH_HLEN && l2_len != ETH_HLEN + 4 && l2_len != ETH_HLEN + 8)
        return -XLB_R_DROP_INTERNAL;
    isum = gue && (d->tun_flags & XLB_TUN_F_CSUM) ? inner_sum(pkt->key.af, l2_end(data, l2_len), data_end) : -1;
    /* Every frame that reached here holds at least L2 + a 20-byte IP header. */
    if (data + XLB_L2_MAX > data_end)
        return -XLB_R_DROP_INTERNAL;
    __builtin_memcpy(l2, data, XLB_L2_MAX);

    if (bpf_xdp_adjust_head(ctx, -(int)olen))
        return -XLB_R_DROP_ENCAP;
    data = (void *)(long)ctx->data;
    data_end = (void *)(long)ctx->data_end;
    if (data + XLB_L2_MAX + olen > data_end)
        return -XLB_R_DROP_INTERNAL;
    /* The L2 header moves to the new start; the bytes after it are rewritten
     * below, so copying the longest L2 header is harmless. */
    __builtin_memcpy(data, l2, XLB_L2_MAX);
    /* The last EtherType of the L2 header now announces the outer header.
     * Constant offsets, one per possible L2 length, for the verifier. */
    {
        __be16 et = bpf_htons(outer6 ? ETH_P_IPV6 : ETH_P_IP);

        if (l2_len == ETH_HLEN) {
            *(__be16 *)(data + ETH_HLEN - 2) = et;
            outer = data + ETH_HLEN;
        } else if (l2_len == ETH_HLEN + 4) {
            *(__be16 *)(data + ETH_HLEN + 2) = et;
            outer = data + ETH_HLEN + 4;
        } else {
            *(__be16 *)(data + ETH_HLEN + 6) = et;
            outer = data + ETH_HLEN + 8;
        }
    }

    if (outer6) {
        struct ipv6hdr *o6 = outer;

        if ((void *)(o6 + 1) > data_end)
            return -XLB_R_DROP_INTERNAL;
        __builtin_memset(o6, 0, sizeof(*o6));
        o6->version = 6;
        o6->payload_len = bpf_htons(olen - sizeof(*o6) + inner_len);
        o6->nexthdr = gue ? IPPROTO_UDP : inner_proto;
        o6->hop_limit = 64;
        __builtin_memcpy(&o6->saddr, d->tun_src.v6, 16);
        __builtin_memcpy(&o6->daddr, d->addr.v6, 16);
    } else {
        struct iphdr *o4 = outer;

        if ((void *)(o4 + 1) > data_end)
            return -XLB_R_DROP_INTERNAL;
        __builtin_memset(o4, 0, sizeof(*o4));
        o4->version = 4;
        o4->ihl = 5;
        o4->tot_len = bpf_htons(olen + inner_len);
        o4->frag_off = bpf_htons(0x4000); /* DF: path MTU discovery, as IPVS keeps it */
        o4->ttl = 64;
        o4->protocol = gue ? IPPROTO_UDP : inner_proto;
        o4->saddr = d->tun_src.v4;
        o4->daddr = d->addr.v4;
        o4->check = csum_fold64(bpf_csum_diff(NULL, 0, (void *)o4, sizeof(*o4), 0));
    }

    if (gue) {
        struct udphdr *uh = outer + (outer6 ? sizeof(struct ipv6hdr) : sizeof(struct iphdr));
        struct xlb_guehdr *gh = (void *)(uh + 1);

        if ((void *)(gh + 1) > data_end)
            return -XLB_R_DROP_INTERNAL;
        uh->source = gue_src_port(&pkt->key);
        uh->dest = d->tun_port;
        uh->len = bpf_htons(sizeof(*uh) + XLB_GUE_HLEN + inner_len);
        uh->check = 0;
        gh->flags_hlen = 0;
        gh->proto = inner_proto;
        gh->flags = 0;
        if (isum >= 0) {
            __s64 sum = isum + bpf_csum_diff(NULL, 0, (void *)uh, sizeof(*uh) + XLB_GUE_HLEN, 0);
            __u16 c;

            if (outer6) {
                struct pseudo6 ps = {};

                __builtin_memcpy(ps.saddr, d->tun_src.v6, 16);
                __builtin_memcpy(ps.daddr, d->addr.v6, 16);
                ps.len = bpf_htonl(sizeof(*uh) + XLB_GUE_HLEN + inner_len);
                ps.nexthdr = IPPROTO_UDP;
                sum += bpf_csum_diff(NULL, 0, (void *)&ps, sizeof(ps), 0);
            } else {
                struct pseudo4 ps = {};

                ps.saddr = d->tun_src.v4;
                ps.daddr = d->addr.v4;
                ps.proto = IPPROTO_UDP;
                ps.len = uh->len;
                sum += bpf_csum_diff(NULL, 0, (void *)&ps, sizeof(ps), 0);
            }
            c = csum_fold64(sum);
            uh->check = c ? c : 0xffff;
        }
    }

    /* From here the packet is the outer one: routed toward the dest, from the
     * tunnel source (the caller forgets its l3/l4 pointers). */
    pkt->l3_len = olen + inner_len;
    pkt->key.saddr = d->tun_src;
    return 0;
}
#endif
