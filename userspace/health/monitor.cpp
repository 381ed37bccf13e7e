// monitor: keepalived's scheduling of checkers (see monitor.h) on one loop.
//
// Each checker is an entry owned by the monitor's table; timers and checks
// in flight hold only a weak_ptr to it, so remove() frees it at once and a
// late completion finds nothing and does nothing.

#include <xlb/health/monitor.h>

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include <random>
#include <unordered_map>

namespace xlb::health {

namespace asio = boost::asio;
using std::chrono::milliseconds;
using steady = std::chrono::steady_clock;

namespace {

struct entry {
    entry(asio::io_context& io, checker_id i, keepalived::checker_spec s, monitor::on_change c)
        : id(i), spec(std::make_shared<const keepalived::checker_spec>(std::move(s))), cb(std::move(c)), timer(io) {}

    checker_id id;
    std::shared_ptr<const keepalived::checker_spec> spec;
    monitor::on_change cb;
    asio::steady_timer timer;
    checker_status st;
    bool has_run = false;
    uint32_t retry_it = 0; // keepalived's retries so far
    uint32_t ok_run = 0;   // rise / fall: consecutive successes
    uint32_t fail_run = 0; //              consecutive failures
};

} // namespace

struct monitor::impl {
    explicit impl(asio::io_context& i) : io(i), rng(std::random_device{}()) {}

    asio::io_context& io;
    std::unordered_map<checker_id, std::shared_ptr<entry>> entries;
    checker_id next_id = 1;
    std::mt19937_64 rng;
    on_start start_hook;

    void schedule(const std::shared_ptr<entry>& e, steady::duration delay) {
        e->timer.expires_after(delay);
        e->timer.async_wait([this, w = std::weak_ptr<entry>(e)](boost::system::error_code ec) {
            auto e = w.lock();
            if (ec || !e) {
                return;
            }
            if (start_hook) {
                start_hook(e->id, steady::now() - e->timer.expiry());
            }
            start(e);
        });
    }

    void start(const std::shared_ptr<entry>& e) {
        run_check(io, e->spec, [this, w = std::weak_ptr<entry>(e)](check_result r) {
            if (auto e = w.lock()) {
                on_result(e, std::move(r));
            }
        });
    }

    // keepalived's rule (tcp_epilog()): the delay to the next attempt, and
    // whether the checker changes state.
    milliseconds keepalived_rule(entry& e, bool ok, bool& up) const {
        const auto& s = *e.spec;
        if (ok || ((e.st.up || !e.has_run) && e.retry_it >= s.retry)) {
            e.retry_it = 0;
            up = ok;
            return s.delay_loop;
        }
        if (e.st.up) {
            ++e.retry_it;
            return s.delay_before_retry;
        }
        return s.delay_loop;
    }

    milliseconds counting_rule(entry& e, bool ok, bool& up) const {
        const auto& s = *e.spec;
        uint32_t rise = s.rise ? s.rise : 1;
        uint32_t fall = s.fall ? s.fall : s.retry + 1;
        e.ok_run = ok ? e.ok_run + 1 : 0;
        e.fail_run = ok ? 0 : e.fail_run + 1;
        if (e.st.up && !ok) {
            if (e.fail_run >= fall) {
                up = false;
                return s.delay_loop;
            }
            return s.delay_before_retry;
        }
        if (!e.st.up && ok && e.ok_run >= rise) {
            up = true;
        }
        return s.delay_loop;
    }

    void on_result(const std::shared_ptr<entry>& e, check_result r) {
        auto& st = e->st;
        bool ok = r.ok;
        ++st.checks;
        if (!ok) {
            ++st.failures;
        }
        st.last_check = std::chrono::system_clock::now();
        bool weight_changed = false;
        if (ok && e->spec->misc_dynamic && r.weight != st.weight) {
            st.weight = r.weight;
            weight_changed = true;
        }
        st.last = std::move(r);
        bool up = st.up;
        bool counting = e->spec->rise != 0 || e->spec->fall != 0;
        milliseconds delay = counting ? counting_rule(*e, ok, up) : keepalived_rule(*e, ok, up);
        e->has_run = true;
        bool changed = up != st.up;
        if (changed) {
            st.up = up;
            st.last_transition = st.last_check;
            ++st.transitions;
        }
        if ((changed || weight_changed) && e->cb) {
            // The callback may remove this checker: `e` keeps it alive here.
            e->cb(e->id, st);
            if (!entries.contains(e->id)) {
                return;
            }
        }
        schedule(e, delay);
    }
};

monitor::monitor(asio::io_context& io) : _impl(std::make_unique<impl>(io)) {}

monitor::~monitor() = default;

checker_id monitor::add(const keepalived::checker_spec& spec, bool initially_up, on_change cb) {
    checker_id id = _impl->next_id++;
    auto e = std::make_shared<entry>(_impl->io, id, spec, std::move(cb));
    e->st.up = initially_up;
    // keepalived starts each checker with its retries spent
    // (check_data.c: retry_it = retry): the first result is final, so a
    // server that is down when checking starts goes down at once.
    e->retry_it = spec.retry;
    _impl->entries.emplace(id, e);
    steady::duration first{0};
    if (spec.warmup.count() > 0) {
        using us = std::chrono::microseconds;
        auto max = std::chrono::duration_cast<us>(spec.warmup).count();
        first = us(std::uniform_int_distribution<int64_t>(0, max)(_impl->rng));
    }
    _impl->schedule(e, first);
    return id;
}

void monitor::remove(checker_id id) {
    auto it = _impl->entries.find(id);
    if (it == _impl->entries.end()) {
        return;
    }
    it->second->timer.cancel();
    _impl->entries.erase(it);
}

std::optional<checker_status> monitor::status(checker_id id) const {
    auto it = _impl->entries.find(id);
    if (it == _impl->entries.end()) {
        return std::nullopt;
    }
    return it->second->st;
}

size_t monitor::size() const noexcept { return _impl->entries.size(); }

void monitor::set_start_hook(on_start hook) { _impl->start_hook = std::move(hook); }

} // namespace xlb::health
