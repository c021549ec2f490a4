# shellcheck shell=bash
# The steps' runner of .ci/run and its cancel path, sourced by it (and by
# tests/test_ci_cancel.py, with stub steps instead of the suite). Reads and sets the globals
# CI_RUN_ID, steps, commands, serial, started; writes each step's output to $CI_OUT.
#
# Cancelled (Ctrl-C, a CI's SIGTERM on timeout, a closed terminal): every step runs in a process
# group of its own (set -m around its start), which is stopped whole -- the two pytest processes,
# the servers, browsers and clusters they started -- and so is any process left that carries this
# run's CI_RUN_ID (a daemon that left the group: pg_ctl's postgres, pcscd); INT first (pytest
# tears its session down), TERM after INT_GRACE (20 s), KILL after TERM_GRACE (5 s) more.
# Without this, a background job ignores SIGINT and outlives the script. (Started itself with
# SIGINT ignored -- a background job of a non-interactive shell -- the script cannot trap SIGINT:
# POSIX; SIGTERM still works.)
CI_OUT=${CI_OUT:-.ci/out}
CI_RUN_ID=""  # set once the shared PostgreSQL server is up: never one of ours to stop
INT_GRACE=20
TERM_GRACE=5
step_pids=()
heartbeat=""

started_here() {  # the processes (but this shell and the asking one) carrying this CI_RUN_ID
    local file pid variable
    local -a variables
    [ -n "$CI_RUN_ID" ] || return 0
    for file in /proc/[0-9]*/environ; do
        pid=${file#/proc/}
        pid=${pid%/environ}
        [ "$pid" != $$ ] && [ "$pid" != "$BASHPID" ] || continue
        mapfile -d "" -t variables 2>/dev/null <"$file" || continue
        for variable in "${variables[@]}"; do
            if [ "$variable" = "CI_RUN_ID=$CI_RUN_ID" ]; then echo "$pid"; break; fi
        done
    done
}

stop_everything() {  # stop_everything SIGNAL: the steps' groups, then what is left of the run's
    local signal=$1 group pid
    for group in "${step_pids[@]}" ${heartbeat:+"$heartbeat"}; do
        kill "-$signal" -- "-$group" 2>/dev/null || true
    done
    for pid in $(started_here); do kill "-$signal" "$pid" 2>/dev/null || true; done
}

settled() {  # settled SECONDS: waits until none of the run's processes is left, or the time out
    local _
    for _ in $(seq 1 $(( $1 * 2 ))); do
        [ -n "$(started_here)" ] || return 0
        sleep 0.5
    done
}

cancelled() {  # cancelled NAME CODE: the trap of a signal
    trap '' INT TERM HUP
    echo "== $1: stopping the steps and the processes they started" >&2
    # SIGINT first: pytest then tears its session down (drops its PostgreSQL databases, stops
    # its servers and clusters), which SIGTERM would skip; then TERM, then KILL.
    stop_everything INT
    settled "$INT_GRACE"
    stop_everything TERM
    settled "$TERM_GRACE"
    stop_everything KILL
    exit "$2"
}

trap_cancels() {  # from now on a signal stops everything the run started
    trap 'cancelled SIGINT 130' INT
    trap 'cancelled SIGTERM 143' TERM
    trap 'cancelled SIGHUP 129' HUP
}

step() {  # step NAME COMMAND...: runs it, its output and its wall seconds into $CI_OUT
    local name=$1 t0
    shift
    t0=$(date +%s)
    set +e
    "$@" >"$CI_OUT/$name.txt" 2>&1
    echo $? >"$CI_OUT/$name.rc"
    set -e
    echo $(( $(date +%s) - t0 )) >"$CI_OUT/$name.seconds"
}

run_steps() {  # each of steps[i] running commands[i], side by side unless $serial; waits for all
    local i
    for i in "${!steps[@]}"; do
        set -m  # a process group of its own (see cancelled above)
        step "${steps[$i]}" "${commands[$i]}" &
        step_pids+=($!)
        set +m
        if [ -n "$serial" ]; then wait "$!"; fi
    done
    if [ -z "$serial" ]; then  # a line every two minutes, so a silent CI is seen to be alive
        # ... while this script lives: killed by SIGKILL it never reaches the kill below, and a
        # background job ignores SIGINT, so the loop would otherwise print for ever
        set -m
        ( while sleep 120 >/dev/null 2>&1 && kill -0 $$ 2>/dev/null; do
            echo "   ... $(( ($(date +%s) - started) / 60 )) min: still running:$(for s in "${steps[@]}"; do
                [ -e "$CI_OUT/$s.rc" ] || printf ' %s' "$s"; done)"
          done ) &
        heartbeat=$!
        set +m
    fi
    wait "${step_pids[@]}"
    [ -z "$heartbeat" ] || kill "$heartbeat" 2>/dev/null || true
}
