#include <xlb/sched/table.h>

#include <gtest/gtest.h>

#include <map>
#include <numeric>

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
    EXPECT_EQ(letters(sched::expand(**t)), "AABABCABC");
    EXPECT_EQ((*t)->nbands, 3u);
}

TEST(wrr, gcd_steps_the_current_weight) {
    // di = 2, mw = 3: cw 3 -> A; cw 1 -> A B.
    auto t = sched::build_table(svc(scheduler::wrr), {{0, 4}, {1, 2}}, 1);
    ASSERT_TRUE(t);
    EXPECT_EQ(letters(sched::expand(**t)), "AAB");
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
        auto period = sched::expand(**t);
        // Two periods of the table equal the reference's first 2 * period picks.
        auto twice = period;
        twice.insert(twice.end(), period.begin(), period.end());
        EXPECT_EQ(twice, ipvs_wrr_reference(m, twice.size())) << "weights " << ::testing::PrintToString(ws);
    }
}

TEST(wrr, large_weights_stay_within_the_flat_bound) {
    std::vector<member> m;
    for (uint32_t i = 0; i < XLB_MAX_DESTS_PER_SVC; ++i) {
        m.push_back({i, static_cast<int32_t>(65535 - i * 37)});
    }
    auto t = sched::build_table(svc(scheduler::wrr), m, 1);
    ASSERT_TRUE(t);
    EXPECT_LE((*t)->flat_len, static_cast<uint32_t>(XLB_SCHED_FLAT_MAX));
    EXPECT_EQ((*t)->nbands, XLB_MAX_DESTS_PER_SVC);
}

TEST(wrr, weight_zero_takes_nothing_and_all_zero_is_empty) {
    // The gcd of the positive weights (2) steps cw, so B is picked once per period.
    auto t = sched::build_table(svc(scheduler::wrr), {{0, 0}, {1, 2}, {2, 0}}, 1);
    ASSERT_TRUE(t);
    EXPECT_EQ(letters(sched::expand(**t)), "B");
    auto none = sched::build_table(svc(scheduler::wrr), {{0, 0}, {1, 0}}, 1);
    ASSERT_TRUE(none);
    EXPECT_EQ((*none)->nbands, 0u);
}

TEST(rr, visits_each_positive_weight_dest_once) {
    auto t = sched::build_table(svc(scheduler::rr), {{0, 5}, {1, 0}, {2, 1}}, 1);
    ASSERT_TRUE(t);
    EXPECT_EQ(letters(sched::expand(**t)), "AC");
}

TEST(table, refuses_more_dests_than_the_bound) {
    std::vector<member> m(XLB_MAX_DESTS_PER_SVC + 1, member{0, 1});
    auto t = sched::build_table(svc(scheduler::rr), m, 1);
    ASSERT_FALSE(t);
    EXPECT_EQ(t.error().code, E2BIG);
}
