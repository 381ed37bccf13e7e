#pragma once
// Small files xlb keeps under its run directory: written atomically, so a
// reader sees the old content or the new, never a part.

#include <xlb/util/error.h>

#include <string>

namespace xlb {

// Creates path and its parents (mode) where missing.
result<> make_dirs(const std::string& path, unsigned mode = 0755);
// Writes text to a temp file beside path, fsyncs it, and renames it over path.
result<> write_file_atomic(const std::string& path, const std::string& text, unsigned mode = 0644);
// The whole file; ENOENT when it does not exist.
result<std::string> read_file(const std::string& path);
// '/' and '%' as %2F and %25: one reversible file name for a path.
std::string escape_path(const std::string& path);

} // namespace xlb
