// The shared behaviour suite (support/dataplane_behaviour.h) against the XDP
// backend: a fresh instance loaded for each case, opened through
// open_dataplane() as xlbctl opens it. Runs in the lab's private namespace.

#include "support/dataplane_behaviour.h"
#include "support/priv.h"
#include "support/xdp_lab.h"

#include <xlb/dataplane/dataplane.h>
#include <xlb/dataplane/xdp_dataplane.h>

#include <gtest/gtest.h>

#include <optional>

using namespace xlb;
using namespace xlb::test;

namespace {

[[maybe_unused]] auto* const g_env = ::testing::AddGlobalTestEnvironment(new lab_environment(false));

constexpr uint32_t max_services = 8;
constexpr uint32_t max_dests = 256;

class xdp_instance final : public behaviour_instance {
public:
    xdp_instance() : _xlb(load_options{max_services, max_dests, 4096}) {
        open_options o;
        o.pin_dir = _xlb.pin_dir();
        auto dp = open_dataplane("xdp", o);
        if (!dp) {
            throw std::runtime_error(dp.error().message());
        }
        _dp = std::move(*dp);
    }
    ~xdp_instance() override { _dp.reset(); }
    dataplane& dp() override { return *_dp; }

private:
    loaded_xlb _xlb;
    std::unique_ptr<dataplane> _dp;
};

behaviour_backend xdp_backend() {
    behaviour_backend b;
    b.name = "xdp";
    b.make = [] { return std::make_unique<xdp_instance>(); };
    b.max_services = max_services;
    b.max_dests = max_dests;
    b.missing = [] { return missing_privilege(); };
    return b;
}

} // namespace

INSTANTIATE_TEST_SUITE_P(xdp, dataplane_behaviour, ::testing::Values(xdp_backend()), behaviour_backend_name);
