#pragma once
// The data path's clock is bpf_jiffies64(). Userspace reads the same clock
// and the tick rate here.

#include <xlb/util/error.h>

#include <cstdint>

namespace xlb::clock {

// jiffies64 now, from /proc/timer_list.
result<uint64_t> jiffies();
// CONFIG_HZ, from the kernel config (/boot/config-<release>, /proc/config.gz),
// else measured against CLOCK_MONOTONIC and rounded to a Linux HZ value.
result<uint32_t> hz();

} // namespace xlb::clock
