// xlb's in-kernel benchmark: bpf_prog_test_run_opts() with repeat=1, many
// times, reporting the median per-call duration of each row over a floor
// program measured in the same run (bench/floor.bpf.c: parse Ethernet and
// IPv4, swap MACs, XDP_TX). Rows are interleaved round by round so machine
// noise hits them alike. The rows:
//   - established flows: one hot DR flow, one hot TUN (IPIP) flow, and a
//     random one among 1M live flows (the flow table full);
//   - new flows (a SYN never seen before) under rr: with a fresh 1M flow
//     table, to a NAT service, with full tables (every insert evicts), and
//     the whole handshake (SYN plus first ACK), fresh and full;
//   - new flows to a random service among 1, 1,000 and 10,000;
//   - new flows to big services: rr and mh at 4,096 dests, lc and wlc at
//     256 and 1,024 (a scan of every dest: what XLB_MAX_DESTS_SCANNED bounds);
//   - bare map inserts (bench/map_insert.bpf.c): LRU, per-CPU LRU and
//     preallocated hash, at 1M entries fresh and full, and a full 4k LRU;
//   - with XLB_BENCH_KATRAN=path/to/balancer.bpf.o, Katran's balancer
//     (bench/katran_driver.h) on the same packets: established, new flow
//     fresh and full, handshake, and a random flow among 1M.
// Writes bench/results/latest.json (or the path given as the first argument).

#include "floor.skel.h"
#include "katran_driver.h"
#include "map_insert.skel.h"
#include "support/netns.h"
#include "support/packet.h"
#include "support/verifier_budget.h"
#include "support/xdp_lab.h"

#include <xlb/dataplane/xdp_dataplane.h>

#include <arpa/inet.h>
#include <fmt/format.h>
#include <fmt/os.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <iterator>
#include <memory>
#include <random>
#include <stdexcept>
#include <string>
#include <sys/utsname.h>
#include <thread>
#include <vector>

using namespace xlb;
using namespace xlb::test;

namespace {

const int rounds = std::getenv("XLB_BENCH_ROUNDS") ? std::atoi(std::getenv("XLB_BENCH_ROUNDS")) : 20;
constexpr int calls_per_round = 1000;
const uint32_t calls_per_row = rounds * calls_per_round;
constexpr uint32_t big_table = 1u << 20;
// Live flows for the "random among 1M" rows, and how many more new ones
// fill the table past its size so that every insert evicts.
constexpr uint32_t live_flows = 1000000;
constexpr uint32_t overfill = big_table + 65536;

// Each row's new 5-tuples come from clients of their own: tuple i of block
// b is client 1 + b * 20 + i / 60000, source port 2000 + i % 60000.
packet_spec flow(uint32_t block, uint32_t i, uint8_t flags, const std::string& vip = "10.1.0.100") {
    uint32_t client = 1 + block * 20 + i / 60000;
    packet_spec p;
    p.dst = parse_mac(xdp_lab::dir_mac);
    p.saddr = *ip_address::parse(fmt::format("10.9.{}.{}", client / 250, client % 250 + 1));
    p.daddr = *ip_address::parse(vip);
    p.sport = static_cast<uint16_t>(2000 + i % 60000);
    p.dport = 80;
    p.tcp_flags = flags;
    return p;
}

uint32_t median(std::vector<uint32_t> v) {
    if (v.empty()) {
        return 0;
    }
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
}

// A row: one timed call (its duration in ns), given the call's number in
// the row (0 .. calls_per_row - 1); nullopt for a call that measured
// something else (a random flow the full table evicted), counted as a miss.
struct row {
    std::string name;
    std::function<std::optional<uint32_t>(uint32_t)> call;
    std::vector<uint32_t> times = {};
    uint32_t misses = 0;
};

// One call of prog on frame that must give XDP_TX; its duration.
uint32_t timed_tx(int prog, const std::vector<uint8_t>& frame, int ifindex, const std::string& what) {
    auto r = run_xdp(prog, frame, ifindex);
    if (r.rc != 0 || r.action != XDP_TX) {
        throw std::runtime_error(fmt::format("{}: not forwarded (rc {}, action {})", what, r.rc, r.action));
    }
    return r.duration_ns;
}

// Opens `block` new flows (a SYN, then the first ACK) through prog, n of
// them; with pace, at most `pace` per 1.1 s (Katran stops inserting above
// 125,000 new connections a second).
void open_flows(int prog, int ifindex, uint32_t block, uint32_t n, const std::string& vip, uint32_t pace = 0) {
    auto window = std::chrono::steady_clock::now();
    for (uint32_t i = 0; i < n; ++i) {
        if (pace && i % pace == 0 && i) {
            std::this_thread::sleep_until(window + std::chrono::milliseconds(1100));
            window = std::chrono::steady_clock::now();
        }
        run_xdp(prog, build(flow(block, i, tcp_syn, vip)), ifindex);
        run_xdp(prog, build(flow(block, i, tcp_ack, vip)), ifindex);
    }
}

void add_service(xdp_dataplane& dp, const std::string& vip, scheduler s, const std::vector<dest_config>& dests) {
    service_key k{protocol::tcp, *endpoint::parse(vip + ":80")};
    change_set set{change::add_service({k, s})};
    for (const auto& d : dests) {
        set.push_back(change::add_dest(k, d));
    }
    if (auto r = dp.apply(set); !r) {
        throw std::runtime_error(fmt::format("add {}: change {}: {}", vip, r.error().index, r.error().err.message()));
    }
}

std::vector<dest_config> backends(int first, int last, forwarding fwd, uint16_t port = 80) {
    std::vector<dest_config> ds;
    for (int i = first; i <= last; ++i) {
        dest_config d{{xdp_lab::backend4(i), port}, fwd, 1, 0, 0};
        ds.push_back(d);
    }
    return ds;
}

// The rows of new flows (SYNs) to vip through prog, block `block`.
row syn_row(std::string name, int prog, int ifindex, uint32_t block, std::string vip) {
    return {name, [=](uint32_t i) -> std::optional<uint32_t> {
                return timed_tx(prog, build(flow(block, i, tcp_syn, vip)), ifindex, name);
            }};
}

// SYN plus first ACK of a new flow: their two durations summed.
row handshake_row(std::string name, int prog, int ifindex, uint32_t block, std::string vip) {
    return {name, [=](uint32_t i) -> std::optional<uint32_t> {
                return timed_tx(prog, build(flow(block, i, tcp_syn, vip)), ifindex, name) +
                       timed_tx(prog, build(flow(block, i, tcp_ack, vip)), ifindex, name);
            }};
}

// An ACK of a random one of the live_flows flows of `block` opened last
// (of overfill): those most likely still in a full table. A flow evicted
// since is a miss where xlb passes it; Katran hashes it again and forwards
// it, so its figure includes any such (cheaper) misses.
row random_row(std::string name, int prog, int ifindex, uint32_t block, std::string vip) {
    auto rng = std::make_shared<std::mt19937>(42);
    return {name, [=](uint32_t) -> std::optional<uint32_t> {
                uint32_t i = overfill - live_flows + std::uniform_int_distribution<uint32_t>(0, live_flows - 1)(*rng);
                auto r = run_xdp(prog, build(flow(block, i, tcp_ack, vip)), ifindex);
                if (r.action != XDP_TX) {
                    return std::nullopt; // evicted since
                }
                return r.duration_ns;
            }};
}

// The bare-insert programs: a frame carrying a 16-byte key after Ethernet.
std::vector<uint8_t> key_frame(uint64_t key) {
    std::vector<uint8_t> f(64, 0);
    f[12] = 0x08; // IPv4 ethertype, for form's sake
    std::memcpy(f.data() + 14, &key, sizeof key);
    return f;
}

struct insert_maps {
    explicit insert_maps(uint32_t entries) {
        _sk = map_insert_bpf__open();
        if (!_sk) {
            throw std::runtime_error("cannot open the map_insert program");
        }
        for (bpf_map* m : {_sk->maps.lru, _sk->maps.percpu_lru, _sk->maps.hash}) {
            bpf_map__set_max_entries(m, entries);
        }
        if (map_insert_bpf__load(_sk) != 0) {
            map_insert_bpf__destroy(_sk);
            throw std::runtime_error("cannot load the map_insert program");
        }
    }
    ~insert_maps() { map_insert_bpf__destroy(_sk); }
    insert_maps(const insert_maps&) = delete;
    insert_maps& operator=(const insert_maps&) = delete;

    map_insert_bpf* _sk;
};

// Inserts keys [from, from + n) through an insert program, so that a per-CPU
// LRU fills this CPU's lists.
void fill_keys(int prog, uint64_t from, uint32_t n, int ifindex) {
    for (uint64_t k = from; k < from + n; ++k) {
        run_xdp(prog, key_frame(k), ifindex);
    }
}

row insert_row(std::string name, int prog, int ifindex, uint64_t first_key) {
    return {name, [=](uint32_t i) -> std::optional<uint32_t> {
                return timed_tx(prog, key_frame(first_key + i), ifindex, name);
            }};
}

uint32_t be32(const ip_address& a) {
    uint32_t v;
    std::memcpy(&v, a.bytes().data(), 4);
    return v;
}

int run(const std::string& out_path) {
    if (getuid() != 0) {
        throw std::runtime_error("the benchmark needs root (BPF, a private network namespace)");
    }
    enter_private_netns();
    xdp_lab::setup_network();
    xdp_lab::pin_cpu0();
    int ifindex = test::ifindex(xdp_lab::dir_if);
    std::vector<row> rows;

    floor_bpf* floor = floor_bpf__open_and_load();
    if (!floor) {
        throw std::runtime_error("cannot load the floor program");
    }
    std::unique_ptr<floor_bpf, void (*)(floor_bpf*)> floor_owner(floor, floor_bpf__destroy);
    int floor_fd = bpf_program__fd(floor->progs.xlb_floor);
    auto est = build(flow(0, 0, tcp_ack));
    rows.push_back({"floor_parse_swap_tx", [=](uint32_t) -> std::optional<uint32_t> {
                        return timed_tx(floor_fd, est, ifindex, "floor");
                    }});

    // The main instance: a fresh 1M flow table. 10.1.0.100 rr over three DR
    // dests, 10.1.0.110 the same over TUN (IPIP), 10.1.0.120 over NAT.
    loaded_xlb lb({16, 64, big_table});
    int xlb = lb.dp().prog_fd();
    add_service(lb.dp(), "10.1.0.100", scheduler::rr, backends(1, 3, forwarding::dr));
    add_service(lb.dp(), "10.1.0.110", scheduler::rr, backends(4, 6, forwarding::tun));
    add_service(lb.dp(), "10.1.0.120", scheduler::rr, backends(7, 9, forwarding::nat, 8080));
    auto tun_est = build(flow(0, 0, tcp_ack, "10.1.0.110"));
    timed_tx(xlb, build(flow(0, 0, tcp_syn)), ifindex, "setup: the DR flow");
    timed_tx(xlb, build(flow(0, 0, tcp_syn, "10.1.0.110")), ifindex, "setup: the TUN flow");
    rows.push_back({"xlb_established_dr_flow", [=](uint32_t) -> std::optional<uint32_t> {
                        return timed_tx(xlb, est, ifindex, "xlb_established_dr_flow");
                    }});
    rows.push_back({"xlb_established_tun_ipip_flow", [=](uint32_t) -> std::optional<uint32_t> {
                        return timed_tx(xlb, tun_est, ifindex, "xlb_established_tun_ipip_flow");
                    }});
    rows.push_back(syn_row("xlb_new_flow_rr", xlb, ifindex, 1, "10.1.0.100"));
    rows.push_back(handshake_row("xlb_handshake_rr", xlb, ifindex, 2, "10.1.0.100"));
    rows.push_back(syn_row("xlb_new_flow_nat", xlb, ifindex, 3, "10.1.0.120"));

    // Full tables: 1,114,112 handshakes fill flows past its 1M, so every
    // promotion evicts; as many SYNs more fill embryos.
    loaded_xlb full({16, 64, big_table});
    int xlb_full = full.dp().prog_fd();
    add_service(full.dp(), "10.1.0.100", scheduler::rr, backends(1, 3, forwarding::dr));
    open_flows(xlb_full, ifindex, 10, overfill, "10.1.0.100");
    for (uint32_t i = 0; i < embryonic_size({16, 64, big_table}) + 1024; ++i) {
        run_xdp(xlb_full, build(flow(11, i, tcp_syn)), ifindex);
    }
    rows.push_back(random_row("xlb_established_random_1m", xlb_full, ifindex, 10, "10.1.0.100"));
    rows.push_back(syn_row("xlb_new_flow_rr_full", xlb_full, ifindex, 12, "10.1.0.100"));
    rows.push_back(handshake_row("xlb_handshake_rr_full", xlb_full, ifindex, 13, "10.1.0.100"));

    // 10,000 services 10.3.x.y:80, rr over the same three DR servers; new
    // flows to a random one among the first 1, 1,000 and 10,000.
    loaded_xlb many({10016, 30100, big_table});
    int xlb_many = many.dp().prog_fd();
    {
        change_set set;
        for (uint32_t s = 0; s < 10000; ++s) {
            service_key k{protocol::tcp, *endpoint::parse(fmt::format("10.3.{}.{}:80", s >> 8, s & 255))};
            set.push_back(change::add_service({k, scheduler::rr}));
            for (const auto& d : backends(1, 3, forwarding::dr)) {
                set.push_back(change::add_dest(k, d));
            }
        }
        if (auto r = many.dp().apply(set); !r) {
            throw std::runtime_error(fmt::format("10,000 services: {}", r.error().err.message()));
        }
    }
    for (uint32_t n : {1u, 1000u, 10000u}) {
        std::string name = fmt::format("xlb_new_flow_services_{}", n);
        uint32_t block = 20 + n % 7;
        auto rng = std::make_shared<std::mt19937>(n);
        rows.push_back({name, [=](uint32_t i) -> std::optional<uint32_t> {
                            uint32_t s = std::uniform_int_distribution<uint32_t>(0, n - 1)(*rng);
                            auto vip = fmt::format("10.3.{}.{}", s >> 8, s & 255);
                            return timed_tx(xlb_many, build(flow(block, i, tcp_syn, vip)), ifindex, name);
                        }});
    }

    // Big services, in an instance of their own: DR dests 10.128.x.y behind
    // backend 1. 4,096 mh dests want a Maglev table well above that: 65521,
    // IPVS's size for CONFIG_IP_VS_MH_TAB_INDEX=16.
    route_big_dests();
    loaded_xlb big({16, 12288, 1u << 18, 65521});
    struct big_service {
        const char* name;
        const char* vip;
        scheduler sched;
        uint32_t dests;
    };
    const std::vector<big_service> bigs = {
        {"xlb_new_flow_rr_4096", "10.1.0.101", scheduler::rr, 4096},
        {"xlb_new_flow_mh_4096", "10.1.0.102", scheduler::mh, 4096},
        {"xlb_new_flow_lc_256", "10.1.0.103", scheduler::lc, 256},
        {"xlb_new_flow_lc_1024", "10.1.0.104", scheduler::lc, 1024},
        {"xlb_new_flow_wlc_256", "10.1.0.105", scheduler::wlc, 256},
        {"xlb_new_flow_wlc_1024", "10.1.0.106", scheduler::wlc, 1024},
    };
    uint32_t next_dest = 0;
    for (const auto& b : bigs) {
        service_config svc{{protocol::tcp, *endpoint::parse(fmt::format("{}:80", b.vip))}, b.sched};
        if (!big.dp().add_service(svc)) {
            throw std::runtime_error(fmt::format("add service {}", b.name));
        }
        std::vector<dest_config> ds;
        for (uint32_t i = 0; i < b.dests; ++i) {
            ds.push_back({{big_dest(next_dest++), 80}, forwarding::dr, 1, 0, 0});
        }
        bulk_dests(big, svc, ds);
        rows.push_back(syn_row(b.name, big.dp().prog_fd(), ifindex, 30, b.vip));
    }

    // Bare inserts: 1M maps fresh, 1M maps full (LRUs past their size, the
    // hash at 90%: a full one refuses), a 4k LRU full.
    insert_maps fresh(big_table), filled(big_table), small(4096);
    fill_keys(bpf_program__fd(filled._sk->progs.insert_lru), 1ull << 40, overfill, ifindex);
    fill_keys(bpf_program__fd(filled._sk->progs.insert_percpu_lru), 1ull << 40, overfill, ifindex);
    fill_keys(bpf_program__fd(filled._sk->progs.insert_hash), 1ull << 40, big_table * 9 / 10, ifindex);
    fill_keys(bpf_program__fd(small._sk->progs.insert_lru), 1ull << 40, 8192, ifindex);
    rows.push_back(insert_row("insert_lru_1m_fresh", bpf_program__fd(fresh._sk->progs.insert_lru), ifindex, 1));
    rows.push_back(insert_row("insert_lru_1m_full", bpf_program__fd(filled._sk->progs.insert_lru), ifindex, 1));
    rows.push_back(
        insert_row("insert_percpu_lru_1m_fresh", bpf_program__fd(fresh._sk->progs.insert_percpu_lru), ifindex, 1));
    rows.push_back(
        insert_row("insert_percpu_lru_1m_full", bpf_program__fd(filled._sk->progs.insert_percpu_lru), ifindex, 1));
    rows.push_back(insert_row("insert_hash_1m_fresh", bpf_program__fd(fresh._sk->progs.insert_hash), ifindex, 1));
    rows.push_back(insert_row("insert_hash_1m_90pct", bpf_program__fd(filled._sk->progs.insert_hash), ifindex, 1));
    rows.push_back(insert_row("insert_lru_4k_full", bpf_program__fd(small._sk->progs.insert_lru), ifindex, 1));

    // Katran, when given: one instance fresh, one filled with 1,114,112
    // flows (paced under its 125,000 new connections a second).
    std::unique_ptr<bench::katran_driver> katran, katran_full;
    std::string katran_obj = std::getenv("XLB_BENCH_KATRAN") ? std::getenv("XLB_BENCH_KATRAN") : "";
    if (!katran_obj.empty()) {
        std::vector<uint32_t> reals;
        for (int i = 4; i <= 6; ++i) {
            reals.push_back(be32(xdp_lab::backend4(i)));
        }
        uint32_t vip = be32(*ip_address::parse("10.1.0.100"));
        katran = std::make_unique<bench::katran_driver>(katran_obj, big_table);
        katran_full = std::make_unique<bench::katran_driver>(katran_obj, big_table);
        katran->add_vip(vip, htons(80), reals);
        katran_full->add_vip(vip, htons(80), reals);
        int k = katran->prog_fd(), kf = katran_full->prog_fd();
        fmt::print("filling Katran's connection table ({} flows, about {} s)\n", overfill, overfill / 100000 * 11 / 10);
        open_flows(kf, ifindex, 10, overfill, "10.1.0.100", 100000);
        std::this_thread::sleep_for(std::chrono::milliseconds(1100));
        timed_tx(k, build(flow(0, 0, tcp_syn)), ifindex, "katran setup");
        rows.push_back({"katran_established_flow", [=](uint32_t) -> std::optional<uint32_t> {
                            return timed_tx(k, est, ifindex, "katran_established_flow");
                        }});
        rows.push_back(syn_row("katran_new_flow", k, ifindex, 1, "10.1.0.100"));
        rows.push_back(handshake_row("katran_handshake", k, ifindex, 2, "10.1.0.100"));
        rows.push_back(random_row("katran_established_random_1m", kf, ifindex, 10, "10.1.0.100"));
        rows.push_back(syn_row("katran_new_flow_full", kf, ifindex, 12, "10.1.0.100"));
        rows.push_back(handshake_row("katran_handshake_full", kf, ifindex, 13, "10.1.0.100"));
    }

    // XLB_BENCH_ONLY=SUBSTRING keeps the floor and the rows whose names
    // contain it (to profile one row with perf, say).
    if (const char* only = std::getenv("XLB_BENCH_ONLY")) {
        std::erase_if(rows, [&](const row& r) { return r.name != "floor_parse_swap_tx" && r.name.find(only) == std::string::npos; });
    }
    fmt::print("measuring {} rows, {} rounds\n", rows.size(), rounds);
    std::fflush(stdout);
    for (int round = 0; round < rounds; ++round) {
        for (auto& r : rows) {
            for (int i = 0; i < calls_per_round; ++i) {
                auto t = r.call(static_cast<uint32_t>(round * calls_per_round + i));
                if (t) {
                    r.times.push_back(*t);
                } else {
                    ++r.misses;
                }
            }
        }
    }

    auto st = lb.dp().status();
    uint32_t insns = st ? st->verified_insns : 0;
    uint32_t f = median(rows[0].times);
    std::string json = "{\n  \"harness\": \"bpf_prog_test_run_opts repeat=1, median per-call duration\",\n";
    // This kernel's count, measured now, and every kernel's as last measured
    // for the budget (the 6.1 one in the vm tier).
    struct utsname u{};
    ::uname(&u);
    json += fmt::format("  \"calls_per_row\": {},\n  \"kernel\": \"{}\",\n  \"xlb_verified_insns\": {},\n",
                        calls_per_row, u.release, insns);
    if (katran) {
        json += fmt::format("  \"katran_verified_insns\": {},\n", katran->verified_insns());
    }
    json += "  \"verifier_by_kernel\": [\n";
    for (size_t i = 0; i < std::size(xlb::test::verifier_budgets); ++i) {
        const auto& b = xlb::test::verifier_budgets[i];
        json += fmt::format("    {{\"kernel\": \"{}\", \"measured_insns\": {}, \"budget_insns\": {}}}{}\n", b.kernel,
                            b.measured, b.budget, i + 1 < std::size(xlb::test::verifier_budgets) ? "," : "");
    }
    json += "  ],\n  \"rows\": [\n";
    fmt::print("{:<32} {:>8} {:>8} {:>8} {:>7}\n", "name", "ns/pkt", "floor", "over", "misses");
    for (size_t i = 0; i < rows.size(); ++i) {
        uint32_t m = median(rows[i].times);
        json += fmt::format("    {{\"name\": \"{}\", \"ns_per_packet\": {}, \"floor_ns\": {}, \"over_floor_ns\": {}, "
                            "\"misses\": {}}}{}\n",
                            rows[i].name, m, f, static_cast<int64_t>(m) - f, rows[i].misses,
                            i + 1 < rows.size() ? "," : "");
        fmt::print("{:<32} {:>8} {:>8} {:>8} {:>7}\n", rows[i].name, m, f, static_cast<int64_t>(m) - f,
                   rows[i].misses);
    }
    json += "  ]\n}\n";
    auto out = fmt::output_file(out_path);
    out.print("{}", json);
    out.close();
    fmt::print("xlb verified instructions: {}\nwritten to {}\n", insns, out_path);
    return 0;
}

} // namespace

int main(int argc, char** argv) {
    try {
        return run(argc > 1 ? argv[1] : std::string(XLB_SOURCE_DIR) + "/bench/results/latest.json");
    } catch (const std::exception& e) {
        std::fprintf(stderr, "xlb-bench: %s\n", e.what());
        return 1;
    }
}
