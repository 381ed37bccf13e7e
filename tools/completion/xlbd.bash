# bash completion for xlbd(8).                                   -*- shell-script -*-
#
# Installed by `cmake --install` as <datadir>/bash-completion/completions/xlbd.
# Self-contained: it needs bash only, not the bash-completion package's helpers.
# Options, files after -f, directories after --pin-dir, interfaces after
# --interface, and the values of --backend, --log-level and --log-target.

_xlbd_options='-f --use-file -t --config-test -h --help -v --version -i --interface --pin-dir
    --backend --metrics --log-level --log-target --cleanup-on-exit --socket'

_xlbd() {
    local cur=${COMP_WORDS[COMP_CWORD]}
    local prev=""
    ((COMP_CWORD > 0)) && prev=${COMP_WORDS[COMP_CWORD - 1]}
    local words=""
    COMPREPLY=()
    case $prev in
    -f | --use-file | --socket) mapfile -t COMPREPLY < <(compgen -f -- "$cur"); compopt -o filenames 2>/dev/null; return 0 ;;
    --pin-dir) mapfile -t COMPREPLY < <(compgen -d -- "$cur"); compopt -o filenames 2>/dev/null; return 0 ;;
    -i | --interface) words=$(command ls /sys/class/net 2>/dev/null) ;;
    --backend) words='xdp ipvs auto' ;;
    --log-level) words='debug info warning error' ;;
    --log-target) words='stderr journald' ;;
    --metrics) words='off' ;; # or [ADDR:]PORT
    *)
        [[ $cur == -* ]] && words=$_xlbd_options
        ;;
    esac
    [[ -n $words ]] && mapfile -t COMPREPLY < <(compgen -W "$words" -- "$cur")
    return 0
}

complete -F _xlbd xlbd
