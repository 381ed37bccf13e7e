/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Flow tracking with IPVS semantics. The director in DR mode sees only the
 * client-to-server half of a TCP connection, so states follow IPVS's
 * INPUT-ONLY table (net/netfilter/ipvs/ip_vs_proto_tcp.c). Expiry uses the
 * per-state timeouts from config (ipvsadm --set), in jiffies; the LRU map
 * evicts the rest.
 */
#ifndef XLB_BPF_CONNTRACK_H
#define XLB_BPF_CONNTRACK_H
#include "maps.h"

#define sNO XLB_TCP_S_NONE
#define sES XLB_TCP_S_ESTABLISHED
#define sSS XLB_TCP_S_SYN_SENT
#define sSR XLB_TCP_S_SYN_RECV
#define sFW XLB_TCP_S_FIN_WAIT
#define sTW XLB_TCP_S_TIME_WAIT
#define sCL XLB_TCP_S_CLOSE
#define sCW XLB_TCP_S_CLOSE_WAIT
#define sLA XLB_TCP_S_LAST_ACK
#define sLI XLB_TCP_S_LISTEN
#define sSA XLB_TCP_S_SYNACK

/* IPVS's tcp_states[]: three directions of four rows (syn, fin, ack, rst),
 * columns the current state in enum order. A director that sees only the
 * client's half (DR, TUN) uses INPUT-ONLY; NAT sees replies and uses INPUT
 * for client packets and OUTPUT for the server's. */
#define XLB_TCP_DIR_INPUT 0
#define XLB_TCP_DIR_OUTPUT 4
#define XLB_TCP_DIR_INPUT_ONLY 8

static const __u8 tcp_states[12][XLB_TCP_S_LAST] = {
    /*        sNO  sES  sSS  sSR  sFW  sTW  sCL  sCW  sLA  sLI  sSA */
    /* INPUT */
    /*syn*/ { sSR, sES, sES, sSR, sSR, sSR, sSR, sSR, sSR, sSR, sSR },
    /*fin*/ { sCL, sCW, sSS, sTW, sTW, sTW, sCL, sCW, sLA, sLI, sTW },
    /*ack*/ { sES, sES, sSS, sES, sFW, sTW, sCL, sCW, sCL, sLI, sES },
    /*rst*/ { sCL, sCL, sCL, sSR, sCL, sCL, sCL, sCL, sLA, sLI, sSR },
    /* OUTPUT */
    /*syn*/ { sSS, sES, sSS, sSR, sSS, sSS, sSS, sSS, sSS, sLI, sSR },
    /*fin*/ { sTW, sFW, sSS, sTW, sFW, sTW, sCL, sTW, sLA, sLI, sTW },
    /*ack*/ { sES, sES, sSS, sES, sFW, sTW, sCL, sCW, sLA, sES, sES },
    /*rst*/ { sCL, sCL, sSS, sCL, sCL, sTW, sCL, sCL, sCL, sCL, sCL },
    /* INPUT-ONLY */
    /*syn*/ { sSR, sES, sES, sSR, sSR, sSR, sSR, sSR, sSR, sSR, sSR },
    /*fin*/ { sCL, sFW, sSS, sTW, sFW, sTW, sCL, sCW, sLA, sLI, sTW },
    /*ack*/ { sES, sES, sSS, sES, sFW, sTW, sCL, sCW, sCL, sLI, sES },
    /*rst*/ { sCL, sCL, sCL, sSR, sCL, sCL, sCL, sCL, sLA, sLI, sCL },
};

/* IPVS's tcp_state_idx(): rst beats syn beats fin beats ack. */
XLB_INLINE int tcp_event(__u8 flags)
{
    if (flags & XLB_TCPF_RST)
        return 3;
    if (flags & XLB_TCPF_SYN)
        return 0;
    if (flags & XLB_TCPF_FIN)
        return 1;
    if (flags & XLB_TCPF_ACK)
        return 2;
    return -1;
}

XLB_INLINE __u8 tcp_next_state_dir(__u8 state, __u8 flags, __u32 dir)
{
    int ev = tcp_event(flags);
    __u32 idx;

    if (ev < 0)
        return state;
    /* Bound the flat index itself, so the check and the access use the same
     * register whatever the compiler does with `state`. */
    idx = (dir + (__u32)ev) * XLB_TCP_S_LAST + state;
    if (idx >= sizeof(tcp_states))
        return state;
    return ((const __u8 *)tcp_states)[idx];
}


XLB_INLINE __u64 flow_timeout(const struct xlb_config *cfg, __u8 proto, __u8 state)
{
    __u32 s;

    if (proto == IPPROTO_UDP)
        s = cfg->udp_timeout;
    else if (state < XLB_TCP_S_LAST)
        s = cfg->tcp_timeout[state];
    else
        s = 0;
    return (__u64)s * cfg->hz;
}

XLB_INLINE bool flow_expired(const struct xlb_config *cfg, const struct xlb_flow *f,
                             __u8 proto, __u64 now)
{
    return jiffies_since(now, f->last_seen) > flow_timeout(cfg, proto, f->state);
}

/* IPVS's tcp_state_active_table: these states count in ActiveConn. */
XLB_INLINE bool tcp_state_active(__u8 s)
{
    return s == sES || s == sSS || s == sSR || s == sSA;
}

XLB_INLINE bool flow_counts_active(__u8 proto, __u8 state)
{
    return proto == IPPROTO_TCP && tcp_state_active(state);
}

/* A state change that crosses between active and inactive moves the count. */
XLB_INLINE void conn_transition(__u32 id, struct xlb_flow *f, __u8 proto)
{
    bool want = flow_counts_active(proto, f->state);
    bool have = f->flags & XLB_FLOW_F_ACTIVE;
    struct xlb_dest_conns *c;

    if (want == have)
        return;
    c = bpf_map_lookup_elem(&dest_conns, &id);
    if (!c)
        return;
    if (want) {
        __sync_fetch_and_add(&c->active, 1);
        __sync_fetch_and_add(&c->inactive, -1);
        f->flags |= XLB_FLOW_F_ACTIVE;
    } else {
        __sync_fetch_and_add(&c->active, -1);
        __sync_fetch_and_add(&c->inactive, 1);
        f->flags &= ~XLB_FLOW_F_ACTIVE;
    }
}

/* The flow's dest if it is still usable: the slot holds the same generation. */
XLB_INLINE struct xlb_dest *flow_dest(const struct xlb_flow *f)
{
    struct xlb_dest *d = dest_get(f->dest);

    if (!d || !(d->flags & XLB_DEST_F_ACTIVE) || d->gen != f->dest_gen)
        return NULL;
    return d;
}
#endif
