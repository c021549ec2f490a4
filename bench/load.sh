#!/usr/bin/env bash
# The longer mixed-load run (the CI test runs 8 s): lookups, verifications, chip verifications and
# headless logins against a real `dancu serve`, driven by wrk + bench/load_mix.lua through
# bench/load.py. Prints one JSON line (requests, errors, requests/s, p50/p99, per kind); exits 1
# on any error.
#
#   bench/load.sh                                   # new SQLite file, 10,000 people, 60 s
#   DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/dancu_load bench/load.sh
#
# Environment: DURATION (60s), CONNECTIONS (16), WORKERS (uvicorn processes, 2), POPULATION
# (10000), DATABASE_URL (default: a new SQLite file). Needs wrk (apt-get install wrk).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
args=(--duration "${DURATION:-60s}" --connections "${CONNECTIONS:-16}"
      --workers "${WORKERS:-2}" --population "${POPULATION:-10000}")
if [ -n "${DATABASE_URL:-}" ]; then args+=(--database-url "$DATABASE_URL"); fi
exec "${PY:-$ROOT/.venv/bin/python}" "$ROOT/bench/load.py" "${args[@]}"
