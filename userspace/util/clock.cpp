#include <xlb/util/clock.h>

#include <sys/utsname.h>
#include <zlib.h>

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <optional>
#include <fstream>
#include <string>
#include <thread>

namespace xlb::clock {
namespace {

std::optional<uint32_t> hz_from_line(const std::string& line) {
    const std::string key = "CONFIG_HZ=";
    if (line.rfind(key, 0) == 0) {
        auto v = std::strtoul(line.c_str() + key.size(), nullptr, 10);
        if (v > 0) {
            return static_cast<uint32_t>(v);
        }
    }
    return std::nullopt;
}

std::optional<uint32_t> hz_from_config() {
    utsname u{};
    if (uname(&u) == 0) {
        std::ifstream in(std::string("/boot/config-") + u.release);
        for (std::string line; std::getline(in, line);) {
            if (auto hz = hz_from_line(line)) {
                return hz;
            }
        }
    }
    gzFile gz = gzopen("/proc/config.gz", "rb");
    if (!gz) {
        return std::nullopt;
    }
    std::optional<uint32_t> out;
    char buf[512];
    while (!out && gzgets(gz, buf, sizeof(buf))) {
        out = hz_from_line(buf);
    }
    gzclose(gz);
    return out;
}

} // namespace

result<uint64_t> jiffies() {
    std::ifstream in("/proc/timer_list");
    if (!in) {
        return make_error(EACCES, "read /proc/timer_list (needs root)");
    }
    for (std::string line; std::getline(in, line);) {
        if (line.rfind("jiffies: ", 0) == 0) {
            return std::strtoull(line.c_str() + 9, nullptr, 10);
        }
    }
    return make_error(ENOENT, "no jiffies line in /proc/timer_list");
}

result<uint32_t> hz() {
    if (auto h = hz_from_config()) {
        return *h;
    }
    auto j0 = jiffies();
    auto t0 = std::chrono::steady_clock::now();
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    auto j1 = jiffies();
    auto t1 = std::chrono::steady_clock::now();
    if (!j0 || !j1) {
        return make_error(ENOENT, "cannot determine CONFIG_HZ");
    }
    double measured = static_cast<double>(*j1 - *j0) / std::chrono::duration<double>(t1 - t0).count();
    uint32_t best = 100;
    for (uint32_t c : {100u, 250u, 300u, 1000u}) {
        if (std::abs(measured - c) < std::abs(measured - best)) {
            best = c;
        }
    }
    return best;
}

} // namespace xlb::clock
