"""Writing units of work of the login endpoints, for several server processes on one SQLite file.

SQLite lets one writer in at a time; a waiting writer sleeps in SQLite's busy handler (1 to 100 ms
steps) and, since SQLite work runs inline on the event loop (``Runtime.run_blocking``), so would
the whole process. Here the writers of every process queue instead on an advisory lock file beside
the database (``<db>-writers.lock``): the process tries it without waiting, and when another
process holds it, waits in a worker thread -- the event loop keeps serving other requests -- and
then runs the unit inline, holding the lock until it commits. Within a process an ``asyncio.Lock``
takes the turns. PostgreSQL needs none of this: its units run in worker threads, as elsewhere.
"""

from __future__ import annotations

import asyncio
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


def _try_lock(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _process_lock(app: FastAPI) -> asyncio.Lock:
    found = getattr(app.state, "oidc_write_lock", None)
    if found is None:
        found = app.state.oidc_write_lock = asyncio.Lock()
    return found


def _unit(database: Database, work: Callable[[Session], T]) -> Callable[[], T]:
    def run() -> T:
        with database.write() as session:
            return work(session)
    return run


async def run_write(app: FastAPI, runtime: Runtime, work: Callable[[Session], T]) -> T:
    """Run ``work(session)`` in one committed transaction (see the module docstring)."""
    database = runtime.database
    path = _lock_path(database) if database.is_sqlite else None
    if path is None:
        return await runtime.run_blocking(_unit(database, work))
    async with _process_lock(app):
        fd = _open(path)
        try:
            if not _try_lock(fd):
                await anyio.to_thread.run_sync(fcntl.flock, fd, fcntl.LOCK_EX)
            return _unit(database, work)()
        finally:
            os.close(fd)  # closing the descriptor releases the lock
