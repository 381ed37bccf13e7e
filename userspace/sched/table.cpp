#include <xlb/ipvs_hash.h>
#include <xlb/sched/table.h>

#include <arpa/inet.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstring>
#include <numeric>

namespace xlb::sched {
namespace {

void fill_bands(struct xlb_sched_table& t, scheduler s, const std::vector<member>& members) {
    int32_t di = 0;
    int32_t max_w = 0;
    for (const auto& m : members) {
        if (m.weight > 0) {
            di = std::gcd(di, m.weight);
            max_w = std::max(max_w, m.weight);
        }
    }
    if (max_w == 0) {
        return; // no dest takes new flows
    }
    auto add_band = [&](int32_t cw, uint32_t repeats) {
        auto& b = t.bands[t.nbands++];
        b.off = t.flat_len;
        b.repeats = repeats;
        for (const auto& m : members) {
            if (m.weight >= cw) {
                t.flat[t.flat_len++] = m.id;
            }
        }
        b.len = t.flat_len - b.off;
    };
    if (s != scheduler::wrr) {
        add_band(1, 1);
        return;
    }
    // wrr: the set {w >= cw} changes only when cw crosses a weight, so runs
    // of equal sets become one band.
    std::vector<int32_t> weights;
    for (const auto& m : members) {
        if (m.weight > 0) {
            weights.push_back(m.weight);
        }
    }
    std::sort(weights.begin(), weights.end());
    // 64-bit steps: weights go up to INT_MAX, and cw - floor + di - 1 with them.
    int64_t cw = int64_t{max_w} - (di - 1);
    while (cw > 0) {
        auto below = std::lower_bound(weights.begin(), weights.end(), cw);
        int64_t floor_w = below == weights.begin() ? 0 : *(below - 1);
        auto levels = static_cast<uint32_t>((cw - floor_w + di - 1) / di);
        add_band(static_cast<int32_t>(cw), levels);
        cw -= int64_t{levels} * di;
    }
}

// ip_vs_sh_reassign() / ip_vs_dh_reassign(): walk the list round and round,
// giving each dest `per_turn(dest)` consecutive buckets.
template <class F>
void fill_buckets(struct xlb_sched_table& t, const std::vector<member>& members, F per_turn) {
    std::fill(std::begin(t.buckets), std::end(t.buckets), XLB_NO_DEST);
    if (members.empty()) {
        return;
    }
    size_t p = 0;
    int32_t count = 0;
    for (uint32_t i = 0; i < XLB_SH_TAB_SIZE; ++i) {
        t.buckets[i] = members[p].id;
        if (++count >= per_turn(members[p])) {
            p = (p + 1) % members.size();
            count = 0;
        }
    }
}

uint32_t fold_host(const endpoint& e) {
    uint32_t words[4];
    std::memcpy(words, e.addr.bytes().data(), 16);
    return ntohl(xlb_addr_fold(words, !e.addr.is_v4()));
}

} // namespace

result<std::unique_ptr<struct xlb_sched_table>> build_table(const service_config& svc,
                                                            const std::vector<member>& members, uint32_t gen) {
    if (members.size() > XLB_MAX_DESTS_PER_SVC) {
        return make_error(E2BIG, "a service has at most {} dests", XLB_MAX_DESTS_PER_SVC);
    }
    auto t = std::make_unique<struct xlb_sched_table>();
    std::memset(t.get(), 0, sizeof(*t));
    t->gen = gen;
    t->sched = static_cast<uint32_t>(svc.sched);
    t->ipvs_flags = (svc.flags & ~XLB_SVC_PE_SIP) | (svc.pe_name == "sip" ? XLB_SVC_PE_SIP : 0u);
    t->timeout = svc.timeout;
    // The data path masks network-order words: an IPv4 mask goes in network
    // order, an IPv6 prefix length as a number.
    t->netmask = svc.key.vip.addr.is_v4() ? htonl(svc.netmask) : svc.netmask;
    t->nmembers = static_cast<uint32_t>(members.size());
    for (size_t i = 0; i < members.size(); ++i) {
        t->members[i] = {members[i].id, members[i].weight};
    }
    if (svc.sched == scheduler::rr || svc.sched == scheduler::wrr) {
        fill_bands(*t, svc.sched, members);
    }
    if (svc.sched == scheduler::sh) {
        // A weight below 1 still takes one bucket per turn, as in IPVS; the
        // data path skips it when it looks.
        fill_buckets(*t, members, [](const member& m) { return std::max<int32_t>(m.weight, 1); });
    } else if (svc.sched == scheduler::dh) {
        fill_buckets(*t, members, [](const member&) { return 1; });
    } else {
        std::fill(std::begin(t->buckets), std::end(t->buckets), XLB_NO_DEST);
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

bool is_prime(uint32_t n) noexcept {
    if (n < 2) {
        return false;
    }
    for (uint32_t d = 2; d * d <= n; ++d) {
        if (n % d == 0) {
            return false;
        }
    }
    return true;
}

std::vector<uint32_t> build_maglev(const std::vector<member>& members, uint32_t size) {
    std::vector<uint32_t> table(size, XLB_NO_DEST);
    struct setup {
        uint32_t offset, skip, perm;
        int32_t turns;
    };
    auto lw_of = [](const member& m) { return m.last_weight > 0 ? m.last_weight : std::max(m.weight, 0); };
    int32_t gcd = 0, max_w = 0;
    for (const auto& m : members) {
        if (int32_t lw = lw_of(m); lw > 0) {
            gcd = std::gcd(gcd, lw);
            max_w = std::max(max_w, lw);
        }
    }
    if (gcd == 0 || size < 2) {
        return table;
    }
    // ip_vs_mh_shift_weight(): keep weight/gcd within the table's half bits.
    int tab_bits = std::bit_width(size) - 1;
    int shift = std::bit_width(static_cast<uint32_t>(max_w / gcd)) - tab_bits / 2;
    shift = std::max(shift, 0);

    std::vector<setup> ds;
    for (const auto& m : members) {
        uint32_t fold = fold_host(m.addr);
        setup s{};
        s.offset = xlb_mh_hashkey(fold, m.addr.port, XLB_MH_HASH1, 0) % size;
        s.skip = xlb_mh_hashkey(fold, m.addr.port, XLB_MH_HASH2, 0) % (size - 1) + 1;
        s.perm = s.offset;
        int32_t lw = lw_of(m);
        int32_t turns = (lw / gcd) >> shift;
        s.turns = turns ? turns : (lw != 0);
        ds.push_back(s);
    }
    std::vector<bool> taken(size, false);
    uint32_t n = 0;
    while (n < size) {
        for (size_t i = 0; i < members.size() && n < size; ++i) {
            for (int32_t turn = 0; turn < ds[i].turns && n < size; ++turn) {
                uint32_t c = ds[i].perm;
                while (taken[c]) {
                    ds[i].perm += ds[i].skip;
                    if (ds[i].perm >= size) {
                        ds[i].perm -= size;
                    }
                    c = ds[i].perm;
                }
                taken[c] = true;
                table[c] = members[i].id;
                ++n;
            }
        }
    }
    return table;
}

} // namespace xlb::sched
