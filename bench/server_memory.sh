#!/usr/bin/env bash
# Resident memory of a `dancu serve` process against a populated database: after start-up, after
# a lookup load (wrk, GET /v1/citizens/{pin} over PINS random people, DURATION), and its peak.
# Prints one markdown table row. The figure to compare between 1M and 105M people: a service
# that keeps nothing per person in memory holds the same amount whatever the population.
#
#   bench/server_memory.sh postgresql+psycopg://postgres@127.0.0.1:5432/dancu_bench_1m
#   bench/server_memory.sh sqlite:///./bench-1m.db
#
# The server starts with DANCU_AUTO_SEED=false (no card or account generation at start-up, as for
# bench/lookup.sh). Environment: DURATION (20s), CONNECTIONS (32), WORKERS (1), PORT (8125), PINS
# (10000). Needs wrk. PostgreSQL's own memory is not counted (shared buffers are the server's
# setting, not the service's).
set -euo pipefail

DATABASE_URL=${1:?usage: bench/server_memory.sh DATABASE_URL}
DURATION=${DURATION:-20s}
CONNECTIONS=${CONNECTIONS:-32}
WORKERS=${WORKERS:-1}
PORT=${PORT:-8125}
PINS=${PINS:-10000}
. "$(dirname "$0")/lib.sh"

export DANCU_DATABASE_URL=$DATABASE_URL DANCU_AUTO_SEED=false DANCU_LOG_LEVEL=warning
export DANCU_HOST=127.0.0.1 DANCU_PORT=$PORT

SECRET=$(bench_client bench citizen.basic "benchmark")

# PINs of existing citizens (the stored run's size tells how many there are without a count).
"$PY" - "$PINS" > "$WORK/pins.lua" <<'EOF'
import sys
from sqlalchemy import func, select
from app.db import Database
from app.models.population import Citizen, PopulationRun
from app.settings import get_settings

database = Database.connect(get_settings().database_url)
with database.read() as session:
    size = session.scalar(select(PopulationRun.size))
    pins = session.scalars(select(Citizen.pin).order_by(func.random()).limit(int(sys.argv[1]))).all()
print(f"-- people {size}")
print("pins = {" + ",".join(f'"{p}"' for p in pins) + "}")
EOF
people=$(sed -n 's/^-- people //p' "$WORK/pins.lua")

start_server "$WORKERS"

tree_kib() {  # field ($1: VmRSS or VmHWM) summed over the server's process tree
  local total=0 todo=("$SERVER_PID") pid
  while [ ${#todo[@]} -gt 0 ]; do
    pid=${todo[0]}; todo=("${todo[@]:1}")
    [ -r "/proc/$pid/status" ] || continue
    total=$((total + $(awk -v f="$1:" '$1 == f {print $2}' "/proc/$pid/status")))
    for child in $(cat "/proc/$pid/task/$pid/children" 2>/dev/null); do todo+=("$child"); done
  done
  echo "$total"
}
mib() { echo $(( $1 / 1024 )); }

started=$(tree_kib VmRSS)
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
wrk -t2 -c"$CONNECTIONS" -d"$DURATION" -s "$WORK/lookup.lua" "$BASE" > "$WORK/wrk.txt"
loaded=$(tree_kib VmRSS)
peak=$(tree_kib VmHWM)
rps=$(awk '/^Requests\/sec/ {print $2}' "$WORK/wrk.txt")
backend=${DATABASE_URL%%:*}
echo "| $(date -u '+%F %H:%M') | ${backend%%+*} | $people | $WORKERS | $(mib "$started") MiB | $(mib "$loaded") MiB | $(mib "$peak") MiB | $rps | $(uptime | sed 's/.*load average: \([0-9.]*\).*/\1/') |"
