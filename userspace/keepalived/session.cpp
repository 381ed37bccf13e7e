#include "draft.h"

#include <fmt/format.h>

namespace xlb::keepalived::detail {

namespace {
template <class T>
std::optional<T> either(const std::optional<T>& inner, const std::optional<T>& outer) {
    return inner ? inner : outer;
}
} // namespace

inherited overlay(const inherited& inner, const inherited& outer) {
    inherited out;
    out.connect_timeout = either(inner.connect_timeout, outer.connect_timeout);
    out.delay_loop = either(inner.delay_loop, outer.delay_loop);
    out.delay_before_retry = either(inner.delay_before_retry, outer.delay_before_retry);
    out.warmup = either(inner.warmup, outer.warmup);
    out.drain_time = either(inner.drain_time, outer.drain_time);
    out.retry = either(inner.retry, outer.retry);
    out.rise = either(inner.rise, outer.rise);
    out.fall = either(inner.fall, outer.fall);
    out.inhibit = either(inner.inhibit, outer.inhibit);
    out.virtualhost = either(inner.virtualhost, outer.virtualhost);
    return out;
}

result<void> session::unsupported(const statement& st, std::string_view where) {
    note(st.where(), fmt::format("{} in {} not supported: ignored", st.keyword(), where));
    return stream.skip_block_if_any(st);
}

} // namespace xlb::keepalived::detail
