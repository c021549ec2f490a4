"""OpenID Connect Back-Channel Logout 1.0: telling relying parties that a login session ended.

* **Who is told.** When a login session ends (RP-initiated logout at ``/oauth2/logout``, the
  citizen or an administrator ending it, or the account becoming unusable: locked on any ground,
  closed), every active client with a ``backchannel_logout_uri`` that received tokens in
  that session (an access token recorded with the session's ``sid``) gets one logout token (§2.4:
  ``iss``, ``aud``, ``iat``, ``exp``, ``jti``, ``events``, the client's pairwise ``sub`` and the
  ``sid``, never a ``nonce``; header ``typ`` ``logout+jwt``), signed with the key the client's ID
  tokens are signed with.
* **How.** ``POST`` of ``logout_token=...`` as ``application/x-www-form-urlencoded`` (§2.5) under
  the webhooks' address rules (:mod:`app.services.sharing.outbound`: the host resolved and every
  address checked at each request, loopback only where the deployment allows it, never the service
  itself, no redirects, no proxies), each delivery bounded by :data:`DELIVERY_DEADLINE_SECONDS`,
  the deliveries of one logout made concurrently. They run on the application's
  :class:`Dispatcher`, outside the request: the answer is sent (and the request's duration
  measured) without waiting for them; a failed delivery never fails the logout.
* **What is recorded.** One ``oidc_backchannel_delivery`` row per delivery: the receiver's status
  code, or one fixed error text (which never names the address).
* **Refresh tokens** of the session issued without ``offline_access`` are revoked (§2.7). This
  provider issues refresh tokens only with ``offline_access``, which outlive the session by design
  (OIDC Core §11), so they are kept.
"""

from __future__ import annotations

import logging
import secrets
import threading
from collections.abc import Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_futures
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
from app.services.kit.keys import KeyStore
from app.services.sharing import outbound
from app.services.vneid import accounts, revocation
from app.services.vneid.provider import subject, view_of
from app.settings import Settings

if TYPE_CHECKING:
    from app.db import Database

log = logging.getLogger("dancu.oidc.backchannel")
DELIVERY_DEADLINE_SECONDS = 2.0
MAX_CONCURRENT = 8
DISPATCH_THREADS = 2  # logouts delivered at once (each sends its notices concurrently)
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
            if account is None or client is None or client.status != "active" or \
                    not client.backchannel_logout_uri:
                continue
            key = keys.ring().signing_key(client.signing_alg, now=now)
            token = issue_logout_token(
                client_id=client_id,
                subject=subject(pin or account.pin, view_of(client), settings),
                session_id=sid, key=key, issuer=settings.issuer_url, now=now)
            notices.append(Notice(client_id, sid, client.backchannel_logout_uri, token))
    return notices


def end_sessions(session: Session, account_id: int, session_ids: Iterable[str] | None = None,
                 *, keys: KeyStore, settings: Settings, now: datetime,
                 pin: str | None = None) -> list[Notice]:
    """End the live sessions of the account (all of them, or those of ``session_ids``) and return
    the logout tokens owed. ``pin``: the number the relying parties know the citizen by, when the
    account's has changed since (a re-established PIN)."""
    query = select(BrowserSession.id).where(
        BrowserSession.account_id == account_id, BrowserSession.ended_at.is_(None),
        BrowserSession.expires_at > now)
    if session_ids is not None:
        query = query.where(BrowserSession.id.in_(list(session_ids)))
    ended = list(session.scalars(query))
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
    notices: list[Notice] = []
    for account_id, (pin, now) in accounts.take_unusable(session).items():
        notices += end_account_sessions(session, account_id, keys=keys, settings=settings,
                                        now=now, pin=pin)
    return notices


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


def send_all(notices: list[Notice], settings: Settings) -> list[Outcome]:
    """POST every logout token, concurrently; never raises."""
    if not notices:
        return []
    with ThreadPoolExecutor(max_workers=min(MAX_CONCURRENT, len(notices)),
                            thread_name_prefix="dancu-logout") as pool:
        return list(pool.map(lambda notice: _send(notice, settings), notices))


def record(session: Session, outcomes: Iterable[Outcome], *, now: datetime) -> None:
    for outcome in outcomes:
        session.add(BackchannelDelivery(
            id=secrets.token_hex(16), client_id=outcome.notice.client_id,
            session_id=outcome.notice.session_id, status_code=outcome.status_code,
            error=outcome.error, attempted_at=now))
        log.info("back-channel logout to client %s: %s", outcome.notice.client_id,
                 outcome.status_code if outcome.status_code is not None else outcome.error)
    session.flush()


def deliver(database: Database, notices: list[Notice], *, settings: Settings,
            now: datetime) -> None:
    """Send the notices and record the outcomes in their own transaction (run by a
    :class:`Dispatcher`, after the answer has been sent)."""
    if not notices:
        return
    outcomes = send_all(notices, settings)
    try:
        with database.write() as session:
            record(session, outcomes, now=now)
    except Exception:  # the logout has happened; a lost record must not turn into an error
        log.exception("back-channel logout outcomes not recorded")


class Dispatcher:
    """Runs deliveries on its own threads, outside any request: the request that ended the
    sessions is answered (and its access line written, its duration measured) without waiting
    for them. One per application (:func:`dispatcher`); closed, waiting for what is under way,
    when the application shuts down."""

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._pool: ThreadPoolExecutor | None = None
        self._pending: set[Future[None]] = set()

    def submit(self, database: Database, notices: list[Notice], *, settings: Settings,
               now: datetime) -> None:
        if not notices:
            return
        with self._guard:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(max_workers=DISPATCH_THREADS,
                                                thread_name_prefix="dancu-logout-dispatch")
            future = self._pool.submit(deliver, database, notices, settings=settings, now=now)
            self._pending.add(future)
        future.add_done_callback(self._done)

    def _done(self, future: Future[None]) -> None:
        with self._guard:
            self._pending.discard(future)

    def wait(self, timeout: float = 30.0) -> bool:
        """Wait until every delivery submitted so far has been sent and recorded (tests, and the
        shutdown); ``False`` if some were still running after ``timeout`` seconds."""
        with self._guard:
            pending = set(self._pending)
        return not wait_futures(pending, timeout=timeout).not_done

    def close(self) -> None:
        """Finish what is under way, then stop the threads (a later submit starts them again)."""
        with self._guard:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True)


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
