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

// The rr/wrr sequence as bands over one flat array of dest ids.
struct bands {
    std::vector<struct xlb_sched_band> list;
    std::vector<uint32_t> flat;
};

bands fill_bands(scheduler s, const std::vector<member>& members) {
    bands out;
    int32_t di = 0;
    int32_t max_w = 0;
    for (const auto& m : members) {
        if (m.weight > 0) {
            di = std::gcd(di, m.weight);
            max_w = std::max(max_w, m.weight);
        }
    }
    if (max_w == 0) {
        return out; // no dest takes new flows
    }
    auto add_band = [&](int32_t cw, uint32_t repeats) {
        struct xlb_sched_band b {};
        b.off = static_cast<uint32_t>(out.flat.size());
        b.repeats = repeats;
        for (const auto& m : members) {
            if (m.weight >= cw) {
                out.flat.push_back(m.id);
            }
        }
        b.len = static_cast<uint32_t>(out.flat.size()) - b.off;
        out.list.push_back(b);
    };
    if (s != scheduler::wrr) {
        add_band(1, 1);
        return out;
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
    return out;
}

// ip_vs_sh_reassign() / ip_vs_dh_reassign(): walk the list round and round,
// giving each dest `per_turn(dest)` consecutive buckets.
template <class F>
std::vector<uint32_t> fill_buckets(const std::vector<member>& members, F per_turn) {
    std::vector<uint32_t> buckets(XLB_SH_TAB_SIZE, XLB_NO_DEST);
    if (members.empty()) {
        return buckets;
    }
    size_t p = 0;
    int32_t count = 0;
    for (uint32_t i = 0; i < XLB_SH_TAB_SIZE; ++i) {
        buckets[i] = members[p].id;
        if (++count >= per_turn(members[p])) {
            p = (p + 1) % members.size();
            count = 0;
        }
    }
    return buckets;
}

template <class T, size_t N>
uint32_t chunks_for(size_t n, const T (&)[N]) {
    return static_cast<uint32_t>((n + N - 1) / N);
}

uint32_t fold_host(const endpoint& e) {
    uint32_t words[4];
    std::memcpy(words, e.addr.bytes().data(), 16);
    return ntohl(xlb_addr_fold(words, !e.addr.is_v4()));
}

} // namespace

uint32_t max_dests(scheduler s) noexcept { return scans_dests(s) ? XLB_MAX_DESTS_SCANNED : XLB_MAX_DESTS_HASHED; }

uint32_t table::flat(uint32_t i) const noexcept {
    return chunks[header().flat_at + i / XLB_SCHED_CHUNK_IDS].ids[i % XLB_SCHED_CHUNK_IDS];
}

const struct xlb_sched_band& table::band(uint32_t i) const noexcept {
    return chunks[header().bands_at + i / XLB_SCHED_CHUNK_BANDS].bands[i % XLB_SCHED_CHUNK_BANDS];
}

struct xlb_sched_member table::member(uint32_t i) const noexcept {
    return chunks[header().members_at + i / XLB_SCHED_CHUNK_MEMBERS].members[i % XLB_SCHED_CHUNK_MEMBERS];
}

uint32_t table::bucket(uint32_t i) const noexcept {
    if (header().buckets_at == 0) {
        return XLB_NO_DEST;
    }
    return chunks[header().buckets_at + i / XLB_SCHED_CHUNK_IDS].ids[i % XLB_SCHED_CHUNK_IDS];
}

result<table> build_table(const service_config& svc, const std::vector<member>& members, uint32_t gen) {
    if (members.size() > max_dests(svc.sched)) {
        return make_error(E2BIG, "a service scheduled by {} has at most {} dests", to_string(svc.sched),
                          max_dests(svc.sched));
    }
    struct xlb_sched_table h {};
    h.gen = gen;
    h.sched = static_cast<uint32_t>(svc.sched);
    h.ipvs_flags = (svc.flags & ~XLB_SVC_PE_SIP) | (svc.pe_name == "sip" ? XLB_SVC_PE_SIP : 0u);
    h.timeout = svc.timeout;
    // The data path masks network-order words: an IPv4 mask goes in network
    // order, an IPv6 prefix length as a number.
    h.netmask = svc.key.vip.addr.is_v4() ? htonl(svc.netmask) : svc.netmask;

    // Only the regions this scheduler reads: rr/wrr the bands, sh/dh the
    // buckets, the scanning schedulers the members.
    bands b;
    std::vector<uint32_t> buckets;
    bool scanned = scans_dests(svc.sched);
    if (svc.sched == scheduler::rr || svc.sched == scheduler::wrr) {
        b = fill_bands(svc.sched, members);
    } else if (svc.sched == scheduler::sh) {
        // A weight below 1 still takes one bucket per turn, as in IPVS; the
        // data path skips it when it looks.
        buckets = fill_buckets(members, [](const member& m) { return std::max<int32_t>(m.weight, 1); });
    } else if (svc.sched == scheduler::dh) {
        buckets = fill_buckets(members, [](const member&) { return 1; });
    }
    union xlb_sched_chunk probe {};
    uint32_t next = 1;
    h.nbands = static_cast<uint32_t>(b.list.size());
    h.bands_at = next;
    next += chunks_for(b.list.size(), probe.bands);
    h.flat_len = static_cast<uint32_t>(b.flat.size());
    h.flat_at = next;
    next += chunks_for(b.flat.size(), probe.ids);
    h.nmembers = scanned ? static_cast<uint32_t>(members.size()) : 0;
    h.members_at = next;
    next += chunks_for(h.nmembers, probe.members);
    h.buckets_at = buckets.empty() ? 0 : next;
    next += chunks_for(buckets.size(), probe.ids);
    h.nchunks = next;

    table t;
    t.chunks.resize(next);
    std::memset(t.chunks.data(), 0, t.bytes());
    t.chunks[0].hdr = h;
    for (size_t i = 0; i < b.list.size(); ++i) {
        t.chunks[h.bands_at + i / XLB_SCHED_CHUNK_BANDS].bands[i % XLB_SCHED_CHUNK_BANDS] = b.list[i];
    }
    for (size_t i = 0; i < b.flat.size(); ++i) {
        t.chunks[h.flat_at + i / XLB_SCHED_CHUNK_IDS].ids[i % XLB_SCHED_CHUNK_IDS] = b.flat[i];
    }
    for (size_t i = 0; i < h.nmembers; ++i) {
        t.chunks[h.members_at + i / XLB_SCHED_CHUNK_MEMBERS].members[i % XLB_SCHED_CHUNK_MEMBERS] = {
            members[i].id, members[i].weight};
    }
    for (size_t i = 0; i < buckets.size(); ++i) {
        t.chunks[h.buckets_at + i / XLB_SCHED_CHUNK_IDS].ids[i % XLB_SCHED_CHUNK_IDS] = buckets[i];
    }
    return t;
}

std::vector<uint32_t> expand(const table& t) {
    std::vector<uint32_t> seq;
    for (uint32_t b = 0; b < t.header().nbands; ++b) {
        const auto& band = t.band(b);
        for (uint32_t r = 0; r < band.repeats; ++r) {
            for (uint32_t i = 0; i < band.len; ++i) {
                seq.push_back(t.flat(band.off + i));
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
