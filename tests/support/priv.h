#pragma once
// Privileged tests skip with a reason when unprivileged; with
// XLB_REQUIRE_PRIV=1 (CI) the skip becomes a failure.

#include <gtest/gtest.h>

#include <string>

namespace xlb::test {

// Empty when the process may load BPF and create namespaces, else why not.
std::string missing_privilege();
bool require_priv();

} // namespace xlb::test

#define XLB_REQUIRE_PRIVILEGE()                                                                    \
    do {                                                                                           \
        auto why_ = ::xlb::test::missing_privilege();                                              \
        if (!why_.empty()) {                                                                       \
            if (::xlb::test::require_priv()) {                                                     \
                FAIL() << "XLB_REQUIRE_PRIV=1 but " << why_;                                       \
            }                                                                                      \
            GTEST_SKIP() << why_;                                                                  \
        }                                                                                          \
    } while (0)
