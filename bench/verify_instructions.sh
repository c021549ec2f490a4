#!/usr/bin/env bash
# Instructions the process executes per POST /v1/cards/verify, in process: bench/verify_cpu.py's
# rounds through the app (32 clients, distinct cards' reads cycled) under valgrind's cachegrind,
# run for 100 and for 400 requests, the difference divided by 300 (start-up, the token and the
# warm-up cancel out). Unlike CPU time, an instruction count does not move with a busy host: use
# it to compare two versions of the code (run each checkout's copy from that checkout).
#
#   DANCU_SECRET_KEY=... bench/verify_instructions.sh [--service] sqlite:///$PWD/bench-100k.db [reads-file]
#
# The reads (300 distinct cards, one JSON body a line) are generated once, natively, into
# reads-file (default ./verify-reads.jsonl) and reused, so both versions verify the same bodies.
# Needs valgrind (apt-get install valgrind); ~5 minutes.
# With --service first: verify_read alone (no app, no HTTP, no audit; an ORM session per read),
# so that the difference from the whole request is what the layers around it execute.
set -euo pipefail
mode=--only-app
if [ "${1:-}" = --service ]; then mode=--only-service; shift; fi
url=$1
reads=$(realpath -m "${2:-./verify-reads.jsonl}")
cd "$(dirname "$0")/.."
python=${PYTHON:-.venv/bin/python}
export PYTHONPATH=$PWD
run() {
    "$@" "$python" -P bench/verify_cpu.py "$url" --cards 300 --reads-file "$reads" "$mode" \
        --rounds 1 --requests "$requests"
}
requests=10 run env >/dev/null  # the reads, natively, when the file is missing
log=$(mktemp)
refs() {
    if ! requests=$1 run valgrind --tool=cachegrind --cache-sim=no \
            --cachegrind-out-file=/dev/null >"$log" 2>&1; then
        tail -20 "$log" >&2
        exit 1
    fi
    sed -n 's/.*I *refs: *//p' "$log" | tr -d ,
}
few=$(refs 100)
many=$(refs 400)
echo "instructions per verification ($mode): $(( (many - few) / 300 )) ($(git rev-parse --short HEAD), $url)"
