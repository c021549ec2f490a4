"""Group commit for the audit trail: the records of concurrent requests are appended in one
transaction.

A request hands over its entries and waits until the transaction that holds them has committed,
so it never answers before its audit record is durable (a failed commit fails every request of
the batch with 503). What changes is the cost: one chain-head lock and one commit for all the
requests in flight, instead of one each.

The batching runs on the event loop: a flush task collects what the requests in flight have
added, then commits it while the loop keeps serving. On PostgreSQL the commit runs on the loop
itself, over psycopg's async connections (:class:`PostgresAppends`); on SQLite on the loop too
when SQLite's write lock is free at once (:func:`app.services.storage.units.write_at_once`, on the
loop thread's own writing connection, where the lookups also read their rows), else in a worker
thread (one thread hand-off per batch, not per request). This class owns its transactions (like the
request-session dependency); the chain rules stay in :mod:`app.services.sharing.audit`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import weakref
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from app.db import Database, LoopConnections, close_all, libpq_dsn
from app.services.sharing import audit
from app.services.storage import units

if TYPE_CHECKING:
    import psycopg  # loaded when a PostgreSQL deployment first appends: SQLite never needs it

log = logging.getLogger("dancu.audit")

APPLICATION_NAME = "dancu-audit"  # the writer's connections, by name, on the server
RunBlocking = Callable[[Callable[[], Any]], Awaitable[Any]]


class AuditUnavailable(Exception):
    """The audit record could not be written, so the data is not disclosed."""


@dataclass
class _Pending:
    loop: asyncio.AbstractEventLoop
    groups: list[audit.Group] = field(default_factory=list)
    waiters: list[asyncio.Future[None]] = field(default_factory=list)
    flushing: bool = False


class PostgresAppends:
    """Group commits on PostgreSQL from the event loop, with psycopg's async connections, without
    a worker thread (whose hand-off, and the GIL it then took from the loop, with the pool
    checkout's liveness ping, cost more than the commit: lookup/healthz on PostgreSQL 51 ->
    59-63 %). Connections (autocommit) belong to one event loop (tests run several) and are kept
    between commits; one that fails is closed. They are closed, on their loop, when that loop
    shuts down (``asyncio.run``, ``anyio.run`` and uvicorn shut a loop's asynchronous generators
    down before closing it: each loop's connections are guarded by one,
    :class:`app.db.LoopConnections`), or by :meth:`aclose` (the application's shutdown), never
    left to the garbage collector.

    A commit is one statement, one round trip (``audit.PG_APPEND_AT_HEAD``) when this writer
    knows the head it last wrote: the head moves and the records go in only if the head is still
    the one expected. Otherwise (the first commit, or another process or the CLI
    appended since) it takes the locked steps of :func:`app.services.sharing.audit.append_groups`:
    head locked ``FOR UPDATE``, records by ``COPY``, head moved, commit (five round trips, each
    with the loop's wait; the fsync of the commit is the same). The remembered head is only a
    guess that the database checks: a wrong one costs the locked steps, never a broken chain."""

    def __init__(self, url: str) -> None:
        self._dsn = libpq_dsn(url)
        self._loops: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, LoopConnections] = \
            weakref.WeakKeyDictionary()
        self._head: tuple[int, str] | None = None  # (seq, hash) this writer last committed

    async def _idle(self) -> list[psycopg.AsyncConnection[Any]]:
        """The running loop's kept connections (the first use on a loop starts their guard)."""
        loop = asyncio.get_running_loop()
        found = self._loops.get(loop)
        if found is None:
            found = self._loops[loop] = LoopConnections()
            await found.start()  # first iterated on this loop: the loop will close it
        return found.idle

    async def aclose(self) -> None:
        """Close the running loop's kept connections (a later append opens new ones)."""
        found = self._loops.get(asyncio.get_running_loop())
        if found is not None:
            await close_all(found.idle)

    async def append(self, groups: Sequence[audit.Group]) -> None:
        import psycopg

        if not any(entries for entries, _ in groups):
            return
        idle = await self._idle()
        head, self._head = self._head, None  # until this commit is known to have moved it
        intended: tuple[int, str] | None = None
        if head is not None:
            rows = audit.chained_rows(groups, seq=head[0], head_hash=head[1])
            try:
                if await self._at_head(idle, rows, head):
                    self._head = rows[-1]["seq"], rows[-1]["hash"]
                    return
            except psycopg.OperationalError:
                # The connection failed: the statement may have committed before it did. If
                # it has, this commit's last record (its hash covers the whole batch) is in the
                # chain -- at the head, or behind another writer's records appended since: the
                # locked steps then see that and write nothing again.
                intended = rows[-1]["seq"], rows[-1]["hash"]
        self._head = await self._locked_append(idle, groups, intended)

    async def _at_head(self, idle: list[psycopg.AsyncConnection[Any]],
                       rows: list[dict[str, Any]], head: tuple[int, str]) -> bool:
        """The one-statement commit of ``rows`` chained after ``head``; ``False`` (nothing
        written) if the head has moved since."""
        connection = idle.pop() if idle else await self._connect()
        try:
            cursor = await connection.execute(audit.PG_APPEND_AT_HEAD, (
                rows[-1]["seq"], rows[-1]["hash"], head[0], head[1], audit.json_rows(rows)),
                prepare=True)
        except BaseException:
            await _close(connection)
            raise
        idle.append(connection)
        return cursor.rowcount == len(rows)

    async def _locked_append(self, idle: list[psycopg.AsyncConnection[Any]],
                             groups: Sequence[audit.Group],
                             intended: tuple[int, str] | None) -> tuple[int, str]:
        """The locked steps in one transaction; the new head. When ``intended`` (the last record
        of an earlier attempt whose answer was lost) is in the chain -- at the head, or further
        back when another writer has appended since -- that attempt committed after all and
        nothing is written."""
        connection, (seq, head_hash) = await self._locked(idle)
        try:
            if intended is not None and ((seq, head_hash) == intended or (
                    seq > intended[0] and await _recorded(connection, intended))):
                await connection.execute("COMMIT")
                idle.append(connection)
                return seq, head_hash
            rows = audit.chained_rows(groups, seq=seq, head_hash=head_hash)
            cursor = connection.cursor()
            async with cursor.copy(audit.PG_COPY_RECORDS) as copy:
                for row in rows:
                    await copy.write_row(audit.copy_values(row))
            await cursor.execute(audit.PG_MOVE_HEAD, (rows[-1]["seq"], rows[-1]["hash"]),
                                 prepare=True)
            await connection.execute("COMMIT")
        except BaseException:
            await _close(connection)
            raise
        idle.append(connection)
        return rows[-1]["seq"], rows[-1]["hash"]

    async def _locked(self, idle: list[psycopg.AsyncConnection[Any]]) -> tuple[
            psycopg.AsyncConnection[Any], tuple[int, str]]:
        """A connection whose transaction holds the chain head's lock, and the head. A kept
        connection the server has dropped since (a restart, a killed backend) fails here, before
        anything was written: it is closed and the next one, or a new one, takes its place."""
        import psycopg

        while idle:
            connection = idle.pop()
            try:
                return connection, await _lock_head(connection)
            except psycopg.OperationalError:
                await _close(connection)  # dropped by the server since: the next one
            except BaseException:
                await _close(connection)
                raise
        connection = await self._connect()
        try:
            return connection, await _lock_head(connection)
        except BaseException:
            await _close(connection)
            raise

    async def _connect(self) -> psycopg.AsyncConnection[Any]:
        import psycopg

        return await psycopg.AsyncConnection.connect(
            self._dsn, application_name=APPLICATION_NAME, autocommit=True)


async def _recorded(connection: psycopg.AsyncConnection[Any], record: tuple[int, str]) -> bool:
    cursor = await connection.execute(audit.PG_RECORD_AT, record, prepare=True)
    return await cursor.fetchone() is not None


async def _lock_head(connection: psycopg.AsyncConnection[Any]) -> tuple[int, str]:
    """Begin a transaction (the connection is in autocommit) holding the head's row lock."""
    await connection.execute("BEGIN")
    cursor = await connection.execute(audit.PG_LOCK_HEAD, prepare=True)
    head = await cursor.fetchone()
    if head is None:
        raise LookupError("the audit chain head row is missing")
    return head[0], head[1]


async def _close(connection: psycopg.AsyncConnection[Any]) -> None:
    with contextlib.suppress(Exception):
        await connection.close()


class AuditWriter:
    def __init__(self, database: Database, run_blocking: RunBlocking) -> None:
        self._database = database
        self._run_blocking = run_blocking
        self._pending: _Pending | None = None
        self._appends = None if database.is_sqlite else PostgresAppends(database.url)

    async def append(self, entries: Sequence[audit.AuditEntry], *, now: datetime) -> None:
        """Wait until ``entries`` are committed; :class:`AuditUnavailable` if they cannot be."""
        if not entries:
            return
        pending = self._current()
        waiter = pending.loop.create_future()
        pending.groups.append((entries, now))
        pending.waiters.append(waiter)
        if not pending.flushing:
            pending.flushing = True
            pending.loop.create_task(self._flush(pending))
        await waiter

    def _current(self) -> _Pending:
        loop = asyncio.get_running_loop()
        if self._pending is None or self._pending.loop is not loop:
            self._pending = _Pending(loop)
        return self._pending

    async def _flush(self, pending: _Pending) -> None:
        try:
            while pending.groups:
                await asyncio.sleep(0)  # let the requests in flight add their records first
                groups, waiters = pending.groups, pending.waiters
                pending.groups, pending.waiters = [], []
                await self._write(groups, waiters)
        finally:
            pending.flushing = False

    async def _write(self, groups: list[audit.Group], waiters: list[asyncio.Future[None]]) -> None:
        try:
            if self._appends is not None:
                await self._appends.append(groups)
            elif not units.write_at_once(
                    self._database, lambda session: audit.append_groups_sqlite(session, groups)):
                await self._run_blocking(lambda: self._commit(groups))
        except Exception as error:  # every waiting request must learn that its record failed
            log.error("audit append failed: %s", type(error).__name__)
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_exception(AuditUnavailable())
            return
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    async def aclose(self) -> None:
        """The application shuts down: close the running loop's kept PostgreSQL connections."""
        if self._appends is not None:
            await self._appends.aclose()

    def _commit(self, groups: list[audit.Group]) -> None:
        with self._database.write() as session:
            audit.append_groups_sqlite(session, groups)
