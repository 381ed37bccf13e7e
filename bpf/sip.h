/* SPDX-License-Identifier: Apache-2.0 */
/*
 * --pe sip, after IPVS's SIP persistence engine: a persistent UDP service
 * keys its templates by the client (masked) and the message's Call-ID, so
 * each call sticks to one dest. The Call-ID is the value of the first
 * "Call-ID:" header (or its compact form "i:"), names matched without case,
 * blanks allowed around the colon, and the value must end the line. A
 * message without one falls back to plain persistence by client.
 *
 * XDP cannot walk a packet byte by byte at an unknown offset cheaply, so the
 * first XLB_SIP_SCAN bytes of the payload are copied to a per-CPU buffer and
 * scanned by a bpf_loop() state machine, one byte per step. The template key
 * holds a 32-bit FNV-1a hash of the Call-ID, not the bytes.
 */
#ifndef XLB_BPF_SIP_H
#define XLB_BPF_SIP_H
#include "maps.h"

#define XLB_SIP_SCAN 1024      /* payload bytes searched for the header */
#define XLB_SIP_CALLID_MAX 255 /* IP_VS_PEDATA_MAXLEN: longer is useless */

struct xlb_sip_buf {
    __u8 b[XLB_SIP_SCAN];
};

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, struct xlb_sip_buf);
} sip_scratch SEC(".maps");

enum sip_state {
    SIP_SKIP_LINE,   /* until the end of this line */
    SIP_LINE_START,  /* just after a line feed */
    SIP_NAME,        /* inside "call-id", which began at mark */
    SIP_COMPACT,     /* after "i": a letter here means another header */
    SIP_BEFORE_COLON,
    SIP_AFTER_COLON,
    SIP_VALUE,
};

/*
 * Positions are kept as the index where the name or the value began (mark),
 * never as counters: a counter is a constant the verifier tracks, and every
 * value of it (times every state) would be another state to verify. Each
 * field starts from XLB_OPAQUE(), because kernels before 6.7 verify the
 * callback once, with the context as it was before the first step (see
 * bpf/sched.h): a field still constant there would have its branches
 * hard-wired.
 */
struct sip_scan {
    __u32 len;      /* bytes in the buffer */
    __u32 state;
    __u32 mark;     /* where the name or the value began */
    __u32 hash;     /* FNV-1a of the value so far */
    __u32 found;    /* the value ended its line */
};

XLB_INLINE bool sip_blank(__u8 c)
{
    return c == ' ' || c == '\t';
}

/* "call-id", lower case, by position. */
XLB_INLINE __u8 sip_call_id_char(__u32 pos)
{
    switch (pos) {
    case 0: return 'c';
    case 1: return 'a';
    case 2:
    case 3: return 'l';
    case 4: return '-';
    case 5: return 'i';
    default: return 'd';
    }
}

/* One byte of the scan; returns 1 to stop. */
static long sip_step(__u32 i, void *data)
{
    struct sip_scan *s = data;
    struct xlb_sip_buf *buf;
    __u32 zero = 0;
    __u8 c, lc;

    if (i >= s->len || i >= XLB_SIP_SCAN)
        return 1;
    buf = bpf_map_lookup_elem(&sip_scratch, &zero);
    if (!buf)
        return 1;
    /* The compiler drops a mask it can prove redundant; the verifier needs
     * it to see the index in bounds. */
    asm volatile("" : "+r"(i));
    c = buf->b[i & (XLB_SIP_SCAN - 1)];
    lc = (c >= 'A' && c <= 'Z') ? c + ('a' - 'A') : c;

    if (s->state == SIP_VALUE) {
        if (c == '\r' || c == '\n') {
            s->found = 1;
            return 1;
        }
        if (sip_blank(c) || i - s->mark >= XLB_SIP_CALLID_MAX)
            return 1; /* not a Call-ID IPVS would take: give up */
        s->hash = (s->hash ^ c) * 16777619u;
        return 0;
    }
    /* ct_sip_get_header(): CR, LF or CRLF ends a line (RFC 2543 allows
     * each); CRLF just passes through SIP_LINE_START twice. */
    if (c == '\n' || c == '\r') {
        s->state = SIP_LINE_START;
        return 0;
    }
    switch (s->state) {
    case SIP_LINE_START:
        if (lc == 'c') {
            s->state = SIP_NAME;
            s->mark = i;
        } else if (lc == 'i') {
            s->state = SIP_COMPACT;
        } else {
            s->state = SIP_SKIP_LINE; /* another header, or a continuation */
        }
        return 0;
    case SIP_NAME:
        if (lc != sip_call_id_char(i - s->mark)) {
            s->state = SIP_SKIP_LINE;
            return 0;
        }
        if (i - s->mark == 6) /* the 'd' */
            s->state = SIP_BEFORE_COLON;
        return 0;
    case SIP_COMPACT:
        if (lc >= 'a' && lc <= 'z') {
            s->state = SIP_SKIP_LINE;
            return 0;
        }
        s->state = SIP_BEFORE_COLON;
        /* fall through: this byte is a blank or the colon */
    case SIP_BEFORE_COLON:
        if (c == ':')
            s->state = SIP_AFTER_COLON;
        else if (!sip_blank(c))
            s->state = SIP_SKIP_LINE;
        return 0;
    case SIP_AFTER_COLON:
        if (sip_blank(c))
            return 0;
        /* (An empty Call-ID ended its line above: as IPVS, look further.) */
        s->state = SIP_VALUE;
        s->mark = i;
        s->hash = (2166136261u ^ c) * 16777619u;
        return 0;
    default:
        return 0;
    }
}

/*
 * The Call-ID hash of the UDP message to svc that begins at payload_off and
 * is payload_len bytes long (the UDP length less its header), or
 * 0 when svc has no --pe sip or the message has no usable Call-ID. A global
 * function: verified once, on its own.
 */
__attribute__((noinline)) __u32 xlb_sip_callid(struct xdp_md *ctx, __u32 svc, __u32 payload_off, __u32 payload_len)
{
    struct sip_scan s = {};
    struct xlb_sched_table *t;
    struct xlb_sip_buf *buf;
    __u32 zero = 0;
    __u64 len; /* 64 bits: no zero-extended copy for the bound checks to miss */

    if (!ctx)
        return 0;
    t = sched_table(svc);
    if (!t || !(t->ipvs_flags & XLB_SVC_PE_SIP) || !(t->ipvs_flags & XLB_IPVS_SVC_F_PERSISTENT))
        return 0;
    buf = bpf_map_lookup_elem(&sip_scratch, &zero);
    if (!buf)
        return 0;
    len = (__u64)ctx->data_end - ctx->data;
    if (payload_off >= len)
        return 0;
    len -= payload_off; /* at least 1 */
    if (len > payload_len) /* the UDP payload, not Ethernet padding after it */
        len = payload_len;
    if (len == 0)
        return 0;
    if (len > XLB_SIP_SCAN)
        len = XLB_SIP_SCAN;
    /* 6.1 learns no lower bound from len != 0, and a size of 0 is refused:
     * take 1 off, mask (no-op at run time), and add it back: [1, 1024]. */
    len -= 1;
    asm volatile("" : "+r"(len));
    len = (len & (XLB_SIP_SCAN - 1)) + 1;
    if (bpf_xdp_load_bytes(ctx, payload_off, buf->b, len) < 0)
        return 0;
    s.len = len;
    s.state = XLB_OPAQUE(SIP_SKIP_LINE); /* the first line is the request or status line */
    s.mark = XLB_OPAQUE(0);
    s.hash = XLB_OPAQUE(0);
    s.found = XLB_OPAQUE(0);
    bpf_loop(XLB_SIP_SCAN, sip_step, &s, 0);
    if (!s.found)
        return 0;
    return s.hash ? s.hash : 1;
}
#endif
