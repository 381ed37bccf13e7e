#include <xlb/dataplane/ipvs_dataplane.h>
#include <xlb/dataplane/memory_dataplane.h>

#include "conns.h"
#include "convert.h"
#include "genl.h"
#include "modprobe.h"
#include "sync_feed.h"

#include <netlink/attr.h>
#include <netlink/genl/genl.h>
#include <netlink/msg.h>

#include <linux/ip_vs.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstring>
#include <fstream>
#include <optional>
#include <set>
#include <tuple>
#include <sstream>
#include <thread>
#include <utility>

namespace xlb {

using ipvs::genl_socket;

namespace {

std::string service_name(const service_key& k) {
    if (k.is_fwmark()) {
        return fmt::format("service FWM {}{}", k.fwmark, k.vip.addr.is_v4() ? "" : " IPv6");
    }
    return fmt::format("service {} {}", to_string(k.proto), k.vip.to_string());
}

// IPVS finds a mark service by family and mark alone.
service_key canonical(const service_key& k) {
    if (!k.is_fwmark()) {
        return k;
    }
    return service_key{protocol::tcp, endpoint{ip_address(k.vip.addr.af(), {}), 0}, k.fwmark};
}

// The kernel's errno unchanged, with what was asked.
error with_context(const error& e, const std::string& what) { return error{e.code, what}; }

// What undoes change c on the table `before` (the model just before c):
// the requests that put back what c changes. Counters and connections
// cannot be put back, nor a dest's place once deleted and added again.
change_set inverse(const memory_dataplane& before, const change& c) {
    change_set out;
    auto restore = [&out](const service_state& s) {
        out.push_back(change::add_service(s.config));
        // Oldest first, so that IPVS lists them newest first again.
        for (auto it = s.dests.rbegin(); it != s.dests.rend(); ++it) {
            out.push_back(change::add_dest(s.config.key, it->config));
        }
    };
    const service_state* old = before.find(c.service.key);
    auto old_dest = [&](const endpoint& a) -> const dest_state* {
        if (!old) {
            return nullptr;
        }
        auto it = std::find_if(old->dests.begin(), old->dests.end(),
                               [&](const dest_state& d) { return d.config.addr == a; });
        return it == old->dests.end() ? nullptr : &*it;
    };
    switch (c.what) {
    case change::kind::add_service:
        out.push_back(change::del_service(c.service.key));
        break;
    case change::kind::edit_service:
        if (old) {
            out.push_back(change::edit_service(old->config));
        }
        break;
    case change::kind::del_service:
        if (old) {
            restore(*old);
        }
        break;
    case change::kind::clear:
        if (auto all = before.list()) {
            for (const auto& s : *all) {
                restore(s);
            }
        }
        break;
    case change::kind::add_dest:
        out.push_back(change::del_dest(c.service.key, c.dest.addr));
        break;
    case change::kind::edit_dest:
        if (const auto* d = old_dest(c.dest.addr)) {
            out.push_back(change::edit_dest(c.service.key, d->config));
        }
        break;
    case change::kind::del_dest:
        if (const auto* d = old_dest(c.dest.addr)) {
            out.push_back(change::add_dest(c.service.key, d->config));
        }
        break;
    case change::kind::set_timeouts:
        if (auto t = before.get_timeouts()) {
            out.push_back(change::set_timeouts(*t));
        }
        break;
    case change::kind::zero:
        break;
    }
    return out;
}

// IPVS_CMD_GET_INFO: the version and the connection table size.
struct ipvs_info {
    uint32_t version = 0;
    uint32_t conn_table_size = 0;
};

result<ipvs_info> read_info(const genl_socket& sock) {
    auto m = sock.request(IPVS_CMD_GET_INFO, false);
    if (!m) {
        return m.error();
    }
    ipvs_info info;
    auto r = sock.exchange(std::move(*m), [&info](nl_msg* reply) -> result<> {
        nlattr* tb[IPVS_INFO_ATTR_MAX + 1] = {};
        if (genlmsg_parse(nlmsg_hdr(reply), 0, tb, IPVS_INFO_ATTR_MAX, nullptr) < 0) {
            return make_error(EINVAL, "malformed IPVS info");
        }
        if (tb[IPVS_INFO_ATTR_VERSION]) {
            info.version = nla_get_u32(tb[IPVS_INFO_ATTR_VERSION]);
        }
        if (tb[IPVS_INFO_ATTR_CONN_TAB_SIZE]) {
            info.conn_table_size = nla_get_u32(tb[IPVS_INFO_ATTR_CONN_TAB_SIZE]);
        }
        return {};
    });
    if (!r) {
        return with_context(r.error(), "IPVS info");
    }
    return info;
}

} // namespace

// Kernel IPVS can do everything the reference model does: the model's
// capabilities are IPVS's, under its own name.
capabilities ipvs_capabilities() {
    capabilities c = memory_capabilities();
    c.backend = "ipvs";
    return c;
}

result<ipvs_dataplane> ipvs_dataplane::open() {
    auto sock = genl_socket::open(IPVS_GENL_NAME, IPVS_GENL_VERSION);
    if (!sock && sock.error().code == ENOENT) {
        // As ipvsadm does: load the module once, then look again.
        auto loaded = ipvs::modprobe("ip_vs");
        sock = genl_socket::open(IPVS_GENL_NAME, IPVS_GENL_VERSION);
        if (!sock && sock.error().code == ENOENT) {
            return make_error(EOPNOTSUPP,
                              "kernel IPVS is not available: the IPVS generic netlink family is missing "
                              "(modprobe ip_vs: {})",
                              loaded ? "loaded, yet no family" : loaded.error().message());
        }
    }
    if (!sock) {
        return make_error(sock.error().code, "kernel IPVS: {}", sock.error().context);
    }
    ipvs_dataplane dp(std::make_unique<genl_socket>(std::move(*sock)));
    auto info = read_info(*dp._sock);
    if (!info) {
        return info.error();
    }
    dp._conn_table_size = info->conn_table_size;
    return dp;
}

ipvs_dataplane::ipvs_dataplane(std::unique_ptr<genl_socket> sock)
    : _sock(std::move(sock)), _caps(ipvs_capabilities()) {}
ipvs_dataplane::ipvs_dataplane(ipvs_dataplane&&) noexcept = default;
ipvs_dataplane& ipvs_dataplane::operator=(ipvs_dataplane&&) noexcept = default;
ipvs_dataplane::~ipvs_dataplane() = default;

result<std::vector<service_state>> ipvs_dataplane::list() const {
    auto m = _sock->request(IPVS_CMD_GET_SERVICE, true);
    if (!m) {
        return m.error();
    }
    std::vector<service_state> out;
    auto r = _sock->exchange(std::move(*m), [&out](nl_msg* reply) -> result<> {
        auto s = ipvs::parse_service(reply);
        if (!s) {
            return s.error();
        }
        out.push_back(std::move(*s));
        return {};
    });
    if (!r) {
        return with_context(r.error(), "list IPVS services");
    }
    // Each service's dests, in the kernel's order (newest first).
    for (auto& s : out) {
        auto d = list_dests(s.config.key);
        if (!d) {
            return d.error();
        }
        s.dests = std::move(*d);
    }
    return out;
}

result<std::vector<dest_state>> ipvs_dataplane::list_dests(const service_key& key) const {
    auto m = _sock->request(IPVS_CMD_GET_DEST, true);
    if (!m) {
        return m.error();
    }
    if (auto r = ipvs::put_service_key(m->get(), key); !r) {
        return r.error();
    }
    std::vector<dest_state> out;
    family af = key.vip.addr.af();
    auto r = _sock->exchange(std::move(*m), [&out, af](nl_msg* reply) -> result<> {
        auto d = ipvs::parse_dest(reply, af);
        if (!d) {
            return d.error();
        }
        out.push_back(std::move(*d));
        return {};
    });
    if (!r) {
        return with_context(r.error(), fmt::format("list the dests of {}", service_name(key)));
    }
    return out;
}

result<std::optional<service_state>> ipvs_dataplane::find_service(const service_key& key) const {
    auto m = _sock->request(IPVS_CMD_GET_SERVICE, false);
    if (!m) {
        return m.error();
    }
    if (auto r = ipvs::put_service_key(m->get(), key); !r) {
        return r.error();
    }
    std::optional<service_state> out;
    auto r = _sock->exchange(std::move(*m), [&out](nl_msg* reply) -> result<> {
        auto s = ipvs::parse_service(reply);
        if (!s) {
            return s.error();
        }
        out = std::move(*s);
        return {};
    });
    if (!r) {
        // ip_vs_genl_get_cmd(): no such service.
        if (r.error().code == ESRCH) {
            return std::optional<service_state>{};
        }
        return with_context(r.error(), service_name(key));
    }
    if (out) {
        auto d = list_dests(out->config.key);
        if (!d) {
            return d.error();
        }
        out->dests = std::move(*d);
    }
    return out;
}

result<std::vector<service_state>> ipvs_dataplane::touched(const change_set& changes) const {
    // A clear's undo puts every service back: it needs the whole table.
    if (std::any_of(changes.begin(), changes.end(), [](const change& c) { return c.what == change::kind::clear; })) {
        return list();
    }
    std::set<service_key> keys;
    for (const auto& c : changes) {
        if (c.what == change::kind::set_timeouts || (c.what == change::kind::zero && c.all)) {
            continue;
        }
        keys.insert(canonical(c.service.key));
    }
    std::vector<service_state> out;
    for (const auto& k : keys) {
        auto s = find_service(k);
        if (!s) {
            return s.error();
        }
        if (*s) {
            out.push_back(std::move(**s));
        }
    }
    return out;
}

result<timeouts> ipvs_dataplane::get_timeouts() const {
    auto m = _sock->request(IPVS_CMD_GET_CONFIG, false);
    if (!m) {
        return m.error();
    }
    timeouts t;
    auto r = _sock->exchange(std::move(*m), [&t](nl_msg* reply) -> result<> {
        nlattr* tb[IPVS_CMD_ATTR_MAX + 1] = {};
        if (genlmsg_parse(nlmsg_hdr(reply), 0, tb, IPVS_CMD_ATTR_MAX, nullptr) < 0) {
            return make_error(EINVAL, "malformed IPVS config");
        }
        auto get = [&tb](int type) { return tb[type] ? nla_get_u32(tb[type]) : 0u; };
        t.tcp = get(IPVS_CMD_ATTR_TIMEOUT_TCP);
        t.tcp_fin = get(IPVS_CMD_ATTR_TIMEOUT_TCP_FIN);
        t.udp = get(IPVS_CMD_ATTR_TIMEOUT_UDP);
        return {};
    });
    if (!r) {
        return with_context(r.error(), "IPVS timeouts");
    }
    return t;
}

result<std::vector<conn_state>> ipvs_dataplane::list_conns() const {
    // As ipvsadm's list_conn() does: the family has no connection dump,
    // the kernel's text has them all (those of this network namespace).
    constexpr const char* path = "/proc/net/ip_vs_conn";
    std::ifstream in(path);
    if (!in) {
        return make_error(errno ? errno : ENOENT, "read {}", path);
    }
    std::ostringstream text;
    text << in.rdbuf();
    if (in.bad()) {
        return make_error(EIO, "read {}", path);
    }
    return ipvs::parse_proc_conns(text.str());
}

namespace {

const char* state_name(sync_state s) { return s == sync_state::master ? "master" : "backup"; }

// One IPVS_CMD_ATTR_DAEMON of a GET_DAEMON reply, as
// ip_vs_genl_dump_daemon() fills it.
result<sync_daemon> parse_daemon(nl_msg* reply) {
    nlattr* tb[IPVS_CMD_ATTR_MAX + 1] = {};
    if (genlmsg_parse(nlmsg_hdr(reply), 0, tb, IPVS_CMD_ATTR_MAX, nullptr) < 0 || !tb[IPVS_CMD_ATTR_DAEMON]) {
        return make_error(EINVAL, "malformed IPVS sync daemon");
    }
    nlattr* a[IPVS_DAEMON_ATTR_MAX + 1] = {};
    if (nla_parse_nested(a, IPVS_DAEMON_ATTR_MAX, tb[IPVS_CMD_ATTR_DAEMON], nullptr) < 0 ||
        !a[IPVS_DAEMON_ATTR_STATE] || !a[IPVS_DAEMON_ATTR_MCAST_IFN] || !a[IPVS_DAEMON_ATTR_SYNC_ID]) {
        return make_error(EINVAL, "malformed IPVS sync daemon");
    }
    sync_daemon d;
    d.state = nla_get_u32(a[IPVS_DAEMON_ATTR_STATE]) == IP_VS_STATE_BACKUP ? sync_state::backup : sync_state::master;
    d.mcast_ifn = nla_get_string(a[IPVS_DAEMON_ATTR_MCAST_IFN]);
    d.syncid = static_cast<uint8_t>(nla_get_u32(a[IPVS_DAEMON_ATTR_SYNC_ID]));
    if (a[IPVS_DAEMON_ATTR_SYNC_MAXLEN]) {
        d.sync_maxlen = nla_get_u16(a[IPVS_DAEMON_ATTR_SYNC_MAXLEN]);
    }
    if (a[IPVS_DAEMON_ATTR_MCAST_GROUP]) {
        std::array<uint8_t, 16> b{};
        uint32_t v = nla_get_u32(a[IPVS_DAEMON_ATTR_MCAST_GROUP]); // network order
        std::memcpy(b.data(), &v, 4);
        d.mcast_group = ip_address(family::inet, b);
    } else if (a[IPVS_DAEMON_ATTR_MCAST_GROUP6] && nla_len(a[IPVS_DAEMON_ATTR_MCAST_GROUP6]) == 16) {
        std::array<uint8_t, 16> b{};
        std::memcpy(b.data(), nla_data(a[IPVS_DAEMON_ATTR_MCAST_GROUP6]), 16);
        d.mcast_group = ip_address(family::inet6, b);
    }
    // Unlike a service's port, the daemon's is in host order: the kernel
    // keeps c->mcast_port so (IP_VS_SYNC_PORT its default) and converts
    // only when it makes the socket.
    if (a[IPVS_DAEMON_ATTR_MCAST_PORT]) {
        d.mcast_port = nla_get_u16(a[IPVS_DAEMON_ATTR_MCAST_PORT]);
    }
    if (a[IPVS_DAEMON_ATTR_MCAST_TTL]) {
        d.mcast_ttl = nla_get_u8(a[IPVS_DAEMON_ATTR_MCAST_TTL]);
    }
    return d;
}

} // namespace

result<> ipvs_dataplane::start_sync_daemon(const sync_daemon& d) {
    auto m = _sock->request(IPVS_CMD_NEW_DAEMON, false);
    if (!m) {
        return m.error();
    }
    nl_msg* msg = m->get();
    // ip_vs_genl_new_daemon() needs the state, the interface and the
    // syncid; the rest, left out, is the kernel's default.
    nlattr* nest = nla_nest_start(msg, IPVS_CMD_ATTR_DAEMON);
    bool ok = nest && nla_put_u32(msg, IPVS_DAEMON_ATTR_STATE, static_cast<uint32_t>(d.state)) >= 0 &&
              nla_put_string(msg, IPVS_DAEMON_ATTR_MCAST_IFN, d.mcast_ifn.c_str()) >= 0 &&
              nla_put_u32(msg, IPVS_DAEMON_ATTR_SYNC_ID, d.syncid) >= 0;
    if (ok && d.sync_maxlen) {
        ok = nla_put_u16(msg, IPVS_DAEMON_ATTR_SYNC_MAXLEN, d.sync_maxlen) >= 0;
    }
    if (ok && d.mcast_group) {
        if (d.mcast_group->is_v4()) {
            uint32_t v = 0;
            std::memcpy(&v, d.mcast_group->bytes().data(), 4);
            ok = nla_put_u32(msg, IPVS_DAEMON_ATTR_MCAST_GROUP, v) >= 0;
        } else {
            ok = nla_put(msg, IPVS_DAEMON_ATTR_MCAST_GROUP6, 16, d.mcast_group->bytes().data()) >= 0;
        }
    }
    if (ok && d.mcast_port) {
        ok = nla_put_u16(msg, IPVS_DAEMON_ATTR_MCAST_PORT, d.mcast_port) >= 0; // host order (parse_daemon())
    }
    if (ok && d.mcast_ttl) {
        ok = nla_put_u8(msg, IPVS_DAEMON_ATTR_MCAST_TTL, d.mcast_ttl) >= 0;
    }
    if (!ok) {
        return make_error(EMSGSIZE, "netlink message: sync daemon");
    }
    nla_nest_end(msg, nest);
    if (auto r = _sock->exchange(std::move(*m)); !r) {
        return with_context(r.error(), fmt::format("start the {} sync daemon", state_name(d.state)));
    }
    return {};
}

result<> ipvs_dataplane::stop_sync_daemon(sync_state state) {
    auto m = _sock->request(IPVS_CMD_DEL_DAEMON, false);
    if (!m) {
        return m.error();
    }
    nl_msg* msg = m->get();
    nlattr* nest = nla_nest_start(msg, IPVS_CMD_ATTR_DAEMON);
    if (!nest || nla_put_u32(msg, IPVS_DAEMON_ATTR_STATE, static_cast<uint32_t>(state)) < 0) {
        return make_error(EMSGSIZE, "netlink message: sync daemon");
    }
    nla_nest_end(msg, nest);
    if (auto r = _sock->exchange(std::move(*m)); !r) {
        return with_context(r.error(), fmt::format("stop the {} sync daemon", state_name(state)));
    }
    return {};
}

result<std::vector<sync_daemon>> ipvs_dataplane::list_sync_daemons() const {
    // GET_DAEMON is a dump only: one reply per running daemon, master first.
    auto m = _sock->request(IPVS_CMD_GET_DAEMON, true);
    if (!m) {
        return m.error();
    }
    std::vector<sync_daemon> out;
    auto r = _sock->exchange(std::move(*m), [&out](nl_msg* reply) -> result<> {
        auto d = parse_daemon(reply);
        if (!d) {
            return d.error();
        }
        out.push_back(std::move(*d));
        return {};
    });
    if (!r) {
        return with_context(r.error(), "list the IPVS sync daemons");
    }
    return out;
}

result<> ipvs_dataplane::send(const change& c) const {
    uint8_t cmd = 0;
    bool with_key = false;
    bool with_service = false;
    bool with_dest = false;
    bool full_dest = false;
    std::string what;
    switch (c.what) {
    case change::kind::add_service:
        cmd = IPVS_CMD_NEW_SERVICE;
        with_service = true;
        break;
    case change::kind::edit_service:
        cmd = IPVS_CMD_SET_SERVICE;
        with_service = true;
        break;
    case change::kind::del_service:
        cmd = IPVS_CMD_DEL_SERVICE;
        with_key = true;
        break;
    case change::kind::clear:
        cmd = IPVS_CMD_FLUSH;
        what = "clear the IPVS table";
        break;
    case change::kind::add_dest:
        cmd = IPVS_CMD_NEW_DEST;
        with_key = with_dest = full_dest = true;
        break;
    case change::kind::edit_dest:
        cmd = IPVS_CMD_SET_DEST;
        with_key = with_dest = full_dest = true;
        break;
    case change::kind::del_dest:
        cmd = IPVS_CMD_DEL_DEST;
        with_key = with_dest = true;
        break;
    case change::kind::set_timeouts:
        cmd = IPVS_CMD_SET_CONFIG;
        what = "set the IPVS timeouts";
        break;
    case change::kind::zero:
        cmd = IPVS_CMD_ZERO;
        with_key = !c.all;
        what = "zero the IPVS counters";
        break;
    }
    if (what.empty()) {
        what = with_dest ? fmt::format("{} destination {}", service_name(c.service.key), c.dest.addr.to_string())
                         : service_name(c.service.key);
    }
    auto m = _sock->request(cmd, false);
    if (!m) {
        return m.error();
    }
    nl_msg* msg = m->get();
    if (with_service) {
        if (auto r = ipvs::put_service(msg, c.service); !r) {
            return r;
        }
    } else if (with_key) {
        if (auto r = ipvs::put_service_key(msg, c.service.key); !r) {
            return r;
        }
    }
    if (with_dest) {
        if (auto r = ipvs::put_dest(msg, c.dest, full_dest); !r) {
            return r;
        }
    }
    if (c.what == change::kind::set_timeouts) {
        // ip_vs_genl_set_config(): an attribute left out keeps its value.
        const std::pair<int, uint32_t> set[] = {{IPVS_CMD_ATTR_TIMEOUT_TCP, c.set.tcp},
                                                {IPVS_CMD_ATTR_TIMEOUT_TCP_FIN, c.set.tcp_fin},
                                                {IPVS_CMD_ATTR_TIMEOUT_UDP, c.set.udp}};
        for (const auto& [type, value] : set) {
            if (value && nla_put_u32(msg, type, value) < 0) {
                return make_error(EMSGSIZE, "netlink message: timeouts");
            }
        }
    }
    if (auto r = _sock->exchange(std::move(*m)); !r) {
        return with_context(r.error(), what);
    }
    return {};
}

apply_result ipvs_dataplane::apply(const change_set& changes) {
    if (changes.empty()) {
        return {};
    }
    // Check the whole set first, as IPVS would answer it, on a model of
    // the table as it is now: nothing is written unless every change passes.
    auto table = touched(changes);
    if (!table) {
        return change_error{0, table.error()};
    }
    auto times = get_timeouts();
    if (!times) {
        return change_error{0, times.error()};
    }
    // IPVS has no sizes of its own, so the services left out of the model
    // change no answer.
    memory_dataplane model(_caps, memory_limits{0, 0, _conn_table_size, 0, 0});
    model.assign(std::move(*table), *times);
    std::vector<change_set> undo;
    undo.reserve(changes.size());
    for (size_t i = 0; i < changes.size(); ++i) {
        undo.push_back(inverse(model, changes[i]));
        if (auto r = model.apply({changes[i]}); !r) {
            return change_error{i, r.error().err};
        }
    }
    // Then the kernel, in order. What it still refuses (a scheduler module
    // it lacks, a race with another writer) undoes the prefix it took.
    for (size_t i = 0; i < changes.size(); ++i) {
        auto r = send(changes[i]);
        if (r) {
            continue;
        }
        for (size_t j = i; j-- > 0;) {
            for (const auto& u : undo[j]) {
                (void)send(u); // best effort: the first error is the answer
            }
        }
        return change_error{i, r.error()};
    }
    return {};
}

result<status_report> ipvs_dataplane::report() const {
    auto info = read_info(*_sock);
    if (!info) {
        return info.error();
    }
    auto services = list();
    if (!services) {
        return services.error();
    }
    auto daemons = list_sync_daemons();
    if (!daemons) {
        return daemons.error();
    }
    status_report st;
    st.backend.name = "ipvs";
    st.backend.reason = "kernel IPVS found (the IPVS generic netlink family)";
    ipvs_report r;
    r.version_code = info->version;
    r.version = fmt::format("{}.{}.{}", (info->version >> 16) & 0xff, (info->version >> 8) & 0xff,
                            info->version & 0xff);
    r.conn_table_size = info->conn_table_size;
    r.services = services->size();
    for (const auto& s : *services) {
        r.dests += s.dests.size();
        for (const auto& d : s.dests) {
            r.connections += uint64_t{d.active_conns} + d.inactive_conns;
        }
    }
    for (const auto& d : *daemons) {
        r.sync_daemons.push_back(
            {d.state == sync_state::master ? "master" : "backup", d.mcast_ifn, uint32_t{d.syncid}});
    }
    st.ipvs = std::move(r);
    return st;
}

} // namespace xlb

namespace xlb {

result<size_t> ipvs_dataplane::carry_conns(const std::vector<conn_state>& conns, const std::string& ifname) {
    if (conns.empty()) {
        return size_t{0};
    }
    using clock = std::chrono::steady_clock;
    auto running = list_sync_daemons();
    if (!running) {
        return running.error();
    }
    std::optional<sync_daemon> backup;
    for (const auto& d : *running) {
        if (d.state == sync_state::backup) {
            backup = d;
        }
    }
    // What the protocol cannot carry is refused before a daemon starts.
    if (auto check = ipvs::sync_messages(conns, 0, 1472); !check) {
        return check.error();
    }
    const bool ours = !backup;
    const auto started = clock::now();
    if (ours) {
        // A group and port of its own, so that no master on the link is
        // heard while it runs, and nothing of this reaches one.
        sync_daemon d;
        d.state = sync_state::backup;
        d.mcast_ifn = ifname;
        d.mcast_group = ip_address::parse("239.255.88.48");
        d.mcast_port = 8849;
        if (auto r = start_sync_daemon(d); !r) {
            return with_context(r.error(), fmt::format("carry connections through a backup sync daemon on {}", ifname));
        }
        auto now = list_sync_daemons();
        if (!now) {
            return now.error();
        }
        for (const auto& n : *now) {
            if (n.state == sync_state::backup) {
                backup = n;
            }
        }
        if (!backup) {
            return make_error(ESRCH, "the backup sync daemon started on {} is not listed", ifname);
        }
    }
    auto stop = [&]() {
        if (ours) {
            // See ipvs_dataplane's tests: a DEL_DAEMON within milliseconds of
            // the NEW_DAEMON may never return on 6.1.
            std::this_thread::sleep_until(started + std::chrono::milliseconds(500));
            (void)stop_sync_daemon(sync_state::backup);
        }
    };
    const size_t maxlen = backup->sync_maxlen ? backup->sync_maxlen : 1472;
    auto messages = ipvs::sync_messages(conns, backup->syncid, maxlen);
    if (!messages) {
        stop();
        return messages.error();
    }
    const auto group = backup->mcast_group ? *backup->mcast_group : *ip_address::parse("224.0.0.81");
    if (auto r = ipvs::send_sync_messages(*messages, backup->mcast_ifn, group,
                                          backup->mcast_port ? backup->mcast_port : 8848);
        !r) {
        stop();
        return r.error();
    }
    // The backup's thread makes them as it reads them: wait until all show.
    auto key = [](const conn_state& c) { return std::tuple(c.proto, c.client, c.vip, c.is_template); };
    std::set<decltype(key(conns[0]))> wanted;
    for (const auto& c : conns) {
        wanted.insert(key(c));
    }
    size_t found = 0;
    const auto deadline = clock::now() + std::chrono::seconds(5);
    do {
        auto now = list_conns();
        if (!now) {
            stop();
            return now.error();
        }
        found = 0;
        for (const auto& c : *now) {
            found += wanted.count(key(c));
        }
        if (found >= wanted.size()) {
            break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    } while (clock::now() < deadline);
    stop();
    return found;
}

} // namespace xlb
