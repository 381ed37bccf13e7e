#pragma once
// Network namespaces for tests. Everything a test creates lives in a
// namespace it made, and goes away with it.

#include <functional>
#include <string>

namespace xlb::test {

// Runs a shell command; returns its exit status. Output goes to the test log.
int sh(const std::string& cmd);
// Runs a shell command and returns its standard output (throws on failure).
std::string sh_out(const std::string& cmd);

// Moves the calling thread (and threads it starts later) into a new,
// anonymous network namespace with lo up. It disappears with the process,
// so nothing can be left behind. Call before starting threads.
void enter_private_netns();

// Runs fn on a temporary thread that has joined the named namespace
// (/var/run/netns/NAME). Sockets made there stay in that namespace.
void in_netns(const std::string& name, const std::function<void()>& fn);

int ifindex(const std::string& ifname);

} // namespace xlb::test
