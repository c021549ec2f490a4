"""OpenID Connect Back-Channel Logout 1.0: telling relying parties that a login session ended.

* **Who is told.** When a login session ends (RP-initiated logout at ``/oauth2/logout``, the
  citizen or an administrator ending it, or the account becoming unusable: locked on any ground,
  closed -- through a route's write session, or :class:`Logouts` for the command line, the
  event simulation and the start-up), every active client (not disabled, nor an open
  registration past its end) with a ``backchannel_logout_uri``
  that received tokens in that session (an access token recorded with the session's ``sid``)
  gets one logout token (§2.4: ``iss``, ``aud``, ``iat``, ``exp``, ``jti``, ``events``, the
  client's pairwise ``sub`` and the ``sid``, never a ``nonce``; header ``typ`` ``logout+jwt``),
  signed with the key the client's ID tokens are signed with.
* **How.** ``POST`` of ``logout_token=...`` as ``application/x-www-form-urlencoded`` (§2.5) under
  the webhooks' address rules (:mod:`app.services.sharing.outbound`: the host resolved and every
  address checked at each request, loopback only where the deployment allows it, never the service
  itself, no redirects, no proxies), each delivery bounded by :data:`DELIVERY_DEADLINE_SECONDS`.
  They run on the application's :class:`Dispatcher`, outside the request: the answer is sent
  (and the request's duration measured) without waiting for them; a failed delivery never fails
  the logout. The dispatcher serves the clients in turns from a bounded queue each, and its
  ``close`` (shutdown; a tenant reset, deleted or evicted) waits a bounded time.
* **What is recorded.** One ``oidc_backchannel_delivery`` row per delivery: the receiver's status
  code, or one fixed error text (which never names the address): failed, refused, dropped (the
  client's queue full), not made (the application stopped first).
* **Refresh tokens** of the session issued without ``offline_access`` are revoked (§2.7). This
  provider issues refresh tokens only with ``offline_access``, which outlive the session by design
  (OIDC Core §11), so they are kept.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections import deque
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from app.models.account import Account
from app.models.client import Client
from app.models.oidc import BackchannelDelivery, BrowserSession, IssuedAccessToken, RefreshToken
from app.oidc.claims import OFFLINE_ACCESS
from app.oidc.tokens import issue_logout_token
from app.services.kit import secret
from app.services.kit.keys import KeyStore
from app.services.sharing import outbound
from app.services.vneid import accounts, registration, revocation
from app.services.vneid.provider import subject, view_of
from app.settings import Settings

if TYPE_CHECKING:
    from app.db import Database

log = logging.getLogger("dancu.oidc.backchannel")
DELIVERY_DEADLINE_SECONDS = 2.0
DISPATCH_THREADS = 4  # deliveries under way at once, never two for one client
MAX_QUEUED_PER_CLIENT = 64  # deliveries waiting per client; beyond, recorded as dropped
STOP_PATIENCE_SECONDS = 5.0  # the application's shutdown: the queue's last chance to be sent
DROPPED_QUEUE_FULL = "delivery dropped: too many logouts already queued for this client"
NOT_MADE_STOPPED = "delivery not made: the service stopped first"
NO_ACCEPTABLE_RESPONSE = "delivery failed: no acceptable HTTP response"
ADDRESS_REFUSED = "delivery refused: address not allowed"


@dataclass(frozen=True)
class Notice:
    """One logout token to POST to one client's ``backchannel_logout_uri``."""

    client_id: str
    session_id: str
    url: str
    logout_token: str


def _clients_in_session(session: Session, row: BrowserSession) -> list[str]:
    # The index on (account_id, client_id) narrows the scan to the citizen's tokens.
    return sorted(set(session.scalars(
        select(IssuedAccessToken.client_id).where(
            IssuedAccessToken.account_id == row.account_id,
            IssuedAccessToken.session_id == row.id))))


def _revoke_session_refresh_tokens(session: Session, row: BrowserSession, now: datetime) -> None:
    """§2.7: refresh tokens of the session without ``offline_access`` end with it."""
    families = {family for family, scope in session.execute(
        select(RefreshToken.family_id, RefreshToken.scope).where(
            RefreshToken.account_id == row.account_id, RefreshToken.session_id == row.id,
            RefreshToken.revoked_at.is_(None)))
        if OFFLINE_ACCESS not in (scope or [])}
    for family in sorted(families):
        revocation.revoke_family(session, family, now=now)


def session_ended(session: Session, session_ids: Iterable[str], *, keys: KeyStore,
                  settings: Settings, now: datetime, pin: str | None = None) -> list[Notice]:
    """The logout tokens owed for the sessions that just ended (call after ending them)."""
    notices: list[Notice] = []
    for sid in dict.fromkeys(session_ids):
        row = session.get(BrowserSession, sid)
        if row is None:
            continue
        _revoke_session_refresh_tokens(session, row, now)
        account = session.get(Account, row.account_id)
        for client_id in _clients_in_session(session, row):
            client = session.get(Client, client_id)
            # A disabled client, or an open registration past its end (refused as a disabled
            # one is: it can no longer authenticate), is told nothing.
            if account is None or client is None or client.status != "active" or \
                    registration.expired(client, now=now) or not client.backchannel_logout_uri:
                continue
            key = keys.ring().signing_key(client.signing_alg, now=now)
            token = issue_logout_token(
                client_id=client_id,
                subject=subject(pin or account.pin, view_of(client), settings),
                session_id=sid, key=key, issuer=settings.issuer_url, now=now)
            notices.append(Notice(client_id, sid, client.backchannel_logout_uri, token))
    return notices


def live_session_ids(session: Session, account_id: int,
                     session_ids: Iterable[str] | None = None, *, now: datetime) -> list[str]:
    """The ids of the account's live sessions (all of them, or those of ``session_ids``), in
    order."""
    query = select(BrowserSession.id).where(
        BrowserSession.account_id == account_id, BrowserSession.ended_at.is_(None),
        BrowserSession.expires_at > now)
    if session_ids is not None:
        query = query.where(BrowserSession.id.in_(list(session_ids)))
    return list(session.scalars(query.order_by(BrowserSession.id)))


def end_sessions(session: Session, account_id: int, session_ids: Iterable[str] | None = None,
                 *, keys: KeyStore, settings: Settings, now: datetime,
                 pin: str | None = None) -> list[Notice]:
    """End the live sessions of the account (all of them, or those of ``session_ids``) and return
    the logout tokens owed. ``pin``: the number the relying parties know the citizen by, when the
    account's has changed since (a re-established PIN)."""
    ended = live_session_ids(session, account_id, session_ids, now=now)
    if ended:
        session.execute(update(BrowserSession).where(BrowserSession.id.in_(ended))
                        .values(ended_at=now))
    return session_ended(session, ended, keys=keys, settings=settings, now=now, pin=pin)


def end_account_sessions(session: Session, account_id: int, *, keys: KeyStore,
                         settings: Settings, now: datetime,
                         pin: str | None = None) -> list[Notice]:
    """End every live session of the account (it was locked) and return the logout tokens owed."""
    return end_sessions(session, account_id, keys=keys, settings=settings, now=now, pin=pin)


def end_unusable_accounts(session: Session, *, keys: KeyStore,
                          settings: Settings) -> list[Notice]:
    """End the sessions of every account that became unusable in this transaction (locked on any
    ground -- an administrator, a card revoked or held, a re-established PIN -- or closed, as at a
    death: :func:`app.services.vneid.accounts.unusable_in`) and return the logout tokens owed.
    Call before the transaction commits."""
    return _end_noted(session, accounts.take_unusable(session), keys=keys, settings=settings)


def _end_noted(session: Session, noted: dict[int, tuple[str, datetime]], *, keys: KeyStore,
               settings: Settings) -> list[Notice]:
    notices: list[Notice] = []
    for account_id, (pin, now) in noted.items():
        notices += end_account_sessions(session, account_id, keys=keys, settings=settings,
                                        now=now, pin=pin)
    return notices


@dataclass(frozen=True)
class Logouts:
    """What ending the login sessions of accounts made unusable needs outside a route (the command
    line, the life-event simulation, the start-up's personas): the keys that sign the logout
    tokens, the settings carrying the deployment secret, and the dispatcher that sends them (the
    application's, or one of the command's own, closed when it is done). A route's write session
    does the same through its hook (:func:`app.dependencies.get_write_session`)."""

    keys: KeyStore
    settings: Settings
    dispatcher: Dispatcher

    @contextmanager
    def write(self, database: Database) -> Iterator[Session]:
        """``database.write()`` that, before it commits, ends the sessions of the accounts the
        work made unusable (:func:`end_unusable_accounts`) and, once committed, hands their
        logout tokens to the dispatcher (nothing is sent if it rolls back)."""
        with database.write() as session:
            yield session
            noted = accounts.take_unusable(session)
            notices = _end_noted(session, noted, keys=self.keys, settings=self.settings)
        if notices:
            self.dispatcher.submit(database, notices, settings=self.settings,
                                   now=max(at for _, at in noted.values()))


@contextmanager
def own_logouts(database: Database, settings: Settings, *, now: datetime) -> Iterator[Logouts]:
    """:class:`Logouts` for work outside the server (a command): the deployment secret resolved
    (the pairwise subjects derive from it), the stored keys, a dispatcher of its own, closed when
    the work is done -- the logout tokens queued then are sent for at most
    :data:`STOP_PATIENCE_SECONDS`, and recorded."""
    made = Logouts(KeyStore(database), secret.resolved(database, settings, now=now), Dispatcher())
    try:
        yield made
    finally:
        made.dispatcher.close()


@dataclass(frozen=True)
class Outcome:
    notice: Notice
    status_code: int | None
    error: str | None


def _send(notice: Notice, settings: Settings) -> Outcome:
    try:
        status = outbound.post_form(notice.url, {"logout_token": notice.logout_token},
                                    settings=settings, deadline=DELIVERY_DEADLINE_SECONDS)
    except outbound.OutboundRefused as refused:
        error = ADDRESS_REFUSED if str(refused) == "address not allowed" else \
            NO_ACCEPTABLE_RESPONSE
        return Outcome(notice, None, error)
    except Exception:  # whatever the network or the receiver did: one message
        return Outcome(notice, None, NO_ACCEPTABLE_RESPONSE)
    return Outcome(notice, status, None)


def record(session: Session, outcomes: Iterable[Outcome], *, now: datetime) -> None:
    for outcome in outcomes:
        session.add(BackchannelDelivery(
            id=secrets.token_hex(16), client_id=outcome.notice.client_id,
            session_id=outcome.notice.session_id, status_code=outcome.status_code,
            error=outcome.error, attempted_at=now))
        log.info("back-channel logout to client %s: %s", outcome.notice.client_id,
                 outcome.status_code if outcome.status_code is not None else outcome.error)
    session.flush()


def _record_outcomes(database: Database, outcomes: list[Outcome], *, now: datetime) -> None:
    """Record outcomes in their own transaction; never raises (the logout has happened, and a
    tenant's database may have been dropped meanwhile: its file is never recreated,
    :meth:`app.db.Database.connect` ``existing``)."""
    if not outcomes:
        return
    try:
        with database.write() as session:
            record(session, outcomes, now=now)
    except Exception:  # a lost record must not turn into an error
        log.exception("back-channel logout outcomes not recorded")


@dataclass(frozen=True)
class _Job:
    database: Database
    notice: Notice
    settings: Settings
    now: datetime


class Dispatcher:
    """Runs deliveries on its own threads, outside any request: the request that ended the
    sessions is answered (and its access line written, its duration measured) without waiting
    for them. One per application (:func:`dispatcher`: the deployment's, each tenant app's).

    **Fair.** Each client has its own queue, and the clients with deliveries waiting are served
    in turns, one delivery at a time: a client never has two deliveries under way, so a slow
    receiver holds at most one of the :data:`DISPATCH_THREADS` threads (each delivery at most
    :data:`DELIVERY_DEADLINE_SECONDS`) while the other clients' deliveries go on.

    **Bounded.** At most :data:`MAX_QUEUED_PER_CLIENT` deliveries wait per client; one beyond
    is not queued but recorded at once with :data:`DROPPED_QUEUE_FULL`. :meth:`close` waits a
    bounded time; what it could not send is recorded with :data:`NOT_MADE_STOPPED`. Nothing is
    lost unrecorded."""

    def __init__(self, *, threads: int = DISPATCH_THREADS,
                 per_client: int = MAX_QUEUED_PER_CLIENT) -> None:
        self._threads_wanted, self._per_client = threads, per_client
        self._cond = threading.Condition()
        self._queues: dict[str, deque[_Job]] = {}
        self._turns: deque[str] = deque()  # clients with a queue and nothing under way, in turn
        self._busy: set[str] = set()  # clients with a delivery under way
        self._unrecorded: list[tuple[_Job, str]] = []  # dropped: for a thread to record
        self._outstanding = 0  # queued + under way + dropped not yet recorded
        self._threads: list[threading.Thread] = []
        self._closed = False
        self._recording = threading.Lock()
        self._abandoned = False  # close() has returned: outcomes are logged, not recorded

    def submit(self, database: Database, notices: list[Notice], *, settings: Settings,
               now: datetime) -> None:
        if not notices:
            return
        with self._cond:
            if self._closed:  # the application (or tenant) has stopped: its database with it
                for notice in notices:
                    log.warning("back-channel logout to client %s not made: %s",
                                notice.client_id, NOT_MADE_STOPPED)
                return
            for notice in notices:
                job = _Job(database, notice, settings, now)
                self._outstanding += 1
                queue = self._queues.setdefault(notice.client_id, deque())
                if len(queue) >= self._per_client:
                    self._unrecorded.append((job, DROPPED_QUEUE_FULL))
                    continue
                queue.append(job)
                if len(queue) == 1 and notice.client_id not in self._busy:
                    self._turns.append(notice.client_id)
            self._threads = [thread for thread in self._threads if thread.is_alive()]
            while len(self._threads) < self._threads_wanted:
                thread = threading.Thread(target=self._serve, daemon=True,
                                          name="dancu-logout-dispatch")
                thread.start()
                self._threads.append(thread)
            self._cond.notify_all()

    def _serve(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._unrecorded or self._turns or self._closed)
                dropped, self._unrecorded = self._unrecorded, []
                job: _Job | None = None
                if not dropped:
                    if not self._turns:  # closed, and nothing left to do
                        return
                    client = self._turns.popleft()
                    job = self._queues[client].popleft()
                    self._busy.add(client)
            if dropped:
                self._record_not_made(dropped)
                continue
            assert job is not None
            outcome = _send(job.notice, job.settings)
            self._record(job.database, [outcome], now=job.now)
            with self._cond:
                self._busy.discard(client)
                if self._queues.get(client):
                    self._turns.append(client)
                else:
                    self._queues.pop(client, None)
                self._outstanding -= 1
                self._cond.notify_all()

    def _record_not_made(self, jobs: list[tuple[_Job, str]]) -> None:
        by_database: dict[int, list[tuple[_Job, str]]] = {}
        for entry in jobs:
            by_database.setdefault(id(entry[0].database), []).append(entry)
        for entries in by_database.values():
            self._record(entries[0][0].database,
                             [Outcome(job.notice, None, reason) for job, reason in entries],
                             now=entries[0][0].now)
        with self._cond:
            self._outstanding -= len(jobs)
            self._cond.notify_all()

    def _record(self, database: Database, outcomes: list[Outcome], *, now: datetime) -> None:
        """Record, unless :meth:`close` has given up on the deliveries under way: its caller may
        then drop or replace the database (a tenant deleted or reset), and an outcome written
        afterwards through this ``database`` would land in its successor's file. Such an
        outcome is logged instead."""
        with self._recording:
            if not self._abandoned:
                _record_outcomes(database, outcomes, now=now)
                return
        for outcome in outcomes:
            log.warning("back-channel logout to client %s: %s (not recorded: ended after its "
                        "application stopped)", outcome.notice.client_id,
                        outcome.status_code if outcome.status_code is not None else outcome.error)

    def wait(self, timeout: float = 30.0) -> bool:
        """Wait until every delivery submitted so far has been sent (or dropped) and recorded
        (tests, and :meth:`close`); ``False`` if some were still outstanding after ``timeout``
        seconds."""
        with self._cond:
            return self._cond.wait_for(lambda: self._outstanding == 0, timeout=timeout)

    def close(self, patience: float = STOP_PATIENCE_SECONDS) -> bool:
        """Stop: take no more deliveries, let the queued ones go on for at most ``patience``
        seconds (0: none), record those still queued then as not made (:data:`NOT_MADE_STOPPED`),
        and wait at most one delivery's deadline more for those under way, which the threads
        record before they end. ``True`` if everything was sent or recorded in time. Never
        longer than ``patience`` + :data:`DELIVERY_DEADLINE_SECONDS` + 1 s, whatever is queued.
        Final: a later :meth:`submit` is logged as not made."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
            if patience > 0:
                self._cond.wait_for(lambda: self._outstanding == 0, timeout=patience)
            stopped = [job for queue in self._queues.values() for job in queue]
            for client in list(self._queues):
                if client not in self._busy:
                    del self._queues[client]
                else:
                    self._queues[client].clear()
            self._turns.clear()
        if stopped:
            self._record_not_made([(job, NOT_MADE_STOPPED) for job in stopped])
        done = self.wait(timeout=DELIVERY_DEADLINE_SECONDS + 1.0)
        with self._recording:  # once no write is under way; none after
            self._abandoned = True
        for thread in list(self._threads):
            thread.join(timeout=0.1)
        return done

    @property
    def closed(self) -> bool:
        return self._closed

    def join(self, timeout: float = 30.0) -> bool:
        """Wait until the threads have ended (after :meth:`close`); ``False`` if some still ran
        after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        for thread in list(self._threads):
            thread.join(max(0.0, deadline - time.monotonic()))
        return self.threads_alive() == 0

    def threads_alive(self) -> int:
        """The dispatcher's threads still running (tests: none after :meth:`close`)."""
        return sum(thread.is_alive() for thread in self._threads)


def dispatcher(app: Any) -> Dispatcher:
    """The application's dispatcher (made at first use)."""
    found: Dispatcher | None = getattr(app.state, "logout_dispatcher", None)
    if found is None:
        with _MAKING:
            found = getattr(app.state, "logout_dispatcher", None)
            if found is None:
                found = app.state.logout_dispatcher = Dispatcher()
    return found


_MAKING = threading.Lock()
