/* SPDX-License-Identifier: Apache-2.0 */
/* Offsets behind the L2 header, written so the verifier accepts them. */
#ifndef XLB_BPF_L2_H
#define XLB_BPF_L2_H
#include "common.h"

/* The longest L2 header: Ethernet and XLB_VLAN_MAX_DEPTH tags. */
#define XLB_L2_MAX (ETH_HLEN + 4 * XLB_VLAN_MAX_DEPTH)

/* An IP header offset a parsed packet can have (xlb_parse()'s l3_off). */
XLB_INLINE bool l3_off_valid(__u32 l3_off)
{
    return l3_off >= ETH_HLEN && l3_off <= XLB_L2_MAX;
}

/* data + l2_len with a constant offset per possible L2 length (14, 18, 22):
 * the verifier refuses a packet pointer plus an unbounded scalar. Callers hide
 * l2_len from the compiler (barrier_var), or it folds this back into one sum. */
XLB_INLINE void *l2_end(void *data, __u32 l2_len)
{
    if (l2_len == ETH_HLEN)
        return data + ETH_HLEN;
    if (l2_len == ETH_HLEN + 4)
        return data + ETH_HLEN + 4;
    return data + ETH_HLEN + 8;
}

/* The frame's length as a plain number: computed apart, or the compiler
 * folds it into pointer arithmetic the verifier refuses. */
XLB_INLINE int frame_len(struct xdp_md *ctx)
{
    long len = (long)ctx->data_end - (long)ctx->data;

    barrier_var(len);
    return (int)len;
}
#endif
