#pragma once
// The fallback record: an XDP instance whose `xlbctl attach` found no native
// XDP and whose table kernel IPVS now serves. bpffs holds no regular files,
// so the record lives under the run directory ($XLB_RUN_DIR, else /run/xlb),
// in fallback/, one file per pin dir, written atomically (temp + rename).
// While it exists, `--backend auto` opens kernel IPVS for that pin dir.

#include <xlb/model/service.h>
#include <xlb/util/error.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace xlb {

struct change;
struct timeouts;

struct fallback_record {
    std::string pin_dir;    // the instance whose table IPVS serves
    std::string ifname;     // the interface `attach` was asked for
    std::string reason;     // the kernel's answer to the native attach
    int64_t since_unix = 0; // when the table moved into IPVS

    auto operator<=>(const fallback_record&) const = default;
};

// $XLB_RUN_DIR, else /run/xlb.
std::string run_dir();
// Where the record of pin_dir is kept: RUN_DIR/fallback/<pin dir, escaped>.
std::string fallback_path(const std::string& pin_dir);

// The record of pin_dir, or nothing if the instance is not in fallback.
result<std::optional<fallback_record>> read_fallback(const std::string& pin_dir);
// Writes the record (a temp file, fsync, rename): readers see the old record
// or the new one, never a part.
result<> write_fallback(const fallback_record& rec);
// Removes the record; no record is no error.
result<> remove_fallback(const std::string& pin_dir);

// The change set that writes `table` into another backend as one set: its
// services and dests (each service's dests in the order that lists them as
// the source did, newest first), then the timeouts if given. With
// replace, the set starts by clearing the target (-C).
std::vector<change> copy_table(const std::vector<service_state>& table, const timeouts* t, bool replace);
// The change set that deletes the services of `table`.
std::vector<change> delete_table(const std::vector<service_state>& table);

} // namespace xlb
