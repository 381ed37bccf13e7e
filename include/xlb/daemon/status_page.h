#pragma once
// xlbd's read-only status page: one self-contained HTML document (inline
// CSS, no script, refreshing itself every 5 s), in the manner of HAProxy's
// stats page. One table per virtual service: a header row for the service
// and one row per real server, in ipvsadm -L's order, then the real servers
// xlbd knows that the table does not hold (down, removed).
//
// For tests and scrapers every row and cell is marked:
//   <tr class="service" data-service="TCP 10.0.0.1:80" data-in-table="1" data-quorum-up="1">
//   <tr class="real health-up" data-service="..." data-real="10.1.0.11:80"
//       data-health="up|down|draining|sorry|unmanaged" data-in-table="1|0">
//   <td class="COLUMN" data-value="EXACT"> with COLUMN one of
//     addr health weight-config weight active inactive conns inpkts outpkts
//     inbytes outbytes cps inpps outpps inbps outbps check since
// data-value is the exact number (bytes unscaled, since in seconds), or
// empty where there is none (a real server not in the table has no counters).

#include <xlb/daemon/view.h>
#include <xlb/model/service.h>

#include <chrono>
#include <string>
#include <string_view>
#include <vector>

namespace xlb::daemon {

inline constexpr const char* status_page_content_type = "text/html; charset=utf-8";

std::string render_status_page(const view& v, const std::vector<service_state>& table,
                               std::chrono::system_clock::time_point now = std::chrono::system_clock::now());

// &, <, >, " and ' as character references.
std::string html_escape(std::string_view s);

} // namespace xlb::daemon
