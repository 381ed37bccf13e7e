#pragma once
// keepalived's virtual_server configuration as value types: what xlbd reads
// from keepalived.conf. The parser (parser.h) fills these with keepalived's
// defaults already applied, so nothing downstream needs to know them.
//
// Times are in milliseconds: keepalived accepts fractional seconds
// ("delay_loop 0.5") for most of them.

#include <xlb/model/address.h>
#include <xlb/model/service.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace xlb::keepalived {

using std::chrono::milliseconds;

// Where a keyword was written, for messages: "file:line:column".
struct source_pos {
    std::string file;
    uint32_t line = 0;
    uint32_t column = 0;

    [[nodiscard]] std::string to_string() const;
    auto operator<=>(const source_pos&) const = default;
};

enum class checker_kind : uint8_t { tcp, http, ssl, misc, udp, dns };
std::string_view to_string(checker_kind k) noexcept; // "TCP_CHECK", "HTTP_GET", ...

// HTTP_GET / SSL_GET: one `url { }` block. A response passes when its status
// is in status_codes and, if digest is set, the MD5 of its body equals it.
// The parser fills status_codes with {200, 299} when the url names none
// (keepalived's HTTP_DEFAULT_STATUS_CODE_MIN/MAX, check_http.c url_check()).
struct http_url {
    std::string path = "/";
    std::optional<std::string> digest;      // 32 lowercase hex digits
    std::vector<std::pair<uint16_t, uint16_t>> status_codes; // inclusive ranges
    std::optional<std::string> virtualhost; // Host: header for this url (else the checker's)
    auto operator<=>(const http_url&) const = default;
};

// One checker of a real server, keepalived's defaults applied.
struct checker_spec {
    checker_kind kind = checker_kind::tcp;
    source_pos where;

    // Where to connect: the real server unless connect_ip / connect_port say
    // otherwise; bind_to / bind_port choose the source.
    endpoint connect_to;
    std::optional<ip_address> bind_to;
    uint16_t bind_port = 0;
    std::string bind_interface; // bind_if (link-local v6)
    milliseconds connect_timeout{5000};
    // Failures tolerated before the server goes down: down after retry + 1
    // consecutive failures. keepalived's defaults differ per checker.
    uint32_t retry = 1;
    milliseconds delay_before_retry{1000};
    milliseconds delay_loop{60000}; // per checker, defaults to the service's
    milliseconds warmup{0};         // random delay before the first check; keepalived's
                                    // default is delay_loop (check_data.c)
    // Beyond keepalived: consecutive successes to go up / failures to go
    // down. 0: keepalived's rule (up on one success, down after retry + 1).
    uint32_t rise = 0;
    uint32_t fall = 0;

    // HTTP_GET / SSL_GET
    std::vector<http_url> urls;
    std::optional<std::string> virtualhost; // checker-wide Host: (else the real server's, the service's)
    bool enable_sni = true;                 // SSL_GET
    bool verify_cert = false;               // SSL_GET: verify only when configured
    std::optional<std::string> ca_file;     // SSL_GET: trust anchors when verifying
    uint32_t http_protocol_minor = 0;       // http_protocol 1.0 (0) or 1.1 (1)
    bool fast_recovery = false;

    // MISC_CHECK
    std::string misc_path;                  // a command line, run through /bin/sh -c
    milliseconds misc_timeout{0};           // the parser sets delay_loop when not given
    bool misc_dynamic = false;              // exit 2..255 sets the weight to code - 2
    std::string user;                       // run the script as (keepalived's `user`)

    // UDP_CHECK
    std::string payload;                    // bytes to send (hex in the config)
    bool require_reply = false;
    std::optional<std::string> reply_payload; // expected reply prefix

    // DNS_CHECK
    std::string dns_type = "SOA";
    std::string dns_name = ".";

    auto operator<=>(const checker_spec&) const = default;
};

struct real_server_spec {
    source_pos where;
    endpoint addr;                  // the port is the service's for fwmark / port 0
    int32_t weight = 1;
    std::optional<forwarding> fwd;  // lvs_method per real server; the parser always sets it
                                    // (the service's when not given), tunnel* too
    tun_type tunnel = tun_type::ipip;
    uint16_t tun_port = 0;
    uint8_t tun_flags = 0;
    uint32_t u_threshold = 0;
    uint32_t l_threshold = 0;
    bool inhibit_on_failure = false; // weight 0 on failure instead of removal
    std::optional<std::string> notify_up;
    std::optional<std::string> notify_down;
    milliseconds delay_loop{60000};  // the checkers' default
    milliseconds drain_time{0};      // beyond keepalived: weight 0 this long before removal
    milliseconds ramp{0};            // beyond keepalived: slow start, the weight ramps over
                                     // this after a recovery (an explicit `warmup`)
    std::vector<checker_spec> checkers; // none: always up
    auto operator<=>(const real_server_spec&) const = default;
};

// One virtual_server block.
struct virtual_server_spec {
    enum class kind : uint8_t { address, fwmark, group };
    source_pos where;
    kind what = kind::address;
    endpoint vip;            // kind::address
    uint32_t fwmark = 0;     // kind::fwmark
    family af = family::inet; // the vip's; fwmark / group: `ip_family inet6` or from the reals
    std::string group;       // kind::group: a virtual_server_group's name

    protocol proto = protocol::tcp;
    scheduler sched = scheduler::wlc;
    uint32_t sched_flags = 0;          // XLB_IPVS_SVC_F_SCHED*: sh-port, mh-fallback, ...
    forwarding fwd = forwarding::nat;
    tun_type tunnel = tun_type::ipip;  // lvs_method TUN type ...
    uint16_t tun_port = 0;
    uint8_t tun_flags = 0;
    bool one_packet = false;           // ops
    std::optional<uint32_t> persistence_timeout; // seconds; bare keyword: 360
    // As service_config::netmask: an IPv4 netmask in host order, or an IPv6
    // prefix length (128 unless given, for IPv6 services).
    uint32_t persistence_granularity = 0xffffffff;
    std::string persistence_engine;   // persistence_engine ("sip"), as service_config::pe_name
    milliseconds delay_loop{60000};
    bool alpha = false;               // servers start down until a check passes
    bool omega = false;               // clear the table when xlbd exits
    uint32_t quorum = 1;
    uint32_t hysteresis = 0;
    std::optional<std::string> quorum_up;
    std::optional<std::string> quorum_down;
    std::optional<real_server_spec> sorry_server;
    bool sorry_server_inhibit = false;
    bool inhibit_on_failure = false;  // default for the real servers
    std::optional<std::string> virtualhost; // default for HTTP checkers
    std::vector<real_server_spec> reals;
    auto operator<=>(const virtual_server_spec&) const = default;
};

// One line of a virtual_server_group: an address range "A-B" (last byte of
// v4 or last group of v6 runs to B) and port, or a fwmark.
struct group_entry {
    source_pos where;
    std::optional<endpoint> first; // with the port
    uint32_t range_end = 0;        // last byte / group; 0: no range
    uint32_t fwmark = 0;
    std::optional<family> fwmark_family; // `fwmark N inet|inet6`
    auto operator<=>(const group_entry&) const = default;
};

struct virtual_server_group {
    source_pos where;
    std::string name;
    std::vector<group_entry> entries;
    auto operator<=>(const virtual_server_group&) const = default;
};

// A notice the parser gave without failing: a skipped block, an
// unsupported keyword or checker (it names it and its position).
struct notice {
    source_pos where;
    std::string text;
};

struct config {
    std::vector<virtual_server_spec> virtual_servers;
    std::vector<virtual_server_group> groups;
    std::vector<notice> notices;
    std::vector<std::string> files; // every file read, includes too
};

} // namespace xlb::keepalived
