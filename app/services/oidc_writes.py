"""Where the login endpoints' database work runs (authorize, token, userinfo).

SQLite lets one writer in at a time, and a waiting writer sleeps in SQLite's busy handler (1 to
100 ms steps). On SQLite, therefore:

* a process runs one writing unit at a time (an ``asyncio.Lock``), and the writing units of every
  process queue on an advisory lock file beside the database (``<db>-writers.lock``), so a waiting
  writer wakes as soon as the lock is free instead of sleeping;
* the unit runs inline on the event loop when it can start at once: the lock file is free and
  ``BEGIN IMMEDIATE`` succeeds with a zero busy timeout. Otherwise it runs in a worker thread that
  waits for its turn. The event loop itself never waits on a lock: were it to, a synchronous route
  holding SQLite's lock could not get its commit scheduled, and both would wait for the busy
  timeout;
* reads (userinfo) run inline: WAL readers do not wait for writers.

PostgreSQL needs none of this: its units run in worker threads (``Runtime.run_blocking``).
"""

from __future__ import annotations

import asyncio
import fcntl
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import anyio.to_thread
from fastapi import FastAPI
from sqlalchemy import make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from app.db import Database
from app.services.runtime import Runtime

T = TypeVar("T")
BUSY_TIMEOUT_MS = 30_000  # as app.db sets it on every SQLite connection


class _Busy(Exception):
    """The unit could not start at once (another process or connection is writing)."""


def _lock_path(database: Database) -> str | None:
    name = make_url(database.url).database
    return f"{name}-writers.lock" if name and name != ":memory:" else None


def _process_lock(app: FastAPI) -> asyncio.Lock:
    found = getattr(app.state, "oidc_write_lock", None)
    if found is None:
        found = app.state.oidc_write_lock = asyncio.Lock()
    return found


@contextmanager
def _file_turn(path: str, *, wait: bool) -> Iterator[None]:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            raise _Busy() from None
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


def _set_busy_timeout(connection: Any, milliseconds: int) -> None:
    connection.connection.dbapi_connection.execute(f"PRAGMA busy_timeout={milliseconds}")


def _in_transaction(database: Database, work: Callable[[Session], T], *, wait: bool) -> T:
    """``work`` in one committed transaction; without ``wait``, ``_Busy`` if it cannot begin."""
    with database.engine.connect() as connection:
        if not wait:
            _set_busy_timeout(connection, 0)
        try:
            with Session(connection, autoflush=False, expire_on_commit=False) as session:
                try:
                    connection.begin()  # BEGIN IMMEDIATE (app.db)
                except OperationalError:
                    raise _Busy() from None
                result = work(session)
                session.commit()
                connection.commit()
                return result
        finally:
            if not wait:
                _set_busy_timeout(connection, BUSY_TIMEOUT_MS)


def _waiting(database: Database, path: str, work: Callable[[Session], T]) -> T:
    with _file_turn(path, wait=True):
        return _in_transaction(database, work, wait=True)


def _at_once(database: Database, path: str, work: Callable[[Session], T]) -> T:
    with _file_turn(path, wait=False):
        return _in_transaction(database, work, wait=False)


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
        try:
            return _at_once(database, path, work)
        except _Busy:
            return await anyio.to_thread.run_sync(_waiting, database, path, work)


async def run_read(app: FastAPI, runtime: Runtime, work: Callable[[], T]) -> T:
    """Run a reading ``work()`` (userinfo): inline on SQLite, a worker thread on PostgreSQL."""
    return await runtime.run_blocking(work)
