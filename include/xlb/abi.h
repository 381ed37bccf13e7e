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

#include <linux/types.h>

/* Compile-time bounds. Map sizes are chosen at load time within these. */
#ifndef XLB_MAX_DESTS_PER_SVC
#define XLB_MAX_DESTS_PER_SVC 128
#endif
/* wrr flattened sequence: the sum of the band sizes is at most n(n+1)/2. */
#define XLB_SCHED_FLAT_MAX (XLB_MAX_DESTS_PER_SVC * (XLB_MAX_DESTS_PER_SVC + 1) / 2)

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

/* svcs[idx]: a service's configuration, readable back for -L / -S. */
struct xlb_svc {
    struct xlb_svc_key key;
    __u32 flags;       /* XLB_SVC_F_* */
    __u32 sched;       /* enum xlb_sched */
    __u32 ipvs_flags;  /* IP_VS_SVC_F_* as ipvsadm shows them (persistent, ...) */
    __u32 timeout;     /* persistence timeout, seconds */
    __be32 netmask;    /* persistence netmask (IPv4) or prefix length (IPv6) */
    __u32 pad;
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
};

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
 */
struct xlb_sched_band {
    __u32 off;     /* first entry in flat[] */
    __u32 len;     /* entries in the set */
    __u32 repeats; /* times the set is walked before the next band */
};

struct xlb_sched_table {
    __u32 gen;     /* changes on every rebuild; resets per-CPU cursors */
    __u32 nbands;  /* 0: no dest can take new flows */
    __u32 flat_len;
    __u32 pad;
    struct xlb_sched_band bands[XLB_MAX_DESTS_PER_SVC];
    __u32 flat[XLB_SCHED_FLAT_MAX]; /* dest ids */
};

/* sched_cursor[svc] (per CPU) */
struct xlb_sched_cursor {
    __u32 gen;
    __u32 band;
    __u32 rep;
    __u32 pos;
};

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

struct xlb_flow {
    __u64 last_seen;    /* bpf_jiffies64() of the last packet */
    __u32 dest;         /* dest id */
    __u32 dest_gen;
    __u32 svc;
    __u8 state;         /* enum xlb_tcp_state, or XLB_UDP_S_NORMAL */
    __u8 pad[3];
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

struct xlb_config {
    __u32 tcp_timeout[XLB_TCP_S_LAST];
    __u32 udp_timeout;
    __u32 flags;        /* XLB_CFG_F_* */
    __u32 fib_cache_ms; /* reuse a dest's bpf_fib_lookup() answer this long; 0: never */
    __u32 hz;           /* the kernel's CONFIG_HZ: jiffies per second (set at load) */
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
    XLB_R_MAX,
};

/* vips: {af, vip, proto 0, vport 0} -> number of services on that address.
 * Consulted only for packets without usable ports (fragments, IPv4 options,
 * broken L4 headers) to tell whether they were meant for a VIP. */

/* neigh_events ring buffer record: the next hop bpf_fib_lookup could not
 * resolve. Userspace asks the kernel to resolve it (NTF_USE). */
struct xlb_neigh_event {
    union xlb_addr addr;
    __u32 ifindex;
    __u8 af;
    __u8 pad[3];
};

#ifdef __cplusplus
#include <cstddef>
static_assert(sizeof(union xlb_addr) == 16);
static_assert(sizeof(struct xlb_svc_key) == 20);
static_assert(offsetof(struct xlb_svc_key, vport) == 16);
static_assert(offsetof(struct xlb_svc_key, af) == 19);
static_assert(sizeof(struct xlb_svc) == 44);
static_assert(offsetof(struct xlb_svc, flags) == 20);
static_assert(sizeof(struct xlb_dest) == 48);
static_assert(offsetof(struct xlb_dest, flags) == 20);
static_assert(offsetof(struct xlb_dest, weight) == 32);
static_assert(sizeof(struct xlb_sched_band) == 12);
static_assert(offsetof(struct xlb_sched_table, bands) == 16);
static_assert(sizeof(struct xlb_sched_table) ==
              16 + 12 * XLB_MAX_DESTS_PER_SVC + 4 * XLB_SCHED_FLAT_MAX);
static_assert(sizeof(struct xlb_sched_cursor) == 16);
static_assert(sizeof(struct xlb_flow_key) == 40);
static_assert(offsetof(struct xlb_flow_key, sport) == 32);
static_assert(sizeof(struct xlb_flow) == 24);
static_assert(offsetof(struct xlb_flow, state) == 20);
static_assert(sizeof(struct xlb_stats) == 40);
static_assert(sizeof(struct xlb_config) == 4 * (XLB_TCP_S_LAST + 4));
static_assert(sizeof(struct xlb_fib_cache) == 32);
static_assert(sizeof(struct xlb_neigh_event) == 24);
#endif

#endif /* XLB_ABI_H */
