#pragma once
// A blocking HTTP/1.1 client for tests: send bytes over loopback TCP and
// read the answer to the end (the server closes after each answer).

#include <xlb/model/address.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>

#include <map>
#include <string>

namespace xlb::test {

struct http_reply {
    int status = 0;
    std::map<std::string, std::string> headers; // names in lower case
    std::string body;
    std::string error; // a transport error, if any
};

inline http_reply parse_http_reply(const std::string& raw) {
    http_reply r;
    auto head_end = raw.find("\r\n\r\n");
    if (head_end == std::string::npos || raw.rfind("HTTP/1.1 ", 0) != 0) {
        r.error = "no HTTP answer: " + raw.substr(0, 200);
        return r;
    }
    r.status = std::stoi(raw.substr(9, 3));
    size_t pos = raw.find("\r\n") + 2;
    while (pos < head_end) {
        auto eol = raw.find("\r\n", pos);
        auto line = raw.substr(pos, eol - pos);
        auto colon = line.find(':');
        std::string name = line.substr(0, colon);
        for (auto& c : name) {
            c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        }
        auto value = line.substr(colon + 1);
        while (!value.empty() && value.front() == ' ') {
            value.erase(0, 1);
        }
        r.headers[name] = value;
        pos = eol + 2;
    }
    r.body = raw.substr(head_end + 4);
    return r;
}

inline boost::asio::ip::tcp::endpoint to_asio(const endpoint& e) {
    return {boost::asio::ip::make_address(e.addr.to_string()), e.port};
}

// Sends `request` as is and reads until the server closes.
inline http_reply http_exchange(const endpoint& server, const std::string& request) {
    boost::asio::io_context io;
    boost::asio::ip::tcp::socket sock(io);
    boost::system::error_code ec;
    sock.connect(to_asio(server), ec);
    if (ec) {
        return {0, {}, {}, "connect: " + ec.message()};
    }
    boost::asio::write(sock, boost::asio::buffer(request), ec);
    if (ec) {
        return {0, {}, {}, "write: " + ec.message()};
    }
    std::string raw;
    boost::asio::read(sock, boost::asio::dynamic_buffer(raw), ec);
    if (ec && ec != boost::asio::error::eof) {
        return {0, {}, {}, "read: " + ec.message()};
    }
    return parse_http_reply(raw);
}

inline http_reply http_get(const endpoint& server, const std::string& path) {
    return http_exchange(server, "GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: xlb-test\r\n\r\n");
}

} // namespace xlb::test
