# Shared by the shell benchmarks (sourced, not run): paths, a work directory removed on exit, a
# `dancu serve` started and awaited, benchmark clients and their tokens. A script sets PORT (and,
# for pinning, SERVER_CPUS) before sourcing it.

HERE=$(cd "$(dirname "${BASH_SOURCE[1]}")" && pwd)
ROOT=$(dirname "$HERE")
PY=${PY:-$ROOT/.venv/bin/python}
DANCU=${DANCU:-$ROOT/.venv/bin/dancu}
WORK=$(mktemp -d)
BASE=http://127.0.0.1:$PORT
SERVER_PID=

cleanup() {
  if [ -n "$SERVER_PID" ]; then kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT

pin_cpus() { if [ -n "$1" ]; then echo "taskset -c $1"; fi; }

start_server() {  # start_server WORKERS: `dancu serve` in the background, until /readyz answers
  $(pin_cpus "${SERVER_CPUS:-}") "$DANCU" serve --workers "$1" > "$WORK/server.log" 2>&1 &
  SERVER_PID=$!
  for _ in $(seq 1 600); do curl -fs "$BASE/readyz" > /dev/null 2>&1 && break; sleep 0.5; done
  curl -fs "$BASE/readyz" > /dev/null || { cat "$WORK/server.log"; exit 1; }
}

bench_client() {  # bench_client ID "SCOPE ..." NAME: create once (quota the run cannot exhaust); prints a new secret
  local scopes=() scope
  for scope in $2; do scopes+=(--scope "$scope"); done
  if ! "$DANCU" clients list | cut -f1 | grep -qx "$1"; then
    "$DANCU" clients add --name "$3" --client-id "$1" "${scopes[@]}" --purpose benchmark \
      --rate-limit 100000000 > /dev/null
  fi
  "$DANCU" clients rotate-secret "$1" | sed -n 's/^client_secret: //p'
}

token_of() {  # token_of CLIENT SECRET SCOPE: a client-credentials access token
  curl -fs -u "$1:$2" -d grant_type=client_credentials -d scope="$3" "$BASE/oauth2/token" |
    "$PY" -c 'import json,sys; print(json.load(sys.stdin)["access_token"])'
}
