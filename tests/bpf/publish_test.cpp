// The XDP table's publish: a restore killed with SIGKILL at random points
// leaves packets seeing the old table or the new one, never a mix, and the
// next writer succeeds; inner maps of deleted services are freed.

#include "support/cmd.h"
#include "support/priv.h"
#include "support/xdp_lab.h"

#include <xlb/dataplane/memory_dataplane.h>
#include <xlb/dataplane/xdp_dataplane.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <thread>
#include <net/if.h>
#include <fstream>
#include <map>
#include <random>
#include <set>

using namespace xlb;
using namespace xlb::test;

namespace {

[[maybe_unused]] auto* const g_env = ::testing::AddGlobalTestEnvironment(new lab_environment(false));

// A table of `services` services on 10.7.0.1.. (rr and mh in turn) with
// `dests` NAT real servers each on the lab's resolved backends, a port each
// from `port0`, weight `weight`; plus one service of its own, `own`. Two
// such tables differ in every real server and weight, and each has a VIP the
// other lacks, so that a mix shows in the maps and to packets. Services stay
// from one to the other: a map-in-map delete costs the kernel a grace period.
std::string table_text(int services, int dests, uint16_t port0, int weight, const std::string& own) {
    std::string t = "-C\n";
    auto service = [&](const std::string& vip, int s) {
        t += fmt::format("-A -t {} -s {}\n", vip, s % 2 ? "rr" : "mh");
        for (int d = 1; d <= dests; ++d) {
            t += fmt::format("-a -t {} -r 10.1.0.1{}:{} -m -w {}\n", vip, d % 9 + 1, port0 + d, weight);
        }
    };
    for (int s = 1; s <= services; ++s) {
        service(fmt::format("10.7.0.{}:80", s), s);
    }
    service(own + ":80", 1);
    return t;
}

std::string write_file(const std::string& text) {
    static int n = 0;
    auto path = fmt::format("/tmp/xlb-publish-{}-{}.txt", getpid(), n++);
    std::ofstream(path) << text;
    return path;
}

// The table as -S shows it.
std::string saved(dataplane& dp) {
    auto o = run_ipvsadm(dp, "-S -n");
    EXPECT_EQ(o.exit_code, 0) << o.err;
    return o.out;
}

// Runs `xlbctl --pin-dir D -R < file` and kills it after `delay`; returns
// whether it had finished first.
// no_routes: in a network namespace of its own, where next-hop resolution
// finds no route at once and adds no wait after the publish.
bool restore_killed_after(const std::string& pin, const std::string& file, std::chrono::microseconds delay,
                          bool no_routes = false) {
    pid_t pid = fork();
    if (pid == 0) {
        if (no_routes && unshare(CLONE_NEWNET) < 0) {
            _exit(126);
        }
        int fd = open(file.c_str(), O_RDONLY);
        dup2(fd, 0);
        int null = open("/dev/null", O_WRONLY);
        dup2(null, 1);
        dup2(null, 2);
        execl(xlbctl_bin().c_str(), "xlbctl", "--pin-dir", pin.c_str(), "-R", static_cast<char*>(nullptr));
        _exit(127);
    }
    std::this_thread::sleep_for(delay);
    int status = 0;
    bool finished = waitpid(pid, &status, WNOHANG) == pid;
    if (!finished) {
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
        finished = WIFEXITED(status);
    }
    return finished;
}

// A SYN to vip:80 from a fresh port: whether the program found a service
// for it (every verdict but pass_no_service).
bool syn_finds_service(xdp_dataplane& dp, const std::string& vip, uint16_t sport) {
    auto before = dp.reasons().value()[XLB_R_PASS_NO_SERVICE];
    packet_spec p;
    p.src = parse_mac("02:00:00:00:00:c1");
    p.dst = parse_mac(xdp_lab::dir_mac);
    p.saddr = *ip_address::parse("10.9.9.9");
    p.daddr = *ip_address::parse(vip);
    p.sport = sport;
    p.dport = 80;
    p.tcp_flags = tcp_syn;
    auto r = run_xdp(dp.prog_fd(), build(p), static_cast<int>(if_nametoindex(xdp_lab::dir_if)));
    EXPECT_EQ(r.rc, 0);
    return dp.reasons().value()[XLB_R_PASS_NO_SERVICE] == before;
}

// Distinct inner maps held by an ARRAY_OF_MAPS, on both sides.
size_t inner_maps(const std::string& pin, const char* name) {
    file_desc fd(bpf_obj_get((pin + "/" + name).c_str()));
    EXPECT_TRUE(fd) << name;
    bpf_map_info info{};
    uint32_t len = sizeof(info);
    bpf_obj_get_info_by_fd(fd.get(), &info, &len);
    std::set<uint32_t> ids;
    for (uint32_t k = 0; k < info.max_entries; ++k) {
        uint32_t id = 0;
        if (bpf_map_lookup_elem(fd.get(), &k, &id) == 0) {
            ids.insert(id);
        }
    }
    return ids.size();
}

class publish : public ::testing::Test {
protected:
    void SetUp() override {
        XLB_REQUIRE_PRIVILEGE();
        _xlb.emplace(load_options{256, 4096, 65536, 251});
    }
    xdp_dataplane& dp() { return _xlb->dp(); }
    std::optional<loaded_xlb> _xlb;
};

TEST_F(publish, a_killed_restore_leaves_the_old_table_or_the_new_one) {
    // About 2,000 lines each way.
    const auto old_text = table_text(10, 180, 8000, 1, "10.7.1.1");
    const auto new_text = table_text(10, 181, 9000, 2, "10.8.1.1");
    const auto old_file = write_file(old_text), new_file = write_file(new_text);
    auto r = run_cmd(fmt::format("{} --pin-dir {} -R < {}", xlbctl_bin(), _xlb->pin_dir(), old_file));
    ASSERT_EQ(r.code, 0) << r.err;
    const auto old_table = saved(dp());
    r = run_cmd(fmt::format("{} --pin-dir {} -R < {}", xlbctl_bin(), _xlb->pin_dir(), new_file));
    ASSERT_EQ(r.code, 0) << r.err;
    const auto new_table = saved(dp());
    ASSERT_NE(old_table, new_table);

    // How long a whole restore takes, to spread the kills over it.
    auto t0 = std::chrono::steady_clock::now();
    r = run_cmd(fmt::format("{} --pin-dir {} -R < {}", xlbctl_bin(), _xlb->pin_dir(), old_file));
    ASSERT_EQ(r.code, 0) << r.err;
    auto full = std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - t0);
    fmt::print("a restore of {} lines takes {} ms\n", std::count(new_text.begin(), new_text.end(), '\n'),
               full.count() / 1000);

    std::mt19937 rng(std::random_device{}());
    std::uniform_int_distribution<int64_t> at(0, full.count() * 12 / 10);
    int kills = 0, olds = 0, news = 0;
    uint16_t sport = 20000;
    for (int round = 0; kills < 50 && round < 200; ++round) {
        // From the old table toward the new one, killed on the way.
        bool finished = restore_killed_after(_xlb->pin_dir(), new_file, std::chrono::microseconds(at(rng)));
        kills += !finished;
        auto now = saved(dp());
        bool is_old = now == old_table, is_new = now == new_table;
        ASSERT_TRUE(is_old || is_new) << "round " << round << ": the table is neither, after a kill";
        ASSERT_TRUE(!finished || is_new) << "a restore that finished left the old table";
        olds += is_old;
        news += is_new;
        // Packets agree with the maps: one VIP of each table.
        EXPECT_EQ(syn_finds_service(dp(), "10.7.1.1", sport++), is_old) << "round " << round;
        EXPECT_EQ(syn_finds_service(dp(), "10.8.1.1", sport++), is_new) << "round " << round;
        EXPECT_TRUE(syn_finds_service(dp(), "10.7.0.5", sport++)) << "round " << round;
        // The next writer succeeds, and reclaims what the dead one left.
        r = run_cmd(fmt::format("{} --pin-dir {} -R < {}", xlbctl_bin(), _xlb->pin_dir(), old_file));
        ASSERT_EQ(r.code, 0) << "round " << round << ": " << r.err;
        ASSERT_EQ(saved(dp()), old_table);
    }
    fmt::print("{} kills: {} left the old table, {} the new one\n", kills, olds, news);
    EXPECT_GE(kills, 50);
    std::remove(old_file.c_str());
    std::remove(new_file.c_str());
}

TEST_F(publish, deleted_services_free_their_inner_maps) {
    const size_t sched0 = inner_maps(_xlb->pin_dir(), "sched_tables");
    const size_t mh0 = inner_maps(_xlb->pin_dir(), "mh_tables");
    for (int round = 0; round < 3; ++round) {
        for (int s = 1; s <= 100; ++s) {
            auto vip = fmt::format("10.6.{}.{}:80", s / 250, s % 250 + 1);
            ASSERT_EQ(run_ipvsadm(dp(), fmt::format("-A -t {} -s mh", vip)).exit_code, 0);
            ASSERT_EQ(run_ipvsadm(dp(), fmt::format("-a -t {} -r 10.1.0.11:80", vip)).exit_code, 0);
        }
        // Each side owns its tables (a write rewrites its side's in place);
        // the last service's second copy comes with the next writer.
        auto mh = inner_maps(_xlb->pin_dir(), "mh_tables");
        EXPECT_GE(mh, mh0 + 199);
        EXPECT_LE(mh, mh0 + 200);
        // Half by -D, the rest by -C.
        for (int s = 1; s <= 50; ++s) {
            ASSERT_EQ(run_ipvsadm(dp(), fmt::format("-D -t 10.6.{}.{}:80", s / 250, s % 250 + 1)).exit_code, 0);
        }
        ASSERT_EQ(run_ipvsadm(dp(), "-C").exit_code, 0);
        // The unpublished side lets go at the next write.
        ASSERT_EQ(run_ipvsadm(dp(), "--set 0 0 0").exit_code, 0);
        ASSERT_EQ(run_ipvsadm(dp(), "-A -t 10.6.9.9:80 -s rr").exit_code, 0);
        ASSERT_EQ(run_ipvsadm(dp(), "-D -t 10.6.9.9:80").exit_code, 0);
        ASSERT_EQ(run_ipvsadm(dp(), "-Z").exit_code, 0);
        EXPECT_EQ(inner_maps(_xlb->pin_dir(), "mh_tables"), mh0) << "round " << round;
        EXPECT_EQ(inner_maps(_xlb->pin_dir(), "sched_tables"), sched0) << "round " << round;
    }
    auto st = dp().report();
    ASSERT_TRUE(st);
    for (const auto& m : st->maps) {
        if (m.name == "mh_tables" || m.name == "sched_tables") {
            EXPECT_EQ(m.used.value_or(99), 0u) << m.name;
        }
    }
}

// Publishes so far (table_ctl.seq).
uint64_t publishes(xdp_dataplane& dp) {
    struct xlb_table_ctl ctl {};
    uint32_t zero = 0;
    EXPECT_EQ(bpf_map_lookup_elem(dp.map_fds().table_ctl.get(), &zero, &ctl), 0);
    return ctl.seq;
}

// readers[side] summed over the CPUs.
uint64_t readers_of(xdp_dataplane& dp, uint32_t side) {
    std::vector<uint64_t> v(static_cast<size_t>(libbpf_num_possible_cpus()));
    EXPECT_EQ(bpf_map_lookup_elem(dp.map_fds().readers.get(), &side, v.data()), 0);
    uint64_t n = 0;
    for (auto x : v) {
        n += x;
    }
    return n;
}

// A packet counts itself as a reader of the side it reads and takes the
// count back; a writer rewrites the side packets last read only once no
// packet still counts on it, and does not wait for the grace period when
// none does.
TEST_F(publish, writers_wait_for_the_packets_reading_the_side_they_rewrite) {
    ASSERT_EQ(run_ipvsadm(dp(), "-A -t 10.6.0.1:80 -s rr").exit_code, 0);
    ASSERT_EQ(run_ipvsadm(dp(), "-a -t 10.6.0.1:80 -r 10.1.0.11:80").exit_code, 0);
    for (uint16_t i = 0; i < 50; ++i) {
        EXPECT_TRUE(syn_finds_service(dp(), "10.6.0.1", static_cast<uint16_t>(30000 + i)));
    }
    EXPECT_EQ(readers_of(dp(), 0), 0u);
    EXPECT_EQ(readers_of(dp(), 1), 0u);

    // Back-to-back writes: each rewrites the side the one before published
    // from, well within the 1 s grace period, and none waits for it.
    auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < 10; ++i) {
        ASSERT_EQ(run_ipvsadm(dp(), fmt::format("-e -t 10.6.0.1:80 -r 10.1.0.11:80 -w {}", i + 2)).exit_code, 0);
    }
    EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(5))
        << "ten writes, each waiting out the grace period, would take 10 s";

    // A packet still in flight on the side before the last publish (a count
    // on CPU 0, as the data path leaves it while it runs): the next writer
    // waits for it to leave.
    ASSERT_EQ(run_ipvsadm(dp(), "-e -t 10.6.0.1:80 -r 10.1.0.11:80 -w 1").exit_code, 0);
    const uint32_t old_side = published_side(dp()) ^ 1;
    std::vector<uint64_t> held(static_cast<size_t>(libbpf_num_possible_cpus()), 0);
    held[0] = 1;
    ASSERT_EQ(bpf_map_update_elem(dp().map_fds().readers.get(), &old_side, held.data(), BPF_ANY), 0);
    const auto seq0 = publishes(dp());
    std::atomic<bool> done{false};
    std::thread w([&] {
        auto mine = xdp_dataplane::open(_xlb->pin_dir());
        EXPECT_TRUE(mine);
        if (mine) {
            EXPECT_EQ(run_ipvsadm(*mine, "-e -t 10.6.0.1:80 -r 10.1.0.11:80 -w 7").exit_code, 0);
        }
        done = true;
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    EXPECT_FALSE(done.load()) << "the writer rewrote a side a packet was reading";
    EXPECT_EQ(publishes(dp()), seq0);
    held[0] = 0;
    ASSERT_EQ(bpf_map_update_elem(dp().map_fds().readers.get(), &old_side, held.data(), BPF_ANY), 0);
    w.join();
    EXPECT_TRUE(done.load());
    EXPECT_GT(publishes(dp()), seq0);
}

// The published side as the maps hold it, checked against itself: the
// counts and slot cursors in table_ctl, each service's dest list (its
// links visit exactly its active dests, newest first), and the services
// each VIP has. These are what a single write reads instead of the table.
void expect_index_true(xdp_dataplane& dp, const std::string& when) {
    const auto& m = dp.map_fds();
    const auto& sz = dp.sizes();
    struct xlb_table_ctl ctl {};
    uint32_t zero = 0;
    ASSERT_EQ(bpf_map_lookup_elem(m.table_ctl.get(), &zero, &ctl), 0);
    const uint32_t side = ctl.side & 1;
    std::vector<struct xlb_svc> svcs(sz.max_services);
    std::vector<struct xlb_dest> dests(sz.max_dests);
    for (uint32_t i = 0; i < sz.max_services; ++i) {
        uint32_t k = i + side * sz.max_services;
        ASSERT_EQ(bpf_map_lookup_elem(m.svcs.get(), &k, &svcs[i]), 0);
    }
    for (uint32_t i = 0; i < sz.max_dests; ++i) {
        uint32_t k = i + side * sz.max_dests;
        ASSERT_EQ(bpf_map_lookup_elem(m.dests.get(), &k, &dests[i]), 0);
    }
    uint32_t nsvcs = 0, ndests = 0;
    std::map<std::pair<uint32_t, uint32_t>, uint32_t> on_vip; // {af, first word of the VIP} -> services
    for (uint32_t i = 0; i < sz.max_services; ++i) {
        if (!(svcs[i].flags & XLB_SVC_F_ACTIVE)) {
            continue;
        }
        ++nsvcs;
        ++on_vip[{svcs[i].key.af, svcs[i].key.vip.v4}];
        std::set<uint32_t> owned, walked;
        for (uint32_t id = 0; id < sz.max_dests; ++id) {
            if ((dests[id].flags & XLB_DEST_F_ACTIVE) && dests[id].svc == i) {
                owned.insert(id);
            }
        }
        uint32_t last_order = UINT32_MAX;
        for (uint32_t id = svcs[i].first_dest; id != XLB_NO_DEST; id = dests[id].next) {
            ASSERT_LT(id, sz.max_dests) << when;
            ASSERT_TRUE(walked.insert(id).second) << when << ": the list of service " << i << " loops";
            EXPECT_LT(dests[id].order, last_order) << when << ": not newest first";
            last_order = dests[id].order;
        }
        EXPECT_EQ(walked, owned) << when << ": service " << i;
    }
    for (uint32_t id = 0; id < sz.max_dests; ++id) {
        if (dests[id].flags & XLB_DEST_F_ACTIVE) {
            ++ndests;
        }
    }
    EXPECT_LT(ctl.svc_next, sz.max_services) << when;
    EXPECT_LT(ctl.dest_next, sz.max_dests) << when;
    EXPECT_EQ(ctl.nsvcs, nsvcs) << when;
    EXPECT_EQ(ctl.ndests, ndests) << when;
    for (const auto& [vip, n] : on_vip) {
        struct xlb_svc_index_key k {};
        k.svc.af = static_cast<uint8_t>(vip.first);
        k.svc.vip.v4 = vip.second;
        k.side = side;
        uint32_t count = 0;
        EXPECT_EQ(bpf_map_lookup_elem(m.vips.get(), &k, &count), 0) << when;
        EXPECT_EQ(count, n) << when;
    }
}

// As a_killed_restore_leaves_the_old_table_or_the_new_one, for a single write, which reads only its service (its dest list
// and the counts in table_ctl) and publishes the list, the counts and the
// slot cursors with the table: killed anywhere, it leaves the old table or
// the new one, and an index the next single write can trust.
TEST_F(publish, a_killed_single_write_leaves_the_old_table_or_the_new_one) {
    const auto old_file = write_file(table_text(10, 180, 8000, 1, "10.7.1.1"));
    auto r = run_cmd(fmt::format("{} --pin-dir {} -R < {}", xlbctl_bin(), _xlb->pin_dir(), old_file));
    ASSERT_EQ(r.code, 0) << r.err;
    const auto old_table = saved(dp());
    const std::string add = "-a -t 10.7.1.1:80 -r 10.1.0.99:80 -m -w 3";
    const auto add_file = write_file(add + "\n");
    ASSERT_EQ(run_ipvsadm(dp(), add).exit_code, 0);
    const auto new_table = saved(dp());
    ASSERT_NE(old_table, new_table);
    const auto back = [&] { return run_ipvsadm(dp(), "-d -t 10.7.1.1:80 -r 10.1.0.99:80").exit_code; };
    ASSERT_EQ(back(), 0);
    auto t0 = std::chrono::steady_clock::now();
    r = run_cmd(fmt::format("unshare -n {} --pin-dir {} -R < {}", xlbctl_bin(), _xlb->pin_dir(), add_file));
    ASSERT_EQ(r.code, 0) << r.err;
    auto full = std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - t0);
    ASSERT_EQ(saved(dp()), new_table);
    ASSERT_EQ(back(), 0);

    std::mt19937 rng(std::random_device{}());
    std::uniform_int_distribution<int64_t> at(0, full.count() * 12 / 10);
    int kills = 0, olds = 0, news = 0;
    for (int round = 0; kills < 50 && round < 400; ++round) {
        bool finished = restore_killed_after(_xlb->pin_dir(), add_file, std::chrono::microseconds(at(rng)), true);
        kills += !finished;
        auto now = saved(dp());
        bool is_old = now == old_table, is_new = now == new_table;
        ASSERT_TRUE(is_old || is_new) << "round " << round << ": the table is neither, after a kill";
        ASSERT_TRUE(!finished || is_new) << "a write that finished left the old table";
        olds += is_old;
        news += is_new;
        if (round % 10 == 0) {
            expect_index_true(dp(), fmt::format("round {}", round));
        }
        // The next single write succeeds on what the dead one left.
        if (is_new) {
            ASSERT_EQ(back(), 0) << "round " << round;
        }
        ASSERT_EQ(saved(dp()), old_table) << "round " << round;
    }
    fmt::print("{} kills of a single write (about {} us): {} left the old table, {} the new one\n", kills,
               full.count(), olds, news);
    EXPECT_GE(kills, 50);
    expect_index_true(dp(), "at the end");
    std::remove(old_file.c_str());
    std::remove(add_file.c_str());
}

// Single writes read only the services they name (svc_index, the dest
// lists and the counts in table_ctl). A few hundred random ones, each also
// run on the reference model: the same answers, the same table, and an
// index that stays true.
TEST_F(publish, single_writes_keep_the_index_true) {
    memory_dataplane ref(dp().caps(), memory_limits{dp().sizes().max_services, dp().sizes().max_dests});
    // Services to leave alone: the writes must count them without reading them.
    std::vector<std::string> rest;
    for (int s = 1; s <= 20; ++s) {
        rest.push_back(fmt::format("-A -t 10.4.0.{}:80 -s wlc", s));
        rest.push_back(fmt::format("-a -t 10.4.0.{}:80 -r 10.1.0.12:80 -m", s));
    }
    rest.push_back("-A -u 10.5.0.1:53 -s rr"); // shares a VIP with the TCP services below
    for (const auto& line : rest) {
        ASSERT_EQ(run_ipvsadm(dp(), line).exit_code, 0) << line;
        ASSERT_EQ(run_ipvsadm(ref, line).exit_code, 0) << line;
    }
    std::mt19937 rng(8);
    auto pick = [&](int n) { return std::uniform_int_distribution<int>(0, n - 1)(rng); };
    const char* scheds[] = {"rr", "wrr", "wlc", "mh", "sh", "lc"};
    const char* fwds[] = {"-g", "-m", "-i"};
    int refused = 0;
    const auto whole0 = dp().whole_reads();
    for (int op = 0; op < 400; ++op) {
        auto vip = fmt::format("10.5.0.{}:80", 1 + pick(4));
        auto rs = fmt::format("10.1.0.1{}:{}", 1 + pick(9), 80 + pick(2));
        std::string line;
        switch (pick(8)) {
        case 0: line = fmt::format("-A -t {} -s {}", vip, scheds[pick(6)]); break;
        case 1: line = fmt::format("-E -t {} -s {}", vip, scheds[pick(6)]); break;
        case 2: line = fmt::format("-D -t {}", vip); break;
        case 3:
        case 4: line = fmt::format("-a -t {} -r {} {} -w {}", vip, rs, fwds[pick(3)], pick(4)); break;
        case 5: line = fmt::format("-e -t {} -r {} {} -w {}", vip, rs, fwds[pick(3)], pick(4)); break;
        case 6: line = fmt::format("-d -t {} -r {}", vip, rs); break;
        default: line = fmt::format("-Z -t {}", vip); break;
        }
        auto got = run_ipvsadm(dp(), line);
        auto want = run_ipvsadm(ref, line);
        ASSERT_EQ(got.exit_code, want.exit_code) << "op " << op << ": " << line << "\n" << got.err << want.err;
        ASSERT_EQ(got.err, want.err) << "op " << op << ": " << line;
        refused += got.exit_code != 0;
        if (op % 20 == 19) {
            ASSERT_EQ(saved(dp()), saved(ref)) << "op " << op;
            expect_index_true(dp(), fmt::format("after op {} ({})", op, line));
        }
    }
    fmt::print("400 single writes, {} refused as the model refused them\n", refused);
    EXPECT_EQ(dp().whole_reads(), whole0) << "a single write read the whole table";
    EXPECT_GT(refused, 20);
    EXPECT_LT(refused, 300);
}

// The counts a single write takes from table_ctl hold it to the slots there
// are, with the messages of a write that reads everything; freed slots are
// found again without reading the table, however full it is.
TEST_F(publish, single_writes_count_what_they_do_not_read) {
    const auto& sz = dp().sizes();
    std::string t = "-C\n";
    for (uint32_t s = 0; s + 1 < sz.max_services; ++s) {
        t += fmt::format("-A -t 10.3.{}.{}:80 -s rr\n", s / 200, s % 200 + 1);
        for (uint32_t d = 0; d < sz.max_dests / sz.max_services; ++d) {
            t += fmt::format("-a -t 10.3.{}.{}:80 -r 10.1.0.11:{} -m\n", s / 200, s % 200 + 1, 1000 + d);
        }
    }
    const auto file = write_file(t);
    auto r = run_cmd(fmt::format("{} --pin-dir {} -R < {}", xlbctl_bin(), _xlb->pin_dir(), file));
    ASSERT_EQ(r.code, 0) << r.err;
    std::remove(file.c_str());
    const uint32_t per = sz.max_dests / sz.max_services;
    const uint32_t used = (sz.max_services - 1) * per;
    const auto whole0 = dp().whole_reads();
    // The last service slot, and the dest slots left.
    ASSERT_EQ(run_ipvsadm(dp(), "-A -t 10.2.0.1:80 -s rr").exit_code, 0);
    auto o = run_ipvsadm(dp(), "-A -t 10.2.0.2:80 -s rr");
    EXPECT_NE(o.exit_code, 0);
    EXPECT_NE(o.err.find(fmt::format("all {} service slots are in use", sz.max_services)), std::string::npos) << o.err;
    for (uint32_t d = 0; d < sz.max_dests - used; ++d) {
        ASSERT_EQ(run_ipvsadm(dp(), fmt::format("-a -t 10.2.0.1:80 -r 10.1.0.12:{} -m", 2000 + d)).exit_code, 0);
    }
    o = run_ipvsadm(dp(), "-a -t 10.2.0.1:80 -r 10.1.0.13:80 -g");
    EXPECT_NE(o.exit_code, 0);
    EXPECT_NE(o.err.find(fmt::format("all {} dest slots are in use", sz.max_dests)), std::string::npos) << o.err;
    expect_index_true(dp(), "full");
    // A health check flapping a server in the full table: each time back
    // in, its slot is the one the last write freed, found at the first probe.
    for (int i = 0; i < 300; ++i) {
        ASSERT_EQ(run_ipvsadm(dp(), "-d -t 10.3.0.9:80 -r 10.1.0.11:1003").exit_code, 0) << i;
        auto back = run_ipvsadm(dp(), "-a -t 10.3.0.9:80 -r 10.1.0.11:1003 -m");
        ASSERT_EQ(back.exit_code, 0) << i << ": " << back.err;
    }
    expect_index_true(dp(), "after 300 flaps");
    EXPECT_EQ(dp().whole_reads(), whole0) << "a flap read the whole table";
    // Freed slots come back: a dest, then a service with a dest.
    ASSERT_EQ(run_ipvsadm(dp(), "-d -t 10.3.0.1:80 -r 10.1.0.11:1000").exit_code, 0);
    ASSERT_EQ(run_ipvsadm(dp(), "-a -t 10.2.0.1:80 -r 10.1.0.13:80 -g").exit_code, 0);
    ASSERT_EQ(run_ipvsadm(dp(), "-D -t 10.3.0.2:80").exit_code, 0);
    ASSERT_EQ(run_ipvsadm(dp(), "-A -t 10.2.0.2:80 -s wlc").exit_code, 0);
    ASSERT_EQ(run_ipvsadm(dp(), "-a -t 10.2.0.2:80 -r 10.1.0.14:80 -m").exit_code, 0);
    expect_index_true(dp(), "after reuse");
    EXPECT_EQ(dp().whole_reads(), whole0) << "a single write read the whole table";
    // Two slots freed apart, then taken: the second is found by probing on
    // from the first, or past the probes' bound by a read of the whole
    // table, and either way the index stays true.
    ASSERT_EQ(run_ipvsadm(dp(), "-d -t 10.3.0.5:80 -r 10.1.0.11:1001").exit_code, 0);
    ASSERT_EQ(run_ipvsadm(dp(), "-d -t 10.3.0.200:80 -r 10.1.0.11:1002").exit_code, 0);
    ASSERT_EQ(run_ipvsadm(dp(), "-a -t 10.2.0.2:80 -r 10.1.0.15:80 -m").exit_code, 0);
    ASSERT_EQ(run_ipvsadm(dp(), "-a -t 10.2.0.2:80 -r 10.1.0.16:80 -m").exit_code, 0);
    expect_index_true(dp(), "after two apart");
    EXPECT_TRUE(syn_finds_service(dp(), "10.2.0.2", 40001));
    // And packets reach the service on a reused slot.
    EXPECT_TRUE(syn_finds_service(dp(), "10.2.0.2", 40000));
}

} // namespace
