#pragma once
// Running a shell command line from a test: its exit status, stdout and
// stderr apart. For driving the built xlbctl as an operator would.

#include <string>

namespace xlb::test {

struct cmd_result {
    int code; // the exit status, or 128 when it did not exit
    std::string out;
    std::string err;
};

cmd_result run_cmd(const std::string& cmd);

// The xlbctl this build made.
const std::string& xlbctl_bin();

} // namespace xlb::test
