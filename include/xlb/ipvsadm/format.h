#pragma once
// ipvsadm's listing output, byte for byte (ipvsadm 1.31 list_all/list_service,
// print_service_entry, print_largenum, print_title).

#include <xlb/dataplane/dataplane.h>
#include <xlb/model/conn.h>
#include <xlb/model/service.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace xlb::ipvsadm {

// One format per listing; given several, ipvsadm prints the first of
// stats, rate, thresholds, persistent-conn, tun-info (print_title's order).
enum class list_format { normal, stats, thresholds, persistent_conn, rate, tun_info };

struct list_options {
    list_format format = list_format::normal;
    bool numeric = false;
    bool exact = false;
    bool sort = true;
    bool header = true; // the "IP Virtual Server version" line (absent when listing one service)
};

// Turns an endpoint into "host:service" when not numeric. The default uses
// the resolver (reverse DNS, /etc/services) as ipvsadm does.
using name_fn = std::function<std::string(const endpoint&, protocol)>;
std::string resolve_names(const endpoint& e, protocol p);

std::string format_list(std::vector<service_state> services, const list_options& opts, uint32_t conn_table_size,
                        const name_fn& names = resolve_names);

// print_sched_flags(): "sh-fallback,sh-port", "mh-port", "flag-1,flag-3", ...
std::string sched_flags_string(scheduler s, uint32_t flags);

// ipvsadm -S: one -A line per service and one -a line per dest, sorted as
// the listing is.
std::string format_rules(std::vector<service_state> services, bool numeric, bool sort = true,
                         const name_fn& names = resolve_names);

// ipvsadm -L -c (list_conn, print_conn): the connection entries, in the
// order given. ipvsadm prints /proc/net/ip_vs_conn's hash order, which the
// IPVS backend keeps; the XDP backend sorts its flows (protocol, source,
// virtual, destination) so its output is deterministic.
// persistent_conn adds the "pe name" and "pe_data" titles of
// --persistent-conn; rows never have them, since xlb has no --pe.
// -L --daemon: print_daemon()'s line for each running sync daemon, the
// fields the kernel reports (it fills in its defaults) after the interface
// and syncid.
std::string format_daemons(const std::vector<sync_daemon>& daemons);

std::string format_conns(const std::vector<conn_state>& conns, bool numeric, bool persistent_conn,
                         const name_fn& names = resolve_names);

// -M's argument for the service's netmask: dotted for IPv4, a prefix length
// for IPv6, the full mask included.
std::string netmask_text(const service_config& c);

// The checksum option of a GUE dest without its "--tun-": "nocsum", "csum"
// or "remcsum" (one at most is set).
const char* tun_checksum_name(uint8_t flags);

// print_largenum: width 9, scaled by K/M/G/T unless exact.
std::string largenum(uint64_t n, bool exact);

// ipvsadm's sort: libipvs ipvs_cmp_services / ipvs_cmp_dests through qsort,
// with their 32-bit wrap-around address comparison kept.
void sort_services(std::vector<service_state>& services);

} // namespace xlb::ipvsadm
