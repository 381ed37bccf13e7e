#pragma once
// IPVS's scheduling state of an rr or wrr service, and its place in xlb's
// bands. IPVS keeps one per service: ip_vs_rr.c a pointer to the dest last
// chosen (or the list head), ip_vs_wrr.c that pointer and the current weight
// cw (struct ip_vs_wrr_mark). The XDP data path keeps one per CPU, as a
// position in the bands (struct xlb_sched_cursor).
//
// A writer that changes a service turns each CPU's cursor back into IPVS's
// state (decode), runs the change through the callbacks IPVS runs for it
// (init_service, add_dest, del_dest, upd_dest), and writes the state into
// the new table's terms (encode). So on one CPU the sequence across changes
// is IPVS's: rr keeps its place when dests come and go, and wrr restarts
// from the list head with cw carried as ip_vs_wrr_dest_changed() does.

#include <xlb/abi.h>
#include <xlb/model/service.h>
#include <xlb/sched/table.h>

#include <optional>
#include <vector>

namespace xlb::sched {

struct mark {
    std::optional<endpoint> cl; // the dest last chosen; nullopt: the list head
    int32_t cw = 0;             // wrr: the current weight; 0 with no weighted dest
    auto operator<=>(const mark&) const noexcept = default;
};

// ip_vs_rr_init_svc() / ip_vs_wrr_init_svc() over `list` (IPVS list order,
// newest first): the head, and for wrr cw = mw.
mark init_mark(scheduler s, const std::vector<member>& list);

// ip_vs_wrr_dest_changed() for each CPU's mark, with `list` as it is after
// the change: the head, and cw kept within the new mw and on the new gcd's
// steps.
void wrr_dest_changed(std::vector<mark>& marks, const std::vector<member>& list);

// ip_vs_rr_del_dest(), with `list` still holding `gone`: a pointer at the
// dest that leaves moves to the one before it in the list (or the head).
void rr_del_dest(mark& m, const std::vector<member>& list, const endpoint& gone);

// The IPVS state of a cursor of table t (built from `list`). A cursor of
// another gen is one the data path restarts: the head, at the top pass.
mark decode(const table& t, const struct xlb_sched_cursor& c, const std::vector<member>& list);

// The cursor of table t (built from `list`) whose next pick is the one IPVS
// makes from m, and which decodes back to m wherever IPVS could tell the
// difference.
struct xlb_sched_cursor encode(const table& t, const mark& m, const std::vector<member>& list);

} // namespace xlb::sched
