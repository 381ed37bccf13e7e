#pragma once
// Real servers on loopback for the health checker tests: TCP (HTTP and
// silent), TLS, UDP echo / silent and a tiny DNS responder. Each runs in its
// own thread with blocking sockets and stops in its destructor.

#include <xlb/util/fd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

namespace xlb::test {

// A bound socket on 127.0.0.1 or ::1, port chosen by the kernel (or given).
file_desc bind_loopback(int type, bool v6, uint16_t port = 0);
uint16_t local_port(int fd);
// A port with nothing on it (bound, then closed): TCP connects are refused,
// UDP sends get ICMP port unreachable.
uint16_t closed_port(int type, bool v6 = false);

// Accepts connections one at a time and hands each to `handler`.
class tcp_server {
public:
    using handler = std::function<void(int fd)>;
    // accept = false: listen only, never accept (a server that never answers).
    explicit tcp_server(handler h, bool v6 = false, bool accept = true, uint16_t port = 0);
    ~tcp_server();
    tcp_server(const tcp_server&) = delete;
    tcp_server& operator=(const tcp_server&) = delete;

    [[nodiscard]] uint16_t port() const noexcept { return _port; }
    [[nodiscard]] int accepted() const noexcept { return _accepted.load(); }

private:
    file_desc _fd;
    uint16_t _port = 0;
    handler _handler;
    std::atomic<bool> _stop{false};
    std::atomic<int> _accepted{0};
    std::thread _thread;
};

// An HTTP/1.x server answering by path; unknown paths get 404.
class http_server {
public:
    struct response {
        unsigned status = 200;
        std::string body;
        bool content_length = true; // else the body ends with the connection
    };
    explicit http_server(bool v6 = false);

    void set(const std::string& path, response r);
    [[nodiscard]] uint16_t port() const noexcept { return _server.port(); }
    // The last request received, headers included.
    [[nodiscard]] std::string last_request() const;

private:
    void serve(int fd);

    mutable std::mutex _mutex;
    std::map<std::string, response> _responses;
    std::string _last;
    tcp_server _server;
};

// Reads a request head (up to the blank line) with a receive timeout.
std::string read_head(int fd);
std::string http_reply(unsigned status, const std::string& body, bool content_length);

// UDP on 127.0.0.1: replies with `reply(request)`, or stays silent when it
// returns nullopt.
class udp_server {
public:
    using reply_fn = std::function<std::optional<std::string>(const std::string&)>;
    explicit udp_server(reply_fn f);
    ~udp_server();
    udp_server(const udp_server&) = delete;
    udp_server& operator=(const udp_server&) = delete;

    [[nodiscard]] uint16_t port() const noexcept { return _port; }
    [[nodiscard]] std::string last_request() const;

private:
    file_desc _fd;
    uint16_t _port = 0;
    reply_fn _reply;
    mutable std::mutex _mutex;
    std::string _last;
    std::atomic<bool> _stop{false};
    std::thread _thread;
};

} // namespace xlb::test
