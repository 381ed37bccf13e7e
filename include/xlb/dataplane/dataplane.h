#pragma once
// The one interface xlbctl, xlbd and the tests program the load balancer
// through. Errors carry the errno kernel IPVS would give for the same
// request (EEXIST, ESRCH, ENOENT, ...), so ipvsadm's messages map onto them.
// What a backend cannot do comes back as EOPNOTSUPP with the reason, from the
// backend itself: nothing above this interface holds backend policy.
//
// Every write is a change set applied all or nothing (apply()); the single
// operations are change sets of one.

#include <xlb/dataplane/status.h>
#include <xlb/model/conn.h>
#include <xlb/model/service.h>
#include <xlb/util/error.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace xlb {

// ipvsadm --set / --timeout: seconds for ESTABLISHED, FIN_WAIT and UDP flows.
struct timeouts {
    uint32_t tcp = 0;
    uint32_t tcp_fin = 0;
    uint32_t udp = 0;

    auto operator<=>(const timeouts&) const noexcept = default;
};

// One write, as ipvsadm's commands express them.
struct change {
    enum class kind : uint8_t {
        add_service,  // service            EEXIST
        edit_service, // service            ESRCH
        del_service,  // service.key        ESRCH
        clear,        //                    (-C)
        add_dest,     // service.key, dest  ESRCH, EEXIST
        edit_dest,    // service.key, dest  ESRCH, ENOENT
        del_dest,     // service.key, dest.addr  ESRCH, ENOENT
        set_timeouts, // set (a zero field keeps the current value)
        zero,         // service.key, or every service if all (-Z)  ESRCH
    };
    kind what = kind::clear;
    service_config service;
    dest_config dest;
    timeouts set;
    bool all = false; // zero: every service

    static change add_service(const service_config& s) { return make(kind::add_service, s); }
    static change edit_service(const service_config& s) { return make(kind::edit_service, s); }
    static change del_service(const service_key& k) { return make(kind::del_service, k); }
    static change clear_all() { return make(kind::clear, service_config{}); }
    static change add_dest(const service_key& k, const dest_config& d) { return make(kind::add_dest, k, d); }
    static change edit_dest(const service_key& k, const dest_config& d) { return make(kind::edit_dest, k, d); }
    static change del_dest(const service_key& k, const endpoint& a) {
        dest_config d;
        d.addr = a;
        return make(kind::del_dest, k, d);
    }
    static change set_timeouts(const timeouts& t) {
        auto c = make(kind::set_timeouts, service_config{});
        c.set = t;
        return c;
    }
    static change zero_service(const service_key& k) { return make(kind::zero, k); }
    static change zero_all() {
        auto c = make(kind::zero, service_config{});
        c.all = true;
        return c;
    }

private:
    static change make(kind w, const service_key& k, const dest_config& d = {}) {
        service_config s;
        s.key = k;
        return make(w, s, d);
    }
    static change make(kind w, const service_config& s, const dest_config& d = {}) {
        change c;
        c.what = w;
        c.service = s;
        c.dest = d;
        return c;
    }
};

using change_set = std::vector<change>;

// IPVS's connection sync daemon (ipvsadm --start-daemon): which of the two
// a kernel may run, one of each (IP_VS_STATE_MASTER, IP_VS_STATE_BACKUP).
enum class sync_state : uint8_t { master = 1, backup = 2 };

// One sync daemon as started and as listed. A zero (or unset) field is
// the kernel's default, and a listing shows what the kernel chose.
struct sync_daemon {
    sync_state state = sync_state::master;
    std::string mcast_ifn;                  // --mcast-interface
    uint8_t syncid = 0;                     // --syncid
    uint16_t sync_maxlen = 0;               // --sync-maxlen; 0: from the interface's MTU
    std::optional<ip_address> mcast_group;  // --mcast-group; unset: 224.0.0.81
    uint16_t mcast_port = 0;                // --mcast-port; 0: 8848
    uint8_t mcast_ttl = 0;                  // --mcast-ttl; 0: 1

    auto operator<=>(const sync_daemon&) const noexcept = default;
};

// Why a change set was refused: the change at `index` failed with `err`, and
// nothing of the set was applied.
struct change_error {
    size_t index = 0;
    error err;
};
[[noreturn]] inline void throw_exception_from_error(const change_error& e, const boost::source_location&) {
    throw std::runtime_error(e.err.message());
}
using apply_result = boost::system::result<void, change_error>;

// What a backend can do. Anything outside it is refused by the backend with
// EOPNOTSUPP and a reason.
struct capabilities {
    std::string backend;                 // "xdp", "ipvs", "memory"
    std::vector<scheduler> schedulers;   // those it schedules
    std::vector<forwarding> methods;     // -g -i -m
    std::vector<protocol> protocols;     // tcp udp sctp
    std::vector<tun_type> tunnels;       // --tun-type
    bool fwmark_services = false;        // -f
    std::vector<std::string> persistence_engines; // --pe
    bool verdict_counters = false;       // per-reason packet counts (status, --json)
    bool rates = false;                  // --rate
    bool conn_listing = false;           // -L -c
    // The data path sees only packets as they arrive on an interface (XDP):
    // ipvsadm's -A/-E/-a/-e warn about addresses no such packet carries
    // (address_warnings()). Kernel IPVS also sees local traffic, so they do not.
    bool wire_only = false;
    // Dests one service can hold: the hashing and stepping schedulers
    // (rr wrr sh dh mh) and the scanning ones (lc wlc sed nq fo ovf twos).
    // 0: no limit of the backend's own.
    uint32_t max_dests_hashed = 0;
    uint32_t max_dests_scanned = 0;

    [[nodiscard]] bool has(scheduler s) const noexcept;
    [[nodiscard]] bool has(forwarding f) const noexcept;
    [[nodiscard]] bool has(protocol p) const noexcept;
    [[nodiscard]] bool has(tun_type t) const noexcept;
    // The most dests a service with scheduler s can hold; 0: no limit.
    [[nodiscard]] uint32_t max_dests(scheduler s) const noexcept;
    // EOPNOTSUPP with the reason if the backend cannot serve this service
    // or dest, else nothing.
    [[nodiscard]] result<> check(const service_config& s) const;
    [[nodiscard]] result<> check(const dest_config& d) const;
};

class dataplane {
public:
    virtual ~dataplane() = default;

    [[nodiscard]] virtual const capabilities& caps() const noexcept = 0;

    // All or nothing: a packet sees the table before or after the set, never
    // a part of it; on failure nothing changed.
    virtual apply_result apply(const change_set& changes) = 0;

    // Every service with its dests, counters and connection counts.
    [[nodiscard]] virtual result<std::vector<service_state>> list() const = 0;
    [[nodiscard]] virtual result<timeouts> get_timeouts() const = 0;

    // ipvsadm -L -c: the live connections and persistence templates, in no
    // particular order. Expired entries not yet swept are left out.
    [[nodiscard]] virtual result<std::vector<conn_state>> list_conns() const = 0;

    // The connection table size ipvsadm shows in its header.
    [[nodiscard]] virtual uint32_t conn_table_size() const = 0;

    // The data path's verdict counters, by reason (EOPNOTSUPP without them).
    [[nodiscard]] virtual result<std::vector<reason_report>> verdicts() const;
    // Everything `xlbctl status` shows (EOPNOTSUPP if the backend has no report).
    [[nodiscard]] virtual result<status_report> report() const;

    // IPVS's sync daemon: start one (EEXIST if that state already runs),
    // stop the one of a state (ESRCH if none runs), list those running,
    // master first. A backend without one refuses with EOPNOTSUPP and the
    // reason; the default refuses all three.
    virtual result<> start_sync_daemon(const sync_daemon& d);
    virtual result<> stop_sync_daemon(sync_state state);
    [[nodiscard]] virtual result<std::vector<sync_daemon>> list_sync_daemons() const;

    // The single writes: change sets of one.
    result<> add_service(const service_config& svc) { return one(change::add_service(svc)); }
    result<> edit_service(const service_config& svc) { return one(change::edit_service(svc)); }
    result<> del_service(const service_key& key) { return one(change::del_service(key)); }
    result<> clear() { return one(change::clear_all()); }
    result<> add_dest(const service_key& svc, const dest_config& d) { return one(change::add_dest(svc, d)); }
    result<> edit_dest(const service_key& svc, const dest_config& d) { return one(change::edit_dest(svc, d)); }
    result<> del_dest(const service_key& svc, const endpoint& d) { return one(change::del_dest(svc, d)); }
    result<> set_timeouts(const timeouts& t) { return one(change::set_timeouts(t)); }
    // ipvsadm -Z: zeroes the counters of one service and its dests, or of all.
    result<> zero(const std::optional<service_key>& key) {
        return one(key ? change::zero_service(*key) : change::zero_all());
    }

private:
    result<> one(const change& c) {
        auto r = apply({c});
        if (!r) {
            return r.error().err;
        }
        return {};
    }
};

// xlb's own data paths (xdp, memory) run no sync daemon: the refusal they
// give to start and stop one, reason included.
[[nodiscard]] error no_sync_daemon();

// How to open a backend.
struct open_options {
    std::string pin_dir;                               // xdp: empty means resolve_pin_dir("")
    std::optional<std::chrono::milliseconds> lock_wait; // how long a writer waits for the lock; unset: $XLB_LOCK_WAIT_MS, else 10 s
    std::chrono::milliseconds neigh_wait{1000};        // xdp: one bounded wait per batch for next hops
};

// "xdp", "ipvs", "memory" or "auto". ENOENT if the backend has no instance
// (xdp: not loaded), EOPNOTSUPP if it is not available here.
//
// auto: kernel IPVS while the pin dir has a fallback record (its table is
// served there: fallback.h); else xdp if an instance is loaded at the pin
// dir; else kernel IPVS if the kernel has it (after `modprobe ip_vs`); else
// the error of each, "no XDP data path (...), and kernel IPVS ...".
result<std::unique_ptr<dataplane>> open_dataplane(std::string_view backend, const open_options& opts);

// A backend opened by name, with the one it is and why it was chosen.
struct selected_dataplane {
    std::unique_ptr<dataplane> dp;
    std::string name;   // "xdp", "ipvs" or "memory"
    std::string reason; // e.g. "pinned data path found at DIR"
};
result<selected_dataplane> select_dataplane(std::string_view backend, const open_options& opts);

} // namespace xlb
