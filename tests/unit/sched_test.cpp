#include "support/ipvs_sched.h"

#include <xlb/ipvs_hash.h>
#include <xlb/sched/cursor.h>
#include <xlb/sched/table.h>

#include <fmt/format.h>

#include <gtest/gtest.h>

#include <map>
#include <numeric>
#include <random>
#include <type_traits>

using namespace xlb;
using sched::member;

namespace {

// The IPVS wrr walk, written directly from ip_vs_wrr.c for comparison:
// cl starts at the list head, cw at mw; each call scans on from cl.
std::vector<uint32_t> ipvs_wrr_reference(const std::vector<member>& m, size_t n) {
    int di = 0, maxw = 0;
    for (const auto& x : m) {
        if (x.weight > 0) {
            di = std::gcd(di, x.weight);
            maxw = std::max(maxw, x.weight);
        }
    }
    std::vector<uint32_t> out;
    if (maxw == 0) {
        return out;
    }
    int mw = maxw - (di - 1);
    int cw = mw;
    int cl = -1; // list head
    while (out.size() < n) {
        for (;;) {
            ++cl;
            if (cl == static_cast<int>(m.size())) {
                cl = -1;
                cw -= di;
                if (cw <= 0) {
                    cw = mw;
                }
                continue;
            }
            if (m[cl].weight >= cw) {
                out.push_back(m[cl].id);
                break;
            }
        }
    }
    return out;
}

service_config svc(scheduler s) {
    service_config c;
    c.sched = s;
    return c;
}

std::string letters(const std::vector<uint32_t>& ids) {
    std::string s;
    for (auto id : ids) {
        s += static_cast<char>('A' + id);
    }
    return s;
}

} // namespace

TEST(wrr, weights_4_3_2_give_the_ipvs_sequence) {
    auto t = sched::build_table(svc(scheduler::wrr), {{0, 4}, {1, 3}, {2, 2}}, 1);
    ASSERT_TRUE(t);
    EXPECT_EQ(letters(sched::expand(*t)), "AABABCABC");
    EXPECT_EQ(t->header().nbands, 3u);
}

TEST(wrr, gcd_steps_the_current_weight) {
    // di = 2, mw = 3: cw 3 -> A; cw 1 -> A B.
    auto t = sched::build_table(svc(scheduler::wrr), {{0, 4}, {1, 2}}, 1);
    ASSERT_TRUE(t);
    EXPECT_EQ(letters(sched::expand(*t)), "AAB");
}

TEST(wrr, matches_the_reference_walk_for_many_weight_sets) {
    std::vector<std::vector<int>> sets = {{1},          {5, 5, 5},       {100, 1},  {7, 3, 0, 2}, {0, 0, 9},
                                          {6, 4, 2, 8}, {65535, 65534},  {3, 6, 9}, {10, 20, 30, 40, 50}};
    for (const auto& ws : sets) {
        std::vector<member> m;
        for (size_t i = 0; i < ws.size(); ++i) {
            m.push_back({static_cast<uint32_t>(i), ws[i]});
        }
        auto t = sched::build_table(svc(scheduler::wrr), m, 7);
        ASSERT_TRUE(t);
        auto period = sched::expand(*t);
        // Two periods of the table equal the reference's first 2 * period picks.
        auto twice = period;
        twice.insert(twice.end(), period.begin(), period.end());
        EXPECT_EQ(twice, ipvs_wrr_reference(m, twice.size())) << "weights " << ::testing::PrintToString(ws);
    }
}

TEST(wrr, large_weights_and_many_dests_size_the_table_to_its_bands) {
    std::vector<member> m;
    for (uint32_t i = 0; i < 512; ++i) {
        m.push_back({i, static_cast<int32_t>(65535 - i * 37)});
    }
    auto t = sched::build_table(svc(scheduler::wrr), m, 1);
    ASSERT_TRUE(t);
    EXPECT_EQ(t->header().nbands, 512u);
    EXPECT_EQ(t->header().flat_len, 512u * 513 / 2) << "every band holds the dests of weight >= its cw";
    // Header, bands (4 a chunk), flat ids (16 a chunk): nothing else.
    EXPECT_EQ(t->chunks.size(), 1 + 512 / 4 + (512 * 513 / 2 + 15) / 16);
    EXPECT_EQ(t->header().nchunks, t->chunks.size());
}

TEST(table, holds_only_what_its_scheduler_reads) {
    std::vector<member> m;
    for (uint32_t i = 0; i < XLB_MAX_DESTS_HASHED; ++i) {
        m.push_back({i, 1});
    }
    // rr at 4,096: one band of 4,096 ids, 16 KB and a bit.
    auto rr = sched::build_table(svc(scheduler::rr), m, 1);
    ASSERT_TRUE(rr);
    EXPECT_EQ(rr->chunks.size(), 1u + 1 + XLB_MAX_DESTS_HASHED / XLB_SCHED_CHUNK_IDS);
    EXPECT_EQ(rr->header().nmembers, 0u);
    EXPECT_EQ(rr->header().buckets_at, 0u);
    auto seq = sched::expand(*rr);
    ASSERT_EQ(seq.size(), XLB_MAX_DESTS_HASHED);
    for (uint32_t i = 0; i < seq.size(); ++i) {
        ASSERT_EQ(seq[i], i);
    }
    // mh: the header only; its lookup table is a map of its own.
    auto mh = sched::build_table(svc(scheduler::mh), m, 1);
    ASSERT_TRUE(mh);
    EXPECT_EQ(mh->chunks.size(), 1u);
    // sh: the header and 256 buckets.
    auto sh = sched::build_table(svc(scheduler::sh), m, 1);
    ASSERT_TRUE(sh);
    EXPECT_EQ(sh->chunks.size(), 1u + XLB_SH_TAB_CHUNKS);
    // wlc: the members, 8 a chunk.
    m.resize(XLB_MAX_DESTS_SCANNED);
    auto wlc = sched::build_table(svc(scheduler::wlc), m, 1);
    ASSERT_TRUE(wlc);
    EXPECT_EQ(wlc->chunks.size(), 1u + XLB_MAX_DESTS_SCANNED / XLB_SCHED_CHUNK_MEMBERS);
    EXPECT_EQ(wlc->member(XLB_MAX_DESTS_SCANNED - 1).id, XLB_MAX_DESTS_SCANNED - 1);
}

TEST(wrr, weight_zero_takes_nothing_and_all_zero_is_empty) {
    // The gcd of the positive weights (2) steps cw, so B is picked once per period.
    auto t = sched::build_table(svc(scheduler::wrr), {{0, 0}, {1, 2}, {2, 0}}, 1);
    ASSERT_TRUE(t);
    EXPECT_EQ(letters(sched::expand(*t)), "B");
    auto none = sched::build_table(svc(scheduler::wrr), {{0, 0}, {1, 0}}, 1);
    ASSERT_TRUE(none);
    EXPECT_EQ(none->header().nbands, 0u);
}

TEST(rr, visits_each_positive_weight_dest_once) {
    auto t = sched::build_table(svc(scheduler::rr), {{0, 5}, {1, 0}, {2, 1}}, 1);
    ASSERT_TRUE(t);
    EXPECT_EQ(letters(sched::expand(*t)), "AC");
}

TEST(table, refuses_more_dests_than_the_schedulers_bound) {
    std::vector<member> m(XLB_MAX_DESTS_HASHED + 1, member{0, 1});
    for (auto s : {scheduler::rr, scheduler::wrr, scheduler::sh, scheduler::dh, scheduler::mh}) {
        EXPECT_EQ(sched::max_dests(s), XLB_MAX_DESTS_HASHED);
        auto t = sched::build_table(svc(s), m, 1);
        ASSERT_FALSE(t);
        EXPECT_EQ(t.error().code, E2BIG);
        m.pop_back();
        EXPECT_TRUE(sched::build_table(svc(s), m, 1));
        m.push_back(m.back());
    }
    m.resize(XLB_MAX_DESTS_SCANNED + 1);
    for (auto s : {scheduler::lc, scheduler::wlc, scheduler::sed, scheduler::nq, scheduler::fo, scheduler::ovf,
                   scheduler::twos}) {
        EXPECT_EQ(sched::max_dests(s), XLB_MAX_DESTS_SCANNED);
        auto t = sched::build_table(svc(s), m, 1);
        ASSERT_FALSE(t);
        EXPECT_EQ(t.error().code, E2BIG);
        EXPECT_NE(t.error().message().find(std::to_string(XLB_MAX_DESTS_SCANNED)), std::string::npos);
    }
}

// --- sh, dh, mh tables -----------------------------------------------------------

namespace {

sched::member m(uint32_t id, int32_t w, const char* addr = "10.0.0.1:80") {
    return {id, w, *endpoint::parse(addr), 0};
}

std::map<uint32_t, size_t> slot_counts(const std::vector<uint32_t>& table) {
    std::map<uint32_t, size_t> n;
    for (auto id : table) {
        ++n[id];
    }
    return n;
}

} // namespace

TEST(sh, buckets_follow_ip_vs_sh_reassign) {
    // Weights 2 and 1 in list order: A A B, A A B, ... over 256 buckets.
    auto t = sched::build_table(svc(scheduler::sh), {m(0, 2), m(1, 1)}, 1);
    ASSERT_TRUE(t);
    for (uint32_t i = 0; i < XLB_SH_TAB_SIZE; ++i) {
        EXPECT_EQ(t->bucket(i), i % 3 == 2 ? 1u : 0u) << i;
    }
    // A weight-0 dest still takes one bucket per turn; the data path skips it.
    auto z = sched::build_table(svc(scheduler::sh), {m(0, 0), m(1, 1)}, 1);
    EXPECT_EQ(z->bucket(0), 0u);
    EXPECT_EQ(z->bucket(1), 1u);
    auto none = sched::build_table(svc(scheduler::sh), {}, 1);
    EXPECT_EQ(none->bucket(7), XLB_NO_DEST);
}

TEST(dh, buckets_ignore_weights) {
    auto t = sched::build_table(svc(scheduler::dh), {m(0, 5), m(1, 1), m(2, 1)}, 1);
    ASSERT_TRUE(t);
    for (uint32_t i = 0; i < XLB_SH_TAB_SIZE; ++i) {
        EXPECT_EQ(t->bucket(i), i % 3) << i;
    }
}

TEST(hashes, match_the_kernel_definitions) {
    // hash_32(v, 8) is the top 8 bits of v * 0x61C88647.
    EXPECT_EQ(xlb_hash_32(1, 8), 0x61u);
    EXPECT_EQ(xlb_hash_32(0, 8), 0u);
    // SipHash-1-3 is deterministic for fixed keys, and the two keys differ.
    EXPECT_EQ(xlb_hsiphash_u32(42, XLB_MH_HASH1, XLB_MH_HASH1), xlb_hsiphash_u32(42, XLB_MH_HASH1, XLB_MH_HASH1));
    EXPECT_NE(xlb_hsiphash_u32(42, XLB_MH_HASH1, XLB_MH_HASH1), xlb_hsiphash_u32(42, XLB_MH_HASH2, XLB_MH_HASH2));
}

TEST(mh, fills_every_slot_in_proportion_to_weight) {
    std::vector<sched::member> ms = {m(0, 2, "10.0.0.1:80"), m(1, 1, "10.0.0.2:80"), m(2, 1, "10.0.0.3:80")};
    auto table = sched::build_maglev(ms, 65537);
    auto n = slot_counts(table);
    EXPECT_EQ(n.count(XLB_NO_DEST), 0u) << "every slot has a dest";
    EXPECT_NEAR(static_cast<double>(n[0]) / 65537, 0.5, 0.01);
    EXPECT_NEAR(static_cast<double>(n[1]) / 65537, 0.25, 0.01);
    EXPECT_EQ(table, sched::build_maglev(ms, 65537)) << "deterministic: every director builds the same table";
}

TEST(mh, a_quiesced_dest_keeps_its_slots) {
    std::vector<sched::member> ms = {m(0, 1, "10.0.0.1:80"), m(1, 1, "10.0.0.2:80")};
    auto before = sched::build_maglev(ms, 251);
    ms[1].weight = 0;
    ms[1].last_weight = 1;
    EXPECT_EQ(sched::build_maglev(ms, 251), before);
}

TEST(mh, removing_one_of_n_moves_about_one_nth) {
    // Maglev: removing 1 of N dests must move that dest's share (1/N) and
    // only a little more. Bound: at most 1/N + 3% of the slots change.
    const int n = 10;
    std::vector<sched::member> ms;
    for (int i = 0; i < n; ++i) {
        ms.push_back(m(static_cast<uint32_t>(i), 1, fmt::format("10.0.1.{}:80", i + 1).c_str()));
    }
    auto before = sched::build_maglev(ms, 65537);
    ms.erase(ms.begin() + 4);
    auto after = sched::build_maglev(ms, 65537);
    size_t moved = 0;
    for (size_t i = 0; i < before.size(); ++i) {
        moved += before[i] != after[i];
    }
    double frac = static_cast<double>(moved) / static_cast<double>(before.size());
    EXPECT_GE(frac, 1.0 / n - 0.01) << "the removed dest's slots move";
    EXPECT_LE(frac, 1.0 / n + 0.03) << "and few others";
}

TEST(mh, prime_check) {
    EXPECT_TRUE(sched::is_prime(65537));
    EXPECT_TRUE(sched::is_prime(251));
    EXPECT_FALSE(sched::is_prime(65536));
    EXPECT_FALSE(sched::is_prime(1));
}

// --- cursors carried across changes (<xlb/sched/cursor.h>) -------------------
//
// Random lists and random changes, run twice: through the transcription of
// ip_vs_wrr.c / ip_vs_rr.c in support/ipvs_sched.h (its own list pointer
// and cw), and through xlb's marks, tables and cursors. After each change the cursor
// encode() writes must walk the table into exactly the kernel's next picks,
// and decode() of where the walk stops must carry on from there.

namespace {

endpoint ep_of(uint32_t id) { return {*ip_address::parse(fmt::format("10.9.{}.{}", id / 200, id % 200 + 1)), 80}; }

// The data path's walk without overloads: the entry under the cursor, then on.
std::vector<long> walk(const sched::table& t, struct xlb_sched_cursor& c, size_t n) {
    std::vector<long> out;
    if (t.header().nbands == 0) {
        return std::vector<long>(n, -1);
    }
    if (c.gen != t.header().gen) {
        c = {t.header().gen, 0, 0, 0, 0, 0};
    }
    for (size_t i = 0; i < n; ++i) {
        const auto& b = t.band(c.band);
        out.push_back(t.flat(b.off + c.pos));
        if (++c.pos >= b.len) {
            c.pos = 0;
            if (++c.rep >= b.repeats) {
                c.rep = 0;
                if (++c.band >= t.header().nbands) {
                    c.band = 0;
                }
            }
        }
        c.anchor = XLB_CURSOR_MOVED;
    }
    return out;
}

template <class Oracle>
void carry_and_compare(uint64_t seed) {
    constexpr bool wrr = std::is_same_v<Oracle, test::ipvs_wrr>;
    std::mt19937_64 rng(seed);
    Oracle k; // the kernel's state: ipvs_wrr's callbacks run inside add/edit/del
    const scheduler s = wrr ? scheduler::wrr : scheduler::rr;
    sched::mark m = sched::init_mark(s, {});
    std::vector<member> list; // xlb's copy, with addresses
    uint32_t next_id = 0, gen = 1;
    auto dest_changed = [&] {
        std::vector<sched::mark> ms{m};
        if (wrr) {
            sched::wrr_dest_changed(ms, list);
        }
        m = ms[0];
    };
    for (int step = 0; step < 120; ++step) {
        // One change, as ipvsadm makes it.
        const auto op = list.empty() ? 0 : rng() % 3;
        const int w = static_cast<int>(rng() % 4 == 0 ? 0 : (rng() % 3 + 1) * (rng() % 2 ? 2 : 1));
        if (op == 0 && list.size() < 12) {
            list.insert(list.begin(), member{next_id, w, ep_of(next_id), 0});
            k.add(next_id++, w);
            dest_changed();
        } else if (op == 1) {
            auto& d = list[rng() % list.size()];
            d.weight = w;
            k.edit(d.id, w);
            dest_changed();
        } else if (!list.empty()) {
            auto it = list.begin() + static_cast<long>(rng() % list.size());
            if (!wrr) {
                sched::rr_del_dest(m, list, it->addr);
            }
            k.del(it->id);
            list.erase(it);
            dest_changed();
        }
        // The new table, the carried cursor, and the picks either way.
        auto t = sched::build_table(svc(s), list, ++gen).value();
        auto c = sched::encode(t, m, list);
        const size_t n = 1 + rng() % 25;
        auto got = walk(t, c, n);
        for (size_t j = 0; j < n; ++j) {
            ASSERT_EQ(got[j], k.next()) << (wrr ? "wrr" : "rr") << " seed " << seed << ", change " << step
                                        << ", pick " << j;
        }
        m = sched::decode(t, c, list);
    }
}

} // namespace

TEST(cursor, wrr_carried_across_random_changes_picks_as_ipvs) {
    for (uint64_t seed = 1; seed <= 40; ++seed) {
        carry_and_compare<test::ipvs_wrr>(seed);
    }
}

TEST(cursor, rr_carried_across_random_changes_picks_as_ipvs) {
    for (uint64_t seed = 1; seed <= 40; ++seed) {
        carry_and_compare<test::ipvs_rr>(seed);
    }
}
