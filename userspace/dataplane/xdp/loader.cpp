// The XDP backend's loader: load (size and pin the maps), open, unload,
// attach and detach, the runtime config, neighbour requests.
#include <xlb/dataplane/neigh.h>
#include <xlb/dataplane/xdp/convert.h>
#include <xlb/dataplane/xdp_dataplane.h>
#include <xlb/sched/table.h>
#include <xlb/util/clock.h>
#include <xlb/util/log.h>

#include "pin_dir.h"
#include "util.h"
#include "xlb.skel.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <linux/if_link.h>
#include <linux/magic.h>
#include <net/if.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <map>
#include <memory>
#include <set>

namespace xlb {
using namespace xdp;
namespace {

namespace fs = std::filesystem;

constexpr const char* prog_pin_name = "xlb_xdp";

struct skel_deleter {
    void operator()(xlb_bpf* s) const noexcept { xlb_bpf__destroy(s); }
};
using skel_ptr = std::unique_ptr<xlb_bpf, skel_deleter>;

// Every map of the skeleton with the slot that owns its fd. The skeleton's
// members give the names; nothing here spells a map name as a string.
template <class F>
void for_each_map(xlb_bpf* s, xdp_dataplane::maps& m, F&& f) {
    f(s->maps.svc_index, m.svc_index);
    f(s->maps.vips, m.vips);
    f(s->maps.svcs, m.svcs);
    f(s->maps.dests, m.dests);
    f(s->maps.sched_tables, m.sched_tables);
    f(s->maps.sched_cursor, m.sched_cursor);
    f(s->maps.flows, m.flows);
    f(s->maps.svc_stats, m.svc_stats);
    f(s->maps.dest_stats, m.dest_stats);
    f(s->maps.reasons, m.reasons);
    f(s->maps.config, m.config);
    f(s->maps.fib_cache, m.fib_cache);
    f(s->maps.tx_ports, m.tx_ports);
    f(s->maps.neigh_events, m.neigh_events);
    f(s->maps.mh_tables, m.mh_tables);
    f(s->maps.dest_conns, m.dest_conns);
    f(s->maps.conn_scratch, m.conn_scratch);
    f(s->maps.persist, m.persist);
    f(s->maps.sweeper, m.sweeper);
    f(s->maps.nat_rev, m.nat_rev);
    f(s->maps.embryos, m.embryos);
    f(s->maps.embryo_rev, m.embryo_rev);
    f(s->maps.svc_est, m.svc_est);
    f(s->maps.dest_est, m.dest_est);
    f(s->maps.table_ctl, m.table_ctl);
    f(s->maps.journal, m.journal);
    f(s->maps.readers, m.readers);
    f(s->maps.icmp_peers, m.icmp_peers);
    f(s->maps.icmp_credit, m.icmp_credit);
}

result<skel_ptr> open_skeleton() {
    log::install_libbpf_logger();
    skel_ptr s(xlb_bpf__open());
    if (!s) {
        return errno_error("open BPF object");
    }
    return s;
}



// Writers (xlbctl, xlbd, tests) serialise on flock() of the pin directory.

struct default_config {
    struct xlb_config cfg {};
    default_config() {
        // IPVS's tcp_timeouts and udp_timeouts, seconds.
        const uint32_t tcp[XLB_TCP_S_LAST] = {2, 900, 120, 60, 120, 120, 10, 60, 30, 120, 120};
        std::copy(std::begin(tcp), std::end(tcp), cfg.tcp_timeout);
        cfg.udp_timeout = 300;
        cfg.fib_cache_ms = XLB_DEFAULT_FIB_CACHE_MS;
        cfg.sweep_ms = XLB_DEFAULT_SWEEP_MS;
        cfg.est_ms = XLB_EST_PERIOD_MS;
    }
};


} // namespace

std::string resolve_pin_dir(const std::string& flag) {
    if (!flag.empty()) {
        return flag;
    }
    if (const char* env = std::getenv("XLB_PIN_DIR"); env && *env) {
        return env;
    }
    return default_pin_dir;
}

std::string_view reason_name(enum xlb_reason r) noexcept {
    switch (r) {
    case XLB_R_TX: return "tx";
    case XLB_R_REDIRECT: return "redirect";
    case XLB_R_PASS_NOT_IP: return "pass_not_ip";
    case XLB_R_PASS_NOT_L4: return "pass_not_l4";
    case XLB_R_PASS_NO_SERVICE: return "pass_no_service";
    case XLB_R_PASS_FRAGMENT: return "pass_fragment";
    case XLB_R_PASS_IP_OPTIONS: return "pass_ip_options";
    case XLB_R_PASS_TCP_NOT_SYN: return "pass_tcp_not_syn";
    case XLB_R_PASS_LOCAL: return "pass_local";
    case XLB_R_PASS_MALFORMED: return "pass_malformed";
    case XLB_R_DROP_MALFORMED: return "drop_malformed";
    case XLB_R_DROP_FRAGMENT: return "drop_fragment";
    case XLB_R_DROP_NO_DEST: return "drop_no_dest";
    case XLB_R_DROP_NO_NEIGH: return "drop_no_neigh";
    case XLB_R_DROP_FIB: return "drop_fib";
    case XLB_R_DROP_FWD_DISABLED: return "drop_fwd_disabled";
    case XLB_R_DROP_NO_TX_PORT: return "drop_no_tx_port";
    case XLB_R_DROP_INTERNAL: return "drop_internal";
    case XLB_R_DROP_UNSUPPORTED: return "drop_unsupported";
    case XLB_R_DROP_ENCAP: return "drop_encap";
    case XLB_R_TX_ICMP_TOO_BIG: return "tx_icmp_too_big";
    case XLB_R_DROP_TOO_BIG: return "drop_too_big";
    case XLB_R_DROP_NO_TUN_SRC: return "drop_no_tun_src";
    case XLB_R_DROP_TOO_BIG_LIMITED: return "drop_too_big_limited";
    case XLB_R_MAX: break;
    }
    return "unknown";
}

uint32_t embryonic_size(const load_options& opts) noexcept {
    if (opts.max_embryonic) {
        return opts.max_embryonic;
    }
    return std::max(opts.max_flows / 4, std::min<uint32_t>(opts.max_flows, 1024));
}

result<xdp_dataplane> xdp_dataplane::load(const std::string& pin_dir, const load_options& opts,
                                          std::optional<std::chrono::milliseconds> lock_wait) {
    if (opts.max_services == 0 || opts.max_dests == 0 || opts.max_flows == 0) {
        return make_error(EINVAL, "map sizes must be positive");
    }
    if (!sched::is_prime(opts.mh_size)) {
        return make_error(EINVAL, "the Maglev table size must be a prime, not {}", opts.mh_size);
    }
    for (auto [v, name] : {std::pair{opts.icmp_ratelimit_ms, "icmp_ratelimit"},
                           std::pair{opts.icmp_msgs_per_sec, "icmp_msgs_per_sec"},
                           std::pair{opts.icmp_msgs_burst, "icmp_msgs_burst"}}) {
        if (v > INT32_MAX) {
            return make_error(EINVAL, "{} is at most {}, as the kernel's sysctl, not {}", name, INT32_MAX, v);
        }
    }
    // A load that fails leaves no empty pin directory of its own behind.
    std::error_code ec;
    const bool fresh = !fs::exists(pin_dir, ec);
    auto r = load_into(pin_dir, opts, lock_wait.value_or(xdp::default_lock_wait()));
    if (!r && fresh) {
        fs::remove(pin_dir, ec); // only if empty
    }
    return r;
}

result<xdp_dataplane> xdp_dataplane::load_into(const std::string& pin_dir, const load_options& opts,
                                               std::chrono::milliseconds lock_wait) {
    if (auto r = xdp::prepare_pin_dir(pin_dir); !r) {
        return r.error();
    }
    auto lock = xdp::writer_lock::take(pin_dir, lock_wait);
    if (!lock) {
        return lock.error();
    }
    if (fs::exists(pin_path(pin_dir, prog_pin_name))) {
        return make_error(EEXIST, "xlb is already loaded at {}", pin_dir);
    }

    auto skel = open_skeleton();
    if (!skel) {
        return skel.error();
    }
    xlb_bpf* s = skel->get();
    for (auto* m : {s->maps.sched_cursor, s->maps.svc_stats, s->maps.svc_est}) {
        bpf_map__set_max_entries(m, opts.max_services);
    }
    // The published table's maps hold two sides (<xlb/abi.h>, table_ctl).
    for (auto* m : {s->maps.svc_index, s->maps.vips, s->maps.svcs, s->maps.sched_tables, s->maps.mh_tables}) {
        bpf_map__set_max_entries(m, 2 * opts.max_services);
    }
    for (auto* m : {s->maps.dest_stats, s->maps.fib_cache, s->maps.dest_conns, s->maps.conn_scratch,
                    s->maps.dest_est}) {
        bpf_map__set_max_entries(m, opts.max_dests);
    }
    bpf_map__set_max_entries(s->maps.dests, 2 * opts.max_dests);
    // Every slot one change set can touch: services (and their tables),
    // their keys and addresses, and dests.
    bpf_map__set_max_entries(s->maps.journal, 4 * opts.max_services + opts.max_dests + 16);
    bpf_map__set_max_entries(s->maps.flows, opts.max_flows);
    bpf_map__set_max_entries(s->maps.persist, opts.max_flows);
    bpf_map__set_max_entries(s->maps.nat_rev, opts.max_flows);
    bpf_map__set_max_entries(s->maps.embryos, embryonic_size(opts));
    bpf_map__set_max_entries(s->maps.embryo_rev, embryonic_size(opts));
    // The Maglev tables' size is a load-time choice: give the outer map an
    // inner template of that size (libbpf 1.1 cannot resize its own template).
    // Mapped (BPF_F_MMAPABLE): a writer fills a table with stores, not with
    // a batch update of 65,537 entries.
    LIBBPF_OPTS(bpf_map_create_opts, mh_opts, .map_flags = BPF_F_MMAPABLE);
    file_desc mh_template(bpf_map_create(BPF_MAP_TYPE_ARRAY, "xlb_mh_tmpl", sizeof(uint32_t), sizeof(uint32_t),
                                         opts.mh_size, &mh_opts));
    if (!mh_template) {
        return errno_error("create the Maglev table template ({} entries)", opts.mh_size);
    }
    if (int rc = bpf_map__set_inner_map_fd(s->maps.mh_tables, mh_template.get()); rc < 0) {
        return make_error(rc, "set the Maglev table template");
    }
    s->rodata->xlb_mh_size = opts.mh_size;
    s->rodata->xlb_max_dests = opts.max_dests;
    s->rodata->xlb_max_services = opts.max_services;
    s->rodata->xlb_nr_cpus = static_cast<uint32_t>(ncpus());
    if (int rc = xlb_bpf__load(s); rc < 0) {
        return make_error(rc, "load the XDP program (run with XLB_LOG=debug for the verifier log)");
    }

    default_config defaults;
    auto hz = clock::hz();
    if (!hz) {
        return hz.error();
    }
    defaults.cfg.hz = *hz;
    defaults.cfg.mh_size = opts.mh_size;
    defaults.cfg.icmp_ratelimit_ms = opts.icmp_ratelimit_ms;
    defaults.cfg.icmp_msgs_per_sec = opts.icmp_msgs_per_sec;
    defaults.cfg.icmp_msgs_burst = opts.icmp_msgs_burst;
    uint32_t zero = 0;
    if (bpf_map_update_elem(bpf_map__fd(s->maps.config), &zero, &defaults.cfg, BPF_ANY) < 0) {
        return errno_error("write config");
    }

    // Pin everything, or nothing: a failure unpins what was pinned.
    std::vector<std::string> pinned;
    auto undo = [&] {
        for (const auto& p : pinned) {
            ::unlink(p.c_str());
        }
    };
    xdp_dataplane dp;
    dp._pin_dir = pin_dir;
    dp._lock_wait = lock_wait;
    dp._sizes = opts;
    dp._sizes.max_embryonic = embryonic_size(opts);
    result<> failed;
    for_each_map(s, dp._maps, [&](bpf_map* m, file_desc& slot) {
        if (!failed) {
            return;
        }
        auto path = pin_path(pin_dir, bpf_map__name(m));
        if (bpf_obj_pin(bpf_map__fd(m), path.c_str()) < 0) {
            failed = errno_error("pin map at {}", path);
            return;
        }
        pinned.push_back(path);
        slot = file_desc(fcntl(bpf_map__fd(m), F_DUPFD_CLOEXEC, 0));
    });
    if (failed) {
        auto path = pin_path(pin_dir, prog_pin_name);
        if (bpf_obj_pin(bpf_program__fd(s->progs.xlb_xdp), path.c_str()) < 0) {
            failed = errno_error("pin program at {}", path);
        } else {
            pinned.push_back(path);
            dp._prog = file_desc(fcntl(bpf_program__fd(s->progs.xlb_xdp), F_DUPFD_CLOEXEC, 0));
        }
    }
    if (!failed) {
        undo();
        return failed.error();
    }
    return dp;
}

result<xdp_dataplane> xdp_dataplane::open_pinned(const std::string& pin_dir) {
    // A missing dir is "not loaded", said below.
    if (auto r = xdp::check_pin_dir(pin_dir); !r && r.error().code != ENOENT) {
        return r.error();
    }
    auto skel = open_skeleton();
    if (!skel) {
        return skel.error();
    }
    xdp_dataplane dp;
    dp._pin_dir = pin_dir;
    dp._lock_wait = xdp::default_lock_wait();
    auto prog = pin_path(pin_dir, prog_pin_name);
    dp._prog = file_desc(bpf_obj_get(prog.c_str()));
    if (!dp._prog) {
        if (errno == ENOENT) {
            return make_error(ENOENT, "xlb is not loaded at {} (run `xlbctl load` first)", pin_dir);
        }
        return errno_error("open {}", prog);
    }
    result<> failed;
    for_each_map(skel->get(), dp._maps, [&](bpf_map* m, file_desc& slot) {
        if (!failed) {
            return;
        }
        auto path = pin_path(pin_dir, bpf_map__name(m));
        slot = file_desc(bpf_obj_get(path.c_str()));
        if (!slot) {
            failed = errno_error("open pinned map {}", path);
            return;
        }
        // A map laid out by another build of xlb would be read and written
        // with this build's records: refuse it.
        auto info = map_info(slot.get());
        if (!info) {
            failed = info.error();
        } else if (info->key_size != bpf_map__key_size(m) || info->value_size != bpf_map__value_size(m)) {
            failed = make_error(EPROTO,
                                "pinned map {} has {}-byte keys and {}-byte values where this build of xlb has {} and "
                                "{}: it was loaded by another build (xlbctl unload, then load)",
                                path, info->key_size, info->value_size, bpf_map__key_size(m),
                                bpf_map__value_size(m));
        }
    });
    if (!failed) {
        return failed.error();
    }
    auto svcs = map_info(dp._maps.svcs.get());
    auto dests = map_info(dp._maps.dests.get());
    auto flows = map_info(dp._maps.flows.get());
    auto embryos = map_info(dp._maps.embryos.get());
    if (!svcs || !dests || !flows || !embryos) {
        return make_error(EINVAL, "pinned maps at {} are unreadable", pin_dir);
    }
    auto cfg = lookup<struct xlb_config>(dp._maps.config.get(), 0, "config");
    if (!cfg) {
        return cfg.error();
    }
    dp._sizes = {svcs->max_entries / 2,  dests->max_entries / 2, flows->max_entries,    cfg->mh_size,
                 embryos->max_entries,   cfg->icmp_ratelimit_ms,  cfg->icmp_msgs_per_sec, cfg->icmp_msgs_burst};
    return dp;
}

result<xdp_dataplane> xdp_dataplane::open(const std::string& pin_dir) { return open_pinned(pin_dir); }

result<> xdp_dataplane::unload(const std::string& pin_dir, std::optional<std::chrono::milliseconds> lock_wait) {
    // Only the program and tx_ports are needed, so that an instance loaded
    // by another build of xlb, with other maps, can be unloaded too.
    file_desc prog, tx_ports;
    if (auto dp = open_pinned(pin_dir); dp) {
        prog = std::move(dp->_prog);
        tx_ports = std::move(dp->_maps.tx_ports);
    } else {
        prog = file_desc(bpf_obj_get(pin_path(pin_dir, prog_pin_name).c_str()));
        tx_ports = file_desc(bpf_obj_get(pin_path(pin_dir, "tx_ports").c_str()));
        if (!prog || !tx_ports) {
            return dp.error();
        }
    }
    auto lock = xdp::writer_lock::take(pin_dir, lock_wait.value_or(xdp::default_lock_wait()));
    if (!lock) {
        return lock.error();
    }
    // Detach wherever our program still runs.
    uint32_t key = 0;
    uint32_t* prev = nullptr;
    std::vector<uint32_t> ifindexes;
    while (bpf_map_get_next_key(tx_ports.get(), prev, &key) == 0) {
        ifindexes.push_back(key);
        prev = &key;
    }
    bpf_prog_info info{};
    uint32_t len = sizeof(info);
    bpf_obj_get_info_by_fd(prog.get(), &info, &len);
    for (uint32_t ifindex : ifindexes) {
        bpf_xdp_query_opts q{};
        q.sz = sizeof(q);
        if (bpf_xdp_query(static_cast<int>(ifindex), 0, &q) == 0 && q.prog_id == info.id) {
            uint32_t mode = q.attach_mode == XDP_ATTACHED_SKB ? XDP_FLAGS_SKB_MODE : XDP_FLAGS_DRV_MODE;
            if (bpf_xdp_detach(static_cast<int>(ifindex), mode, nullptr) < 0) {
                return errno_error("detach from ifindex {}", ifindex);
            }
        }
    }
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(pin_dir, ec)) {
        fs::remove(entry.path(), ec);
    }
    fs::remove(pin_dir, ec);
    return {};
}

result<> xdp_dataplane::attach(const std::string& ifname, xdp_mode mode) {
    auto lock = xdp::writer_lock::take(_pin_dir, _lock_wait);
    if (!lock) {
        return lock.error();
    }
    int ifindex = static_cast<int>(if_nametoindex(ifname.c_str()));
    if (ifindex == 0) {
        return make_error(ENODEV, "no interface named {}", ifname);
    }
    bpf_prog_info info{};
    uint32_t len = sizeof(info);
    if (bpf_obj_get_info_by_fd(_prog.get(), &info, &len) < 0) {
        return errno_error("program info");
    }
    bpf_xdp_query_opts q{};
    q.sz = sizeof(q);
    if (bpf_xdp_query(ifindex, 0, &q) == 0 && q.prog_id != 0 && q.prog_id != info.id) {
        return make_error(EBUSY, "{} already runs XDP program id {}; detach it first", ifname, q.prog_id);
    }
    uint32_t flags = mode == xdp_mode::native ? XDP_FLAGS_DRV_MODE : XDP_FLAGS_SKB_MODE;
    if (int rc = bpf_xdp_attach(ifindex, _prog.get(), flags, nullptr); rc < 0) {
        if (mode == xdp_mode::native && (rc == -EOPNOTSUPP || rc == -EINVAL)) {
            return make_error(rc, "attach to {} in native mode (driver lacks XDP? try --xdp-mode generic)",
                              ifname);
        }
        return make_error(rc, "attach to {}", ifname);
    }
    struct bpf_devmap_val v {};
    v.ifindex = static_cast<uint32_t>(ifindex);
    uint32_t key = v.ifindex;
    if (bpf_map_update_elem(_maps.tx_ports.get(), &key, &v, BPF_ANY) < 0) {
        auto e = errno_error("add {} to tx_ports", ifname);
        bpf_xdp_detach(ifindex, flags, nullptr);
        return e;
    }
    return {};
}

result<> xdp_dataplane::detach(const std::string& ifname) {
    auto lock = xdp::writer_lock::take(_pin_dir, _lock_wait);
    if (!lock) {
        return lock.error();
    }
    int ifindex = static_cast<int>(if_nametoindex(ifname.c_str()));
    if (ifindex == 0) {
        return make_error(ENODEV, "no interface named {}", ifname);
    }
    bpf_prog_info info{};
    uint32_t len = sizeof(info);
    bpf_obj_get_info_by_fd(_prog.get(), &info, &len);
    bpf_xdp_query_opts q{};
    q.sz = sizeof(q);
    if (bpf_xdp_query(ifindex, 0, &q) < 0 || q.prog_id != info.id) {
        return make_error(ENOENT, "xlb is not attached to {}", ifname);
    }
    uint32_t mode = q.attach_mode == XDP_ATTACHED_SKB ? XDP_FLAGS_SKB_MODE : XDP_FLAGS_DRV_MODE;
    if (int rc = bpf_xdp_detach(ifindex, mode, nullptr); rc < 0) {
        return make_error(rc, "detach from {}", ifname);
    }
    uint32_t key = static_cast<uint32_t>(ifindex);
    bpf_map_delete_elem(_maps.tx_ports.get(), &key);
    return {};
}


result<struct xlb_config> xdp_dataplane::config() const {
    return lookup<struct xlb_config>(_maps.config.get(), 0, "config");
}

result<> xdp_dataplane::set_config(const struct xlb_config& cfg) {
    auto lock = xdp::writer_lock::take(_pin_dir, _lock_wait);
    if (!lock) {
        return lock.error();
    }
    return update(_maps.config.get(), 0, cfg, "config");
}


result<size_t> xdp_dataplane::resolve_pending_neighbours(std::chrono::milliseconds timeout) {
    struct ctx_t {
        std::vector<struct xlb_neigh_event> events;
    } ctx;
    auto cb = [](void* c, void* data, size_t size) -> int {
        if (size >= sizeof(struct xlb_neigh_event)) {
            struct xlb_neigh_event ev;
            std::memcpy(&ev, data, sizeof(ev));
            static_cast<ctx_t*>(c)->events.push_back(ev);
        }
        return 0;
    };
    std::unique_ptr<ring_buffer, void (*)(ring_buffer*)> rb(
        ring_buffer__new(_maps.neigh_events.get(), cb, &ctx, nullptr), ring_buffer__free);
    if (!rb) {
        return errno_error("open neigh_events ring buffer");
    }
    if (int rc = ring_buffer__poll(rb.get(), static_cast<int>(timeout.count())); rc < 0 && rc != -EINTR) {
        return make_error(rc, "poll neigh_events");
    }
    // Each next hop, and each tunnel server's address, once per drain: a busy
    // flow posts an event per packet.
    std::set<std::pair<int, ip_address>> next_hops;
    std::set<ip_address> tun_dsts;
    for (const auto& ev : ctx.events) {
        auto addr = ip_address::from_abi(ev.af, ev.addr);
        if (ev.kind == XLB_NEIGH_EV_TUN_SRC) {
            tun_dsts.insert(addr);
        } else {
            next_hops.insert({static_cast<int>(ev.ifindex), addr});
        }
    }
    size_t handled = 0;
    // TUN dests added with no route: the route's preferred source becomes
    // the outer source of every such dest of that address that still has none.
    std::map<ip_address, union xlb_addr> sources;
    for (const auto& addr : tun_dsts) {
        auto hop = neigh::route_get(addr);
        if (!hop) {
            log::warn("{}", hop.error().message());
            continue;
        }
        if (!hop->source) {
            log::warn("no source address toward {} for the tunnel", addr.to_string());
            continue;
        }
        sources[addr] = hop->source->to_abi();
        next_hops.insert({hop->ifindex, hop->addr}); // the first packet then finds its neighbour too
    }
    if (!sources.empty()) {
        auto lock = xdp::writer_lock::take(_pin_dir, _lock_wait);
        if (!lock) {
            return lock.error();
        }
        // A field filled in from nothing, the same on both sides: a packet
        // sees no source (and asks again) or this one.
        for (uint32_t side = 0; side < 2; ++side) {
            for (uint32_t id = 0; id < _sizes.max_dests; ++id) {
                uint32_t slot = id + side * _sizes.max_dests;
                auto d = lookup<struct xlb_dest>(_maps.dests.get(), slot, "dests");
                if (!d) {
                    return d.error();
                }
                const union xlb_addr none {};
                if (!(d->flags & XLB_DEST_F_ACTIVE) || d->fwd != XLB_FWD_TUN ||
                    std::memcmp(&d->tun_src, &none, sizeof(none)) != 0) {
                    continue;
                }
                auto src = sources.find(ip_address::from_abi(d->af, d->addr));
                if (src == sources.end()) {
                    continue;
                }
                d->tun_src = src->second;
                if (auto r = update(_maps.dests.get(), slot, *d, "dests"); !r) {
                    return r.error();
                }
                handled += side == 0;
            }
        }
    }
    for (const auto& [ifindex, addr] : next_hops) {
        if (auto r = neigh::request(ifindex, addr); !r) {
            log::warn("{}", r.error().message());
            continue;
        }
        ++handled;
    }
    return handled;
}


} // namespace xlb
