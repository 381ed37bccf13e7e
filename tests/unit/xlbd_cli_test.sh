#!/usr/bin/env bash
# xlbd's command line as an operator meets it (ctest: unit_xlbd_cli):
#   - `xlbd -t -f` accepts every keepalived sample config (tests/fixtures/
#     keepalived, copied from keepalived's own doc/samples): exit 0;
#   - it refuses every malformed one (tests/fixtures/keepalived/bad): exit 1,
#     one line "xlbd: FILE:LINE:COLUMN: message";
#   - a file it cannot read: exit 1 naming the file; a bad option: exit 2;
#   - started (not -t) on a malformed file, it refuses to start (exit 1)
#     before it opens any backend.
# usage: xlbd_cli_test.sh --source DIR --xlbd BIN
set -uo pipefail

source_dir="" xlbd=""
while (($#)); do
    case $1 in
    --source) source_dir=$2; shift 2 ;;
    --xlbd) xlbd=$2; shift 2 ;;
    *) echo "usage: $0 --source DIR --xlbd BIN" >&2; exit 2 ;;
    esac
done
failures=0
pass() { echo "ok:   $*"; }
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

fixtures=$source_dir/tests/fixtures/keepalived
n=0
for f in "$fixtures"/keepalived.conf.*; do
    n=$((n + 1))
    out=$("$xlbd" -t -f "$f" 2>"$tmp/err")
    rc=$?
    if ((rc == 0)) && grep -q "configuration OK" <<<"$out"; then
        pass "xlbd -t -f ${f##*/}: ${out##*: configuration OK: }"
    else
        fail "xlbd -t -f ${f##*/}: exit $rc: $out $(cat "$tmp/err")"
    fi
done
((n >= 12)) || fail "only $n fixtures found under $fixtures"

n=0
for f in "$fixtures"/bad/*; do
    n=$((n + 1))
    "$xlbd" -t -f "$f" >"$tmp/out" 2>"$tmp/err"
    rc=$?
    # One line naming the file (or the file it includes) with line and column.
    if ((rc == 1)) && [[ $(wc -l <"$tmp/err") -eq 1 ]] &&
        grep -qE "^xlbd: /[^:]+:[0-9]+:[0-9]+: [^ ]" "$tmp/err"; then
        :
    else
        fail "xlbd -t -f bad/${f##*/}: exit $rc, stderr: $(cat "$tmp/err")"
    fi
done
((n >= 30)) && pass "xlbd -t refuses all $n malformed files with FILE:LINE:COLUMN (exit 1)" ||
    fail "only $n malformed files"

"$xlbd" -t -f "$tmp/none.conf" >/dev/null 2>"$tmp/err"
rc=$?
((rc == 1)) && grep -q "$tmp/none.conf" "$tmp/err" && grep -q "No such file" "$tmp/err" &&
    pass "a missing file: exit 1, $(cat "$tmp/err")" || fail "a missing file: exit $rc, $(cat "$tmp/err")"

for args in "--frobnicate" "-f" "--backend dpdk" "--log-level loud" "--metrics"; do
    # shellcheck disable=SC2086
    "$xlbd" $args >/dev/null 2>"$tmp/err"
    rc=$?
    ((rc == 2)) && grep -q "^usage: xlbd" "$tmp/err" && pass "xlbd $args: exit 2 with the usage" ||
        fail "xlbd $args: exit $rc, $(cat "$tmp/err")"
done

# Refused before any backend is opened: no root, no data path needed.
XLB_RUN_DIR=$tmp/run "$xlbd" -f "$fixtures/bad/$(ls "$fixtures/bad" | head -1)" --backend ipvs >/dev/null 2>"$tmp/err"
rc=$?
((rc == 1)) && grep -q "not starting" "$tmp/err" && [[ ! -e $tmp/run ]] &&
    pass "a malformed file at start: exit 1, nothing created" || fail "start on a malformed file: exit $rc, $(cat "$tmp/err")"

"$xlbd" -v | grep -qE '^xlbd [0-9]+\.[0-9]+\.[0-9]+$' && pass "xlbd -v" || fail "xlbd -v: $("$xlbd" -v 2>&1)"

echo
((failures)) && { echo "$failures failure(s)"; exit 1; }
echo "all passed"
