// SPDX-License-Identifier: Apache-2.0
/*
 * XDP_PASS, nothing else. XDP_TX on a veth hands the frame to the peer, and the
 * peer only takes it when it runs an XDP program itself; the lab attaches this
 * one to the bridge side of the director's veth.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "GPL";

SEC("xdp")
int xlb_pass(struct xdp_md *ctx)
{
    return XDP_PASS;
}
