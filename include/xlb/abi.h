/* SPDX-License-Identifier: Apache-2.0 */
/*
 * xlb ABI: the only definition of every BPF map key and value, shared by the
 * XDP program (clang -target bpf) and the C++ control plane (g++).
 *
 * Plain C on <linux/types.h>. Byte order is carried by the type (__be16/__be32
 * are network order). Padding is explicit; the C++ side checks sizes and
 * offsets with static_asserts at the bottom of this file.
 */
#ifndef XLB_ABI_H
#define XLB_ABI_H

#include <linux/bpf.h> /* struct bpf_timer */
#include <linux/types.h>

/*
 * Compile-time bounds. Map sizes are chosen at load time within these.
 *
 * Dests per service, by scheduler. The hashed and sequenced schedulers (rr
 * wrr sh dh mh) pick in O(1) whatever the count; the scanning ones (lc wlc
 * sed nq fo ovf twos) look at every dest of the service for each new flow, so
 * their bound is the scan bound: a new flow costs at most
 * XLB_MAX_DESTS_SCANNED member reads (twos: two passes).
 */
#ifndef XLB_MAX_DESTS_HASHED
#define XLB_MAX_DESTS_HASHED 4096
#endif
#ifndef XLB_MAX_DESTS_SCANNED
#define XLB_MAX_DESTS_SCANNED 1024
#endif

/* sh and dh: IPVS's weight-filled table of 2^8 buckets. */
#define XLB_SH_TAB_BITS 8
#define XLB_SH_TAB_SIZE (1 << XLB_SH_TAB_BITS)
#define XLB_NO_DEST 0xffffffffu

/* mh (Maglev): the lookup table size is a prime chosen at load. */
#define XLB_DEFAULT_MH_SIZE 4093 /* Debian's IPVS: CONFIG_IP_VS_MH_TAB_INDEX=12 */

#define XLB_DEFAULT_MAX_SERVICES 1024
#define XLB_DEFAULT_MAX_DESTS 8192
#define XLB_DEFAULT_MAX_FLOWS (1024 * 1024)

#define XLB_VLAN_MAX_DEPTH 2
#define XLB_IPV6_EXT_MAX 6

/* Address families as stored in maps (values of AF_INET / AF_INET6). */
#define XLB_AF_INET 2
#define XLB_AF_INET6 10

/* An IPv4 or IPv6 address in network order. IPv4 uses v4 (= v6[0]); the
 * other three words are zero, so keys compare bytewise. */
union xlb_addr {
    __be32 v4;
    __be32 v6[4];
    __u8 bytes[16];
};

/* services: {af, proto, vip, vport} -> service index. vport 0 is the
 * all-port service, looked up when the exact port misses. */
struct xlb_svc_key {
    union xlb_addr vip;
    __be16 vport;
    __u8 proto; /* IPPROTO_TCP / IPPROTO_UDP */
    __u8 af;
};

/*
 * The published table is double-buffered: svc_index, vips, svcs, dests,
 * sched_tables and mh_tables hold two sides, and table_ctl[0].side says which
 * one packets read. A writer builds the other side, then publishes it with
 * one update of table_ctl: a packet sees the old table or the new one, never
 * a mix, whenever the writer dies. Slot i of side s is at i + s * max (the
 * map's size is twice the configured maximum); hash keys carry the side.
 */
struct xlb_svc_index_key {
    struct xlb_svc_key svc;
    __u32 side;
};

/* table_ctl[0]. Only the data path's read of `side` is on the packet path. */
#define XLB_TABLE_CLEAN 0     /* both sides hold the published table */
#define XLB_TABLE_BUILDING 1  /* the unpublished side is being written (or its writer died) */
#define XLB_TABLE_PUBLISHED 2 /* flipped; the unpublished side still holds the table before */
struct xlb_table_ctl {
    __u32 side;    /* 0 or 1: the side packets read */
    __u32 state;   /* XLB_TABLE_* */
    __u64 seq;     /* publishes so far; listings retry if it moves under them */
    __u64 flip_ns; /* CLOCK_MONOTONIC of the last publish */
    __u32 journal_len; /* entries of journal[] the last writer touched */
    /* The published side's size, so that a writer that touches a few
     * services reads only those: */
    __u32 nsvcs;    /* active services */
    __u32 ndests;   /* active dests */
    __u32 svc_next;  /* where a partial write looks first for a free service slot */
    __u32 dest_next; /* and for a free dest slot (next fit, wrapping) */
    __u32 pad;
};

/* journal[i], i < journal_len: the slots the last writer touched on the
 * unpublished side. The next writer copies them from the published side so
 * that both sides agree again before it builds. */
#define XLB_JOURNAL_SVC 1  /* svcs, sched_tables, mh_tables at idx */
#define XLB_JOURNAL_DEST 2 /* dests at idx */
#define XLB_JOURNAL_KEY 3  /* svc_index at key */
#define XLB_JOURNAL_VIP 4  /* vips at key */
struct xlb_journal_entry {
    __u32 kind;
    __u32 idx;
    struct xlb_svc_key key;
};

/* Scheduler ids. The names are ipvsadm's. */
enum xlb_sched {
    XLB_SCHED_RR = 0,
    XLB_SCHED_WRR,
    XLB_SCHED_LC,
    XLB_SCHED_WLC,
    XLB_SCHED_SED,
    XLB_SCHED_NQ,
    XLB_SCHED_SH,
    XLB_SCHED_DH,
    XLB_SCHED_MH,
    XLB_SCHED_FO,
    XLB_SCHED_OVF,
    XLB_SCHED_TWOS,
    XLB_SCHED_LBLC,
    XLB_SCHED_LBLCR,
    XLB_SCHED_MAX,
};

/* Forwarding methods, as ipvsadm -g / -i / -m. */
enum xlb_fwd {
    XLB_FWD_DR = 0,
    XLB_FWD_TUN = 1,
    XLB_FWD_NAT = 2,
};

#define XLB_SVC_F_ACTIVE (1u << 0)
/* ipvs_flags bits, with IPVS's values (IP_VS_SVC_F_*). */
#define XLB_IPVS_SVC_F_PERSISTENT 0x0001
#define XLB_IPVS_SVC_F_HASHED 0x0002
#define XLB_IPVS_SVC_F_ONEPACKET 0x0004
#define XLB_IPVS_SVC_F_SCHED1 0x0008 /* sh-fallback, mh-fallback */
#define XLB_IPVS_SVC_F_SCHED2 0x0010 /* sh-port, mh-port */
#define XLB_IPVS_SVC_F_SCHED3 0x0020
/* xlb's own bits, above IPVS's: --pe sip (persistence by SIP Call-ID). */
#define XLB_SVC_PE_SIP (1u << 16)

#define XLB_DEFAULT_PERSIST_TIMEOUT 360 /* ipvsadm -p without a value */

/* svcs[idx]: a service's configuration, readable back for -L / -S. */
struct xlb_svc {
    struct xlb_svc_key key;
    __u32 flags;       /* XLB_SVC_F_* */
    __u32 sched;       /* enum xlb_sched */
    __u32 ipvs_flags;  /* IP_VS_SVC_F_* as ipvsadm shows them (persistent, ...) */
    __u32 timeout;     /* persistence timeout, seconds */
    __u32 netmask;     /* persistence: IPv4 netmask (host order) or IPv6 prefix length */
    __u32 first_dest;  /* the first dest in list order, XLB_NO_DEST: none; dests[].next links the rest */
};

#define XLB_DEST_F_ACTIVE (1u << 0)

/* dests[id]: one real server. A slot is never reused while conntrack may
 * point at it without its generation changing: conntrack stores
 * {dest id, gen}, and a mismatch means the dest was deleted. */
struct xlb_dest {
    union xlb_addr addr;
    __be16 port;
    __u8 af;
    __u8 fwd;          /* enum xlb_fwd */
    __u32 flags;       /* XLB_DEST_F_* */
    __u32 gen;
    __u32 svc;         /* owning service index */
    __s32 weight;
    __u32 u_threshold;
    __u32 l_threshold;
    __u32 order;       /* insertion counter: IPVS lists (and schedules) newest first */
    __s32 last_weight; /* the last weight > 0: mh keeps a quiesced dest's slots (IPVS) */
    __be16 tun_port;   /* TUN with GUE: the UDP destination port */
    __u8 tun_type;     /* enum xlb_tun_type */
    __u8 tun_flags;    /* XLB_TUN_F_* */
    union xlb_addr tun_src; /* TUN: the outer source, the director's address toward the dest */
    __u32 next;        /* the service's next dest in list order, XLB_NO_DEST: the last */
};

/* ipvsadm --tun-type, with IPVS's values. */
enum xlb_tun_type {
    XLB_TUN_IPIP = 0,
    XLB_TUN_GUE = 1,
    XLB_TUN_GRE = 2,
};

/* ipvsadm --tun-csum / --tun-remcsum (none: --tun-nocsum), IPVS's values. */
#define XLB_TUN_F_CSUM (1u << 0)
#define XLB_TUN_F_REMCSUM (1u << 1)

/*
 * A service's scheduling table, built aside by userspace and swapped into
 * sched_tables[svc] with one map-in-map update, so a packet sees the old or the
 * new dest set, never half of one.
 *
 * IPVS wrr walks the dest list at a "current weight" cw that steps down from
 * the max weight by the gcd; at each cw it picks, in list order, the dests
 * whose weight is >= cw. Between two consecutive distinct weights the picked
 * set does not change, so the sequence is a list of bands, each a set of dests
 * (in list order) repeated `repeats` times. rr is the single band of all
 * dests with weight > 0. A per-CPU cursor {band, rep, pos} makes the next
 * pick O(1) whatever the weights.
 *
 * Layout. The inner map is an ARRAY of 64-byte chunks (union xlb_sched_chunk)
 * created with BPF_F_INNER_MAP, so each service's inner map has its own
 * max_entries: exactly the chunks its scheduler needs, nothing sized for the
 * worst case. Chunk 0 is the header (struct xlb_sched_table); the regions
 * after it start at the chunk the header names and hold only what the
 * scheduler reads:
 *
 *   rr wrr               bands (4 a chunk), then flat dest ids (16 a chunk)
 *   lc wlc sed nq fo ovf twos   members {id, weight} (8 a chunk)
 *   sh dh                the 256 buckets (16 chunks)
 *   mh                   nothing here: its table is mh_tables[svc]
 *
 * Bytes per table: 64 * (1 + ceil(nbands/4) + ceil(flat_len/16)
 *                           + ceil(nmembers/8) + (sh|dh ? 16 : 0)).
 * rr: nbands 1, flat_len <= n. wrr: nbands <= d, the number of distinct
 * weights, and flat_len = the sum of the band sizes <= n * d, so wrr grows
 * with n * d: 4,096 dests of one weight take 16 KB, of 16 weights about
 * 256 KB, and of 4,096 distinct weights (the worst case) 33 MB. Scanned
 * members: 8 bytes each (8 KB at 1,024).
 */
struct xlb_sched_band {
    __u32 off;     /* first entry in the flat ids */
    __u32 len;     /* entries in the set */
    __u32 repeats; /* times the set is walked before the next band */
    __u32 pad;
};

/* A dest as the scheduler sees it, in IPVS list order (newest first). */
struct xlb_sched_member {
    __u32 id;
    __s32 weight;
};

/*
 * Chunk 0 of a service's table: everything the data path needs to schedule a
 * service's new flows besides the regions, swapped as one: the scheduler, its
 * flags, persistence, and where each region starts.
 */
struct xlb_sched_table {
    __u32 gen;     /* changes on every rebuild; a cursor of another gen starts from the top */
    __u32 nbands;  /* rr/wrr: 0 means no dest can take new flows */
    __u32 flat_len;
    __u32 sched;   /* enum xlb_sched */
    __u32 nmembers;
    __u32 ipvs_flags; /* XLB_IPVS_SVC_F_*: persistence, scheduler flags */
    __u32 timeout;    /* persistence timeout, seconds */
    __be32 netmask;   /* persistence mask: IPv4 netmask, or IPv6 prefix length (host order) */
    __u32 bands_at;   /* chunk of bands[0] (rr, wrr) */
    __u32 flat_at;    /* chunk of the first flat id (rr, wrr) */
    __u32 members_at; /* chunk of members[0] (scanning schedulers) */
    __u32 buckets_at; /* chunk of buckets[0] (sh, dh); 0: none */
    __u32 nchunks;    /* chunks the table uses; its inner map may hold more, zeroed */
    __u32 pad[3];
};

#define XLB_SCHED_CHUNK_IDS 16
#define XLB_SCHED_CHUNK_MEMBERS 8
#define XLB_SCHED_CHUNK_BANDS 4
#define XLB_SH_TAB_CHUNKS (XLB_SH_TAB_SIZE / XLB_SCHED_CHUNK_IDS)

union xlb_sched_chunk {
    struct xlb_sched_table hdr;
    __u32 ids[XLB_SCHED_CHUNK_IDS]; /* flat ids, buckets: dest ids (XLB_NO_DEST: empty) */
    struct xlb_sched_member members[XLB_SCHED_CHUNK_MEMBERS];
    struct xlb_sched_band bands[XLB_SCHED_CHUNK_BANDS];
};

/* dest_conns[id]: connection counts, shared by all CPUs and updated with
 * atomics in XDP; the sweeper recounts them from the flow table. */
struct xlb_dest_conns {
    __u32 active;     /* IPVS ActiveConn */
    __u32 inactive;   /* IPVS InActConn */
    __u32 persist;    /* IPVS PersistConn: live persistence templates */
    __u32 overloaded; /* IPVS's IP_VS_DEST_F_OVERLOAD, from -x / -y */
};

/* persist: {service, masked client[, SIP Call-ID]} -> the dest it sticks to. */
struct xlb_persist_key {
    union xlb_addr client; /* masked */
    __u32 svc;
    __u8 af;
    __u8 pad[3];
    __u32 pe_hash; /* --pe sip: FNV-1a of the Call-ID; 0 without one */
};

struct xlb_persist {
    __u64 last_seen; /* jiffies */
    __u32 dest;
    __u32 dest_gen;
};

/* sched_cursor[svc] (per CPU): where the next rr/wrr pick starts. The
 * writer carries it across a change of the service's table as IPVS carries
 * its sched_data (userspace/sched/cursor.cpp); a cursor of another gen than
 * the table's starts from the top. */
struct xlb_sched_cursor {
    __u32 gen;    /* the table it belongs to */
    __u32 band;
    __u32 rep;
    __u32 pos;
    __u32 anchor; /* set by the writer: IPVS's last-chosen dest (XLB_NO_DEST:
                   * the list head); XLB_CURSOR_MOVED once a packet moved it */
    __u32 pad;
};
#define XLB_CURSOR_MOVED 0xfffffffeu

/* IPVS TCP states (include/net/ip_vs.h order). */
enum xlb_tcp_state {
    XLB_TCP_S_NONE = 0,
    XLB_TCP_S_ESTABLISHED,
    XLB_TCP_S_SYN_SENT,
    XLB_TCP_S_SYN_RECV,
    XLB_TCP_S_FIN_WAIT,
    XLB_TCP_S_TIME_WAIT,
    XLB_TCP_S_CLOSE,
    XLB_TCP_S_CLOSE_WAIT,
    XLB_TCP_S_LAST_ACK,
    XLB_TCP_S_LISTEN,
    XLB_TCP_S_SYNACK,
    XLB_TCP_S_LAST,
};
/* UDP flows use one pseudo-state. */
#define XLB_UDP_S_NORMAL 0

/* conntrack: 5-tuple -> flow. Addresses as in xlb_addr. */
struct xlb_flow_key {
    union xlb_addr saddr;
    union xlb_addr daddr;
    __be16 sport;
    __be16 dport;
    __u8 proto;
    __u8 af;
    __u8 pad[2];
};

#define XLB_FLOW_F_ACTIVE (1u << 0)  /* counted in dest_conns.active (else inactive) */
#define XLB_FLOW_F_PERSIST (1u << 1) /* keeps a persistence template alive */
#define XLB_FLOW_F_NAT (1u << 2)     /* sees replies: IPVS's INPUT and OUTPUT state tables */
#define XLB_FLOW_F_OPS (1u << 3)     /* -o on UDP: scheduled alone, never stored */

/* nat_rev: a NAT dest's reply 5-tuple {dest -> client} -> the flow it
 * answers, whose daddr:dport is the VIP the reply must come from. */
struct xlb_nat_rev {
    struct xlb_flow_key fwd;
};

struct xlb_flow {
    __u64 last_seen;    /* bpf_jiffies64() of the last packet */
    __u32 dest;         /* dest id */
    __u32 dest_gen;
    __u32 svc;
    __u8 state;         /* enum xlb_tcp_state, or XLB_UDP_S_NORMAL */
    __u8 flags;         /* XLB_FLOW_F_* */
    __u8 pad[2];
};

/* Per-CPU counters, per service (svc_stats[svc]) and dest (dest_stats[id]),
 * with IPVS's meaning: bytes are IP packet lengths. */
struct xlb_stats {
    __u64 conns;
    __u64 inpkts;
    __u64 inbytes;
    __u64 outpkts;
    __u64 outbytes;
};

/* Runtime settings, config[0]. Timeouts in seconds, as ipvsadm --set. Time in
 * the data path is bpf_jiffies64(), the cheapest clock XDP can read. */
#define XLB_CFG_F_DROP_FRAGS (1u << 0)   /* drop fragments and IPv4 options to a VIP instead of passing */
#define XLB_CFG_F_NAT (1u << 1)          /* a NAT dest exists: look for replies in nat_rev */

struct xlb_config {
    __u32 tcp_timeout[XLB_TCP_S_LAST];
    __u32 udp_timeout;
    __u32 flags;        /* XLB_CFG_F_* */
    __u32 fib_cache_ms; /* reuse a dest's bpf_fib_lookup() answer this long; 0: never */
    __u32 hz;           /* the kernel's CONFIG_HZ: jiffies per second (set at load) */
    __u32 sweep_ms;     /* how often the sweeper recounts connections */
    __u32 mh_size;      /* Maglev table size (set at load, read-only) */
    __u32 est_ms;       /* rate estimator period; IPVS's is 2 s (0 means that too) */
    /* The path-MTU errors xlb sends (bpf/icmp.h), limited as the kernel
     * limits its ICMP errors (set at load): */
    __u32 icmp_ratelimit_ms;  /* per client: one per this many ms, bursts of 6 (net.ipv4.icmp_ratelimit); 0: off */
    __u32 icmp_msgs_per_sec;  /* in all, per second (net.ipv4.icmp_msgs_per_sec) */
    __u32 icmp_msgs_burst;    /* ... and at most this many at once (net.ipv4.icmp_msgs_burst) */
};

#define XLB_DEFAULT_SWEEP_MS 1000
/* The kernel's defaults for the sysctls above. */
#define XLB_DEFAULT_ICMP_RATELIMIT_MS 1000
#define XLB_DEFAULT_ICMP_MSGS_PER_SEC 1000
#define XLB_DEFAULT_ICMP_MSGS_BURST 50
/* Clients whose path-MTU error budget is remembered (icmp_peers, an LRU):
 * an evicted one starts again with a full burst, as a kernel inet_peer does. */
#define XLB_ICMP_PEERS 8192

/* icmp_peers: a client's token bucket, inet_peer_xrlim_allow()'s rate_tokens
 * and rate_last, in jiffies. */
struct xlb_icmp_peer_key {
    union xlb_addr addr;
    __u8 af;
    __u8 pad[3];
};
struct xlb_icmp_peer {
    __u64 tokens;
    __u64 last;
};

/*
 * svc_est[svc], dest_est[id]: IPVS's rate estimator (ip_vs_est.c), run by the
 * sweeper every config.est_ms (2000: IPVS's period) from the per-CPU counters.
 * last_* are the summed counters at the previous run. The averages are kept
 * as IPVS keeps them: per second, scaled by 2^10 for conns and packets and by
 * 2^5 for bytes, each moved a quarter of the way to the period's rate.
 * Userspace reads them out as (cps + 0x1FF) >> 10 and (bps + 0xF) >> 5.
 */
#define XLB_EST_PERIOD_MS 2000

struct xlb_est {
    __u64 last_conns;
    __u64 last_inpkts;
    __u64 last_inbytes;
    __u64 last_outpkts;
    __u64 last_outbytes;
    __u64 cps;    /* conns/s << 10 */
    __u64 inpps;  /* packets/s << 10 */
    __u64 inbps;  /* bytes/s << 5 */
    __u64 outpps; /* packets/s << 10 */
    __u64 outbps; /* bytes/s << 5 */
};

/* sweeper[0]: the bpf_timer that recounts dest_conns, expires flows and
 * templates, and runs the rate estimator. The data path arms it on its first
 * packet. */
struct xlb_sweeper {
    struct bpf_timer timer;
    __u64 armed;
    __u64 runs;      /* completed sweeps */
    __u64 last_run;  /* jiffies */
    __u64 est_last;  /* jiffies of the last estimator run */
    __u64 est_runs;  /* completed estimator runs */
};

#define XLB_DEFAULT_FIB_CACHE_MS 100

/* fib_cache[dest id] (per CPU): the last bpf_fib_lookup() answer for a dest.
 * Valid while the dest keeps its generation, the packet arrives on the same
 * interface, and it is younger than config.fib_cache_ms. */
struct xlb_fib_cache {
    __u64 stamp;        /* bpf_jiffies64() */
    __u32 dest_gen;
    __u32 in_ifindex;
    __u32 out_ifindex;
    __u8 dmac[6];
    __u8 smac[6];
    __u32 mtu;          /* the egress MTU the lookup reported */
    __u32 pad;
};

/* Why a packet got its verdict: reasons[] is a per-CPU array of packet counts
 * indexed by this enum. Every packet is counted exactly once. */
enum xlb_reason {
    XLB_R_TX = 0,            /* forwarded with XDP_TX */
    XLB_R_REDIRECT,          /* forwarded with XDP_REDIRECT */
    XLB_R_PASS_NOT_IP,       /* not IPv4/IPv6 */
    XLB_R_PASS_NOT_L4,       /* not TCP/UDP */
    XLB_R_PASS_NO_SERVICE,   /* not for a VIP */
    XLB_R_PASS_FRAGMENT,     /* fragment to a VIP, given to the kernel */
    XLB_R_PASS_IP_OPTIONS,   /* IPv4 options to a VIP, given to the kernel */
    XLB_R_PASS_TCP_NOT_SYN,  /* TCP without a flow and without SYN (IPVS: no scheduling) */
    XLB_R_PASS_LOCAL,        /* routed to this host */
    XLB_R_PASS_MALFORMED,    /* bad L2/L3 headers, or bad L4 not to a VIP: the kernel judges */
    XLB_R_DROP_MALFORMED,    /* truncated or inconsistent TCP/UDP header to a VIP */
    XLB_R_DROP_FRAGMENT,     /* fragment or IPv4 options to a VIP, dropped by config */
    XLB_R_DROP_NO_DEST,      /* service has no dest that takes new flows */
    XLB_R_DROP_NO_NEIGH,     /* next hop unresolved; resolution requested */
    XLB_R_DROP_FIB,          /* no route / blackhole / unreachable / needs fragmenting */
    XLB_R_DROP_FWD_DISABLED, /* forwarding is off on the ingress interface */
    XLB_R_DROP_NO_TX_PORT,   /* egress interface not in tx_ports */
    XLB_R_DROP_INTERNAL,     /* a map lookup that cannot fail did */
    XLB_R_DROP_UNSUPPORTED,  /* forwarding method not in the data path yet */
    XLB_R_DROP_ENCAP,        /* no headroom to encapsulate (TUN) */
    XLB_R_TX_ICMP_TOO_BIG,   /* too big for the egress MTU: ICMP "fragmentation needed" / "packet too big" sent back */
    XLB_R_DROP_TOO_BIG,      /* too big, IPv4 without DF: xlb does not fragment */
    XLB_R_DROP_NO_TUN_SRC,   /* TUN dest without an outer source (no route when added); event posted */
    XLB_R_DROP_TOO_BIG_LIMITED, /* too big, and its ICMP error over the rate limit (icmp_ratelimit, icmp_msgs_per_sec) */
    XLB_R_MAX,
};

/* vips: {af, vip, proto 0, vport 0} -> number of services on that address.
 * Consulted only for packets without usable ports (fragments, IPv4 options,
 * broken L4 headers) to tell whether they were meant for a VIP. */

/* What a neigh_events record asks userspace for. */
enum xlb_neigh_event_kind {
    /* addr on ifindex: the next hop bpf_fib_lookup could not resolve.
     * Userspace asks the kernel to resolve it (NTF_USE). */
    XLB_NEIGH_EV_NEXT_HOP = 0,
    /* addr: a TUN dest with no outer source yet (no route to it when it was
     * added); ifindex is 0. Userspace looks the route up again and writes
     * the dests' tun_src. */
    XLB_NEIGH_EV_TUN_SRC = 1,
};

/* neigh_events ring buffer record. */
struct xlb_neigh_event {
    union xlb_addr addr;
    __u32 ifindex;
    __u8 af;
    __u8 kind; /* enum xlb_neigh_event_kind */
    __u8 pad[2];
};

#ifdef __cplusplus
#include <cstddef>
static_assert(sizeof(union xlb_addr) == 16);
static_assert(sizeof(struct xlb_svc_key) == 20);
static_assert(offsetof(struct xlb_svc_key, vport) == 16);
static_assert(offsetof(struct xlb_svc_key, af) == 19);
static_assert(sizeof(struct xlb_svc_index_key) == 24);
static_assert(sizeof(struct xlb_table_ctl) == 48);
static_assert(sizeof(struct xlb_journal_entry) == 28);
static_assert(sizeof(struct xlb_svc) == 44);
static_assert(offsetof(struct xlb_svc, flags) == 20);
static_assert(sizeof(struct xlb_dest) == 76);
static_assert(offsetof(struct xlb_dest, tun_src) == 56);
static_assert(offsetof(struct xlb_dest, flags) == 20);
static_assert(offsetof(struct xlb_dest, weight) == 32);
static_assert(sizeof(struct xlb_sched_band) == 16);
static_assert(sizeof(struct xlb_sched_table) == 64);
static_assert(sizeof(union xlb_sched_chunk) == 64);
static_assert(offsetof(struct xlb_sched_table, bands_at) == 32);
static_assert(XLB_SH_TAB_SIZE % XLB_SCHED_CHUNK_IDS == 0);
static_assert(sizeof(struct xlb_dest_conns) == 16);
static_assert(sizeof(struct xlb_persist_key) == 28);
static_assert(sizeof(struct xlb_persist) == 16);
static_assert(sizeof(struct xlb_sweeper) == 56);
static_assert(sizeof(struct xlb_est) == 80);
static_assert(offsetof(struct xlb_est, cps) == 40);
static_assert(sizeof(struct xlb_sched_cursor) == 24);
static_assert(sizeof(struct xlb_flow_key) == 40);
static_assert(offsetof(struct xlb_flow_key, sport) == 32);
static_assert(sizeof(struct xlb_flow) == 24);
static_assert(offsetof(struct xlb_flow, state) == 20);
static_assert(sizeof(struct xlb_stats) == 40);
static_assert(sizeof(struct xlb_config) == 4 * (XLB_TCP_S_LAST + 10));
static_assert(sizeof(struct xlb_icmp_peer_key) == 20);
static_assert(sizeof(struct xlb_icmp_peer) == 16);
static_assert(sizeof(struct xlb_fib_cache) == 40);
static_assert(sizeof(struct xlb_neigh_event) == 24);
static_assert(offsetof(struct xlb_neigh_event, af) == 20);
static_assert(offsetof(struct xlb_neigh_event, kind) == 21);
static_assert(sizeof(struct xlb_nat_rev) == 40);
#endif

#endif /* XLB_ABI_H */
