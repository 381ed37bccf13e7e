#include <xlb/sched/cursor.h>

#include <algorithm>
#include <numeric>

namespace xlb::sched {
namespace {

// ip_vs_wrr_gcd_weight() and ip_vs_wrr_max_weight(): di of the positive
// weights (1 if none), and mw = max - (di - 1).
struct steps {
    int64_t di = 1;
    int64_t mw = 0;
};

steps steps_of(const std::vector<member>& list) {
    int32_t g = 0, max_w = 0;
    for (const auto& m : list) {
        if (m.weight > 0) {
            g = std::gcd(g, m.weight);
        }
        max_w = std::max(max_w, m.weight);
    }
    steps s;
    s.di = g ? g : 1;
    s.mw = int64_t{max_w} - (s.di - 1);
    return s;
}

// The cw of each band's first pass: mw, then down by repeats * di, as
// fill_bands() laid them out.
std::vector<int64_t> band_tops(const table& t, const steps& s) {
    std::vector<int64_t> tops;
    int64_t cw = s.mw;
    for (uint32_t b = 0; b < t.header().nbands; ++b) {
        tops.push_back(cw);
        cw -= int64_t{t.band(b).repeats} * s.di;
    }
    return tops;
}

std::optional<endpoint> addr_of(const std::vector<member>& list, uint32_t id) {
    for (const auto& m : list) {
        if (m.id == id) {
            return m.addr;
        }
    }
    return std::nullopt;
}

// The index in `list` of the dest at addr, or -1.
long index_of(const std::vector<member>& list, const endpoint& addr) {
    for (size_t i = 0; i < list.size(); ++i) {
        if (list[i].addr == addr) {
            return static_cast<long>(i);
        }
    }
    return -1;
}

// How many of a set sit at or before list position j: the set is the
// list's dests of weight >= floor_w, in list order.
uint32_t set_members_through(const std::vector<member>& list, int64_t floor_w, long j) {
    uint32_t n = 0;
    for (long i = 0; i <= j && i < static_cast<long>(list.size()); ++i) {
        n += list[i].weight >= floor_w ? 1 : 0;
    }
    return n;
}

} // namespace

mark init_mark(scheduler s, const std::vector<member>& list) {
    mark m;
    if (s == scheduler::wrr) {
        m.cw = static_cast<int32_t>(steps_of(list).mw);
    }
    return m;
}

void wrr_dest_changed(std::vector<mark>& marks, const std::vector<member>& list) {
    const steps s = steps_of(list);
    for (auto& m : marks) {
        m.cl.reset();
        if (m.cw > s.mw || m.cw == 0) {
            m.cw = static_cast<int32_t>(s.mw);
        } else if (s.di > 1) {
            m.cw = static_cast<int32_t>((m.cw / s.di) * s.di + 1);
        }
    }
}

void rr_del_dest(mark& m, const std::vector<member>& list, const endpoint& gone) {
    if (!m.cl || *m.cl != gone) {
        return;
    }
    long j = index_of(list, gone);
    if (j <= 0) {
        m.cl.reset();
    } else {
        m.cl = list[j - 1].addr;
    }
}

mark decode(const table& t, const struct xlb_sched_cursor& c, const std::vector<member>& list) {
    const auto& h = t.header();
    const bool wrr = h.sched == XLB_SCHED_WRR;
    const steps s = steps_of(list);
    mark m;
    if (h.nbands == 0) {
        // Nothing to pick: the data path leaves the cursor as the writer put it.
        if (c.gen == h.gen && c.anchor != XLB_CURSOR_MOVED && c.anchor != XLB_NO_DEST) {
            m.cl = addr_of(list, c.anchor);
        }
        return m; // wrr: cw is 0 when no dest has a weight
    }
    const auto tops = band_tops(t, s);
    auto cw_at = [&](uint32_t b, uint32_t r) { return static_cast<int32_t>(tops[b] - int64_t{r} * s.di); };
    if (c.gen != h.gen || c.band >= h.nbands || c.rep >= t.band(c.band).repeats || c.pos >= t.band(c.band).len) {
        m.cw = wrr ? cw_at(0, 0) : 0;
        return m;
    }
    if (c.anchor != XLB_CURSOR_MOVED) {
        // As the writer left it: wrr at the head of the pass, rr after its anchor.
        if (!wrr && c.anchor != XLB_NO_DEST) {
            m.cl = addr_of(list, c.anchor);
        }
        m.cw = wrr ? cw_at(c.band, c.rep) : 0;
        return m;
    }
    // Moved by a pick: the dest before the position was chosen last. At a
    // pass's first position, that is the last of the pass before it, whose
    // cw IPVS still holds.
    uint32_t b = c.band, r = c.rep, pos = c.pos;
    if (pos == 0) {
        if (r > 0) {
            --r;
        } else {
            b = b > 0 ? b - 1 : h.nbands - 1;
            r = t.band(b).repeats - 1;
        }
        pos = t.band(b).len;
    }
    m.cl = addr_of(list, t.flat(t.band(b).off + pos - 1));
    m.cw = wrr ? cw_at(b, r) : 0;
    return m;
}

struct xlb_sched_cursor encode(const table& t, const mark& m, const std::vector<member>& list) {
    const auto& h = t.header();
    const bool wrr = h.sched == XLB_SCHED_WRR;
    struct xlb_sched_cursor c {};
    c.gen = h.gen;
    c.anchor = XLB_NO_DEST;
    const long j = m.cl ? index_of(list, *m.cl) : -1;
    if (!wrr && j >= 0) {
        c.anchor = list[j].id;
    }
    if (h.nbands == 0) {
        return c;
    }
    const steps s = steps_of(list);
    const auto tops = band_tops(t, s);
    if (wrr) {
        // The pass at cw; a cw off the passes (it cannot be, after
        // ip_vs_wrr_dest_changed()) starts from the top.
        for (uint32_t b = 0; b < h.nbands; ++b) {
            int64_t over = tops[b] - m.cw;
            if (over >= 0 && over % s.di == 0 && over / s.di < t.band(b).repeats) {
                c.band = b;
                c.rep = static_cast<uint32_t>(over / s.di);
                break;
            }
        }
    }
    if (j < 0) {
        return c; // from the list head
    }
    // After the dest last chosen: the first of the set past it.
    c.pos = set_members_through(list, wrr ? tops[c.band] : 1, j);
    if (wrr) {
        if (c.pos == 0) {
            return c; // nothing of the pass before it: as from the head
        }
        c.anchor = XLB_CURSOR_MOVED;
    }
    if (c.pos >= t.band(c.band).len) {
        c.pos = 0;
        if (wrr) {
            // Past the pass's last: the next pass, as a pick would leave it.
            if (++c.rep >= t.band(c.band).repeats) {
                c.rep = 0;
                if (++c.band >= h.nbands) {
                    c.band = 0;
                }
            }
        }
    }
    return c;
}

} // namespace xlb::sched
