/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Incremental Internet checksums (RFC 1624) for rewritten headers.
 * bpf_csum_diff() sums ~from and to over whole 32-bit words, seeded with the
 * old checksum's complement; folding and complementing gives the new one.
 */
#ifndef XLB_BPF_CSUM_H
#define XLB_BPF_CSUM_H
#include "common.h"

XLB_INLINE __u16 csum_fold64(__s64 sum)
{
    __u64 s = (__u64)sum;

    s = (s & 0xffffffff) + (s >> 32);
    s = (s & 0xffff) + (s >> 16);
    s = (s & 0xffff) + (s >> 16);
    s = (s & 0xffff) + (s >> 16);
    return (__u16)~s;
}

/* *check covers `size` bytes (a multiple of 4) that change from `from` to `to`. */
XLB_INLINE void csum_replace(__u16 *check, void *from, void *to, __u32 size)
{
    __s64 s = bpf_csum_diff(from, size, to, size, (__u16)~*check);

    *check = csum_fold64(s);
}
#endif
