#!/usr/bin/env bash
# POST /v1/cards/verify through a real server (uvicorn), driven by wrk: a genuine chip read with an
# active-authentication exchange, every request fully verified (passive and active authentication,
# the database steps) and audited. Prints the median verifications per second over ROUNDS rounds.
#
#   bench/passive_auth_http.sh            # a throw-away SQLite database of 1,000 people
#
# Environment: DURATION (default 20s), CONNECTIONS (16), THREADS (2), WORKERS (uvicorn worker
# processes, 1), PORT (8124), ROUNDS (3), SERVER_CPUS / WRK_CPUS (taskset lists; empty = none).
set -euo pipefail

DURATION=${DURATION:-20s}
CONNECTIONS=${CONNECTIONS:-16}
THREADS=${THREADS:-2}
WORKERS=${WORKERS:-1}
PORT=${PORT:-8124}
ROUNDS=${ROUNDS:-3}
SERVER_CPUS=${SERVER_CPUS:-}
WRK_CPUS=${WRK_CPUS:-}
. "$(dirname "$0")/lib.sh"

export DANCU_DATABASE_URL=sqlite:///$WORK/bench.db DANCU_POPULATION_SIZE=1000
export DANCU_LOG_LEVEL=warning DANCU_HOST=127.0.0.1 DANCU_PORT=$PORT
cd "$WORK"  # bench/seed.py must not shadow the seed package

start_server "$WORKERS"

SECRET=$(bench_client bench-verify "card.read card.verify" "benchmark")
TOKEN=$(token_of bench-verify "$SECRET" "card.read card.verify")

# A genuine chip read with an active-authentication answer, as the verify body.
"$PY" - "$BASE" "$TOKEN" > "$WORK/body.json" <<'EOF'
import json, sys
import httpx
from sqlalchemy import select
from app.db import Database
from app.models.card import Card
from app.services.cards import chip
from app.services.cards.holder import card_content
from app.settings import get_settings

base = sys.argv[1]
with Database.connect(get_settings().database_url).read() as session:
    card = session.scalars(select(Card).where(Card.status == "active", Card.persona.is_(None))
                           .order_by(Card.pin).limit(1)).one()
    headers = {"Authorization": f"Bearer {sys.argv[2]}",
               "X-Chip-Access-Key": chip.access_key(card_content(session, card))}
files = httpx.get(f"{base}/v1/cards/{card.pin}/chip", headers=headers).json()["files"]
answer = httpx.post(f"{base}/v1/cards/{card.pin}/chip/internal-authenticate", headers=headers,
                    json={"challenge": "0011223344556677"}).json()["response"]
print(json.dumps({"files": files, "active_authentication": {
    "challenge": "0011223344556677", "response": answer}}))
EOF
curl -fs -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
  --data-binary @"$WORK/body.json" "$BASE/v1/cards/verify" | grep -q '"verdict":"pass"' \
  || { echo "the benchmark read does not verify"; exit 1; }

cat > "$WORK/verify.lua" <<EOF
local file = io.open("$WORK/body.json", "r")
wrk.method = "POST"
wrk.path = "/v1/cards/verify"
wrk.body = file:read("*a")
file:close()
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer $TOKEN"
EOF

run() { $(pin_cpus "$WRK_CPUS") wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency \
          -s "$WORK/verify.lua" "$BASE" > "$WORK/$1.txt"; }
DURATION=5s run warm
for round in $(seq 1 "$ROUNDS"); do run "round-$round"; done

rates=$(for round in $(seq 1 "$ROUNDS"); do awk '/^Requests\/sec/ {print $2}' "$WORK/round-$round.txt"; done)
# wrk counts the answers that were not 2xx/3xx itself (a Lua counter would be per thread).
bad=$(for round in $(seq 1 "$ROUNDS"); do awk '/Non-2xx/ {print $5}' "$WORK/round-$round.txt"; done | paste -sd+ | bc)
bad=${bad:-0}
median=$(printf '%s\n' $rates | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
echo "| POST /v1/cards/verify, SQLite, $WORKERS worker(s), $CONNECTIONS connections | $median verifications/s (rounds: $(echo $rates | tr ' ' '/')) | non-200: $bad |"
