#pragma once
// katran_driver: loads Katran's XDP balancer (facebookincubator/katran,
// katran/lib/bpf/balancer.bpf.c, built outside this repository with its
// default options: IPIP encapsulation, per-CPU LRU) and programs its maps
// directly, so the benchmark can run it next to xlb in the same process.

#include <xlb/util/fd.h>

#include <array>
#include <cstdint>
#include <string>
#include <vector>

struct bpf_object;

namespace xlb::bench {

class katran_driver {
public:
    // Opens and loads the object at obj_path, then gives every possible CPU
    // its own connection table (an LRU hash of lru_size flows), as Katran
    // does for its forwarding cores. Throws std::runtime_error on failure.
    katran_driver(const std::string& obj_path, uint32_t lru_size);
    ~katran_driver();
    katran_driver(katran_driver&& o) noexcept;
    katran_driver& operator=(katran_driver&& o) noexcept;
    katran_driver(const katran_driver&) = delete;
    katran_driver& operator=(const katran_driver&) = delete;

    // One TCP VIP vip:port (network byte order) balanced over IPv4 reals
    // (network byte order): every slot of its consistent-hash ring names one
    // of them. Throws std::runtime_error on failure.
    void add_vip(uint32_t vip_be, uint16_t port_be, const std::vector<uint32_t>& reals_be);
    // The next hop's MAC, written as the outer destination of every
    // encapsulated packet (ctl_array[0]); the constructor sets
    // default_gateway_mac.
    void set_gateway_mac(const std::array<uint8_t, 6>& mac);

    [[nodiscard]] int prog_fd() const;
    [[nodiscard]] uint32_t verified_insns() const;

    static constexpr std::array<uint8_t, 6> default_gateway_mac = {0x02, 0x00, 0x00, 0x00, 0x00, 0xfe};

private:
    void close() noexcept;

    bpf_object* _obj = nullptr;
    int _prog_fd = -1;
    std::vector<file_desc> _lrus; // one per CPU, also held by lru_mapping
    uint32_t _next_vip_num = 0;
    uint32_t _next_real = 1; // Katran's real ids start at 1: 0 is "no real"
};

} // namespace xlb::bench
