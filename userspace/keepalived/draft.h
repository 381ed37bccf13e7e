#pragma once
// What the parser holds while a virtual_server block is open (internal):
// the specs plus which values each block set itself, so the defaults can
// be inherited the way keepalived does once the block is closed
// (check_data.c validate_check_config(): checker <- real_server <-
// virtual_server <- keepalived's defaults).

#include "reader.h"

#include <xlb/keepalived/config.h>
#include <xlb/model/service.h>

#include <chrono>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <vector>

namespace xlb::keepalived::detail {

using std::chrono::milliseconds;

// keepalived's defaults: check_data.c alloc_vs() (delay_loop
// KEEPALIVED_DEFAULT_DELAY = 60 s, connect timeout 5 s, quorum 1, weight 1),
// libipvs.h IPVS_SVC_PERSISTENT_TIMEOUT (360 s), ipvswrapper.h
// IPVS_DEF_SCHED "wlc", check_data.c validate_check_config() (NAT).
inline constexpr milliseconds default_delay_loop{60000};
inline constexpr milliseconds default_connect_timeout{5000};
inline constexpr uint32_t default_persistence = 360;
inline constexpr uint32_t max_persistence = 86400 * 31; // LVS_MAX_TIMEOUT
inline constexpr uint64_t max_weight = std::numeric_limits<int32_t>::max(); // IPVS_WEIGHT_LIMIT

// Values a block may set for the blocks inside it.
struct inherited {
    std::optional<milliseconds> connect_timeout;
    std::optional<milliseconds> delay_loop;
    std::optional<milliseconds> delay_before_retry;
    std::optional<milliseconds> warmup;
    std::optional<milliseconds> drain_time;
    std::optional<uint32_t> retry;
    std::optional<uint32_t> rise;
    std::optional<uint32_t> fall;
    std::optional<bool> inhibit;
    std::optional<std::string> virtualhost;
};

// The inner block's value where it set one, else the outer's.
inherited overlay(const inherited& inner, const inherited& outer);

struct checker_draft {
    checker_spec spec;
    inherited set;
    std::optional<ip_address> connect_ip;
    std::optional<uint16_t> connect_port;
    std::optional<milliseconds> misc_timeout;
    // The checker's own defaults (keepalived's default_retry and
    // default_delay_before_retry); nullopt: delay_loop.
    uint32_t default_retry = 1;
    std::optional<milliseconds> default_delay_before_retry = milliseconds(1000);
};

// lb_kind / lvs_method with its TUN options.
struct method {
    forwarding fwd = forwarding::nat;
    tun_type tunnel = tun_type::ipip;
    uint16_t port = 0;
    uint8_t flags = 0;
};

struct real_draft {
    real_server_spec spec;
    inherited set;
    std::optional<int32_t> weight;
    std::optional<method> how;
    std::vector<checker_draft> checkers;
};

struct vs_draft {
    virtual_server_spec spec;
    inherited set;
    int32_t weight = 1; // the real servers' default (virtual_server `weight`)
    std::optional<method> how;
    std::optional<family> ip_family;
    std::optional<real_draft> sorry;
    std::optional<method> sorry_how;
    std::optional<token> granularity;
    std::vector<token> sched_flag_words;
    std::vector<real_draft> reals;
};

// The parse's shared state: its tokens and the notices so far.
struct session {
    token_stream stream;
    std::vector<notice> notices;
    std::optional<std::string> ssl_ca; // the top-level SSL block's `ca`

    void note(const source_pos& at, std::string text) { notices.push_back({at, std::move(text)}); }
    // "KEYWORD not supported: ignored" (and its block skipped).
    result<void> unsupported(const statement& st, std::string_view where);
};

// Applies keepalived's defaults and checks to a closed virtual_server
// block (finish.cpp). nullopt: dropped, with a notice.
result<std::optional<virtual_server_spec>> finish_virtual_server(session& s, vs_draft&& vs);

} // namespace xlb::keepalived::detail
