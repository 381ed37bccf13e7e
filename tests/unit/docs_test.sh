#!/usr/bin/env bash
# The man pages and the bash completions of xlbctl and xlbd (ctest: unit_docs,
# label unit).
#   1. `cmake --install` puts xlbctl, xlbctl.8 and the completion where they
#      belong, and xlbd's files: xlbd.8 (man8), xlbd.conf.5 (man5), its
#      completion, the systemd unit and /etc/default/xlbd;
#   2. groff formats every page without a single warning (-ww);
#   3. the page names every option xlbctl parses: the options of `xlbctl -h`,
#      every entry of the ipvsadm grammar's table (userspace/ipvsadm/command.cpp),
#      the global options and subcommands of tools/xlbctl/main.cpp, the
#      schedulers and scheduler flags -- so the page cannot fall behind silently;
#   4. the completion function offers the right words;
#   5. xlbd.8 names every option of xlbd's completion (and of tools/xlbd's
#      source, once it exists), and xlbd's completion offers them.
# Needs groff (groff-base) and bash; scripts/bootstrap installs them.
#
# usage: docs_test.sh --source DIR --build DIR --xlbctl PATH
set -uo pipefail

source_dir="" build_dir="" xlbctl=""
while (($#)); do
    case $1 in
    --source) source_dir=$2; shift 2 ;;
    --build) build_dir=$2; shift 2 ;;
    --xlbctl) xlbctl=$2; shift 2 ;;
    *) echo "docs_test: unknown argument $1" >&2; exit 2 ;;
    esac
done
if [[ -z $source_dir || -z $build_dir || -z $xlbctl ]]; then
    echo "usage: docs_test.sh --source DIR --build DIR --xlbctl PATH" >&2
    exit 2
fi

failures=0
fail() {
    echo "FAIL: $*"
    ((failures++))
}
pass() {
    echo "ok:   $*"
}

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

page=$source_dir/docs/xlbctl.8
completion=$source_dir/tools/completion/xlbctl.bash
xlbd_page=$source_dir/docs/xlbd.8
xlbd_conf_page=$source_dir/docs/xlbd.conf.5
xlbd_completion=$source_dir/tools/completion/xlbd.bash

# --- 1. install -------------------------------------------------------------
echo "== cmake --install --prefix $tmp/prefix"
if cmake --install "$build_dir" --prefix "$tmp/prefix" >"$tmp/install.log" 2>&1; then
    pass "cmake --install"
else
    cat "$tmp/install.log"
    fail "cmake --install"
fi
prefix=$tmp/prefix
if [[ -x $prefix/sbin/xlbctl ]] && "$prefix/sbin/xlbctl" -h >/dev/null 2>&1; then
    pass "binary at sbin/xlbctl, runs -h"
else
    fail "no working sbin/xlbctl under the prefix"
fi
if cmp -s "$page" "$prefix/share/man/man8/xlbctl.8"; then
    pass "man page at share/man/man8/xlbctl.8"
else
    fail "share/man/man8/xlbctl.8 missing or not docs/xlbctl.8"
fi
if cmp -s "$completion" "$prefix/share/bash-completion/completions/xlbctl"; then
    pass "completion at share/bash-completion/completions/xlbctl"
else
    fail "share/bash-completion/completions/xlbctl missing or not tools/completion/xlbctl.bash"
fi
# xlbd's files: byte for byte, except the unit, made from dist/xlbd.service.in
# with this prefix's paths.
for pair in "$xlbd_page:share/man/man8/xlbd.8" "$xlbd_conf_page:share/man/man5/xlbd.conf.5" \
    "$xlbd_completion:share/bash-completion/completions/xlbd" "$source_dir/dist/xlbd.default:etc/default/xlbd"; do
    if cmp -s "${pair%%:*}" "$prefix/${pair#*:}"; then
        pass "${pair#*:}"
    else
        fail "${pair#*:} missing or not ${pair%%:*}"
    fi
done
unit=$prefix/lib/systemd/system/xlbd.service
if [[ -f $unit ]] && grep -q '^ExecStart=/.*/sbin/xlbd -f /etc/keepalived/keepalived.conf \$DAEMON_ARGS$' "$unit" &&
    grep -q '^ExecReload=/bin/kill -HUP \$MAINPID$' "$unit" && grep -qx 'KillMode=process' "$unit" &&
    ! grep -q '@' "$unit"; then
    pass "lib/systemd/system/xlbd.service, its paths filled in"
else
    fail "lib/systemd/system/xlbd.service missing, or not dist/xlbd.service.in filled in"
fi
# sbin/ipvsadm -> xlbctl only with -DXLB_INSTALL_IPVSADM_LINK=ON, and through
# it xlbctl answers as ipvsadm.
if grep -q '^XLB_INSTALL_IPVSADM_LINK:BOOL=ON' "$build_dir/CMakeCache.txt" 2>/dev/null; then
    if [[ $(readlink "$prefix/sbin/ipvsadm") == xlbctl ]] &&
        [[ $("$prefix/sbin/ipvsadm" -v) == "ipvsadm v1.31 2019/12/24 (compiled with popt and IPVS v1.2.1)" ]]; then
        pass "XLB_INSTALL_IPVSADM_LINK: sbin/ipvsadm -> xlbctl, answers as ipvsadm"
    else
        fail "XLB_INSTALL_IPVSADM_LINK is on but sbin/ipvsadm is not a working link to xlbctl"
    fi
elif [[ -e $prefix/sbin/ipvsadm || -L $prefix/sbin/ipvsadm ]]; then
    fail "sbin/ipvsadm installed although XLB_INSTALL_IPVSADM_LINK is off"
else
    pass "no sbin/ipvsadm (XLB_INSTALL_IPVSADM_LINK is off)"
fi
# From here on the tree's files are checked; the installed ones are the same bytes.

# --- 2. the pages format without warnings -----------------------------------
echo "== groff -man -ww"
if ! command -v groff >/dev/null; then
    fail "groff is missing (Debian: groff-base; scripts/bootstrap installs it)"
else
    for p in "$page" "$xlbd_page" "$xlbd_conf_page"; do
        name=${p##*/}
        for dev in utf8 ascii; do
            if groff -man -T"$dev" -ww -z "$p" >"$tmp/groff.err" 2>&1 && [[ ! -s $tmp/groff.err ]]; then
                pass "$name: groff -man -T$dev -ww: no warning"
            else
                cat "$tmp/groff.err"
                fail "$name: groff -man -T$dev -ww warns"
            fi
        done
        if command -v man >/dev/null; then
            if LC_ALL=C.UTF-8 MANWIDTH=80 MANPAGER=cat PAGER=cat man --warnings=all -l "$p" \
                >"$tmp/man.out" 2>"$tmp/man.err" && [[ ! -s $tmp/man.err && -s $tmp/man.out ]]; then
                pass "$name: man -l at 80 columns: no warning"
            else
                cat "$tmp/man.err"
                fail "$name: man -l warns or prints nothing"
            fi
        fi
    done
fi

# --- 3. every option is documented --------------------------------------------
echo "== options documented"
# Plain text, one paragraph per line (wide lines, so nothing is broken or hyphenated).
groff -man -Tascii -rLL=2000n -P-c -P-b -P-o -P-u "$page" >"$tmp/page.txt" 2>/dev/null

documented() { # $1: an option such as -t, --tun-type, or a word such as wlc
    grep -qE -- "(^|[^[:alnum:]-])$(printf '%s' "$1" | sed 's/[].[*^$+?(){}|\\]/\\&/g')([^[:alnum:]-]|$)" "$tmp/page.txt"
}

declare -A want=() # option -> where it comes from

# a) xlbctl -h: `-A|E', `-t|u', `--stats|--thresholds|--persistent-conn', ...
"$xlbctl" -h >"$tmp/usage.txt" 2>&1
for word in $(tr '[]' '  ' <"$tmp/usage.txt"); do
    if [[ $word =~ ^-[A-Za-z](\|[A-Za-z])*$ ]]; then
        for letter in $(tr -d '|-' <<<"$word" | grep -o .); do
            want[-$letter]="xlbctl -h"
        done
    elif [[ $word == --* ]]; then
        IFS='|' read -ra longs <<<"$word"
        for l in "${longs[@]}"; do
            [[ $l =~ ^--[a-z][-a-z]*$ ]] && want[$l]="xlbctl -h"
        done
    fi
done
# (the subcommands come from main.cpp below)

# b) the ipvsadm grammar's option table: {'A', "add-service", ...} / {0, "set", ...}
n_specs=0
while IFS='|' read -r short long; do
    [[ -n $short ]] && want[-$short]="command.cpp specs"
    [[ -n $long ]] && want[--$long]="command.cpp specs"
    ((n_specs++))
done < <(sed -nE "s/^ *\{('(.)'|0), (\"([a-z-]+)\"|nullptr), (true|false),.*/\2|\4/p" \
    "$source_dir/userspace/ipvsadm/command.cpp")
if ((n_specs < 50)); then
    fail "read only $n_specs options from command.cpp's specs table; did its layout change?"
fi

# c) ipvsadm 1.31's own options, in case the table above ever loses one.
for o in -A -E -D -C -R -S -a -e -d -L -l -Z -h -v -t -u -f -s -p -M -b -o -r -g -i -m -w -x -y -n -c -X \
    --set --start-daemon --stop-daemon --sctp-service --pe --tun-type --tun-port --tun-nocsum --tun-csum \
    --tun-remcsum --timeout --daemon --stats --rate --thresholds --persistent-conn --tun-info --exact \
    --sort --nosort --mcast-interface --syncid --mcast-group --mcast-port --mcast-ttl --sync-maxlen; do
    want[$o]="ipvsadm 1.31"
done

# d) xlbctl's global options, subcommands and their options (tools/xlbctl/main.cpp,
#    the XDP subcommands' in xdp_commands.cpp).
main_cpp=$source_dir/tools/xlbctl/main.cpp
xdp_cpp=$source_dir/tools/xlbctl/xdp_commands.cpp
for o in $(grep -ohE '"--[a-z][-a-z]*' "$main_cpp" "$xdp_cpp" | tr -d '"' | sort -u); do
    want[$o]="main.cpp"
done
for sub in $(grep -oE 'sub == "[a-z]+"' "$main_cpp" | grep -oE '"[a-z]+"' | tr -d '"'); do
    want[$sub]="main.cpp"
done
for env in $(grep -ohE '"XLB_[A-Z_]+"' "$main_cpp" "$source_dir/userspace/dataplane/xdp/pin_dir.cpp" |
    tr -d '"' | sort -u); do
    want[$env]="environment"
done

# e) schedulers and scheduler flags.
for s in $(sed -nE 's/.*"rr", *"wrr".*/&/p' "$source_dir/userspace/model/service.cpp" | grep -oE '"[a-z]+"' | tr -d '"'); do
    want[$s]="scheduler"
done
for f in $(grep -oE 'flag == "[a-z0-9-]+"' "$source_dir/userspace/ipvsadm/command.cpp" | grep -oE '"[^"]+"' | tr -d '"'); do
    want[$f]="scheduler flag"
done
for v in ipip gue gre native generic xdp ipvs auto; do
    want[$v]="option value"
done

missing=0
for o in $(printf '%s\n' "${!want[@]}" | sort); do
    if ! documented "$o"; then
        fail "'$o' (from ${want[$o]}) is not in the man page"
        ((missing++))
    fi
done
((missing == 0)) && pass "all ${#want[@]} options, subcommands and names appear in the man page"

# The page's required sections.
for section in NAME SYNOPSIS DESCRIPTION "GLOBAL OPTIONS" SUBCOMMANDS COMMANDS "EXIT STATUS" ENVIRONMENT \
    FILES EXAMPLES "SEE ALSO"; do
    grep -qx "$section" "$tmp/page.txt" || fail "no $section section"
done
for ref in 'ipvsadm(8)' 'keepalived(8)' 'xlbctl -S -n > rules' 'xlbctl -R < rules' /sys/fs/bpf/xlb; do
    grep -qF -- "$ref" "$tmp/page.txt" || fail "the page does not mention $ref"
done

# --- 4. completion ---------------------------------------------------------------
echo "== completion"
# A stand-in xlbctl whose `-S -n` lists two TCP services and one UDP service.
cat >"$tmp/fake-xlbctl" <<'EOF'
#!/bin/sh
[ "$*" = "-S -n" ] || [ "$*" = "--pin-dir /x -S -n" ] || [ "$*" = "--lock-wait 100 --pin-dir /x -S -n" ] || exit 1
echo '-A -t 10.1.2.3:80 -s rr'
echo '-a -t 10.1.2.3:80 -r 10.0.0.1:80 -g -w 1'
echo '-A -t 10.1.2.4:443 -s wlc'
echo '-A -u [fd00::1]:53 -s mh'
EOF
chmod +x "$tmp/fake-xlbctl"

# complete WANT WORD... : the last WORD is the one being completed; WANT is a
# space-separated list that must all be offered, or `-' for no offer at all.
# The completion under test: $comp_file, its function $comp_fn for $comp_cmd.
comp_file=$completion comp_fn=_xlbctl comp_cmd=xlbctl
complete_check() {
    local expect=$1
    shift
    local got
    got=$(bash --norc --noprofile -c '
        source "$1" || exit 3
        fn=$2 cmd=$3
        shift 3
        complete -p "$cmd" >/dev/null || exit 4
        COMP_WORDS=("$@")
        COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
        COMP_LINE="$*"
        COMP_POINT=${#COMP_LINE}
        "$fn" || exit 5
        printf "%s\n" "${COMPREPLY[@]}"' bash "$comp_file" "$comp_fn" "$comp_cmd" "$@" 2>&1)
    local rc=$?
    local desc="[$*] offers ${expect}"
    if ((rc != 0)); then
        fail "$desc: the completion script failed ($rc): $got"
        return
    fi
    if [[ $expect == - ]]; then
        if [[ -z $got ]]; then
            pass "[$*] offers nothing"
        else
            fail "[$*] should offer nothing, offers: $got"
        fi
        return
    fi
    local w
    for w in $expect; do
        if ! grep -qxF -- "$w" <<<"$got"; then
            fail "$desc; it offers: $(tr '\n' ' ' <<<"$got")"
            return
        fi
    done
    pass "$desc"
}

complete_check "wlc wrr" xlbctl -A -t 10.0.0.1:80 -s w
complete_check "rr wrr lc wlc sed nq fo ovf twos sh dh mh" xlbctl -E -t 10.0.0.1:80 --scheduler ''
complete_check "gue" xlbctl -a -t 10.0.0.1:80 -r 10.0.0.2 -i --tun-type g
complete_check "ipip gue gre" xlbctl -a -t 10.0.0.1:80 -r 10.0.0.2 -i --tun-type ''
complete_check "gue" xlbctl -a -t 10.0.0.1:80 -r 10.0.0.2 -i --tun-type = g
complete_check "sh-port,sh-fallback" xlbctl -A -t 10.0.0.1:80 -s sh -b sh-port,sh-f
complete_check "load attach detach unload status resolve checks" xlbctl ''
complete_check "attach" xlbctl --pin-dir /sys/fs/bpf/xlb/t1 att
complete_check "--pin-dir --backend --json --lock-wait -A --add-service -L --restore" xlbctl -
complete_check "xdp ipvs auto" xlbctl --backend ''
complete_check "--stats --rate --tun-info --sort --nosort" xlbctl -L -n --
complete_check "--max-services --max-dests --max-flows --mh-size" xlbctl load --m
complete_check "--icmp-ratelimit --icmp-msgs-per-sec --icmp-msgs-burst" xlbctl load --i
complete_check "native generic" xlbctl attach lo --xdp-mode ''
complete_check "--follow" xlbctl resolve -
complete_check "lo" xlbctl attach l
complete_check "lo" xlbctl detach l
complete_check "10.1.2.3:80 10.1.2.4:443" "$tmp/fake-xlbctl" -a -t ''
complete_check "10.1.2.3:80" "$tmp/fake-xlbctl" -d --tcp-service 10.1.2.3
# bash splits the word at colons; only the part after the last one is replaced.
complete_check "80" "$tmp/fake-xlbctl" -a -t 10.1.2.3 : 8
complete_check "53" "$tmp/fake-xlbctl" -L -u '[fd00' :: '1]' :
complete_check "10.1.2.3:80" "$tmp/fake-xlbctl" --pin-dir /x -a -t 10.1.2.3
complete_check "10.1.2.3:80" "$tmp/fake-xlbctl" --lock-wait 100 --pin-dir /x -a -t 10.1.2.3
complete_check - xlbctl --lock-wait ''
complete_check - "$tmp/fake-xlbctl" -a -t 10.1.2.3:80 -w ''
# No xlbctl to ask: silently nothing.
complete_check - "$tmp/no-such-xlbctl" -a -t ''

# Every ipvsadm option the grammar accepts can be completed, the sync
# daemon's options included.
words=$(bash --norc --noprofile -c 'source "$1"; echo $_xlbctl_commands $_xlbctl_options' bash "$completion")
for o in $(printf '%s\n' "${!want[@]}" | grep -E '^-' | sort); do
    case $o in
    --pin-dir | --backend | --json | --lock-wait | --max-* | --mh-size | --icmp-* | --xdp-mode | --follow | --socket) continue ;;
    esac
    tr -s ' \n' '\n' <<<"$words" | grep -qxF -- "$o" || fail "the completion does not offer $o"
done

# --- 5. xlbd's pages and completion -------------------------------------------
echo "== xlbd"
groff -man -Tascii -rLL=2000n -P-c -P-b -P-o -P-u "$xlbd_page" >"$tmp/page.txt" 2>/dev/null
xlbd_opts=$(bash --norc --noprofile -c 'source "$1"; echo $_xlbd_options' bash "$xlbd_completion")
# Once tools/xlbd exists, every long option its source spells must be on the
# page and in the completion too.
xlbd_src_opts=$(grep -rohE '"--[a-z][-a-z]*' "$source_dir/tools/xlbd" 2>/dev/null | tr -d '"' | grep -vx -- --name |
    sort -u)
missing=0
for o in $xlbd_opts $xlbd_src_opts; do
    if ! documented "$o"; then
        fail "xlbd option '$o' is not in xlbd.8"
        ((missing++))
    fi
done
for o in $xlbd_src_opts; do
    tr -s ' \n' '\n' <<<"$xlbd_opts" | grep -qxF -- "$o" || fail "xlbd's completion does not offer $o"
done
((missing == 0)) && pass "xlbd.8 names every option ($(wc -w <<<"$xlbd_opts $xlbd_src_opts") checked)"
for section in NAME SYNOPSIS DESCRIPTION OPTIONS SIGNALS "CONTROL SOCKET" METRICS "EXIT STATUS" ENVIRONMENT \
    FILES EXAMPLES "SEE ALSO"; do
    grep -qx "$section" "$tmp/page.txt" || fail "xlbd.8 has no $section section"
done
for ref in 'xlbd -t -f' SIGHUP SIGTERM omega /run/xlb/xlbd.sock 'xlbctl checks' 'xlbctl --json checks' \
    /etc/default/xlbd DAEMON_ARGS 'xlbd.conf(5)'; do
    grep -qF -- "$ref" "$tmp/page.txt" || fail "xlbd.8 does not mention $ref"
done
groff -man -Tascii -rLL=2000n -P-c -P-b -P-o -P-u "$xlbd_conf_page" >"$tmp/conf.txt" 2>/dev/null
for word in virtual_server virtual_server_group real_server include lvs_sched lb_algo lvs_method lb_kind \
    persistence_timeout persistence_granularity protocol delay_loop connect_timeout retry delay_before_retry \
    warmup alpha omega quorum hysteresis quorum_up quorum_down sorry_server inhibit_on_failure weight \
    uthreshold lthreshold notify_up notify_down TCP_CHECK HTTP_GET SSL_GET MISC_CHECK UDP_CHECK DNS_CHECK \
    url path status_code digest virtualhost connect_port connect_ip bind_to misc_path misc_timeout \
    misc_dynamic rise fall drain_time vrrp_ global_defs; do
    grep -qF -- "$word" "$tmp/conf.txt" || fail "xlbd.conf.5 does not mention $word"
done
pass "xlbd.8 and xlbd.conf.5: sections and keywords"

comp_file=$xlbd_completion comp_fn=_xlbd comp_cmd=xlbd
complete_check "--use-file --config-test --help --version --interface --pin-dir --backend --metrics --log-level --log-target --cleanup-on-exit --socket" xlbd -
complete_check "xdp ipvs auto" xlbd -f x.conf --backend ''
complete_check "debug info warning error" xlbd --log-level ''
complete_check "journald" xlbd --log-target j
complete_check "lo" xlbd --interface l
complete_check "off" xlbd --metrics ''
complete_check "$tmp/prefix" xlbd -f "$tmp/pre"

echo
if ((failures)); then
    echo "docs_test: $failures failure(s)"
    exit 1
fi
echo "docs_test: all checks passed"
