#pragma once
// `xlbctl --json` for ipvsadm's listings (-L/-l and its forms): JSON schema
// 1, documented in README.md ("JSON listings"). Kept apart from the
// byte-exact text formatter (userspace/ipvsadm/format.cpp): one call gives
// every field any text format shows, whatever format flags were given.

#include <xlb/dataplane/dataplane.h>
#include <xlb/dataplane/status.h>
#include <xlb/ipvsadm/command.h>
#include <xlb/model/conn.h>
#include <xlb/model/service.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace xlbctl {

inline constexpr int list_schema = 1;

// The IPVS version ipvsadm's listing header shows.
inline constexpr const char* ipvs_version = "1.2.1";

// -L, -L -t|-u: the services (sorted as ipvsadm sorts them unless sort is
// false), the header's figures, and the data path's verdict counters.
std::string services_json(std::vector<xlb::service_state> services, bool sort, uint32_t conn_table_size,
                          const std::vector<xlb::reason_report>& reasons);
// -L -c: the connection entries, sorted by protocol, client, virtual, dest.
std::string conns_json(std::vector<xlb::conn_state> conns);
// -L --timeout.
std::string timeouts_json(const xlb::timeouts& t);
// -L --daemon: the running sync daemons, master first.
std::string daemons_json(const std::vector<xlb::sync_daemon>& daemons);

// Why cmd cannot be run with --json (it is not a listing), or nothing.
std::optional<std::string> json_refusal(const xlb::ipvsadm::command& cmd);

// Runs a listing command (json_refusal() gave nothing) and renders it as
// JSON. Errors keep ipvsadm's messages and exit codes, with nothing on
// stdout.
xlb::ipvsadm::outcome execute_json(const xlb::ipvsadm::command& cmd, const xlb::dataplane& dp);

} // namespace xlbctl
