#include <xlb/daemon/http_server.h>
#include <xlb/daemon/metrics.h>
#include <xlb/daemon/status_page.h>
#include <xlb/util/log.h>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <fmt/format.h>

#include <array>
#include <cerrno>
#include <list>
#include <string_view>

namespace xlb::daemon {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using boost::system::error_code;

class session;

struct http_server::state {
    state(asio::io_context& io, http_options o, page_provider p)
        : acceptor(io), retry(io), opts(std::move(o)), provider(std::move(p)) {}

    tcp::acceptor acceptor;
    asio::steady_timer retry; // after an accept error (EMFILE), so as not to spin
    http_options opts;
    page_provider provider;
    std::list<std::weak_ptr<session>> live;
    bool stopped = false;
};

namespace {

struct response {
    int status = 200;
    std::string_view reason = "OK";
    std::string content_type = "text/plain; charset=utf-8";
    std::string body;
    bool allow_get = false; // 405's Allow header
};

response plain(int status, std::string_view reason, std::string body) {
    response r;
    r.status = status;
    r.reason = reason;
    r.body = std::move(body);
    return r;
}

std::string serialize(const response& r) {
    std::string out = fmt::format("HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\n"
                                  "Cache-Control: no-store\r\nConnection: close\r\n",
                                  r.status, r.reason, r.content_type, r.body.size());
    if (r.allow_get) {
        out += "Allow: GET\r\n";
    }
    out += "\r\n";
    out += r.body;
    return out;
}

// "GET /metrics?x HTTP/1.1": the method and the path without its query.
struct request_line {
    std::string_view method;
    std::string_view path;
};

std::optional<request_line> parse_request_line(std::string_view head) {
    auto eol = head.find("\r\n");
    auto line = head.substr(0, eol);
    auto sp1 = line.find(' ');
    if (sp1 == std::string_view::npos || sp1 == 0) {
        return std::nullopt;
    }
    auto sp2 = line.find(' ', sp1 + 1);
    if (sp2 == std::string_view::npos || sp2 == sp1 + 1) {
        return std::nullopt;
    }
    auto version = line.substr(sp2 + 1);
    if (version.substr(0, 7) != "HTTP/1." || version.size() != 8) {
        return std::nullopt;
    }
    auto target = line.substr(sp1 + 1, sp2 - sp1 - 1);
    if (target.find(' ') != std::string_view::npos) {
        return std::nullopt;
    }
    return request_line{line.substr(0, sp1), target.substr(0, target.find('?'))};
}

response answer(const http_server::state& s, std::string_view head) {
    auto rl = parse_request_line(head);
    if (!rl) {
        return plain(400, "Bad Request", "malformed request line\n");
    }
    if (rl->method != "GET") {
        auto r = plain(405, "Method Not Allowed", "only GET is served\n");
        r.allow_get = true;
        return r;
    }
    if (rl->path != "/" && rl->path != "/metrics") {
        return plain(404, "Not Found", "not found: GET / (status page) or GET /metrics (Prometheus)\n");
    }
    auto data = s.provider();
    if (!data) {
        return plain(500, "Internal Server Error", data.error().message() + "\n");
    }
    response r;
    if (rl->path == "/metrics") {
        r.content_type = metrics_content_type;
        r.body = render_metrics(data->state, data->table, data->verdicts ? &*data->verdicts : nullptr);
    } else {
        r.content_type = status_page_content_type;
        r.body = render_status_page(data->state, data->table);
    }
    return r;
}

} // namespace

// One connection: read the head, answer, close; the timer bounds it all.
class session : public std::enable_shared_from_this<session> {
public:
    session(tcp::socket sock, std::shared_ptr<http_server::state> s)
        : _sock(std::move(sock)), _timer(_sock.get_executor()), _state(std::move(s)) {}

    void run(bool over_limit) {
        _timer.expires_after(_state->opts.timeout);
        _timer.async_wait([self = shared_from_this()](error_code ec) {
            if (!ec) {
                self->close();
            }
        });
        if (over_limit) {
            send(plain(503, "Service Unavailable", "too many connections\n"));
            return;
        }
        asio::async_read_until(_sock, asio::dynamic_buffer(_in, _state->opts.max_request_bytes), "\r\n\r\n",
                               [self = shared_from_this()](error_code ec, size_t n) { self->on_read(ec, n); });
    }

    void close() {
        error_code ignored;
        _timer.cancel();
        _sock.shutdown(tcp::socket::shutdown_both, ignored);
        _sock.close(ignored);
    }

private:
    void on_read(error_code ec, size_t n) {
        if (ec == asio::error::not_found) {
            send(plain(431, "Request Header Fields Too Large",
                       fmt::format("request head over {} bytes\n", _state->opts.max_request_bytes)));
            return;
        }
        if (ec) {
            close();
            return;
        }
        send(answer(*_state, std::string_view(_in).substr(0, n)));
    }

    void send(const response& r) {
        _out = serialize(r);
        asio::async_write(_sock, asio::buffer(_out), [self = shared_from_this()](error_code ec, size_t) {
            if (ec) {
                self->close();
                return;
            }
            // A lingering close: closing with unread request bytes would
            // reset the connection, and the client could lose the answer.
            error_code ignored;
            self->_sock.shutdown(tcp::socket::shutdown_send, ignored);
            self->drain();
        });
    }

    // Reads and drops what the client still sends until it closes; the timer bounds it.
    void drain() {
        _sock.async_read_some(asio::buffer(_sink), [self = shared_from_this()](error_code ec, size_t) {
            if (ec) {
                self->close();
                return;
            }
            self->drain();
        });
    }

    tcp::socket _sock;
    asio::steady_timer _timer;
    std::shared_ptr<http_server::state> _state;
    std::string _in;
    std::string _out;
    std::array<char, 1024> _sink{};
};

namespace {

size_t prune(std::list<std::weak_ptr<session>>& live) {
    live.remove_if([](const std::weak_ptr<session>& w) { return w.expired(); });
    return live.size();
}

void accept_next(const std::shared_ptr<http_server::state>& s) {
    s->acceptor.async_accept([s](error_code ec, tcp::socket sock) {
        if (s->stopped) {
            return;
        }
        if (ec) {
            log::warn("http: accept: {}", ec.message());
            s->retry.expires_after(std::chrono::milliseconds(100));
            s->retry.async_wait([s](error_code wec) {
                if (!wec && !s->stopped) {
                    accept_next(s);
                }
            });
            return;
        }
        const bool over = prune(s->live) >= s->opts.max_connections;
        auto conn = std::make_shared<session>(std::move(sock), s);
        s->live.push_back(conn);
        conn->run(over);
        accept_next(s);
    });
}

// "ADDR:PORT" or "[V6]:PORT", the port written out.
std::optional<endpoint> parse_listen(std::string_view text) {
    size_t colon = 0;
    if (!text.empty() && text.front() == '[') {
        auto close = text.find(']');
        if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
            return std::nullopt;
        }
        colon = close + 1;
    } else {
        colon = text.find(':');
        if (colon == std::string_view::npos || colon != text.rfind(':')) {
            return std::nullopt; // no port, or a bare IPv6 address whose port would be ambiguous
        }
    }
    if (colon + 1 >= text.size()) {
        return std::nullopt;
    }
    return endpoint::parse(text);
}

} // namespace

result<page_data> read_page_data(const dataplane& dp, view state) {
    page_data d;
    d.state = std::move(state);
    auto table = dp.list();
    if (!table) {
        return table.error();
    }
    d.table = std::move(*table);
    auto verdicts = dp.verdicts();
    if (verdicts) {
        d.verdicts = std::move(*verdicts);
    } else if (verdicts.error().code != EOPNOTSUPP) {
        return verdicts.error();
    }
    return d;
}

result<std::unique_ptr<http_server>> http_server::start(asio::io_context& io, const http_options& opts,
                                                        page_provider provider) {
    auto ep = parse_listen(opts.listen);
    if (!ep) {
        return make_error(EINVAL, "http listen address '{}': expected ADDR:PORT or [IPV6]:PORT", opts.listen);
    }
    if (opts.max_request_bytes < 16 || opts.max_connections == 0 || opts.timeout.count() <= 0) {
        return make_error(EINVAL, "http options: max_request_bytes, max_connections and timeout must be positive");
    }
    auto s = std::make_shared<state>(io, opts, std::move(provider));
    const auto& b = ep->addr.bytes();
    asio::ip::address addr;
    if (ep->addr.is_v4()) {
        addr = asio::ip::address_v4(asio::ip::address_v4::bytes_type{b[0], b[1], b[2], b[3]});
    } else {
        asio::ip::address_v6::bytes_type v6{};
        std::copy(b.begin(), b.end(), v6.begin());
        addr = asio::ip::address_v6(v6);
    }
    tcp::endpoint where(addr, ep->port);
    error_code ec;
    s->acceptor.open(where.protocol(), ec);
    if (!ec) {
        s->acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
    }
    if (!ec) {
        s->acceptor.bind(where, ec);
    }
    if (!ec) {
        s->acceptor.listen(asio::socket_base::max_listen_connections, ec);
    }
    if (ec) {
        return make_error(ec.value(), "http: listen on {}", ep->to_string());
    }
    accept_next(s);
    return std::unique_ptr<http_server>(new http_server(std::move(s)));
}

http_server::http_server(std::shared_ptr<state> s) : _state(std::move(s)) {}

http_server::~http_server() {
    _state->stopped = true;
    error_code ignored;
    _state->acceptor.close(ignored);
    _state->retry.cancel();
    for (auto& w : _state->live) {
        if (auto c = w.lock()) {
            c->close();
        }
    }
    _state->live.clear();
}

endpoint http_server::local_endpoint() const {
    error_code ec;
    auto ep = _state->acceptor.local_endpoint(ec);
    endpoint out;
    if (ec) {
        return out;
    }
    std::array<uint8_t, 16> bytes{};
    if (ep.address().is_v4()) {
        auto b = ep.address().to_v4().to_bytes();
        std::copy(b.begin(), b.end(), bytes.begin());
        out.addr = ip_address(family::inet, bytes);
    } else {
        auto b = ep.address().to_v6().to_bytes();
        std::copy(b.begin(), b.end(), bytes.begin());
        out.addr = ip_address(family::inet6, bytes);
    }
    out.port = ep.port();
    return out;
}

size_t http_server::connections() const noexcept {
    return prune(_state->live);
}

} // namespace xlb::daemon
