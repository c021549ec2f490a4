#!/usr/bin/env bash
# What a user gets, not what a developer's venv has: the files the Dockerfile copies, installed
# with `pip install .` (not editable, no extras) in a fresh venv, then with that venv only:
# `dancu --help`, `dancu serve --open` on an empty SQLite file with the default population,
# the README's quick-start block (read from README.md now, never copied) and the offline API
# docs' assets. A runtime dependency missing from pyproject.toml, or a file missing from the
# package data, fails here. Run alone: `bash .ci/fresh_install.sh` (35-70 s here, most of it pip).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
started=$(date +%s)
work=$(mktemp -d)
server=""

cleanup() {
    if [ -n "$server" ] && kill -0 "$server" 2>/dev/null; then
        kill "$server" && wait "$server" || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

fail() {
    echo "fresh install: $*" >&2
    if [ -f "$work/serve.log" ]; then tail -n 40 "$work/serve.log" >&2; fi
    exit 1
}

# Nothing from the developer's environment: no DANCU_* setting, no PYTHONPATH onto the tree.
while read -r name; do unset "$name"; done < <(compgen -e | grep -E '^(DANCU_|PYTHONPATH$)' || true)

# The same files as the Dockerfile's COPY lines (caches left out, as .dockerignore does).
mapfile -t copied < <(sed -n 's/^COPY \(.*\) [^ ]*$/\1/p' Dockerfile | tr ' ' '\n')
[ "${#copied[@]}" -ge 4 ] || fail "could not read the Dockerfile's COPY lines"
mkdir "$work/src"
tar -c --exclude=__pycache__ --exclude='*.pyc' "${copied[@]}" | tar -x -C "$work/src"

echo "== fresh install: pip install . (no extras) of ${copied[*]}"
python3 -m venv "$work/venv"
(cd "$work/src" && "$work/venv/bin/pip" install -q . 2>&1 | grep -v 'Location .* is ignored' || true)
[ -x "$work/venv/bin/dancu" ] || fail "pip install . did not install the dancu command"
# Run where the image runs (its source directory, as WORKDIR /app), the package from the venv.
cd "$work/src"
where=$("$work/venv/bin/python" -I -c 'import app; print(app.__file__)')
case "$where" in "$work/venv/"*) ;; *) fail "app imported from $where, not the venv";; esac

echo "== every file of app/ and seed/ is installed (package data included)"
site=$(dirname "$(dirname "$where")")
missing=$(cd "$work/src" && find app seed -type f ! -name '*.pyc' | while read -r file; do
    [ -f "$site/$file" ] || echo "$file"; done)
[ -z "$missing" ] || fail "pip install . left out: $missing (pyproject.toml package-data)"

echo "== dancu --help"
"$work/venv/bin/dancu" --help >"$work/help.txt" 2>&1 || { cat "$work/help.txt" >&2; fail "dancu --help failed"; }
grep -q serve "$work/help.txt" || fail "dancu --help does not list serve"

echo "== dancu serve --open on an empty SQLite file"
port=$("$work/venv/bin/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
base="http://127.0.0.1:$port"
# BROWSER=true: --open runs `true URL` instead of a browser (webbrowser honours $BROWSER).
DANCU_DATABASE_URL="sqlite:///$work/dancu.db" DANCU_PORT=$port BROWSER=true \
    "$work/venv/bin/dancu" serve --open >"$work/serve.log" 2>&1 &
server=$!
t0=$(date +%s)
until curl -sf -o /dev/null "$base/readyz"; do
    kill -0 "$server" 2>/dev/null || fail "dancu serve exited"
    [ $(( $(date +%s) - t0 )) -lt 600 ] || fail "not ready after 600 s"
    sleep 1
done
echo "ready after $(( $(date +%s) - t0 )) s (first start: migrations and the default population)"

echo "== the README's quick start"
awk '/^<!-- quick-start: tested -->$/ {on = 1; next}
     on && /^```sh$/ {inside = 1; next}
     inside && /^```$/ {exit}
     inside {print}' "$root/README.md" >"$work/quick-start.sh"
[ -s "$work/quick-start.sh" ] || fail "README.md has no block marked <!-- quick-start: tested -->"
mkdir "$work/tour"
(cd "$work/tour" && BASE=$base bash -e -o pipefail "$work/quick-start.sh") >"$work/tour.txt" \
    || { cat "$work/tour.txt"; fail "the quick start failed"; }
cat "$work/tour.txt"
head -n 1 "$work/tour.txt" | grep -q '^citizen: ' || fail "the quick start printed no citizen"
grep -qx 'chip verdict: pass' "$work/tour.txt" || fail "the quick start printed no chip verdict: pass"
grep -qx 'login: LoA2' "$work/tour.txt" || fail "the quick start printed no login: LoA2"

echo "== /docs and /redoc assets from the installed package"
"$work/venv/bin/python" "$root/tests/docs_assets.py" "$base" || fail "the API docs need assets the package lacks"

grep -q "ready: $base/docs" "$work/serve.log" || fail "serve --open did not report the docs ready"
echo "fresh install passed in $(( $(date +%s) - started )) s"
