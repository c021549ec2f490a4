"""Database engines and sessions: SQLite (embedded default) or PostgreSQL, same code.

On SQLite, writing transactions start with ``BEGIN IMMEDIATE`` so concurrent writers queue on the
busy timeout instead of failing when they upgrade a read lock; reading transactions use a plain
``BEGIN`` so lookups run in parallel under WAL. PostgreSQL needs no such distinction.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import threading
import time
import weakref
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from sqlalchemy import Connection, Engine, create_engine, event, exc, make_url
from sqlalchemy.orm import Session, sessionmaker

from app.prepared import DRIVER_TRANSACTION

log = logging.getLogger("dancu.storage")


def make_engine(url: str, *, immediate: bool = False, existing: bool = False,
                **kwargs: Any) -> Engine:
    """``existing``: a SQLite file is opened ``mode=rw``, never created -- a tenant's database
    (:mod:`app.edge.tenants`), where a late write through a dropped tenant's engine would
    otherwise leave an empty database file (and its ``-wal``, ``-shm``) at its path; it fails
    instead, as the WAL checkpoint thread's open does (:mod:`app.services.storage.checkpoints`).
    """
    # A database error's message would otherwise carry the statement's values (PINs, names) into
    # the logs.
    kwargs.setdefault("hide_parameters", True)
    if not url.startswith("sqlite"):
        kwargs.setdefault("pool_size", 10)
        kwargs.setdefault("max_overflow", 20)
        kwargs.setdefault("pool_pre_ping", True)
        return create_engine(url, **kwargs)
    if existing:
        path = make_url(url).database or ""
        kwargs["creator"] = lambda: sqlite3.connect(
            f"file:{quote(path)}?mode=rw", uri=True, check_same_thread=False, timeout=30)
    engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30}, **kwargs)
    event.listen(engine, "connect", _sqlite_pragmas)
    event.listen(engine, "begin", _sqlite_begin("BEGIN IMMEDIATE" if immediate else "BEGIN"))
    return engine


def _sqlite_begin(statement: str) -> Callable[[Connection], None]:
    """The "begin" event of a SQLite engine: ``statement`` on the driver's connection. (Through
    ``exec_driver_sql`` it cost ~80 us, the price of a whole statement; every transaction pays it.)
    A failure is raised as SQLAlchemy's own error, as a statement's would be."""
    def begin(connection: Connection) -> None:
        if getattr(connection, DRIVER_TRANSACTION, False):
            return  # the driver is in the transaction already: SQLAlchemy joins it (an ORM write)
        try:
            connection.connection.dbapi_connection.execute(statement)  # type: ignore[union-attr]
        except sqlite3.Error as error:
            raise exc.DBAPIError.instance(statement, (), error, sqlite3.Error) from error
    return begin


@contextmanager
def driver_transaction(connection: Connection, begin: str, *, commit: bool) -> Iterator[None]:
    """A transaction of a SQLite ``connection`` (one this thread keeps, or a checked-out one not
    in a transaction) begun with ``begin`` (``BEGIN`` or ``BEGIN IMMEDIATE``, as the connection's
    engine begins its own) and ended on the driver's connection: committed (``commit``; else
    rolled back: a read) when the block ends, rolled back if it raises. SQLAlchemy's
    ``Connection.begin``, ``commit`` and ``rollback`` around the driver's (their objects and
    events: ~4 % of a login flow's CPU) are skipped; ``app.prepared`` statements run in it as
    they are, and an ORM session that joins the connection begins SQLAlchemy's transaction over
    the driver's without a second ``BEGIN`` (``_sqlite_begin``), then ended here through
    SQLAlchemy. A failing ``begin`` raises the driver's ``sqlite3.OperationalError`` (busy),
    with nothing begun."""
    driver = connection.connection.dbapi_connection
    assert driver is not None
    driver.execute(begin)
    setattr(connection, DRIVER_TRANSACTION, True)
    try:
        yield
        if commit:
            _end(connection, driver, commit=True)
    except BaseException:
        _end(connection, driver, commit=False)
        raise
    finally:
        setattr(connection, DRIVER_TRANSACTION, False)
    if not commit:
        _end(connection, driver, commit=False)


def _end(connection: Connection, driver: Any, *, commit: bool) -> None:
    if connection.in_transaction():  # an ORM session joined: SQLAlchemy's, over the driver's
        if commit:
            connection.commit()
        else:
            connection.rollback()
    elif commit:
        try:
            driver.commit()
        except sqlite3.Error as error:
            raise exc.DBAPIError.instance("COMMIT", (), error, sqlite3.Error) from error
    else:
        driver.rollback()


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # Let SQLAlchemy's "begin" event issue BEGIN itself (pysqlite's implicit BEGIN is deferred).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    _write_ahead_log(cursor)
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


WAL_PATIENCE_SECONDS = 30.0  # as long as the busy timeout
LOOP_CHECKPOINT_PAGES = 20_000  # the event loop's own writing connection (unwaiting_connection)


def _write_ahead_log(cursor: Any) -> None:
    """Switch to WAL, waiting while another connection writes. Switching needs an exclusive lock,
    and SQLite does not wait for one here: while a writer holds its lock on a database still in
    rollback mode (a new file that the first worker of ``--workers 2`` is migrating), the switch
    fails at once with "database is locked", whatever the busy timeout."""
    deadline = time.monotonic() + WAL_PATIENCE_SECONDS
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or time.monotonic() >= deadline:
                raise
            time.sleep(0.02)


@dataclass
class Database:
    """The engines and session factories of one database.

    ``lookups`` serves the data-sharing API's reads of population rows by PIN
    (:mod:`app.services.population.reading`): a read replica when ``lookup_url`` names one
    (``DANCU_READ_DATABASE_URL``), else the same engine as ``reader``. Only those reads go there:
    a replica lags its primary, and the population changes rarely (life events), while keys,
    sessions, consents and the clock must be read where they were just written (docs/scale.md).
    """

    url: str
    engine: Engine
    writer: sessionmaker[Session]
    reader: sessionmaker[Session]
    lookup_url: str = ""
    lookups: sessionmaker[Session] | None = None
    _own: threading.local = field(default_factory=threading.local, repr=False, compare=False)
    # Every connection a thread keeps outside the pools (those of _own, the SQLite lookups'), by
    # weak reference (the thread's own reference keeps it; it goes with its thread as before), with
    # its thread and that thread's event loop: closed by dispose(). The engines' dispose closes
    # only what their pools hold, and waiting for the collector to take a dropped tenant's
    # Database left its files open for as long as that took -- for good once a gc.freeze()
    # (app.main) had moved that Database to the permanent generation -- after a tenant reset or
    # drop had unlinked them.
    _kept: list[_Kept] = field(default_factory=list, repr=False, compare=False)
    _kept_guard: threading.Lock = field(default_factory=threading.Lock, repr=False,
                                        compare=False)

    @classmethod
    def connect(cls, url: str, *, lookup_url: str | None = None, existing: bool = False,
                **kwargs: Any) -> Database:
        """``existing``: never create the SQLite file (:func:`make_engine`)."""
        engine = make_engine(url, immediate=True, existing=existing, **kwargs)
        read_engine = make_engine(url, existing=existing, **kwargs) \
            if url.startswith("sqlite") else engine
        lookup_engine = make_engine(lookup_url, **kwargs) if lookup_url else read_engine
        return cls(
            url=url,
            engine=engine,
            writer=sessionmaker(engine, expire_on_commit=False, autoflush=False),
            reader=sessionmaker(read_engine, expire_on_commit=False, autoflush=False),
            lookup_url=lookup_url or url,
            lookups=sessionmaker(lookup_engine, expire_on_commit=False, autoflush=False),
        )

    @property
    def lookup_engine(self) -> Engine:
        return (self.lookups or self.reader).kw["bind"]

    @property
    def is_sqlite(self) -> bool:
        return self.url.startswith("sqlite")

    @contextmanager
    def write(self) -> Iterator[Session]:
        """One writing unit of work: commit on success, roll back on any exception."""
        with self.writer.begin() as session:
            yield session

    @contextmanager
    def read(self) -> Iterator[Session]:
        with self.reader.begin() as session:
            yield session

    def reading_connection(self) -> Connection:
        """This thread's own SQLite connection of the read engine (a plain ``BEGIN``), for short
        reads on the event loop (the login endpoints' read phases): no pool checkout and reset per
        read. Kept as :meth:`unwaiting_connection` is; end each use's transaction."""
        connection: Connection | None = getattr(self._own, "reading", None)
        if connection is None or connection.closed or connection.invalidated:
            connection = self.reader.kw["bind"].connect()
            connection.detach()
            self.keep(connection)
            self._own.reading = connection
        return connection

    def unwaiting_connection(self) -> Connection:
        """This thread's own SQLite connection with a zero busy timeout, for a write that starts
        at once or not at all. Kept for the thread (and this object), outside the pool: an event
        loop would otherwise hold a pool slot for good, and a SQLite connection is never shared
        between threads."""
        connection: Connection | None = getattr(self._own, "connection", None)
        if connection is None or connection.closed or connection.invalidated:
            connection = self.engine.connect()
            connection.detach()
            # On the driver's connection: through SQLAlchemy the PRAGMA would begin a transaction.
            driver = connection.connection.dbapi_connection
            driver.execute("PRAGMA busy_timeout=0")
            # Its commits leave the checkpoints to a background thread (a checkpoint's fsyncs
            # stalled the event loop: app.services.storage.checkpoints); past this many pages
            # of log, as a backstop, it checkpoints itself.
            driver.execute(f"PRAGMA wal_autocheckpoint={LOOP_CHECKPOINT_PAGES}")
            self.keep(connection)
            self._own.connection = connection
        return connection

    def keep(self, connection: Any) -> None:
        """Note a connection this thread keeps outside the pools (a detached ``Connection`` or
        raw DBAPI connection) for :meth:`dispose` to close."""
        try:
            loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        entry = (weakref.ref(connection), weakref.ref(threading.current_thread()),
                 None if loop is None else weakref.ref(loop))
        with self._kept_guard:
            self._kept = [kept for kept in self._kept if _open(kept[0]())]
            self._kept.append(entry)

    def dispose(self) -> None:
        """Close every connection of this database: the pools' and those threads kept (a tenant
        dropped, reset or evicted from the cache; the application's shutdown). A thread that uses
        this object again opens new ones.

        A kept connection is closed on its own thread -- a SQLite connection closed while another
        thread uses it crashes the driver: by the caller if it is that thread or that thread has
        ended, else by that thread's event loop (which uses its connections only between two
        awaits), waited for, so that a tenant's files are dropped or replaced only after its
        connections have closed; one kept by another thread running without a loop is left to
        the collector."""
        with self._kept_guard:
            kept, self._kept = self._kept, []
        for connection, owner, loop in kept:
            _close_kept(connection(), owner(), None if loop is None else loop())
        self.engine.dispose()
        self.reader.kw["bind"].dispose()
        self.lookup_engine.dispose()


KEPT_CLOSE_PATIENCE_SECONDS = 10.0  # dispose's wait for another thread's loop to close one


def _close(connection: Any) -> None:
    if not _open(connection):
        return
    try:
        connection.close()
    except Exception:  # already unusable: nothing left to release
        log.debug("a kept connection could not be closed", exc_info=True)


def _close_kept(connection: Any, owner: threading.Thread | None,
                loop: asyncio.AbstractEventLoop | None) -> None:
    if not _open(connection):
        return
    if owner is None or owner is threading.current_thread() or not owner.is_alive():
        _close(connection)
        return
    if loop is None or not loop.is_running():
        return  # its thread's own, and nothing runs there now: left to the collector

    async def on_its_loop() -> None:
        _close(connection)

    try:
        closing = asyncio.run_coroutine_threadsafe(on_its_loop(), loop)
    except RuntimeError:  # the loop closed meanwhile: left to the collector
        return
    try:
        closing.result(KEPT_CLOSE_PATIENCE_SECONDS)
    except Exception:  # stopped or stuck: not closed later, after the files have changed
        closing.cancel()
        log.debug("a kept connection of another thread's loop not closed", exc_info=True)


def _open(connection: Any) -> bool:
    """Whether a kept connection is still there and open (a ``Connection``, or a raw connection
    whose DBAPI connection is not gone)."""
    if connection is None:
        return False
    closed = getattr(connection, "closed", None)
    if closed is not None:
        return not closed
    return getattr(connection, "dbapi_connection", None) is not None


_Kept = tuple["weakref.ref[Any]", "weakref.ref[threading.Thread]",
              "weakref.ref[asyncio.AbstractEventLoop] | None"]


# SQLSTATEs a failover answers with besides a lost connection: the node is read-only (a standby,
# or a former primary started again as one), shutting down, or not accepting connections yet.
_FAILOVER_STATES = frozenset({"25006", "57P01", "57P02", "57P03", "08000", "08001", "08003",
                              "08004", "08006"})


def database_unreachable(error: BaseException) -> bool:
    """Whether ``error`` means the database could not be reached or lost its primary (a failover,
    a restart): the request's transaction was not committed, and the same request may succeed
    once a primary answers again. SQLAlchemy's wrappers and psycopg's own errors (the async
    paths use psycopg directly) alike; SQLite's "database is locked" as well."""
    if isinstance(error, exc.DBAPIError):
        if error.connection_invalidated or isinstance(error, exc.OperationalError):
            return True
        error = error.orig if error.orig is not None else error
    import psycopg

    if isinstance(error, psycopg.OperationalError | psycopg.InterfaceError):
        return True
    return isinstance(error, psycopg.Error) and error.sqlstate in _FAILOVER_STATES


def libpq_dsn(url: str) -> str:
    """A PostgreSQL SQLAlchemy URL as the connection string psycopg's own connections take, in
    libpq's ``key=value`` form, through the dialect's own reading of the URL: several hosts
    (``?host=a:5432&host=b:5433&target_session_attrs=read-write``, docs/scale.md "Failover")
    become ``host=a,b port=5432,5433``, as SQLAlchemy's engine connects, where the URL form would
    keep only one of the repeated ``host`` parameters."""
    from psycopg.conninfo import make_conninfo

    parsed = make_url(url).set(drivername="postgresql+psycopg")
    _, params = parsed.get_dialect()().create_connect_args(parsed)
    params.pop("context", None)
    return make_conninfo(**{key: str(value) for key, value in params.items()})


class LoopConnections:
    """One event loop's kept psycopg async connections (``idle``), closed on that loop when it
    shuts down: ``asyncio.run``, ``anyio.run`` (a test client's portal) and uvicorn shut a loop's
    asynchronous generators down before closing it, and :meth:`start` makes :attr:`guard` one of
    them. Without it, the connections of a test client's per-request loops stayed open until the
    garbage collector found each loop, and a loop of requests took PostgreSQL's
    ``max_connections``."""

    __slots__ = ("guard", "idle")

    def __init__(self) -> None:
        self.idle: list[Any] = []
        self.guard = _closed_at_loop_shutdown(self.idle)

    async def start(self) -> None:
        """Call once, on the loop: the loop will close the guard, and the connections with it."""
        await anext(self.guard)


async def _closed_at_loop_shutdown(idle: list[Any]) -> AsyncIterator[None]:
    """Suspended for the loop's lifetime; the loop's ``shutdown_asyncgens`` (before it closes)
    resumes it with ``aclose()``, and its ``finally`` closes the loop's kept connections there."""
    try:
        yield
    finally:
        await close_all(idle)


async def close_all(idle: list[Any]) -> None:
    """Close the kept connections (one that fails to close is dropped all the same)."""
    while idle:
        with contextlib.suppress(Exception):
            await idle.pop().close()
