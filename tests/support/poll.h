#pragma once
// Small helpers for tests that watch a running xlbd: waiting for a
// condition, and reading the dests of one service from `-L -n`.

#include <chrono>
#include <map>
#include <sstream>
#include <string>
#include <thread>

namespace xlb::test {

// Polls pred() every `step` until it holds (true) or `limit` passes (its
// last answer).
template <class Pred>
bool wait_for(Pred pred, std::chrono::milliseconds limit,
              std::chrono::milliseconds step = std::chrono::milliseconds(20)) {
    const auto until = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < until) {
        if (pred()) {
            return true;
        }
        std::this_thread::sleep_for(step);
    }
    return pred();
}

// The "  -> ADDR:PORT Forward Weight ..." lines of an ipvsadm -L -n
// listing: address -> weight.
inline std::map<std::string, int> dest_weights(const std::string& listing) {
    std::map<std::string, int> m;
    std::istringstream in(listing);
    std::string line;
    while (std::getline(in, line)) {
        std::istringstream l(line);
        std::string arrow, addr, fwd;
        int weight = 0;
        if (l >> arrow >> addr >> fwd >> weight && arrow == "->") {
            m[addr] = weight;
        }
    }
    return m;
}

} // namespace xlb::test
