#pragma once
// tests/fixtures/ipvsadm/basic.golden: output of real ipvsadm 1.31, split at
// its ===NAME markers.

#include <map>
#include <string>

namespace xlb::test {

std::map<std::string, std::string> ipvsadm_golden();
// A section's text before its "rc=" line (the ERRn sections).
std::string golden_message(const std::string& section);

} // namespace xlb::test
