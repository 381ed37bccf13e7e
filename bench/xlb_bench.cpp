// xlb's first benchmark: bpf_prog_test_run_opts() with repeat=1, many times,
// reporting the median per-call duration of
//   - floor: parse Ethernet and IPv4, swap MACs, XDP_TX (bench/floor.bpf.c);
//   - xlb on an established DR flow;
//   - xlb on new flows under rr;
//   - xlb on new flows to big services: rr and mh at 4,096 dests (O(1) per
//     pick), lc and wlc at 256 and 1,024 (a scan of every dest: the cost
//     XLB_MAX_DESTS_SCANNED bounds).
// Variants are interleaved round by round so machine noise hits them alike;
// results are ratios to the floor measured in the same run. Writes
// bench/results/latest.json (or the path given as the first argument).

#include "floor.skel.h"
#include "support/netns.h"
#include "support/packet.h"
#include "support/verifier_budget.h"
#include "support/xdp_lab.h"

#include <xlb/dataplane/xdp_dataplane.h>

#include <fmt/format.h>
#include <fmt/os.h>

#include <algorithm>
#include <cstdio>
#include <iterator>
#include <sys/utsname.h>
#include <stdexcept>
#include <string>
#include <vector>

using namespace xlb;
using namespace xlb::test;

namespace {

constexpr int rounds = 20;
constexpr int calls_per_round = 1000;

packet_spec flow(uint16_t sport, uint8_t flags, int client, const char* vip = "10.1.0.100") {
    packet_spec p;
    p.dst = parse_mac(xdp_lab::dir_mac);
    p.saddr = *ip_address::parse(fmt::format("10.9.{}.{}", client / 250, client % 250 + 1));
    p.daddr = *ip_address::parse(vip);
    p.sport = sport;
    p.dport = 80;
    p.tcp_flags = flags;
    return p;
}

uint32_t median(std::vector<uint32_t> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
}

int run(const std::string& out_path) {
    if (getuid() != 0) {
        throw std::runtime_error("the benchmark needs root (BPF, a private network namespace)");
    }
    enter_private_netns();
    xdp_lab::setup_network();
    xdp_lab::pin_cpu0();
    int ifindex = test::ifindex(xdp_lab::dir_if);

    floor_bpf* floor = floor_bpf__open_and_load();
    if (!floor) {
        throw std::runtime_error("cannot load the floor program");
    }
    int floor_fd = bpf_program__fd(floor->progs.xlb_floor);

    loaded_xlb lb({16, 64, 1u << 20});
    auto& dp = lb.dp();
    service_key k{protocol::tcp, *endpoint::parse("10.1.0.100:80")};
    if (!dp.add_service({k, scheduler::rr})) {
        throw std::runtime_error("add service");
    }
    for (int i = 1; i <= 3; ++i) {
        if (!dp.add_dest(k, {{xdp_lab::backend4(i), 80}, forwarding::dr, 1, 0, 0})) {
            throw std::runtime_error("add dest");
        }
    }

    auto est = build(flow(1000, tcp_ack, 0));
    auto r = run_xdp(dp.prog_fd(), build(flow(1000, tcp_syn, 0)), ifindex);
    if (r.action != XDP_TX || run_xdp(dp.prog_fd(), est, ifindex).action != XDP_TX ||
        run_xdp(floor_fd, est, ifindex).action != XDP_TX) {
        throw std::runtime_error("bench packets are not forwarded; the setup is wrong");
    }

    // Big services, in an instance of their own (so the rows above measure
    // what they always did): DR dests 10.128.x.y behind backend 1.
    route_big_dests();
    // 4,096 mh dests want a Maglev table well above that: 65521, IPVS's
    // size for CONFIG_IP_VS_MH_TAB_INDEX=16.
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
    }

    // New flows: every SYN a 5-tuple never seen before.
    auto syns_to = [](const char* vip) {
        std::vector<std::vector<uint8_t>> syns;
        syns.reserve(rounds * calls_per_round);
        for (int i = 0; i < rounds * calls_per_round; ++i) {
            syns.push_back(build(flow(static_cast<uint16_t>(2000 + i % 60000), tcp_syn, 1 + i / 60000, vip)));
        }
        return syns;
    };
    auto syns = syns_to("10.1.0.100");
    std::vector<std::vector<std::vector<uint8_t>>> big_syns;
    for (const auto& b : bigs) {
        big_syns.push_back(syns_to(b.vip));
        if (run_xdp(big.dp().prog_fd(), build(flow(1, tcp_syn, 0, b.vip)), ifindex).action != XDP_TX) {
            throw std::runtime_error(fmt::format("{}: a new flow is not forwarded; the setup is wrong", b.name));
        }
    }

    std::vector<uint32_t> t_floor, t_est, t_new;
    std::vector<std::vector<uint32_t>> t_big(bigs.size());
    size_t next_syn = 0;
    for (int round = 0; round < rounds; ++round) {
        for (int i = 0; i < calls_per_round; ++i) {
            t_floor.push_back(run_xdp(floor_fd, est, ifindex).duration_ns);
        }
        for (int i = 0; i < calls_per_round; ++i) {
            t_est.push_back(run_xdp(dp.prog_fd(), est, ifindex).duration_ns);
        }
        for (int i = 0; i < calls_per_round; ++i) {
            auto rr = run_xdp(dp.prog_fd(), syns[next_syn + i], ifindex);
            if (rr.action != XDP_TX) {
                throw std::runtime_error("a new flow was not forwarded");
            }
            t_new.push_back(rr.duration_ns);
        }
        for (size_t b = 0; b < bigs.size(); ++b) {
            for (int i = 0; i < calls_per_round; ++i) {
                auto rb = run_xdp(big.dp().prog_fd(), big_syns[b][next_syn + i], ifindex);
                if (rb.action != XDP_TX) {
                    throw std::runtime_error(fmt::format("{}: a new flow was not forwarded", bigs[b].name));
                }
                t_big[b].push_back(rb.duration_ns);
            }
        }
        next_syn += calls_per_round;
    }
    floor_bpf__destroy(floor);

    auto st = dp.status();
    uint32_t insns = st ? st->verified_insns : 0;
    uint32_t f = median(t_floor);
    struct row {
        const char* name;
        uint32_t ns;
    };
    std::vector<row> rows = {{"floor_parse_swap_tx", f},
                             {"xlb_established_dr_flow", median(t_est)},
                             {"xlb_new_flow_rr", median(t_new)}};
    for (size_t b = 0; b < bigs.size(); ++b) {
        rows.push_back({bigs[b].name, median(t_big[b])});
    }

    std::string json = "{\n  \"harness\": \"bpf_prog_test_run_opts repeat=1, median per-call duration\",\n";
    // This kernel's count, measured now, and every kernel's as last measured
    // for the budget (the 6.1 one in the vm tier).
    struct utsname u{};
    ::uname(&u);
    json += fmt::format("  \"calls_per_row\": {},\n  \"kernel\": \"{}\",\n  \"xlb_verified_insns\": {},\n",
                        rounds * calls_per_round, u.release, insns);
    json += "  \"verifier_by_kernel\": [\n";
    for (size_t i = 0; i < std::size(xlb::test::verifier_budgets); ++i) {
        const auto& b = xlb::test::verifier_budgets[i];
        json += fmt::format("    {{\"kernel\": \"{}\", \"measured_insns\": {}, \"budget_insns\": {}}}{}\n", b.kernel,
                            b.measured, b.budget, i + 1 < std::size(xlb::test::verifier_budgets) ? "," : "");
    }
    json += "  ],\n  \"rows\": [\n";
    for (size_t i = 0; i < rows.size(); ++i) {
        json += fmt::format("    {{\"name\": \"{}\", \"ns_per_packet\": {}, \"floor_ns\": {}, \"over_floor_ns\": {}}}{}\n",
                            rows[i].name, rows[i].ns, f, static_cast<int64_t>(rows[i].ns) - f,
                            i + 1 < rows.size() ? "," : "");
    }
    json += "  ]\n}\n";
    auto out = fmt::output_file(out_path);
    out.print("{}", json);
    out.close();

    fmt::print("{:<26} {:>8} {:>8} {:>8}\n", "name", "ns/pkt", "floor", "over");
    for (const auto& rw : rows) {
        fmt::print("{:<26} {:>8} {:>8} {:>8}\n", rw.name, rw.ns, f, static_cast<int64_t>(rw.ns) - f);
    }
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
