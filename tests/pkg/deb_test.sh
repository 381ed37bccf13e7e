#!/usr/bin/env bash
# The Debian package on this machine (ctest: integration_deb, label integration).
#   1. scripts/package builds the .deb (a Release build with -Werror, in
#      --build DIR, reused from one run to the next), or --deb names one;
#   2. its Depends are computed (dpkg-shlibdeps) and name only packages that
#      this machine's Debian archive has;
#   3. `dpkg -i` installs it; every file is where it belongs, `dpkg -L` lists
#      nothing else, /etc/default/xlbd is a conffile, the man pages are found;
#   4. the installed xlbctl runs; the installed xlbd checks keepalived's
#      sample and tests/pkg's keepalived.conf with -t and fails a broken one;
#      systemd-analyze verifies the unit;
#   5. `dpkg -P` purges it and leaves nothing behind.
# Needs root (dpkg -i): skips (77) otherwise, fails with XLB_REQUIRE_PRIV=1.
# One run at a time on a machine (flock), as two dpkg cannot run at once.
#
# usage: deb_test.sh --source DIR --build DIR [--deb FILE]
set -uo pipefail

source_dir="" build_dir="" deb=""
while (($#)); do
    case $1 in
    --source) source_dir=$2; shift 2 ;;
    --build) build_dir=$2; shift 2 ;;
    --deb) deb=$2; shift 2 ;;
    *) echo "deb_test: unknown argument $1" >&2; exit 2 ;;
    esac
done
if [[ -z $source_dir || (-z $build_dir && -z $deb) ]]; then
    echo "usage: deb_test.sh --source DIR --build DIR [--deb FILE]" >&2
    exit 2
fi

skip() {
    if [[ ${XLB_REQUIRE_PRIV:-0} == 1 ]]; then
        echo "FAIL: XLB_REQUIRE_PRIV=1 but $*"
        exit 1
    fi
    echo "SKIP: $*"
    exit 77
}
failures=0
fail() {
    echo "FAIL: $*"
    ((failures++))
}
pass() {
    echo "ok:   $*"
}

tmp=$(mktemp -d)
installed=0
cleanup() {
    ((installed)) && dpkg -P xlb >/dev/null 2>&1
    rm -rf "$tmp"
}
trap cleanup EXIT

if [[ $(id -u) -ne 0 ]]; then
    skip "not root: dpkg -i needs root"
fi
for tool in dpkg dpkg-deb dpkg-shlibdeps cpack; do
    command -v "$tool" >/dev/null || { echo "FAIL: $tool is missing (scripts/bootstrap installs dpkg-dev)"; exit 1; }
done

# --- 1. the package -------------------------------------------------------------
if [[ -z $deb ]]; then
    echo "== scripts/package (XLB_PKG_BUILD=$build_dir)"
    start=$SECONDS
    if ! deb=$(XLB_PKG_BUILD=$build_dir "$source_dir/scripts/package" 2>"$tmp/package.log" | tail -n 1); then
        cat "$tmp/package.log"
        echo "FAIL: scripts/package"
        exit 1
    fi
    pass "scripts/package: $deb ($((SECONDS - start)) s)"
fi
if [[ ! -f $deb ]]; then
    echo "FAIL: no package at '$deb'"
    exit 1
fi

# --- 2. control fields and Depends ----------------------------------------------
echo "== dpkg-deb -f"
[[ $(dpkg-deb -f "$deb" Package) == xlb ]] && pass "Package: xlb" || fail "Package is not xlb"
[[ $(dpkg-deb -f "$deb" Section) == net ]] && pass "Section: net" || fail "Section is not net"
version=$(sed -nE 's/^project\(xlb VERSION ([0-9.]+).*/\1/p' "$source_dir/CMakeLists.txt")
[[ -n $version && $(dpkg-deb -f "$deb" Version) == "$version" ]] && pass "Version: $version, project()'s" ||
    fail "Version $(dpkg-deb -f "$deb" Version) is not project()'s $version"
[[ -n $(dpkg-deb -f "$deb" Maintainer) && -n $(dpkg-deb -f "$deb" Description) ]] &&
    pass "Maintainer and Description set" || fail "no Maintainer or Description"
depends=$(dpkg-deb -f "$deb" Depends)
echo "Depends: $depends"
grep -qE '(^|, )libc6 ' <<<"$depends" && grep -q libbpf <<<"$depends" &&
    pass "Depends computed from the binaries (libc6, libbpf)" || fail "Depends does not name libc6 and libbpf"
# Each alternative of each dependency is a package name the Debian archive
# configured here offers (apt-cache madison lists archive entries, not the
# dpkg status file).
has_lists=$(find /var/lib/apt/lists -maxdepth 1 -name '*_Packages*' 2>/dev/null | head -n 1)
for name in $(tr ',|' '\n\n' <<<"$depends" | sed -E 's/\(.*\)//; s/:any//; s/ //g' | grep .); do
    from=""
    if [[ -z $has_lists ]]; then
        dpkg-query -W "$name" >/dev/null 2>&1 && pass "depends on $name (installed; no apt lists to check its origin)" ||
            fail "depends on $name, which is not installed and there are no apt lists"
    elif from=$(apt-cache madison "$name" 2>/dev/null | grep ' Packages$') && [[ -n $from ]]; then
        pass "depends on $name, from $(head -n 1 <<<"$from" | cut -d'|' -f3 | xargs)"
    else
        fail "depends on $name, which no configured Debian archive has"
    fi
done

# --- 3. install ---------------------------------------------------------------------
# (grep reads a variable, not a pipe: with pipefail, grep -q's early exit
# would fail the writer with SIGPIPE.)
expected=(
    /usr/sbin/xlbctl
    /usr/sbin/xlbd
    /usr/lib/xlb/xlb_decap.bpf.o
    /usr/lib/systemd/system/xlbd.service
    /etc/default/xlbd
    /usr/share/man/man8/xlbctl.8
    /usr/share/man/man8/xlbd.8
    /usr/share/man/man5/xlbd.conf.5
    /usr/share/bash-completion/completions/xlbctl
    /usr/share/bash-completion/completions/xlbd
)

mkdir -p /run/lock
exec 9>/run/lock/xlb-deb-test.lock
echo "== waiting for any other deb_test on this machine"
flock 9
# Never replace what an operator installed.
if dpkg-query -W -f='${Status}' xlb 2>/dev/null | grep -q 'install ok'; then
    skip "the xlb package is installed on this machine; the test will not replace or purge it (dpkg -P xlb)"
fi
for f in "${expected[@]}"; do
    if [[ -e $f ]]; then
        skip "$f exists (not from the package); the test will not overwrite it"
    fi
done

echo "== dpkg -i $deb"
installed=1
if ! dpkg -i "$deb" >"$tmp/dpkg.log" 2>&1; then
    cat "$tmp/dpkg.log"
    echo "FAIL: dpkg -i"
    exit 1
fi
pass "dpkg -i"

listed=$(dpkg -L xlb)
for f in "${expected[@]}"; do
    if grep -qxF "$f" <<<"$listed" && [[ -f $f ]]; then
        pass "$f"
    else
        fail "$f not installed, or not in dpkg -L"
    fi
done
while read -r f; do
    [[ -d $f ]] && continue
    printf '%s\n' "${expected[@]}" | grep -qxF "$f" || fail "dpkg -L lists an unexpected file: $f"
done <<<"$listed"
[[ -x /usr/sbin/xlbctl ]] && pass "/usr/sbin/xlbctl is executable" || fail "/usr/sbin/xlbctl is not executable"
dpkg-query -W -f='${Conffiles}\n' xlb | grep -q '^ /etc/default/xlbd ' &&
    pass "/etc/default/xlbd is a conffile" || fail "/etc/default/xlbd is not a conffile"
if command -v man >/dev/null; then
    [[ $(man -w 8 xlbd 2>/dev/null) == /usr/share/man/man8/xlbd.8* ]] && [[ $(man -w 5 xlbd.conf 2>/dev/null) == /usr/share/man/man5/xlbd.conf.5* ]] &&
        [[ $(man -w 8 xlbctl 2>/dev/null) == /usr/share/man/man8/xlbctl.8* ]] &&
        pass "man finds xlbctl(8), xlbd(8) and xlbd.conf(5)" || fail "man -w does not find the installed pages"
fi

# --- 4. the installed tools -------------------------------------------------------
echo "== the installed tools"
if out=$(/usr/sbin/xlbctl -v 2>&1) && [[ $out == ipvsadm\ v1.31* ]]; then
    pass "xlbctl -v: $out"
else
    fail "xlbctl -v: $out"
fi
# A good configuration (keepalived's own sample, and tests/pkg's) passes,
# a broken one fails.
for conf in "$source_dir/tests/fixtures/keepalived/keepalived.conf.sample" "$source_dir/tests/pkg/keepalived.conf"; do
    if out=$(/usr/sbin/xlbd -t -f "$conf" 2>&1); then
        pass "xlbd -t -f ${conf#"$source_dir"/}: $(tail -1 <<<"$out")"
    else
        echo "$out"
        fail "xlbd -t -f ${conf#"$source_dir"/} exits non-zero"
    fi
done
if out=$(/usr/sbin/xlbd -t -f "$source_dir/tests/pkg/keepalived-broken.conf" 2>&1); then
    fail "xlbd -t -f tests/pkg/keepalived-broken.conf exits 0"
else
    pass "xlbd -t -f tests/pkg/keepalived-broken.conf exits non-zero: $out"
fi
if out=$(/usr/sbin/xlbd -v 2>&1) && [[ $out == "xlbd "* ]]; then
    pass "xlbd -v: $out"
else
    fail "xlbd -v: $out"
fi
if command -v systemd-analyze >/dev/null; then
    if systemd-analyze verify /usr/lib/systemd/system/xlbd.service >"$tmp/verify.log" 2>&1; then
        pass "systemd-analyze verify xlbd.service"
    else
        cat "$tmp/verify.log"
        fail "systemd-analyze verify xlbd.service"
    fi
else
    echo "note: no systemd-analyze here: the unit is not verified"
fi

# --- 5. purge ------------------------------------------------------------------------
echo "== dpkg -P xlb"
if dpkg -P xlb >"$tmp/dpkg.log" 2>&1; then
    pass "dpkg -P xlb"
    installed=0
else
    cat "$tmp/dpkg.log"
    fail "dpkg -P xlb"
fi
dpkg-query -W -f='${Status}' xlb 2>/dev/null | grep -q 'install ok' && fail "xlb is still installed"
for f in "${expected[@]}"; do
    [[ -e $f ]] && fail "$f is left after the purge"
done
[[ -d /usr/lib/xlb ]] && fail "/usr/lib/xlb is left after the purge"

echo
if ((failures)); then
    echo "deb_test: $failures failure(s)"
    exit 1
fi
echo "deb_test: all checks passed"
