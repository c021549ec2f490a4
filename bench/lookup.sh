#!/usr/bin/env bash
# Authenticated GET /v1/citizens/{pin} and POST /v1/citizens/verify (the full name of the same
# person, verdict "match") against a trivial endpoint (GET /healthz), same server and settings, in
# one run: wrk, 32 connections, fixed duration. Prints one markdown table row per endpoint (the
# ratio is its median throughput over healthz's). VERIFY=0 measures the lookup only.
#
#   bench/lookup.sh sqlite:///./bench-1m.db
#   bench/lookup.sh postgresql+psycopg://postgres@127.0.0.1:5432/dancu_bench
#
# The database must be migrated and populated already (`dancu seed --size 1000000`, or a first
# `dancu serve`). Environment: DURATION (default 30s), CONNECTIONS (32), THREADS (2), WORKERS
# (uvicorn worker processes, 1), PORT (8123), PINS (how many random PINs the lookups cycle
# through, 10000), ROUNDS (alternating noop/lookup measurements, 3: the medians are reported, so a
# burst of load elsewhere on the machine does not decide the ratio), SERVER_CPUS / WRK_CPUS
# (taskset lists, e.g. 0 and 1; empty = no pinning).
set -euo pipefail

DATABASE_URL=${1:?usage: bench/lookup.sh DATABASE_URL}
DURATION=${DURATION:-30s}
CONNECTIONS=${CONNECTIONS:-32}
THREADS=${THREADS:-2}
WORKERS=${WORKERS:-1}
PORT=${PORT:-8123}
PINS=${PINS:-10000}
ROUNDS=${ROUNDS:-3}
VERIFY=${VERIFY:-1}
SERVER_CPUS=${SERVER_CPUS:-}
WRK_CPUS=${WRK_CPUS:-}
. "$(dirname "$0")/lib.sh"

export DANCU_DATABASE_URL=$DATABASE_URL DANCU_AUTO_SEED=false DANCU_LOG_LEVEL=warning
export DANCU_HOST=127.0.0.1 DANCU_PORT=$PORT

# Dedicated clients whose quota the benchmark cannot exhaust (created once, secret rotated).
SECRET=$(bench_client bench citizen.basic "benchmark")
if [ "$VERIFY" = 1 ]; then
  VERIFY_SECRET=$(bench_client bench-verify citizen.verify "benchmark (verification)")
fi

# Random PINs of existing citizens, written as a Lua table for wrk.
"$PY" - "$PINS" > "$WORK/pins.lua" <<'EOF'
import json
import sys
from sqlalchemy import func, select
from app.db import Database
from app.models.population import Citizen
from app.settings import get_settings

database = Database.connect(get_settings().database_url)
with database.read() as session:
    rows = session.execute(select(Citizen.pin, Citizen.surname, Citizen.middle_name,
                                  Citizen.given_name)
                           .order_by(func.random()).limit(int(sys.argv[1]))).all()
names = [" ".join(part for part in row[1:] if part) for row in rows]
print("pins = {" + ",".join(f'"{row[0]}"' for row in rows) + "}")
print("names = {" + ",".join(json.dumps(name, ensure_ascii=False) for name in names) + "}")
EOF

start_server "$WORKERS"

TOKEN=$(token_of bench "$SECRET" citizen.basic)

cat > "$WORK/lookup.lua" <<EOF
dofile("$WORK/pins.lua")
local i = 0
wrk.headers["Authorization"] = "Bearer $TOKEN"
request = function()
  i = i + 1
  return wrk.format("GET", "/v1/citizens/" .. pins[(i % #pins) + 1])
end
EOF
cat > "$WORK/status.lua" <<'EOF'
local bad = 0
response = function(status) if status ~= 200 then bad = bad + 1 end end
done = function() io.write(string.format("non200 %d\n", bad)) end
EOF
cat "$WORK/status.lua" >> "$WORK/lookup.lua"
ENDPOINTS=lookup
if [ "$VERIFY" = 1 ]; then
  ENDPOINTS="lookup verify"
  VERIFY_TOKEN=$(token_of bench-verify "$VERIFY_SECRET" citizen.verify)
  cat > "$WORK/verify.lua" <<EOF
dofile("$WORK/pins.lua")
local i = 0
wrk.method = "POST"
wrk.headers["Authorization"] = "Bearer $VERIFY_TOKEN"
wrk.headers["Content-Type"] = "application/json"
request = function()
  i = i + 1
  local k = (i % #pins) + 1
  return wrk.format(nil, "/v1/citizens/verify", nil,
    '{"pin": "' .. pins[k] .. '", "full_name": "' .. names[k] .. '"}')
end
EOF
  cat "$WORK/status.lua" >> "$WORK/verify.lua"
fi

run() {  # run NAME URL [script]: wrk output saved to $WORK/NAME.txt
  local script=()
  if [ -n "${3:-}" ]; then script=(-s "$3"); fi
  $(pin_cpus "$WRK_CPUS") wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency "${script[@]}" "$2" > "$WORK/$1.txt"
}

# Warm up both paths (caches, connection pools), then alternate the measurements.
DURATION=5s run warm-noop "$BASE/healthz"
for endpoint in $ENDPOINTS; do DURATION=5s run "warm-$endpoint" "$BASE" "$WORK/$endpoint.lua"; done
for round in $(seq 1 "$ROUNDS"); do
  run "noop-$round" "$BASE/healthz" "$WORK/status.lua"
  for endpoint in $ENDPOINTS; do run "$endpoint-$round" "$BASE" "$WORK/$endpoint.lua"; done
done

rps() { awk '/^Requests\/sec/ {print $2}' "$WORK/$1.txt"; }
p99() { awk '$1 == "99%" {print $2}' "$WORK/$1.txt"; }
bad() { awk '/^non200/ {print $2}' "$WORK/$1.txt"; }
errors() { awk '/Socket errors|Non-2xx/ {printf "%s ", $0}' "$WORK/$1.txt"; }
series() { for round in $(seq 1 "$ROUNDS"); do "$1" "$2-$round"; done; }
median() { "$PY" -c "
import re, statistics, sys
def ms(v):  # wrk prints 950.00us, 12.34ms or 1.20s
    number, unit = re.fullmatch(r'([0-9.]+)(us|ms|s)?', v).groups()
    return float(number) * {'us': 0.001, 'ms': 1, 's': 1000, None: 1}[unit]
print(f'{statistics.median(ms(v) for v in sys.argv[1:]):.2f}')" "$@"; }
people=$("$PY" -c "
from sqlalchemy import func, select
from app.db import Database
from app.models.population import Citizen
from app.settings import get_settings
with Database.connect(get_settings().database_url).read() as s:
    print(s.scalar(select(func.count()).select_from(Citizen)))")
noop_rps=$(median $(series rps noop))
backend=${DATABASE_URL%%:*}
for endpoint in $ENDPOINTS; do
  rate=$(median $(series rps "$endpoint"))
  ratio=$("$PY" -c "print(f'{100 * $rate / $noop_rps:.0f} %')")
  failures=$(( $(series bad "$endpoint" | paste -sd+ | bc) ))
  echo "| $(date -u +%F) | ${backend%%+*} | $people | $WORKERS | $CONNECTIONS | $ROUNDS x $DURATION | $noop_rps | $(median $(series p99 noop)) ms | $rate | $(median $(series p99 "$endpoint")) ms | $ratio | $failures $(errors "$endpoint-1")| $endpoint |"
  echo "  $endpoint rps: $(series rps "$endpoint" | paste -sd' ')" >&2
done
echo "  noop rps: $(series rps noop | paste -sd' ')" >&2
