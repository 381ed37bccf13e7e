#pragma once
// An http_server on 127.0.0.1:0 (or where asked) run by a thread of its
// own, serving a memory_dataplane's table and the sample view
// (status_fixture.h); stopped on that thread when the object goes.

#include "support/status_fixture.h"

#include <xlb/daemon/http_server.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <gtest/gtest.h>

#include <future>
#include <memory>
#include <thread>

namespace xlb::test {

inline std::shared_ptr<memory_dataplane> sample_dataplane() {
    auto dp = std::make_shared<memory_dataplane>();
    fill_dataplane(*dp);
    return dp;
}

// xlbd's provider: the view, the table and the verdicts, at each request.
inline daemon::page_provider provider_for(std::shared_ptr<memory_dataplane> dp) {
    return [dp]() { return daemon::read_page_data(*dp, make_view()); };
}

// A server on 127.0.0.1:0 run by a thread of its own, stopped on that thread.
class running_server {
public:
    explicit running_server(daemon::page_provider p, daemon::http_options o = {}) {
        o.listen = o.listen == daemon::http_options{}.listen ? "127.0.0.1:0" : o.listen;
        auto s = daemon::http_server::start(_io, o, std::move(p));
        if (!s) {
            ADD_FAILURE() << s.error().message();
            return;
        }
        _server = std::move(*s);
        _where = _server->local_endpoint();
        _thread = std::thread([this] { _io.run(); });
    }
    ~running_server() {
        if (!_server) {
            return;
        }
        boost::asio::post(_io, [this] { _server.reset(); });
        _thread.join();
    }
    [[nodiscard]] const endpoint& where() const { return _where; }
    // The server's count of open connections, read on its own thread.
    size_t connections() {
        std::promise<size_t> p;
        boost::asio::post(_io, [&] { p.set_value(_server->connections()); });
        return p.get_future().get();
    }

private:
    boost::asio::io_context _io;
    std::unique_ptr<daemon::http_server> _server;
    endpoint _where;
    std::thread _thread;
};

} // namespace xlb::test
