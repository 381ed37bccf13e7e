#pragma once
// A private network namespace with veth pairs, addresses and permanent
// neighbour entries, and an xlb instance loaded under a temporary pin
// directory: what bpf_prog_test_run_opts() needs for bpf_fib_lookup() to
// answer as it would on a director. Shared by tests/bpf and bench/.

#include "support/packet.h"

#include <xlb/dataplane/xdp_dataplane.h>

#include <gtest/gtest.h>
#include <linux/bpf.h>

#include <optional>
#include <string>
#include <vector>

namespace xlb::test {

struct run_result {
    int rc = 0;      // bpf_prog_test_run_opts() return
    uint32_t action = 0;
    std::vector<uint8_t> out;
    uint32_t duration_ns = 0;
};

// Runs frame through prog_fd once (or `repeat` times), as if received on ifindex.
run_result run_xdp(int prog_fd, const std::vector<uint8_t>& frame, int ifindex, uint32_t repeat = 1);

// The backend (1..9) a forwarded frame went to, from its destination MAC:
// 0 if it was not forwarded with XDP_TX, -1 if to no backend's MAC.
int backend_of(const run_result& r);

struct xdp_lab {
    // Addresses inside the namespace.
    static constexpr const char* dir_if = "xa";      // the "NIC" packets arrive on
    static constexpr const char* other_if = "ya";    // a second egress
    static constexpr const char* dir_mac = "02:00:00:00:00:aa";
    static constexpr const char* other_mac = "02:00:00:00:00:ab";

    // Backend i (1..9): 10.1.0.1i / fd01::1i with MAC 02:00:00:00:01:0i,
    // resolved (permanent). 10.2.0.11 sits behind ya with MAC 02:00:00:00:02:01.
    static ip_address backend4(int i);
    static ip_address backend6(int i);
    static mac backend_mac(int i);

    // Creates the namespace contents. Throws on failure.
    static void setup_network();
    // Pins the calling thread to CPU 0, so per-CPU scheduler cursors are one.
    static void pin_cpu0();
};

// The gtest environment of tests/bpf: when privileged, moves the process into
// a private namespace set up by setup_network(), optionally pinned to CPU 0.
class lab_environment : public ::testing::Environment {
public:
    explicit lab_environment(bool pin_cpu0) : _pin(pin_cpu0) {}
    void SetUp() override;

private:
    bool _pin;
};

// An xlb instance under /sys/fs/bpf/xlb/test-<pid>-<n>, unloaded on destruction.
class loaded_xlb {
public:
    explicit loaded_xlb(const load_options& o = {64, 1024, 65536});
    ~loaded_xlb();
    loaded_xlb(const loaded_xlb&) = delete;
    loaded_xlb& operator=(const loaded_xlb&) = delete;

    xdp_dataplane& dp() { return *_dp; }
    const std::string& pin_dir() const { return _pin_dir; }

private:
    std::string _pin_dir;
    std::optional<xdp_dataplane> _dp;
};

// Dests 10.128.0.0/16 route through backend 1 (10.1.0.11): services with
// thousands of dests use them. big_dest(i) is 10.128.(i >> 8).(i & 255).
void route_big_dests();
ip_address big_dest(uint32_t i);

// The side of the double-buffered table packets read (table_ctl), and the
// slot of dest `id` on it in the dests map.
uint32_t published_side(xdp_dataplane& dp);
uint32_t published_dest_slot(xdp_dataplane& dp, uint32_t id);

// Adds `dests` (in order, so IPVS's list is their reverse) to the service
// svc.key, which exists, as one change set: the table is rebuilt once.
// Throws on failure.
void bulk_dests(loaded_xlb& lb, const service_config& svc, const std::vector<dest_config>& dests);

} // namespace xlb::test
