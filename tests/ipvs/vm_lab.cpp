#include "ipvs/vm_lab.h"

#include "support/cmd.h"
#include "support/netns.h"

#include <fmt/format.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <cstdio>
#include <future>
#include <map>
#include <sstream>
#include <stdexcept>

namespace xlb::test::vm_lab {

std::string rip(int i) { return fmt::format("10.1.{}.2", i); }
std::string server_name(int i) { return fmt::format("b{}", i); }

namespace {

void join_netns(const std::string& ns) {
    int fd = ::open(("/var/run/netns/" + ns).c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0 || setns(fd, CLONE_NEWNET) != 0) {
        if (fd >= 0) {
            ::close(fd);
        }
        throw std::runtime_error("cannot enter netns " + ns);
    }
    ::close(fd);
}

sockaddr_in v4(const std::string& addr, uint16_t port) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    if (inet_pton(AF_INET, addr.c_str(), &a.sin_addr) != 1) {
        throw std::runtime_error("not an IPv4 address: " + addr);
    }
    return a;
}

void close_rst(int fd) {
    linger l{1, 0};
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
    ::close(fd);
}

std::string read_line(int fd) {
    char buf[64];
    ssize_t n = ::read(fd, buf, sizeof(buf));
    if (n <= 0) {
        return {};
    }
    std::string s(buf, static_cast<size_t>(n));
    return s.substr(0, s.find('\n'));
}

// A connected socket from f to VIP:80 (3 s timeouts), or -1.
int dial(const flow& f, uint32_t mark) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return -1;
    }
    int on = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
    timeval tv{3, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    if (mark != 0 && setsockopt(fd, SOL_SOCKET, SO_MARK, &mark, sizeof(mark)) != 0) {
        ::close(fd);
        return -1;
    }
    auto src = v4(f.src, f.sport);
    auto dst = v4(vip, 80);
    if (::bind(fd, reinterpret_cast<sockaddr*>(&src), sizeof(src)) != 0 ||
        ::connect(fd, reinterpret_cast<sockaddr*>(&dst), sizeof(dst)) != 0) {
        close_rst(fd);
        return -1;
    }
    return fd;
}

} // namespace

held::~held() {
    if (_fd >= 0) {
        close_rst(_fd);
    }
}

std::string held::ask() const {
    if (_fd < 0 || ::write(_fd, "which\n", 6) != 6) {
        return {};
    }
    return read_line(_fd);
}

// A server thread in its namespace: accepts on port 80, greets with its name
// and answers every read with it. A pipe wakes it to stop.
struct lab::server {
    std::string name;
    int stop_pipe[2] = {-1, -1};
    std::thread thread;

    server(const std::string& ns, std::string n) : name(std::move(n)) {
        if (::pipe2(stop_pipe, O_CLOEXEC) != 0) {
            throw std::runtime_error("pipe2");
        }
        std::promise<std::string> ready;
        auto started = ready.get_future();
        thread = std::thread([this, ns, &ready] { run(ns, ready); });
        if (auto err = started.get(); !err.empty()) {
            thread.join();
            throw std::runtime_error(err);
        }
    }
    ~server() {
        if (::write(stop_pipe[1], "x", 1) != 1) {
            std::perror("server stop");
        }
        thread.join();
        ::close(stop_pipe[0]);
        ::close(stop_pipe[1]);
    }

    void run(const std::string& ns, std::promise<std::string>& ready) {
        int ls = -1;
        try {
            join_netns(ns);
            ls = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
            int on = 1;
            setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
            auto a = v4("0.0.0.0", 80);
            if (::bind(ls, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0 || ::listen(ls, 1024) != 0) {
                throw std::runtime_error(fmt::format("{}: listen on port 80: {}", name, std::strerror(errno)));
            }
        } catch (const std::exception& e) {
            if (ls >= 0) {
                ::close(ls);
            }
            ready.set_value(e.what());
            return;
        }
        ready.set_value({});
        const std::string greeting = name + "\n";
        std::vector<pollfd> fds{{stop_pipe[0], POLLIN, 0}, {ls, POLLIN, 0}};
        for (;;) {
            if (::poll(fds.data(), fds.size(), -1) < 0) {
                if (errno == EINTR) {
                    continue;
                }
                break;
            }
            if (fds[0].revents) {
                break;
            }
            if (fds[1].revents & POLLIN) {
                int c = ::accept4(ls, nullptr, nullptr, SOCK_CLOEXEC);
                if (c >= 0) {
                    if (::write(c, greeting.data(), greeting.size()) < 0) {
                        ::close(c);
                    } else {
                        fds.push_back({c, POLLIN, 0});
                    }
                }
            }
            for (size_t k = 2; k < fds.size();) {
                if (fds[k].revents) {
                    char buf[256];
                    ssize_t n = ::read(fds[k].fd, buf, sizeof(buf));
                    if (n <= 0 || ::write(fds[k].fd, greeting.data(), greeting.size()) < 0) {
                        ::close(fds[k].fd);
                        fds.erase(fds.begin() + static_cast<long>(k));
                        continue;
                    }
                    fds[k].revents = 0;
                }
                ++k;
            }
        }
        for (size_t k = 1; k < fds.size(); ++k) {
            ::close(fds[k].fd);
        }
    }
};

std::string lab::srv(int i) const { return fmt::format("{}-b{}", _prefix, i); }

lab::lab(const std::string& prefix, int servers) : _prefix(prefix), _n(servers) {
    try {
        build();
        start_servers();
    } catch (...) {
        teardown();
        throw;
    }
}

lab::~lab() { teardown(); }

void lab::teardown() noexcept {
    _servers.clear();
    for (auto it = _made.rbegin(); it != _made.rend(); ++it) {
        xlb::test::sh(fmt::format("ip netns del {}", *it));
    }
    _made.clear();
}

int lab::sh_in(const std::string& ns, const std::string& cmd) const {
    int rc = 128;
    in_netns(ns, [&] { rc = xlb::test::sh(cmd); });
    return rc;
}

int lab::xlbctl(const std::string& args, std::string* out) const {
    cmd_result r{128, "", ""};
    in_netns(dir(), [&] { r = run_cmd(fmt::format("{} {}", xlbctl_bin(), args)); });
    if (out) {
        *out = r.out;
    }
    if (r.code != 0) {
        std::fprintf(stderr, "xlbctl %s: exit %d\n%s%s", args.c_str(), r.code, r.out.c_str(), r.err.c_str());
    }
    return r.code;
}

stats_line lab::stats(const std::string& args, const std::string& what, unsigned long long conns) const {
    stats_line s;
    for (int tries = 0; tries < 25; ++tries) {
        std::string out;
        if (xlbctl(args + " -L -n --stats --exact", &out) != 0) {
            throw std::runtime_error("xlbctl " + args + " -L -n --stats --exact failed");
        }
        s = stats_of(out, what);
        if (s.conns >= conns) {
            break;
        }
        ::usleep(250000);
    }
    return s;
}

void lab::diagnose() const {
    std::vector<std::string> all{cli(), dir()};
    for (int i = 1; i <= _n; ++i) {
        all.push_back(srv(i));
    }
    for (const auto& ns : all) {
        std::fprintf(stderr, "---- %s\n", ns.c_str());
        std::fflush(stderr);
        sh_in(ns, "ip -s -d link show 1>&2; ip addr show 1>&2; ip route show table all 1>&2; "
                  "ip neigh show 1>&2; grep -E '^(Tcp|Ip):' /proc/net/snmp 1>&2; "
                  "grep -E '^TcpExt:' /proc/net/netstat 1>&2");
    }
}

void lab::build() {
    auto must = [](const std::string& cmd) {
        if (xlb::test::sh(cmd) != 0) {
            throw std::runtime_error("vm_lab: failed: " + cmd);
        }
    };
    std::vector<std::string> all{cli(), dir()};
    for (int i = 1; i <= _n; ++i) {
        all.push_back(srv(i));
    }
    for (const auto& ns : all) {
        xlb::test::sh(fmt::format("ip netns del {} 2>/dev/null", ns)); // a crashed run's leftovers
        must(fmt::format("ip netns add {}", ns));
        _made.push_back(ns);
    }
    // One `ip -batch` per namespace: each process costs time under TCG.
    std::map<std::string, std::ostringstream> batch;
    // A sysctl of namespace ns: /proc/sys/net answers for the opener's namespace.
    auto sysctl = [&](const std::string& ns, const std::string& kv) {
        auto eq = kv.find('=');
        auto path = "/proc/sys/" + kv.substr(0, eq);
        std::replace(path.begin(), path.end(), '.', '/');
        bool ok = false;
        in_netns(ns, [&] {
            if (FILE* f = std::fopen(path.c_str(), "w")) {
                ok = std::fputs(kv.substr(eq + 1).c_str(), f) >= 0;
                ok = std::fclose(f) == 0 && ok;
            }
        });
        if (!ok) {
            throw std::runtime_error("vm_lab: cannot set " + kv + " in " + ns);
        }
    };
    for (const auto& ns : all) {
        batch[ns] << "link set dev lo up\n";
        sysctl(ns, "net.ipv4.conf.all.rp_filter=0");
        sysctl(ns, "net.ipv4.conf.default.rp_filter=0");
    }
    // Both ends are created inside namespaces; the root namespace holds none.
    must(fmt::format("ip -n {} link add dc type veth peer name cd netns {}", dir(), cli()));
    batch[dir()] << "addr add 10.0.0.1/24 dev dc\nlink set dev dc up\n"
                 << fmt::format("addr add {}/32 dev lo\n", vip) << "route add 10.9.0.0/16 via 10.0.0.2\n";
    batch[cli()] << "addr add 10.0.0.2/24 dev cd\nlink set dev cd up\n"
                 << "route add default via 10.0.0.1\nroute add local 10.9.0.0/16 dev lo\n";
    sysctl(dir(), "net.ipv4.ip_forward=1");
    for (int i = 1; i <= _n; ++i) {
        const auto s = srv(i);
        must(fmt::format("ip -n {} link add d{} type veth peer name sd netns {}", dir(), i, s));
        must(fmt::format("ip -n {} link add c{} type veth peer name sc netns {}", cli(), i, s));
        // Fixed MACs: the director's permanent neighbour entries need no ARP.
        batch[s] << fmt::format("link set dev sd address 02:00:00:00:0{}:01\n", i)
                 << fmt::format("addr add {}/24 dev sd\nlink set dev sd up\n", rip(i))
                 << fmt::format("addr add 10.8.{}.2/24 dev sc\nlink set dev sc up\n", i)
                 << fmt::format("route add default via 10.1.{}.1\n", i)
                 << fmt::format("addr add {}/32 dev lo\n", vip)
                 << fmt::format("rule add from {} lookup 100\n", vip)
                 << fmt::format("route add 10.9.0.0/16 via 10.8.{}.1 dev sc table 100\n", i);
        batch[dir()] << fmt::format("addr add 10.1.{}.1/24 dev d{}\nlink set dev d{} up\n", i, i, i)
                     << fmt::format("neigh replace {} lladdr 02:00:00:00:0{}:01 dev d{} nud permanent\n", rip(i), i, i);
        batch[cli()] << fmt::format("addr add 10.8.{}.1/24 dev c{}\nlink set dev c{} up\n", i, i, i);
        for (const auto& kv : {"net.ipv4.conf.all.arp_ignore=1", "net.ipv4.conf.all.arp_announce=2"}) {
            sysctl(s, kv);
        }
    }
    for (auto& [ns, b] : batch) {
        auto file = fmt::format("/tmp/vm-lab-{}.batch", ns);
        if (FILE* f = std::fopen(file.c_str(), "w")) {
            std::fputs(b.str().c_str(), f);
            std::fclose(f);
        }
        int rc = xlb::test::sh(fmt::format("ip -n {} -batch {}", ns, file));
        ::unlink(file.c_str());
        if (rc != 0) {
            throw std::runtime_error("vm_lab: ip -batch failed in " + ns);
        }
    }
}

void lab::stop_server(int i) { _servers.at(static_cast<size_t>(i - 1)).reset(); }

void lab::start_server(int i) {
    auto& s = _servers.at(static_cast<size_t>(i - 1));
    if (!s) {
        s = std::make_unique<server>(srv(i), server_name(i));
    }
}

void lab::start_servers() {
    for (int i = 1; i <= _n; ++i) {
        _servers.push_back(std::make_unique<server>(srv(i), server_name(i)));
    }
}

std::vector<std::string> lab::connect(const std::string& ns, const std::vector<flow>& flows, uint32_t mark,
                                      int give_up) const {
    std::vector<std::string> names(flows.size());
    in_netns(ns, [&] {
        int failed = 0;
        for (size_t k = 0; k < flows.size() && failed < give_up; ++k) {
            int fd = dial(flows[k], mark);
            if (fd >= 0) {
                names[k] = read_line(fd);
                close_rst(fd);
            }
            if (names[k].empty()) {
                ++failed;
            }
        }
    });
    return names;
}

std::unique_ptr<held> lab::hold(const flow& f, std::string* server) const {
    int fd = -1;
    in_netns(cli(), [&] { fd = dial(f, 0); });
    auto h = std::make_unique<held>(fd);
    *server = fd >= 0 ? read_line(fd) : std::string();
    return h;
}

std::string leftovers(const std::string& prefix) {
    std::string left;
    std::istringstream in(xlb::test::sh_out("ip netns list"));
    for (std::string name, rest; in >> name && std::getline(in, rest);) {
        if (name.rfind(prefix + "-", 0) == 0) {
            left += name + " ";
        }
    }
    return left;
}

stats_line stats_of(const std::string& listing, const std::string& what) {
    std::istringstream in(listing);
    for (std::string line; std::getline(in, line);) {
        std::istringstream w(line);
        std::string first, second;
        stats_line s;
        if (w >> first >> second && second == what && w >> s.conns >> s.inpkts >> s.outpkts) {
            return s;
        }
    }
    throw std::runtime_error("no stats line for " + what + " in:\n" + listing);
}

} // namespace xlb::test::vm_lab
