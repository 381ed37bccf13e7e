// xlb-lab: the lab's real servers and client, used by the demo and the
// integration tests inside network namespaces.
//
//   xlb-lab serve NAME PORT
//       Listens on [::]:PORT (IPv4 and IPv6). Every connection is greeted with
//       "NAME\n", and every later read is answered with "NAME\n" too, so a
//       long-lived connection can ask which server it is on.
//   xlb-lab connect ADDR PORT COUNT
//       Opens COUNT connections one after another, reads each greeting, and
//       prints "NAME COUNT" per server, then "failed N". Exit 1 if any failed.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>
#include <thread>

namespace {

int usage() {
    std::fprintf(stderr, "usage: xlb-lab serve NAME PORT | xlb-lab connect ADDR PORT COUNT\n");
    return 2;
}

bool parse_port(const char* s, uint16_t& out) {
    char* end = nullptr;
    long v = std::strtol(s, &end, 10);
    if (!*s || *end || v < 1 || v > 65535) {
        return false;
    }
    out = static_cast<uint16_t>(v);
    return true;
}

void handle(int fd, std::string greeting) {
    if (write(fd, greeting.data(), greeting.size()) < 0) {
        close(fd);
        return;
    }
    char buf[512];
    for (;;) {
        ssize_t n = read(fd, buf, sizeof(buf));
        if (n <= 0) {
            break;
        }
        if (write(fd, greeting.data(), greeting.size()) < 0) {
            break;
        }
    }
    close(fd);
}

int serve(const std::string& name, uint16_t port) {
    int s = socket(AF_INET6, SOCK_STREAM, 0);
    int on = 1, off = 0;
    setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
    setsockopt(s, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof(off));
    sockaddr_in6 a{};
    a.sin6_family = AF_INET6;
    a.sin6_port = htons(port);
    a.sin6_addr = in6addr_any;
    if (bind(s, reinterpret_cast<sockaddr*>(&a), sizeof(a)) < 0 || listen(s, 1024) < 0) {
        std::fprintf(stderr, "xlb-lab: bind/listen on port %u: %s\n", port, std::strerror(errno));
        return 1;
    }
    std::string greeting = name + "\n";
    for (;;) {
        int c = accept(s, nullptr, nullptr);
        if (c < 0) {
            if (errno == EINTR) {
                continue;
            }
            return 1;
        }
        std::thread(handle, c, greeting).detach();
    }
}

// Connects with a timeout and reads one greeting line; empty on failure.
std::string one(const sockaddr_storage& dst, socklen_t len) {
    int fd = socket(dst.ss_family, SOCK_STREAM, 0);
    if (fd < 0) {
        return {};
    }
    timeval tv{3, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    std::string line;
    if (connect(fd, reinterpret_cast<const sockaddr*>(&dst), len) == 0) {
        char buf[128];
        ssize_t n = read(fd, buf, sizeof(buf));
        if (n > 0) {
            line.assign(buf, static_cast<size_t>(n));
            if (auto nl = line.find('\n'); nl != std::string::npos) {
                line.resize(nl);
            }
        }
    }
    close(fd);
    return line;
}

int connect_many(const char* addr, uint16_t port, long count) {
    sockaddr_storage dst{};
    socklen_t len;
    auto* v4 = reinterpret_cast<sockaddr_in*>(&dst);
    auto* v6 = reinterpret_cast<sockaddr_in6*>(&dst);
    if (inet_pton(AF_INET, addr, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons(port);
        len = sizeof(*v4);
    } else if (inet_pton(AF_INET6, addr, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons(port);
        len = sizeof(*v6);
    } else {
        std::fprintf(stderr, "xlb-lab: not an IP address: %s\n", addr);
        return 2;
    }
    std::map<std::string, long> tally;
    long failed = 0;
    for (long i = 0; i < count; ++i) {
        auto name = one(dst, len);
        if (name.empty()) {
            ++failed;
        } else {
            ++tally[name];
        }
    }
    for (const auto& [name, n] : tally) {
        std::printf("%s %ld\n", name.c_str(), n);
    }
    std::printf("failed %ld\n", failed);
    return failed ? 1 : 0;
}

} // namespace

int main(int argc, char** argv) {
    if (argc == 4 && std::strcmp(argv[1], "serve") == 0) {
        uint16_t port;
        if (!parse_port(argv[3], port)) {
            return usage();
        }
        return serve(argv[2], port);
    }
    if (argc == 5 && std::strcmp(argv[1], "connect") == 0) {
        uint16_t port;
        char* end = nullptr;
        long count = std::strtol(argv[4], &end, 10);
        if (!parse_port(argv[3], port) || *end || count < 1) {
            return usage();
        }
        return connect_many(argv[2], port, count);
    }
    return usage();
}
