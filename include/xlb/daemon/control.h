#pragma once
// xlbd's control socket: a unix stream socket, root-only (mode 0600, and
// the peer must be uid 0), one request line in, one JSON document out.
//
//   checks   every service's real servers with their checkers' state
//   ping     {"ok": true}
//
// xlbctl's `checks` subcommand is the client; its text table comes from
// the same JSON (format_checks()).

#include <xlb/daemon/view.h>
#include <xlb/util/error.h>

#include <boost/asio/io_context.hpp>
#include <boost/json/value.hpp>

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

namespace xlb::daemon {

// $XLB_RUN_DIR/xlbd.sock, else /run/xlb/xlbd.sock.
std::string control_socket_path();

boost::json::value view_to_json(const view& v);
// The table `xlbctl checks` prints; EINVAL if the document is not a view.
result<std::string> format_checks(const boost::json::value& v);

class control_server {
public:
    // Answers a request line (without its newline) with a JSON text.
    using handler = std::function<std::string(std::string_view request)>;

    control_server(boost::asio::io_context& io, handler h);
    ~control_server();
    control_server(const control_server&) = delete;
    control_server& operator=(const control_server&) = delete;

    // Binds path (replacing a stale socket, refusing a live one: EADDRINUSE)
    // and starts accepting.
    result<> listen(const std::string& path);

private:
    struct impl;
    std::shared_ptr<impl> _impl;
};

// One request to a running xlbd: its JSON answer. ECONNREFUSED / ENOENT
// when no xlbd listens there.
result<boost::json::value> control_request(const std::string& path, std::string_view request,
                                           std::chrono::milliseconds timeout = std::chrono::seconds(5));

} // namespace xlb::daemon
