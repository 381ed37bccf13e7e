#pragma once
// The Prometheus metrics of xlbd: text exposition format 0.0.4, from the
// daemon's view, the data path's table (dataplane::list()) and its verdict
// counters (dataplane::verdicts(); null when the backend has none).
//
// Families (every one with # HELP and # TYPE):
//   service labels: service="TCP 10.0.0.1:80", protocol="tcp|udp|sctp|fwm",
//                   vip="10.0.0.1", port="80", fwmark="0"
//   real labels:    the service's, and real="10.1.0.11:80"
//   check labels:   the real's, and checker="TCP_CHECK", check="0" (index)
// A real server xlbd knows but the table does not hold (down, removed) has
// its health families and no traffic ones.

#include <xlb/dataplane/status.h>
#include <xlb/daemon/view.h>
#include <xlb/model/service.h>

#include <string>
#include <vector>

namespace xlb::daemon {

// The Content-Type of render_metrics()'s output.
inline constexpr const char* metrics_content_type = "text/plain; version=0.0.4; charset=utf-8";

std::string render_metrics(const view& v, const std::vector<service_state>& table,
                           const std::vector<reason_report>* verdicts);

// Exposition-format escaping: a label value (\\, \", \n) and HELP text (\\, \n).
std::string escape_label_value(std::string_view s);
std::string escape_help(std::string_view s);

} // namespace xlb::daemon
