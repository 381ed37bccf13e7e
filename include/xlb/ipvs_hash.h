/* SPDX-License-Identifier: Apache-2.0 */
/*
 * IPVS's scheduler hashes, shared by the XDP program (clang -target bpf) and
 * the C++ table builders, so both sides compute the same buckets:
 *  - hash_32() with GOLDEN_RATIO_32, as sh and dh use it (ip_vs_sh.c, ip_vs_dh.c);
 *  - hsiphash() of one u32, as mh uses it (ip_vs_mh.c). On 64-bit kernels
 *    hsiphash is SipHash-1-3 with a 2 x 64-bit key (lib/siphash.c).
 * Plain C on <linux/types.h>; every function is static inline.
 */
#ifndef XLB_IPVS_HASH_H
#define XLB_IPVS_HASH_H

#include <linux/types.h>

#define XLB_GOLDEN_RATIO_32 0x61C88647u

/* hash_32(val, bits): the top `bits` bits of val * GOLDEN_RATIO_32. */
static inline __u32 xlb_hash_32(__u32 val, unsigned int bits)
{
    return (__u32)(val * XLB_GOLDEN_RATIO_32) >> (32 - bits);
}

/* IPVS folds an IPv6 address by XOR of its four words (network order). The
 * caller converts the result with ntohl, as IPVS does. */
static inline __u32 xlb_addr_fold(const __u32 *words_be, int is_v6)
{
    return is_v6 ? words_be[0] ^ words_be[1] ^ words_be[2] ^ words_be[3] : words_be[0];
}

static inline __u64 xlb_rol64(__u64 w, unsigned int s)
{
    return (w << s) | (w >> (64 - s));
}

#define XLB_SIPROUND                                                                               \
    do {                                                                                           \
        v0 += v1;                                                                                  \
        v1 = xlb_rol64(v1, 13);                                                                    \
        v1 ^= v0;                                                                                  \
        v0 = xlb_rol64(v0, 32);                                                                    \
        v2 += v3;                                                                                  \
        v3 = xlb_rol64(v3, 16);                                                                    \
        v3 ^= v2;                                                                                  \
        v0 += v3;                                                                                  \
        v3 = xlb_rol64(v3, 21);                                                                    \
        v3 ^= v0;                                                                                  \
        v2 += v1;                                                                                  \
        v1 = xlb_rol64(v1, 17);                                                                    \
        v1 ^= v2;                                                                                  \
        v2 = xlb_rol64(v2, 32);                                                                    \
    } while (0)

/* hsiphash(&v, 4, key) on a 64-bit little-endian kernel. */
static inline __u32 xlb_hsiphash_u32(__u32 v, __u64 k0, __u64 k1)
{
    __u64 v0 = 0x736f6d6570736575ULL ^ k0;
    __u64 v1 = 0x646f72616e646f6dULL ^ k1;
    __u64 v2 = 0x6c7967656e657261ULL ^ k0;
    __u64 v3 = 0x7465646279746573ULL ^ k1;
    __u64 b = ((__u64)4 << 56) | v;

    v3 ^= b;
    XLB_SIPROUND;
    v0 ^= b;
    v2 ^= 0xff;
    XLB_SIPROUND;
    XLB_SIPROUND;
    XLB_SIPROUND;
    return (__u32)((v0 ^ v1) ^ (v2 ^ v3));
}

/* ip_vs_mh.c generate_hash_secret(): fixed keys, so every director builds
 * the same table from the same dests. */
#define XLB_MH_HASH1 2654435761ULL
#define XLB_MH_HASH2 2654446892ULL

/* ip_vs_mh_hashkey(): addr_fold_host is ntohl(fold(addr)), port host order. */
static inline __u32 xlb_mh_hashkey(__u32 addr_fold_host, __u16 port, __u64 key, __u32 offset)
{
    return xlb_hsiphash_u32(offset + port + addr_fold_host, key, key);
}

/* ip_vs_sh_hashkey(): port is 0 unless sh-port. */
static inline __u32 xlb_sh_hashkey(__u32 addr_fold_host, __u16 port, __u32 offset)
{
    return (offset + xlb_hash_32(port + addr_fold_host, 8)) & 0xff;
}

#endif
