# bash completion for xlbctl(8).                                 -*- shell-script -*-
#
# Installed by `cmake --install` as <datadir>/bash-completion/completions/xlbctl.
# Self-contained: it needs bash only, not the bash-completion package's helpers.
# Covers the global options, the xlb subcommands, ipvsadm's grammar, schedulers
# after -s, scheduler flags after -b, tunnel types, interfaces after
# attach/detach, and the table's services after -t/-u/--sctp-service (read
# with `xlbctl -S -n`, silently nothing when that fails).

_xlbctl_global_opts='--pin-dir --backend --json --lock-wait'
_xlbctl_subcommands='load attach detach unload status resolve checks'
_xlbctl_commands='-A --add-service -E --edit-service -D --delete-service -C --clear
    -R --restore -S --save -a --add-server -e --edit-server -d --delete-server
    -L --list -l -Z --zero --set -h --help -v --version
    --start-daemon --stop-daemon'
_xlbctl_options='-t --tcp-service -u --udp-service -f --fwmark-service --sctp-service -6 --ipv6
    -s --scheduler -p --persistent -M --netmask -b --sched-flags -o --ops --pe
    -r --real-server -g --gatewaying -i --ipip -m --masquerading -w --weight
    -x --u-threshold -y --l-threshold
    --tun-type --tun-port --tun-nocsum --tun-csum --tun-remcsum
    -n --numeric -c --connection --timeout --daemon --stats --rate --thresholds
    --persistent-conn --tun-info -X --exact --sort --nosort
    --mcast-interface --syncid --mcast-group --mcast-port --mcast-ttl --sync-maxlen'
_xlbctl_schedulers='rr wrr lc wlc sed nq fo ovf twos sh dh mh'
_xlbctl_sched_flags='sh-fallback sh-port mh-fallback mh-port flag-1 flag-2 flag-3'

# Prints the services of the table, one address per line, for protocol flag $1
# (-t or -u). Runs the xlbctl being completed with the global options already
# typed, so --pin-dir is honoured. Prints nothing on any failure.
_xlbctl_services() {
    local proto=$1
    shift
    local -a cmd=("$@" -S -n)
    local runner=()
    if type -P timeout >/dev/null 2>&1; then
        runner=(timeout 2)
    fi
    "${runner[@]}" "${cmd[@]}" 2>/dev/null </dev/null |
        while read -r c p addr _; do
            if [[ $c == -A && $p == "$proto" ]]; then
                printf '%s\n' "$addr"
            fi
        done
    return 0
}

# COMPREPLY from compgen's lines, with no word splitting or globbing.
_xlbctl_reply() {
    mapfile -t COMPREPLY < <(compgen "$@")
}

# True when $1 is one or more colons: a piece bash split off at COMP_WORDBREAKS.
_xlbctl_colons() {
    [[ -n $1 && -z ${1//:/} ]]
}

_xlbctl() {
    local cur=${COMP_WORDS[COMP_CWORD]}
    local prev=""
    # bash splits `10.0.0.1:80' and `[fd00::1]:80' into words at each run of
    # colons (COMP_WORDBREAKS): glue them back into the word being completed.
    local j=$COMP_CWORD
    while ((j > 1)) && { _xlbctl_colons "${COMP_WORDS[j]}" || _xlbctl_colons "${COMP_WORDS[j - 1]}"; }; do
        cur=${COMP_WORDS[j - 1]}$cur
        ((j--))
    done
    if ((j > 0)); then
        prev=${COMP_WORDS[j - 1]}
    fi
    # `--opt=value`: bash splits at '=' (COMP_WORDBREAKS), so the option is two
    # words back.
    if [[ $cur == = ]]; then
        cur=""
    elif [[ $prev == = ]] && ((j > 1)); then
        prev=${COMP_WORDS[j - 2]}
    fi
    COMPREPLY=()

    # Where do the global options end, and is there a subcommand?
    local xlbctl=${COMP_WORDS[0]:-xlbctl}
    local -a globals=()
    local i=1 sub=""
    while ((i < j)); do
        local w=${COMP_WORDS[i]}
        case $w in
        --pin-dir | --backend | --lock-wait)
            if [[ ${COMP_WORDS[i + 1]} == = ]]; then
                globals+=("$w=${COMP_WORDS[i + 2]}")
                ((i += 3))
            else
                globals+=("$w" "${COMP_WORDS[i + 1]}")
                ((i += 2))
            fi
            continue
            ;;
        --pin-dir=* | --backend=* | --lock-wait=* | --json)
            globals+=("$w")
            ;;
        -*)
            break
            ;;
        *)
            sub=$w
            break
            ;;
        esac
        ((i++))
    done

    # Values of options, wherever they are.
    case $prev in
    --pin-dir)
        _xlbctl_reply -d -- "$cur"
        return 0
        ;;
    --backend)
        _xlbctl_reply -W 'xdp ipvs auto' -- "$cur"
        return 0
        ;;
    --lock-wait)
        return 0 # milliseconds
        ;;
    -s | --scheduler)
        _xlbctl_reply -W "$_xlbctl_schedulers" -- "$cur"
        return 0
        ;;
    -b | --sched-flags)
        # A comma-separated list: complete its last element.
        local head="" last=$cur
        if [[ $cur == *,* ]]; then
            head=${cur%,*},
            last=${cur##*,}
        fi
        _xlbctl_reply -P "$head" -W "$_xlbctl_sched_flags" -- "$last"
        return 0
        ;;
    --tun-type)
        _xlbctl_reply -W 'ipip gue gre' -- "$cur"
        return 0
        ;;
    --pe)
        _xlbctl_reply -W 'sip' -- "$cur"
        return 0
        ;;
    --start-daemon | --stop-daemon)
        _xlbctl_reply -W 'master backup' -- "$cur"
        return 0
        ;;
    --mcast-interface)
        _xlbctl_reply -W "$(command ls /sys/class/net 2>/dev/null)" -- "$cur"
        return 0
        ;;
    --syncid | --mcast-group | --mcast-port | --mcast-ttl | --sync-maxlen)
        return 0 # a number or an address
        ;;
    --xdp-mode)
        _xlbctl_reply -W 'native generic' -- "$cur"
        return 0
        ;;
    -t | --tcp-service | -u | --udp-service | --sctp-service)
        local proto=-t
        [[ $prev == -u || $prev == --udp-service ]] && proto=-u
        [[ $prev == --sctp-service ]] && proto=--sctp-service
        local svcs
        svcs=$(_xlbctl_services "$proto" "$xlbctl" "${globals[@]}")
        _xlbctl_reply -W "$svcs" -- "$cur"
        # bash replaces only the text after the last colon: drop what is before.
        if [[ $cur == *:* ]]; then
            local keep=${cur%"${cur##*:}"}
            COMPREPLY=("${COMPREPLY[@]#"$keep"}")
        fi
        return 0
        ;;
    -r | --real-server | -M | --netmask | -w | --weight | -x | --u-threshold | \
        -y | --l-threshold | --tun-port | -f | --fwmark-service | \
        --max-services | --max-dests | --max-flows | --max-embryonic | --mh-size | --icmp-ratelimit | --icmp-msgs-per-sec | --icmp-msgs-burst)
        return 0
        ;;
    esac

    if [[ -n $sub ]]; then
        case $sub in
        load)
            _xlbctl_reply -W '--max-services --max-dests --max-flows --max-embryonic --mh-size --icmp-ratelimit --icmp-msgs-per-sec --icmp-msgs-burst' -- "$cur"
            ;;
        attach)
            if [[ $cur == -* ]]; then
                _xlbctl_reply -W '--xdp-mode --no-fallback' -- "$cur"
            else
                _xlbctl_reply -W "$(command ls /sys/class/net 2>/dev/null)" -- "$cur"
            fi
            ;;
        detach)
            if ((j == i + 1)); then
                _xlbctl_reply -W "$(command ls /sys/class/net 2>/dev/null)" -- "$cur"
            fi
            ;;
        resolve)
            _xlbctl_reply -W '--follow' -- "$cur"
            ;;
        checks)
            if [[ $prev == --socket ]]; then
                _xlbctl_reply -f -- "$cur"
            else
                _xlbctl_reply -W '--socket' -- "$cur"
            fi
            ;;
        esac
        return 0
    fi

    if ((i == j)); then
        # Still where a global option, a subcommand or a command may come.
        if [[ $cur == -* ]]; then
            _xlbctl_reply -W "$_xlbctl_global_opts $_xlbctl_commands" -- "$cur"
        else
            _xlbctl_reply -W "$_xlbctl_subcommands" -- "$cur"
        fi
        return 0
    fi

    # Inside ipvsadm's grammar.
    if [[ $cur == -* ]]; then
        _xlbctl_reply -W "$_xlbctl_options" -- "$cur"
    fi
    return 0
}

complete -F _xlbctl xlbctl
