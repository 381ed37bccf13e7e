#pragma once
// What the checkers share: the spec an attempt runs against (shared, so that
// monitor::remove() may drop it while a check is in flight), the endpoint and
// source binding, and the completion that runs `done` exactly once.

#include <xlb/health/monitor.h>
#include <xlb/util/error.h>

#include <boost/asio/ip/address.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ip/udp.hpp>

#include <net/if.h>
#include <sys/socket.h>

#include <chrono>
#include <functional>
#include <memory>
#include <string>

namespace xlb::health::detail {

namespace asio = boost::asio;
using steady = std::chrono::steady_clock;
using done_fn = std::function<void(check_result)>;
using spec_ptr = std::shared_ptr<const keepalived::checker_spec>;

void run_tcp(asio::io_context& io, spec_ptr spec, done_fn done);
void run_http(asio::io_context& io, spec_ptr spec, done_fn done); // HTTP_GET and SSL_GET
void run_misc(asio::io_context& io, spec_ptr spec, done_fn done);
void run_udp(asio::io_context& io, spec_ptr spec, done_fn done);
void run_dns(asio::io_context& io, spec_ptr spec, done_fn done);

asio::ip::address to_asio(const ip_address& a);
// "3 s", "250 ms": for details such as "timeout after 3 s".
std::string format_ms(std::chrono::milliseconds ms);

// connect_to as an asio endpoint; a link-local v6 address takes bind_if's
// index as its scope.
template <class Protocol>
typename Protocol::endpoint target(const keepalived::checker_spec& s) {
    auto addr = to_asio(s.connect_to.addr);
    if (addr.is_v6() && !s.bind_interface.empty()) {
        auto v6 = addr.to_v6();
        if (v6.is_link_local()) {
            v6.scope_id(::if_nametoindex(s.bind_interface.c_str()));
            addr = v6;
        }
    }
    return typename Protocol::endpoint(addr, s.connect_to.port);
}

// Opens `sock` for the target's family and applies bind_if, bind_to and
// bind_port.
template <class Socket, class Endpoint>
result<> open_bound(Socket& sock, const Endpoint& to, const keepalived::checker_spec& s) {
    boost::system::error_code ec;
    sock.open(to.protocol(), ec);
    if (ec) {
        return error(ec.value(), "socket");
    }
    if (!s.bind_interface.empty()) {
        const auto& name = s.bind_interface;
        if (::setsockopt(sock.native_handle(), SOL_SOCKET, SO_BINDTODEVICE, name.c_str(),
                         static_cast<socklen_t>(name.size())) != 0) {
            return errno_error("bind_if {}", name);
        }
    }
    if (s.bind_to || s.bind_port != 0) {
        Endpoint src(to.protocol(), s.bind_port);
        if (s.bind_to) {
            src.address(to_asio(*s.bind_to));
        }
        sock.bind(src, ec);
        if (ec) {
            return error(ec.value(), "bind_to");
        }
    }
    return {};
}

// Runs `done` once, with the latency since construction.
class completion {
public:
    explicit completion(done_fn done) : _done(std::move(done)), _start(steady::now()) {}

    [[nodiscard]] bool finished() const noexcept { return _finished; }
    [[nodiscard]] steady::time_point start() const noexcept { return _start; }

    void finish(bool ok, std::string detail, std::optional<int32_t> weight = {}) {
        if (_finished) {
            return;
        }
        _finished = true;
        check_result r;
        r.ok = ok;
        r.detail = std::move(detail);
        r.latency = std::chrono::duration_cast<std::chrono::microseconds>(steady::now() - _start);
        r.weight = weight;
        auto done = std::move(_done);
        done(std::move(r));
    }

    // A failure found before any I/O started: reported from the loop, as
    // run_check() promises, never from inside it. `owner` holds this
    // completion (the check it belongs to) alive until then.
    template <class ExecutorOrContext>
    void fail_later(ExecutorOrContext&& ex, std::shared_ptr<const void> owner, std::string why) {
        boost::asio::post(ex, [this, owner = std::move(owner), why = std::move(why)]() mutable {
            finish(false, std::move(why));
        });
    }

private:
    done_fn _done;
    steady::time_point _start;
    bool _finished = false;
};

} // namespace xlb::health::detail
