#pragma once
// status_report: everything `xlbctl status` shows about an instance, read
// from the kernel and the pinned maps. xdp_dataplane::report() gathers it;
// xlbctl renders it as text or JSON (schema in README.md, "xlbctl status").

#include <xlb/abi.h>
#include <xlb/dataplane/fallback.h>
#include <xlb/model/address.h>

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace xlb {

// The backend serving the table, and why it is the one in use.
struct backend_report {
    std::string name;        // "xdp" or "ipvs"
    std::string selected_by; // "--backend", "XLB_BACKEND" or "default" (set by the caller)
    std::string reason;      // e.g. "pinned data path found at /sys/fs/bpf/xlb/default"
};

// The loaded XDP program (bpf_prog_info).
struct program_report {
    uint32_t id = 0;
    std::string name;           // the kernel's name for it (16 bytes at most)
    std::string tag;            // 16 hex digits
    std::string pinned_at;      // its path under the pin directory
    uint32_t verified_insns = 0; // instructions the verifier processed (kernel 5.16+; 0 before)
    uint32_t xlated_bytes = 0;
    uint32_t jited_bytes = 0;
    int64_t loaded_at_unix = 0; // wall-clock seconds, from the kernel's boot-time stamp
    uint64_t run_count = 0;     // 0 unless sysctl kernel.bpf_stats_enabled=1
    uint64_t run_time_ns = 0;
};

// An interface the program runs on, or should run on.
struct interface_report {
    std::string name;   // "ifindex N" if the index has no name in this namespace
    int ifindex = 0;
    std::string mode;   // "native", "generic", "offload", or "detached": in tx_ports but our program is not on it
    std::string driver; // ethtool's driver name ("veth", "mlx5_core"); empty if unknown
    bool tx_port = false; // in tx_ports, so XDP_REDIRECT can send out of it
    // net.ipv4.conf.IFACE.forwarding and net.ipv6.conf.IFACE.forwarding: with
    // one off, every packet of that family arriving here for a real server is
    // dropped (drop_fwd_disabled). Empty if unreadable (no IPv6 on it).
    std::optional<bool> ipv4_forwarding;
    std::optional<bool> ipv6_forwarding;
};

// One pinned map with its size and fill level.
struct map_report {
    std::string name;
    std::string type; // "hash", "lru_hash", "array", "percpu_array", ...
    uint32_t id = 0;
    uint32_t key_size = 0;
    uint32_t value_size = 0;
    uint32_t max_entries = 0; // ring buffer: bytes
    // Entries in use, where that means something: "keys" for hash maps,
    // "active" for svcs/dests (slots with the ACTIVE flag), "maps" for
    // map-in-map slots holding a table. Empty for plain arrays.
    std::optional<uint64_t> used;
    std::string counted; // "keys", "active", "maps", or empty when used is empty
    uint64_t memlock_bytes = 0; // memory the kernel charges for it
};

// One verdict reason (enum xlb_reason) with its packet count, summed over CPUs.
struct reason_report {
    std::string name;        // "pass_no_service", "drop_no_dest", ...
    std::string verdict;     // "tx", "redirect", "pass" or "drop"
    std::string description; // one line for operators
    uint64_t packets = 0;
};

// One IPVS sync daemon as IPVS_CMD_GET_DAEMON lists it.
struct sync_daemon_report {
    std::string state;     // "master" or "backup"
    std::string mcast_ifn; // --mcast-interface
    uint32_t syncid = 0;
};

// Kernel IPVS as ipvs_dataplane::report() finds it (IPVS_CMD_GET_INFO and dumps).
struct ipvs_report {
    std::string version;           // "1.2.1"
    uint32_t version_code = 0;     // the kernel's (major << 16) | (minor << 8) | patch
    uint32_t conn_table_size = 0;  // the connection hash table's size (ip_vs_conn_tab_bits)
    uint64_t services = 0;
    uint64_t dests = 0;
    uint64_t connections = 0;      // active + inactive, summed over dests
    std::vector<sync_daemon_report> sync_daemons;
};

struct status_report {
    backend_report backend;
    // Set for the ipvs backend; the XDP fields below are then left empty.
    std::optional<ipvs_report> ipvs;
    // The pin dir's fallback record, if kernel IPVS serves its table
    // (filled in by the caller, who knows the pin dir).
    std::optional<fallback_record> fallback;
    std::string pin_dir;
    program_report program;
    std::vector<interface_report> interfaces;
    uint32_t max_services = 0;
    uint32_t max_dests = 0;
    uint32_t max_flows = 0;
    uint32_t mh_size = 0;
    uint32_t max_embryonic = 0;   // flows that have not shown a handshake yet
    uint64_t embryonic = 0;       // ... how many there are now: near max_embryonic, a flood churns them
    uint32_t icmp_ratelimit_ms = 0; // path-MTU errors' limits, as load set them (load_options)
    uint32_t icmp_msgs_per_sec = 0;
    uint32_t icmp_msgs_burst = 0;
    std::vector<map_report> maps; // every pinned map, by name
    std::vector<reason_report> reasons; // in enum xlb_reason order
    uint64_t sweeps = 0;                // runs of the connection sweeper so far
};

// Whether forwarding is on for the family on the interface, read from
// /proc/sys/net/ipv{4,6}/conf/IFACE/forwarding in the calling thread's network
// namespace. bpf_fib_lookup() does an input lookup, as for a routed packet, and
// answers FWD_DISABLED when it is off. Empty if there is no such setting.
std::optional<bool> interface_forwarding(const std::string& ifname, family af);
// The sysctl that turns it on, as `sysctl -w` takes it:
// "net.ipv4.conf.eth0.forwarding=1" ("eth0.100" is written "eth0/100").
std::string forwarding_sysctl(const std::string& ifname, family af);

// "tx", "redirect", "pass" or "drop": what the program does with the packet.
std::string_view reason_verdict(enum xlb_reason r) noexcept;
// A one-line explanation of the reason.
std::string_view reason_description(enum xlb_reason r) noexcept;
// Every reason, in enum order, with its name, verdict, description and the
// packets counted for it (xdp_dataplane::reasons()).
std::vector<reason_report> reason_reports(const std::array<uint64_t, XLB_R_MAX>& packets);

} // namespace xlb
