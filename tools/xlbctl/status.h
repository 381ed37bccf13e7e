#pragma once
// Rendering of `xlbctl status`: text for people, JSON (schema 1, README.md)
// for programs. The data comes from the backend's dataplane::report().

#include <xlb/dataplane/status.h>

#include <string>

namespace xlbctl {

inline constexpr int status_schema = 1;

std::string status_text(const xlb::status_report& st);
std::string status_json(const xlb::status_report& st);

} // namespace xlbctl
