"""CPU of one quota lease, the way the lookup's access check takes it: what the event loop gives
up to each lease (bench/RESULTS.md, "The tail, sixth pass"). CPU time, not wall time, so a busy
machine moves it little.

    .venv/bin/python -P bench/lease_cost.py URL [--leases 2000]

``orm``: ``rate_limit.charge`` in an ORM write session (``Database.write()``), as the lease ran in
a worker thread before (all of that thread's Python work held the GIL, so the loop waited for
it); ``async``: ``rate_limit.AsyncPostgresCharges`` on one event loop (PostgreSQL; the loop's own
CPU per lease, its waits for the server free for other requests); ``at_once``: SQLite's lease
inline on the loop's kept connection (``units.write_at_once``). Each on a key of its own, with a
limit it cannot reach. Prints one JSON object: microseconds of CPU per lease.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
import uuid
from datetime import UTC, datetime

from app.db import Database
from app.services.kit import rate_limit
from app.services.storage import units

LIMIT = 10**9


def orm(database: Database, count: int, key: str, now: datetime) -> float:
    began = time.thread_time()
    for _ in range(count):
        with database.write() as session:
            rate_limit.charge(session, client_id=key, limit=LIMIT, now=now, cost=10, minimum=1)
    return (time.thread_time() - began) / count


def at_once(database: Database, count: int, key: str, now: datetime) -> float:
    began = time.thread_time()
    for _ in range(count):
        assert units.write_at_once(
            database,
            lambda session: rate_limit.charge(
                session, client_id=key, limit=LIMIT, now=now, cost=10, minimum=1
            ),
        )
    return (time.thread_time() - began) / count


async def on_loop(url: str, count: int, key: str, now: datetime) -> float:
    charges = rate_limit.AsyncPostgresCharges(url)
    await charges.charge(client_id=key, limit=LIMIT, now=now, cost=10, minimum=1)  # connect
    began = time.thread_time()
    for _ in range(count):
        await charges.charge(client_id=key, limit=LIMIT, now=now, cost=10, minimum=1)
    spent = time.thread_time() - began
    await charges.aclose()
    return spent / count


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("database_url")
    parser.add_argument("--leases", type=int, default=2000)
    args = parser.parse_args()
    database = Database.connect(args.database_url)
    now = datetime.now(UTC)
    key = f"lease-cost-{uuid.uuid4().hex[:8]}"
    orm(database, 50, key, now)  # warm-up: pool, compiled statements
    result: dict[str, object] = {"leases": args.leases}
    for _ in range(2):
        result["orm_us"] = round(1e6 * orm(database, args.leases, key, now), 1)
        if database.is_sqlite:
            result["at_once_us"] = round(1e6 * at_once(database, args.leases, key, now), 1)
        else:
            result["async_us"] = round(
                1e6 * asyncio.run(on_loop(args.database_url, args.leases, key, now)), 1
            )
    with database.write() as session:
        session.execute(
            rate_limit.delete(rate_limit.RateWindow).where(rate_limit.RateWindow.client_id == key)
        )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
