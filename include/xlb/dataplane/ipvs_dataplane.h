#pragma once
// ipvs_dataplane: the dataplane interface over kernel IPVS, through its
// "IPVS" generic-netlink family (libnl-genl-3), as ipvsadm talks to it.
// The kernel table is the truth: nothing is cached between calls.
//
// apply() checks a change set first against memory_dataplane seeded with a
// fresh read of the services it touches (the whole table if it clears):
// IPVS's errnos, the failing index, nothing written. Then it sends
// the requests in order; if the kernel still refuses one (a scheduler module
// it lacks: ENOENT), the applied prefix is undone in reverse, best effort,
// and the kernel's errno comes back unchanged. Connections come from
// /proc/net/ip_vs_conn, as ipvsadm reads them; the sync daemon is the
// kernel's own (IPVS_CMD_NEW_DAEMON, DEL_DAEMON, GET_DAEMON).

#include <xlb/dataplane/dataplane.h>

#include <memory>
#include <optional>

namespace xlb {

namespace ipvs {
class genl_socket;
} // namespace ipvs

// Every scheduler of the model (the kernel answers ENOENT for one it lacks),
// DR NAT TUN, tcp udp sctp, ipip gue gre, fwmark services, sip, rates,
// connection listing; no verdict counters, no dest limits.
capabilities ipvs_capabilities();

class ipvs_dataplane final : public dataplane {
public:
    // Resolves the IPVS family, after `modprobe ip_vs` if it is missing.
    // EOPNOTSUPP with the reason if kernel IPVS is not available here.
    static result<ipvs_dataplane> open();

    ipvs_dataplane(ipvs_dataplane&&) noexcept;
    ipvs_dataplane& operator=(ipvs_dataplane&&) noexcept;
    ~ipvs_dataplane() override;

    [[nodiscard]] const capabilities& caps() const noexcept override { return _caps; }

    apply_result apply(const change_set& changes) override;

    [[nodiscard]] result<std::vector<service_state>> list() const override;
    [[nodiscard]] result<timeouts> get_timeouts() const override;
    // /proc/net/ip_vs_conn's TCP and UDP entries and their templates
    // (ipvs/conns.h says what the model cannot hold and leaves out).
    [[nodiscard]] result<std::vector<conn_state>> list_conns() const override;
    // The kernel's sync daemon; its errnos unchanged (EEXIST, ESRCH,
    // ENODEV for an unknown interface, EINVAL).
    result<> start_sync_daemon(const sync_daemon& d) override;
    result<> stop_sync_daemon(sync_state state) override;
    [[nodiscard]] result<std::vector<sync_daemon>> list_sync_daemons() const override;
    // Makes `conns` (xlb's flows and templates, as list_conns() gives them)
    // connections of kernel IPVS, through the kernel's own sync protocol:
    // a backup sync daemon on `ifname` (the one already running, or one
    // started for this on group 239.255.88.48 port 8849 and stopped after)
    // is sent them as a master would send them, looped back on this host
    // only (multicast TTL 0), and makes each with its dest, state and time
    // left. Their services and dests must be in the table. Waits until the
    // kernel lists every one, 5 s at most; the count it lists.
    [[nodiscard]] result<size_t> carry_conns(const std::vector<conn_state>& conns, const std::string& ifname);
    // IPVS_CMD_GET_INFO's connection table size, read at open.
    [[nodiscard]] uint32_t conn_table_size() const override { return _conn_table_size; }
    // What `xlbctl status` shows for IPVS: the version and connection table
    // size (IPVS_CMD_GET_INFO), services, dests and connections, sync daemons.
    [[nodiscard]] result<status_report> report() const override;

private:
    explicit ipvs_dataplane(std::unique_ptr<ipvs::genl_socket> sock);

    // One change as one kernel request; the kernel's errno unchanged.
    [[nodiscard]] result<> send(const change& c) const;
    [[nodiscard]] result<std::vector<dest_state>> list_dests(const service_key& key) const;
    // One service with its dests; nothing if the kernel has no such service.
    [[nodiscard]] result<std::optional<service_state>> find_service(const service_key& key) const;
    // What apply() checks a set against: the services it names (the whole
    // table if it clears), so a write costs what it touches.
    [[nodiscard]] result<std::vector<service_state>> touched(const change_set& changes) const;

    std::unique_ptr<ipvs::genl_socket> _sock;
    capabilities _caps;
    uint32_t _conn_table_size = 0;
};

} // namespace xlb
