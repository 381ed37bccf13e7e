#include <xlb/daemon/controller.h>

#include <xlb/daemon/managed.h>
#include <xlb/util/log.h>

#include <boost/asio/steady_timer.hpp>

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <map>

namespace xlb::daemon {

namespace ka = keepalived;
using sys_clock = std::chrono::system_clock;

void run_script(const std::string& command) {
    const pid_t child = ::fork();
    if (child < 0) {
        log::warn("cannot run {}: fork: {}", command, std::strerror(errno));
        return;
    }
    if (child == 0) {
        // The grandchild runs the script; init reaps it.
        ::setsid();
        if (::fork() == 0) {
            ::execl("/bin/sh", "sh", "-c", command.c_str(), static_cast<char*>(nullptr));
            ::_exit(127);
        }
        ::_exit(0);
    }
    int status = 0;
    while (::waitpid(child, &status, 0) < 0 && errno == EINTR) {
    }
}

namespace {

struct real_slot {
    ka::real_server_spec spec;
    real_health health;
    std::vector<health::checker_id> checkers;
    sys_clock::time_point last_transition{};
    uint64_t transitions = 0;
};

// A real server that left the configuration and drains before it goes.
// Per service: a group's services may give it different addresses.
struct leaving {
    service_key service;
    dest_config dest;
    clock::time_point until;
};

struct vs_slot {
    vs_plan plan;
    std::vector<real_slot> reals;
    bool quorum_up = true;
    std::vector<leaving> gone;
    std::unique_ptr<boost::asio::steady_timer> timer;
    // Dies with the slot: a timer handler already queued when a reload
    // destroys the slot finds it expired and does nothing.
    std::shared_ptr<int> alive = std::make_shared<int>(0);
};

} // namespace

struct controller::impl {
    impl(boost::asio::io_context& io, dataplane& dp, controller_options o)
        : io(io), dp(dp), opts(std::move(o)), rec(dp), mon(io) {}

    boost::asio::io_context& io;
    dataplane& dp;
    controller_options opts;
    reconciler rec;
    health::monitor mon;
    std::vector<std::unique_ptr<vs_slot>> slots;
    std::map<health::checker_id, std::pair<vs_slot*, size_t>> owner;
    sys_clock::time_point started = sys_clock::now();
    sys_clock::time_point last_reload{};
    uint64_t reloads = 0;
    uint64_t reload_failures = 0;
    // Services to delete that a refused change set left in the table, and
    // the timer that tries the whole table again.
    std::vector<service_key> pending_remove;
    boost::asio::steady_timer retry{io};

    // What the table says of a real server in a block's services: its
    // weight in the first service that has it, or nothing.
    std::optional<int32_t> weight_in_table(const vs_slot& s, const ka::real_server_spec& rs) const {
        for (const auto& svc : s.plan.services) {
            if (const auto* d = rec.find(svc.key, make_dest(s.plan.spec, rs, svc, 0).addr)) {
                return d->config.weight;
            }
        }
        return std::nullopt;
    }

    bool service_exists(const vs_slot& s) const {
        return std::any_of(s.plan.services.begin(), s.plan.services.end(),
                           [&](const service_config& c) { return rec.find(c.key) != nullptr; });
    }

    // Alive before the first check: adopted from the table if the block's
    // services exist, else keepalived's rule (dead under alpha).
    bool initially_alive(const vs_slot& s, const ka::real_server_spec& rs) const {
        if (rs.checkers.empty()) {
            return true;
        }
        if (service_exists(s)) {
            auto w = weight_in_table(s, rs);
            return w && *w > 0;
        }
        return !s.plan.spec.alpha;
    }

    void watch(vs_slot& s, size_t i) {
        auto& r = s.reals[i];
        for (const auto& c : r.spec.checkers) {
            auto id = mon.add(c, r.health.alive,
                              [this](health::checker_id cid, const health::checker_status&) { on_check(cid); });
            r.checkers.push_back(id);
            owner[id] = {&s, i};
        }
    }

    void unwatch(real_slot& r) {
        for (auto id : r.checkers) {
            mon.remove(id);
            owner.erase(id);
        }
        r.checkers.clear();
    }

    void on_check(health::checker_id id) {
        auto it = owner.find(id);
        if (it == owner.end()) {
            return;
        }
        auto [slot, index] = it->second;
        update_real(*slot, index);
        update_quorum(*slot);
        push(*slot);
    }

    // Folds the checkers' states into the real server's.
    void update_real(vs_slot& s, size_t i) {
        auto& r = s.reals[i];
        bool alive = true;
        std::optional<int32_t> weight;
        for (auto id : r.checkers) {
            auto st = mon.status(id);
            if (!st) {
                continue;
            }
            alive = alive && st->up;
            if (st->weight) {
                weight = st->weight;
            }
        }
        r.health.dynamic_weight = weight;
        if (alive == r.health.alive) {
            return;
        }
        const auto now = clock::now();
        r.health.alive = alive;
        r.last_transition = sys_clock::now();
        ++r.transitions;
        r.health.ramp_from.reset();
        r.health.drain_until.reset();
        if (alive && r.spec.ramp.count() > 0) {
            r.health.ramp_from = now;
        }
        if (!alive && r.spec.drain_time.count() > 0 && !r.spec.inhibit_on_failure) {
            r.health.drain_until = now + r.spec.drain_time;
        }
        log::info("{} real server {} is {} in {}", alive ? "up:" : "down:", r.spec.addr.to_string(),
                  alive ? "up" : "down", s.plan.id);
        const auto& script = alive ? r.spec.notify_up : r.spec.notify_down;
        if (script) {
            run_script(*script);
        }
    }

    std::vector<real_health> healths(const vs_slot& s) const {
        std::vector<real_health> out;
        out.reserve(s.reals.size());
        for (const auto& r : s.reals) {
            out.push_back(r.health);
        }
        return out;
    }

    void update_quorum(vs_slot& s) {
        const auto live = live_weight(s.plan.spec, healths(s), clock::now());
        const bool up = quorum_state(s.plan.spec, s.quorum_up, live);
        if (up == s.quorum_up) {
            return;
        }
        s.quorum_up = up;
        log::info("{} quorum for {}: live weight {}, quorum {}, hysteresis {}", up ? "gained" : "lost", s.plan.id,
                  live, s.plan.spec.quorum, s.plan.spec.hysteresis);
        const auto& script = up ? s.plan.spec.quorum_up : s.plan.spec.quorum_down;
        if (script) {
            run_script(*script);
        }
    }

    std::vector<desired_service> desired(const vs_slot& s) const {
        const auto now = clock::now();
        const auto h = healths(s);
        std::vector<desired_service> out;
        for (const auto& svc : s.plan.services) {
            desired_service d;
            d.config = svc;
            d.dests = plan_dests(s.plan.spec, svc, h, s.quorum_up, now);
            for (const auto& rs : s.plan.spec.reals) {
                d.owned.insert(make_dest(s.plan.spec, rs, svc, 0).addr);
            }
            if (s.plan.spec.sorry_server) {
                d.owned.insert(make_dest(s.plan.spec, *s.plan.spec.sorry_server, svc, 0).addr);
            }
            for (const auto& g : s.gone) {
                if (g.service != svc.key) {
                    continue;
                }
                auto dest = g.dest;
                d.owned.insert(dest.addr);
                if (now < g.until && std::none_of(d.dests.begin(), d.dests.end(),
                                                  [&](const dest_config& x) { return x.addr == dest.addr; })) {
                    d.dests.push_back(dest);
                }
            }
            out.push_back(std::move(d));
        }
        return out;
    }

    // Writes one block's services and arms its timer for the next ramp step
    // or drain end.
    void push(vs_slot& s) {
        const auto now = clock::now();
        if (auto r = rec.sync(desired(s), pending_remove); !r) {
            log::warn("cannot update {}: {}", s.plan.id, r.error().message());
            retry_later();
        } else {
            pending_remove.clear();
            // Only once their deletion is written: until then they stay owned.
            std::erase_if(s.gone, [&](const leaving& g) { return now >= g.until; });
        }
        arm(s);
        save_managed();
    }

    // After a refused change set: the whole table again in a second.
    void retry_later() {
        retry.expires_after(std::chrono::seconds(1));
        retry.async_wait([this](const boost::system::error_code& ec) {
            if (!ec) {
                if (auto r = push_all({}); !r) {
                    log::warn("the table is still not as configured: {}", r.error().message());
                }
            }
        });
    }

    void arm(vs_slot& s) {
        const auto now = clock::now();
        auto next = next_event(s.plan.spec, healths(s), now);
        for (const auto& g : s.gone) {
            if (g.until > now && (!next || g.until < *next)) {
                next = g.until;
            }
        }
        if (!next) {
            s.timer->cancel();
            return;
        }
        s.timer->expires_at(*next);
        s.timer->async_wait([this, sp = &s, alive = std::weak_ptr<int>(s.alive)](const boost::system::error_code& ec) {
            if (!ec && !alive.expired()) {
                update_quorum(*sp);
                push(*sp);
            }
        });
    }

    std::unique_ptr<vs_slot> make_slot(vs_plan plan) {
        auto s = std::make_unique<vs_slot>();
        s->plan = std::move(plan);
        s->timer = std::make_unique<boost::asio::steady_timer>(io);
        for (const auto& rs : s->plan.spec.reals) {
            real_slot r;
            r.spec = rs;
            s->reals.push_back(std::move(r));
        }
        return s;
    }

    void initial_health(vs_slot& s) {
        for (auto& r : s.reals) {
            r.health.alive = initially_alive(s, r.spec);
        }
        s.quorum_up = live_weight(s.plan.spec, healths(s), clock::now()) >=
                      int64_t{s.plan.spec.quorum} + s.plan.spec.hysteresis;
    }

    // What the backend cannot serve, refused before anything is written:
    // the block's position, its name, and the backend's reason.
    result<> check_caps(const std::vector<std::unique_ptr<vs_slot>>& v) const {
        const auto& caps = dp.caps();
        for (const auto& s : v) {
            for (const auto& svc : s->plan.services) {
                if (auto r = caps.check(svc); !r) {
                    return make_error(r.error().code, "{}: virtual_server {}: {}", s->plan.spec.where.to_string(),
                                      s->plan.id, r.error().context);
                }
                for (const auto& rs : s->plan.spec.reals) {
                    if (auto r = caps.check(make_dest(s->plan.spec, rs, svc, rs.weight)); !r) {
                        return make_error(r.error().code, "{}: real_server {}: {}", rs.where.to_string(),
                                          rs.addr.to_string(), r.error().context);
                    }
                }
            }
        }
        return {};
    }

    std::vector<service_key> keys_of(const std::vector<std::unique_ptr<vs_slot>>& v) const {
        std::vector<service_key> out;
        for (const auto& s : v) {
            for (const auto& c : s->plan.services) {
                out.push_back(c.key);
            }
        }
        return out;
    }

    // Everything wanted and the services to delete, as one change set.
    // A refused set keeps the deletions pending and tries again later.
    result<> push_all(const std::vector<service_key>& remove) {
        for (const auto& k : remove) {
            if (std::find(pending_remove.begin(), pending_remove.end(), k) == pending_remove.end()) {
                pending_remove.push_back(k);
            }
        }
        std::vector<desired_service> want;
        for (const auto& s : slots) {
            auto d = desired(*s);
            want.insert(want.end(), std::make_move_iterator(d.begin()), std::make_move_iterator(d.end()));
        }
        auto r = rec.sync(want, pending_remove);
        for (auto& s : slots) {
            arm(*s);
        }
        save_managed();
        if (!r) {
            retry_later();
            return r.error();
        }
        pending_remove.clear();
        const auto now = clock::now();
        for (auto& s : slots) {
            std::erase_if(s->gone, [&](const leaving& g) { return now >= g.until; });
        }
        log::info("table synced: {} change(s): services +{} ~{} -{}, real servers +{} ~{} -{}", r->changes,
                  r->services_added, r->services_edited, r->services_deleted, r->dests_added, r->dests_edited,
                  r->dests_deleted);
        save_managed();
        return {};
    }

    // The services of every block, and those whose deletion is pending.
    void save_managed() {
        if (opts.state_file.empty()) {
            return;
        }
        auto keys = keys_of(slots);
        keys.insert(keys.end(), pending_remove.begin(), pending_remove.end());
        if (auto r = write_managed(opts.state_file, keys); !r) {
            log::warn("cannot record the services xlbd manages: {}", r.error().message());
        }
    }

    // Services a previous run managed that no block names now.
    std::vector<service_key> orphans(const std::vector<service_key>& current) const {
        std::vector<service_key> out;
        if (opts.state_file.empty()) {
            return out;
        }
        auto before = read_managed(opts.state_file);
        if (!before) {
            log::warn("ignoring {}: {}", opts.state_file, before.error().message());
            return out;
        }
        for (const auto& k : *before) {
            if (std::find(current.begin(), current.end(), k) == current.end()) {
                out.push_back(k);
            }
        }
        return out;
    }

    // Moves what a reloaded block keeps from its old slot: quorum state,
    // and per real server its health and, where the checkers are the same,
    // the checkers themselves.
    void carry_over(vs_slot& old, vs_slot& now) {
        now.quorum_up = old.quorum_up;
        now.gone = std::move(old.gone);
        for (size_t i = 0; i < now.reals.size(); ++i) {
            auto& r = now.reals[i];
            auto prev = std::find_if(old.reals.begin(), old.reals.end(),
                                     [&](const real_slot& o) { return o.spec.addr == r.spec.addr; });
            if (prev == old.reals.end()) {
                r.health.alive = r.spec.checkers.empty() || !now.plan.spec.alpha;
                watch(now, i);
                continue;
            }
            r.health = prev->health;
            r.last_transition = prev->last_transition;
            r.transitions = prev->transitions;
            // A dest whose address changed (another forwarding method, a
            // port now forced to the VIP's): the old address goes at once.
            for (const auto& svc : now.plan.services) {
                auto before = make_dest(old.plan.spec, prev->spec, svc, 0);
                if (before.addr != make_dest(now.plan.spec, r.spec, svc, 0).addr) {
                    now.gone.push_back({svc.key, before, clock::now()});
                }
            }
            if (prev->spec.checkers == r.spec.checkers) {
                r.checkers = std::move(prev->checkers);
                prev->checkers.clear();
                for (auto id : r.checkers) {
                    owner[id] = {&now, i};
                }
            } else {
                watch(now, i);
            }
            if (r.spec.checkers.empty()) {
                r.health.alive = true;
            }
        }
        // Real servers that left: drained, then deleted.
        const auto now_t = clock::now();
        for (auto& o : old.reals) {
            const bool kept = std::any_of(now.reals.begin(), now.reals.end(),
                                          [&](const real_slot& r) { return r.spec.addr == o.spec.addr; });
            unwatch(o);
            if (kept) {
                continue;
            }
            const auto until = o.spec.drain_time.count() > 0 ? now_t + o.spec.drain_time : now_t;
            for (const auto& svc : now.plan.services) {
                now.gone.push_back({svc.key, make_dest(old.plan.spec, o.spec, svc, 0), until});
            }
        }
    }
};

controller::controller(boost::asio::io_context& io, dataplane& dp, controller_options opts)
    : _impl(std::make_unique<impl>(io, dp, std::move(opts))) {}

controller::~controller() = default;

result<> controller::start(const ka::config& cfg) {
    auto plans = plan_services(cfg);
    if (!plans) {
        return plans.error();
    }
    if (auto r = _impl->rec.refresh(); !r) {
        return r.error();
    }
    for (auto& p : *plans) {
        _impl->slots.push_back(_impl->make_slot(std::move(p)));
    }
    if (auto r = _impl->check_caps(_impl->slots); !r) {
        _impl->slots.clear();
        return r.error();
    }
    for (auto& s : _impl->slots) {
        _impl->initial_health(*s);
    }
    auto removed = _impl->orphans(_impl->keys_of(_impl->slots));
    if (auto r = _impl->push_all(removed); !r) {
        _impl->slots.clear();
        return r.error();
    }
    for (auto& s : _impl->slots) {
        for (size_t i = 0; i < s->reals.size(); ++i) {
            _impl->watch(*s, i);
        }
    }
    return {};
}

result<> controller::reload(const ka::config& cfg) {
    auto& m = *_impl;
    auto plans = plan_services(cfg);
    if (!plans) {
        ++m.reload_failures;
        return error{plans.error().code, "the running configuration stays: " + plans.error().context};
    }
    std::vector<std::unique_ptr<vs_slot>> next;
    for (auto& p : *plans) {
        next.push_back(m.make_slot(std::move(p)));
    }
    if (auto r = m.check_caps(next); !r) {
        ++m.reload_failures;
        return error{r.error().code, "the running configuration stays: " + r.error().context};
    }
    // Services no block names any more.
    const auto keep = m.keys_of(next);
    std::vector<service_key> removed;
    for (const auto& k : m.keys_of(m.slots)) {
        if (std::find(keep.begin(), keep.end(), k) == keep.end()) {
            removed.push_back(k);
        }
    }
    for (auto& s : next) {
        auto old = std::find_if(m.slots.begin(), m.slots.end(),
                                [&](const auto& o) { return o->plan.id == s->plan.id; });
        if (old != m.slots.end()) {
            m.carry_over(**old, *s);
        } else {
            m.initial_health(*s);
            for (size_t i = 0; i < s->reals.size(); ++i) {
                m.watch(*s, i);
            }
        }
    }
    for (auto& o : m.slots) {
        for (auto& r : o->reals) {
            m.unwatch(r);
        }
        o->timer->cancel();
    }
    m.slots = std::move(next);
    ++m.reloads;
    m.last_reload = sys_clock::now();
    for (auto& s : m.slots) {
        m.update_quorum(*s);
    }
    if (auto r = m.push_all(removed); !r) {
        ++m.reload_failures;
        return error{r.error().code, fmt::format("the new configuration is in force, but the backend refused its "
                                                 "change set (tried again every second): {}",
                                                 r.error().context)};
    }
    return {};
}

result<> controller::stop(bool cleanup) {
    auto& m = *_impl;
    m.retry.cancel();
    std::vector<service_key> remove;
    for (auto& s : m.slots) {
        for (auto& r : s->reals) {
            m.unwatch(r);
        }
        s->timer->cancel();
        if (cleanup || s->plan.spec.omega) {
            for (const auto& c : s->plan.services) {
                remove.push_back(c.key);
            }
        }
    }
    if (remove.empty()) {
        return {};
    }
    auto r = m.rec.sync({}, remove);
    if (!r) {
        return r.error();
    }
    log::info("removed {} service(s) on exit", r->services_deleted);
    return {};
}

view controller::snapshot() const {
    const auto& m = *_impl;
    view v;
    v.backend = m.opts.backend;
    v.config_file = m.opts.config_file;
    v.started = m.started;
    v.last_reload = m.last_reload;
    v.reloads = m.reloads;
    v.reload_failures = m.reload_failures;
    for (const auto& s : m.slots) {
        for (const auto& svc : s->plan.services) {
            service_view sv;
            sv.key = svc.key;
            sv.name = service_name(svc.key);
            sv.quorum_up = s->quorum_up;
            sv.quorum = s->plan.spec.quorum;
            auto table_weight = [&](const endpoint& a) -> std::optional<int32_t> {
                const auto* d = m.rec.find(svc.key, a);
                return d ? std::optional<int32_t>(d->config.weight) : std::nullopt;
            };
            for (const auto& r : s->reals) {
                real_server_view rv;
                rv.addr = make_dest(s->plan.spec, r.spec, svc, 0).addr;
                rv.up = r.health.alive;
                rv.config_weight = r.spec.weight;
                auto w = table_weight(rv.addr);
                rv.in_table = w.has_value();
                rv.weight = w.value_or(0);
                rv.draining = r.health.drain_until && clock::now() < *r.health.drain_until;
                rv.last_transition = r.last_transition;
                rv.transitions = r.transitions;
                for (size_t c = 0; c < r.checkers.size(); ++c) {
                    auto st = m.mon.status(r.checkers[c]);
                    if (!st) {
                        continue;
                    }
                    checker_view cv;
                    cv.kind = std::string(ka::to_string(r.spec.checkers[c].kind));
                    cv.up = st->up;
                    cv.last_result = st->last.detail;
                    cv.last_latency = st->last.latency;
                    cv.last_transition = st->last_transition;
                    cv.last_check = st->last_check;
                    cv.checks = st->checks;
                    cv.failures = st->failures;
                    cv.transitions = st->transitions;
                    rv.checkers.push_back(std::move(cv));
                }
                sv.reals.push_back(std::move(rv));
            }
            if (s->plan.spec.sorry_server) {
                real_server_view rv;
                rv.addr = make_dest(s->plan.spec, *s->plan.spec.sorry_server, svc, 0).addr;
                rv.sorry = true;
                rv.up = true;
                rv.config_weight = s->plan.spec.sorry_server->weight;
                auto w = table_weight(rv.addr);
                rv.in_table = w.has_value();
                rv.weight = w.value_or(0);
                sv.reals.push_back(std::move(rv));
            }
            v.services.push_back(std::move(sv));
        }
    }
    return v;
}

} // namespace xlb::daemon
