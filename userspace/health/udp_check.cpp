// UDP_CHECK (keepalived check_udp.c, layer4.c udp_bind_connect() and
// udp_socket_state()): a connected UDP socket sends the payload (by default
// 32 bytes of "keepalived check - " repeated) and waits connect_timeout.
// An ICMP port unreachable (ECONNREFUSED on the connected socket) fails;
// silence passes unless require_reply; a reply passes, and with a reply
// payload its first min(reply, expected) bytes must match and it may be at
// most 255 bytes (keepalived's max_reply_length default).

#include "check_op.h"

#include <boost/asio/steady_timer.hpp>

#include <array>
#include <cstring>

namespace xlb::health::detail {
namespace {

using boost::asio::ip::udp;

constexpr size_t max_reply_length = 255;

const std::string& default_payload() {
    static const std::string p = [] {
        const std::string unit = "keepalived check - ";
        std::string out;
        while (out.size() < 32) {
            out += unit;
        }
        out.resize(32);
        return out;
    }();
    return p;
}

class udp_op : public std::enable_shared_from_this<udp_op> {
public:
    udp_op(asio::io_context& io, spec_ptr spec, done_fn done)
        : _sock(io), _timer(io), _spec(std::move(spec)), _done(std::move(done)) {}

    void start() {
        auto to = target<udp>(*_spec);
        boost::system::error_code ec;
        if (auto r = open_bound(_sock, to, *_spec); !r) {
            fail_soon(r.error().message());
            return;
        }
        _sock.connect(to, ec);
        const auto& payload = _spec->payload.empty() ? default_payload() : _spec->payload;
        if (!ec) {
            _sock.send(asio::buffer(payload), 0, ec);
        }
        if (ec) {
            fail_soon("send: " + ec.message());
            return;
        }
        _timer.expires_after(_spec->connect_timeout);
        _timer.async_wait([self = shared_from_this()](boost::system::error_code e) {
            if (!e) {
                self->_timed_out = true;
                boost::system::error_code ignored;
                self->_sock.close(ignored);
            }
        });
        _sock.async_receive(asio::buffer(_buf), [self = shared_from_this()](boost::system::error_code e, size_t n) {
            self->on_reply(e, n);
        });
    }

private:
    void on_reply(boost::system::error_code ec, size_t n) {
        _timer.cancel();
        boost::system::error_code ignored;
        _sock.close(ignored);
        if (_timed_out) {
            if (_spec->require_reply) {
                _done.finish(false, "no reply within " + format_ms(_spec->connect_timeout));
            } else {
                _done.finish(true, "no reply, no ICMP error");
            }
            return;
        }
        if (ec) {
            _done.finish(false, "receive: " + ec.message());
            return;
        }
        if (_spec->reply_payload) {
            const auto& want = *_spec->reply_payload;
            size_t len = std::min(n, want.size());
            if (n > max_reply_length || std::memcmp(_buf.data(), want.data(), len) != 0) {
                _done.finish(false, "reply data mismatch");
                return;
            }
        }
        _done.finish(true, "reply");
    }

    void fail_soon(std::string why) { _done.fail_later(_sock.get_executor(), shared_from_this(), std::move(why)); }

    udp::socket _sock;
    asio::steady_timer _timer;
    spec_ptr _spec;
    completion _done;
    bool _timed_out = false;
    std::array<char, max_reply_length + 1> _buf{};
};

} // namespace

void run_udp(asio::io_context& io, spec_ptr spec, done_fn done) {
    std::make_shared<udp_op>(io, std::move(spec), std::move(done))->start();
}

} // namespace xlb::health::detail
