// SPDX-License-Identifier: Apache-2.0
/*
 * xlb_decap: for real servers behind xlb's TUN forwarding whose kernel lacks
 * (or should not need) the ipip, ip6_tunnel or fou modules. Attached with XDP
 * to the real server's interface, it strips what xlb_xdp's tun_encap() adds:
 *   an outer IPv4 or IPv6 header carrying protocol 4 (IPv4) or 41 (IPv6),
 *   optionally inside UDP to xlb_gue_port with a variant-0 GUE header,
 * and passes the inner packet, addressed to the VIP on the server's lo, to the
 * stack. Everything else passes untouched.
 */
#include "common.h"
#include "parse.h"

char LICENSE[] SEC("license") = "GPL";

/* GUE's UDP port (host order); set before load, 6080 by default. */
const volatile __u16 xlb_gue_port = 6080;

struct decap_counts {
    __u64 ipip;
    __u64 gue;
    __u64 passed;
};

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, struct decap_counts);
} decap_stats SEC(".maps");

struct xlb_guehdr {
    __u8 flags_hlen;
    __u8 proto;
    __be16 flags;
};

/* The inner protocol and the outer headers' length after the L2 header, or
 * a negative value if this is not a tunnel packet of ours. */
XLB_INLINE int outer_len(void *outer, void *data_end, __u16 ethertype, __u8 *inner, bool *is_gue)
{
    __u32 iplen;
    __u8 proto;

    if (ethertype == bpf_htons(ETH_P_IP)) {
        struct iphdr *iph = outer;

        if ((void *)(iph + 1) > data_end || iph->ihl != 5 || (iph->frag_off & bpf_htons(0x3fff)))
            return -1;
        proto = iph->protocol;
        iplen = sizeof(*iph);
    } else if (ethertype == bpf_htons(ETH_P_IPV6)) {
        struct ipv6hdr *ip6h = outer;

        if ((void *)(ip6h + 1) > data_end)
            return -1;
        proto = ip6h->nexthdr;
        iplen = sizeof(*ip6h);
    } else {
        return -1;
    }

    if (proto == IPPROTO_IPIP || proto == IPPROTO_IPV6) {
        *inner = proto;
        *is_gue = false;
        return iplen;
    }
    if (proto == IPPROTO_UDP) {
        struct udphdr *uh = outer + iplen;
        struct xlb_guehdr *gh = (void *)(uh + 1);

        if ((void *)(gh + 1) > data_end || uh->dest != bpf_htons(xlb_gue_port))
            return -1;
        /* Variant 0, no options: anything else is not ours to strip. */
        if (gh->flags_hlen != 0 || (gh->proto != IPPROTO_IPIP && gh->proto != IPPROTO_IPV6))
            return -1;
        *inner = gh->proto;
        *is_gue = true;
        return iplen + sizeof(*uh) + sizeof(*gh);
    }
    return -1;
}

SEC("xdp")
int xlb_decap(struct xdp_md *ctx)
{
    void *data = (void *)(long)ctx->data;
    void *data_end = (void *)(long)ctx->data_end;
    struct hdr_cursor cur = { .pos = data };
    struct decap_counts *st;
    struct ethhdr *eth, copy;
    bool is_gue = false;
    __u32 zero = 0;
    __u8 inner = 0;
    int proto, olen;

    st = bpf_map_lookup_elem(&decap_stats, &zero);
    proto = parse_ethhdr(&cur, data_end, &eth);
    /* Tagged frames are left to the stack. */
    if (proto < 0 || cur.pos != data + ETH_HLEN)
        goto pass;
    olen = outer_len(cur.pos, data_end, (__u16)proto, &inner, &is_gue);
    if (olen < 0)
        goto pass;

    __builtin_memcpy(&copy, eth, sizeof(copy));
    copy.h_proto = bpf_htons(inner == IPPROTO_IPIP ? ETH_P_IP : ETH_P_IPV6);
    if (bpf_xdp_adjust_head(ctx, olen))
        goto pass;
    data = (void *)(long)ctx->data;
    data_end = (void *)(long)ctx->data_end;
    eth = data;
    if ((void *)(eth + 1) > data_end)
        return XDP_DROP; /* cannot happen: the inner packet follows */
    __builtin_memcpy(eth, &copy, sizeof(copy));
    if (st) {
        if (is_gue)
            st->gue++;
        else
            st->ipip++;
    }
    return XDP_PASS;
pass:
    if (st)
        st->passed++;
    return XDP_PASS;
}
