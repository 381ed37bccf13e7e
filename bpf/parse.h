/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Header parsing with a cursor, after xdp-tools' parsing_helpers.h: each
 * parse_*() checks the bytes it reads against data_end, advances the cursor,
 * and returns the next protocol or a negative -XLB_R_* reason.
 *
 * Past the IP header, every header is also bounded by the IP packet's own
 * length (IPv4 total length, IPv6 40 + payload length), never by the frame:
 * Ethernet padding after the packet is not payload. The checks that bound
 * by the packet work on offsets from the IP header (pkt_off()), scalars the
 * verifier follows; the checks against data_end stay for the verifier.
 */
#ifndef XLB_BPF_PARSE_H
#define XLB_BPF_PARSE_H
#include "common.h"

struct hdr_cursor {
    void *pos;
};

struct xlb_vlan_hdr {
    __be16 tci;
    __be16 encap_proto;
};

XLB_INLINE bool proto_is_vlan(__u16 h_proto)
{
    return h_proto == bpf_htons(ETH_P_8021Q) || h_proto == bpf_htons(ETH_P_8021AD);
}

/* Ethernet plus up to XLB_VLAN_MAX_DEPTH tags. Returns the EtherType, network order. */
XLB_INLINE int parse_ethhdr(struct hdr_cursor *cur, void *data_end, struct ethhdr **ethp)
{
    struct ethhdr *eth = cur->pos;
    __u16 h_proto;

    if ((void *)(eth + 1) > data_end)
        return -XLB_R_DROP_MALFORMED;
    *ethp = eth;
    cur->pos = eth + 1;
    h_proto = eth->h_proto;

#pragma unroll
    for (int i = 0; i < XLB_VLAN_MAX_DEPTH; i++) {
        struct xlb_vlan_hdr *vh = cur->pos;

        if (!proto_is_vlan(h_proto))
            break;
        if ((void *)(vh + 1) > data_end)
            return -XLB_R_DROP_MALFORMED;
        h_proto = vh->encap_proto;
        cur->pos = vh + 1;
    }
    if (proto_is_vlan(h_proto))
        return -XLB_R_PASS_NOT_IP; /* deeper stacks are not ours to judge */
    return h_proto;
}

/* IPv4: IHL and total length are checked before the bytes they cover. */
XLB_INLINE int xlb4_parse(struct hdr_cursor *cur, void *data_end, struct xlb_pkt *pkt)
{
    struct iphdr *iph = cur->pos;
    __u32 hdrsize, tot_len;

    if ((void *)(iph + 1) > data_end)
        return -XLB_R_DROP_MALFORMED;
    if (iph->version != 4)
        return -XLB_R_DROP_MALFORMED;
    hdrsize = iph->ihl * 4;
    if (hdrsize < sizeof(*iph))
        return -XLB_R_DROP_MALFORMED;
    tot_len = bpf_ntohs(iph->tot_len);
    barrier_var(tot_len);
    tot_len &= 0xffff;
    if (tot_len < hdrsize)
        return -XLB_R_DROP_MALFORMED;
    if (cur->pos + hdrsize > data_end)
        return -XLB_R_DROP_MALFORMED;
    /* The frame may carry Ethernet padding after the IP packet, never less. */
    if (cur->pos + tot_len > data_end)
        return -XLB_R_DROP_MALFORMED;

    pkt->l3 = iph;
    pkt->l3_len = tot_len;
    pkt->key.af = XLB_AF_INET;
    pkt->key.proto = iph->protocol;
    pkt->key.saddr.v4 = iph->saddr;
    pkt->key.daddr.v4 = iph->daddr;
    pkt->fragment = (iph->frag_off & bpf_htons(0x3fff)) != 0; /* MF or offset */
    pkt->ip_options = hdrsize > sizeof(*iph);
    cur->pos += hdrsize;
    return iph->protocol;
}

struct xlb_ipv6_opt_hdr {
    __u8 nexthdr;
    __u8 hdrlen;
};

struct xlb_ipv6_frag_hdr {
    __u8 nexthdr;
    __u8 reserved;
    __be16 frag_off; /* offset << 3 | M */
    __be32 identification;
};

/* IPv6 with a bounded walk over extension headers. */
XLB_INLINE int xlb6_parse(struct hdr_cursor *cur, void *data_end, struct xlb_pkt *pkt)
{
    struct ipv6hdr *ip6h = cur->pos;
    __u32 plen;
    __u8 nexthdr;

    if ((void *)(ip6h + 1) > data_end)
        return -XLB_R_DROP_MALFORMED;
    if (ip6h->version != 6)
        return -XLB_R_DROP_MALFORMED;
    plen = bpf_ntohs(ip6h->payload_len);
    barrier_var(plen);
    plen &= 0xffff;
    if ((void *)(ip6h + 1) + plen > data_end)
        return -XLB_R_DROP_MALFORMED;

    pkt->l3 = ip6h;
    pkt->l3_len = sizeof(*ip6h) + plen;
    pkt->key.af = XLB_AF_INET6;
    __builtin_memcpy(pkt->key.saddr.v6, &ip6h->saddr, 16);
    __builtin_memcpy(pkt->key.daddr.v6, &ip6h->daddr, 16);
    cur->pos = ip6h + 1;
    nexthdr = ip6h->nexthdr;

#pragma unroll
    for (int i = 0; i < XLB_IPV6_EXT_MAX; i++) {
        struct xlb_ipv6_opt_hdr *oh = cur->pos;
        struct xlb_ipv6_frag_hdr *fh = cur->pos;

        switch (nexthdr) {
        case IPPROTO_HOPOPTS:
        case IPPROTO_ROUTING:
        case IPPROTO_DSTOPTS:
            if ((void *)(oh + 1) > data_end || !in_packet(pkt, oh, sizeof(*oh)))
                return -XLB_R_DROP_MALFORMED;
            nexthdr = oh->nexthdr;
            cur->pos += (oh->hdrlen + 1) * 8;
            break;
        case IPPROTO_AH:
            if ((void *)(oh + 1) > data_end || !in_packet(pkt, oh, sizeof(*oh)))
                return -XLB_R_DROP_MALFORMED;
            nexthdr = oh->nexthdr;
            cur->pos += (oh->hdrlen + 2) * 4;
            break;
        case IPPROTO_FRAGMENT:
            if ((void *)(fh + 1) > data_end || !in_packet(pkt, fh, sizeof(*fh)))
                return -XLB_R_DROP_MALFORMED;
            /* An atomic fragment (offset 0, no M) is a whole packet. */
            if (fh->frag_off & bpf_htons(0xfff9))
                pkt->fragment = true;
            nexthdr = fh->nexthdr;
            cur->pos = fh + 1;
            break;
        default:
            goto done;
        }
    }
    /* Still an extension header after the bound: not something we balance. */
    return -XLB_R_PASS_NOT_L4;
done:
    /* The last extension header ends inside the packet. */
    if (!in_packet(pkt, cur->pos, 0))
        return -XLB_R_DROP_MALFORMED;
    pkt->key.proto = nexthdr;
    return nexthdr;
}

/* TCP or UDP ports (and TCP flags). Fragments stop before this. The TCP
 * header with its options (data offset 5 to 15 words), and the UDP header,
 * lie inside the IP packet; UDP's length covers its header and no more than
 * the IP payload (a shorter one leaves trailing bytes, as Linux trims). */
XLB_INLINE int parse_l4(struct hdr_cursor *cur, void *data_end, struct xlb_pkt *pkt)
{
    if (pkt->key.proto == IPPROTO_TCP) {
        struct tcphdr *th = cur->pos;

        if ((void *)(th + 1) > data_end)
            return -XLB_R_DROP_MALFORMED;
        if (th->doff < 5)
            return -XLB_R_DROP_MALFORMED;
        if (cur->pos + th->doff * 4 > data_end || !in_packet(pkt, th, th->doff * 4))
            return -XLB_R_DROP_MALFORMED;
        pkt->key.sport = th->source;
        pkt->key.dport = th->dest;
        pkt->tcp_flags = ((__u8 *)th)[13];
        return 0;
    }
    if (pkt->key.proto == IPPROTO_UDP) {
        struct udphdr *uh = cur->pos;
        __u32 ulen;

        if ((void *)(uh + 1) > data_end || !in_packet(pkt, uh, sizeof(*uh)))
            return -XLB_R_DROP_MALFORMED;
        ulen = bpf_ntohs(uh->len);
        if (ulen < sizeof(*uh) || !in_packet(pkt, uh, ulen))
            return -XLB_R_DROP_MALFORMED;
        pkt->udp_len = ulen;
        pkt->key.sport = uh->source;
        pkt->key.dport = uh->dest;
        return 0;
    }
    return -XLB_R_PASS_NOT_L4;
}

/*
 * The parse stage, a global function: Ethernet and VLAN tags, the IP header
 * and IPv6's extension headers, and (unless a fragment or IPv4 options stop
 * it) the TCP or UDP header, with its verdict in out->l4_rc. Returns 0, or
 * the packet's final -XLB_R_* reason for a frame that is not IP or whose
 * L2 or L3 headers are broken (the kernel judges those).
 */
__attribute__((noinline)) int xlb_parse(struct xdp_md *ctx, struct xlb_parsed *out)
{
    void *data = (void *)(long)ctx->data;
    void *data_end = (void *)(long)ctx->data_end;
    struct hdr_cursor cur = { .pos = data };
    struct xlb_pkt pkt = {};
    struct ethhdr *eth;
    int proto, rc;

    if (!out)
        return -XLB_R_DROP_INTERNAL;
    proto = parse_ethhdr(&cur, data_end, &eth);
    if (proto == -XLB_R_DROP_MALFORMED)
        return -XLB_R_PASS_MALFORMED;
    if (proto < 0)
        return proto;
    if (proto == bpf_htons(ETH_P_IP))
        rc = xlb4_parse(&cur, data_end, &pkt);
    else if (proto == bpf_htons(ETH_P_IPV6))
        rc = xlb6_parse(&cur, data_end, &pkt);
    else
        return -XLB_R_PASS_NOT_IP;
    if (rc == -XLB_R_DROP_MALFORMED)
        return -XLB_R_PASS_MALFORMED; /* bad L3: the kernel drops and counts it */
    if (rc < 0)
        return rc;
    if (cur.pos - data > XLB_L4_OFF_MAX)
        return -XLB_R_PASS_NOT_L4;
    pkt.l3_off = pkt.l3 - data;
    pkt.l4_off = cur.pos - data;
    /* Without a reassembled L4 header there is no port to balance on. */
    if (!pkt.fragment && !pkt.ip_options)
        pkt.l4_rc = parse_l4(&cur, data_end, &pkt);
    *out = pkt.parsed;
    return 0;
}
#endif
