"""Per-process state of the data-sharing API: caches in front of the database and the audit writer.

Everything here is a cache or a queue: the database stays the single source of truth shared by all
processes. What a cache may delay, and by how much, is stated on each one.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, TypeVar

import anyio
import anyio.to_thread
from sqlalchemy.orm import Session

from app.db import Database
from app.models.client import Client
from app.oidc.jwt_policy import DEFAULT_LEEWAY
from app.oidc.tokens import AccessTokenClaims
from app.services.kit.keys import KeyStore
from app.services.kit.rate_limit import AsyncPostgresCharges, QuotaLeases

CLIENT_CACHE_SECONDS = 2.0
MAX_CACHED_TOKENS = 10_000


@dataclass(frozen=True, slots=True)
class ClientSnapshot:
    """What the access check needs of a client, as last read from the database."""

    client_id: str
    active: bool
    scopes: frozenset[str]
    purposes: tuple[str, ...]
    sandbox: bool
    rate_limit: int
    data_basis: str = "statutory_task"  # or "consent" (docs/life-events.md)
    require_dpop_nonce: bool = False  # RFC 9449 §9: its DPoP proofs carry the server nonce
    security_profile: str | None = None  # "fapi2": FAPI 2.0's proof algorithms

    @classmethod
    def of(cls, client: Client) -> ClientSnapshot:
        return cls(client.client_id, client.status == "active", frozenset(client.scopes),
                   tuple(client.purposes), client.sandbox, client.rate_limit, client.data_basis,
                   client.require_dpop_nonce, client.security_profile)


_PG_CLIENT = ("SELECT client_id, status, scopes, purposes, sandbox, rate_limit, data_basis, "
              "require_dpop_nonce, security_profile FROM client WHERE client_id = %s")


class ClientCache:
    """Clients read at most :data:`CLIENT_CACHE_SECONDS` ago. A change made through this process
    (admin API) invalidates at once; one made elsewhere (another worker, the CLI) is seen within
    that delay."""

    def __init__(self) -> None:
        self._entries: dict[str, tuple[float, ClientSnapshot | None]] = {}
        self._lock = threading.Lock()

    def get(self, client_id: str) -> ClientSnapshot | None | bool:
        """The snapshot, ``None`` for a client known not to exist, ``False`` when not cached."""
        entry = self._entries.get(client_id)
        if entry is None or time.monotonic() - entry[0] > CLIENT_CACHE_SECONDS:
            return False
        return entry[1]

    def load(self, session: Session, client_id: str) -> ClientSnapshot | None:
        client = session.get(Client, client_id)
        return self._remember(client_id, ClientSnapshot.of(client) if client is not None else None)

    async def load_async(self, connections: AsyncPostgresCharges,
                         client_id: str) -> ClientSnapshot | None:
        """:meth:`load` from the event loop on PostgreSQL: in a worker thread, the ORM's read
        took the GIL from the busy loop every two seconds, as the quota leases did."""
        found = await connections.row(_PG_CLIENT, (client_id,))
        return self._remember(client_id, ClientSnapshot(
            found[0], found[1] == "active", frozenset(found[2]), tuple(found[3]), *found[4:])
            if found is not None else None)

    def _remember(self, client_id: str, snapshot: ClientSnapshot | None) -> ClientSnapshot | None:
        with self._lock:
            if len(self._entries) > MAX_CACHED_TOKENS:
                self._entries.clear()
            self._entries[client_id] = (time.monotonic(), snapshot)
        return snapshot

    def forget(self, client_id: str) -> None:
        with self._lock:
            self._entries.pop(client_id, None)


class TokenCache:
    """Access tokens whose signature and claims were verified, until they expire: a JWS is
    immutable, so verifying it again only repeats the same answer. Expiry is still checked on
    every use, against the sandbox clock."""

    def __init__(self) -> None:
        self._entries: dict[str, AccessTokenClaims] = {}
        self._lock = threading.Lock()

    def get(self, token: str, *, now: datetime) -> AccessTokenClaims | None:
        claims = self._entries.get(token)
        if claims is None or now >= claims.expires_at + DEFAULT_LEEWAY:
            return None
        return claims

    def put(self, token: str, claims: AccessTokenClaims) -> None:
        with self._lock:
            if len(self._entries) >= MAX_CACHED_TOKENS:
                self._entries.clear()
            self._entries[token] = claims


# Worker threads that may use the database at once: Python work is serialised by the GIL anyway,
# and staying within the connection pool (5 + 10 overflow) avoids opening and closing connections
# under load.
DATABASE_THREADS = 8
T = TypeVar("T")


class AuditSink(Protocol):
    """Where requests append their audit entries (``app.services.sharing.audit_writer``)."""

    async def append(self, entries: Any, *, now: datetime) -> None: ...

    async def aclose(self) -> None: ...  # the application shuts down (on the serving loop)


class Runtime:
    """One process's state for one database. The audit writer and the citizen readers belong to
    their domains (sharing, population); whoever builds the runtime plugs them in
    (:func:`app.security.runtime`), so this layer depends on neither."""

    audit: AuditSink
    citizens: Any  # app.services.population.reading.citizen_reader(database)
    citizens_async: Any  # app.services.population.reading.AsyncPostgresCitizens, or None

    def __init__(self, database: Database) -> None:
        self.database = database
        self.threads = anyio.CapacityLimiter(DATABASE_THREADS)
        self.keys = KeyStore(database)
        self.tokens = TokenCache()
        self.clients = ClientCache()
        self.quotas = QuotaLeases()
        # quota leases from the event loop on PostgreSQL (on SQLite: app.security's _lease_now)
        self.charges = None if database.is_sqlite else AsyncPostgresCharges(database.url)
        self.write_turn = asyncio.Lock()  # one writing unit at a time (app.services.storage.units)

    async def run_in_thread(self, work: Callable[[], T]) -> T:
        return await anyio.to_thread.run_sync(work, limiter=self.threads)

    async def run_blocking(self, work: Callable[[], T]) -> T:
        """Run database work from async code: in a worker thread for PostgreSQL (the thread waits
        on the network while the event loop serves other requests); inline for SQLite, whose calls
        are in-process and shorter than a thread hand-off, and where a second thread only adds GIL
        contention."""
        if self.database.is_sqlite:
            return work()
        return await anyio.to_thread.run_sync(work, limiter=self.threads)

    def client_changed(self, client_id: str) -> None:
        """Forget what this process cached about a client (after an admin change)."""
        self.clients.forget(client_id)
        self.quotas.forget(client_id)
