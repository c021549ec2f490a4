#!/usr/bin/env bash
# Instructions the server executes per OpenID Connect flow (authorize -> token -> userinfo), in
# process: bench/oidc_cpu.py under valgrind's cachegrind, run for 50 and for 350 flows, the
# difference divided by 300 (start-up and warm-up cancel out). Unlike CPU time, an instruction
# count does not move with a busy or throttled host: use it to compare two versions of the code.
#
#   bench/oidc_instructions.sh [sqlite:///./oidc-bench.db]
#
# Needs valgrind (apt-get install valgrind); ~2 minutes. Compare another checkout by running its
# copy of this script from that checkout (PYTHONPATH is set to the checkout running it).
set -euo pipefail
cd "$(dirname "$0")/.."
url=${1:-sqlite:///./oidc-bench.db}
python=${PYTHON:-.venv/bin/python}
export PYTHONPATH=$PWD
refs() {
    valgrind --tool=cachegrind --cache-sim=no --cachegrind-out-file=/dev/null \
        "$python" -P bench/oidc_cpu.py "$url" "$1" 1 2>&1 | sed -n 's/.*I *refs: *//p' | tr -d ,
}
few=$(refs 50)
many=$(refs 350)
echo "instructions per flow: $(( (many - few) / 300 )) ($(git rev-parse --short HEAD), $url)"
