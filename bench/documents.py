"""Benchmark: reading integrated documents (computed on read) against a plain lookup, in process.

Run: ``.venv/bin/python bench/documents.py [seconds]``. Builds a throw-away SQLite database
(1,000 people), then, through httpx's ASGI transport with 8 concurrent tasks over 200 citizens,
alternates rounds of the yardstick ``GET /v1/citizens/{pin}`` (scope ``citizen.basic``) and of
``GET /v1/citizens/{pin}/documents/{kind}`` for the health-insurance card and the driving
licences: same token check, audit and serialisation, plus the residence and override reads and
the rules. Also the pure rules alone (every kind of one person, ``app.documents.documents_of``).
Prints requests per second and each ratio to the yardstick of the same run. No assertions.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import select

from app import documents as rules
from app import migrations
from app.db import Database
from app.main import create_app
from app.models.population import Citizen
from app.services.sandbox.personas import _taken
from app.settings import load_settings

TASKS, PEOPLE, ROUNDS = 8, 200, 3
PATHS = {"lookup (yardstick)": "/v1/citizens/{pin}",
         "documents/health_insurance": "/v1/citizens/{pin}/documents/health_insurance",
         "documents/driving_licence": "/v1/citizens/{pin}/documents/driving_licence"}


async def _rate(client: httpx.AsyncClient, path: str, pins: list[str], headers: dict[str, str],
                seconds: float) -> float:
    done, deadline = 0, time.perf_counter() + seconds

    async def worker(offset: int) -> None:
        nonlocal done
        while time.perf_counter() < deadline:
            response = await client.get(path.format(pin=pins[(done + offset) % len(pins)]),
                                        headers=headers)
            assert response.status_code == 200, response.text
            done += 1

    started = time.perf_counter()
    await asyncio.gather(*(worker(i) for i in range(TASKS)))
    return done / (time.perf_counter() - started)


async def _http(app: Any, pins: list[str], seconds: float) -> dict[str, list[float]]:
    async with app.router.lifespan_context(app), httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://bench") as client:
        scope = "citizen.basic document.health_insurance document.driving_licence"
        token = (await client.post("/oauth2/token", auth=("demo",
                                   "demo-secret-for-the-sandbox-only"), data={
            "grant_type": "client_credentials", "scope": scope})).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        rates: dict[str, list[float]] = {name: [] for name in PATHS}
        for _ in range(ROUNDS):  # alternate, so the machine's load hits every line alike
            for name, path in PATHS.items():
                rates[name].append(await _rate(client, path, pins, headers, seconds))
        return rates


def _rules_rate(people: list[rules.Person], seconds: float) -> float:
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        rules.documents_of(people[count % len(people)], seed=6, today=date(2026, 12, 7))
        count += 1
    return count / (time.perf_counter() - start)


def _unshadow_seed_package() -> None:
    here = Path(__file__).resolve().parent
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != here]


def main() -> None:
    _unshadow_seed_package()
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 3.0
    with tempfile.TemporaryDirectory() as folder:
        settings = load_settings(database_url=f"sqlite:///{Path(folder) / 'bench.db'}",
                                 population_size=1000)
        database = Database.connect(settings.database_url)
        migrations.upgrade(database.engine)
        app = create_app(settings, database=database)
        rates = asyncio.run(_http_with_pins(app, database, seconds))
        database.dispose()
    yard = sorted(rates["lookup (yardstick)"])[ROUNDS // 2]
    for name, values in rates.items():
        median = sorted(values)[ROUNDS // 2]
        print(f"{name:32s} median {median:8,.0f} req/s  ({median / yard:.2f} x the lookup; "
              f"rounds {', '.join(f'{v:,.0f}' for v in values)})")


async def _http_with_pins(app: Any, database: Database, seconds: float) -> dict[str, Any]:
    async with app.router.lifespan_context(app):  # the first start generates the population
        pass
    with database.read() as session:
        personas = _taken(session)  # fault personas answer 429, 503 or late
        pins = [pin for pin in session.scalars(select(Citizen.pin).where(
            Citizen.status == "alive").order_by(Citizen.pin).limit(PEOPLE + 100))
            if pin not in personas][:PEOPLE]
        people = [rules.Person(pin=p, birth_date=date(1980 + i % 30, 1 + i % 12, 1),
                               sex="MF"[i % 2], province_code="001",
                               province_name="Thành phố Hà Nội", commune_code="00004",
                               commune_name="Phường Ba Đình", plate_codes=("29", "30"))
                  for i, p in enumerate(pins)]
    rates = await _http(app, pins, seconds)
    rules_rate = _rules_rate(people, seconds)
    print(f"{'rules alone (all 6 kinds)':32s} {rules_rate:8,.0f} people/s")
    return rates


if __name__ == "__main__":
    main()
