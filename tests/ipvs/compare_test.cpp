// xlbctl --backend ipvs side by side with real ipvsadm (Debian 12's 1.31),
// both on the kernel IPVS of the VM (tests/vm runs it after ipvs_dataplane).
//
// Each section of tests/ipvs/compare.cmds runs twice from a clean table:
// once with `ipvsadm` on PATH a link to xlbctl (which then answers as
// ipvsadm, with XLB_BACKEND=ipvs), once with it a link to the real
// /sbin/ipvsadm. Every line is a shell command, so `-R` reads its stdin
// from a pipe. Both runs must give the same stdout, stderr and exit code,
// line by line. Then each table is listed by the other tool (-L -n, -S -n,
// -L --timeout): what xlbctl wrote must list as what ipvsadm wrote, read by
// either tool.
//
// A line may be excluded from the assertions only by a `! reason` line
// just above it: it still runs on both sides, its difference is printed,
// and the summary counts it. `!cross LISTING: reason` in a section does the
// same for that section's cross-read of LISTING (one of the three). README
// (the ipvs tier) lists every exclusion and why xlb differs there.

#include "ipvs/real_ipvsadm.h"
#include "support/cmd.h"
#include "support/priv.h"

#include <gtest/gtest.h>

#include <fmt/format.h>

#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <arpa/inet.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <iostream>
#include <map>
#include <string>
#include <vector>

using namespace xlb::test;

namespace {


// What each tool's table is listed with by the other.
const std::vector<std::string> listings = {"ipvsadm -L -n", "ipvsadm -S -n", "ipvsadm -L --timeout"};

struct line {
    int number;
    std::string text;
    std::string excluded; // the `!` reason, or empty
};

struct section {
    std::string name;
    std::vector<line> lines;
    std::map<std::string, std::string> cross_excluded; // listing -> reason
};

std::vector<section> read_sections(const std::string& path) {
    std::ifstream in(path);
    std::vector<section> out;
    std::string text, reason;
    int n = 0;
    while (std::getline(in, text)) {
        ++n;
        auto first = text.find_first_not_of(" \t");
        if (first == std::string::npos || text[first] == '#') {
            continue;
        }
        text = text.substr(first);
        if (text.front() == '[' && text.back() == ']') {
            out.push_back({text.substr(1, text.size() - 2), {}, {}});
        } else if (text.rfind("!cross ", 0) == 0 && !out.empty()) {
            auto colon = text.find(": ");
            if (colon == std::string::npos) {
                throw std::runtime_error(fmt::format("{}:{}: !cross LISTING: reason", path, n));
            }
            auto listing = text.substr(7, colon - 7);
            if (std::find(listings.begin(), listings.end(), listing) == listings.end()) {
                throw std::runtime_error(fmt::format("{}:{}: {} is no cross-read listing", path, n, listing));
            }
            out.back().cross_excluded[listing] = text.substr(colon + 2);
        } else if (text.front() == '!') {
            auto start = text.find_first_not_of(" \t", 1);
            if (start == std::string::npos) {
                throw std::runtime_error(fmt::format("{}:{}: an exclusion needs its reason", path, n));
            }
            reason = text.substr(start);
        } else {
            if (out.empty()) {
                out.push_back({"(unnamed)", {}, {}});
            }
            out.back().lines.push_back({n, text, reason});
            reason.clear();
        }
    }
    return out;
}

// A directory holding `ipvsadm`, a link to target.
class ipvsadm_dir {
public:
    explicit ipvsadm_dir(const std::string& target) {
        char tmpl[] = "/tmp/xlb-compare.XXXXXX";
        if (!mkdtemp(tmpl)) {
            throw std::runtime_error("mkdtemp failed");
        }
        _dir = tmpl;
        if (symlink(target.c_str(), (_dir + "/ipvsadm").c_str()) != 0) {
            throw std::runtime_error("symlink to " + target + " failed");
        }
    }
    ~ipvsadm_dir() {
        ::unlink((_dir + "/ipvsadm").c_str());
        ::rmdir(_dir.c_str());
    }
    ipvsadm_dir(const ipvsadm_dir&) = delete;
    ipvsadm_dir& operator=(const ipvsadm_dir&) = delete;

    cmd_result run(const std::string& text) const {
        // stdin is /dev/null unless the line pipes into the command.
        return run_cmd(fmt::format("cd /tmp && export PATH={}:$PATH XLB_BACKEND=ipvs && ({}\n) </dev/null", _dir, text));
    }

private:
    std::string _dir;
};

std::string show(const cmd_result& r) {
    return fmt::format("rc={}\n--- stdout\n{}--- stderr\n{}", r.code, r.out, r.err);
}

// A fresh kernel's table: empty, with the 6.1 default timeouts.
void clean(const ipvsadm_dir& real) {
    auto c = real.run("ipvsadm -C");
    auto t = real.run("ipvsadm --set 900 120 300");
    ASSERT_EQ(c.code, 0) << show(c);
    ASSERT_EQ(t.code, 0) << show(t);
}

std::string ipvs_missing() { return real_ipvs_missing("needs root (CAP_NET_ADMIN) to write the kernel IPVS table"); }

} // namespace

TEST(ipvsadm_compare, xlbctl_answers_as_real_ipvsadm) {
    if (auto why = ipvs_missing(); !why.empty()) {
        if (require_priv()) {
            FAIL() << "XLB_REQUIRE_PRIV=1 but the comparison " << why;
        }
        GTEST_SKIP() << why;
    }
    auto sections = read_sections(XLB_SOURCE_DIR "/tests/ipvs/compare.cmds");
    ASSERT_FALSE(sections.empty());
    ipvsadm_dir xlb(xlbctl_bin());
    ipvsadm_dir real(real_ipvsadm);

    int compared = 0, matched = 0, excluded = 0, cross = 0, cross_matched = 0, cross_excluded = 0;
    for (const auto& s : sections) {
        SCOPED_TRACE("section [" + s.name + "]");
        clean(real);
        std::vector<cmd_result> by_xlb;
        for (const auto& l : s.lines) {
            by_xlb.push_back(xlb.run(l.text));
        }
        std::vector<cmd_result> xlb_table_by_real;
        for (const auto& l : listings) {
            xlb_table_by_real.push_back(real.run(l));
        }

        clean(real);
        for (size_t i = 0; i < s.lines.size(); ++i) {
            const auto& l = s.lines[i];
            auto want = real.run(l.text);
            auto got = show(by_xlb[i]);
            ++compared;
            if (!l.excluded.empty()) {
                ++excluded;
                // An exclusion that no longer differs should go.
                std::cout << fmt::format("excluded, {} (line {}: {}): {}\n", got != show(want) ? "differs" : "MATCHES",
                                         l.number, l.text, l.excluded);
                continue;
            }
            EXPECT_EQ(got, show(want)) << "compare.cmds:" << l.number << ": " << l.text;
            matched += got == show(want);
        }
        for (size_t i = 0; i < listings.size(); ++i) {
            auto want = show(real.run(listings[i]));
            auto real_table_by_xlb = show(xlb.run(listings[i]));
            cross += 2;
            if (auto ex = s.cross_excluded.find(listings[i]); ex != s.cross_excluded.end()) {
                cross_excluded += 2;
                bool differs = show(xlb_table_by_real[i]) != want || real_table_by_xlb != want;
                std::cout << fmt::format("excluded, {} (section [{}], cross-read {}): {}\n",
                                         differs ? "differs" : "MATCHES", s.name, listings[i], ex->second);
                continue;
            }
            EXPECT_EQ(show(xlb_table_by_real[i]), want) << "xlbctl's table read by ipvsadm: " << listings[i];
            EXPECT_EQ(real_table_by_xlb, want) << "ipvsadm's table read by xlbctl: " << listings[i];
            cross_matched += (show(xlb_table_by_real[i]) == want) + (real_table_by_xlb == want);
        }
    }
    clean(real);
    std::cout << fmt::format("compared {} commands: {} matched, {} excluded, {} differ; "
                             "cross-read {} listings: {} matched, {} excluded, {} differ\n",
                             compared, matched, excluded, compared - matched - excluded, cross, cross_matched,
                             cross_excluded, cross - cross_matched - cross_excluded);
}

namespace {

// A socket that only sends: a TCP SYN or SCTP INIT from a non-blocking
// connect(), or a UDP datagram. IPVS schedules what leaves this host at
// LOCAL_OUT, so each makes a connection entry; nobody answers.
class probe {
public:
    probe(int af, int type, int proto, const std::string& to, uint16_t port, uint32_t mark = 0) {
        _fd = ::socket(af, type | SOCK_NONBLOCK, proto);
        if (_fd < 0) {
            throw std::runtime_error(fmt::format("socket({}, {}, {}): {}", af, type, proto, std::strerror(errno)));
        }
        if (mark != 0 && ::setsockopt(_fd, SOL_SOCKET, SO_MARK, &mark, sizeof(mark)) != 0) {
            throw std::runtime_error(fmt::format("SO_MARK: {}", std::strerror(errno)));
        }
        sockaddr_storage ss{};
        socklen_t len;
        if (af == AF_INET) {
            auto* sin = reinterpret_cast<sockaddr_in*>(&ss);
            sin->sin_family = AF_INET;
            sin->sin_port = htons(port);
            inet_pton(AF_INET, to.c_str(), &sin->sin_addr);
            len = sizeof(*sin);
        } else {
            auto* sin6 = reinterpret_cast<sockaddr_in6*>(&ss);
            sin6->sin6_family = AF_INET6;
            sin6->sin6_port = htons(port);
            inet_pton(AF_INET6, to.c_str(), &sin6->sin6_addr);
            len = sizeof(*sin6);
        }
        if (type == SOCK_DGRAM) {
            const char hello[] = "hello";
            if (::sendto(_fd, hello, sizeof(hello), 0, reinterpret_cast<sockaddr*>(&ss), len) < 0) {
                throw std::runtime_error(fmt::format("sendto {}: {}", to, std::strerror(errno)));
            }
        } else if (::connect(_fd, reinterpret_cast<sockaddr*>(&ss), len) != 0 && errno != EINPROGRESS) {
            throw std::runtime_error(fmt::format("connect {}:{}: {}", to, port, std::strerror(errno)));
        }
    }
    ~probe() { ::close(_fd); }
    probe(const probe&) = delete;
    probe& operator=(const probe&) = delete;

private:
    int _fd = -1;
};

// A listing with each row's expire column (mm:ss after the protocol word and
// its padding) as "--:--". No <regex>: GCC 12 under the sanitizers warns
// inside it.
std::string without_expiry(const std::string& text) {
    std::string out;
    size_t start = 0;
    while (start < text.size()) {
        auto end = text.find('\n', start);
        std::string line = text.substr(start, end == std::string::npos ? std::string::npos : end - start);
        auto sp = line.find(' ');
        auto at = sp == std::string::npos ? sp : line.find_first_not_of(' ', sp);
        auto colon = at == std::string::npos ? at : line.find(':', at);
        auto is_digits = [&](size_t from, size_t to) {
            return from < to && std::all_of(line.begin() + static_cast<long>(from), line.begin() + static_cast<long>(to),
                                            [](char c) { return c >= '0' && c <= '9'; });
        };
        if (colon != std::string::npos && colon + 3 <= line.size() && is_digits(at, colon) &&
            is_digits(colon + 1, colon + 3) && (colon + 3 == line.size() || line[colon + 3] == ' ')) {
            line.replace(at, colon + 3 - at, "--:--");
        }
        out += line;
        if (end == std::string::npos) {
            break;
        }
        out += '\n';
        start = end + 1;
    }
    return out;
}

} // namespace

// -L -c reads /proc/net/ip_vs_conn: xlbctl's listing of a kernel table with
// TCP and UDP flows, an SCTP association, IPv6, and the templates of a
// persistent UDP service and of a persistent fwmark service (protocol "IP")
// is real ipvsadm's, byte for byte, in the kernel's order.
TEST(ipvsadm_compare, connection_entries_list_as_ipvsadm_lists_them) {
    if (auto why = ipvs_missing(); !why.empty()) {
        if (require_priv()) {
            FAIL() << "XLB_REQUIRE_PRIV=1 but the comparison " << why;
        }
        GTEST_SKIP() << why;
    }
    ipvsadm_dir xlb(xlbctl_bin());
    ipvsadm_dir real(real_ipvsadm);
    clean(real);
    // The VIPs routed out of a veth whose far end nobody answers on.
    auto setup = real.run(
        "ip link del xlbcc0 2>/dev/null; ip link add xlbcc0 type veth peer name xlbcc1 && "
        "ip addr add 10.85.0.1/24 dev xlbcc0 && ip -6 addr add 2001:db8:85::1/64 dev xlbcc0 nodad && "
        "ip link set dev xlbcc0 up && ip link set dev xlbcc1 up && "
        "ip route add 10.86.0.0/24 dev xlbcc0 && ip -6 route add 2001:db8:86::/64 dev xlbcc0 && "
        "ipvsadm -A -t 10.86.0.1:80 -s rr && ipvsadm -a -t 10.86.0.1:80 -r 10.85.0.2:8080 -m && "
        "ipvsadm -a -t 10.86.0.1:80 -r 10.85.0.3:80 -g && "
        "ipvsadm -A -u 10.86.0.1:53 -s rr -p 60 && ipvsadm -a -u 10.86.0.1:53 -r 10.85.0.2:5353 -m && "
        "ipvsadm -A --sctp-service 10.86.0.1:3868 -s rr && "
        "ipvsadm -a --sctp-service 10.86.0.1:3868 -r 10.85.0.2:3868 -m && "
        "ipvsadm -A -f 5 -s rr -p 120 && ipvsadm -a -f 5 -r 10.85.0.4 -g && "
        "ipvsadm -A -t [2001:db8:86::1]:443 -s rr && ipvsadm -a -t [2001:db8:86::1]:443 -r [2001:db8:85::2]:8443 -m");
    struct cleanup {
        const ipvsadm_dir& real;
        ~cleanup() {
            real.run("ip link del xlbcc0");
            clean(real);
        }
    } done{real};
    ASSERT_EQ(setup.code, 0) << show(setup);

    std::vector<std::unique_ptr<probe>> probes;
    probes.push_back(std::make_unique<probe>(AF_INET, SOCK_STREAM, 0, "10.86.0.1", 80));
    probes.push_back(std::make_unique<probe>(AF_INET, SOCK_STREAM, 0, "10.86.0.1", 80));
    probes.push_back(std::make_unique<probe>(AF_INET, SOCK_DGRAM, 0, "10.86.0.1", 53));
    probes.push_back(std::make_unique<probe>(AF_INET, SOCK_STREAM, IPPROTO_SCTP, "10.86.0.1", 3868));
    probes.push_back(std::make_unique<probe>(AF_INET, SOCK_STREAM, 0, "10.86.0.77", 22, 5));
    probes.push_back(std::make_unique<probe>(AF_INET6, SOCK_STREAM, 0, "2001:db8:86::1", 443));
    usleep(200 * 1000);

    auto want = real.run("ipvsadm -L -c -n");
    ASSERT_EQ(want.code, 0) << show(want);
    // Every kind is there: the comparison below is not of empty listings.
    for (const char* kind : {"\nTCP ", "\nUDP ", "\nSCTP ", "\nIP  ", "0.0.0.5:0", "[2001:db8:86::1]:443"}) {
        EXPECT_NE(want.out.find(kind), std::string::npos) << kind << " missing from\n" << want.out;
    }
    for (const char* listing : {"ipvsadm -L -c -n", "ipvsadm -Lcn --persistent-conn", "ipvsadm -l -c",
                                "ipvsadm --list --connection --numeric"}) {
        // Expiry counts down in whole seconds: compare between two equal
        // readings of ipvsadm's.
        bool compared = false;
        cmd_result before, got, after;
        for (int attempt = 0; attempt < 10 && !compared; ++attempt) {
            before = real.run(listing);
            got = xlb.run(listing);
            after = real.run(listing);
            if (show(before) != show(after)) {
                continue;
            }
            compared = true;
            EXPECT_EQ(show(got), show(before)) << listing;
        }
        if (!compared) {
            // Name lookups (-l -c without -n) can make every reading take
            // over a second under TCG: then all but the expiry column.
            std::cout << listing << ": ipvsadm's listing changed between every pair of readings; compared "
                      << "without the expire column\n";
            EXPECT_EQ(without_expiry(show(got)), without_expiry(show(before))) << listing;
            EXPECT_EQ(without_expiry(show(after)), without_expiry(show(before))) << listing;
        }
    }
}
