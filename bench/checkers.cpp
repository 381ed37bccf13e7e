// xlb-bench-checkers: what xlbd's health monitor costs on one core.
//
// A farm of N TCP listeners on loopback (127.0.0.1..127.0.0.16, ports from
// 20000), served by an epoll thread, is checked by a monitor with N
// TCP_CHECKs at delay_loop 1 s for D seconds. Measured on the monitor's own
// thread: CPU time per second (CLOCK_THREAD_CPUTIME_ID) and lateness (actual
// start - scheduled start) at p50 / p99. The baseline is the same farm
// probed by a minimal asio connect-and-close loop with the same timers, so
// the monitor's overhead is also a ratio. An HTTP_GET row (N/5 checkers by
// default) follows.
//
//   xlb-bench-checkers [--n N] [--duration S] [--http-n N] [--quick] [--json FILE]

#include <xlb/health/monitor.h>
#include <xlb/util/fd.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <fmt/format.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <fstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;
using xlb::file_desc;

// Listeners on 127.0.0.1..16, ports from 20000 up: below the ephemeral
// range, which the checks' own connections need (a listener on port 0 would
// take one of those ports each). A port in use falls back to port 0.
constexpr int farm_addresses = 16;
constexpr uint16_t farm_base_port = 20000;

struct options {
    size_t n = 10000;
    size_t http_n = 0; // 0: n / 5
    int duration = 20;
    int settle = 3; // seconds before measuring: warmup spreads the first checks
    std::string json;
};

// Involuntary context switches of this thread: how often it was preempted.
long thread_preemptions() {
    rusage ru{};
    getrusage(RUSAGE_THREAD, &ru);
    return ru.ru_nivcsw;
}

double thread_cpu_seconds() {
    timespec ts{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

void raise_nofile() {
    rlimit rl{};
    getrlimit(RLIMIT_NOFILE, &rl);
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
}

// N listeners answered from one epoll thread: a connection that sends a
// request head gets a small HTTP 200; one that closes is closed.
class farm {
public:
    explicit farm(size_t n) : _ep(::epoll_create1(EPOLL_CLOEXEC)) {
        for (size_t i = 0; i < n; ++i) {
            file_desc fd(::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
            sockaddr_in a{};
            a.sin_family = AF_INET;
            a.sin_addr.s_addr = htonl(0x7f000001 + static_cast<uint32_t>(i % farm_addresses));
            a.sin_port = htons(static_cast<uint16_t>(farm_base_port + i / farm_addresses));
            socklen_t len = sizeof(a);
            if (fd && ::bind(fd.get(), reinterpret_cast<sockaddr*>(&a), len) != 0) {
                a.sin_port = 0;
                fd = file_desc(::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
                if (fd && ::bind(fd.get(), reinterpret_cast<sockaddr*>(&a), len) != 0) {
                    fd.reset();
                }
            }
            if (!fd || ::listen(fd.get(), 1024) != 0) {
                throw std::runtime_error(fmt::format("listener {}: {}", i, std::strerror(errno)));
            }
            ::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&a), &len);
            _targets.push_back({a.sin_addr.s_addr, ntohs(a.sin_port)});
            add(fd.get(), true);
            _listeners.push_back(std::move(fd));
        }
        _thread = std::thread([this] { run(); });
    }
    ~farm() {
        _stop = true;
        _thread.join();
    }

    struct target {
        uint32_t addr; // network order
        uint16_t port;
    };
    [[nodiscard]] const std::vector<target>& targets() const { return _targets; }

private:
    void add(int fd, bool listener) {
        epoll_event ev{};
        ev.events = EPOLLIN;
        ev.data.u64 = static_cast<uint64_t>(fd) | (listener ? 1ULL << 32 : 0);
        ::epoll_ctl(_ep.get(), EPOLL_CTL_ADD, fd, &ev);
    }

    void run() {
        static const std::string reply = "HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok";
        std::vector<epoll_event> evs(512);
        char buf[2048];
        while (!_stop) {
            int n = ::epoll_wait(_ep.get(), evs.data(), static_cast<int>(evs.size()), 50);
            for (int i = 0; i < n; ++i) {
                int fd = static_cast<int>(evs[i].data.u64 & 0xffffffff);
                if (evs[i].data.u64 >> 32) {
                    int c = 0;
                    while ((c = ::accept4(fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
                        add(c, false);
                    }
                    continue;
                }
                ssize_t got = ::recv(fd, buf, sizeof(buf), 0);
                if (got > 0) {
                    ::send(fd, reply.data(), reply.size(), MSG_NOSIGNAL);
                }
                if (got >= 0 || (errno != EAGAIN && errno != EINTR)) {
                    ::close(fd); // also leaves the epoll set
                }
            }
        }
    }

    file_desc _ep;
    std::vector<file_desc> _listeners;
    std::vector<target> _targets;
    std::atomic<bool> _stop{false};
    std::thread _thread;
};

struct row {
    std::string name;
    size_t n = 0;
    double seconds = 0;
    uint64_t checks = 0;
    uint64_t failures = 0;
    double cpu_per_s = 0; // cores
    double preempted_per_s = 0; // involuntary context switches: a busy machine
    double p50_ms = 0;
    double p99_ms = 0;
    std::string failure; // one failure's detail, for a run with failures
};

double percentile(std::vector<int64_t>& v, double p) {
    if (v.empty()) {
        return 0;
    }
    size_t k = std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())));
    std::nth_element(v.begin(), v.begin() + static_cast<ptrdiff_t>(k), v.end());
    return static_cast<double>(v[k]) / 1000.0;
}

// Runs `io` for settle + duration seconds on this thread, measuring the last
// `duration` of them.
template <class Reset>
void measure(asio::io_context& io, const options& o, row& r, std::vector<int64_t>& late, Reset reset) {
    io.run_for(std::chrono::seconds(o.settle));
    late.clear();
    reset();
    double cpu0 = thread_cpu_seconds();
    long pre0 = thread_preemptions();
    auto t0 = steady::now();
    io.run_for(std::chrono::seconds(o.duration));
    r.seconds = std::chrono::duration<double>(steady::now() - t0).count();
    r.cpu_per_s = (thread_cpu_seconds() - cpu0) / r.seconds;
    r.preempted_per_s = static_cast<double>(thread_preemptions() - pre0) / r.seconds;
    r.p50_ms = percentile(late, 0.50);
    r.p99_ms = percentile(late, 0.99);
}

xlb::keepalived::checker_spec spec_for(const farm::target& t, xlb::keepalived::checker_kind kind) {
    xlb::keepalived::checker_spec s;
    s.kind = kind;
    std::array<uint8_t, 16> b{};
    std::memcpy(b.data(), &t.addr, 4);
    s.connect_to = {xlb::ip_address(xlb::family::inet, b), t.port};
    s.delay_loop = 1000ms;
    s.warmup = 1000ms;
    s.connect_timeout = 3000ms;
    s.retry = 1;
    return s;
}

row run_monitor(const farm& f, size_t n, xlb::keepalived::checker_kind kind, const options& o) {
    row r;
    r.name = fmt::format("monitor {}", kind == xlb::keepalived::checker_kind::tcp ? "TCP_CHECK" : "HTTP_GET");
    r.n = n;
    asio::io_context io(1);
    xlb::health::monitor mon(io);
    std::vector<int64_t> late;
    late.reserve(n * static_cast<size_t>(o.duration + o.settle) + 1024);
    mon.set_start_hook([&](xlb::health::checker_id, steady::duration d) {
        late.push_back(std::chrono::duration_cast<std::chrono::microseconds>(d).count());
    });
    std::vector<xlb::health::checker_id> ids;
    for (size_t i = 0; i < n; ++i) {
        ids.push_back(mon.add(spec_for(f.targets()[i], kind), true, nullptr));
    }
    auto totals = [&] {
        uint64_t c = 0;
        uint64_t fl = 0;
        for (auto id : ids) {
            auto st = mon.status(id);
            c += st->checks;
            fl += st->failures;
            if (!st->last.ok && r.failure.empty()) {
                r.failure = st->last.detail;
            }
        }
        return std::pair{c, fl};
    };
    std::pair<uint64_t, uint64_t> before;
    measure(io, o, r, late, [&] { before = totals(); });
    auto after = totals();
    r.checks = after.first - before.first;
    r.failures = after.second - before.second;
    return r;
}

// The baseline: per target a timer, then connect and close, then 1 s again.
class prober {
public:
    prober(asio::io_context& io, const farm::target& t, std::vector<int64_t>& late, uint64_t& checks,
           uint64_t& failures)
        : _timer(io), _sock(io), _late(late), _checks(checks), _failures(failures) {
        asio::ip::address_v4::bytes_type b{};
        std::memcpy(b.data(), &t.addr, 4);
        _to = asio::ip::tcp::endpoint(asio::ip::address_v4(b), t.port);
    }
    void arm(steady::duration d) {
        _timer.expires_after(d);
        _timer.async_wait([this](boost::system::error_code ec) {
            if (ec) {
                return;
            }
            _late.push_back(std::chrono::duration_cast<std::chrono::microseconds>(steady::now() - _timer.expiry())
                                .count());
            _sock.open(asio::ip::tcp::v4());
            _sock.async_connect(_to, [this](boost::system::error_code e) {
                ++_checks;
                _failures += e ? 1 : 0;
                _sock.close();
                arm(1s);
            });
        });
    }

private:
    asio::steady_timer _timer;
    asio::ip::tcp::socket _sock;
    asio::ip::tcp::endpoint _to;
    std::vector<int64_t>& _late;
    uint64_t& _checks;
    uint64_t& _failures;
};

row run_baseline(const farm& f, size_t n, const options& o) {
    row r;
    r.name = "baseline asio connect+close";
    r.n = n;
    asio::io_context io(1);
    std::vector<int64_t> late;
    late.reserve(n * static_cast<size_t>(o.duration + o.settle) + 1024);
    uint64_t checks = 0;
    uint64_t failures = 0;
    std::vector<std::unique_ptr<prober>> probers;
    for (size_t i = 0; i < n; ++i) {
        probers.push_back(std::make_unique<prober>(io, f.targets()[i], late, checks, failures));
        probers.back()->arm(std::chrono::microseconds(1000000 * i / n)); // as warmup spreads them
    }
    uint64_t c0 = 0;
    uint64_t f0 = 0;
    measure(io, o, r, late, [&] {
        c0 = checks;
        f0 = failures;
    });
    r.checks = checks - c0;
    r.failures = failures - f0;
    return r;
}

void print(const row& r) {
    fmt::print("{:<30} n={:<6} checks/s={:<8.0f} failures={:<5} cpu={:5.1f}% of a core  lateness p50={:.2f} ms "
               "p99={:.2f} ms  preempted/s={:.0f}\n",
               r.name, r.n, static_cast<double>(r.checks) / r.seconds, r.failures, 100 * r.cpu_per_s, r.p50_ms,
               r.p99_ms, r.preempted_per_s);
    if (r.failures > 0) {
        fmt::print("  a failure: {}\n", r.failure);
    }
}

std::string to_json(const std::vector<row>& rows, const options& o) {
    std::string out = fmt::format("{{\n  \"bench\": \"checkers\",\n  \"duration_s\": {},\n  \"rows\": [\n",
                                  o.duration);
    for (size_t i = 0; i < rows.size(); ++i) {
        const auto& r = rows[i];
        out += fmt::format("    {{\"name\": \"{}\", \"n\": {}, \"seconds\": {:.3f}, \"checks\": {}, \"failures\": {}, "
                           "\"checks_per_s\": {:.1f}, \"cpu_cores\": {:.4f}, \"lateness_p50_ms\": {:.3f}, "
                           "\"lateness_p99_ms\": {:.3f}, \"preempted_per_s\": {:.1f}}}{}\n",
                           r.name, r.n, r.seconds, r.checks, r.failures, static_cast<double>(r.checks) / r.seconds,
                           r.cpu_per_s, r.p50_ms, r.p99_ms, r.preempted_per_s, i + 1 < rows.size() ? "," : "");
    }
    if (rows.size() >= 2 && rows[1].cpu_per_s > 0) {
        out += fmt::format("  ],\n  \"tcp_cpu_ratio_monitor_over_baseline\": {:.3f}\n}}\n",
                           rows[0].cpu_per_s / rows[1].cpu_per_s);
    } else {
        out += "  ]\n}\n";
    }
    return out;
}

options parse(int argc, char** argv) {
    options o;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        auto next = [&]() -> std::string {
            if (i + 1 >= argc) {
                throw std::runtime_error(a + " needs a value");
            }
            return argv[++i];
        };
        if (a == "--n") {
            o.n = std::stoul(next());
        } else if (a == "--http-n") {
            o.http_n = std::stoul(next());
        } else if (a == "--duration") {
            o.duration = std::stoi(next());
        } else if (a == "--quick") {
            o.n = 2000;
            o.duration = 5;
            o.settle = 2;
        } else if (a == "--json") {
            o.json = next();
        } else {
            throw std::runtime_error("usage: xlb-bench-checkers [--n N] [--duration S] [--http-n N] [--quick] "
                                     "[--json FILE]");
        }
    }
    if (o.http_n == 0) {
        o.http_n = std::max<size_t>(1, o.n / 5);
    }
    return o;
}

} // namespace

int main(int argc, char** argv) {
    try {
        auto o = parse(argc, argv);
        raise_nofile();
        farm f(std::max(o.n, o.http_n));
        std::vector<row> rows;
        rows.push_back(run_monitor(f, o.n, xlb::keepalived::checker_kind::tcp, o));
        print(rows.back());
        rows.push_back(run_baseline(f, o.n, o));
        print(rows.back());
        fmt::print("monitor / baseline CPU: {:.2f}x\n", rows[0].cpu_per_s / std::max(rows[1].cpu_per_s, 1e-9));
        rows.push_back(run_monitor(f, o.http_n, xlb::keepalived::checker_kind::http, o));
        print(rows.back());
        if (!o.json.empty()) {
            std::ofstream(o.json) << to_json(rows, o);
        }
        return 0;
    } catch (const std::exception& e) {
        fmt::print(stderr, "xlb-bench-checkers: {}\n", e.what());
        return 1;
    }
}
