"""Browser sessions at the provider (single sign-on) and login interactions, both in the database.

Two cookies, both HttpOnly and SameSite=Lax (Secure when the issuer is https):

* ``dancu_browser`` -- a random value naming the browser. A login interaction answers only to the
  browser that started it, and its forms carry a CSRF token derived from the interaction and this
  value (so another site can neither forge nor read it).
* ``dancu_session`` -- the login session. Only its SHA-256 is stored; the row's public ``id`` is
  the ``sid`` of tokens.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import asdict
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from sqlalchemy import delete, insert, select, update
from sqlalchemy.orm import Session

from app.models.account import Account
from app.models.oidc import AuthorizationCode, BrowserSession, LoginInteraction
from app.oidc import claims_request
from app.oidc.authorize import AuthorizationRequest
from app.oidc.codes import REFRESH_FAMILY_LIFETIME, new_opaque_value, opaque_hash
from app.oidc.interaction import SessionView
from app.prepared import Prepared
from app.services.kit.keys import aware
from app.services.vneid.credentials import AccountRef
from app.services.vneid.provider import INTERACTION_TTL, SESSION_TTL

BROWSER_COOKIE = "dancu_browser"
SESSION_COOKIE = "dancu_session"
LOGIN, OTP, CONSENT, DONE = "login", "otp", "consent", "done"
_INSERT = Prepared(insert(BrowserSession.__table__))


# --- sessions -------------------------------------------------------------------------------------


class Started(NamedTuple):
    """A login session just stored: the values of its row (not an ORM object, whose
    construction had cost ~1.5 % of a login flow's CPU; nothing changes it after the insert)."""

    id: str
    account_id: int
    auth_time: datetime
    amr: list[str]
    level: int


def start(session: Session, account: Account | AccountRef, *, amr: tuple[str, ...],
          now: datetime) -> tuple[Started, str]:
    """A new login session for ``account``; returns it and the cookie value (shown once)."""
    sweep_now_and_then(session, now=now)
    cookie = new_opaque_value()
    started = Started(id=new_opaque_value(), account_id=account.id, auth_time=now, amr=list(amr),
                      level=account.level)
    _INSERT.run(session.connection(), {  # no unit-of-work flush (hot path)
        "id": started.id, "cookie_hash": opaque_hash(cookie), "account_id": account.id,
        "auth_time": now, "amr": started.amr, "level": account.level, "created_at": now,
        "expires_at": now + SESSION_TTL})
    return started, cookie


def current(session: Session, cookie: str | None, *, now: datetime) -> BrowserSession | None:
    """The live session the cookie names, if any."""
    if not cookie:
        return None
    row = session.scalar(select(BrowserSession).where(
        BrowserSession.cookie_hash == opaque_hash(cookie)))
    if row is None or row.ended_at is not None or now >= (aware(row.expires_at) or now):
        return None
    return row


def end(session: Session, row: BrowserSession, *, now: datetime) -> None:
    if row.ended_at is None:
        row.ended_at = now
        session.flush()


def end_by_id(session: Session, sid: str, *, now: datetime) -> bool:
    """End the session if it was live; ``True`` when it was."""
    result = session.execute(update(BrowserSession)
                             .where(BrowserSession.id == sid, BrowserSession.ended_at.is_(None))
                             .values(ended_at=now))
    return bool(getattr(result, "rowcount", 0))


def view(row: BrowserSession | Started) -> SessionView:
    return SessionView(subject=str(row.account_id), auth_time=aware(row.auth_time) or row.auth_time,
                       level=row.level)


# --- interactions ---------------------------------------------------------------------------------


def request_to_json(request: AuthorizationRequest) -> dict[str, Any]:
    data = asdict(request)
    data.update(scope=list(request.scope), prompt=sorted(request.prompt),
                acr_values=list(request.acr_values), received_at=request.received_at.isoformat(),
                claims=request.claims.to_json() if request.claims else None)
    return data


def request_from_json(data: dict[str, Any]) -> AuthorizationRequest:
    return AuthorizationRequest(**{**data, "scope": tuple(data["scope"]),
                                   "prompt": frozenset(data["prompt"]),
                                   "acr_values": tuple(data["acr_values"]),
                                   "claims": claims_request.from_json(data.get("claims")),
                                   "received_at": datetime.fromisoformat(data["received_at"])})


def csrf_token(interaction_id: str, browser: str) -> str:
    """The form token of an interaction in this browser: unforgeable without the browser cookie."""
    return hashlib.sha256(f"dancu-csrf/{interaction_id}/{browser}".encode()).hexdigest()


# Anyone may open an interaction (an authorization request needs no credentials), and each is a
# row; a sandbox client's X-Sandbox-Login stores a login session and a code per request, and a
# browser with a session a code per request: expired ones are swept now and then, so that a loop
# of requests cannot grow the tables without end. Interactions and unused codes are kept a day past
# their expiry (a QR page still says "expired", not "not found"), login sessions and redeemed codes
# a refresh token family's lifetime (a logout naming a session, a redeemed code sent again, still
# revokes the refresh tokens they gave, which may outlive them). One new row in SWEEP_ONE_IN
# sweeps; each delete finds its rows through the table's ``expires_at`` index (migration 0020:
# before it, each scanned its whole table).
KEEP_EXPIRED = timedelta(days=1)
KEEP_EXPIRED_SESSIONS = REFRESH_FAMILY_LIFETIME
SWEEP_ONE_IN = 256


def sweep_interactions(session: Session, *, now: datetime) -> None:
    """Delete the interactions and unused codes that expired more than :data:`KEEP_EXPIRED` ago,
    and the login sessions and redeemed codes that expired more than
    :data:`KEEP_EXPIRED_SESSIONS` ago (a redeemed code sent again still revokes the refresh
    tokens it gave, RFC 6749 §4.1.2, as long as they may live)."""
    code = AuthorizationCode
    # Core deletes: the rows are gone, whatever the session holds (an ORM delete would compare
    # the expiry of every such object in the session with ``now`` in Python, and SQLite's are
    # naive datetimes)
    unsynced = {"synchronize_session": False}
    session.execute(delete(LoginInteraction)
                    .where(LoginInteraction.expires_at < now - KEEP_EXPIRED)
                    .execution_options(**unsynced))
    session.execute(delete(code).where(code.expires_at < now - KEEP_EXPIRED,
                                       code.consumed_at.is_(None))
                    .execution_options(**unsynced))
    session.execute(delete(code).where(code.expires_at < now - KEEP_EXPIRED_SESSIONS)
                    .execution_options(**unsynced))
    session.execute(delete(BrowserSession)
                    .where(BrowserSession.expires_at < now - KEEP_EXPIRED_SESSIONS)
                    .execution_options(**unsynced))


def sweep_now_and_then(session: Session, *, now: datetime) -> None:
    """:func:`sweep_interactions`, once in :data:`SWEEP_ONE_IN` calls (each new row's)."""
    if secrets.randbelow(SWEEP_ONE_IN) == 0:
        sweep_interactions(session, now=now)


def open_interaction(session: Session, request: AuthorizationRequest, *, browser: str,
                     stage: str, now: datetime) -> LoginInteraction:
    sweep_now_and_then(session, now=now)
    interaction_id = new_opaque_value()
    row = LoginInteraction(id=interaction_id, browser_hash=opaque_hash(browser),
                           csrf_hash=opaque_hash(csrf_token(interaction_id, browser)),
                           client_id=request.client_id, request=request_to_json(request),
                           stage=stage, created_at=now, expires_at=now + INTERACTION_TTL)
    session.add(row)
    session.flush()
    return row


def find_interaction(session: Session, interaction_id: str, *, browser: str | None,
                     now: datetime) -> LoginInteraction | None:
    """The unfinished, unexpired interaction, if it belongs to this browser."""
    row = session.get(LoginInteraction, interaction_id[:64])
    if row is None or browser is None or row.stage == DONE:
        return None
    if not hmac.compare_digest(row.browser_hash, opaque_hash(browser)):
        return None
    return row if now < (aware(row.expires_at) or now) else None


def csrf_ok(row: LoginInteraction, token: str | None) -> bool:
    return bool(token) and hmac.compare_digest(row.csrf_hash, opaque_hash(token or ""))
