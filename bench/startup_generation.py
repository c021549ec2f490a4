#!/usr/bin/env python3
"""Time what ``dancu serve`` generates at its first start after ``dancu seed --population-only``
(the default ``dancu seed`` makes them itself, in its transaction): the chip cards
(``seed.cards.ensure_cards``) and the VNeID accounts (``accounts_seed.ensure_accounts``), and
measure what they add to the database.

    .venv/bin/python -P bench/startup_generation.py postgresql+psycopg://postgres@127.0.0.1:5432/dancu_scale_1m

(``-P``: bench/seed.py must not shadow the ``seed`` package.) The database must hold a population
and no cards or accounts yet (each step does nothing when they exist). Prints one markdown row per
step: seconds, rows per second, and the size of its tables in MiB and bytes per person
(PostgreSQL: ``pg_total_relation_size``).
"""

from __future__ import annotations

import argparse
import os
import time
from datetime import UTC, datetime

from sqlalchemy import select, text

from app.db import Database
from app.models.population import PopulationRun

STEPS = {
    "cards": ("card", "card_event"),
    "accounts": ("vneid_account", "vneid_account_event", "vneid_otp", "vneid_sms"),
}


def sizes(database: Database, tables: tuple[str, ...]) -> tuple[int, int]:
    """(rows, bytes) of ``tables``."""
    rows = total = 0
    with database.engine.connect() as connection:
        for name in tables:
            rows += int(connection.execute(text(f"SELECT count(*) FROM {name}")).scalar_one())
            if not database.is_sqlite:
                total += int(connection.execute(
                    text(f"SELECT pg_total_relation_size('{name}')")).scalar_one())
    return rows, total


def run_step(name: str, database: Database, seed: int) -> None:
    now = datetime.now(UTC)
    if name == "cards":
        from seed.cards import ensure_cards

        ensure_cards(database, seed=seed, now=now)
    else:
        from app.services.kit import secret
        from app.services.vneid.account_generation import ensure_accounts
        from app.settings import load_settings

        settings = secret.resolved(database, load_settings(seed=seed), now=now)
        ensure_accounts(database, settings=settings, now=now)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("url")
    args = parser.parse_args()
    database = Database.connect(args.url)
    with database.read() as session:
        seed, people = session.execute(select(PopulationRun.seed, PopulationRun.size)).one()
    print("| date (UTC) | people | step | seconds | rows | rows/s | size | bytes/person | load |\n"
          "|---|---:|---|---:|---:|---:|---:|---:|---:|")
    for name, tables in STEPS.items():
        load = os.getloadavg()[0]
        started = time.perf_counter()
        run_step(name, database, seed)
        seconds = time.perf_counter() - started
        rows, size = sizes(database, tables)
        print(f"| {datetime.now(UTC):%Y-%m-%d %H:%M} | {people:,} | {name} | {seconds:.1f} | "
              f"{rows:,} | {rows / seconds:,.0f} | {size / 2**20:,.0f} MiB | "
              f"{size / people:.0f} | {load:.1f} |", flush=True)
    database.dispose()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
