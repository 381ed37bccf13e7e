#pragma once
// The namespace lab (scripts/lab) as a gtest fixture: it brings the lab up
// in DR or NAT mode, loads xlb on the director, and offers xlbctl, a
// many-connection client, and connections held open from the client.

#include "support/netns.h"
#include "support/priv.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

namespace xlb::test {

// A TCP connection from the client namespace that stays open.
struct held_connection {
    int fd = -1;
    held_connection() = default;
    held_connection(const held_connection&) = delete;
    held_connection& operator=(const held_connection&) = delete;
    ~held_connection() {
        if (fd >= 0) {
            ::close(fd);
        }
    }
    // The server's greeting or answer: its name; empty on failure.
    std::string read_line() const {
        char buf[64];
        ssize_t n = ::read(fd, buf, sizeof(buf));
        if (n <= 0) {
            return {};
        }
        std::string s(buf, static_cast<size_t>(n));
        return s.substr(0, s.find('\n'));
    }
    std::string ask() const {
        if (::write(fd, "which\n", 6) != 6) {
            return {};
        }
        return read_line();
    }
};

class lab_fixture : public ::testing::Test {
protected:
    explicit lab_fixture(std::string mode = "dr") : _mode(std::move(mode)) {}

    void SetUp() override {
        XLB_REQUIRE_PRIVILEGE();
        _prefix = fmt::format("x{}{}", _mode[0], getpid() % 100000);
        _pin = fmt::format("/sys/fs/bpf/xlb/it-{}-{}", _mode, getpid());
        ASSERT_EQ(sh(fmt::format("XLB_BUILD={} {}/scripts/lab up {} {}", XLB_BINARY_DIR, XLB_SOURCE_DIR, _prefix,
                                 _mode)),
                  0);
        _up = true;
        ASSERT_EQ(xlbctl("load --max-flows 65536"), 0);
        ASSERT_EQ(xlbctl("attach eth0"), 0);
        if (_mode == "nat") {
            ASSERT_EQ(xlbctl("attach eth1"), 0);
        }
    }

    void TearDown() override {
        _held.clear();
        if (_up) {
            xlbctl("unload");
            sh(fmt::format("{}/scripts/lab down {}", XLB_SOURCE_DIR, _prefix));
        }
    }

    std::string bin() const { return std::string(XLB_BINARY_DIR) + "/bin"; }

    // xlbctl in the director's network namespace. nsenter, not `ip netns
    // exec`: the latter remounts /sys and would hide the pinned maps.
    std::string xlbctl_cmd(const std::string& args) const {
        return fmt::format("nsenter --net=/run/netns/{}-dir {}/xlbctl --pin-dir {} {}", _prefix, bin(), _pin, args);
    }
    int xlbctl(const std::string& args) { return sh(xlbctl_cmd(args)); }
    std::string xlbctl_out(const std::string& args) { return sh_out(xlbctl_cmd(args)); }

    // Opens n connections one after another; server name -> count, "failed" too.
    std::map<std::string, int> connect(const std::string& vip, int n) {
        auto out = sh_out(
            fmt::format("ip netns exec {}-cli {}/xlb-lab connect {} 80 {} || true", _prefix, bin(), vip, n));
        std::map<std::string, int> tally;
        std::istringstream in(out);
        std::string name;
        int count;
        while (in >> name >> count) {
            tally[name] = count;
        }
        return tally;
    }

    // Opens a connection from the client that stays open until the test ends;
    // returns the server that answered.
    std::string hold(const std::string& vip) {
        auto c = std::make_unique<held_connection>();
        in_netns(_prefix + "-cli", [&] {
            c->fd = ::socket(AF_INET, SOCK_STREAM, 0);
            timeval tv{3, 0};
            setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
            sockaddr_in a{};
            a.sin_family = AF_INET;
            a.sin_port = htons(80);
            inet_pton(AF_INET, vip.c_str(), &a.sin_addr);
            if (::connect(c->fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) {
                ::close(c->fd);
                c->fd = -1;
            }
        });
        std::string name = c->fd >= 0 ? c->read_line() : "";
        _held.push_back(std::move(c));
        return name;
    }
    const held_connection& last_held() const { return *_held.back(); }

    // Server address in the lab: DR servers on 10.77.0.0/24, NAT on 10.78.0.0/24.
    std::string server_ip(const std::string& b) const {
        return fmt::format("10.{}.0.1{}", _mode == "nat" ? 78 : 77, b.back());
    }

    std::string _mode, _prefix, _pin;
    bool _up = false;
    std::vector<std::unique_ptr<held_connection>> _held;
};

} // namespace xlb::test
