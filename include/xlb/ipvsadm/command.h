#pragma once
// ipvsadm's command line: parsing with ipvsadm 1.31's rules and messages, and
// running a parsed command against a dataplane with ipvsadm's exit codes
// (2: usage error, 255: the table refused the request).

#include <xlb/dataplane/dataplane.h>
#include <xlb/ipvsadm/format.h>
#include <xlb/model/service.h>

#include <iosfwd>
#include <optional>
#include <string>
#include <variant>
#include <vector>

namespace xlb::ipvsadm {

enum class op {
    add_service,
    edit_service,
    del_service,
    clear,
    list,
    add_dest,
    del_dest,
    edit_dest,
    set_timeouts,
    save,
    zero,
    help,
    version, // -v
    restore, // -R: commands come from standard input (parse_script, apply_script)
    start_daemon, // --start-daemon master|backup [daemon options]
    stop_daemon,  // --stop-daemon master|backup
};

struct command {
    op what = op::list;
    std::string prog = "xlbctl"; // the program's name in messages: what parse() was given
    std::optional<service_key> service;
    std::string sched_name; // as given; empty means ipvsadm's default, wlc
    std::optional<endpoint> dest;
    forwarding fwd = forwarding::dr;
    int32_t weight = 1;
    tun_type tunnel = tun_type::ipip; // --tun-type
    uint16_t tun_port = 0;            // --tun-port
    uint8_t tun_flags = 0;            // XLB_TUN_F_*: --tun-csum, --tun-remcsum
    uint32_t u_threshold = 0; // -x
    uint32_t l_threshold = 0; // -y
    uint32_t svc_flags = 0;   // XLB_IPVS_SVC_F_*: -p, -b
    uint32_t timeout = 0;     // -p [timeout]
    uint32_t netmask = 0xffffffff; // -M: IPv4 mask (host order) or IPv6 prefix length
    std::string pe_name;           // --pe: persistence engine ("sip")
    list_options list;
    bool list_timeouts = false; // -L --timeout
    bool list_daemon = false;   // -L --daemon
    bool list_conns = false;    // -L -c
    bool persistent_conn = false; // --persistent-conn, which -L -c shows as two more titles
    timeouts set;               // --set tcp tcpfin udp
    sync_daemon daemon;         // --start-daemon, --stop-daemon and the daemon options
};

struct usage_error {
    std::string message;
    int exit_code = 2;
};

// argv without the program name. prog is the name used in messages.
std::variant<command, usage_error> parse(const std::vector<std::string>& args, const std::string& prog);

struct outcome {
    int exit_code = 0;
    std::string out;
    std::string err;
};

outcome execute(const command& cmd, dataplane& dp, const name_fn& names = resolve_names);

// -h's text. Called as ipvsadm (a link named so), ipvsadm 1.31's own bytes,
// so nothing that reads them can tell; otherwise xlbctl's, which says what
// xlb refuses and names its subcommands.
std::string usage(const std::string& prog);

// -v's line: ipvsadm's words, so scripts that read the version keep
// working. Called as ipvsadm, ipvsadm 1.31's line byte for byte; otherwise
// its parenthesis names xlbctl as the program behind it.
std::string version_line(const std::string& prog = "xlbctl");

// ipvsadm -R's input: one command per line, split at blanks; the word
// "ipvsadm" is skipped wherever it stands (as ipvsadm does), and so is a
// leading "xlbctl". Blank lines and lines starting with '#' are skipped.
// The first bad line stops parsing: its message names the line.
struct script_line {
    size_t line = 0;
    command cmd;
};
std::variant<std::vector<script_line>, usage_error> parse_script(std::istream& in, const std::string& prog);

// Runs a parsed -R script all or nothing: every line is first checked
// against a model of the current table (a service that already exists, a
// dest of a missing service, ...); a line that would fail stops the
// restore before anything changes. Should the table still refuse a line
// (it is full), what was applied is undone.
outcome apply_script(const std::vector<script_line>& script, dataplane& dp, const name_fn& names = resolve_names);

} // namespace xlb::ipvsadm
