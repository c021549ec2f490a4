"""The lookup fast path (app.services.population.reading) used from many threads at once.

Tests drive the app from many threads (a TestClient per thread, each with its own event loop), and
SQLite's driver crashes the whole process when a connection is closed, or handed to another
thread's session, while one thread is still reading through it. The check runs in a child process
so such a crash fails this test instead of ending the test session.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from app.db import Database

THREADS, LOOKUPS = 8, 1500

CHILD = textwrap.dedent(f"""
    import sys, threading
    from sqlalchemy import text
    from app.db import Database
    from app.services.population.reading import citizen_reader

    # A pool smaller than the threads, so connections are returned and reused all the time.
    database = Database.connect(sys.argv[1], pool_size=1, max_overflow=2)
    with database.read() as session:
        pins = list(session.scalars(text("SELECT pin FROM citizen LIMIT 50")))
    lookup, found, lock = citizen_reader(database), [], threading.Lock()

    def work():
        hits = 0
        for i in range({LOOKUPS}):
            hits += lookup(pins[i % len(pins)]) is not None
            if i % 3 == 0:
                with database.read() as session:
                    session.execute(text("SELECT count(*) FROM household")).scalar()
        with lock:
            found.append(hits)

    threads = [threading.Thread(target=work) for _ in range({THREADS})]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    print(sum(found))
""")


def test_lookups_from_many_threads_beside_pooled_sessions_never_crash_and_find_every_row(
        database: Database) -> None:
    if not database.is_sqlite:
        pytest.skip("the fast path on PostgreSQL takes pooled connections, nothing per thread")
    child = subprocess.run([sys.executable, "-c", CHILD, database.url], capture_output=True,
                           text=True, timeout=300)
    assert child.returncode == 0, child.stderr[-2000:]
    assert int(child.stdout) == THREADS * LOOKUPS


def test_async_lookups_from_many_event_loops_at_once_all_answer(database: Database) -> None:
    """PostgreSQL's async fast path: each thread runs its own event loop (as tests do with a
    TestClient per thread); no loop may be handed another loop's futures or connections."""
    if database.is_sqlite:
        pytest.skip("SQLite has no async fast path")
    import asyncio
    import threading

    from sqlalchemy import text

    from app.services.population.reading import AsyncPostgresCitizens

    with database.read() as session:
        pins = list(session.scalars(text("SELECT pin FROM citizen ORDER BY pin LIMIT 40")))
    lookup, found, lock = AsyncPostgresCitizens(database), [], threading.Lock()

    async def many() -> int:
        rows = []
        for _ in range(10):
            rows += await asyncio.gather(*(lookup(pin) for pin in pins))
        return sum(row is not None for row in rows)

    def work() -> None:
        hits = asyncio.run(many())
        with lock:
            found.append(hits)

    threads = [threading.Thread(target=work, daemon=True) for _ in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert found == [10 * len(pins)] * THREADS
