#!/usr/bin/env bash
# Instructions per call of each part of a chip verification (bench/verify_parts.py) under
# valgrind's cachegrind: each part run for 100 and for 400 reads after a warm-up pass, the
# difference divided by 300. Set against bench/verify_instructions.sh (the whole request), this
# says whether the parts' CPU measured alone falls short of the whole because the whole executes
# more instructions or because it executes them more slowly.
#
#   DANCU_SECRET_KEY=... bench/verify_parts_instructions.sh sqlite:///$PWD/bench-100k.db reads-file [part...]
#
# reads-file: one JSON body a line, as bench/verify_instructions.sh makes it.
set -euo pipefail
url=$1
reads=$(realpath "$2")
shift 2
parts=("$@")
[ ${#parts[@]} -gt 0 ] || parts=(decode library database service service-session)
cd "$(dirname "$0")/.."
python=${PYTHON:-.venv/bin/python}
export PYTHONPATH=$PWD
refs() {
    local log
    log=$(mktemp)
    if ! valgrind --tool=cachegrind --cache-sim=no --cachegrind-out-file=/dev/null \
            "$python" -P bench/verify_parts.py "$url" "$1" --requests "$2" \
            --reads-file "$reads" >"$log" 2>&1; then
        tail -20 "$log" >&2
        exit 1
    fi
    sed -n 's/.*I *refs: *//p' "$log" | tr -d ,
    rm -f "$log"
}
for part in "${parts[@]}"; do
    few=$(refs "$part" 100)
    many=$(refs "$part" 400)
    echo "instructions per call, $part: $(( (many - few) / 300 )) ($(git rev-parse --short HEAD))"
done
