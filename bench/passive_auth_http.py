"""Benchmark: POST /v1/cards/verify end to end on one worker, in process (ASGI, SQLite).

Run: ``.venv/bin/python bench/passive_auth_http.py [seconds]``. Builds a throw-away database
(1,000 people and their cards), reads a genuine card's chip with its access key and an
active-authentication answer, then posts the read to the verification endpoint from 8 concurrent
tasks through httpx's ASGI transport (no sockets, no thread hand-off): token check, base64
decoding, passive and active authentication, the three database steps, the audit record and its
group commit. Prints verifications per second, and the same verification called as a service (no
HTTP) to show what the HTTP layer costs. ``bench/passive_auth_http.sh`` measures a real server
with wrk. No assertions: a figure for bench/RESULTS.md.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import select

from app import migrations
from app.db import Database
from app.main import create_app
from app.models.card import Card
from app.services.cards import chip
from app.services.cards.holder import card_content
from app.services.cards.pki import card_pki
from app.services.cards.verification import ChipRead, verify_read
from app.settings import load_settings

CHALLENGE = "0011223344556677"
TASKS = 8


def _rate(call: Callable[[], Any], seconds: float) -> float:
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        call()
        count += 1
    return count / (time.perf_counter() - start)


async def _genuine_read(client: httpx.AsyncClient, database: Database,
                        token: str) -> dict[str, Any]:
    with database.read() as session:
        card = session.scalars(select(Card).where(Card.status == "active", Card.persona.is_(None))
                               .order_by(Card.pin).limit(1)).one()
        key = chip.access_key(card_content(session, card))
    headers = {"Authorization": f"Bearer {token}", "X-Chip-Access-Key": key}
    files = (await client.get(f"/v1/cards/{card.pin}/chip", headers=headers)).json()["files"]
    answer = (await client.post(f"/v1/cards/{card.pin}/chip/internal-authenticate",
                                headers=headers, json={"challenge": CHALLENGE})).json()["response"]
    return {"files": files, "active_authentication": {"challenge": CHALLENGE, "response": answer}}


async def _http_rate(app: Any, database: Database, seconds: float) -> tuple[float, dict[str, Any]]:
    async with app.router.lifespan_context(app), httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://bench") as client:
        demo = ("demo", "demo-secret-for-the-sandbox-only")
        token = (await client.post("/oauth2/token", auth=demo, data={
            "grant_type": "client_credentials", "scope": "card.read card.verify"}
        )).json()["access_token"]
        body = await _genuine_read(client, database, token)
        headers = {"Authorization": f"Bearer {token}"}
        first = (await client.post("/v1/cards/verify", json=body, headers=headers)).json()
        assert first["verdict"] == "pass", first["reasons"]
        done, deadline = 0, time.perf_counter() + seconds

        async def worker() -> None:
            nonlocal done
            while time.perf_counter() < deadline:
                await client.post("/v1/cards/verify", json=body, headers=headers)
                done += 1

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(TASKS)))
        return done / (time.perf_counter() - started), body


def _unshadow_seed_package() -> None:
    """Run as a script, this folder comes first on sys.path and bench/seed.py would hide the
    ``seed`` package the service imports at start-up."""
    here = Path(__file__).resolve().parent
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != here]


def main() -> None:
    _unshadow_seed_package()
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 5.0
    with tempfile.TemporaryDirectory() as folder:
        settings = load_settings(database_url=f"sqlite:///{Path(folder) / 'bench.db'}",
                                 population_size=1000)
        database = Database.connect(settings.database_url)
        migrations.upgrade(database.engine)
        http, body = asyncio.run(_http_rate(create_app(settings, database=database), database,
                                            seconds))
        pki = card_pki(database, seed=settings.seed, key_type="ec", now=datetime.now(UTC))
        exchange = body["active_authentication"]
        read = ChipRead(body["files"], exchange["challenge"], exchange["response"])

        def service() -> None:
            with database.read() as session:
                verify_read(session, read, pki=pki, now=datetime.now(UTC))

        direct = _rate(service, seconds)
        database.dispose()
    print(f"POST /v1/cards/verify (HTTP, audited):           {http:,.0f} verifications/s")
    print(f"verify_read (service, with the database steps): {direct:,.0f} verifications/s")


if __name__ == "__main__":
    main()
