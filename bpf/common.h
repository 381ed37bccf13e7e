/* SPDX-License-Identifier: Apache-2.0 */
/* Shared by every xlb BPF header: includes, attributes, the packet context. */
#ifndef XLB_BPF_COMMON_H
#define XLB_BPF_COMMON_H
#ifdef __cplusplus
#error "bpf/ headers are for the BPF program only; userspace includes <xlb/abi.h>"
#endif

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <stdbool.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include <xlb/abi.h>

#ifndef __always_inline
#define __always_inline inline __attribute__((always_inline))
#endif
#define XLB_INLINE static __always_inline

/*
 * Jiffies from `then` to `now`, where `now` is this CPU's bpf_jiffies64()
 * and `then` a stamp in shared memory: another CPU may have written a later
 * stamp since this one read the clock. That is no time at all, not an
 * unsigned wrap to 2^64 - 1: a flow a packet touched a jiffy later on
 * another CPU is not expired (the sweeper deleted such live flows, and a
 * packet racing one on another CPU passed its connection to the kernel).
 */
XLB_INLINE __u64 jiffies_since(__u64 now, __u64 then)
{
    return now > then ? now - then : 0;
}

/* barrier_var() (bpf_helpers.h) makes the compiler forget what it knows of a
 * variable, so a bound applied after it is one the verifier sees: 6.1 does not
 * track the range of a byte swap, a mask after the barrier gives it one. */

/* What the parser learns about a packet, and what the later stages need. */
/* The scalar part of a packet's description: what the global functions
 * (verified once, on their own) get by pointer. Nothing in it may be a
 * pointer: the verifier forgets pointers kept in memory handed to them. */
struct xlb_pkt_info {
    struct xlb_flow_key key; /* 5-tuple; daddr:dport is the VIP side */
    __u32 l3_len;            /* IP packet length (IPVS counts these bytes) */
    __u32 mtu;               /* set with -XLB_R_TX_ICMP_TOO_BIG: the egress MTU */
};

/* What xlb_parse() (a global function) hands back: scalars only, offsets
 * from the frame's start instead of pointers. The verifier then checks what
 * follows the parse once, whatever the packet's shape, instead of once per
 * VLAN depth, family and extension-header chain. */
#define XLB_PARSED_FIELDS                                                                         \
    union {                                                                                       \
        struct xlb_pkt_info info;                                                                 \
        struct {                                                                                  \
            struct xlb_flow_key key;                                                              \
            __u32 l3_len;                                                                         \
            __u32 mtu;                                                                            \
        };                                                                                        \
    };                                                                                            \
    __u8 l3_off;    /* the L2 header's length, 14 to 22: where the IP header starts */        \
    __u8 tcp_flags; /* TCP_FLAG_* bits of byte 13 */                                             \
    __s8 l4_rc;     /* parse_l4()'s verdict: 0, or -XLB_R_*; 0 for fragments and IPv4 options */ \
    bool fragment;                                                                                \
    __u16 l4_off;   /* where the header after the IP header (and its extensions) starts */       \
    __u16 udp_len;  /* UDP: the length field, 8 to the IP payload */                             \
    bool ip_options;

_Static_assert(XLB_R_MAX < 128, "l4_rc holds a reason in a signed byte");

struct xlb_parsed {
    XLB_PARSED_FIELDS
};

struct xlb_pkt {
    union {
        struct xlb_parsed parsed;
        struct {
            XLB_PARSED_FIELDS
        };
    };
    void *l3; /* start of the IP header: data + l3_off */
};

/* Offsets past this are not balanced: no XDP frame's linear data is longer. */
#define XLB_L4_OFF_MAX 0x3fff

/* Where p lies from the IP header, as a scalar: bounds by the IP packet
 * (l3_len), not the frame, are checked on these. */
XLB_INLINE __u32 pkt_off(const struct xlb_pkt *pkt, const void *p)
{
    return (__u32)(p - pkt->l3);
}

/* The start of the header after the IP header(s), from l3 (pkt_l4() in
 * place of a pointer kept in the struct: 8 bytes less on xlb_xdp's frame,
 * which 6.1 sums with the deepest call chain's). */
XLB_INLINE void *pkt_l4(const struct xlb_pkt *pkt)
{
    __u32 d = (__u32)pkt->l4_off - pkt->l3_off;

    if (d > XLB_L4_OFF_MAX)
        return NULL;
    return pkt->l3 + d;
}

/* Whether n bytes at p lie inside the IP packet. */
XLB_INLINE bool in_packet(const struct xlb_pkt *pkt, const void *p, __u32 n)
{
    return pkt_off(pkt, p) + n <= pkt->l3_len;
}

/* The L2 header's length, 14, 18 or 22, as a scalar a global function can take. */
#define XLB_L2_LEN(ctx, pkt) ((pkt)->l3_off)

/* TCP flag bits as in byte 13 of the TCP header. */
#define XLB_TCPF_FIN 0x01
#define XLB_TCPF_SYN 0x02
#define XLB_TCPF_RST 0x04
#define XLB_TCPF_ACK 0x10

#endif
