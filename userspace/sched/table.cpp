#include <xlb/sched/table.h>

#include <algorithm>
#include <cerrno>
#include <numeric>

namespace xlb::sched {

result<std::unique_ptr<struct xlb_sched_table>> build_table(scheduler s, const std::vector<member>& members,
                                                            uint32_t gen) {
    if (members.size() > XLB_MAX_DESTS_PER_SVC) {
        return make_error(E2BIG, "a service has at most {} dests", XLB_MAX_DESTS_PER_SVC);
    }
    auto t = std::make_unique<struct xlb_sched_table>();
    *t = {};
    t->gen = gen;

    int32_t di = 0;
    int32_t max_w = 0;
    for (const auto& m : members) {
        if (m.weight > 0) {
            di = std::gcd(di, m.weight);
            max_w = std::max(max_w, m.weight);
        }
    }
    if (max_w == 0) {
        return t; // no dest takes new flows
    }

    auto add_band = [&](int32_t cw, uint32_t repeats) {
        auto& b = t->bands[t->nbands++];
        b.off = t->flat_len;
        b.repeats = repeats;
        for (const auto& m : members) {
            if (m.weight >= cw) {
                t->flat[t->flat_len++] = m.id;
            }
        }
        b.len = t->flat_len - b.off;
    };

    if (s == scheduler::rr) {
        add_band(1, 1);
        return t;
    }

    // wrr: walk cw = mw, mw - di, ... > 0. The set {w >= cw} changes only
    // when cw crosses a weight, so runs of equal sets become one band.
    int32_t mw = max_w - (di - 1);
    std::vector<int32_t> weights;
    for (const auto& m : members) {
        if (m.weight > 0) {
            weights.push_back(m.weight);
        }
    }
    std::sort(weights.begin(), weights.end());
    int32_t cw = mw;
    while (cw > 0) {
        // Levels cw, cw - di, ... down to (not below) the largest weight < cw
        // select the same dests: those with weight >= cw.
        auto below = std::lower_bound(weights.begin(), weights.end(), cw);
        int32_t floor_w = below == weights.begin() ? 0 : *(below - 1);
        // Number of levels in (floor_w, cw] stepping by di.
        uint32_t levels = static_cast<uint32_t>((cw - floor_w + di - 1) / di);
        add_band(cw, levels);
        cw -= static_cast<int32_t>(levels) * di;
    }
    return t;
}

std::vector<uint32_t> expand(const struct xlb_sched_table& t) {
    std::vector<uint32_t> seq;
    for (uint32_t b = 0; b < t.nbands; ++b) {
        const auto& band = t.bands[b];
        for (uint32_t r = 0; r < band.repeats; ++r) {
            for (uint32_t i = 0; i < band.len; ++i) {
                seq.push_back(t.flat[band.off + i]);
            }
        }
    }
    return seq;
}

} // namespace xlb::sched
