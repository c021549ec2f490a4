"""Where the login endpoints' database work runs (authorize, token, userinfo).

SQLite lets one writer in at a time, and a waiting writer sleeps in SQLite's busy handler (1 to
100 ms steps). So, on SQLite, each process runs this work in one database thread, one unit after
the other, and the writing units of every process queue on an advisory lock file beside the
database (``<db>-writers.lock``): a waiting writer wakes as soon as the lock is free. The event loop
is never the one waiting -- were it, a synchronous route holding SQLite's lock could not get its
commit scheduled, and both would wait for the busy timeout. PostgreSQL needs none of this: its
units run in worker threads (``Runtime.run_blocking``).
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Callable
from typing import TypeVar

import anyio.to_thread
from fastapi import FastAPI
from sqlalchemy import make_url
from sqlalchemy.orm import Session

from app.db import Database
from app.services.runtime import Runtime

T = TypeVar("T")


def _lock_path(database: Database) -> str | None:
    name = make_url(database.url).database
    return f"{name}-writers.lock" if name and name != ":memory:" else None


def _open(path: str) -> int:
    return os.open(path, os.O_RDWR | os.O_CREAT, 0o600)


def _database_thread(app: FastAPI) -> anyio.CapacityLimiter:
    """One thread at a time runs this process's login database work (SQLite)."""
    found = getattr(app.state, "oidc_database_thread", None)
    if found is None:
        found = app.state.oidc_database_thread = anyio.CapacityLimiter(1)
    return found


def _unit(database: Database, work: Callable[[Session], T]) -> Callable[[], T]:
    def run() -> T:
        with database.write() as session:
            return work(session)
    return run


def _queued(path: str, unit: Callable[[], T]) -> T:
    fd = _open(path)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # this process's writer thread waits for its turn
        return unit()
    finally:
        os.close(fd)  # closing the descriptor releases the lock


async def run_write(app: FastAPI, runtime: Runtime, work: Callable[[Session], T]) -> T:
    """Run ``work(session)`` in one committed transaction (see the module docstring)."""
    database = runtime.database
    path = _lock_path(database) if database.is_sqlite else None
    if path is None:
        return await runtime.run_blocking(_unit(database, work))
    return await anyio.to_thread.run_sync(_queued, path, _unit(database, work),
                                          limiter=_database_thread(app))


async def run_read(app: FastAPI, runtime: Runtime, work: Callable[[], T]) -> T:
    """Run a reading ``work()`` (userinfo): on SQLite in the same thread as the writes -- one
    thread doing all of a process's database work contends less for the GIL than two; on
    PostgreSQL in a worker thread."""
    if not runtime.database.is_sqlite:
        return await runtime.run_blocking(work)
    return await anyio.to_thread.run_sync(work, limiter=_database_thread(app))
