"""The data-sharing lookup's answers to a fixed set of requests (status, headers, body) and the
audit records they left, printed for a before/after diff of a change to the lookup: PINs found,
not found, superseded and malformed; a basic and a wide client (two purposes); no, bad, admin-like
and DPoP-scheme tokens; an unregistered purpose. Each request names its X-Request-ID, so two runs
of the same code print the same text.

    .venv/bin/python -P bench/lookup_answers.py sqlite:///./bench-1m.db > after.txt

Needs the ``bench`` client of bench/lookup.sh and a ``bench-wide`` client (citizen.basic,
identity, residence, family and contact; purposes ``benchmark`` and ``second``). Rotates both
clients' secrets.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from sqlalchemy import text

from app.db import Database
from app.main import create_app
from app.settings import load_settings

sys.path.insert(0, str(Path(__file__).parent))
import lookup_cpu

WIDE = "citizen.basic citizen.identity citizen.residence citizen.family citizen.contact"
BAD_PINS = ("12345", "00109304706a", "003093047064", "001.093.047.064", "999999999999",
            "001099999999", "\uff101093047064")
SAMPLES = ("select pin from citizen order by pin limit 25",
           "select pin from citizen where status <> 'active' order by pin limit 10",
           "select pin from citizen where household_id is not null order by pin desc limit 5")
RECORDS = ("select client_id, purpose, action, pin, fields, result, request_id from audit_record "
           "where seq > :start and request_id like 'compare-%' order by seq")


async def token(app: Any, url: str, client: str, scope: str) -> str:
    rotated = subprocess.run([lookup_cpu.DANCU, "clients", "rotate-secret", client],
                             env=dict(os.environ, DANCU_DATABASE_URL=url), capture_output=True,
                             text=True, check=True).stdout
    secret = rotated.split("client_secret: ")[1].strip()
    auth = "Basic " + base64.b64encode(f"{client}:{secret}".encode()).decode()
    _, body = await lookup_cpu.call(app, "/oauth2/token", {
        "authorization": auth, "content-type": "application/x-www-form-urlencoded"}, "POST",
        f"grant_type=client_credentials&scope={scope}".encode())
    return str(json.loads(body)["access_token"])


async def answer(app: Any, path: str, headers: dict[str, str]) -> tuple[int, Any, bytes]:
    scope = {"type": "http", "http_version": "1.1", "method": "GET", "path": path,
             "raw_path": path.encode(), "query_string": b"", "root_path": "", "scheme": "http",
             "headers": [(k.encode(), v.encode()) for k, v in headers.items()],
             "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 80)}
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    return sent[0]["status"], sent[0]["headers"], b"".join(m.get("body", b"") for m in sent[1:])


def cases(pins: list[str], basic: str, wide: str) -> list[tuple[str, dict[str, str]]]:
    found: list[tuple[str, dict[str, str]]] = []
    for n, pin in enumerate(pins):
        found.append((f"/v1/citizens/{pin}", {"authorization": "Bearer " + basic}))
        found.append((f"/v1/citizens/{pin}", {"authorization": "Bearer " + wide,
                                              "x-purpose": "second" if n % 2 else "benchmark"}))
    found += [(f"/v1/citizens/{bad}", {"authorization": "Bearer " + basic}) for bad in BAD_PINS]
    path = f"/v1/citizens/{pins[0]}"
    for authorization in (None, "Bearer garbage.x.y", "Bearer notajwt", "Basic abc",
                          "bearer " + basic, "DPoP " + basic, "Bearer", f"Bearer  {basic} "):
        found.append((path, {} if authorization is None else {"authorization": authorization}))
    found += [(path, {"authorization": "Bearer " + token, "x-purpose": "nope"})
              for token in (basic, wide)]
    return found


async def main(url: str) -> None:
    app = create_app(load_settings(database_url=url, auto_seed=False, log_level="warning"))
    with Database.connect(url).read() as session:
        pins = [pin for query in SAMPLES for pin in session.scalars(text(query))]
        start = session.scalar(text("select max(seq) from audit_record")) or 0
    async with app.router.lifespan_context(app):
        basic = await token(app, url, "bench", "citizen.basic")
        wide = await token(app, url, "bench-wide", WIDE)
        for n, (path, headers) in enumerate(cases(pins, basic, wide)):
            headers = {**headers, "x-request-id": f"compare-{n}"}
            status, sent, body = await answer(app, path, headers)
            print(n, path, sorted(headers), status, sent, body.decode())
    with Database.connect(url).read() as session:
        for row in session.execute(text(RECORDS), {"start": start}):
            print("audit", tuple(row))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
