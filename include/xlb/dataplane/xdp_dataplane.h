#pragma once
// xdp_dataplane: the table lives in BPF maps pinned under a pin directory
// (default /sys/fs/bpf/xlb/default), so any process can program it and
// traffic keeps flowing with no process running.

#include <xlb/abi.h>
#include <xlb/dataplane/dataplane.h>
#include <xlb/dataplane/status.h>
#include <xlb/util/fd.h>

#include <array>
#include <chrono>
#include <optional>
#include <string>
#include <vector>

namespace xlb {

inline constexpr const char* default_pin_dir = "/sys/fs/bpf/xlb/default";

// --pin-dir, else $XLB_PIN_DIR, else the default.
std::string resolve_pin_dir(const std::string& flag);

struct load_options {
    uint32_t max_services = XLB_DEFAULT_MAX_SERVICES;
    uint32_t max_dests = XLB_DEFAULT_MAX_DESTS;
    uint32_t max_flows = XLB_DEFAULT_MAX_FLOWS; // also bounds persistence templates
    uint32_t mh_size = XLB_DEFAULT_MH_SIZE;     // Maglev table size, a prime
    // Flows that have not shown a handshake yet (embryos); 0: the default,
    // a quarter of max_flows and at least min(max_flows, 1024).
    uint32_t max_embryonic = 0;
    // The path-MTU errors xlb sends, limited as the kernel limits its ICMP
    // errors, with its sysctls' meaning and defaults: per client, one per
    // icmp_ratelimit_ms in bursts of 6 (0: no limit per client); in all,
    // icmp_msgs_per_sec, at most icmp_msgs_burst at once.
    uint32_t icmp_ratelimit_ms = XLB_DEFAULT_ICMP_RATELIMIT_MS;
    uint32_t icmp_msgs_per_sec = XLB_DEFAULT_ICMP_MSGS_PER_SEC;
    uint32_t icmp_msgs_burst = XLB_DEFAULT_ICMP_MSGS_BURST;
};

// The embryonic table's size for opts: max_embryonic, or its default.
uint32_t embryonic_size(const load_options& opts) noexcept;

enum class xdp_mode { native, generic };

struct attachment {
    std::string ifname;
    int ifindex = 0;
    std::string mode; // "native", "generic", or "detached" if our program is gone
};

struct map_fill {
    std::string name;
    uint32_t max_entries = 0;
    uint64_t used = 0; // entries in use (hash maps: keys; svcs/dests: active slots)
};

struct status_info {
    std::string pin_dir;
    uint32_t prog_id = 0;
    uint32_t verified_insns = 0;
    uint32_t xlated_bytes = 0;
    uint32_t jited_bytes = 0;
    std::vector<attachment> attachments;
    std::vector<map_fill> maps;
    std::array<uint64_t, XLB_R_MAX> reasons{};
    uint64_t sweeps = 0; // runs of the connection sweeper so far
};

std::string_view reason_name(enum xlb_reason r) noexcept;

class xdp_dataplane final : public dataplane {
public:
    // Loads the program, sizes and pins its maps. EEXIST if already loaded.
    // Writers wait up to lock_wait for the instance's lock; unset: up to
    // $XLB_LOCK_WAIT_MS, else 10 s.
    static result<xdp_dataplane> load(const std::string& pin_dir, const load_options& opts,
                                      std::optional<std::chrono::milliseconds> lock_wait = std::nullopt);
    // Opens an instance loaded earlier. ENOENT if there is none.
    static result<xdp_dataplane> open(const std::string& pin_dir);
    // Detaches from every interface it was attached to, unpins everything.
    static result<> unload(const std::string& pin_dir,
                           std::optional<std::chrono::milliseconds> lock_wait = std::nullopt);

    xdp_dataplane(xdp_dataplane&&) noexcept = default;
    xdp_dataplane& operator=(xdp_dataplane&&) noexcept = default;
    ~xdp_dataplane() override = default;

    result<> attach(const std::string& ifname, xdp_mode mode);
    result<> detach(const std::string& ifname);
    [[nodiscard]] result<status_info> status() const;
    // Everything `xlbctl status` shows (userspace/dataplane/status.cpp).
    [[nodiscard]] result<status_report> report() const override;

    [[nodiscard]] const capabilities& caps() const noexcept override;
    apply_result apply(const change_set& changes) override;
    [[nodiscard]] result<std::vector<service_state>> list() const override;
    [[nodiscard]] result<std::vector<conn_state>> list_conns() const override;
    // Writes connection entries (kernel IPVS's, as its list_conns() gives
    // them) into the flow tables, so that their packets follow them: each
    // flow to its dest with its state and time left, each template to its
    // dest; a NAT flow with its reply key. Each must name a service and dest
    // of the published table (an entry that does not, or that XDP cannot
    // hold: SCTP, a fwmark template, is left out). The count written.
    [[nodiscard]] result<size_t> import_conns(const std::vector<conn_state>& conns);
    [[nodiscard]] uint32_t conn_table_size() const override { return _sizes.max_flows; }
    [[nodiscard]] result<timeouts> get_timeouts() const override;
    [[nodiscard]] result<std::vector<reason_report>> verdicts() const override;
    // No sync daemon: start and stop refuse (no_sync_daemon()), none is listed.
    result<> start_sync_daemon(const sync_daemon&) override { return no_sync_daemon(); }
    result<> stop_sync_daemon(sync_state) override { return no_sync_daemon(); }
    [[nodiscard]] result<std::vector<sync_daemon>> list_sync_daemons() const override {
        return std::vector<sync_daemon>{};
    }

    [[nodiscard]] result<struct xlb_config> config() const;
    result<> set_config(const struct xlb_config& cfg);
    [[nodiscard]] result<std::array<uint64_t, XLB_R_MAX>> reasons() const;
    // Drains neigh_events, asking the kernel to resolve each next hop, and
    // giving each TUN dest that has no outer source yet the preferred source
    // of its route, once there is one. Waits up to timeout for the first
    // event. Returns how many next hops and dests were handled.
    result<size_t> resolve_pending_neighbours(std::chrono::milliseconds timeout);

    [[nodiscard]] int prog_fd() const noexcept { return _prog.get(); }
    [[nodiscard]] const std::string& pin_dir() const noexcept { return _pin_dir; }
    void set_lock_wait(std::chrono::milliseconds wait) noexcept { _lock_wait = wait; }
    [[nodiscard]] std::chrono::milliseconds lock_wait() const noexcept { return _lock_wait; }
    // After a change set, the next hops of its added and edited dests are
    // resolved with one wait this long (0: not at all).
    void set_neigh_wait(std::chrono::milliseconds wait) noexcept { _neigh_wait = wait; }
    // How long each write waits for the instance's lock before it fails
    // naming the holder (ETIMEDOUT). Readers never wait.

    struct maps {
        file_desc svc_index, vips, svcs, dests, sched_tables, sched_cursor, flows, svc_stats, dest_stats,
            reasons, config, fib_cache, tx_ports, neigh_events, mh_tables, dest_conns, conn_scratch,
            persist, sweeper, nat_rev, svc_est, dest_est, table_ctl, journal, readers, embryos, embryo_rev,
            icmp_peers, icmp_credit;
    };
    [[nodiscard]] const maps& map_fds() const noexcept { return _maps; }
    [[nodiscard]] const load_options& sizes() const noexcept { return _sizes; }
    // Writes through this object that read the whole table (a single write
    // reads only its service, unless its probes for a free slot fail).
    [[nodiscard]] uint64_t whole_reads() const noexcept { return _whole_reads; }

private:
    static result<xdp_dataplane> load_into(const std::string& pin_dir, const load_options& opts,
                                           std::chrono::milliseconds lock_wait);
    xdp_dataplane() = default;
    static result<xdp_dataplane> open_pinned(const std::string& pin_dir);

    result<> enable_nat_replies();

    std::string _pin_dir;
    std::chrono::milliseconds _lock_wait{10000}; // set at load and open (default_lock_wait())
    std::chrono::milliseconds _neigh_wait{1000};
    uint64_t _whole_reads = 0;
    file_desc _prog;
    maps _maps;
    load_options _sizes;
};

} // namespace xlb
