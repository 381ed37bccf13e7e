#pragma once
// Running a shell command line from a test: its exit status, stdout and
// stderr apart. For driving the built xlbctl as an operator would.

#include <xlb/dataplane/dataplane.h>
#include <xlb/ipvsadm/command.h>

#include <string>
#include <vector>

namespace xlb::test {

struct cmd_result {
    int code; // the exit status, or 128 when it did not exit
    std::string out;
    std::string err;
};

cmd_result run_cmd(const std::string& cmd);

// The xlbctl this build made.
const std::string& xlbctl_bin();

// An ipvsadm command line split at blanks, as ipvsadm -R splits its lines.
std::vector<std::string> split_words(const std::string& line);

// One ipvsadm command line run in-process, through the parser and execute(),
// as xlbctl runs it; a usage error comes back as its message and exit code.
ipvsadm::outcome run_ipvsadm(dataplane& dp, const std::string& line, const std::string& prog = "xlbctl");

} // namespace xlb::test
