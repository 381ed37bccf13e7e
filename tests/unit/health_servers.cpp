#include "health_servers.h"

#include <fmt/format.h>

#include <poll.h>
#include <sys/time.h>

#include <cstring>
#include <stdexcept>

namespace xlb::test {

file_desc bind_loopback(int type, bool v6, uint16_t port) {
    file_desc fd(::socket(v6 ? AF_INET6 : AF_INET, type | SOCK_CLOEXEC, 0));
    if (!fd) {
        throw std::runtime_error("socket");
    }
    int one = 1;
    ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    int rc = 0;
    if (v6) {
        sockaddr_in6 a{};
        a.sin6_family = AF_INET6;
        a.sin6_addr = in6addr_loopback;
        a.sin6_port = htons(port);
        rc = ::bind(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof(a));
    } else {
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        a.sin_port = htons(port);
        rc = ::bind(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof(a));
    }
    if (rc != 0) {
        throw std::runtime_error(fmt::format("bind: {}", std::strerror(errno)));
    }
    return fd;
}

uint16_t local_port(int fd) {
    sockaddr_storage ss{};
    socklen_t len = sizeof(ss);
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len);
    if (ss.ss_family == AF_INET6) {
        return ntohs(reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port);
    }
    return ntohs(reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
}

uint16_t closed_port(int type, bool v6) {
    auto fd = bind_loopback(type, v6);
    return local_port(fd.get());
}

tcp_server::tcp_server(handler h, bool v6, bool accept, uint16_t port)
    : _fd(bind_loopback(SOCK_STREAM, v6, port)), _handler(std::move(h)) {
    ::listen(_fd.get(), 128);
    _port = local_port(_fd.get());
    if (!accept) {
        return;
    }
    _thread = std::thread([this] {
        while (!_stop) {
            pollfd p{_fd.get(), POLLIN, 0};
            if (::poll(&p, 1, 50) <= 0) {
                continue;
            }
            file_desc c(::accept4(_fd.get(), nullptr, nullptr, SOCK_CLOEXEC));
            if (!c) {
                continue;
            }
            ++_accepted;
            if (_handler) {
                _handler(c.get());
            }
        }
    });
}

tcp_server::~tcp_server() {
    _stop = true;
    if (_thread.joinable()) {
        _thread.join();
    }
}

std::string read_head(int fd) {
    timeval tv{2, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    std::string head;
    char buf[1024];
    while (head.find("\r\n\r\n") == std::string::npos && head.size() < 16384) {
        ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
        if (n <= 0) {
            break;
        }
        head.append(buf, static_cast<size_t>(n));
    }
    return head;
}

std::string http_reply(unsigned status, const std::string& body, bool content_length) {
    std::string out = fmt::format("HTTP/1.0 {} Whatever\r\nContent-Type: text/plain\r\n", status);
    if (content_length) {
        out += fmt::format("Content-Length: {}\r\n", body.size());
    }
    return out + "\r\n" + body;
}

http_server::http_server(bool v6) : _server([this](int fd) { serve(fd); }, v6) {}

void http_server::set(const std::string& path, response r) {
    std::lock_guard lock(_mutex);
    _responses[path] = std::move(r);
}

std::string http_server::last_request() const {
    std::lock_guard lock(_mutex);
    return _last;
}

void http_server::serve(int fd) {
    std::string head = read_head(fd);
    response r{404, "not found", true};
    {
        std::lock_guard lock(_mutex);
        _last = head;
        // "GET <path> HTTP/1.x"
        size_t a = head.find(' ');
        size_t b = a == std::string::npos ? a : head.find(' ', a + 1);
        if (b != std::string::npos) {
            auto it = _responses.find(head.substr(a + 1, b - a - 1));
            if (it != _responses.end()) {
                r = it->second;
            }
        }
    }
    std::string out = http_reply(r.status, r.body, r.content_length);
    ::send(fd, out.data(), out.size(), MSG_NOSIGNAL);
}

udp_server::udp_server(reply_fn f) : _fd(bind_loopback(SOCK_DGRAM, false)), _reply(std::move(f)) {
    _port = local_port(_fd.get());
    _thread = std::thread([this] {
        char buf[2048];
        while (!_stop) {
            pollfd p{_fd.get(), POLLIN, 0};
            if (::poll(&p, 1, 50) <= 0) {
                continue;
            }
            sockaddr_storage from{};
            socklen_t len = sizeof(from);
            ssize_t n = ::recvfrom(_fd.get(), buf, sizeof(buf), 0, reinterpret_cast<sockaddr*>(&from), &len);
            if (n < 0) {
                continue;
            }
            std::string req(buf, static_cast<size_t>(n));
            {
                std::lock_guard lock(_mutex);
                _last = req;
            }
            if (auto out = _reply(req)) {
                ::sendto(_fd.get(), out->data(), out->size(), 0, reinterpret_cast<sockaddr*>(&from), len);
            }
        }
    });
}

udp_server::~udp_server() {
    _stop = true;
    _thread.join();
}

std::string udp_server::last_request() const {
    std::lock_guard lock(_mutex);
    return _last;
}

} // namespace xlb::test
