/* SPDX-License-Identifier: Apache-2.0 */
/* Per-CPU counters: verdict reasons, per service, per dest. */
#ifndef XLB_BPF_STATS_H
#define XLB_BPF_STATS_H
#include "maps.h"

XLB_INLINE void stats_reason(__u32 reason)
{
    __u64 *cnt = bpf_map_lookup_elem(&reasons, &reason);

    if (cnt)
        *cnt += 1;
}

XLB_INLINE void stats_add(struct xlb_stats *st, __u32 bytes, bool new_conn)
{
    if (!st)
        return;
    st->inpkts += 1;
    st->inbytes += bytes;
    if (new_conn)
        st->conns += 1;
}

XLB_INLINE void stats_out(struct xlb_stats *st, __u32 bytes)
{
    if (!st)
        return;
    st->outpkts += 1;
    st->outbytes += bytes;
}

/* A NAT reply: IPVS's OutPkts and OutBytes. */
XLB_INLINE void stats_outbound(__u32 svc, __u32 dest, __u32 bytes)
{
    stats_out(bpf_map_lookup_elem(&svc_stats, &svc), bytes);
    stats_out(bpf_map_lookup_elem(&dest_stats, &dest), bytes);
}

/* Per-CPU values need no atomics: XDP runs with migration disabled. */
XLB_INLINE void stats_inbound(__u32 svc, __u32 dest, __u32 bytes, bool new_conn)
{
    stats_add(bpf_map_lookup_elem(&svc_stats, &svc), bytes, new_conn);
    stats_add(bpf_map_lookup_elem(&dest_stats, &dest), bytes, new_conn);
}
#endif
