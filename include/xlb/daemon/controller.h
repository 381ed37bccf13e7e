#pragma once
// xlbd's core: a configuration, the health monitor's results and the
// reconciler, on one event loop. Health results only edit what xlbd wants
// (plan.h); the reconciler then writes the difference to the backend, one
// change set per event, touching only the service concerned.
//
// Start: the table is read once. A real server already a dest with a
// non-zero weight starts alive, whatever `alpha` says, and one absent from a
// service that already exists starts dead: a restarted xlbd adopts the
// table as it is and re-checks before it removes or adds anything.
//
// Reload: only what changed is touched. A real server whose checkers did
// not change keeps them, and their state; one that left the configuration
// drains for its drain_time, then goes; a virtual_server that left is
// deleted.

#include <xlb/daemon/plan.h>
#include <xlb/daemon/reconciler.h>
#include <xlb/daemon/view.h>
#include <xlb/dataplane/dataplane.h>
#include <xlb/health/monitor.h>
#include <xlb/keepalived/config.h>

#include <boost/asio/io_context.hpp>

#include <memory>
#include <string>

namespace xlb::daemon {

struct controller_options {
    std::string backend;     // for the view: "xdp" or "ipvs"
    std::string config_file; // for the view
    // Where xlbd records the services and dests it manages, so that a
    // restart with a changed configuration removes what the old one added.
    // Empty: no record.
    std::string state_file;
};

class controller {
public:
    controller(boost::asio::io_context& io, dataplane& dp, controller_options opts);
    ~controller();
    controller(const controller&) = delete;
    controller& operator=(const controller&) = delete;

    // Reads the table, adopts it, starts the checkers and writes the first
    // change set. On error nothing was written.
    result<> start(const keepalived::config& cfg);
    // Applies a new configuration by difference. A configuration that
    // does not plan (a bad group) or that the backend cannot serve is
    // refused before anything changes: the old one stays in force. A
    // change set the backend then refuses leaves the table as it was (all
    // or nothing); the new configuration is kept, with the deletions it
    // needs, and written again a second later and on every event.
    result<> reload(const keepalived::config& cfg);
    // Stops checking. With `cleanup` (or a service's `omega`) the
    // services xlbd manages are deleted; otherwise the table stays as it is.
    result<> stop(bool cleanup);

    [[nodiscard]] view snapshot() const;

private:
    struct impl;
    std::unique_ptr<impl> _impl;
};

// Runs a notify or quorum script through /bin/sh -c, detached: xlbd never
// waits for it, and it leaves no zombie.
void run_script(const std::string& command);

} // namespace xlb::daemon
