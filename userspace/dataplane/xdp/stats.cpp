// The XDP backend's read-out: the table with its counters and rates, the
// connection listing, verdict counters and the old status summary.
#include <xlb/dataplane/neigh.h>
#include <xlb/dataplane/xdp/convert.h>
#include <xlb/dataplane/xdp_dataplane.h>
#include <xlb/sched/table.h>
#include <xlb/util/clock.h>
#include <xlb/util/log.h>

#include "table.h"
#include "util.h"

#include <arpa/inet.h>
#include <linux/if_link.h>
#include <netinet/in.h>
#include <net/if.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <map>
#include <set>

namespace xlb {
using namespace xdp;

namespace xdp {

result<> zero_percpu(int fd, uint32_t key, size_t value_size) {
    std::vector<uint8_t> zeros(((value_size + 7) / 8) * 8 * ncpus(), 0);
    if (bpf_map_update_elem(fd, &key, zeros.data(), BPF_ANY) < 0) {
        return errno_error("zero per-CPU entry {}", key);
    }
    return {};
}

result<> reset_estimator(int est_fd, int stats_fd, uint32_t key) {
    auto c = read_stats(stats_fd, key);
    if (!c) {
        return c.error();
    }
    struct xlb_est e {};
    e.last_conns = c->conns;
    e.last_inpkts = c->inpkts;
    e.last_inbytes = c->inbytes;
    e.last_outpkts = c->outpkts;
    e.last_outbytes = c->outbytes;
    return update(est_fd, key, e, "estimator");
}

} // namespace xdp

result<status_info> xdp_dataplane::status() const {
    status_info st;
    st.pin_dir = _pin_dir;
    bpf_prog_info info{};
    uint32_t len = sizeof(info);
    if (bpf_obj_get_info_by_fd(_prog.get(), &info, &len) < 0) {
        return errno_error("program info");
    }
    st.prog_id = info.id;
    st.verified_insns = info.verified_insns;
    st.xlated_bytes = info.xlated_prog_len;
    st.jited_bytes = info.jited_prog_len;

    uint32_t key = 0;
    uint32_t* prev = nullptr;
    while (bpf_map_get_next_key(_maps.tx_ports.get(), prev, &key) == 0) {
        attachment a;
        a.ifindex = static_cast<int>(key);
        char name[IF_NAMESIZE] = {};
        a.ifname = if_indextoname(key, name) ? name : fmt::format("ifindex {}", key);
        bpf_xdp_query_opts q{};
        q.sz = sizeof(q);
        a.mode = "detached";
        if (bpf_xdp_query(a.ifindex, 0, &q) == 0 && q.prog_id == info.id) {
            a.mode = q.attach_mode == XDP_ATTACHED_SKB ? "generic" : "native";
        }
        st.attachments.push_back(a);
        prev = &key;
    }

    auto snap = read_published(_maps, _sizes);
    if (!snap) {
        return snap.error();
    }
    uint64_t active_svcs = snap->services.size();
    uint64_t active_dests = 0;
    for (const auto& svc : snap->services) {
        active_dests += svc.dests.size();
    }
    uint64_t flows = 0;
    auto r = for_each_flow(_maps.flows.get(), [&](const auto&, const auto&) { ++flows; });
    if (!r) {
        return r.error();
    }
    st.maps = {
        {"svc_index", _sizes.max_services, active_svcs},
        {"svcs", _sizes.max_services, active_svcs},
        {"dests", _sizes.max_dests, active_dests},
        {"flows", _sizes.max_flows, flows},
    };
    auto rs = reasons();
    if (!rs) {
        return rs.error();
    }
    st.reasons = *rs;
    auto sw = lookup<struct xlb_sweeper>(_maps.sweeper.get(), 0, "sweeper");
    if (!sw) {
        return sw.error();
    }
    st.sweeps = sw->runs;
    return st;
}

result<std::array<uint64_t, XLB_R_MAX>> xdp_dataplane::reasons() const {
    std::array<uint64_t, XLB_R_MAX> out{};
    for (uint32_t r = 0; r < XLB_R_MAX; ++r) {
        auto n = read_percpu_sum(_maps.reasons.get(), r, "reasons");
        if (!n) {
            return n.error();
        }
        out[r] = *n;
    }
    return out;
}


result<timeouts> xdp_dataplane::get_timeouts() const {
    auto cfg = config();
    if (!cfg) {
        return cfg.error();
    }
    return timeouts{cfg->tcp_timeout[XLB_TCP_S_ESTABLISHED], cfg->tcp_timeout[XLB_TCP_S_FIN_WAIT], cfg->udp_timeout};
}


namespace {

// Every slot of an array map (per-CPU values summed by the caller), in as few
// batch calls as the kernel allows.
result<std::vector<uint8_t>> read_all(int fd, uint32_t n, size_t value_size, const char* what) {
    std::vector<uint8_t> vals(static_cast<size_t>(n) * value_size);
    if (auto r = read_slots(fd, 0, n, vals.data(), value_size, what); !r) {
        return r.error();
    }
    return vals;
}

struct counter_tables {
    std::vector<counters> stats;
    std::vector<rates> rate;
};

result<counter_tables> read_counters(int stats_fd, int est_fd, uint32_t n, const char* what) {
    const size_t cpus = ncpus();
    const size_t stride = ((sizeof(struct xlb_stats) + 7) / 8) * 8;
    auto raw = read_all(stats_fd, n, stride * cpus, what);
    if (!raw) {
        return raw.error();
    }
    auto est = read_all(est_fd, n, sizeof(struct xlb_est), what);
    if (!est) {
        return est.error();
    }
    counter_tables t;
    t.stats.resize(n);
    t.rate.resize(n);
    for (uint32_t i = 0; i < n; ++i) {
        for (size_t c = 0; c < cpus; ++c) {
            struct xlb_stats v;
            std::memcpy(&v, raw->data() + (static_cast<size_t>(i) * cpus + c) * stride, sizeof(v));
            t.stats[i].conns += v.conns;
            t.stats[i].inpkts += v.inpkts;
            t.stats[i].inbytes += v.inbytes;
            t.stats[i].outpkts += v.outpkts;
            t.stats[i].outbytes += v.outbytes;
        }
        struct xlb_est e;
        std::memcpy(&e, est->data() + static_cast<size_t>(i) * sizeof(e), sizeof(e));
        // ip_vs_read_estimator(): the averages without their scaling, rounded.
        t.rate[i] = {(e.cps + 0x1FF) >> 10, (e.inpps + 0x1FF) >> 10, (e.outpps + 0x1FF) >> 10, (e.inbps + 0xF) >> 5,
                     (e.outbps + 0xF) >> 5};
    }
    return t;
}

} // namespace

result<std::vector<service_state>> xdp_dataplane::list() const {
    auto snap = read_published(_maps, _sizes);
    if (!snap) {
        return snap.error();
    }
    auto svc_counters = read_counters(_maps.svc_stats.get(), _maps.svc_est.get(), _sizes.max_services, "svc_stats");
    if (!svc_counters) {
        return svc_counters.error();
    }
    auto dest_counters =
        read_counters(_maps.dest_stats.get(), _maps.dest_est.get(), _sizes.max_dests, "dest_stats");
    if (!dest_counters) {
        return dest_counters.error();
    }
    auto conns_raw = read_all(_maps.dest_conns.get(), _sizes.max_dests, sizeof(struct xlb_dest_conns), "dest_conns");
    if (!conns_raw) {
        return conns_raw.error();
    }
    std::vector<service_state> out;
    out.reserve(snap->services.size());
    for (const auto& svc : snap->services) {
        service_state st;
        st.config = xdp::svc_config_from_abi(svc.svc);
        st.stats = svc_counters->stats[svc.idx];
        st.rate = svc_counters->rate[svc.idx];
        for (const auto& [id, rec] : svc.dests) {
            dest_state ds;
            ds.config = xdp::dest_from_abi(rec);
            ds.stats = dest_counters->stats[id];
            ds.rate = dest_counters->rate[id];
            // Kept by the data path with atomics, recounted by its sweeper.
            struct xlb_dest_conns c;
            std::memcpy(&c, conns_raw->data() + static_cast<size_t>(id) * sizeof(c), sizeof(c));
            ds.active_conns = c.active;
            ds.inactive_conns = c.inactive;
            ds.persist_conns = c.persist;
            ds.overloaded = c.overloaded != 0;
            st.dests.push_back(ds);
        }
        out.push_back(std::move(st));
    }
    return out;
}

namespace {

// The template key a flow of svc from client falls under: the client masked
// as persist_key_of() in bpf/persist.h masks it.
struct xlb_persist_key template_key_of(uint32_t svc_idx, const struct xlb_svc& svc, uint8_t af,
                                       const union xlb_addr& client) {
    struct xlb_persist_key k {};
    k.svc = svc_idx;
    k.af = af;
    if (af == XLB_AF_INET) {
        k.client.v4 = client.v4 & htonl(svc.netmask);
        return k;
    }
    for (int i = 0; i < 4; ++i) {
        int bits = static_cast<int>(svc.netmask) - 32 * i;
        uint32_t mask = bits <= 0 ? 0 : bits >= 32 ? 0xffffffffu : ~0u << (32 - bits);
        k.client.v6[i] = client.v6[i] & htonl(mask);
    }
    return k;
}

std::array<uint8_t, sizeof(struct xlb_persist_key)> key_bytes(const struct xlb_persist_key& k) {
    std::array<uint8_t, sizeof(k)> b{};
    std::memcpy(b.data(), &k, sizeof(k));
    return b;
}

// Seconds left before last_seen + timeout, rounded down as /proc/net/ip_vs_conn
// rounds them; nullopt once expired (the data path's flow_expired()).
std::optional<uint32_t> seconds_left(uint64_t last_seen, uint64_t timeout_jiffies, uint64_t now, uint32_t hz) {
    uint64_t age = now > last_seen ? now - last_seen : 0; // touched after we read the clock
    if (age > timeout_jiffies) {
        return std::nullopt;
    }
    return static_cast<uint32_t>((timeout_jiffies - age) / (hz ? hz : 1));
}

} // namespace

result<std::vector<conn_state>> xdp_dataplane::list_conns() const {
    auto cfg = config();
    if (!cfg) {
        return cfg.error();
    }
    auto now = clock::jiffies();
    if (!now) {
        return now.error();
    }
    auto snap = read_published(_maps, _sizes);
    if (!snap) {
        return snap.error();
    }
    std::map<uint32_t, struct xlb_svc> svcs;
    for (const auto& svc : snap->services) {
        svcs.emplace(svc.idx, svc.svc);
    }
    // The dest a flow or template points at, if it still holds that generation.
    auto live_dest = [&](uint32_t id, uint32_t gen) -> std::optional<struct xlb_dest> {
        if (id >= snap->dests.size()) {
            return std::nullopt;
        }
        const auto& d = snap->dests[id];
        if (!(d.flags & XLB_DEST_F_ACTIVE) || d.gen != gen) {
            return std::nullopt;
        }
        return d;
    };

    std::vector<conn_state> out;
    // Templates with an established connection, and the dest it went to.
    std::set<std::pair<std::array<uint8_t, sizeof(struct xlb_persist_key)>, uint32_t>> assured;
    // Established flows, then the embryonic ones (a 5-tuple is in one table
    // at a time but for a moment while it moves: listed once).
    std::set<std::array<uint8_t, sizeof(struct xlb_flow_key)>> seen;
    auto one_flow = [&](const struct xlb_flow_key& k, const struct xlb_flow& f) {
        std::array<uint8_t, sizeof(struct xlb_flow_key)> kb;
        std::memcpy(kb.data(), &k, kb.size());
        if (!seen.insert(kb).second) {
            return;
        }
        uint32_t t = k.proto == IPPROTO_UDP ? cfg->udp_timeout
                     : f.state < XLB_TCP_S_LAST ? cfg->tcp_timeout[f.state]
                                                : 0;
        auto left = seconds_left(f.last_seen, uint64_t{t} * cfg->hz, *now, cfg->hz);
        auto d = live_dest(f.dest, f.dest_gen);
        // A flow of a deleted dest is rescheduled by its next packet and
        // counts nowhere (IPVS's expire_nodest_conn): not listed either.
        if (!left || !d) {
            return;
        }
        conn_state c;
        c.proto = k.proto == IPPROTO_UDP ? protocol::udp : protocol::tcp;
        c.client = endpoint{ip_address::from_abi(k.af, k.saddr), ntohs(k.sport)};
        c.vip = endpoint{ip_address::from_abi(k.af, k.daddr), ntohs(k.dport)};
        // ip_vs_schedule(): a dest without a port takes the packet's.
        c.dest = endpoint{ip_address::from_abi(d->af, d->addr), d->port ? ntohs(d->port) : ntohs(k.dport)};
        c.state = f.state;
        c.expire_s = *left;
        out.push_back(c);
        // ip_vs_control_assure_ct(): a template is assured once a connection
        // it placed reaches ESTABLISHED. xlb keeps no such bit; a flow now in
        // ESTABLISHED, or in a state only ESTABLISHED leads to, stands for it.
        bool established = f.state == XLB_TCP_S_ESTABLISHED || f.state == XLB_TCP_S_FIN_WAIT ||
                           f.state == XLB_TCP_S_CLOSE_WAIT;
        auto s = svcs.find(f.svc);
        if ((f.flags & XLB_FLOW_F_PERSIST) && k.proto == IPPROTO_TCP && established && s != svcs.end()) {
            assured.emplace(key_bytes(template_key_of(f.svc, s->second, k.af, k.saddr)), f.dest);
        }
    };
    auto r = for_each_flow(_maps.flows.get(), one_flow);
    if (r) {
        r = for_each_flow(_maps.embryos.get(), one_flow);
    }
    if (!r) {
        return r.error();
    }

    r = for_each_entry<struct xlb_persist_key, struct xlb_persist>(
        _maps.persist.get(), "persist", [&](const struct xlb_persist_key& k, const struct xlb_persist& p) {
            auto s = svcs.find(k.svc);
            if (s == svcs.end() || !(s->second.ipvs_flags & XLB_IPVS_SVC_F_PERSISTENT)) {
                return;
            }
            auto left = seconds_left(p.last_seen, uint64_t{s->second.timeout} * cfg->hz, *now, cfg->hz);
            auto d = live_dest(p.dest, p.dest_gen);
            if (!left || !d) {
                return;
            }
            auto svc = xdp::svc_key_from_abi(s->second.key);
            // ip_vs_sched_persist(): <proto, caddr, 0, vaddr, vport, daddr,
            // dport>, with vport and dport 0 for a port-0 or an FTP service.
            bool ports = svc.vip.port != 0 && svc.vip.port != 21;
            conn_state c;
            c.proto = svc.proto;
            c.client = endpoint{ip_address::from_abi(k.af, k.client), 0};
            c.vip = endpoint{svc.vip.addr, ports ? svc.vip.port : uint16_t{0}};
            c.dest = endpoint{ip_address::from_abi(d->af, d->addr), ports ? ntohs(d->port) : uint16_t{0}};
            c.is_template = true;
            c.assured = assured.count({key_bytes(k), p.dest}) != 0;
            c.expire_s = *left;
            c.pe_hash = k.pe_hash;
            out.push_back(c);
        });
    if (!r) {
        return r.error();
    }
    // The hash maps' order is no order: -L -c lists them sorted.
    std::sort(out.begin(), out.end());
    return out;
}


result<std::vector<reason_report>> xdp_dataplane::verdicts() const {
    auto r = reasons();
    if (!r) {
        return r.error();
    }
    return reason_reports(*r);
}


} // namespace xlb

namespace xlb {

namespace {

// The published service a connection entry belongs to: its VIP and port,
// else a port-0 service of the VIP (which takes every port).
const xdp::svc_slot* service_of(const xdp::snapshot& snap, const conn_state& c) {
    if (const auto* s = snap.find(service_key{c.proto, c.vip})) {
        return s;
    }
    return snap.find(service_key{c.proto, endpoint{c.vip.addr, 0}});
}

// Its dest there: the address, and the port unless either side has none
// (a port-0 dest takes the packet's; a port-0 service's template has none).
const xdp::dest_slot* dest_of(const xdp::svc_slot& s, const conn_state& c) {
    for (const auto& d : s.dests) {
        auto port = ntohs(d.d.port);
        if (ip_address::from_abi(d.d.af, d.d.addr) == c.dest.addr &&
            (port == c.dest.port || port == 0 || c.dest.port == 0)) {
            return &d;
        }
    }
    return nullptr;
}

// A stamp that leaves `left` seconds of `timeout`: the data path's age is
// now - last_seen.
uint64_t stamp_for(uint64_t now, uint32_t timeout_s, uint32_t left_s, uint32_t hz) {
    uint64_t age = timeout_s > left_s ? uint64_t{timeout_s - left_s} * hz : 0;
    return age < now ? now - age : 0;
}

} // namespace

result<size_t> xdp_dataplane::import_conns(const std::vector<conn_state>& conns) {
    auto cfg = config();
    if (!cfg) {
        return cfg.error();
    }
    auto now = clock::jiffies();
    if (!now) {
        return now.error();
    }
    auto snap = read_published(_maps, _sizes);
    if (!snap) {
        return snap.error();
    }
    size_t written = 0;
    for (const auto& c : conns) {
        if (c.fwmark != 0 || c.proto == protocol::sctp) {
            continue;
        }
        const auto* s = service_of(*snap, c);
        const auto* d = s ? dest_of(*s, c) : nullptr;
        if (!d) {
            continue;
        }
        const uint8_t af = c.client.addr.is_v4() ? XLB_AF_INET : XLB_AF_INET6;
        if (c.is_template) {
            if (!(s->svc.ipvs_flags & XLB_IPVS_SVC_F_PERSISTENT)) {
                continue;
            }
            auto k = template_key_of(s->idx, s->svc, af, c.client.addr.to_abi());
            k.pe_hash = c.pe_hash;
            struct xlb_persist v {};
            v.last_seen = stamp_for(*now, s->svc.timeout, c.expire_s, cfg->hz);
            v.dest = d->id;
            v.dest_gen = d->d.gen;
            if (bpf_map_update_elem(_maps.persist.get(), &k, &v, BPF_ANY) != 0) {
                return errno_error("write a persistence template into persist");
            }
            ++written;
            continue;
        }
        struct xlb_flow_key k {};
        k.saddr = c.client.addr.to_abi();
        k.daddr = c.vip.addr.to_abi();
        k.sport = htons(c.client.port);
        k.dport = htons(c.vip.port);
        k.proto = c.proto == protocol::udp ? IPPROTO_UDP : IPPROTO_TCP;
        k.af = af;
        struct xlb_flow f {};
        const bool tcp = c.proto == protocol::tcp;
        f.state = tcp ? c.state : XLB_UDP_S_NORMAL;
        if (tcp && f.state >= XLB_TCP_S_LAST) {
            continue;
        }
        const uint32_t timeout = tcp ? cfg->tcp_timeout[f.state] : cfg->udp_timeout;
        f.last_seen = stamp_for(*now, timeout, c.expire_s, cfg->hz);
        f.dest = d->id;
        f.dest_gen = d->d.gen;
        f.svc = s->idx;
        // As the data path marks them (bpf/conntrack.h): IPVS's active states.
        if (conn_counts_active(c)) {
            f.flags |= XLB_FLOW_F_ACTIVE;
        }
        if (s->svc.ipvs_flags & XLB_IPVS_SVC_F_PERSISTENT) {
            f.flags |= XLB_FLOW_F_PERSIST;
        }
        const bool nat = d->d.fwd == XLB_FWD_NAT;
        if (nat) {
            f.flags |= XLB_FLOW_F_NAT;
        }
        // A TCP flow that has not shown a handshake is embryonic (its
        // table is the one a SYN flood churns); every other is established.
        const bool embryonic = tcp && (f.state == XLB_TCP_S_SYN_RECV || f.state == XLB_TCP_S_NONE);
        if (bpf_map_update_elem((embryonic ? _maps.embryos : _maps.flows).get(), &k, &f, BPF_ANY) != 0) {
            return errno_error("write a flow into {}", embryonic ? "embryos" : "flows");
        }
        if (nat) {
            // nat_reply_key() in bpf/nat.h: the dest's reply to the client.
            struct xlb_flow_key rk {};
            rk.saddr = d->d.addr;
            rk.daddr = k.saddr;
            rk.sport = d->d.port;
            rk.dport = k.sport;
            rk.proto = k.proto;
            rk.af = k.af;
            struct xlb_nat_rev rev {};
            rev.fwd = k;
            if (bpf_map_update_elem((embryonic ? _maps.embryo_rev : _maps.nat_rev).get(), &rk, &rev, BPF_ANY) != 0) {
                return errno_error("write a NAT reply key into {}", embryonic ? "embryo_rev" : "nat_rev");
            }
        }
        ++written;
    }
    return written;
}

} // namespace xlb
