#!/usr/bin/env bash
# The longer schema-fuzzing run (CI runs tests/reliability/test_fuzz_schema.py with 12 examples
# per operation). Two ways:
#
#   bench/fuzz.sh               # the pytest family with more examples (EXAMPLES, default 200)
#   bench/fuzz.sh cli URL       # schemathesis's own runner against a running server, all phases
#                               # incl. stateful, for MAX_TIME seconds (default 600)
#
# The pytest form gives every route the credential it expects (admin, a citizen, the demo client)
# on a database of its own; the CLI form sends one bearer token (TOKEN, default: the demo
# client's) and skips the admin routes unless ADMIN=1.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
VENV=${VENV:-$ROOT/.venv}
if [ "${1:-}" != cli ]; then
    DANCU_FUZZ_EXAMPLES=${EXAMPLES:-200} exec "$VENV/bin/pytest" -p no:cacheprovider -q \
        "$ROOT/tests/reliability/test_fuzz_schema.py"
fi
URL=${2:?usage: bench/fuzz.sh cli http://127.0.0.1:8000}
TOKEN=${TOKEN:-$(curl -s -u "${CLIENT:-demo}:${SECRET:-demo-secret-for-the-sandbox-only}" -d grant_type=client_credentials \
    "$URL/oauth2/token" | "$VENV/bin/python" -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')}
filter=(--exclude-path-regex '^/v1/admin|^/oauth2/authorize')
if [ "${ADMIN:-0}" = 1 ]; then TOKEN=${ADMIN_TOKEN:-admin-secret}; filter=(--include-path-regex '^/v1/admin'); fi
exec "$VENV/bin/schemathesis" run "$URL/openapi.json" -H "Authorization: Bearer $TOKEN" \
    --max-time "${MAX_TIME:-600}" --workers 2 --seed 42 --continue-on-failure --max-failures 50 \
    --phases examples,coverage,fuzzing,stateful "${filter[@]}" \
    --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance \
    --request-timeout 20
