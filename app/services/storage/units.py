"""Where the login endpoints' database work runs (authorize, token, userinfo).

SQLite lets one writer in at a time, and a waiting writer sleeps in SQLite's busy handler (1 to
100 ms steps). On SQLite, therefore:

* a process runs one writing unit at a time (an ``asyncio.Lock``), and the writing units of every
  process queue on an advisory lock file beside the database (``<db>-writers.lock``), so a waiting
  writer wakes as soon as the lock is free instead of sleeping;
* the unit runs inline on the event loop when it can start at once: the lock file is free and
  ``BEGIN IMMEDIATE`` succeeds with a zero busy timeout (on a connection of the event-loop
  thread's own, kept with that timeout: no pool checkout and no timeout set and reset per unit).
  Otherwise it runs in a worker thread that waits for its turn. The event loop itself never
  waits on a lock: were it to, a synchronous route holding SQLite's lock could not get its commit
  scheduled, and both would wait for the busy timeout;
* the commits on that kept connection leave SQLite's WAL checkpoints (two fsyncs and the copy:
  5-12 ms) to a background thread (:mod:`app.services.storage.checkpoints`), so a checkpoint
  does not stall the requests in flight;
* reads (userinfo) run inline: WAL readers do not wait for writers;
* a use case split in two phases (:mod:`app.services.storage.phases`: authorize, token) runs both
  in one writing transaction when the lock is free at once (always, with one process: a
  transaction, a session and a BEGIN/ROLLBACK fewer per request); when another process is
  writing, it decides on a reading transaction inline and waits for the lock only with the writes
  it leaves (the inserts and the conditional updates), not with its reads, rule checks and
  hashing: with several worker processes the lock, not the CPU, was what limited the logins per
  second;
* those transactions (units, read phases, userinfo's read) are begun and ended on the driver's
  connection (``app.db.driver_transaction``), not through SQLAlchemy's ``Connection.begin``.

PostgreSQL needs none of this: its units run in worker threads (``Runtime.run_blocking``), a
two-phase use case in one transaction of one thread.
"""

from __future__ import annotations

import fcntl
import functools
import os
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import anyio.to_thread
from sqlalchemy import Connection, make_url
from sqlalchemy.orm import Session

from app.db import Database, driver_transaction
from app.services.storage.checkpoints import CHECKPOINTS
from app.services.storage.phases import READ_ONLY, MustWrite, Pending, settle
from app.services.storage.runtime import Runtime

T = TypeVar("T")


class _Busy(Exception):
    """The unit could not start at once (another process or connection is writing)."""


def _lock_path(database: Database) -> str | None:
    """The writers' lock file of a SQLite file; ``None`` where writes need no queue."""
    return _lock_path_of(database.url) if database.is_sqlite else None


@functools.lru_cache(maxsize=64)  # every login write asks: parsing each time was ~1 % of a flow
def _lock_path_of(url: str) -> str | None:
    name = make_url(url).database
    return f"{name}-writers.lock" if name and name != ":memory:" else None


@functools.lru_cache(maxsize=64)
def _file_of(url: str) -> str:
    return make_url(url).database or ""


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


class _OnConnection(Session):
    """A session on one kept connection whose transaction its unit (or read phase) begins and
    ends itself. ``connection()`` hands that connection back without beginning the session's own
    transaction: the hot statements (``app.prepared``) run on it directly, and a unit that only
    runs them leaves the session nothing to commit or close (the session's begin, commit and
    close had cost ~5 % of a login flow's CPU). Anything the ORM does (``add``, ``execute``,
    ``flush``) begins the session's transaction as before, joined to the connection's.

    ``Session.__init__`` itself (an identity map, an id, the registry of sessions: ~1.5 % of a
    login flow, whose units use no ORM) runs at the ORM's first use: every attribute it sets is
    missing until then, so the first lookup of one (:meth:`__getattr__`) initialises the session
    and answers it."""

    def __init__(self, connection: Connection) -> None:  # Session.__init__ deferred (above)
        self._kept = connection

    def __getattr__(self, name: str) -> Any:
        held = self.__dict__
        if "hash_key" in held or "_kept" not in held:  # initialised (or not ours): really missing
            raise AttributeError(name)
        Session.__init__(self, held["_kept"], autoflush=False, expire_on_commit=False)
        return getattr(self, name)

    def connection(self, bind_arguments: Any = None,
                   execution_options: Any = None) -> Connection:
        if bind_arguments is None and execution_options is None:
            return self._kept
        return super().connection(bind_arguments, execution_options)

    def used(self) -> bool:
        """Whether the ORM did anything here: a transaction of its own, objects added, loaded
        or deleted. A session that did nothing has nothing to flush, commit or expunge."""
        if "hash_key" not in self.__dict__:  # never initialised: the ORM was not used
            return False
        return self.in_transaction() or bool(self.identity_map) or bool(self.new) \
            or bool(self.deleted)

    def __exit__(self, type_: Any, value: Any, traceback: Any) -> None:
        if self.used():
            self.close()


def _commit_unit(connection: Connection, work: Callable[[Session], T]) -> T:
    """``work`` in one transaction on ``connection``, committed; ``_Busy`` if it cannot begin.
    The transaction is the driver's (``app.db.driver_transaction``)."""
    begun = False
    with _OnConnection(connection) as session:
        try:
            with driver_transaction(connection, "BEGIN IMMEDIATE", commit=True):
                begun = True
                result = work(session)
                if session.used():
                    session.commit()  # flushes what the ORM holds (and ends its transaction)
        except sqlite3.OperationalError:
            if begun:
                raise
            raise _Busy() from None  # nothing begun: the kept connection is as it was
        return result


def _waiting(database: Database, path: str, work: Callable[[Session], T]) -> T:
    with _file_turn(path, wait=True), database.engine.connect() as connection:
        return _commit_unit(connection, work)


def _at_once(database: Database, path: str, work: Callable[[Session], T]) -> T:
    with _file_turn(path, wait=False):
        result = _commit_unit(database.unwaiting_connection(), work)
    CHECKPOINTS.wrote(_file_of(database.url))  # its checkpoint off the loop (see there)
    return result


def write_at_once(database: Database, work: Callable[[Session], object]) -> bool:
    """``work(session)`` committed on this thread's own connection if the writers' lock and
    SQLite's are free at once (nothing waits: no lock taken in the event loop); ``False``, with
    nothing done, otherwise or where there is no writers' lock (PostgreSQL, in-memory SQLite).
    For the audit trail's group commits (:mod:`app.services.sharing.audit_writer`): no
    ``asyncio.Lock`` (``run_write``'s belongs to one event loop, and tests drive an app from
    several), so the caller falls back to its worker thread whenever this says ``False``."""
    path = _lock_path(database)
    if path is None:
        return False
    try:
        _at_once(database, path, work)
    except _Busy:
        return False
    return True


def _unit(database: Database, work: Callable[[Session], T]) -> Callable[[], T]:
    def run() -> T:
        with database.write() as session:
            return work(session)
    return run


async def run_write(runtime: Runtime, work: Callable[[Session], T]) -> T:
    """Run ``work(session)`` in one committed transaction (see the module docstring)."""
    database = runtime.database
    path = _lock_path(database)
    if path is None:
        return await runtime.run_blocking(_unit(database, work))
    async with runtime.write_turn:
        try:
            return _at_once(database, path, work)
        except _Busy:
            return await anyio.to_thread.run_sync(_waiting, database, path, work)


@contextmanager
def _reading_session(database: Database) -> Iterator[Session]:
    """A read phase's session, on the event-loop thread's kept reader; rolled back after."""
    connection = database.reading_connection()
    with driver_transaction(connection, "BEGIN", commit=False), \
            _OnConnection(connection) as session:
        session.info[READ_ONLY] = True
        yield session


async def run_phases(runtime: Runtime,
                     decide: Callable[[Session], T | Pending[T]]) -> T:
    """``decide(session)`` and the writes it leaves (a
    :class:`~app.services.storage.phases.Pending`): in one writing transaction where there is no
    writer lock (PostgreSQL, an in-memory SQLite) or it is free at once; otherwise ``decide`` on a
    reading transaction, then the writes in a writing one (see the module docstring)."""
    database = runtime.database
    path = _lock_path(database)
    if path is None:
        return await runtime.run_blocking(_unit(database, lambda session: settle(
            decide(session), session)))
    if not runtime.write_turn.locked():
        # The writer lock free at once (always, with one process): the decision and its writes in
        # one transaction (a reading transaction, a session and a connection fewer per use case).
        try:
            return _at_once(database, path, lambda writing: settle(decide(writing), writing))
        except _Busy:
            pass  # another process writes: decide on a reader, queue only the writes
    try:
        with _reading_session(database) as session:
            step = decide(session)
    except MustWrite:
        return await run_write(runtime, lambda writing: settle(decide(writing), writing))
    if not isinstance(step, Pending):
        return step
    return await run_write(runtime, step.write)


async def run_read(runtime: Runtime, work: Callable[[], T]) -> T:
    """Run a reading ``work()`` (userinfo): inline on SQLite, a worker thread on PostgreSQL."""
    return await runtime.run_blocking(work)
