#pragma once
// xlbd's HTTP endpoint: GET /metrics (Prometheus text format 0.0.4) and
// GET / (the status page), on the caller's io_context (one thread).
//
// HTTP/1.1, one request per connection (each answer says Connection: close).
// A request head larger than max_request_bytes gets 431, a method other
// than GET 405, a path other than / and /metrics 404; a client that has not
// been answered within `timeout` is disconnected. Past max_connections a new
// connection gets 503. The provider is called once per request, so each
// answer shows the table as it is then; its error becomes a 500.

#include <xlb/daemon/view.h>
#include <xlb/dataplane/dataplane.h>
#include <xlb/dataplane/status.h>
#include <xlb/model/service.h>
#include <xlb/util/error.h>

#include <boost/asio/io_context.hpp>

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace xlb::daemon {

// What a page is rendered from.
struct page_data {
    view state;
    std::vector<service_state> table;                 // dataplane::list()
    std::optional<std::vector<reason_report>> verdicts; // dataplane::verdicts(), unset on EOPNOTSUPP
};
using page_provider = std::function<result<page_data>()>;

// page_data from a backend: its table, and its verdict counters if it has
// them (EOPNOTSUPP leaves them unset; another error is the result's).
result<page_data> read_page_data(const dataplane& dp, view state);

struct http_options {
    std::string listen = "127.0.0.1:9473"; // ADDR:PORT or [V6]:PORT; port 0 picks a free one
    size_t max_request_bytes = 8192;       // the request line and headers
    std::chrono::milliseconds timeout{10000};
    size_t max_connections = 64;
};

class http_server {
public:
    // Listens at once. EINVAL for a listen address that does not parse, the
    // bind or listen errno otherwise, each naming the address.
    static result<std::unique_ptr<http_server>> start(boost::asio::io_context& io, const http_options& opts,
                                                      page_provider provider);
    // Stops listening and drops every open connection.
    ~http_server();
    http_server(const http_server&) = delete;
    http_server& operator=(const http_server&) = delete;

    // Where it listens (the port chosen when 0 was asked for).
    [[nodiscard]] endpoint local_endpoint() const;
    // Connections open now.
    [[nodiscard]] size_t connections() const noexcept;

    struct state;

private:
    explicit http_server(std::shared_ptr<state> s);
    std::shared_ptr<state> _state;
};

} // namespace xlb::daemon
