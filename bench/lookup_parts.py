"""Where the authenticated lookup's CPU goes, in process: bench/lookup_cpu.py's lookups with the
thread CPU of a few functions summed (authentication, the row read, the read scope that renders
the record and makes its audit entries, the SQLite audit batch's inline commit, the observation
record), each per request.

    .venv/bin/python -P bench/lookup_parts.py sqlite:///./bench-1m.db [requests]

The parts are nested where the names say so; what is left of the total is the edge's pass, the
handler, the audit wait and the event loop's task switches. A PostgreSQL lookup reads and
commits on the event loop through psycopg's async connections: only the authentication, the
render and the observation are then counted.
"""

from __future__ import annotations

import asyncio
import functools
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
import lookup_cpu
from sqlalchemy import func, select

from app import security
from app.db import Database
from app.edge import observe
from app.main import create_app
from app.models.population import Citizen
from app.services.population import citizens, reading
from app.services.storage import units
from app.settings import load_settings

spent: defaultdict[str, float] = defaultdict(float)


def timed(owner: Any, name: str, label: str) -> None:
    """Sum the thread CPU of ``owner.name`` (sync or async: a cache hit does not suspend)."""
    original = getattr(owner, name)
    if asyncio.iscoroutinefunction(original):
        @functools.wraps(original)
        async def waited(*args: Any, **kwargs: Any) -> Any:
            started = time.thread_time()
            try:
                return await original(*args, **kwargs)
            finally:
                spent[label] += time.thread_time() - started
        setattr(owner, name, waited)
        return

    @functools.wraps(original)
    def called(*args: Any, **kwargs: Any) -> Any:
        started = time.thread_time()
        try:
            return original(*args, **kwargs)
        finally:
            spent[label] += time.thread_time() - started
    setattr(owner, name, called)


timed(security, "authenticate", "authentication")
timed(citizens, "_in_read_scope", "read scope (row read, render, audit entries)")
timed(reading.SqliteCitizens, "__call__", "row read inside it (SQLite)")
timed(units, "write_at_once", "audit batch commit inline (SQLite)")
timed(observe.Watch, "record", "observation record")


async def main(url: str, requests: int) -> None:
    app = create_app(load_settings(database_url=url, auto_seed=False, log_level="warning"))
    with Database.connect(url).read() as session:
        pins = session.scalars(select(Citizen.pin).order_by(func.random()).limit(2000)).all()
    async with app.router.lifespan_context(app):
        headers = {"authorization": "Bearer " + await lookup_cpu.bench_token(app, url)}

        def path(n: int) -> str:
            return f"/v1/citizens/{pins[n % len(pins)]}"

        await lookup_cpu.measure(app, path, headers, 500)
        for _ in range(3):
            spent.clear()
            cpu, _ = await lookup_cpu.measure(app, path, headers, requests)
            parts = ", ".join(f"{label} {seconds / requests * 1e6:.0f} us"
                              for label, seconds in spent.items())
            print(f"lookup {cpu * 1e6:.0f} us of CPU per request; {parts}")


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 3000))
