#include "support/cmd.h"

#include <fmt/format.h>

#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <sstream>

namespace xlb::test {

cmd_result run_cmd(const std::string& cmd) {
    static std::atomic<int> seq{0};
    auto err_file = fmt::format("/tmp/xlb-test-{}-{}.err", getpid(), seq++);
    std::string out;
    FILE* p = popen(fmt::format("{} 2>{}", cmd, err_file).c_str(), "r");
    if (!p) {
        return {128, "", "popen failed"};
    }
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof(buf), p)) > 0) {
        out.append(buf, n);
    }
    int rc = pclose(p);
    std::string err;
    if (std::ifstream e(err_file); e) {
        err.assign(std::istreambuf_iterator<char>(e), {});
    }
    ::unlink(err_file.c_str());
    return {WIFEXITED(rc) ? WEXITSTATUS(rc) : 128, out, err};
}

const std::string& xlbctl_bin() {
    static const std::string path = std::string(XLB_BINARY_DIR) + "/bin/xlbctl";
    return path;
}

std::vector<std::string> split_words(const std::string& line) {
    std::istringstream in(line);
    std::vector<std::string> w;
    for (std::string s; in >> s;) {
        w.push_back(s);
    }
    return w;
}

ipvsadm::outcome run_ipvsadm(dataplane& dp, const std::string& line, const std::string& prog) {
    auto parsed = ipvsadm::parse(split_words(line), prog);
    if (auto* e = std::get_if<ipvsadm::usage_error>(&parsed)) {
        return {e->exit_code, "", e->message + "\n"};
    }
    return ipvsadm::execute(std::get<ipvsadm::command>(parsed), dp);
}

} // namespace xlb::test
