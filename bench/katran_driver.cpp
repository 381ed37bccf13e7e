// katran_driver: Katran's balancer programmed through its maps, from our
// reading of its map ABI (katran/lib/bpf/balancer_structs.h, balancer_maps.h,
// control_data_maps.h). For a packet to a VIP to be forwarded (XDP_TX,
// IPIP-encapsulated) Katran needs vip_map (the VIP -> its number), ch_rings
// (the VIP's ring, every slot a real id > 0), reals (id -> address) and
// ctl_array[0] (the next hop's MAC); its statistics maps are arrays the
// kernel zeroes, and nothing checks the frame's destination MAC.

#include "katran_driver.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/bpf.h>

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <utility>

namespace xlb::bench {

namespace {

// Katran's structs as its maps store them; addresses and ports in network
// byte order, an IPv4 address in the first word of four.
struct vip_key { // struct vip_definition
    uint32_t addr[4];
    uint16_t port;
    uint8_t proto;
    uint8_t pad; // the kernel compares all 20 bytes: kept zero
};
static_assert(sizeof(vip_key) == 20);

struct vip_value { // struct vip_meta
    uint32_t flags; // F_* of balancer_consts.h; 0: hash the 5-tuple, use the LRU
    uint32_t vip_num; // the VIP's ring is ch_rings[vip_num * ring_size, +ring_size)
};
static_assert(sizeof(vip_value) == 8);

struct real_value { // struct real_definition
    uint32_t addr[4];
    uint8_t flags; // 1: IPv6
    uint8_t pad[3];
};
static_assert(sizeof(real_value) == 20);

struct ctl_value { // struct ctl_value, a union of u64, ifindex and MAC
    uint8_t mac[6];
    uint8_t pad[2];
};
static_assert(sizeof(ctl_value) == 8);

struct flow_key { // struct flow_key: a per-CPU LRU's key
    uint32_t src[4];
    uint32_t dst[4];
    uint32_t ports;
    uint8_t proto;
    uint8_t pad[3];
};
static_assert(sizeof(flow_key) == 40);

struct lru_value { // struct real_pos_lru: a per-CPU LRU's value
    uint32_t real;
    uint32_t pad;
    uint64_t atime; // UDP only
};
static_assert(sizeof(lru_value) == 16);

constexpr uint32_t ring_size = 65537; // Katran's default RING_SIZE
constexpr uint8_t ipproto_tcp = 6;

[[noreturn]] void fail(const std::string& what) {
    throw std::runtime_error(fmt::format("katran: {}: {}", what, std::strerror(errno)));
}

bpf_map* find_map(bpf_object* obj, const char* name, uint32_t key_size, uint32_t value_size) {
    bpf_map* m = bpf_object__find_map_by_name(obj, name);
    if (!m) {
        throw std::runtime_error(fmt::format("katran: the object has no map {}", name));
    }
    if (bpf_map__key_size(m) != key_size || bpf_map__value_size(m) != value_size) {
        throw std::runtime_error(fmt::format("katran: map {} has {}-byte keys and {}-byte values, not {} and {}: "
                                             "an ABI this driver does not know",
                                             name, bpf_map__key_size(m), bpf_map__value_size(m), key_size, value_size));
    }
    return m;
}

void update(bpf_map* m, const void* key, const void* value) {
    if (bpf_map_update_elem(bpf_map__fd(m), key, value, BPF_ANY) < 0) {
        fail(fmt::format("cannot update map {}", bpf_map__name(m)));
    }
}

} // namespace

katran_driver::katran_driver(const std::string& obj_path, uint32_t lru_size) {
    _obj = bpf_object__open_file(obj_path.c_str(), nullptr);
    if (!_obj) {
        fail(fmt::format("cannot open {}", obj_path));
    }
    try {
        if (bpf_object__load(_obj) < 0) {
            fail(fmt::format("cannot load {} (libbpf printed the verifier's log)", obj_path));
        }
        bpf_program* prog = bpf_object__find_program_by_name(_obj, "balancer_ingress");
        if (!prog) {
            throw std::runtime_error(fmt::format("katran: {} has no program balancer_ingress", obj_path));
        }
        _prog_fd = bpf_program__fd(prog);

        uint32_t max_vips = bpf_map__max_entries(find_map(_obj, "vip_map", sizeof(vip_key), sizeof(vip_value)));
        if (bpf_map__max_entries(find_map(_obj, "ch_rings", 4, 4)) != max_vips * ring_size) {
            throw std::runtime_error(fmt::format("katran: ch_rings is not {} rings of {}: built with another RING_SIZE",
                                                 max_vips, ring_size));
        }

        // Katran's per-CPU connection tables: lru_mapping is an array of
        // maps indexed by CPU; a CPU without an entry falls back to the one
        // shared fallback_cache of 1,000 flows (meant for unit tests). As
        // KatranLb::initLrus does for its forwarding cores, we create one
        // LRU hash per CPU, here for every possible CPU (up to lru_mapping's
        // size, Katran's MAX_SUPPORTED_CPUS), each of lru_size flows, with
        // no flags, like the inner map lru_mapping is declared with.
        bpf_map* outer = find_map(_obj, "lru_mapping", 4, 4);
        int cpus = libbpf_num_possible_cpus();
        if (cpus < 0) {
            errno = -cpus;
            fail("cannot count the possible CPUs");
        }
        uint32_t n = std::min(static_cast<uint32_t>(cpus), bpf_map__max_entries(outer));
        for (uint32_t cpu = 0; cpu < n; ++cpu) {
            auto name = fmt::format("katran_lru{}", cpu);
            int fd = bpf_map_create(BPF_MAP_TYPE_LRU_HASH, name.c_str(), sizeof(flow_key), sizeof(lru_value), lru_size,
                                    nullptr);
            if (fd < 0) {
                fail(fmt::format("cannot create the LRU of CPU {} ({} flows)", cpu, lru_size));
            }
            _lrus.emplace_back(fd);
            uint32_t value = static_cast<uint32_t>(fd);
            update(outer, &cpu, &value);
        }
        set_gateway_mac(default_gateway_mac);
    } catch (...) {
        close();
        throw;
    }
}

katran_driver::~katran_driver() { close(); }

katran_driver::katran_driver(katran_driver&& o) noexcept
    : _obj(std::exchange(o._obj, nullptr)), _prog_fd(std::exchange(o._prog_fd, -1)), _lrus(std::move(o._lrus)),
      _next_vip_num(o._next_vip_num), _next_real(o._next_real) {}

katran_driver& katran_driver::operator=(katran_driver&& o) noexcept {
    if (this != &o) {
        close();
        _obj = std::exchange(o._obj, nullptr);
        _prog_fd = std::exchange(o._prog_fd, -1);
        _lrus = std::move(o._lrus);
        _next_vip_num = o._next_vip_num;
        _next_real = o._next_real;
    }
    return *this;
}

void katran_driver::close() noexcept {
    if (_obj) {
        bpf_object__close(_obj);
        _obj = nullptr;
    }
    _prog_fd = -1;
    _lrus.clear();
}

void katran_driver::add_vip(uint32_t vip_be, uint16_t port_be, const std::vector<uint32_t>& reals_be) {
    if (reals_be.empty()) {
        throw std::runtime_error("katran: a VIP needs at least one real");
    }
    bpf_map* vips = find_map(_obj, "vip_map", sizeof(vip_key), sizeof(vip_value));
    bpf_map* rings = find_map(_obj, "ch_rings", 4, 4);
    bpf_map* reals = find_map(_obj, "reals", 4, sizeof(real_value));
    if (_next_vip_num >= bpf_map__max_entries(vips)) {
        throw std::runtime_error(fmt::format("katran: no room for VIP {}", _next_vip_num + 1));
    }
    if (_next_real + reals_be.size() > bpf_map__max_entries(reals)) {
        throw std::runtime_error(fmt::format("katran: no room for {} more reals", reals_be.size()));
    }

    std::vector<uint32_t> ids;
    for (uint32_t addr : reals_be) {
        real_value r{};
        r.addr[0] = addr;
        uint32_t id = _next_real++;
        update(reals, &id, &r);
        ids.push_back(id);
    }

    // Katran fills a VIP's ring with Maglev (katran/lib/MaglevHash.cpp); we
    // deal the reals round-robin instead: a packet costs one ch_rings lookup
    // whatever the ring holds, and every slot names a real.
    uint32_t vip_num = _next_vip_num;
    std::vector<uint32_t> keys(ring_size);
    std::vector<uint32_t> values(ring_size);
    for (uint32_t i = 0; i < ring_size; ++i) {
        keys[i] = vip_num * ring_size + i;
        values[i] = ids[i % ids.size()];
    }
    uint32_t count = ring_size;
    if (bpf_map_update_batch(bpf_map__fd(rings), keys.data(), values.data(), &count, nullptr) < 0) {
        fail(fmt::format("cannot fill the ring of VIP {}", vip_num));
    }

    vip_key k{};
    k.addr[0] = vip_be;
    k.port = port_be;
    k.proto = ipproto_tcp;
    vip_value v{0, vip_num};
    update(vips, &k, &v);
    ++_next_vip_num;
}

void katran_driver::set_gateway_mac(const std::array<uint8_t, 6>& mac) {
    ctl_value c{};
    std::copy(mac.begin(), mac.end(), c.mac);
    uint32_t key = 0; // Katran's mac_addr_pos
    update(find_map(_obj, "ctl_array", 4, sizeof(ctl_value)), &key, &c);
}

int katran_driver::prog_fd() const { return _prog_fd; }

uint32_t katran_driver::verified_insns() const {
    bpf_prog_info info{};
    uint32_t len = sizeof(info);
    // libbpf 1.1 (Debian 12) predates bpf_prog_get_info_by_fd.
    if (bpf_obj_get_info_by_fd(_prog_fd, &info, &len) < 0) {
        fail("cannot read the program's info");
    }
    return info.verified_insns;
}

} // namespace xlb::bench
