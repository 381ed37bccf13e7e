// TCP_CHECK: a connection accepted within connect_timeout passes
// (keepalived check_tcp.c: connect, then close).

#include "check_op.h"

#include <boost/asio/steady_timer.hpp>

namespace xlb::health::detail {
namespace {

using boost::asio::ip::tcp;

class tcp_op : public std::enable_shared_from_this<tcp_op> {
public:
    tcp_op(asio::io_context& io, spec_ptr spec, done_fn done)
        : _sock(io), _timer(io), _spec(std::move(spec)), _done(std::move(done)) {}

    void start() {
        auto to = target<tcp>(*_spec);
        if (auto r = open_bound(_sock, to, *_spec); !r) {
            fail_soon(r.error().message());
            return;
        }
        _timer.expires_after(_spec->connect_timeout);
        _timer.async_wait([self = shared_from_this()](boost::system::error_code ec) {
            if (!ec) {
                self->_timed_out = true;
                boost::system::error_code ignored;
                self->_sock.close(ignored);
            }
        });
        _sock.async_connect(to, [self = shared_from_this()](boost::system::error_code ec) {
            self->on_connect(ec);
        });
    }

private:
    void on_connect(boost::system::error_code ec) {
        _timer.cancel();
        boost::system::error_code ignored;
        _sock.close(ignored);
        if (_timed_out) {
            _done.finish(false, "timeout after " + format_ms(_spec->connect_timeout));
        } else if (ec) {
            _done.finish(false, "connect: " + ec.message());
        } else {
            _done.finish(true, "connected");
        }
    }

    // `done` runs on the loop, never inside run_check().
    void fail_soon(std::string why) { _done.fail_later(_sock.get_executor(), shared_from_this(), std::move(why)); }

    tcp::socket _sock;
    asio::steady_timer _timer;
    spec_ptr _spec;
    completion _done;
    bool _timed_out = false;
};

} // namespace

void run_tcp(asio::io_context& io, spec_ptr spec, done_fn done) {
    std::make_shared<tcp_op>(io, std::move(spec), std::move(done))->start();
}

} // namespace xlb::health::detail
