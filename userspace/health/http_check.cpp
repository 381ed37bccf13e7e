// HTTP_GET and SSL_GET (keepalived check_http.c, check_ssl.c): each url in
// turn on its own connection, all must pass. The request is keepalived's:
//
//   GET <path> HTTP/1.<minor>\r\n
//   User-Agent: KeepAliveClient\r\n
//   [Connection: close\r\n]                 (HTTP/1.1)
//   Host: <url vhost | checker vhost | addr:port, [v6]:port>\r\n\r\n
//
// The connection must be made within connect_timeout, and the response read
// (to the end of the stream, or of Content-Length) within connect_timeout
// more. It passes when its status is in status_codes (empty: 200-299) and,
// with `digest`, the MD5 of its body is that digest.

#include "check_op.h"
#include "http_response.h"

#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <fmt/format.h>

#include <array>
#include <map>
#include <mutex>
#include <type_traits>

namespace xlb::health::detail {
namespace {

using boost::asio::ip::tcp;
namespace ssl = boost::asio::ssl;

// One SSL_CTX per trust setting: building one per check would load the CA
// file each time.
result<std::shared_ptr<ssl::context>> ssl_context_for(const keepalived::checker_spec& s) {
    static std::mutex mutex;
    static std::map<std::string, std::shared_ptr<ssl::context>> cache;
    std::string key = s.verify_cert ? "verify:" + s.ca_file.value_or("") : "none";
    std::lock_guard lock(mutex);
    if (auto it = cache.find(key); it != cache.end()) {
        return it->second;
    }
    auto ctx = std::make_shared<ssl::context>(ssl::context::tls_client);
    boost::system::error_code ec;
    if (s.verify_cert) {
        ctx->set_verify_mode(ssl::verify_peer, ec);
        if (!ec) {
            if (s.ca_file) {
                ctx->load_verify_file(*s.ca_file, ec);
            } else {
                ctx->set_default_verify_paths(ec);
            }
        }
    } else {
        ctx->set_verify_mode(ssl::verify_none, ec);
    }
    if (ec) {
        return error(EINVAL, fmt::format("ca_file {}: {}", s.ca_file.value_or("(default)"), ec.message()));
    }
    cache.emplace(key, ctx);
    return ctx;
}

const keepalived::http_url& default_url() {
    static const keepalived::http_url url;
    return url;
}

std::string host_header(const keepalived::checker_spec& s, const keepalived::http_url& u) {
    if (u.virtualhost) {
        return *u.virtualhost;
    }
    if (s.virtualhost) {
        return *s.virtualhost;
    }
    if (s.connect_to.addr.is_v4()) {
        return fmt::format("{}:{}", s.connect_to.addr.to_string(), s.connect_to.port);
    }
    return fmt::format("[{}]:{}", s.connect_to.addr.to_string(), s.connect_to.port);
}

bool status_ok(const keepalived::http_url& u, unsigned status) {
    if (u.status_codes.empty()) {
        return status >= 200 && status <= 299;
    }
    for (auto [lo, hi] : u.status_codes) {
        if (status >= lo && status <= hi) {
            return true;
        }
    }
    return false;
}

template <bool Tls>
class http_op : public std::enable_shared_from_this<http_op<Tls>> {
    using stream_t = std::conditional_t<Tls, ssl::stream<tcp::socket>, tcp::socket>;

public:
    http_op(asio::io_context& io, spec_ptr spec, done_fn done, std::shared_ptr<ssl::context> ctx)
        : _io(io), _timer(io), _spec(std::move(spec)), _done(std::move(done)), _ctx(std::move(ctx)) {}

    void next_url() {
        if (_url >= url_count()) {
            _done.finish(true, url_count() == 1 ? _last_detail : fmt::format("{} urls passed", _url));
            return;
        }
        if constexpr (Tls) {
            _stream.emplace(_io, *_ctx);
        } else {
            _stream.emplace(_io);
        }
        auto to = target<tcp>(*_spec);
        if (auto r = open_bound(socket(), to, *_spec); !r) {
            _done.fail_later(_io, this->shared_from_this(), r.error().message());
            return;
        }
        _response.reset(url().digest.has_value());
        arm(_spec->connect_timeout);
        socket().async_connect(to, [self = this->shared_from_this()](boost::system::error_code ec) {
            if (self->failed(ec, "connect")) {
                return;
            }
            self->arm(self->_spec->connect_timeout);
            self->handshake();
        });
    }

private:
    const keepalived::http_url& url() const {
        return _spec->urls.empty() ? default_url() : _spec->urls[_url];
    }
    size_t url_count() const { return _spec->urls.empty() ? 1 : _spec->urls.size(); }
    tcp::socket& socket() {
        if constexpr (Tls) {
            return _stream->next_layer();
        } else {
            return *_stream;
        }
    }

    // A deadline for the current phase; on expiry the socket closes and the
    // pending operation ends with operation_aborted.
    void arm(std::chrono::milliseconds d) {
        _timer.expires_after(d);
        _timer.async_wait([self = this->shared_from_this(), gen = ++_timer_gen](boost::system::error_code ec) {
            if (!ec && gen == self->_timer_gen) {
                self->_timed_out = true;
                boost::system::error_code ignored;
                self->socket().close(ignored);
            }
        });
    }

    // Ends the check on an error or a timeout; true if it ended.
    bool failed(boost::system::error_code ec, const char* what) {
        if (_timed_out) {
            finish_url(false, fmt::format("{}: timeout after {}", what, format_ms(_spec->connect_timeout)));
            return true;
        }
        if (ec) {
            finish_url(false, fmt::format("{}: {}", what, ec.message()));
            return true;
        }
        return false;
    }

    void handshake() {
        if constexpr (Tls) {
            const auto& u = url();
            const auto* sni = u.virtualhost ? &*u.virtualhost : _spec->virtualhost ? &*_spec->virtualhost : nullptr;
            if (_spec->enable_sni && sni) {
                SSL_set_tlsext_host_name(_stream->native_handle(), sni->c_str());
            }
            _stream->async_handshake(ssl::stream_base::client,
                                     [self = this->shared_from_this()](boost::system::error_code ec) {
                                         if (!self->failed(ec, "TLS handshake")) {
                                             self->send();
                                         }
                                     });
        } else {
            send();
        }
    }

    void send() {
        const auto& u = url();
        _request = fmt::format("GET {} HTTP/1.{}\r\nUser-Agent: KeepAliveClient\r\n{}Host: {}\r\n\r\n", u.path,
                               _spec->http_protocol_minor, _spec->http_protocol_minor >= 1 ? "Connection: close\r\n" : "",
                               host_header(*_spec, u));
        asio::async_write(*_stream, asio::buffer(_request),
                          [self = this->shared_from_this()](boost::system::error_code ec, size_t) {
                              if (!self->failed(ec, "send")) {
                                  self->read();
                              }
                          });
    }

    void read() {
        _stream->async_read_some(asio::buffer(_buf), [self = this->shared_from_this()](boost::system::error_code ec,
                                                                                         size_t n) {
            self->on_read(ec, n);
        });
    }

    void on_read(boost::system::error_code ec, size_t n) {
        if (n > 0 && !_response.feed(std::string_view(_buf.data(), n))) {
            finish_url(false, _response.problem());
            return;
        }
        bool eof = ec == asio::error::eof || ec == ssl::error::stream_truncated;
        if (!_timed_out && !ec && !_response.complete()) {
            read();
            return;
        }
        if (!_timed_out && (eof || _response.complete() || !ec)) {
            evaluate();
            return;
        }
        failed(ec, "read");
    }

    void evaluate() {
        if (!_response.has_status()) {
            finish_url(false, "no HTTP status line");
            return;
        }
        unsigned status = _response.status();
        if (!status_ok(url(), status)) {
            finish_url(false, fmt::format("{}: HTTP status {}", url().path, status));
            return;
        }
        if (url().digest) {
            std::string got = _response.digest();
            if (got != *url().digest) {
                finish_url(false, fmt::format("{}: MD5 digest {} (expected {})", url().path, got, *url().digest));
                return;
            }
        }
        _last_detail = fmt::format("HTTP status {}", status);
        finish_url(true, {});
    }

    void finish_url(bool ok, std::string detail) {
        ++_timer_gen;
        _timer.cancel();
        boost::system::error_code ignored;
        socket().close(ignored);
        if (!ok) {
            _done.finish(false, std::move(detail));
            return;
        }
        ++_url;
        _timed_out = false;
        // A fresh stream per url: destroy the old one outside its handler.
        asio::post(_io, [self = this->shared_from_this()] { self->next_url(); });
    }

    asio::io_context& _io;
    asio::steady_timer _timer;
    spec_ptr _spec;
    completion _done;
    std::shared_ptr<ssl::context> _ctx;
    std::optional<stream_t> _stream;
    size_t _url = 0;
    uint64_t _timer_gen = 0;
    bool _timed_out = false;
    std::string _request;
    std::string _last_detail;
    http_response _response;
    std::array<char, 4096> _buf{};
};

} // namespace

void run_http(asio::io_context& io, spec_ptr spec, done_fn done) {
    if (spec->kind == keepalived::checker_kind::ssl) {
        auto ctx = ssl_context_for(*spec);
        if (!ctx) {
            asio::post(io, [done = std::move(done), why = ctx.error().message()] {
                completion(done).finish(false, why);
            });
            return;
        }
        std::make_shared<http_op<true>>(io, std::move(spec), std::move(done), std::move(*ctx))->next_url();
    } else {
        std::make_shared<http_op<false>>(io, std::move(spec), std::move(done), nullptr)->next_url();
    }
}

} // namespace xlb::health::detail
