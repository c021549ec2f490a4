#!/usr/bin/env bash
# Instructions the process executes per authenticated, audited lookup by PIN, in process:
# bench/lookup_cpu.py's lookups alone (--lookups-only, 32 concurrent clients through ASGI) under
# valgrind's cachegrind, run for 500 and for 2,500 lookups, the difference divided by 2,000
# (start-up, the token and the warm-up cancel out). Unlike CPU time, an instruction count does not
# move with a busy host: use it to compare two versions of the code (PostgreSQL's own processes
# are not counted).
#
#   bench/lookup_instructions.sh sqlite:///./bench-1m.db
#
# Needs valgrind; a few minutes. Compare another checkout by running its copy of this script from
# that checkout (PYTHONPATH is set to the checkout running it; PYTHON names the interpreter).
set -euo pipefail
cd "$(dirname "$0")/.."
url=${1:?usage: bench/lookup_instructions.sh DATABASE_URL}
python=${PYTHON:-.venv/bin/python}
export PYTHONPATH=$PWD
refs() {
    valgrind --tool=cachegrind --cache-sim=no --cachegrind-out-file=/dev/null \
        "$python" -P bench/lookup_cpu.py "$url" "$1" --rounds 1 --lookups-only 2>&1 |
        sed -n 's/.*I *refs: *//p' | tr -d ,
}
few=$(refs 500)
many=$(refs 2500)
echo "instructions per lookup: $(( (many - few) / 2000 )) ($(git rev-parse --short HEAD), $url)"
