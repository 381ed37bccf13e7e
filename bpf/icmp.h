/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Path MTU (as IPVS's ensure_mtu_is_adequate()): a packet that would exceed
 * the egress MTU, with what forwarding adds (a TUN header), is answered with
 * ICMP "fragmentation needed" (IPv4 with DF) or ICMPv6 "packet too big",
 * reporting the MTU less that overhead. The error is built in place from the
 * packet and sent back out with XDP_TX:
 *   [L2, MACs swapped][IP: VIP -> client][ICMP][quoted IP header + 8 bytes]
 * Its source is the VIP, the address the client sent to, as the kernel's
 * icmp_send() picks a local destination. An IPv4 packet without DF is
 * dropped and counted: xlb does not fragment.
 *
 * The errors are rate limited as the kernel limits the ICMP errors it sends
 * (Linux 6.12 and later: net/ipv4/icmp.c, inetpeer.c), with the values of
 * its sysctls given at load (struct xlb_config):
 *   - for all clients, icmp_global_allow(): up to icmp_msgs_burst at once,
 *     refilled at icmp_msgs_per_sec, at most a second's worth and only after
 *     HZ/50; checked first, and spent only once the client's own check passed;
 *   - per client, inet_peer_xrlim_allow(): a token bucket in jiffies, one
 *     error per icmp_ratelimit, at most 6 (XRLIM_BURST_FACTOR) in a row; a
 *     client not seen before starts full.
 * The kernel spends 0 to 2 credits of the global bucket at random (a mean of
 * one); xlb spends exactly one. A packet whose error is over the limit is
 * dropped (drop_too_big_limited), as IPVS drops it when icmp_send() is
 * refused.
 */
#ifndef XLB_BPF_ICMP_H
#define XLB_BPF_ICMP_H
#include "common.h"
#include "csum.h"
#include "conntrack.h"
#include "l2.h"

#define XLB_ICMP_QUOTE4 (sizeof(struct iphdr) + 8)
#define XLB_ICMP_QUOTE6 (sizeof(struct ipv6hdr) + 8)

/* XDP_TX of an ICMP error, told apart from a forward in xlb_xdp(). */
#define XLB_ACT_ICMP 0x100

struct icmp4_body {
    __u8 type, code;
    __u16 check;
    __be16 unused;
    __be16 mtu;
    __u8 quote[XLB_ICMP_QUOTE4];
};

struct icmp6_pseudo {
    __u8 saddr[16], daddr[16];
    __be32 len;
    __u8 zero[3], nexthdr;
    __u8 type, code;
    __u16 check;
    __be32 mtu;
    __u8 quote[XLB_ICMP_QUOTE6];
};

/* Swaps the MACs of the saved L2 header: the error goes back where the packet came from. */
XLB_INLINE void l2_reply(__u8 *l2)
{
    __u8 tmp[ETH_ALEN];

    __builtin_memcpy(tmp, l2, ETH_ALEN);
    __builtin_memcpy(l2, l2 + ETH_ALEN, ETH_ALEN);
    __builtin_memcpy(l2 + ETH_ALEN, tmp, ETH_ALEN);
}

/* Turns the frame into [saved L2][l3_new bytes]: `grow` bytes more in front,
 * the tail cut. Returns where the new L3 header goes, or NULL. */
XLB_INLINE void *icmp_reshape(struct xdp_md *ctx, const __u8 *l2, __u32 l2_len, __u32 grow, __u32 l3_new)
{
    void *data, *data_end;

    if (bpf_xdp_adjust_head(ctx, -(int)grow))
        return NULL;
    if (bpf_xdp_adjust_tail(ctx, (int)(l2_len + l3_new) - frame_len(ctx)))
        return NULL;
    data = (void *)(long)ctx->data;
    data_end = (void *)(long)ctx->data_end;
    if (data + XLB_L2_MAX > data_end)
        return NULL;
    __builtin_memcpy(data, l2, XLB_L2_MAX);
    return l2_end(data, l2_len);
}

/* icmp_global_allow(): may an error go, as far as all clients go? Refills
 * the bucket when it is empty. */
XLB_INLINE bool icmp_credit_allow(const struct xlb_config *cfg, __u32 now)
{
    struct xlb_icmp_credit *c;
    __u32 zero = 0, delta;
    __s64 credit;
    __u64 incr;
    bool ok = true;

    c = bpf_map_lookup_elem(&icmp_credit, &zero);
    if (!c)
        return false;
    bpf_spin_lock(&c->lock);
    if (c->credit <= 0) {
        delta = jiffies_since(now, c->stamp);
        if (delta > cfg->hz)
            delta = cfg->hz;
        incr = cfg->hz ? (__u64)cfg->icmp_msgs_per_sec * delta / cfg->hz : 0;
        if (delta < cfg->hz / 50 || !incr) {
            ok = false;
        } else {
            c->stamp = now;
            credit = c->credit + (__s64)incr;
            if (credit > cfg->icmp_msgs_burst)
                credit = cfg->icmp_msgs_burst;
            c->credit = (__s32)credit;
        }
    }
    bpf_spin_unlock(&c->lock);
    return ok;
}

/* icmp_global_consume(), with one credit. */
XLB_INLINE void icmp_credit_spend(void)
{
    struct xlb_icmp_credit *c;
    __u32 zero = 0;

    c = bpf_map_lookup_elem(&icmp_credit, &zero);
    if (!c)
        return;
    bpf_spin_lock(&c->lock);
    c->credit -= 1;
    bpf_spin_unlock(&c->lock);
}

/* inet_peer_xrlim_allow() for the client of key, tokens in jiffies. */
XLB_INLINE bool icmp_peer_allow(const struct xlb_flow_key *key, const struct xlb_config *cfg, __u64 now)
{
    struct xlb_icmp_peer_key k = {};
    struct xlb_icmp_peer fresh = {}, *p;
    __u64 timeout, token;
    bool ok = false;

    /* msecs_to_jiffies(), as the sysctl stores it. */
    timeout = ((__u64)cfg->icmp_ratelimit_ms * cfg->hz + 999) / 1000;
    if (!timeout)
        return true;
    __builtin_memcpy(&k.addr, &key->saddr, sizeof(k.addr));
    k.af = key->af;
    p = bpf_map_lookup_elem(&icmp_peers, &k);
    if (!p) {
        /* inet_getpeer(): rate_last 60 s back, so the first count is full. */
        fresh.last = now - 60 * (__u64)cfg->hz;
        bpf_map_update_elem(&icmp_peers, &k, &fresh, BPF_NOEXIST);
        p = bpf_map_lookup_elem(&icmp_peers, &k);
        if (!p)
            return true; /* the kernel too lets an error go without a peer */
    }
    token = p->tokens + jiffies_since(now, p->last);
    p->last = now;
    if (token > 6 * timeout)
        token = 6 * timeout;
    if (token >= timeout) {
        token -= timeout;
        ok = true;
    }
    p->tokens = token;
    return ok;
}

/* The kernel's order in __icmp_send(): the global check, the client's, and
 * the global credit spent only when both let the error go. */
XLB_INLINE bool icmp_rate_allow(const struct xlb_flow_key *key)
{
    const struct xlb_config *cfg;
    __u32 zero = 0;
    __u64 now = bpf_jiffies64();

    cfg = bpf_map_lookup_elem(&config, &zero);
    if (!cfg)
        return false;
    if (!icmp_credit_allow(cfg, (__u32)now))
        return false;
    if (!icmp_peer_allow(key, cfg, now))
        return false;
    icmp_credit_spend();
    return true;
}

/* A global function, verified once; l2_len is XLB_L2_LEN() of the packet. */
__attribute__((noinline)) int icmp_too_big(struct xdp_md *ctx, struct xlb_pkt_info *pkt, __u32 mtu, __u32 l2_len)
{
    void *data = (void *)(long)ctx->data;
    void *data_end = (void *)(long)ctx->data_end;
    __u8 l2[XLB_L2_MAX];
    __u32 l3_new, hdr;
    void *l3;

    if (!pkt)
        return -XLB_R_DROP_INTERNAL;
    /* Hide the value from the compiler: knowing it is 14, 18 or 22 it would
     * turn l2_end() back into data + l2_len, which the verifier refuses. */
    barrier_var(l2_len);
    if (l2_len != ETH_HLEN && l2_len != ETH_HLEN + 4 && l2_len != ETH_HLEN + 8)
        return -XLB_R_DROP_INTERNAL;
    if (data + XLB_L2_MAX > data_end)
        return -XLB_R_DROP_INTERNAL;
    __builtin_memcpy(l2, data, XLB_L2_MAX);
    l2_reply(l2);
    if (pkt->key.af == XLB_AF_INET) {
        struct iphdr *orig = l2_end(data, l2_len);

        if ((void *)orig + sizeof(*orig) > data_end)
            return -XLB_R_DROP_INTERNAL;
        if (!(orig->frag_off & bpf_htons(0x4000)))
            return -XLB_R_DROP_TOO_BIG;
    }
    if (!icmp_rate_allow(&pkt->key))
        return -XLB_R_DROP_TOO_BIG_LIMITED;
    data = (void *)(long)ctx->data;
    data_end = (void *)(long)ctx->data_end;

    if (pkt->key.af == XLB_AF_INET) {
        struct icmp4_body body = {};
        struct iphdr ip = {};
        struct iphdr *orig = l2_end(data, l2_len);

        if ((void *)orig + XLB_ICMP_QUOTE4 > data_end)
            return -XLB_R_DROP_INTERNAL;
        __builtin_memcpy(body.quote, orig, XLB_ICMP_QUOTE4);
        body.type = 3; /* destination unreachable */
        body.code = 4; /* fragmentation needed and DF set */
        body.mtu = bpf_htons(mtu);
        body.check = csum_fold64(bpf_csum_diff(NULL, 0, (void *)&body, sizeof(body), 0));
        hdr = sizeof(ip);
        l3_new = hdr + sizeof(body);
        ip.version = 4;
        ip.ihl = 5;
        ip.tot_len = bpf_htons(l3_new);
        ip.ttl = 64;
        ip.protocol = IPPROTO_ICMP;
        ip.saddr = orig->daddr;
        ip.daddr = orig->saddr;
        ip.check = csum_fold64(bpf_csum_diff(NULL, 0, (void *)&ip, sizeof(ip), 0));

        l3 = icmp_reshape(ctx, l2, l2_len, hdr + sizeof(body) - XLB_ICMP_QUOTE4, l3_new);
        data_end = (void *)(long)ctx->data_end;
        if (!l3 || l3 + sizeof(ip) + sizeof(body) > data_end)
            return -XLB_R_DROP_INTERNAL;
        __builtin_memcpy(l3, &ip, sizeof(ip));
        __builtin_memcpy(l3 + sizeof(ip), &body, sizeof(body));
        return XLB_ACT_ICMP | XDP_TX;
    }

    {
        struct icmp6_pseudo ps = {};
        struct ipv6hdr ip6 = {};
        struct ipv6hdr *orig = l2_end(data, l2_len);
        __u32 icmp_len = 8 + XLB_ICMP_QUOTE6;

        if ((void *)orig + XLB_ICMP_QUOTE6 > data_end)
            return -XLB_R_DROP_INTERNAL;
        if (mtu < 1280)
            mtu = 1280;
        __builtin_memcpy(ps.quote, orig, XLB_ICMP_QUOTE6);
        __builtin_memcpy(ps.saddr, &orig->daddr, 16);
        __builtin_memcpy(ps.daddr, &orig->saddr, 16);
        ps.len = bpf_htonl(icmp_len);
        ps.nexthdr = IPPROTO_ICMPV6;
        ps.type = 2; /* packet too big */
        ps.mtu = bpf_htonl(mtu);
        ps.check = csum_fold64(bpf_csum_diff(NULL, 0, (void *)&ps, sizeof(ps), 0));
        hdr = sizeof(ip6);
        l3_new = hdr + icmp_len;
        ip6.version = 6;
        ip6.payload_len = bpf_htons(icmp_len);
        ip6.nexthdr = IPPROTO_ICMPV6;
        ip6.hop_limit = 64;
        __builtin_memcpy(&ip6.saddr, ps.saddr, 16);
        __builtin_memcpy(&ip6.daddr, ps.daddr, 16);

        l3 = icmp_reshape(ctx, l2, l2_len, hdr + icmp_len - XLB_ICMP_QUOTE6, l3_new);
        data_end = (void *)(long)ctx->data_end;
        if (!l3 || l3 + sizeof(ip6) + 8 + XLB_ICMP_QUOTE6 > data_end)
            return -XLB_R_DROP_INTERNAL;
        __builtin_memcpy(l3, &ip6, sizeof(ip6));
        /* type, code, check, mtu, quote: the tail of the pseudo-header struct */
        __builtin_memcpy(l3 + sizeof(ip6), &ps.type, 8 + XLB_ICMP_QUOTE6);
        return XLB_ACT_ICMP | XDP_TX;
    }
}
#endif

/*
 * An ICMP error sent to a VIP about a flow xlb tracks: the packet it quotes is
 * that flow's reply (VIP:vport -> client), which the server sent directly (DR,
 * TUN) or through the director (NAT). As IPVS's ip_vs_in_icmp() does, the
 * error goes to the flow's server, so that its TCP learns of it (a smaller
 * path MTU, say). For NAT the VIP in it becomes the server's address again:
 * the outer destination, the quoted source address and port, and the
 * checksums. Anything else is left to the kernel.
 */
XLB_INLINE bool icmp4_is_error(__u8 type)
{
    return type == 3 || type == 11 || type == 12; /* unreachable, time exceeded, parameter problem */
}

XLB_INLINE bool icmp6_is_error(__u8 type)
{
    return type >= 1 && type <= 4; /* unreachable, too big, time exceeded, parameter problem */
}

/* Finds the flow the ICMP error at `icmp` is about; its dest id, or -1. */
static __attribute__((noinline)) long icmp_related_flow(struct xdp_md *ctx, struct xlb_pkt *pkt, void *icmp)
{
    void *data_end = (void *)(long)ctx->data_end;
    const struct xlb_config *cfg;
    struct xlb_flow_key k = {};
    __u8 *hdr = icmp;
    struct xlb_flow *f;
    __u32 zero = 0;
    __be16 *ports;

    /* The ICMP header and the quote it carries lie inside the IP packet. */
    if (!pkt || !hdr || hdr + 8 > (__u8 *)data_end || !in_packet(pkt, hdr, 8))
        return -1;
    if (pkt->key.af == XLB_AF_INET) {
        struct iphdr *in = icmp + 8;

        if (pkt->key.proto != IPPROTO_ICMP || !icmp4_is_error(hdr[0]))
            return -1;
        if ((void *)(in + 1) + 4 > data_end || in->ihl != 5 || !in_packet(pkt, in, sizeof(*in) + 4))
            return -1;
        ports = (void *)(in + 1);
        k.af = XLB_AF_INET;
        k.proto = in->protocol;
        k.saddr.v4 = in->daddr; /* the client */
        k.daddr.v4 = in->saddr; /* the VIP */
    } else {
        struct ipv6hdr *in6 = icmp + 8;

        if (pkt->key.proto != IPPROTO_ICMPV6 || !icmp6_is_error(hdr[0]))
            return -1;
        if ((void *)(in6 + 1) + 4 > data_end || !in_packet(pkt, in6, sizeof(*in6) + 4))
            return -1;
        ports = (void *)(in6 + 1);
        k.af = XLB_AF_INET6;
        k.proto = in6->nexthdr;
        __builtin_memcpy(k.saddr.v6, &in6->daddr, 16);
        __builtin_memcpy(k.daddr.v6, &in6->saddr, 16);
    }
    if (k.proto != IPPROTO_TCP && k.proto != IPPROTO_UDP)
        return -1;
    k.sport = ports[1];
    k.dport = ports[0];
    cfg = bpf_map_lookup_elem(&config, &zero);
    f = bpf_map_lookup_elem(&flows, &k);
    if (!f)
        f = bpf_map_lookup_elem(&embryos, &k);
    if (!cfg || !f || flow_expired(cfg, f, k.proto, bpf_jiffies64()) || !flow_dest(f))
        return -1;
    return f->dest;
}

/* NAT: the quoted reply's source VIP:vport becomes the server's address and
 * port, as does the error's destination. */
static __attribute__((noinline)) int icmp_nat_rewrite(struct xdp_md *ctx, struct xlb_pkt *pkt, void *icmp,
                                                      __u32 dest_id)
{
    void *data_end = (void *)(long)ctx->data_end;
    struct xlb_dest *d = dest_get(dest_id);
    __u16 *icheck = icmp + 2;
    __be16 *ports, old_ports[2], new_ports[2];

    if (!d || !pkt || icmp + 8 > data_end)
        return -XLB_R_DROP_INTERNAL;
    if (pkt->key.af == XLB_AF_INET) {
        struct iphdr *outer = pkt->l3;
        struct iphdr *in = icmp + 8;
        __be32 old;

        if (!outer || (void *)(outer + 1) > data_end || (void *)(in + 1) + 4 > data_end)
            return -XLB_R_DROP_INTERNAL;
        ports = (void *)(in + 1);
        __builtin_memcpy(old_ports, ports, 4);
        new_ports[0] = d->port;
        new_ports[1] = old_ports[1];
        old = in->saddr;
        /* The quoted header's checksum, then the ICMP checksum over every byte
         * that changed in the quote (including that header checksum). */
        {
            __u16 old_check = in->check;

            csum_replace(&in->check, &old, &d->addr.v4, 4);
            __u32 oc = old_check, nc = in->check;
            csum_replace(icheck, &oc, &nc, 4);
        }
        csum_replace(icheck, &old, &d->addr.v4, 4);
        csum_replace(icheck, old_ports, new_ports, 4);
        in->saddr = d->addr.v4;
        __builtin_memcpy(ports, new_ports, 4);
        old = outer->daddr;
        csum_replace(&outer->check, &old, &d->addr.v4, 4);
        outer->daddr = d->addr.v4;
        pkt->key.daddr = d->addr;
        return 0;
    }
    {
        struct ipv6hdr *outer6 = pkt->l3;
        struct ipv6hdr *in6 = icmp + 8;
        union xlb_addr old;

        if (!outer6 || (void *)(outer6 + 1) > data_end || (void *)(in6 + 1) + 4 > data_end)
            return -XLB_R_DROP_INTERNAL;
        ports = (void *)(in6 + 1);
        __builtin_memcpy(old_ports, ports, 4);
        new_ports[0] = d->port;
        new_ports[1] = old_ports[1];
        /* ICMPv6's checksum covers the outer destination (pseudo-header) and
         * the quoted source: both change from the VIP to the server. */
        __builtin_memcpy(old.v6, &in6->saddr, 16);
        csum_replace(icheck, old.v6, (void *)d->addr.v6, 16);
        csum_replace(icheck, old.v6, (void *)d->addr.v6, 16);
        csum_replace(icheck, old_ports, new_ports, 4);
        __builtin_memcpy(&in6->saddr, d->addr.v6, 16);
        __builtin_memcpy(&outer6->daddr, d->addr.v6, 16);
        __builtin_memcpy(ports, new_ports, 4);
        pkt->key.daddr = d->addr;
        return 0;
    }
}
