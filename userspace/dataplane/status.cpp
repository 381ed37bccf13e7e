// xdp_dataplane::report(): what `xlbctl status` shows, gathered from the
// kernel (program info, XDP attachments, ethtool) and the pinned maps.

#include <xlb/dataplane/status.h>
#include <xlb/dataplane/xdp_dataplane.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/ethtool.h>
#include <linux/if_link.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>

namespace xlb {
namespace {

namespace fs = std::filesystem;

size_t possible_cpus() {
    int c = libbpf_num_possible_cpus();
    return c > 0 ? static_cast<size_t>(c) : size_t{1};
}

// The "key:\tvalue" lines of /proc/self/fdinfo/FD: what kind of BPF object
// an fd is ("map_type" or "prog_type") and what the kernel charges for it.
std::map<std::string, std::string> fdinfo(int fd) {
    std::map<std::string, std::string> out;
    std::ifstream in(fmt::format("/proc/self/fdinfo/{}", fd));
    std::string line;
    while (std::getline(in, line)) {
        auto colon = line.find(':');
        if (colon == std::string::npos) {
            continue;
        }
        auto v = line.substr(colon + 1);
        v.erase(0, v.find_first_not_of(" \t"));
        out[line.substr(0, colon)] = v;
    }
    return out;
}

uint64_t to_u64(const std::string& s) {
    try {
        return std::stoull(s);
    } catch (const std::exception&) {
        return 0;
    }
}

// Visits every entry of a map with batched lookups, 4096 at a time, so a
// million-entry flow table costs some 250 system calls, not two million.
// Maps without batch support (devmaps) fall back to get_next_key, which
// counts keys only (value is null). A snapshot: entries come and go meanwhile.
template <class F>
result<> for_each_entry(int fd, uint32_t key_size, uint32_t value_size, F&& f) {
    uint32_t chunk = 4096;
    std::vector<uint8_t> keys, vals;
    // The batch token is a bucket index for hash maps, a key for arrays.
    std::vector<uint8_t> in_token(std::max<uint32_t>(key_size, 8)), out_token(in_token.size());
    bool first = true;
    for (;;) {
        keys.resize(size_t{chunk} * key_size);
        vals.resize(size_t{chunk} * value_size);
        uint32_t count = chunk;
        int rc = bpf_map_lookup_batch(fd, first ? nullptr : in_token.data(), out_token.data(), keys.data(),
                                      vals.data(), &count, nullptr);
        int err = rc < 0 ? errno : 0;
        if (rc < 0 && first && (err == EINVAL || err == EOPNOTSUPP || err == 524 /* ENOTSUPP */)) {
            break; // no batch operations for this map type
        }
        if (rc < 0 && err == ENOSPC && count == 0 && chunk < (1u << 20)) {
            chunk *= 2; // a hash bucket bigger than the buffer
            continue;
        }
        for (uint32_t i = 0; i < count; ++i) {
            f(&keys[size_t{i} * key_size], &vals[size_t{i} * value_size]);
        }
        if (rc < 0) {
            if (err == ENOENT) {
                return {};
            }
            return make_error(err, "read map entries");
        }
        in_token = out_token;
        first = false;
    }
    std::vector<uint8_t> k(key_size), next(key_size);
    void* prev = nullptr;
    while (bpf_map_get_next_key(fd, prev, next.data()) == 0) {
        f(next.data(), nullptr);
        k = next;
        prev = k.data();
    }
    if (errno != ENOENT) {
        return errno_error("read map keys");
    }
    return {};
}

bool is_hash(uint32_t type) {
    switch (type) {
    case BPF_MAP_TYPE_HASH:
    case BPF_MAP_TYPE_LRU_HASH:
    case BPF_MAP_TYPE_PERCPU_HASH:
    case BPF_MAP_TYPE_LRU_PERCPU_HASH:
    case BPF_MAP_TYPE_DEVMAP_HASH:
    case BPF_MAP_TYPE_LPM_TRIE: return true;
    default: return false;
    }
}

bool is_percpu(uint32_t type) {
    return type == BPF_MAP_TYPE_PERCPU_HASH || type == BPF_MAP_TYPE_LRU_PERCPU_HASH ||
           type == BPF_MAP_TYPE_PERCPU_ARRAY;
}

std::string driver_of(const std::string& ifname) {
    file_desc sock(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    if (!sock || ifname.size() >= IFNAMSIZ) {
        return {};
    }
    ethtool_drvinfo info{};
    info.cmd = ETHTOOL_GDRVINFO;
    ifreq ifr{};
    std::copy(ifname.begin(), ifname.end(), ifr.ifr_name);
    ifr.ifr_data = reinterpret_cast<char*>(&info);
    if (::ioctl(sock.get(), SIOCETHTOOL, &ifr) < 0) {
        return {};
    }
    return std::string(info.driver, strnlen(info.driver, sizeof(info.driver)));
}

std::string ifname_of(int ifindex) {
    char name[IF_NAMESIZE] = {};
    return if_indextoname(static_cast<unsigned>(ifindex), name) ? std::string(name)
                                                                   : fmt::format("ifindex {}", ifindex);
}

// Wall-clock seconds of a CLOCK_BOOTTIME stamp in ns (bpf_prog_info.load_time).
int64_t boottime_to_unix(uint64_t boot_ns) {
    timespec rt{}, bt{};
    clock_gettime(CLOCK_REALTIME, &rt);
    clock_gettime(CLOCK_BOOTTIME, &bt);
    int64_t now_boot = static_cast<int64_t>(bt.tv_sec) * 1000000000 + bt.tv_nsec;
    int64_t now_rt = static_cast<int64_t>(rt.tv_sec) * 1000000000 + rt.tv_nsec;
    return (now_rt - (now_boot - static_cast<int64_t>(boot_ns))) / 1000000000;
}

const char* ip_dir(family af) { return af == family::inet ? "ipv4" : "ipv6"; }

} // namespace

std::optional<bool> interface_forwarding(const std::string& ifname, family af) {
    if (ifname.empty() || ifname.find('/') != std::string::npos || ifname == "." || ifname == "..") {
        return std::nullopt;
    }
    std::ifstream in(fmt::format("/proc/sys/net/{}/conf/{}/forwarding", ip_dir(af), ifname));
    int v = 0;
    if (!(in >> v)) {
        return std::nullopt;
    }
    return v != 0;
}

std::string forwarding_sysctl(const std::string& ifname, family af) {
    // sysctl(8) separates with dots, so a dot in a name is written as a slash.
    std::string name = ifname;
    std::replace(name.begin(), name.end(), '.', '/');
    return fmt::format("net.{}.conf.{}.forwarding=1", ip_dir(af), name);
}

std::string_view reason_verdict(enum xlb_reason r) noexcept {
    switch (r) {
    case XLB_R_TX:
    case XLB_R_TX_ICMP_TOO_BIG: return "tx";
    case XLB_R_REDIRECT: return "redirect";
    case XLB_R_PASS_NOT_IP:
    case XLB_R_PASS_NOT_L4:
    case XLB_R_PASS_NO_SERVICE:
    case XLB_R_PASS_FRAGMENT:
    case XLB_R_PASS_IP_OPTIONS:
    case XLB_R_PASS_TCP_NOT_SYN:
    case XLB_R_PASS_LOCAL:
    case XLB_R_PASS_MALFORMED: return "pass";
    case XLB_R_DROP_MALFORMED:
    case XLB_R_DROP_FRAGMENT:
    case XLB_R_DROP_NO_DEST:
    case XLB_R_DROP_NO_NEIGH:
    case XLB_R_DROP_FIB:
    case XLB_R_DROP_FWD_DISABLED:
    case XLB_R_DROP_NO_TX_PORT:
    case XLB_R_DROP_INTERNAL:
    case XLB_R_DROP_UNSUPPORTED:
    case XLB_R_DROP_ENCAP:
    case XLB_R_DROP_TOO_BIG:
    case XLB_R_DROP_NO_TUN_SRC:
    case XLB_R_DROP_TOO_BIG_LIMITED: return "drop";
    case XLB_R_MAX: break;
    }
    return "unknown";
}

std::string_view reason_description(enum xlb_reason r) noexcept {
    switch (r) {
    case XLB_R_TX: return "forwarded out of the interface it came in on (XDP_TX)";
    case XLB_R_REDIRECT: return "forwarded out of another interface (XDP_REDIRECT)";
    case XLB_R_PASS_NOT_IP: return "not IPv4 or IPv6";
    case XLB_R_PASS_NOT_L4: return "not TCP or UDP";
    case XLB_R_PASS_NO_SERVICE: return "not for a virtual service";
    case XLB_R_PASS_FRAGMENT: return "fragment to a VIP, given to the kernel";
    case XLB_R_PASS_IP_OPTIONS: return "IPv4 options to a VIP, given to the kernel";
    case XLB_R_PASS_TCP_NOT_SYN: return "TCP with no flow and no SYN (IPVS does not schedule it)";
    case XLB_R_PASS_LOCAL: return "for this host (local dest or local route)";
    case XLB_R_PASS_MALFORMED: return "bad L2/L3 header, or bad L4 header not to a VIP: the kernel judges";
    case XLB_R_DROP_MALFORMED: return "truncated or inconsistent TCP/UDP header to a VIP";
    case XLB_R_DROP_FRAGMENT: return "fragment or IPv4 options to a VIP, dropped by config";
    case XLB_R_DROP_NO_DEST: return "the service has no real server that takes new flows";
    case XLB_R_DROP_NO_NEIGH: return "next hop unresolved; resolution requested";
    case XLB_R_DROP_FIB: return "no route, blackhole, unreachable, or needs fragmenting";
    case XLB_R_DROP_FWD_DISABLED: return "forwarding is off on the ingress interface";
    case XLB_R_DROP_NO_TX_PORT: return "egress interface not attached (not in tx_ports)";
    case XLB_R_DROP_INTERNAL: return "a map lookup that cannot fail did";
    case XLB_R_DROP_UNSUPPORTED: return "forwarding method not in the data path yet";
    case XLB_R_DROP_ENCAP: return "no headroom to encapsulate (tunneling)";
    case XLB_R_TX_ICMP_TOO_BIG: return "too big for the egress MTU: ICMP error sent back";
    case XLB_R_DROP_TOO_BIG: return "too big, IPv4 without DF: xlb does not fragment";
    case XLB_R_DROP_NO_TUN_SRC: return "tunnel server with no outer source yet (no route when added); lookup requested";
    case XLB_R_DROP_TOO_BIG_LIMITED: return "too big, and its ICMP error over the rate limit (icmp_ratelimit, icmp_msgs_per_sec)";
    case XLB_R_MAX: break;
    }
    return "";
}

std::vector<reason_report> reason_reports(const std::array<uint64_t, XLB_R_MAX>& packets) {
    std::vector<reason_report> out;
    out.reserve(XLB_R_MAX);
    for (int r = 0; r < XLB_R_MAX; ++r) {
        auto e = static_cast<enum xlb_reason>(r);
        out.push_back({std::string(reason_name(e)), std::string(reason_verdict(e)),
                       std::string(reason_description(e)), packets[static_cast<size_t>(r)]});
    }
    return out;
}

result<status_report> xdp_dataplane::report() const {
    status_report st;
    st.pin_dir = _pin_dir;
    st.backend.name = "xdp";
    st.backend.reason = fmt::format("pinned data path found at {}", _pin_dir);
    st.max_services = _sizes.max_services;
    st.max_dests = _sizes.max_dests;
    st.max_flows = _sizes.max_flows;
    st.mh_size = _sizes.mh_size;
    st.max_embryonic = _sizes.max_embryonic;
    st.icmp_ratelimit_ms = _sizes.icmp_ratelimit_ms;
    st.icmp_msgs_per_sec = _sizes.icmp_msgs_per_sec;
    st.icmp_msgs_burst = _sizes.icmp_msgs_burst;

    bpf_prog_info info{};
    uint32_t len = sizeof(info);
    if (bpf_obj_get_info_by_fd(_prog.get(), &info, &len) < 0) {
        return errno_error("read program info");
    }
    auto& p = st.program;
    p.id = info.id;
    p.name = std::string(info.name, strnlen(info.name, sizeof(info.name)));
    for (auto b : info.tag) {
        p.tag += fmt::format("{:02x}", b);
    }
    p.verified_insns = info.verified_insns;
    p.xlated_bytes = info.xlated_prog_len;
    p.jited_bytes = info.jited_prog_len;
    p.loaded_at_unix = boottime_to_unix(info.load_time);
    p.run_count = info.run_cnt;
    p.run_time_ns = info.run_time_ns;

    // Interfaces: every one in this network namespace running our program,
    // in whichever modes, plus the tx_ports entries (attached with xlbctl).
    std::set<int> tx_ports;
    {
        uint32_t key = 0;
        uint32_t* prev = nullptr;
        while (bpf_map_get_next_key(_maps.tx_ports.get(), prev, &key) == 0) {
            tx_ports.insert(static_cast<int>(key));
            prev = &key;
        }
    }
    std::set<int> seen;
    if (auto* ifs = if_nameindex()) {
        for (auto* i = ifs; i->if_index != 0; ++i) {
            int ifindex = static_cast<int>(i->if_index);
            bpf_xdp_query_opts q{};
            q.sz = sizeof(q);
            if (bpf_xdp_query(ifindex, 0, &q) < 0) {
                continue;
            }
            auto add = [&](uint32_t id, const char* mode) {
                if (id != info.id) {
                    return;
                }
                interface_report r;
                r.name = i->if_name;
                r.ifindex = ifindex;
                r.mode = mode;
                r.driver = driver_of(r.name);
                r.tx_port = tx_ports.count(ifindex) > 0;
                r.ipv4_forwarding = interface_forwarding(r.name, family::inet);
                r.ipv6_forwarding = interface_forwarding(r.name, family::inet6);
                st.interfaces.push_back(std::move(r));
                seen.insert(ifindex);
            };
            // With one program attached the kernel reports it as prog_id
            // only; with several modes at once, per mode.
            if (q.attach_mode == XDP_ATTACHED_MULTI) {
                add(q.drv_prog_id, "native");
                add(q.skb_prog_id, "generic");
                add(q.hw_prog_id, "offload");
            } else if (q.attach_mode == XDP_ATTACHED_DRV) {
                add(q.prog_id, "native");
            } else if (q.attach_mode == XDP_ATTACHED_SKB) {
                add(q.prog_id, "generic");
            } else if (q.attach_mode == XDP_ATTACHED_HW) {
                add(q.prog_id, "offload");
            }
        }
        if_freenameindex(ifs);
    }
    for (int ifindex : tx_ports) {
        if (!seen.count(ifindex)) {
            interface_report r;
            r.ifindex = ifindex;
            r.name = ifname_of(ifindex);
            r.mode = "detached";
            r.driver = driver_of(r.name);
            r.tx_port = true;
            r.ipv4_forwarding = interface_forwarding(r.name, family::inet);
            r.ipv6_forwarding = interface_forwarding(r.name, family::inet6);
            st.interfaces.push_back(std::move(r));
        }
    }

    // Every pinned object: the program's path, and each map with its fill.
    auto id_of = [](int fd) {
        bpf_map_info mi{};
        uint32_t l = sizeof(mi);
        return bpf_obj_get_info_by_fd(fd, &mi, &l) == 0 ? mi.id : 0u;
    };
    const uint32_t svcs_id = id_of(_maps.svcs.get());
    const uint32_t embryos_id = id_of(_maps.embryos.get());
    const uint32_t dests_id = id_of(_maps.dests.get());
    const uint32_t svc_index_id = id_of(_maps.svc_index.get());
    const uint32_t vips_id = id_of(_maps.vips.get());
    const uint32_t sched_tables_id = id_of(_maps.sched_tables.get());
    const uint32_t mh_tables_id = id_of(_maps.mh_tables.get());
    uint32_t side = 0;
    {
        struct xlb_table_ctl ctl {};
        uint32_t zero = 0;
        if (bpf_map_lookup_elem(_maps.table_ctl.get(), &zero, &ctl) < 0) {
            return errno_error("read table_ctl");
        }
        side = ctl.side & 1;
    }
    std::vector<fs::path> entries;
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(_pin_dir, ec)) {
        entries.push_back(e.path());
    }
    if (ec) {
        return make_error(ec.value(), "list {}", _pin_dir);
    }
    std::sort(entries.begin(), entries.end());
    for (const auto& path : entries) {
        file_desc fd(bpf_obj_get(path.c_str()));
        if (!fd) {
            continue; // not a BPF object
        }
        auto fi = fdinfo(fd.get());
        if (fi.count("prog_type")) {
            bpf_prog_info pi{};
            uint32_t pl = sizeof(pi);
            if (bpf_obj_get_info_by_fd(fd.get(), &pi, &pl) == 0 && pi.id == info.id) {
                p.pinned_at = path.string();
            }
            continue;
        }
        if (!fi.count("map_type")) {
            continue;
        }
        bpf_map_info mi{};
        uint32_t ml = sizeof(mi);
        if (bpf_obj_get_info_by_fd(fd.get(), &mi, &ml) < 0) {
            return errno_error("read map info of {}", path.string());
        }
        map_report m;
        m.name = path.filename().string();
        const char* type = libbpf_bpf_map_type_str(static_cast<enum bpf_map_type>(mi.type));
        m.type = type ? type : fmt::format("type {}", mi.type);
        m.id = mi.id;
        m.key_size = mi.key_size;
        m.value_size = mi.value_size;
        m.max_entries = mi.max_entries;
        m.memlock_bytes = to_u64(fi["memlock"]);
        // The published table's maps hold two sides: show one, the one
        // packets read (table_ctl), as the size load was given.
        const bool sided = mi.id == svcs_id || mi.id == dests_id || mi.id == svc_index_id || mi.id == vips_id ||
                           mi.id == sched_tables_id || mi.id == mh_tables_id;
        if (sided) {
            m.max_entries = mi.max_entries / 2;
        }
        if (mi.id == svc_index_id || mi.id == vips_id) {
            uint64_t n = 0;
            auto r = for_each_entry(fd.get(), mi.key_size, mi.value_size, [&](const void* k, const void*) {
                n += k && static_cast<const struct xlb_svc_index_key*>(k)->side == side;
            });
            if (!r) {
                return make_error(r.error().code, "count the entries of {}", m.name);
            }
            m.used = n;
            m.counted = "keys";
        } else if (is_hash(mi.type)) {
            uint32_t vsize = is_percpu(mi.type) ? ((mi.value_size + 7) & ~7u) * static_cast<uint32_t>(possible_cpus())
                                                : mi.value_size;
            uint64_t n = 0;
            if (auto r = for_each_entry(fd.get(), mi.key_size, vsize, [&](const void*, const void*) { ++n; }); !r) {
                return make_error(r.error().code, "count the entries of {}", m.name);
            }
            m.used = n;
            m.counted = "keys";
        } else if (mi.id == svcs_id || mi.id == dests_id) {
            uint64_t n = 0;
            bool svcs = mi.id == svcs_id;
            const uint32_t half = mi.max_entries / 2;
            for (uint32_t k = side * half; k < (side + 1) * half; ++k) {
                std::vector<uint8_t> v(mi.value_size);
                if (bpf_map_lookup_elem(fd.get(), &k, v.data()) < 0) {
                    return errno_error("count the active slots of {}", m.name);
                }
                uint32_t flags = svcs ? reinterpret_cast<const struct xlb_svc*>(v.data())->flags
                                      : reinterpret_cast<const struct xlb_dest*>(v.data())->flags;
                n += (flags & (svcs ? XLB_SVC_F_ACTIVE : XLB_DEST_F_ACTIVE)) != 0;
            }
            m.used = n;
            m.counted = "active";
        } else if (mi.type == BPF_MAP_TYPE_ARRAY_OF_MAPS) {
            // From userspace a slot reads as the inner map's id; empty is ENOENT.
            uint64_t n = 0;
            const uint32_t half = mi.max_entries / 2;
            for (uint32_t k = side * half; k < (side + 1) * half; ++k) {
                uint32_t inner = 0;
                n += bpf_map_lookup_elem(fd.get(), &k, &inner) == 0;
            }
            m.used = n;
            m.counted = "maps";
        }
        if (mi.id == embryos_id && m.used) {
            st.embryonic = *m.used;
        }
        st.maps.push_back(std::move(m));
    }

    auto rs = reasons();
    if (!rs) {
        return rs.error();
    }
    st.reasons = reason_reports(*rs);
    struct xlb_sweeper sw {};
    uint32_t zero = 0;
    if (bpf_map_lookup_elem(_maps.sweeper.get(), &zero, &sw) < 0) {
        return errno_error("read sweeper");
    }
    st.sweeps = sw.runs;
    return st;
}

} // namespace xlb
