#pragma once
// The subcommands that only mean something for the XDP backend: load,
// attach, detach, unload, resolve; and keeping new dests' neighbours
// resolved after an ipvsadm command. The only xlbctl file that knows the
// XDP backend's class.

#include "cli.h"

#include <xlb/ipvsadm/command.h>

#include <string>
#include <vector>

namespace xlbctl {

int cmd_load(const globals& g, const std::vector<std::string>& args);
int cmd_attach(const globals& g, const std::vector<std::string>& args);
int cmd_detach(const globals& g, const std::vector<std::string>& args);
int cmd_unload(const globals& g, const std::vector<std::string>& args);
int cmd_resolve(const globals& g, const std::vector<std::string>& args);


} // namespace xlbctl
