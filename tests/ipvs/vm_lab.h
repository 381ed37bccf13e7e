#pragma once
// A routed namespace lab for the ipvs tier's traffic tests (tests/ipvs's
// traffic and same_choice binaries), built with iproute2 alone: the VM has
// no bridge module, so every link is a veth pair, each end inside a
// namespace this lab creates and deletes.
//
//   client  cd 10.0.0.2 ------------ dc 10.0.0.1  director (VIP 10.100.0.1 on lo)
//           ci 10.8.i.1 --+          di 10.1.i.1
//                         |              |
//                         +-- sc 10.8.i.2 sd 10.1.i.2  server bi (i = 1..n)
//
// - The client's sources are any address of 10.9.0.0/16 (a local route on
//   lo: bind() takes any of them), so a test picks the client address and
//   port of each flow. Its default route is the director.
// - Each server listens on port 80 (a thread of the test) and greets every
//   connection, and answers every later read, with its name "bi".
// - NAT: a server's default route is its director link, so replies to the
//   real server's address pass the director (forwarding on), which rewrites
//   them back.
// - DR: the VIP is on each server's lo (arp_ignore=1, arp_announce=2); a
//   reply from the VIP follows `from VIP lookup 100` to the server's own
//   link to the client, never through the director, as DR replies go.
// Reverse-path filtering is off everywhere: DR's path is asymmetric.

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace xlb::test::vm_lab {

inline constexpr const char* vip = "10.100.0.1";
inline constexpr const char* director_addr = "10.0.0.1";

// The real server i (1-based): its address on the director's link.
std::string rip(int i);
std::string server_name(int i);

// One TCP flow's client end.
struct flow {
    std::string src;   // an address of 10.9.0.0/16 (or the director's, for a local client)
    uint16_t sport = 0; // 0: any
};

// A connection held open; closed with a RST (no TIME_WAIT anywhere) when destroyed.
class held {
public:
    explicit held(int fd) : _fd(fd) {}
    held(const held&) = delete;
    held& operator=(const held&) = delete;
    ~held();
    // Writes a line and reads the server's answer: its name, empty on failure.
    std::string ask() const;

private:
    int _fd;
};

class lab {
public:
    // Creates the namespaces <prefix>-{cli,dir,b1..bn} and starts the servers.
    // Throws std::runtime_error when a step fails (after deleting what it made).
    lab(const std::string& prefix, int servers);
    ~lab();
    lab(const lab&) = delete;
    lab& operator=(const lab&) = delete;

    std::string cli() const { return _prefix + "-cli"; }
    std::string dir() const { return _prefix + "-dir"; }
    std::string srv(int i) const;
    int servers() const { return _n; }

    // A shell command run in namespace ns (forked from a thread that joined it,
    // so /sys and the bpffs stay the caller's, unlike `ip netns exec`).
    int sh_in(const std::string& ns, const std::string& cmd) const;
    // The built xlbctl in the director's namespace: exit status; stdout in *out.
    int xlbctl(const std::string& args, std::string* out = nullptr) const;
    // `xlbctl ARGS -L -n --stats --exact`'s line for `what` (as stats_of()),
    // read until its connection count reaches `conns` or 6 s pass: kernel
    // IPVS folds its per-CPU counters into what it reports only every 2 s
    // (its rate estimator's tick).
    struct stats_line stats(const std::string& args, const std::string& what, unsigned long long conns) const;
    // Prints what each namespace's links and TCP counters say, for a failure.
    void diagnose() const;

    // Connects each flow in turn from namespace ns to VIP:80 and reads the
    // greeting: the server's name per flow, empty where it failed. After
    // `give_up` failures the rest are not tried (left empty). Each is closed
    // with a RST. mark: SO_MARK on every socket (0: none).
    std::vector<std::string> connect(const std::string& ns, const std::vector<flow>& flows, uint32_t mark = 0,
                                     int give_up = 3) const;
    // Stops server i's listener (and its connections), or starts it again:
    // a real server going down and coming back.
    void stop_server(int i);
    void start_server(int i);

    // One connection held open; *server gets the greeting.
    std::unique_ptr<held> hold(const flow& f, std::string* server) const;

private:
    void build();
    void teardown() noexcept;
    void start_servers();

    std::string _prefix;
    int _n;
    std::vector<std::string> _made; // namespaces created, to delete
    struct server;
    std::vector<std::unique_ptr<server>> _servers;
};

// What is left of a lab with this prefix (its namespaces): empty once it is gone.
std::string leftovers(const std::string& prefix);

// The columns of `-L -n --stats` for one service or dest line (matched by its
// second word, e.g. "10.100.0.1:80" or "->" lines by address): conns, inpkts,
// outpkts. Throws if the line is absent.
struct stats_line {
    unsigned long long conns = 0, inpkts = 0, outpkts = 0;
};
stats_line stats_of(const std::string& listing, const std::string& what);

} // namespace xlb::test::vm_lab
