"""Per-client request quotas: a fixed one-minute window counted in the database, so every server
process (and every worker) shares one count.

Counting each request with a database write would cost more than the lookup it guards, so each
process **leases** a block of requests from the shared counter (one atomic
``INSERT ... ON CONFLICT DO UPDATE ... RETURNING``) and serves them from memory. The block is about
1 % of the limit (1 when the limit is under 200, so small quotas are counted exactly). The counter
never passes the limit: a lease that would is cut down to what is left, and the excess is given
back in the same transaction. The price is that a block leased near the end of a window and not
used is lost: a client may get slightly fewer requests than its limit, never more. A refused
request is not counted. Windows follow the sandbox clock, so tests advance time instead of sleeping.
"""

from __future__ import annotations

import asyncio
import math
import threading
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from app.db import LoopConnections, close_all, libpq_dsn
from app.models.client import RateWindow

if TYPE_CHECKING:
    import psycopg  # loaded on a PostgreSQL deployment's first lease: SQLite never needs it

WINDOW_SECONDS = 60
MAX_LEASE = 1000


@dataclass(frozen=True, slots=True)
class RateDecision:
    allowed: bool
    limit: int
    granted: int  # requests granted by this charge (0 when refused)
    retry_after: int  # seconds until the window resets (0 when allowed)


def window_of(now: datetime, seconds: int = WINDOW_SECONDS) -> int:
    return int(now.timestamp() // seconds) * seconds


def retry_after(now: datetime, seconds: int = WINDOW_SECONDS) -> int:
    return max(1, math.ceil(window_of(now, seconds) + seconds - now.timestamp()))


def lease_size(limit: int) -> int:
    return max(1, min(MAX_LEASE, limit // 100))


def seconds_left(now: datetime, seconds: int = WINDOW_SECONDS) -> float:
    """How long the window of ``now`` still runs (every request asks: one ``timestamp()``)."""
    at = now.timestamp()
    return seconds - at % seconds


def _relax_durability(session: Session) -> None:
    # A counter lost in a crash costs nothing; not waiting for the WAL flush keeps the quota check
    # cheap on PostgreSQL (SQLite in WAL mode with synchronous=NORMAL does not fsync either).
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SET LOCAL synchronous_commit TO OFF"))


def _add(session: Session, *, client_id: str, window_start: int, amount: int) -> int:
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    statement = (
        dialect.insert(RateWindow)
        .values(client_id=client_id, window_start=window_start, count=amount)
        .on_conflict_do_update(
            index_elements=[RateWindow.client_id, RateWindow.window_start],
            set_={"count": RateWindow.count + amount},
        )
        .returning(RateWindow.count)
    )
    return int(session.execute(statement).scalar_one())


def _give_back(session: Session, *, client_id: str, window_start: int, amount: int) -> None:
    session.execute(
        update(RateWindow)
        .where(RateWindow.client_id == client_id, RateWindow.window_start == window_start)
        .values(count=RateWindow.count - amount)
    )


def _granted(*, used: int, cost: int, limit: int) -> int:
    """Of ``cost`` just added to a window that now counts ``used``, what fits under ``limit``."""
    return min(cost, max(0, limit - (used - cost)))


def charge(session: Session, *, client_id: str, limit: int, now: datetime,
           cost: int = 1, minimum: int | None = None,
           window_seconds: int = WINDOW_SECONDS, window_start: int | None = None) -> RateDecision:
    """Take up to ``cost`` requests from the client's window, at least ``minimum`` (default: all
    of ``cost``), without ever passing ``limit``; refused (nothing taken) below ``minimum``.
    ``client_id`` is any counter's key (``app.services.kit.throttle`` counts failures here too).
    ``window_start``: the window charged, when not the one of ``now`` (a quota's next window,
    leased in the last second of this one). :class:`AsyncPostgresCharges` takes the same steps
    from the event loop."""
    _relax_durability(session)
    current = window_of(now, window_seconds)
    window_start = current if window_start is None else window_start
    used = _add(session, client_id=client_id, window_start=window_start, amount=cost)
    if used == cost:  # first requests of a window: forget the client's stale windows
        session.execute(delete(RateWindow).where(RateWindow.client_id == client_id,
                                                 RateWindow.window_start < current))
    granted = _granted(used=used, cost=cost, limit=limit)
    if granted < cost:
        _give_back(session, client_id=client_id, window_start=window_start, amount=cost - granted)
    if granted < (cost if minimum is None else minimum):
        if granted:
            _give_back(session, client_id=client_id, window_start=window_start, amount=granted)
        return RateDecision(False, limit, 0, retry_after(now, window_seconds))
    return RateDecision(True, limit, granted, 0)


_PG_ADD = ("INSERT INTO rate_window (client_id, window_start, count) VALUES (%s, %s, %s) "
           "ON CONFLICT (client_id, window_start) "
           "DO UPDATE SET count = rate_window.count + EXCLUDED.count RETURNING count")
_PG_FORGET = "DELETE FROM rate_window WHERE client_id = %s AND window_start < %s"
_PG_GIVE_BACK = ("UPDATE rate_window SET count = count - %s "
                 "WHERE client_id = %s AND window_start = %s")


class AsyncPostgresCharges:
    """:func:`charge` from the event loop on PostgreSQL, over psycopg's async connections (the
    same statements in one transaction, ``synchronous_commit`` off), so a quota lease needs no
    worker thread. In a thread, the lease's SQLAlchemy work took the GIL from the busy loop and
    held it up 5-12 ms at each lease (bench/RESULTS.md, "The lookup's tail: stalls"); here the
    loop serves other requests while the statements travel. Connections belong to one event
    loop (tests run several), which closes them when it shuts down
    (:class:`app.db.LoopConnections`); a broken one is closed and replaced on the next charge.
    A loop holds at most :attr:`MAX_CONNECTIONS` (more leases at once wait for one): many
    clients' leases each opening a connection took PostgreSQL's from every other user of the
    database."""

    MAX_CONNECTIONS = 4

    def __init__(self, url: str) -> None:
        self._dsn = libpq_dsn(url)
        # per event loop: its kept connections and the gate of its MAX_CONNECTIONS
        self._loops: dict[asyncio.AbstractEventLoop,
                          tuple[LoopConnections, asyncio.Semaphore]] = {}

    async def _gate(self) -> tuple[list[psycopg.AsyncConnection[Any]], asyncio.Semaphore]:
        loop = asyncio.get_running_loop()
        kept = self._loops.get(loop)
        if kept is None:
            self._forget_closed_loops()
            kept = self._loops[loop] = (LoopConnections(), asyncio.Semaphore(self.MAX_CONNECTIONS))
            await kept[0].start()  # closed with the loop (a test client's loop per request)
        return kept[0].idle, kept[1]

    def _forget_closed_loops(self) -> None:
        """Forget the loops that have ended, closing what they kept: a loop closed without
        shutting its asynchronous generators down (``loop.close()`` alone) left its
        connections open until it was collected."""
        for loop in [loop for loop in self._loops if loop.is_closed()]:
            for connection in self._loops.pop(loop)[0].idle:
                connection.pgconn.finish()  # no loop to close it on: libpq's own close

    async def charge(self, *, client_id: str, limit: int, now: datetime, cost: int = 1,
                     minimum: int | None = None, window_start: int | None = None) -> RateDecision:
        idle, gate = await self._gate()
        async with gate:  # a connection is opened only when all the loop's are in use
            connection = idle.pop() if idle else await self._connect()
            try:
                async with connection.transaction():
                    decision = await _charge_on(connection, client_id=client_id, limit=limit,
                                                now=now, cost=cost, minimum=minimum,
                                                window_start=window_start)
            except BaseException:
                await connection.close()
                raise
            idle.append(connection)
        return decision

    async def row(self, query: str, params: tuple[object, ...]) -> tuple[Any, ...] | None:
        """One row of a read on the same connections (the access check's other database read,
        the client snapshot, ``app.services.storage.runtime.ClientCache.load_async``)."""
        idle, gate = await self._gate()
        async with gate:
            connection = idle.pop() if idle else await self._connect()
            try:
                found = await (await connection.execute(query, params, prepare=True)).fetchone()
            except BaseException:
                await connection.close()
                raise
            idle.append(connection)
        return found

    async def aclose(self) -> None:
        """Close the running loop's kept connections (a later charge opens new ones)."""
        kept = self._loops.get(asyncio.get_running_loop())
        if kept is not None:
            await close_all(kept[0].idle)

    async def _connect(self) -> psycopg.AsyncConnection[Any]:
        import psycopg

        return await psycopg.AsyncConnection.connect(self._dsn, autocommit=True)


async def _charge_on(connection: psycopg.AsyncConnection[Any], *, client_id: str, limit: int,
                     now: datetime, cost: int, minimum: int | None,
                     window_start: int | None = None) -> RateDecision:
    await connection.execute("SET LOCAL synchronous_commit TO OFF")  # see _relax_durability
    current = window_of(now)
    window_start = current if window_start is None else window_start
    cursor = await connection.execute(_PG_ADD, (client_id, window_start, cost), prepare=True)
    used = int((await cursor.fetchone())[0])  # type: ignore[index]
    if used == cost:
        await connection.execute(_PG_FORGET, (client_id, current))
    granted = _granted(used=used, cost=cost, limit=limit)
    if granted < cost:
        await connection.execute(_PG_GIVE_BACK, (cost - granted, client_id, window_start))
    if granted < (cost if minimum is None else minimum):
        if granted:
            await connection.execute(_PG_GIVE_BACK, (granted, client_id, window_start))
        return RateDecision(False, limit, 0, retry_after(now))
    return RateDecision(True, limit, granted, 0)


class QuotaLeases:
    """The requests this process has leased and not used yet, per client and window; and the
    block of a client's next window leased in the last second of this one (:meth:`add_next`),
    served from once that window has begun."""

    def __init__(self) -> None:
        self._left: dict[str, tuple[int, int]] = {}  # client_id -> (window_start, requests left)
        self._next: dict[str, tuple[int, int]] = {}  # client_id -> (a later window, requests)
        self._lock = threading.Lock()

    def take(self, client_id: str, *, now: datetime) -> bool:
        """Use one leased request, if this process holds one for the current window."""
        window_start = window_of(now)
        with self._lock:
            window, left = self._left.get(client_id, (window_start, 0))
            if window != window_start or left <= 0:
                later = self._next.get(client_id)
                if later is None or later[0] != window_start:
                    return False
                # the window has turned: its first block was leased before it began
                del self._next[client_id]
                window, left = window_start, later[1] + (left if window == window_start else 0)
                if left <= 0:
                    return False
            self._left[client_id] = (window, left - 1)
            return True

    def holds_next(self, client_id: str, *, window_start: int) -> bool:
        """Whether the block of the window starting at ``window_start`` is already leased."""
        later = self._next.get(client_id)  # one read of a tuple: no lock
        return later is not None and later[0] == window_start

    def add_next(self, client_id: str, *, now: datetime, window_start: int,
                 requests: int) -> None:
        """Keep ``requests`` leased for the later window starting at ``window_start``. If that
        window has begun meanwhile (the lease took that long), they join its block; a window
        already over (the sandbox clock moved on) is dropped: its requests were counted there."""
        current = window_of(now)
        with self._lock:
            if window_start > current:
                later = self._next.get(client_id)
                held = later[1] if later is not None and later[0] == window_start else 0
                self._next[client_id] = (window_start, requests + held)
                return
        if window_start == current:
            self.add(client_id, now=now, requests=requests, ahead=True)

    def left(self, client_id: str, *, now: datetime) -> int:
        """The requests this process holds for the client in the current window."""
        found = self._left.get(client_id)  # one read of a tuple: no lock
        return found[1] if found is not None and found[0] == window_of(now) else 0

    def add(self, client_id: str, *, now: datetime, requests: int, ahead: bool = False) -> None:
        """Keep ``requests`` leased at ``now``. A lease ahead of a window already over (leased
        in the background as the window turned, while a request leased the new one) is dropped:
        it replaced the new window's block, whose requests, already counted, were then lost. A
        request's own lease always lands: the sandbox clock may have been set back, and a block
        kept for a later window would then refuse every lease for ever (429s)."""
        window_start = window_of(now)
        with self._lock:
            window, left = self._left.get(client_id, (window_start, 0))
            if ahead and window > window_start:
                return
            unused = left if window == window_start else 0
            self._left[client_id] = (window_start, requests + unused)

    def forget(self, client_id: str) -> None:
        with self._lock:
            self._left.pop(client_id, None)
            self._next.pop(client_id, None)

