#pragma once
// Map access shared by the XDP backend's loader, table and statistics.
// Private to userspace/dataplane/xdp/.

#include <xlb/abi.h>
#include <xlb/model/service.h>
#include <xlb/util/error.h>
#include <xlb/util/fd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <fcntl.h>
#include <sys/file.h>
#include <time.h>

#include <cstdint>
#include <numeric>
#include <string>
#include <vector>

namespace xlb::xdp {

inline size_t ncpus() {
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

// n consecutive slots of an array map from `first` into out (values
// value_size bytes apart), in as few batch calls as the kernel allows.
inline result<> read_slots(int fd, uint32_t first, uint32_t n, void* out, size_t value_size, const char* what) {
    std::vector<uint32_t> keys(n);
    auto* vals = static_cast<uint8_t*>(out);
    uint32_t done = 0;
    while (done < n) {
        uint32_t count = n - done;
        uint32_t in = first + done - 1, next = 0;
        int rc = bpf_map_lookup_batch(fd, first + done == 0 ? nullptr : &in, &next, keys.data() + done,
                                      vals + static_cast<size_t>(done) * value_size, &count, nullptr);
        if (rc < 0 && errno != ENOENT) {
            return errno_error("read {}", what);
        }
        if (count == 0) {
            return make_error(EIO, "read {}: the batch stopped at {} of {}", what, done, n);
        }
        done += count;
    }
    return {};
}

inline result<bpf_map_info> map_info(int fd) {
    bpf_map_info info{};
    uint32_t len = sizeof(info);
    if (bpf_obj_get_info_by_fd(fd, &info, &len) < 0) {
        return errno_error("map info");
    }
    return info;
}

// Sum over the CPUs of a per-CPU __u64 value.
inline result<uint64_t> read_percpu_sum(int fd, uint32_t key, const char* what) {
    std::vector<uint64_t> vals(ncpus());
    if (bpf_map_lookup_elem(fd, &key, vals.data()) < 0) {
        return errno_error("read {}[{}]", what, key);
    }
    uint64_t n = 0;
    for (uint64_t v : vals) {
        n += v;
    }
    return n;
}

// Sum of a per-CPU xlb_stats value.
inline result<counters> read_stats(int fd, uint32_t key) {
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
inline result<rates> read_rates(int fd, uint32_t key) {
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


// Zeroes a per-CPU entry on every CPU.
result<> zero_percpu(int fd, uint32_t key, size_t value_size);
// ip_vs_zero_estimator(): the last counts become the current ones, the averages 0.
result<> reset_estimator(int est_fd, int stats_fd, uint32_t key);

inline std::string pin_path(const std::string& dir, const char* name) { return dir + "/" + name; }

} // namespace xlb::xdp
