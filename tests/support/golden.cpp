#include "support/golden.h"

#include <fstream>
#include <sstream>

namespace xlb::test {

std::map<std::string, std::string> ipvsadm_golden(const std::string& file) {
    std::ifstream in(std::string(XLB_SOURCE_DIR) + "/tests/fixtures/ipvsadm/" + file);
    std::stringstream ss;
    ss << in.rdbuf();
    const std::string all = ss.str();
    std::map<std::string, std::string> sections;
    size_t pos = all.find("===");
    while (pos != std::string::npos) {
        size_t eol = all.find('\n', pos);
        std::string name = all.substr(pos + 3, eol - pos - 3);
        size_t next = all.find("\n===", eol);
        sections[name] = all.substr(eol + 1, next == std::string::npos ? std::string::npos : next - eol);
        pos = next == std::string::npos ? next : next + 1;
    }
    return sections;
}

std::string golden_message(const std::string& section) {
    auto text = ipvsadm_golden()[section];
    return text.substr(0, text.find("rc="));
}

std::string strip_thresholds(const std::string& text) {
    std::istringstream in(text);
    std::string out;
    for (std::string line; std::getline(in, line);) {
        if (auto x = line.find(" -x "); x != std::string::npos) {
            auto rest = line.substr(x + 4);
            bool only_numbers = rest.find_first_not_of("0123456789 -y") == std::string::npos;
            if (only_numbers) {
                line.erase(x);
            }
        }
        out += line + "\n";
    }
    return out;
}

} // namespace xlb::test
