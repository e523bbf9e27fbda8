#!/usr/bin/env bash
# Power commands for hosts that are agents on one machine (the demo, the
# system tests): starting a host's agent powers the host on, stopping it
# powers it off.  A real deployment gives droverd a fence agent instead
# (fence_ipmilan, fence_redfish, ...; see docs/manager.md, "Power").
#
#   agent-power.sh on|off|status HOST_DIR AGENT_BINARY [AGENT_ARGS...]
#
# HOST_DIR holds the agent's agent.conf; its pid is kept in HOST_DIR/agent.pid
# and its output appended to HOST_DIR/agent.log.
#   on      start the agent detached (its own session), unless it runs
#   off     SIGTERM it, SIGKILL after 10 s, unless it does not run
#   status  exit 0 when it runs, 2 when it does not (fence agents' codes)
# Other failures exit 1 with a line on stderr.
set -euo pipefail

usage() {
    echo "usage: $0 on|off|status HOST_DIR AGENT_BINARY [AGENT_ARGS...]" >&2
    exit 1
}

[ $# -ge 3 ] || usage
action=$1
dir=${2%/}
agent=$3
shift 3
conf=$dir/agent.conf
pidfile=$dir/agent.pid
[ -f "$conf" ] || { echo "no agent configuration $conf" >&2; exit 1; }
conf_real=$(realpath -- "$conf")

# The pid in the pid file, if that process is an agent running this
# configuration: a pid the system gave to something else since, or a
# zombie (an empty command line), is not the agent.
running_pid() {
    local pid arg next=0
    [ -f "$pidfile" ] || return 1
    pid=$(tr -dc 0-9 <"$pidfile")
    [ -n "$pid" ] && [ -r "/proc/$pid/cmdline" ] || return 1
    while IFS= read -r -d '' arg; do
        if [ "$next" = 1 ]; then
            [ "$(realpath -m -- "$arg")" = "$conf_real" ] && {
                echo "$pid"
                return 0
            }
            next=0
        fi
        [ "$arg" = --config ] && next=1
    done <"/proc/$pid/cmdline"
    return 1
}

# Wait up to $1 tenths of a second for the agent to end.
wait_gone() {
    for _ in $(seq "$1"); do
        running_pid >/dev/null || return 0
        sleep 0.1
    done
    ! running_pid >/dev/null
}

case $action in
on)
    if pid=$(running_pid); then
        echo "agent of $dir already runs (pid $pid)"
        exit 0
    fi
    [ -x "$agent" ] || { echo "$agent is not an executable" >&2; exit 1; }
    setsid "$agent" --config "$conf" "$@" >>"$dir/agent.log" 2>&1 </dev/null &
    echo $! >"$pidfile"
    # an agent that dies at once (a bad configuration) is a failed power-on
    sleep 0.3
    if ! pid=$(running_pid); then
        echo "agent of $dir exited at once; the end of $dir/agent.log:" >&2
        tail -n 5 "$dir/agent.log" >&2 || true
        exit 1
    fi
    echo "agent of $dir started (pid $pid)"
    ;;
off)
    if ! pid=$(running_pid); then
        rm -f "$pidfile"
        echo "agent of $dir does not run"
        exit 0
    fi
    kill -TERM "$pid" 2>/dev/null || true
    if ! wait_gone 100; then
        kill -KILL "$pid" 2>/dev/null || true
        wait_gone 20 || {
            echo "agent of $dir (pid $pid) does not die" >&2
            exit 1
        }
    fi
    rm -f "$pidfile"
    echo "agent of $dir stopped (pid $pid)"
    ;;
status)
    if pid=$(running_pid); then
        echo "on (pid $pid)"
        exit 0
    fi
    echo "off"
    exit 2
    ;;
*)
    usage
    ;;
esac
