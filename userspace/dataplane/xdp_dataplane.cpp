#include <xlb/dataplane/neigh.h>
#include <xlb/dataplane/xdp/convert.h>
#include <xlb/dataplane/xdp_dataplane.h>
#include <xlb/sched/table.h>
#include <xlb/util/clock.h>
#include <xlb/util/log.h>

#include "xlb.skel.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <linux/if_link.h>
#include <net/if.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <linux/magic.h>
#include <time.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <map>
#include <memory>
#include <numeric>
#include <set>

namespace xlb {
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
    f(s->maps.svc_est, m.svc_est);
    f(s->maps.dest_est, m.dest_est);
}

result<skel_ptr> open_skeleton() {
    log::install_libbpf_logger();
    skel_ptr s(xlb_bpf__open());
    if (!s) {
        return errno_error("open BPF object");
    }
    return s;
}

std::string pin_path(const std::string& dir, const char* name) { return dir + "/" + name; }

result<> ensure_bpffs(const std::string& dir) {
    struct statfs st {};
    if (::statfs("/sys/fs/bpf", &st) == 0 && st.f_type == BPF_FS_MAGIC) {
        // mounted
    } else {
        ::mkdir("/sys/fs/bpf", 0755);
        if (::mount("bpf", "/sys/fs/bpf", "bpf", 0, nullptr) < 0) {
            return errno_error("mount bpffs on /sys/fs/bpf");
        }
    }
    std::error_code ec;
    fs::create_directories(dir, ec);
    if (ec) {
        return make_error(ec.value(), "create pin directory {}", dir);
    }
    if (::statfs(dir.c_str(), &st) < 0 || st.f_type != BPF_FS_MAGIC) {
        return make_error(EINVAL, "pin directory {} is not on a bpf filesystem", dir);
    }
    return {};
}

// Writers (xlbctl, xlbd, tests) serialise on flock() of the pin directory.
class instance_lock {
public:
    static result<instance_lock> take(const std::string& dir) {
        instance_lock l;
        l._fd = file_desc(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
        if (!l._fd) {
            return errno_error("open pin directory {}", dir);
        }
        if (::flock(l._fd.get(), LOCK_EX) < 0) {
            return errno_error("lock pin directory {}", dir);
        }
        return l;
    }

private:
    file_desc _fd; // closing it releases the lock
};

uint64_t monotonic_coarse_ns() {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
}

size_t ncpus() {
    static const size_t n = [] {
        int c = libbpf_num_possible_cpus();
        return c > 0 ? static_cast<size_t>(c) : size_t{1};
    }();
    return n;
}

template <class T>
result<T> lookup(int fd, uint32_t key, const char* what) {
    T v{};
    if (bpf_map_lookup_elem(fd, &key, &v) < 0) {
        return errno_error("read {}[{}]", what, key);
    }
    return v;
}

template <class T>
result<> update(int fd, uint32_t key, const T& v, const char* what) {
    if (bpf_map_update_elem(fd, &key, &v, BPF_ANY) < 0) {
        return errno_error("write {}[{}]", what, key);
    }
    return {};
}

result<bpf_map_info> map_info(int fd) {
    bpf_map_info info{};
    uint32_t len = sizeof(info);
    if (bpf_obj_get_info_by_fd(fd, &info, &len) < 0) {
        return errno_error("map info");
    }
    return info;
}

// Sum of a per-CPU xlb_stats value.
result<counters> read_stats(int fd, uint32_t key) {
    std::vector<struct xlb_stats> vals(ncpus());
    if (bpf_map_lookup_elem(fd, &key, vals.data()) < 0) {
        return errno_error("read stats[{}]", key);
    }
    counters c;
    for (const auto& v : vals) {
        c.conns += v.conns;
        c.inpkts += v.inpkts;
        c.inbytes += v.inbytes;
        c.outpkts += v.outpkts;
        c.outbytes += v.outbytes;
    }
    return c;
}

// ip_vs_read_estimator(): the averages without their scaling, rounded.
result<rates> read_rates(int fd, uint32_t key) {
    auto e = lookup<struct xlb_est>(fd, key, "estimator");
    if (!e) {
        return e.error();
    }
    rates r;
    r.cps = (e->cps + 0x1FF) >> 10;
    r.inpps = (e->inpps + 0x1FF) >> 10;
    r.outpps = (e->outpps + 0x1FF) >> 10;
    r.inbps = (e->inbps + 0xF) >> 5;
    r.outbps = (e->outbps + 0xF) >> 5;
    return r;
}


// Visits every entry of a hash map with batched lookups.
template <class K, class V, class F>
result<> for_each_entry(int fd, const char* what, F&& f) {
    constexpr uint32_t chunk = 4096;
    std::vector<K> keys(chunk);
    std::vector<V> vals(chunk);
    uint32_t out_batch = 0;
    bool first = true;
    for (;;) {
        uint32_t count = chunk;
        int rc = bpf_map_lookup_batch(fd, first ? nullptr : &out_batch, &out_batch, keys.data(), vals.data(),
                                      &count, nullptr);
        int err = rc < 0 ? errno : 0;
        for (uint32_t i = 0; i < count; ++i) {
            f(keys[i], vals[i]);
        }
        if (rc < 0) {
            if (err == ENOENT) {
                return {};
            }
            return make_error(err, "read {}", what);
        }
        first = false;
    }
}

// Visits every flow with batched lookups.
template <class F>
result<> for_each_flow(int fd, F&& f) {
    return for_each_entry<struct xlb_flow_key, struct xlb_flow>(fd, "flows", std::forward<F>(f));
}

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
    case XLB_R_MAX: break;
    }
    return "unknown";
}

result<xdp_dataplane> xdp_dataplane::load(const std::string& pin_dir, const load_options& opts) {
    if (opts.max_services == 0 || opts.max_dests == 0 || opts.max_flows == 0) {
        return make_error(EINVAL, "map sizes must be positive");
    }
    if (!sched::is_prime(opts.mh_size)) {
        return make_error(EINVAL, "the Maglev table size must be a prime, not {}", opts.mh_size);
    }
    // A load that fails leaves no empty pin directory of its own behind.
    std::error_code ec;
    const bool fresh = !fs::exists(pin_dir, ec);
    auto r = load_into(pin_dir, opts);
    if (!r && fresh) {
        fs::remove(pin_dir, ec); // only if empty
    }
    return r;
}

result<xdp_dataplane> xdp_dataplane::load_into(const std::string& pin_dir, const load_options& opts) {
    if (auto r = ensure_bpffs(pin_dir); !r) {
        return r.error();
    }
    auto lock = instance_lock::take(pin_dir);
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
    for (auto* m : {s->maps.svc_index, s->maps.vips, s->maps.svcs, s->maps.sched_tables, s->maps.sched_cursor,
                    s->maps.svc_stats, s->maps.mh_tables, s->maps.svc_est}) {
        bpf_map__set_max_entries(m, opts.max_services);
    }
    for (auto* m : {s->maps.dests, s->maps.dest_stats, s->maps.fib_cache, s->maps.dest_conns, s->maps.conn_scratch,
                    s->maps.dest_est}) {
        bpf_map__set_max_entries(m, opts.max_dests);
    }
    bpf_map__set_max_entries(s->maps.flows, opts.max_flows);
    bpf_map__set_max_entries(s->maps.persist, opts.max_flows);
    bpf_map__set_max_entries(s->maps.nat_rev, opts.max_flows);
    // The Maglev tables' size is a load-time choice: give the outer map an
    // inner template of that size (libbpf 1.1 cannot resize its own template).
    file_desc mh_template(bpf_map_create(BPF_MAP_TYPE_ARRAY, "xlb_mh_tmpl", sizeof(uint32_t), sizeof(uint32_t),
                                         opts.mh_size, nullptr));
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
    dp._sizes = opts;
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
    auto skel = open_skeleton();
    if (!skel) {
        return skel.error();
    }
    xdp_dataplane dp;
    dp._pin_dir = pin_dir;
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
        }
    });
    if (!failed) {
        return failed.error();
    }
    auto svcs = map_info(dp._maps.svcs.get());
    auto dests = map_info(dp._maps.dests.get());
    auto flows = map_info(dp._maps.flows.get());
    if (!svcs || !dests || !flows) {
        return make_error(EINVAL, "pinned maps at {} are unreadable", pin_dir);
    }
    auto cfg = lookup<struct xlb_config>(dp._maps.config.get(), 0, "config");
    if (!cfg) {
        return cfg.error();
    }
    dp._sizes = {svcs->max_entries, dests->max_entries, flows->max_entries, cfg->mh_size};
    return dp;
}

result<xdp_dataplane> xdp_dataplane::open(const std::string& pin_dir) { return open_pinned(pin_dir); }

result<> xdp_dataplane::unload(const std::string& pin_dir) {
    auto dp = open_pinned(pin_dir);
    if (!dp) {
        return dp.error();
    }
    auto lock = instance_lock::take(pin_dir);
    if (!lock) {
        return lock.error();
    }
    // Detach wherever our program still runs.
    uint32_t key = 0;
    uint32_t* prev = nullptr;
    std::vector<uint32_t> ifindexes;
    while (bpf_map_get_next_key(dp->_maps.tx_ports.get(), prev, &key) == 0) {
        ifindexes.push_back(key);
        prev = &key;
    }
    bpf_prog_info info{};
    uint32_t len = sizeof(info);
    bpf_obj_get_info_by_fd(dp->_prog.get(), &info, &len);
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
    auto lock = instance_lock::take(_pin_dir);
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
    auto lock = instance_lock::take(_pin_dir);
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

    auto count_keys = [](int fd, size_t key_size) {
        std::vector<uint8_t> k(key_size), next(key_size);
        uint64_t n = 0;
        void* p = nullptr;
        while (bpf_map_get_next_key(fd, p, next.data()) == 0) {
            ++n;
            k = next;
            p = k.data();
        }
        return n;
    };
    uint64_t active_svcs = 0;
    for (uint32_t i = 0; i < _sizes.max_services; ++i) {
        auto s = lookup<struct xlb_svc>(_maps.svcs.get(), i, "svcs");
        active_svcs += s && (s->flags & XLB_SVC_F_ACTIVE);
    }
    uint64_t active_dests = 0;
    for (uint32_t i = 0; i < _sizes.max_dests; ++i) {
        auto d = lookup<struct xlb_dest>(_maps.dests.get(), i, "dests");
        active_dests += d && (d->flags & XLB_DEST_F_ACTIVE);
    }
    uint64_t flows = 0;
    auto r = for_each_flow(_maps.flows.get(), [&](const auto&, const auto&) { ++flows; });
    if (!r) {
        return r.error();
    }
    st.maps = {
        {"svc_index", _sizes.max_services, count_keys(_maps.svc_index.get(), sizeof(struct xlb_svc_key))},
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
    std::vector<uint64_t> vals(ncpus());
    for (uint32_t r = 0; r < XLB_R_MAX; ++r) {
        if (bpf_map_lookup_elem(_maps.reasons.get(), &r, vals.data()) < 0) {
            return errno_error("read reasons[{}]", r);
        }
        for (uint64_t v : vals) {
            out[r] += v;
        }
    }
    return out;
}

result<struct xlb_config> xdp_dataplane::config() const {
    return lookup<struct xlb_config>(_maps.config.get(), 0, "config");
}

result<> xdp_dataplane::set_config(const struct xlb_config& cfg) {
    auto lock = instance_lock::take(_pin_dir);
    if (!lock) {
        return lock.error();
    }
    return update(_maps.config.get(), 0, cfg, "config");
}

result<timeouts> xdp_dataplane::get_timeouts() const {
    auto cfg = config();
    if (!cfg) {
        return cfg.error();
    }
    return timeouts{cfg->tcp_timeout[XLB_TCP_S_ESTABLISHED], cfg->tcp_timeout[XLB_TCP_S_FIN_WAIT], cfg->udp_timeout};
}

result<> xdp_dataplane::op_set_timeouts(const timeouts& t) {
    auto lock = instance_lock::take(_pin_dir);
    if (!lock) {
        return lock.error();
    }
    auto cfg = config();
    if (!cfg) {
        return cfg.error();
    }
    if (t.tcp) {
        cfg->tcp_timeout[XLB_TCP_S_ESTABLISHED] = t.tcp;
    }
    if (t.tcp_fin) {
        cfg->tcp_timeout[XLB_TCP_S_FIN_WAIT] = t.tcp_fin;
    }
    if (t.udp) {
        cfg->udp_timeout = t.udp;
    }
    return update(_maps.config.get(), 0, *cfg, "config");
}

result<> xdp_dataplane::op_zero(const std::optional<service_key>& key) {
    auto lock = instance_lock::take(_pin_dir);
    if (!lock) {
        return lock.error();
    }
    std::vector<uint32_t> idxs;
    if (key) {
        auto slot = find_service(*key);
        if (!slot) {
            return slot.error();
        }
        idxs.push_back(slot->idx);
    } else {
        for (uint32_t i = 0; i < _sizes.max_services; ++i) {
            auto s = lookup<struct xlb_svc>(_maps.svcs.get(), i, "svcs");
            if (!s) {
                return s.error();
            }
            if (s->flags & XLB_SVC_F_ACTIVE) {
                idxs.push_back(i);
            }
        }
    }
    for (uint32_t idx : idxs) {
        if (auto r = zero_percpu(_maps.svc_stats.get(), idx, sizeof(struct xlb_stats)); !r) {
            return r;
        }
        if (auto r = reset_estimator(_maps.svc_est.get(), _maps.svc_stats.get(), idx); !r) {
            return r;
        }
        auto dests = service_dests(idx);
        if (!dests) {
            return dests.error();
        }
        for (const auto& d : *dests) {
            if (auto r = zero_percpu(_maps.dest_stats.get(), d.id, sizeof(struct xlb_stats)); !r) {
                return r;
            }
            if (auto r = reset_estimator(_maps.dest_est.get(), _maps.dest_stats.get(), d.id); !r) {
                return r;
            }
        }
    }
    return {};
}

result<xdp_dataplane::svc_slot> xdp_dataplane::find_service(const service_key& key) const {
    auto k = xdp::svc_key_to_abi(key);
    uint32_t idx = 0;
    if (bpf_map_lookup_elem(_maps.svc_index.get(), &k, &idx) < 0) {
        return make_error(ESRCH, "service {} {}", to_string(key.proto), key.vip.to_string());
    }
    auto svc = lookup<struct xlb_svc>(_maps.svcs.get(), idx, "svcs");
    if (!svc) {
        return svc.error();
    }
    return svc_slot{idx, *svc};
}

result<std::vector<xdp_dataplane::dest_slot>> xdp_dataplane::service_dests(uint32_t svc) const {
    std::vector<dest_slot> out;
    for (uint32_t id = 0; id < _sizes.max_dests; ++id) {
        auto d = lookup<struct xlb_dest>(_maps.dests.get(), id, "dests");
        if (!d) {
            return d.error();
        }
        if ((d->flags & XLB_DEST_F_ACTIVE) && d->svc == svc) {
            out.push_back({id, *d});
        }
    }
    // IPVS list order: newest first.
    std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.dest.order > b.dest.order; });
    return out;
}

namespace {


// A new inner map holding `value` at key 0..n-1, ready to be swapped in.
template <class T>
result<file_desc> make_inner(const char* name, const T* values, uint32_t n, const char* what) {
    file_desc fd(bpf_map_create(BPF_MAP_TYPE_ARRAY, name, sizeof(uint32_t), sizeof(T), n, nullptr));
    if (!fd) {
        return errno_error("create {}", what);
    }
    std::vector<uint32_t> keys(n);
    std::iota(keys.begin(), keys.end(), 0u);
    uint32_t count = n;
    if (bpf_map_update_batch(fd.get(), keys.data(), values, &count, nullptr) < 0) {
        return errno_error("fill {}", what);
    }
    return fd;
}

} // namespace

result<> xdp_dataplane::rebuild_table(uint32_t svc_idx, const struct xlb_svc& svc) {
    auto dests = service_dests(svc_idx);
    if (!dests) {
        return dests.error();
    }
    std::vector<sched::member> members;
    for (const auto& d : *dests) {
        members.push_back({d.id, d.dest.weight, xdp::dest_from_abi(d.dest).addr, d.dest.last_weight});
    }
    auto cfg = xdp::svc_config_from_abi(svc);
    // The dest bound is the scheduler's: -E to a scanning scheduler refuses a
    // service too big to scan, and leaves it as it was.
    if (members.size() > sched::max_dests(cfg.sched)) {
        return make_error(ENOSPC, "the service has {} dests; {} schedules at most {} ({} for rr wrr sh dh mh)",
                          members.size(), to_string(cfg.sched), sched::max_dests(cfg.sched),
                          XLB_MAX_DESTS_HASHED);
    }
    // The generation only has to differ from the table it replaces.
    uint32_t gen = static_cast<uint32_t>(monotonic_coarse_ns() / 1000) ^ (svc_idx << 20);
    auto table = sched::build_table(cfg, members, gen);
    if (!table) {
        return table.error();
    }
    // mh's lookup table first: while the scheduling table still names the
    // old scheduler it is not read, and after the swap it is complete.
    if (cfg.sched == scheduler::mh) {
        auto lookup_table = sched::build_maglev(members, _sizes.mh_size);
        auto mh = make_inner("xlb_mh", lookup_table.data(), _sizes.mh_size, "Maglev table");
        if (!mh) {
            return mh.error();
        }
        int fd = mh->get();
        if (bpf_map_update_elem(_maps.mh_tables.get(), &svc_idx, &fd, BPF_ANY) < 0) {
            return errno_error("install Maglev table for service {}", svc_idx);
        }
    } else {
        bpf_map_delete_elem(_maps.mh_tables.get(), &svc_idx);
    }
    // Build aside, swap in with one update: packets see the old or the new set.
    // The inner map has exactly the table's chunks (BPF_F_INNER_MAP, as the
    // template: each service's table its own max_entries).
    auto n = static_cast<uint32_t>(table->chunks.size());
    LIBBPF_OPTS(bpf_map_create_opts, inner_opts, .map_flags = BPF_F_INNER_MAP);
    file_desc inner(bpf_map_create(BPF_MAP_TYPE_ARRAY, "xlb_sched", sizeof(uint32_t),
                                   sizeof(union xlb_sched_chunk), n, &inner_opts));
    if (!inner) {
        return errno_error("create scheduling table ({} chunks, {} bytes)", n, table->bytes());
    }
    std::vector<uint32_t> keys(n);
    std::iota(keys.begin(), keys.end(), 0u);
    uint32_t count = n;
    if (bpf_map_update_batch(inner.get(), keys.data(), table->chunks.data(), &count, nullptr) < 0) {
        return errno_error("fill scheduling table");
    }
    int inner_fd = inner.get();
    if (bpf_map_update_elem(_maps.sched_tables.get(), &svc_idx, &inner_fd, BPF_ANY) < 0) {
        return errno_error("install scheduling table for service {}", svc_idx);
    }
    return {};
}

result<> xdp_dataplane::zero_percpu(int fd, uint32_t key, size_t value_size) {
    std::vector<uint8_t> zeros(((value_size + 7) / 8) * 8 * ncpus(), 0);
    if (bpf_map_update_elem(fd, &key, zeros.data(), BPF_ANY) < 0) {
        return errno_error("zero per-CPU entry {}", key);
    }
    return {};
}

result<> xdp_dataplane::reset_estimator(int est_fd, int stats_fd, uint32_t key) {
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

result<> xdp_dataplane::op_add_service(const service_config& cfg) {
    auto lock = instance_lock::take(_pin_dir);
    if (!lock) {
        return lock.error();
    }
    auto key = xdp::svc_key_to_abi(cfg.key);
    uint32_t existing = 0;
    if (bpf_map_lookup_elem(_maps.svc_index.get(), &key, &existing) == 0) {
        return make_error(EEXIST, "service {} {}", to_string(cfg.key.proto), cfg.key.vip.to_string());
    }
    std::optional<uint32_t> idx;
    for (uint32_t i = 0; i < _sizes.max_services && !idx; ++i) {
        auto s = lookup<struct xlb_svc>(_maps.svcs.get(), i, "svcs");
        if (!s) {
            return s.error();
        }
        if (!(s->flags & XLB_SVC_F_ACTIVE)) {
            idx = i;
        }
    }
    if (!idx) {
        return make_error(ENOSPC, "all {} service slots are in use (xlbctl load --max-services)",
                          _sizes.max_services);
    }
    struct xlb_svc svc {};
    svc.key = key;
    svc.flags = XLB_SVC_F_ACTIVE;
    svc.sched = static_cast<uint32_t>(cfg.sched);
    svc.ipvs_flags = xdp::svc_flags_to_abi(cfg);
    svc.timeout = cfg.timeout;
    svc.netmask = cfg.netmask;
    // Everything the data path needs exists before the key is published.
    if (auto r = zero_percpu(_maps.svc_stats.get(), *idx, sizeof(struct xlb_stats)); !r) {
        return r;
    }
    if (auto r = reset_estimator(_maps.svc_est.get(), _maps.svc_stats.get(), *idx); !r) {
        return r;
    }
    if (auto r = rebuild_table(*idx, svc); !r) {
        return r;
    }
    if (auto r = update(_maps.svcs.get(), *idx, svc, "svcs"); !r) {
        return r;
    }
    struct xlb_svc_key vk {};
    vk.af = key.af;
    vk.vip = key.vip;
    uint32_t refs = 0;
    bpf_map_lookup_elem(_maps.vips.get(), &vk, &refs);
    ++refs;
    if (bpf_map_update_elem(_maps.vips.get(), &vk, &refs, BPF_ANY) < 0 ||
        bpf_map_update_elem(_maps.svc_index.get(), &key, &*idx, BPF_NOEXIST) < 0) {
        auto e = errno_error("publish service");
        svc.flags = 0;
        update(_maps.svcs.get(), *idx, svc, "svcs");
        return e;
    }
    return {};
}

result<> xdp_dataplane::op_edit_service(const service_config& cfg) {
    auto lock = instance_lock::take(_pin_dir);
    if (!lock) {
        return lock.error();
    }
    auto slot = find_service(cfg.key);
    if (!slot) {
        return slot.error();
    }
    slot->svc.sched = static_cast<uint32_t>(cfg.sched);
    slot->svc.ipvs_flags = xdp::svc_flags_to_abi(cfg);
    slot->svc.timeout = cfg.timeout;
    slot->svc.netmask = cfg.netmask;
    if (auto r = rebuild_table(slot->idx, slot->svc); !r) {
        return r;
    }
    return update(_maps.svcs.get(), slot->idx, slot->svc, "svcs");
}

result<> xdp_dataplane::remove_service(const svc_slot& slot) {
    // Unpublish first: from here no packet finds the service.
    if (bpf_map_delete_elem(_maps.svc_index.get(), &slot.svc.key) < 0) {
        return errno_error("delete service key");
    }
    struct xlb_svc_key vk {};
    vk.af = slot.svc.key.af;
    vk.vip = slot.svc.key.vip;
    uint32_t refs = 0;
    if (bpf_map_lookup_elem(_maps.vips.get(), &vk, &refs) == 0) {
        if (refs <= 1) {
            bpf_map_delete_elem(_maps.vips.get(), &vk);
        } else {
            --refs;
            bpf_map_update_elem(_maps.vips.get(), &vk, &refs, BPF_ANY);
        }
    }
    auto dests = service_dests(slot.idx);
    if (!dests) {
        return dests.error();
    }
    for (auto d : *dests) {
        d.dest.flags = 0;
        if (auto r = update(_maps.dests.get(), d.id, d.dest, "dests"); !r) {
            return r;
        }
    }
    bpf_map_delete_elem(_maps.sched_tables.get(), &slot.idx);
    struct xlb_svc svc = slot.svc;
    svc.flags = 0;
    return update(_maps.svcs.get(), slot.idx, svc, "svcs");
}

result<> xdp_dataplane::op_del_service(const service_key& key) {
    auto lock = instance_lock::take(_pin_dir);
    if (!lock) {
        return lock.error();
    }
    auto slot = find_service(key);
    if (!slot) {
        return slot.error();
    }
    return remove_service(*slot);
}

result<> xdp_dataplane::op_clear() {
    auto lock = instance_lock::take(_pin_dir);
    if (!lock) {
        return lock.error();
    }
    for (uint32_t i = 0; i < _sizes.max_services; ++i) {
        auto s = lookup<struct xlb_svc>(_maps.svcs.get(), i, "svcs");
        if (!s) {
            return s.error();
        }
        if (s->flags & XLB_SVC_F_ACTIVE) {
            if (auto r = remove_service({i, *s}); !r) {
                return r;
            }
        }
    }
    return {};
}

namespace {

// The kernel refuses a lower threshold above the upper one (ERANGE).
result<> check_thresholds(const dest_config& cfg) {
    if (cfg.l_threshold > cfg.u_threshold) {
        return make_error(ERANGE, "lower threshold {} above upper threshold {}", cfg.l_threshold, cfg.u_threshold);
    }
    return {};
}

} // namespace

result<xdp_dataplane::dest_match> xdp_dataplane::find_dest(const service_key& key, const endpoint& addr) const {
    auto slot = find_service(key);
    if (!slot) {
        return slot.error();
    }
    auto dests = service_dests(slot->idx);
    if (!dests) {
        return dests.error();
    }
    dest_match m{*slot, dests->size(), std::nullopt};
    for (const auto& d : *dests) {
        if (xdp::dest_from_abi(d.dest).addr == addr) {
            m.dest = d;
        }
    }
    return m;
}

// TUN: the outer header's source is this director's address toward the dest,
// the preferred source of the kernel's route to it.
result<> xdp_dataplane::set_tunnel(struct xlb_dest& d, const dest_config& cfg) {
    d.tun_type = static_cast<uint8_t>(cfg.tunnel);
    d.tun_port = htons(cfg.tun_port);
    d.tun_flags = cfg.tun_flags;
    d.tun_src = {};
    if (cfg.fwd != forwarding::tun) {
        return {};
    }
    if (cfg.tunnel == tun_type::gre) {
        return make_error(EOPNOTSUPP, "GRE tunnels are not supported yet");
    }
    if (cfg.tunnel == tun_type::gue && cfg.tun_port == 0) {
        return make_error(EINVAL, "a GUE tunnel needs --tun-port");
    }
    auto hop = neigh::route_get(cfg.addr.addr);
    if (!hop) {
        return hop.error();
    }
    if (!hop->source) {
        return make_error(EADDRNOTAVAIL, "no source address toward {} for the tunnel", cfg.addr.addr.to_string());
    }
    d.tun_src = hop->source->to_abi();
    return {};
}

// The data path looks for NAT replies only once a NAT dest exists, so DR-only
// directors pay nothing for it. The flag stays set.
result<> xdp_dataplane::enable_nat_replies() {
    auto cfg = config();
    if (!cfg) {
        return cfg.error();
    }
    if (cfg->flags & XLB_CFG_F_NAT) {
        return {};
    }
    cfg->flags |= XLB_CFG_F_NAT;
    return update(_maps.config.get(), 0, *cfg, "config");
}

result<> xdp_dataplane::rewrite_dest(const svc_slot& svc, const dest_slot& dest) {
    if (auto r = update(_maps.dests.get(), dest.id, dest.dest, "dests"); !r) {
        return r;
    }
    return rebuild_table(svc.idx, svc.svc);
}

result<> xdp_dataplane::op_add_dest(const service_key& key, const dest_config& cfg) {
    if (auto r = check_thresholds(cfg); !r) {
        return r;
    }
    auto lock = instance_lock::take(_pin_dir);
    if (!lock) {
        return lock.error();
    }
    auto found = find_dest(key, cfg.addr);
    if (!found) {
        return found.error();
    }
    if (found->dest) {
        return make_error(EEXIST, "destination {}", cfg.addr.to_string());
    }
    if (auto s = static_cast<scheduler>(found->svc.svc.sched); found->ndests >= sched::max_dests(s)) {
        return make_error(ENOSPC, "a service scheduled by {} has at most {} dests", to_string(s),
                          sched::max_dests(s));
    }
    const svc_slot* slot = &found->svc;
    std::optional<uint32_t> id;
    uint32_t order = 0;
    struct xlb_dest old {};
    for (uint32_t i = 0; i < _sizes.max_dests; ++i) {
        auto d = lookup<struct xlb_dest>(_maps.dests.get(), i, "dests");
        if (!d) {
            return d.error();
        }
        if (d->flags & XLB_DEST_F_ACTIVE) {
            order = std::max(order, d->order + 1);
        } else if (!id) {
            id = i;
            old = *d;
        }
    }
    if (!id) {
        return make_error(ENOSPC, "all {} dest slots are in use (xlbctl load --max-dests)", _sizes.max_dests);
    }
    struct xlb_dest d {};
    d.addr = cfg.addr.addr.to_abi();
    d.port = htons(cfg.addr.port);
    d.af = static_cast<uint8_t>(cfg.addr.addr.af());
    d.fwd = static_cast<uint8_t>(cfg.fwd);
    d.flags = XLB_DEST_F_ACTIVE;
    d.gen = old.gen + 1; // flows that pointed at the slot's last user no longer match
    d.svc = slot->idx;
    d.weight = cfg.weight;
    d.u_threshold = cfg.u_threshold;
    d.l_threshold = cfg.l_threshold;
    d.order = order;
    d.last_weight = cfg.weight;
    if (auto r = set_tunnel(d, cfg); !r) {
        return r;
    }
    if (auto r = zero_percpu(_maps.dest_stats.get(), *id, sizeof(struct xlb_stats)); !r) {
        return r;
    }
    if (auto r = reset_estimator(_maps.dest_est.get(), _maps.dest_stats.get(), *id); !r) {
        return r;
    }
    if (auto r = update(_maps.dest_conns.get(), *id, xlb_dest_conns{}, "dest_conns"); !r) {
        return r;
    }
    if (cfg.fwd == forwarding::nat) {
        if (auto r = enable_nat_replies(); !r) {
            return r;
        }
    }
    if (auto r = update(_maps.dests.get(), *id, d, "dests"); !r) {
        return r;
    }
    if (auto r = rebuild_table(slot->idx, slot->svc); !r) {
        d.flags = 0;
        update(_maps.dests.get(), *id, d, "dests");
        return r;
    }
    return {};
}

result<> xdp_dataplane::op_edit_dest(const service_key& key, const dest_config& cfg) {
    if (auto r = check_thresholds(cfg); !r) {
        return r;
    }
    auto lock = instance_lock::take(_pin_dir);
    if (!lock) {
        return lock.error();
    }
    auto found = find_dest(key, cfg.addr);
    if (!found) {
        return found.error();
    }
    if (!found->dest) {
        return make_error(ENOENT, "destination {}", cfg.addr.to_string());
    }
    auto d = *found->dest;
    if (cfg.fwd == forwarding::nat) {
        if (auto r = enable_nat_replies(); !r) {
            return r;
        }
    }
    if (auto r = set_tunnel(d.dest, cfg); !r) {
        return r;
    }
    d.dest.fwd = static_cast<uint8_t>(cfg.fwd);
    d.dest.weight = cfg.weight;
    if (cfg.weight > 0) {
        d.dest.last_weight = cfg.weight; // mh keeps a quiesced dest's slots
    }
    d.dest.u_threshold = cfg.u_threshold;
    d.dest.l_threshold = cfg.l_threshold;
    return rewrite_dest(found->svc, d);
}

result<> xdp_dataplane::op_del_dest(const service_key& key, const endpoint& addr) {
    auto lock = instance_lock::take(_pin_dir);
    if (!lock) {
        return lock.error();
    }
    auto found = find_dest(key, addr);
    if (!found) {
        return found.error();
    }
    if (!found->dest) {
        return make_error(ENOENT, "destination {}", addr.to_string());
    }
    // Inactive: its flows are rescheduled on their next packet. The
    // generation stays, and moves on when the slot is reused.
    auto d = *found->dest;
    d.dest.flags = 0;
    return rewrite_dest(found->svc, d);
}

result<std::vector<service_state>> xdp_dataplane::list() const {
    std::vector<service_state> out;
    for (uint32_t i = 0; i < _sizes.max_services; ++i) {
        auto s = lookup<struct xlb_svc>(_maps.svcs.get(), i, "svcs");
        if (!s) {
            return s.error();
        }
        if (!(s->flags & XLB_SVC_F_ACTIVE)) {
            continue;
        }
        service_state st;
        st.config = xdp::svc_config_from_abi(*s);
        auto c = read_stats(_maps.svc_stats.get(), i);
        if (!c) {
            return c.error();
        }
        st.stats = *c;
        auto est = read_rates(_maps.svc_est.get(), i);
        if (!est) {
            return est.error();
        }
        st.rate = *est;
        auto dests = service_dests(i);
        if (!dests) {
            return dests.error();
        }
        for (const auto& d : *dests) {
            dest_state ds;
            ds.config = xdp::dest_from_abi(d.dest);
            auto dc = read_stats(_maps.dest_stats.get(), d.id);
            if (!dc) {
                return dc.error();
            }
            ds.stats = *dc;
            auto dest_est = read_rates(_maps.dest_est.get(), d.id);
            if (!dest_est) {
                return dest_est.error();
            }
            ds.rate = *dest_est;
            // Kept by the data path with atomics, recounted by its sweeper.
            auto conns = lookup<struct xlb_dest_conns>(_maps.dest_conns.get(), d.id, "dest_conns");
            if (!conns) {
                return conns.error();
            }
            ds.active_conns = conns->active;
            ds.inactive_conns = conns->inactive;
            ds.persist_conns = conns->persist;
            ds.overloaded = conns->overloaded != 0;
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
    std::map<uint32_t, struct xlb_svc> svcs;
    for (uint32_t i = 0; i < _sizes.max_services; ++i) {
        auto s = lookup<struct xlb_svc>(_maps.svcs.get(), i, "svcs");
        if (!s) {
            return s.error();
        }
        if (s->flags & XLB_SVC_F_ACTIVE) {
            svcs.emplace(i, *s);
        }
    }
    std::map<uint32_t, std::optional<struct xlb_dest>> dests;
    // The dest a flow or template points at, if it still holds that generation.
    auto live_dest = [&](uint32_t id, uint32_t gen) -> std::optional<struct xlb_dest> {
        auto it = dests.find(id);
        if (it == dests.end()) {
            std::optional<struct xlb_dest> d;
            if (id < _sizes.max_dests) {
                if (auto r = lookup<struct xlb_dest>(_maps.dests.get(), id, "dests"); r && (r->flags & XLB_DEST_F_ACTIVE)) {
                    d = *r;
                }
            }
            it = dests.emplace(id, d).first;
        }
        if (!it->second || it->second->gen != gen) {
            return std::nullopt;
        }
        return it->second;
    };

    std::vector<conn_state> out;
    // Templates with an established connection, and the dest it went to.
    std::set<std::pair<std::array<uint8_t, sizeof(struct xlb_persist_key)>, uint32_t>> assured;
    auto r = for_each_flow(_maps.flows.get(), [&](const struct xlb_flow_key& k, const struct xlb_flow& f) {
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
    });
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
    return out;
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
    size_t handled = 0;
    for (const auto& ev : ctx.events) {
        auto addr = ip_address::from_abi(ev.af, ev.addr);
        if (auto r = neigh::request(static_cast<int>(ev.ifindex), addr); !r) {
            log::warn("{}", r.error().message());
            continue;
        }
        ++handled;
    }
    return handled;
}


const capabilities& xdp_dataplane::caps() const noexcept {
    static const capabilities c = [] {
        capabilities c;
        c.backend = "xdp";
        return c;
    }();
    return c;
}

result<std::vector<reason_report>> xdp_dataplane::verdicts() const {
    auto r = reasons();
    if (!r) {
        return r.error();
    }
    return reason_reports(*r);
}

// Interim: one change at a time (the indexed, crash-atomic table replaces it).
apply_result xdp_dataplane::apply(const change_set& changes) {
    for (size_t i = 0; i < changes.size(); ++i) {
        const auto& c = changes[i];
        result<> r;
        switch (c.what) {
        case change::kind::add_service: r = op_add_service(c.service); break;
        case change::kind::edit_service: r = op_edit_service(c.service); break;
        case change::kind::del_service: r = op_del_service(c.service.key); break;
        case change::kind::clear: r = op_clear(); break;
        case change::kind::add_dest: r = op_add_dest(c.service.key, c.dest); break;
        case change::kind::edit_dest: r = op_edit_dest(c.service.key, c.dest); break;
        case change::kind::del_dest: r = op_del_dest(c.service.key, c.dest.addr); break;
        case change::kind::set_timeouts: r = op_set_timeouts(c.set); break;
        case change::kind::zero: r = op_zero(c.all ? std::nullopt : std::optional<service_key>(c.service.key)); break;
        }
        if (!r) {
            return change_error{i, r.error()};
        }
    }
    return {};
}

} // namespace xlb
