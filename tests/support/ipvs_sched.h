#pragma once
// IPVS's rr and wrr, transcribed from the kernel's C (net/netfilter/ipvs/
// ip_vs_rr.c, ip_vs_wrr.c) as the tests' oracle: expected choices come from
// these, never from xlb's table builder or cursors. Each keeps the list as
// IPVS does (newest first: __ip_vs_update_dest()'s list_add_rcu()) and runs
// the callbacks IPVS runs on a change. No overloads.

#include <algorithm>
#include <cstdint>
#include <numeric>
#include <vector>

namespace xlb::test {

// ip_vs_rr.c: sched_data points at the dest last chosen, or the head.
struct ipvs_rr {
    std::vector<uint32_t> list; // dest numbers
    std::vector<int> weight;    // by dest number
    long cl = -1;               // the dest number last chosen; -1: the head

    long index(long d) const {
        return std::find(list.begin(), list.end(), static_cast<uint32_t>(d)) - list.begin();
    }
    void add(uint32_t d, int w) {
        weight.resize(std::max<size_t>(weight.size(), d + 1));
        weight[d] = w;
        list.insert(list.begin(), d);
    }
    void edit(uint32_t d, int w) { weight[d] = w; }
    // ip_vs_rr_del_dest(): a pointer at it moves to the dest before it.
    void del(uint32_t d) {
        long i = index(d);
        if (cl == static_cast<long>(d)) {
            cl = i > 0 ? static_cast<long>(list[i - 1]) : -1L;
        }
        list.erase(list.begin() + i);
    }
    // ip_vs_rr_schedule(): from the one after the pointer round to it.
    long next() {
        const size_t n = list.size();
        const size_t start = cl < 0 ? 0 : static_cast<size_t>(index(cl)) + 1;
        for (size_t step = 0; step < n; ++step) {
            uint32_t d = list[(start + step) % n];
            if (weight[d] > 0) {
                cl = d;
                return d;
            }
        }
        return -1;
    }
};

// ip_vs_wrr.c: the mark {cl, cw, mw, di}.
struct ipvs_wrr {
    std::vector<uint32_t> list;
    std::vector<int> weight;
    long cl = -1; // a list index; -1: the head
    int cw = 0, mw = 0, di = 1; // ip_vs_wrr_init_svc() with no dests: cw = mw = 0

    void weights() {
        int g = 0, maxw = 0;
        for (auto d : list) {
            if (weight[d] > 0) {
                g = g > 0 ? std::gcd(weight[d], g) : weight[d];
            }
            maxw = std::max(maxw, weight[d]);
        }
        di = g ? g : 1;
        mw = maxw - (di - 1);
    }
    void init() { // ip_vs_wrr_init_svc()
        cl = -1;
        weights();
        cw = mw;
    }
    void changed() { // ip_vs_wrr_dest_changed()
        cl = -1;
        weights();
        if (cw > mw || !cw) {
            cw = mw;
        } else if (di > 1) {
            cw = (cw / di) * di + 1;
        }
    }
    void add(uint32_t d, int w) {
        weight.resize(std::max<size_t>(weight.size(), d + 1));
        weight[d] = w;
        list.insert(list.begin(), d);
        changed();
    }
    void edit(uint32_t d, int w) {
        weight[d] = w;
        changed();
    }
    void del(uint32_t d) {
        list.erase(std::find(list.begin(), list.end(), d));
        changed();
    }
    // ip_vs_wrr_schedule(), line by line.
    long next() {
        if (mw == 0) {
            return -1;
        }
        long dest = cl, last = cl, stop = -2;
        bool last_pass = false, restarted = false;
        for (;;) {
            for (++dest; dest < static_cast<long>(list.size()); ++dest) {
                if (weight[list[dest]] >= cw) {
                    cl = dest;
                    return list[dest];
                }
                if (dest == stop) {
                    cl = dest;
                    return -1;
                }
            }
            dest = -1;
            cw -= di;
            if (cw <= 0) {
                cw = mw;
                if (last_pass || last == -1) {
                    cl = -1;
                    return -1;
                }
                restarted = true;
            }
            last_pass = cw <= di;
            if (last_pass && restarted && last != -1) {
                stop = last;
            }
        }
    }
};

} // namespace xlb::test
