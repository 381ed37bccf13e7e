// run_check(): one attempt of a checker, by kind.

#include "check_op.h"

#include <fmt/format.h>

namespace xlb::health {

namespace detail {

asio::ip::address to_asio(const ip_address& a) {
    const auto& b = a.bytes();
    if (a.is_v4()) {
        return asio::ip::address_v4(asio::ip::address_v4::bytes_type{b[0], b[1], b[2], b[3]});
    }
    asio::ip::address_v6::bytes_type v6{};
    std::copy(b.begin(), b.end(), v6.begin());
    return asio::ip::address_v6(v6);
}

std::string format_ms(std::chrono::milliseconds ms) {
    if (ms.count() % 1000 == 0) {
        return fmt::format("{} s", ms.count() / 1000);
    }
    return fmt::format("{} ms", ms.count());
}

} // namespace detail

void run_check(boost::asio::io_context& io, std::shared_ptr<const keepalived::checker_spec> spec,
               std::function<void(check_result)> done) {
    using keepalived::checker_kind;
    switch (spec->kind) {
    case checker_kind::tcp:
        detail::run_tcp(io, std::move(spec), std::move(done));
        return;
    case checker_kind::http:
    case checker_kind::ssl:
        detail::run_http(io, std::move(spec), std::move(done));
        return;
    case checker_kind::misc:
        detail::run_misc(io, std::move(spec), std::move(done));
        return;
    case checker_kind::udp:
        detail::run_udp(io, std::move(spec), std::move(done));
        return;
    case checker_kind::dns:
        detail::run_dns(io, std::move(spec), std::move(done));
        return;
    }
    boost::asio::post(io, [done = std::move(done)] {
        detail::completion(done).finish(false, "unknown checker kind");
    });
}

void run_check(boost::asio::io_context& io, const keepalived::checker_spec& spec,
               std::function<void(check_result)> done) {
    run_check(io, std::make_shared<const keepalived::checker_spec>(spec), std::move(done));
}

} // namespace xlb::health
