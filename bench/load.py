"""Mixed load on loopback: lookups, attribute verifications, chip verifications and headless
logins (authorize + token) against a real ``dancu serve``, driven by ``wrk`` with
``bench/load_mix.lua``. Prints one JSON line: requests, errors, requests per second, latency, and
the count per kind. Exits 1 on any error (unexpected status or socket error).

Against a running server (its admin token in DANCU_ADMIN_TOKEN, default ``admin-secret``)::

    .venv/bin/python bench/load.py --base http://127.0.0.1:8000 --duration 60s --connections 16

or let it start one on a new SQLite file (or ``--database-url``)::

    .venv/bin/python bench/load.py --duration 60s [--population 10000] [--workers 2]

The CI test (``tests/reliability/test_load.py``) runs it for a few seconds; ``bench/load.sh``
is the longer documented run.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
REDIRECT = "http://127.0.0.1:8765/callback"
LOAD_SCOPES = ["citizen.basic", "citizen.verify", "citizen.search", "card.read", "card.verify",
               "openid", "profile"]


def _admin() -> dict[str, str]:
    return {"Authorization": "Bearer " + os.environ.get("DANCU_ADMIN_TOKEN", "admin-secret")}


def _load_client(http: httpx.Client) -> tuple[str, str]:
    """A sandbox client of its own, with a quota the load cannot reach."""
    created = http.post("/v1/admin/clients", headers=_admin(), json={
        "name": "load test", "scopes": LOAD_SCOPES, "purposes": ["load-test"], "sandbox": True,
        "grant_types": ["client_credentials", "authorization_code"], "redirect_uris": [REDIRECT],
        "rate_limit": 10_000_000})
    created.raise_for_status()
    return created.json()["client_id"], created.json()["client_secret"]


def _people(http: httpx.Client, token: str, directory: Path, count: int = 100) -> Path:
    """PINs with their full names, from the sandbox search (lookups and verifications use them)."""
    found = http.get("/v1/citizens", params={"limit": count},
                     headers={"Authorization": f"Bearer {token}"})
    found.raise_for_status()
    rows = [(item["pin"], item["full_name"]) for item in found.json()["items"]
            if item.get("full_name")]
    path = directory / "people.tsv"
    path.write_text("".join(f"{pin}\t{name}\n" for pin, name in rows), encoding="utf-8")
    return path


def _chip_body(http: httpx.Client, token: str, pin: str, directory: Path) -> Path:
    """A genuine chip read of the persona's card (it verifies), as the verify body."""
    card = http.get(f"/v1/cards/{pin}", headers={"Authorization": f"Bearer {token}"})
    card.raise_for_status()
    mrz = card.json()["mrz"]
    information = mrz[0][5:15] + mrz[1][0:7] + mrz[1][8:15]  # ICAO 9303 BAC key seed
    key = hashlib.sha1(information.encode("ascii")).digest()[:16].hex()
    files = http.get(f"/v1/cards/{pin}/chip", headers={"Authorization": f"Bearer {token}",
                                                       "X-Chip-Access-Key": key})
    files.raise_for_status()
    path = directory / "chip.json"
    path.write_text(json.dumps({"files": files.json()["files"]}), encoding="utf-8")
    return path


def _pkce(directory: Path, count: int = 5000) -> Path:
    path = directory / "pkce.txt"
    with path.open("w", encoding="ascii") as out:
        for _ in range(count):
            verifier = secrets.token_urlsafe(48)
            digest = hashlib.sha256(verifier.encode()).digest()
            out.write(f"{verifier} {base64.urlsafe_b64encode(digest).rstrip(b'=').decode()}\n")
    return path


def prepare(base: str, directory: Path) -> dict[str, str]:
    """The environment of the Lua script: a client, its token, people, a chip read, PKCE pairs."""
    with httpx.Client(base_url=base, timeout=60) as http:
        client_id, secret = _load_client(http)
        basic = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
        token = http.post("/oauth2/token", data={"grant_type": "client_credentials"},
                          headers={"Authorization": f"Basic {basic}"}).json()["access_token"]
        personas = http.get("/v1/admin/accounts/personas", headers=_admin()).json()["personas"]
        login_pin = next(p["pin"] for p in personas if p["key"] == "citizen-l2")
        return {"MIX_TOKEN": token, "MIX_BASIC": f"Basic {basic}", "MIX_CLIENT": client_id,
                "MIX_PINS": str(_people(http, token, directory)),
                "MIX_CHIP": str(_chip_body(http, token, login_pin, directory)),
                "MIX_PKCE": str(_pkce(directory)), "MIX_LOGIN_PIN": login_pin}


def run_wrk(base: str, env: dict[str, str], *, duration: str, connections: int) -> dict[str, Any]:
    command = ["wrk", "-t", str(connections), "-c", str(connections), "-d", duration,
               "--timeout", "10s", "-s", str(ROOT / "bench" / "load_mix.lua"), base]
    result = subprocess.run(command, capture_output=True, text=True, env={**os.environ, **env},
                            check=True)
    line = next(x for x in result.stdout.splitlines() if x.startswith("MIX "))
    figures: dict[str, Any] = json.loads(line[4:])
    figures["requests"] = figures["ok"] + figures["errors"]
    figures["rps"] = round(figures["requests"] / figures["seconds"], 1)
    return figures


@contextmanager
def own_server(args: argparse.Namespace) -> Iterator[str]:
    scratch = Path(tempfile.mkdtemp(prefix="dancu-load-"))
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    env = {**os.environ, "DANCU_DATABASE_URL": args.database_url or f"sqlite:///{scratch}/l.db",
           "DANCU_POPULATION_SIZE": str(args.population), "DANCU_ISSUER": base}
    process = subprocess.Popen([str(Path(sys.executable).with_name("dancu")), "serve", "--port",
                                str(port), "--workers", str(args.workers)], cwd=ROOT, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(3000):
            try:
                if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=60)
        shutil.rmtree(scratch, ignore_errors=True)


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--base", help="a running server (default: start one)")
    parser.add_argument("--database-url", help="for the server started here")
    parser.add_argument("--population", type=int, default=10_000)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--duration", default="30s")
    parser.add_argument("--connections", type=int, default=8)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="dancu-load-") as scratch:
        if args.base:
            figures = run_wrk(args.base, prepare(args.base, Path(scratch)),
                              duration=args.duration, connections=args.connections)
        else:
            with own_server(args) as base:
                figures = run_wrk(base, prepare(base, Path(scratch)), duration=args.duration,
                                  connections=args.connections)
    print(json.dumps(figures))
    sys.exit(1 if figures["errors"] or figures["socket_errors"] else 0)


if __name__ == "__main__":
    main()
