#pragma once
// tests/fixtures/ipvsadm/basic.golden: output of real ipvsadm 1.31, split at
// its ===NAME markers.

#include <map>
#include <string>

namespace xlb::test {

// FILE is one of tests/fixtures/ipvsadm/*.golden.
std::map<std::string, std::string> ipvsadm_golden(const std::string& file = "basic.golden");
// A section's text before its "rc=" line (the ERRn sections).
std::string golden_message(const std::string& section);

// -S output less xlb's one addition, the thresholds ipvsadm -S forgets: each
// line's trailing " -x N" or " -x N -y M".
std::string strip_thresholds(const std::string& text);

} // namespace xlb::test
