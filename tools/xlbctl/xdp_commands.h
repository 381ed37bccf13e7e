#pragma once
// The subcommands that only mean something for the XDP backend: load,
// attach, detach, unload, resolve; and keeping new dests' neighbours
// resolved after an ipvsadm command. The only xlbctl file that knows the
// XDP backend's class.

#include "cli.h"

#include <xlb/dataplane/xdp_dataplane.h>
#include <xlb/ipvsadm/command.h>

#include <string>
#include <vector>

namespace xlbctl {

// The instance at the pin dir, or exit 255 saying it is not loaded.
xlb::xdp_dataplane open_xdp_or_die(const globals& g);

int cmd_load(const globals& g, const std::vector<std::string>& args);
// attach.cpp: native or generic XDP, and the fallback to kernel IPVS.
int cmd_attach(const globals& g, const std::vector<std::string>& args);
int cmd_detach(const globals& g, const std::vector<std::string>& args);
int cmd_unload(const globals& g, const std::vector<std::string>& args);
int cmd_resolve(const globals& g, const std::vector<std::string>& args);


} // namespace xlbctl
