"""Reads for the data-sharing API: one citizen row by PIN on a fast path, anything else in a read
transaction opened only if a request needs it.

A lookup by PIN is one statement on the primary key, so it is consistent on its own and needs no
transaction. The fast path skips what a session costs per request (checkout, ``BEGIN``,
``ROLLBACK``; three round trips on PostgreSQL): on PostgreSQL an autocommit connection (one round
trip); on SQLite a connection per thread (in a server, the event-loop thread: SQLite work runs
inline there, see :meth:`app.services.storage.runtime.Runtime.run_blocking`), reading the row with
the driver directly. Scopes that need more rows (residence, family, reference names on first use)
open an ordinary read session.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import weakref
from collections import namedtuple
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Any

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from app.db import Database, LoopConnections, libpq_dsn
from app.models.population import Citizen
from app.services.population.reference import Reference, cached_reference, reference

if TYPE_CHECKING:
    import psycopg  # loaded by the first PostgreSQL read: a SQLite deployment never needs it

CITIZEN_COLUMNS = tuple(column.name for column in Citizen.__table__.columns)
_DATE_INDEXES = tuple(index for index, column in enumerate(Citizen.__table__.columns)
                      if column.type.python_type is date)
CitizenRow = namedtuple("CitizenRow", CITIZEN_COLUMNS)  # type: ignore[misc]
_BY_PIN = select(Citizen.__table__).where(Citizen.__table__.c.pin == bindparam("pin"))
_SQLITE_BY_PIN = f"SELECT {', '.join(CITIZEN_COLUMNS)} FROM citizen WHERE pin = ?"
_PG_BY_PINS = f"SELECT {', '.join(CITIZEN_COLUMNS)} FROM citizen WHERE pin = ANY(%s)"


MMAP_BYTES = 1 << 30
CACHE_KIB = 64 * 1024


class SqliteCitizens:
    """Citizen rows through a driver connection of the calling thread's own.

    In a deployed server that is the one event-loop thread; tests drive the app from many
    threads at once (a TestClient per thread, each with its own event loop). A SQLite connection
    must never be closed or used by one thread while another is using it (the driver crashes the
    process), so each thread keeps its own, detached from the pool so idle threads hold no pool
    slot; it closes when its thread ends and the connection is garbage-collected, or when the
    database is disposed (:meth:`app.db.Database.dispose`: a tenant dropped, reset or evicted).
    """

    def __init__(self, database: Database) -> None:
        self._database = database
        self._engine = database.lookup_engine
        self._local = threading.local()
        # Lookups read the primary itself (no replica): then on the thread's own writing
        # connection, see _writers.
        self._share = database.lookup_url == database.url

    def __call__(self, pin: str) -> CitizenRow | None:
        if self._share:
            found = self._on_writers(pin)
            if found is not False:
                return found  # type: ignore[return-value]
        cursor = self._connection().cursor()
        try:
            found = cursor.execute(_SQLITE_BY_PIN, (pin,)).fetchone()
        finally:
            cursor.close()
        return None if found is None else _with_dates(found)

    def _on_writers(self, pin: str) -> CitizenRow | None | bool:
        """The row read on the connection this thread commits the audit trail's group commits
        on (:func:`app.services.storage.units.write_at_once`), outside any transaction of it;
        ``False`` when that cannot be (it is in a transaction, or SQLite said busy: the thread's
        reading connection then). SQLite empties a connection's page cache whenever *another*
        connection has committed: read on a connection of their own, the lookups would read the
        citizen index again from its root after every audit batch (24 -> 48 us a read at 1 M
        people, bench/RESULTS.md)."""
        driver = self._database.unwaiting_connection().connection.dbapi_connection
        if driver is None or driver.in_transaction:
            return False
        if getattr(self._local, "tuned", None) is not driver:
            self._tune(driver.cursor())
            self._local.tuned = driver
        cursor = driver.cursor()
        try:
            found = cursor.execute(_SQLITE_BY_PIN, (pin,)).fetchone()
        except sqlite3.OperationalError:  # busy (zero timeout on this connection): read elsewhere
            return False
        finally:
            cursor.close()
        return None if found is None else _with_dates(found)

    def _connection(self) -> Any:
        connection = getattr(self._local, "connection", None)
        if connection is None or connection.dbapi_connection is None:  # closed: database disposed
            connection = self._engine.raw_connection()
            connection.detach()
            self._database.keep(connection)  # closed with the database (a dropped tenant's)
            self._tune(connection.cursor())
            self._local.connection = connection
        return connection

    @staticmethod
    def _tune(cursor: Any) -> None:
        # Lookups by random PIN touch pages all over a large table: read them through a memory
        # map and keep more of them cached, instead of a read() system call per page.
        cursor.execute(f"PRAGMA mmap_size = {MMAP_BYTES}")
        cursor.execute(f"PRAGMA cache_size = -{CACHE_KIB}")
        cursor.close()


def _with_dates(found: tuple[Any, ...]) -> CitizenRow:
    """A SQLite row (dates stored as ISO text) as the row SQLAlchemy's ``Date`` columns give."""
    values = list(found)
    for index in _DATE_INDEXES:
        if values[index]:
            values[index] = date.fromisoformat(values[index])
    return CitizenRow._make(values)


class PostgresCitizens:
    """Citizen rows through autocommit connections from the pool (one round trip each)."""

    def __init__(self, database: Database) -> None:
        self._engine = database.lookup_engine.execution_options(isolation_level="AUTOCOMMIT")

    def __call__(self, pin: str) -> Any:
        with self._engine.connect() as connection:
            return connection.execute(_BY_PIN, {"pin": pin}).first()


def citizen_reader(database: Database) -> Callable[[str], Any]:
    return SqliteCitizens(database) if database.is_sqlite else PostgresCitizens(database)


@dataclass
class _LoopState:
    slots: asyncio.Semaphore
    connections: LoopConnections = field(default_factory=LoopConnections)
    waiting: dict[str, list[asyncio.Future[Any]]] = field(default_factory=dict)


class AsyncPostgresCitizens:
    """Citizen rows read from the event loop with psycopg's async connections (autocommit,
    prepared), so a PostgreSQL lookup needs no worker thread. The PINs asked for while a query is
    being prepared are read together with ``pin = ANY(...)`` (one round trip and one statement's
    driver overhead for all the requests in flight, as the audit writer does for its commits).
    Connections belong to one event loop, which closes them when it shuts down
    (:class:`app.db.LoopConnections`); a broken one is dropped and replaced on the next use."""

    SIZE = 4

    def __init__(self, database: Database) -> None:
        self._dsn = libpq_dsn(database.lookup_url or database.url)
        # Connections, slots and waiting requests belong to one event loop. A server has one;
        # tests run several at once from different threads, and a loop must never be handed
        # another loop's futures or connections, so each keeps its own.
        self._loops: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopState] = (
            weakref.WeakKeyDictionary())

    async def __call__(self, pin: str) -> CitizenRow | None:
        loop = asyncio.get_running_loop()
        state = self._loops.get(loop)
        if state is None:
            state = self._loops[loop] = _LoopState(asyncio.Semaphore(self.SIZE))
            await state.connections.start()  # closed with the loop, not when it is collected
        found: asyncio.Future[Any] = loop.create_future()
        if not state.waiting:
            loop.create_task(self._read_batch(state))
        state.waiting.setdefault(pin, []).append(found)
        return await found

    async def _read_batch(self, state: _LoopState) -> None:
        await asyncio.sleep(0)  # let the requests in flight add their PINs
        waiting, state.waiting = state.waiting, {}
        try:
            rows = await self._query(state, list(waiting))
        except Exception as error:
            for futures in waiting.values():
                for future in futures:
                    future.set_exception(error)
            return
        for pin, futures in waiting.items():
            for future in futures:
                future.set_result(rows.get(pin))

    async def _query(self, state: _LoopState, pins: list[str]) -> dict[str, CitizenRow]:
        idle = state.connections.idle
        async with state.slots:
            connection = idle.pop() if idle else await self._connect()
            try:
                cursor = await connection.execute(_PG_BY_PINS, (pins,), prepare=True)
                rows = [CitizenRow(*found) for found in await cursor.fetchall()]
            except BaseException:
                await connection.close()
                raise
            idle.append(connection)
        return {row.pin: row for row in rows}

    async def _connect(self) -> psycopg.AsyncConnection[Any]:
        import psycopg

        return await psycopg.AsyncConnection.connect(self._dsn, autocommit=True)


class NeedsBlocking(Exception):
    """Raised in an event-loop-only scope when the work needs a database session."""


class ReadScope:
    """What a reading service function gets: :meth:`citizen` on the fast path (or from rows
    fetched beforehand), :meth:`reference` names, and a read session (``session.get``, ...)
    opened on first use and closed with the scope. An ``inline_only`` scope runs on the event
    loop and raises :class:`NeedsBlocking` instead of blocking it."""

    def __init__(self, database: Database, citizens: Callable[[str], Any], *,
                 prefetched: dict[str, Any] | None = None, inline_only: bool = False) -> None:
        self._database = database
        self._citizens = citizens
        self._prefetched = prefetched or {}
        self._inline_only = inline_only
        self._context: AbstractContextManager[Session] | None = None
        self._session: Session | None = None

    def citizen(self, pin: str) -> Any:
        """The citizen's columns (attribute access), or ``None``."""
        if pin in self._prefetched:
            return self._prefetched[pin]
        if self._inline_only:
            raise NeedsBlocking()
        return self._citizens(pin)

    def reference(self) -> Reference:
        return cached_reference(self._database.url) or reference(self.session)

    @property
    def session(self) -> Session:
        if self._inline_only:
            raise NeedsBlocking()
        if self._session is None:
            self._context = self._database.read()
            self._session = self._context.__enter__()
        return self._session

    def close(self) -> None:
        if self._context is not None:
            self._context.__exit__(None, None, None)
            self._context = self._session = None
