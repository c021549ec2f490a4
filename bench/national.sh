#!/usr/bin/env bash
# The national-scale run: `dancu seed --size 105000000` into a fresh PostgreSQL database, timed by
# bench/seed.py (which appends its row to RESULTS.md), with the server's bulk-load settings of
# docs/scale.md applied for the run and restored afterwards (also on failure or Ctrl-C). Prints the
# disk footprint per table and the free disk before and after. Keeps the database
# (dancu_bench_<SIZE>) for bench/lookup_latency.py and bench/server_memory.sh.
#
#   bench/national.sh                 # 105,000,000 people
#   bench/national.sh 10000000        # a rehearsal
#
# Needs a local PostgreSQL cluster managed by pg_ctlcluster (Debian), superuser access over
# 127.0.0.1 (PSQL, default: psql -h 127.0.0.1 -U postgres), and root or the postgres user to
# restart it. About 0.65 GiB of disk per million people.
set -euo pipefail

SIZE=${1:-105000000}
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$HERE")
PY=${PY:-$ROOT/.venv/bin/python}
PSQL=${PSQL:-psql -h 127.0.0.1 -U postgres -v ON_ERROR_STOP=1 -Atq}
CLUSTER=${CLUSTER:-$(ls /etc/postgresql) main}
SETTINGS="wal_level=minimal max_wal_senders=0 maintenance_work_mem=4GB max_wal_size=16GB checkpoint_timeout=30min"

restart() {
    pg_ctlcluster --skip-systemctl-redirect $CLUSTER restart
    for _ in $(seq 1 60); do pg_isready -h 127.0.0.1 -q && return; sleep 1; done
    echo "PostgreSQL did not come back" >&2; return 1
}

restore() {
    for setting in $SETTINGS; do $PSQL -c "ALTER SYSTEM RESET ${setting%%=*}"; done
    restart
    echo "== server settings restored"
}

for setting in $SETTINGS; do $PSQL -c "ALTER SYSTEM SET ${setting%%=*} = '${setting#*=}'"; done
trap restore EXIT
restart
echo "== bulk-load settings: $($PSQL -c "SELECT string_agg(name || '=' || setting, ' ') FROM pg_settings
      WHERE name IN ('wal_level','max_wal_senders','maintenance_work_mem','max_wal_size','checkpoint_timeout')")"

data=$($PSQL -c "SHOW data_directory")
echo "== free disk before: $(df -h --output=avail "$data" | tail -1)"
(cd "$ROOT" && "$PY" bench/seed.py --size "$SIZE" --backend postgresql --keep)
echo "== free disk after: $(df -h --output=avail "$data" | tail -1)"
echo "== footprint of dancu_bench_$SIZE (table with its indexes and TOAST)"
$PSQL -d "dancu_bench_$SIZE" -F ' | ' -c "
    SELECT relname, pg_size_pretty(pg_total_relation_size(oid)),
           pg_size_pretty(pg_relation_size(oid))
    FROM pg_class WHERE relkind = 'r' AND relnamespace = 'public'::regnamespace
    ORDER BY pg_total_relation_size(oid) DESC LIMIT 8"
echo "database: $($PSQL -c "SELECT pg_size_pretty(pg_database_size('dancu_bench_$SIZE'))")"
