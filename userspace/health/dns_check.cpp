// DNS_CHECK (keepalived check_dns.c): one query over UDP for dns_name and
// dns_type, class IN, recursion desired, a random id. Replies that are too
// short, carry another id or are not responses (QR clear) are ignored, as
// keepalived ignores them, and the wait goes on; a response with RCODE
// NOERROR passes, any other RCODE fails; no response within connect_timeout
// fails, as does ICMP port unreachable.

#include "check_op.h"

#include <boost/asio/steady_timer.hpp>
#include <fmt/format.h>

#include <array>
#include <random>

#include <strings.h>

namespace xlb::health::detail {
namespace {

using boost::asio::ip::udp;

struct type_name {
    const char* name;
    uint16_t code;
};

// keepalived's dns_type list.
constexpr type_name types[] = {{"A", 1},   {"NS", 2},  {"CNAME", 5}, {"SOA", 6},
                               {"MX", 15}, {"TXT", 16}, {"AAAA", 28}};

std::optional<uint16_t> type_code(const std::string& name) {
    for (const auto& t : types) {
        if (strcasecmp(t.name, name.c_str()) == 0) {
            return t.code;
        }
    }
    return std::nullopt;
}

// The query: a 12-byte header and one question.
result<std::string> build_query(uint16_t id, const std::string& name, uint16_t type) {
    std::string q;
    q.reserve(12 + name.size() + 6);
    auto put16 = [&q](uint16_t v) {
        q.push_back(static_cast<char>(v >> 8));
        q.push_back(static_cast<char>(v & 0xff));
    };
    put16(id);
    put16(0x0100); // RD
    put16(1);      // QDCOUNT
    put16(0);
    put16(0);
    put16(0);
    std::string_view rest(name);
    while (!rest.empty() && rest != ".") {
        size_t dot = rest.find('.');
        auto label = rest.substr(0, dot);
        if (label.empty() || label.size() > 63) {
            return error(EINVAL, fmt::format("bad dns_name '{}'", name));
        }
        q.push_back(static_cast<char>(label.size()));
        q.append(label);
        rest = dot == std::string_view::npos ? std::string_view{} : rest.substr(dot + 1);
    }
    q.push_back('\0');
    put16(type);
    put16(1); // IN
    return q;
}

class dns_op : public std::enable_shared_from_this<dns_op> {
public:
    dns_op(asio::io_context& io, spec_ptr spec, done_fn done)
        : _sock(io), _timer(io), _spec(std::move(spec)), _done(std::move(done)) {}

    void start() {
        auto type = type_code(_spec->dns_type);
        if (!type) {
            return fail_soon(fmt::format("unknown dns_type {}", _spec->dns_type));
        }
        static thread_local std::minstd_rand rng{std::random_device{}()};
        _id = static_cast<uint16_t>(rng());
        auto query = build_query(_id, _spec->dns_name, *type);
        if (!query) {
            return fail_soon(query.error().message());
        }
        auto to = target<udp>(*_spec);
        if (auto r = open_bound(_sock, to, *_spec); !r) {
            return fail_soon(r.error().message());
        }
        boost::system::error_code ec;
        _sock.connect(to, ec);
        if (!ec) {
            _sock.send(asio::buffer(*query), 0, ec);
        }
        if (ec) {
            return fail_soon("send: " + ec.message());
        }
        _timer.expires_after(_spec->connect_timeout);
        _timer.async_wait([self = shared_from_this()](boost::system::error_code e) {
            if (!e) {
                self->_timed_out = true;
                boost::system::error_code ignored;
                self->_sock.close(ignored);
            }
        });
        receive();
    }

private:
    void receive() {
        _sock.async_receive(asio::buffer(_buf), [self = shared_from_this()](boost::system::error_code e, size_t n) {
            self->on_reply(e, n);
        });
    }

    void on_reply(boost::system::error_code ec, size_t n) {
        if (_timed_out) {
            return finish(false, "no DNS response within " + format_ms(_spec->connect_timeout));
        }
        if (ec) {
            return finish(false, "receive: " + ec.message());
        }
        auto b = [this](size_t i) { return static_cast<uint8_t>(_buf[i]); };
        if (n < 12 || ((b(0) << 8) | b(1)) != _id || (b(2) & 0x80) == 0) {
            receive();
            return;
        }
        unsigned rcode = b(3) & 0x0f;
        if (rcode != 0) {
            return finish(false, fmt::format("DNS rcode {}", rcode));
        }
        finish(true, "DNS NOERROR");
    }

    void finish(bool ok, std::string detail) {
        _timer.cancel();
        boost::system::error_code ignored;
        _sock.close(ignored);
        _done.finish(ok, std::move(detail));
    }

    void fail_soon(std::string why) { _done.fail_later(_sock.get_executor(), shared_from_this(), std::move(why)); }

    udp::socket _sock;
    asio::steady_timer _timer;
    spec_ptr _spec;
    completion _done;
    uint16_t _id = 0;
    bool _timed_out = false;
    std::array<char, 512> _buf{};
};

} // namespace

void run_dns(asio::io_context& io, spec_ptr spec, done_fn done) {
    std::make_shared<dns_op>(io, std::move(spec), std::move(done))->start();
}

} // namespace xlb::health::detail
