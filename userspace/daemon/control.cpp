#include <xlb/daemon/control.h>

#include <xlb/dataplane/fallback.h>
#include <xlb/util/fd.h>
#include <xlb/util/file.h>
#include <xlb/util/log.h>

#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/write.hpp>
#include <boost/json.hpp>

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmath>
#include <ctime>

namespace xlb::daemon {

namespace json = boost::json;
namespace asio = boost::asio;
using local = asio::local::stream_protocol;
using sys_clock = std::chrono::system_clock;

std::string control_socket_path() { return run_dir() + "/xlbd.sock"; }

namespace {

// Seconds since the epoch, or null for "never".
json::value when(sys_clock::time_point t) {
    if (t == sys_clock::time_point{}) {
        return nullptr;
    }
    return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}

std::string_view real_state(const real_server_view& r) {
    if (r.sorry) {
        return r.in_table && r.weight > 0 ? "sorry" : "standby";
    }
    if (r.draining) {
        return "draining";
    }
    return r.up ? "up" : "down";
}

json::object checker_json(const checker_view& c) {
    json::object o;
    o["type"] = c.kind;
    o["up"] = c.up;
    o["last_result"] = c.last_result;
    o["latency_ms"] = static_cast<double>(c.last_latency.count()) / 1000.0;
    o["last_check"] = when(c.last_check);
    o["last_transition"] = when(c.last_transition);
    o["checks"] = c.checks;
    o["failures"] = c.failures;
    o["transitions"] = c.transitions;
    return o;
}

json::object real_json(const real_server_view& r) {
    json::object o;
    o["address"] = r.addr.to_string();
    o["state"] = real_state(r);
    o["sorry_server"] = r.sorry;
    o["in_table"] = r.in_table;
    o["weight"] = r.weight;
    o["config_weight"] = r.config_weight;
    o["last_transition"] = when(r.last_transition);
    o["transitions"] = r.transitions;
    json::array checkers;
    for (const auto& c : r.checkers) {
        checkers.push_back(checker_json(c));
    }
    o["checkers"] = std::move(checkers);
    return o;
}

std::string local_time(int64_t unix_s) {
    std::time_t t = static_cast<std::time_t>(unix_s);
    std::tm tm{};
    ::localtime_r(&t, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S", &tm);
    return buf;
}

std::string str(const json::object& o, std::string_view k) {
    const auto* v = o.if_contains(k);
    return v && v->is_string() ? std::string(v->as_string()) : std::string();
}

int64_t num(const json::object& o, std::string_view k) {
    const auto* v = o.if_contains(k);
    return v && v->is_int64() ? v->as_int64() : v && v->is_uint64() ? static_cast<int64_t>(v->as_uint64()) : 0;
}

std::string changed(const json::object& o) {
    const auto* v = o.if_contains("last_transition");
    return v && (v->is_int64() || v->is_uint64()) ? local_time(num(o, "last_transition")) : "never";
}

} // namespace

json::value view_to_json(const view& v) {
    json::object o;
    o["backend"] = v.backend;
    o["config"] = v.config_file;
    o["started"] = when(v.started);
    o["last_reload"] = when(v.last_reload);
    o["reloads"] = v.reloads;
    o["reload_failures"] = v.reload_failures;
    json::array services;
    for (const auto& s : v.services) {
        json::object so;
        so["service"] = s.name;
        so["quorum"] = s.quorum;
        so["quorum_up"] = s.quorum_up;
        json::array reals;
        for (const auto& r : s.reals) {
            reals.push_back(real_json(r));
        }
        so["real_servers"] = std::move(reals);
        services.push_back(std::move(so));
    }
    o["services"] = std::move(services);
    return o;
}

result<std::string> format_checks(const json::value& v) {
    const auto* o = v.if_object();
    const auto* services = o ? o->if_contains("services") : nullptr;
    if (!services || !services->is_array()) {
        return make_error(EINVAL, "xlbd's answer is not a checks listing");
    }
    std::string out = fmt::format("{:<26} {:<24} {:<9} {:>13}  {:<10} {:<32} {}\n", "Service", "RealServer", "State",
                                  "Weight(conf)", "Checker", "LastResult", "Changed");
    for (const auto& s : services->as_array()) {
        if (!s.is_object()) {
            return make_error(EINVAL, "xlbd's answer is not a checks listing");
        }
        const auto& so = s.as_object();
        const auto* reals = so.if_contains("real_servers");
        out += fmt::format("{}{}\n", str(so, "service"),
                           so.if_contains("quorum_up") && so.at("quorum_up").is_bool() && !so.at("quorum_up").as_bool()
                               ? "  (quorum lost)"
                               : "");
        if (!reals || !reals->is_array()) {
            continue;
        }
        for (const auto& r : reals->as_array()) {
            if (!r.is_object()) {
                continue;
            }
            const auto& ro = r.as_object();
            const auto weight = fmt::format("{}({})", num(ro, "weight"), num(ro, "config_weight"));
            const auto* checkers = ro.if_contains("checkers");
            const bool none = !checkers || !checkers->is_array() || checkers->as_array().empty();
            if (none) {
                out += fmt::format("{:<26} {:<24} {:<9} {:>13}  {:<10} {:<32} {}\n", "", str(ro, "address"),
                                   str(ro, "state"), weight, "-", "-", changed(ro));
                continue;
            }
            bool first = true;
            for (const auto& c : checkers->as_array()) {
                if (!c.is_object()) {
                    continue;
                }
                const auto& co = c.as_object();
                out += fmt::format("{:<26} {:<24} {:<9} {:>13}  {:<10} {:<32} {}\n", "",
                                   first ? str(ro, "address") : "", first ? str(ro, "state") : "",
                                   first ? weight : "", str(co, "type"), str(co, "last_result"),
                                   first ? changed(ro) : "");
                first = false;
            }
        }
    }
    return out;
}

struct control_server::impl : std::enable_shared_from_this<impl> {
    impl(asio::io_context& io, handler h) : io(io), acceptor(io), answer(std::move(h)) {}

    asio::io_context& io;
    local::acceptor acceptor;
    handler answer;
    std::string path;

    void accept() {
        acceptor.async_accept([self = shared_from_this()](boost::system::error_code ec, local::socket s) {
            if (ec == asio::error::operation_aborted) {
                return;
            }
            if (!ec) {
                self->serve(std::move(s));
            }
            self->accept();
        });
    }

    void serve(local::socket s) {
        struct ucred cred{};
        socklen_t len = sizeof cred;
        if (::getsockopt(s.native_handle(), SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0 || cred.uid != 0) {
            return; // root only: the socket closes unanswered
        }
        auto sock = std::make_shared<local::socket>(std::move(s));
        auto buf = std::make_shared<asio::streambuf>(4096);
        // A client that sends no line within 5 s is dropped.
        auto deadline = std::make_shared<asio::steady_timer>(io, std::chrono::seconds(5));
        deadline->async_wait([w = std::weak_ptr<local::socket>(sock)](boost::system::error_code ec) {
            if (auto sk = w.lock(); !ec && sk) {
                boost::system::error_code ignored;
                sk->close(ignored);
            }
        });
        asio::async_read_until(*sock, *buf, '\n',
                               [self = shared_from_this(), sock, buf, deadline](boost::system::error_code ec,
                                                                               size_t n) {
                                   deadline->cancel();
                                   if (ec) {
                                       return;
                                   }
                                   std::string line(asio::buffers_begin(buf->data()),
                                                    asio::buffers_begin(buf->data()) + static_cast<long>(n) - 1);
                                   auto reply = std::make_shared<std::string>(self->answer(line) + "\n");
                                   asio::async_write(*sock, asio::buffer(*reply),
                                                     [sock, reply](boost::system::error_code, size_t) {});
                               });
    }
};

control_server::control_server(asio::io_context& io, handler h) : _impl(std::make_shared<impl>(io, std::move(h))) {}

control_server::~control_server() {
    boost::system::error_code ec;
    _impl->acceptor.close(ec);
    if (!_impl->path.empty()) {
        ::unlink(_impl->path.c_str());
    }
}

result<> control_server::listen(const std::string& path) {
    // A live xlbd answers a connect; a stale socket file does not.
    if (auto live = control_request(path, "ping", std::chrono::milliseconds(500)); live) {
        return make_error(EADDRINUSE, "another xlbd answers on {}", path);
    }
    if (auto slash = path.rfind('/'); slash != std::string::npos && slash > 0) {
        if (auto r = make_dirs(path.substr(0, slash)); !r) {
            return r.error();
        }
    }
    ::unlink(path.c_str());
    boost::system::error_code ec;
    _impl->acceptor.open(local(), ec);
    if (!ec) {
        const mode_t old = ::umask(0177);
        _impl->acceptor.bind(local::endpoint(path), ec);
        ::umask(old);
    }
    if (!ec && ::chmod(path.c_str(), 0600) < 0) {
        ec = boost::system::error_code(errno, boost::system::system_category());
    }
    if (!ec) {
        _impl->acceptor.listen(asio::socket_base::max_listen_connections, ec);
    }
    if (ec) {
        return make_error(ec.value(), "control socket {}", path);
    }
    _impl->path = path;
    _impl->accept();
    return {};
}

result<json::value> control_request(const std::string& path, std::string_view request,
                                    std::chrono::milliseconds timeout) {
    file_desc fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!fd) {
        return errno_error("socket");
    }
    struct timeval tv{};
    tv.tv_sec = static_cast<time_t>(timeout.count() / 1000);
    tv.tv_usec = static_cast<suseconds_t>((timeout.count() % 1000) * 1000);
    ::setsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ::setsockopt(fd.get(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    if (path.size() >= sizeof sa.sun_path) {
        return make_error(ENAMETOOLONG, "control socket {}", path);
    }
    std::copy(path.begin(), path.end(), sa.sun_path);
    if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa) < 0) {
        return errno_error("connect to xlbd at {}", path);
    }
    std::string line = std::string(request) + "\n";
    if (::write(fd.get(), line.data(), line.size()) != static_cast<ssize_t>(line.size())) {
        return errno_error("write to xlbd at {}", path);
    }
    std::string reply;
    char buf[65536];
    for (;;) {
        ssize_t n = ::read(fd.get(), buf, sizeof buf);
        if (n < 0) {
            return errno_error("read from xlbd at {}", path);
        }
        if (n == 0) {
            break;
        }
        reply.append(buf, static_cast<size_t>(n));
    }
    boost::system::error_code ec;
    auto v = json::parse(reply, ec);
    if (ec) {
        return make_error(EPROTO, "xlbd at {} answered no JSON ({} bytes)", path, reply.size());
    }
    return v;
}

} // namespace xlb::daemon
