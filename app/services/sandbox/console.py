"""What the web console shows: one citizen on one page (record, household, family, cards, VNeID
account, consents, access history), read through the same audited services as the API, under the
client id ``console`` with the purpose ``oversight`` (so a citizen's access history shows it), and
the admin token that opens it.

Signing in with the admin token opens a session: a fresh random cookie value each time (only its
SHA-256 is stored), valid for :data:`SESSION_TTL` of sandbox time, ended by signing out, and
bound to the admin token (a new token signs everyone out). Sessions live in the database of the
app that serves the console, so a tenant's console (``dancu_tenant`` cookie) asks to sign in again.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from app.models.consent import Consent
from app.models.population import Citizen
from app.models.sandbox import ConsoleSession
from app.oidc.codes import new_opaque_value
from app.services.cards import access as cards_access
from app.services.cards.access import CardAccess
from app.services.kit.keys import aware
from app.services.population import citizens
from app.services.sharing.scopes import RECORD_SCOPES, disclosed_fields
from app.services.storage.runtime import Runtime
from app.services.vneid import access_history, accounts

CONSOLE_CLIENT = "console"
PURPOSE = "oversight"
COOKIE = "dancu_console"


SESSION_TTL = timedelta(hours=8)


def _token_mark(admin_token: str) -> str:
    """Binds a session to the admin token it was opened with: a new token signs everyone out."""
    return hmac.new(admin_token.encode(), b"dancu-console/v2", hashlib.sha256).hexdigest()


def _cookie_hash(cookie: str) -> str:
    return hashlib.sha256(cookie.encode()).hexdigest()


def token_matches(candidate: str, admin_token: str) -> bool:
    return hmac.compare_digest(_token_mark(candidate), _token_mark(admin_token))


def sign_in(session: Session, admin_token: str, *, now: datetime) -> str:
    """A new session (a fresh random cookie value each sign-in); only its hash is stored."""
    cookie = new_opaque_value()
    session.add(ConsoleSession(cookie_hash=_cookie_hash(cookie),
                               token_mark=_token_mark(admin_token), created_at=now,
                               expires_at=now + SESSION_TTL))
    session.flush()
    return cookie


def signed_in(session: Session, cookie: str | None, admin_token: str, *, now: datetime) -> bool:
    """The cookie names a session opened with this admin token, not ended and not expired."""
    if not cookie or len(cookie) > 100:
        return False
    found = session.get(ConsoleSession, _cookie_hash(cookie))
    return (found is not None and found.ended_at is None and now < (aware(found.expires_at) or now)
            and hmac.compare_digest(found.token_mark, _token_mark(admin_token)))


def sign_out(session: Session, cookie: str | None, *, now: datetime) -> None:
    if cookie and len(cookie) <= 100:
        session.execute(update(ConsoleSession)
                        .where(ConsoleSession.cookie_hash == _cookie_hash(cookie),
                               ConsoleSession.ended_at.is_(None))
                        .values(ended_at=now))


@dataclass
class CitizenPage:
    record: dict[str, Any]
    card: dict[str, Any] | None = None
    account: dict[str, Any] | None = None
    account_events: list[dict[str, Any]] = field(default_factory=list)
    consents: list[dict[str, Any]] = field(default_factory=list)
    history: list[dict[str, Any]] = field(default_factory=list)
    household: list[dict[str, Any]] = field(default_factory=list)


def _household(session: Session, record: dict[str, Any]) -> list[dict[str, Any]]:
    household = record.get("household") or {}
    if not household.get("household_id"):
        return []
    members = session.scalars(select(Citizen).where(
        Citizen.household_id == household["household_id"], Citizen.status != "replaced")
        .order_by(Citizen.birth_date).limit(30))
    return [{"pin": m.pin, "full_name": citizens.full_name(m), "status": m.status,
             "birth_date": m.birth_date} for m in members]


def _account(session: Session, pin: str) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
    account = accounts.find(session, pin)
    if account is None:
        return None, []
    events = [{"at": e.at, "kind": e.kind, "reason": e.reason, "actor": e.actor}
              for e in accounts.events(session, account, limit=20)]
    return {"state": account.state, "level": account.level,
            "lock_reasons": account.lock_reasons, "persona": account.persona,
            "device": account.device_token_hash is not None}, events


def _consents(session: Session, pin: str) -> list[dict[str, Any]]:
    rows = session.scalars(select(Consent).where(Consent.pin == pin)
                           .order_by(Consent.granted_at.desc()).limit(50))
    return [{"client_id": c.client_id, "purpose": c.purpose, "scopes": c.scopes,
             "status": c.status, "granted_at": c.granted_at, "method": c.method} for c in rows]


def _history(session: Session, pin: str) -> list[dict[str, Any]]:
    found = access_history.history(session, access_history.numbers_of(session, pin),
                                   before_seq=None, limit=30)
    return [{"at": a.record.created_at, "client": a.client_name or a.record.client_id,
             "action": a.record.action, "result": a.record.result,
             "purpose": a.record.purpose} for a in found]


async def citizen_page(runtime: Runtime, pin: str, *, request_id: str,
                       now: datetime) -> CitizenPage | None:
    """Everything about one citizen; ``None`` when no citizen has the number."""
    access = citizens.Access(CONSOLE_CLIENT, PURPOSE, request_id, now)
    fields = disclosed_fields((*RECORD_SCOPES, "citizen.sensitive"))
    record = await citizens.audited(runtime, citizens.lookup, pin, prefetch=pin, fields=fields,
                                    access=access)
    if record is None:
        return None
    current = record["pin"]
    card_access = CardAccess(CONSOLE_CLIENT, PURPOSE, request_id, now)

    def read() -> CitizenPage:
        with runtime.database.read() as session:
            page = CitizenPage(record, cards_access.card_view(session, current, sequence=None,
                                                              access=card_access))
            page.account, page.account_events = _account(session, current)
            page.consents, page.history = _consents(session, current), _history(session, current)
            page.household = _household(session, record)
            return page

    page = await runtime.run_in_thread(read)
    await runtime.audit.append(card_access.entries, now=now)
    return page


async def card_image(runtime: Runtime, pin: str, side: str, *, seed: int, request_id: str,
                     now: datetime) -> str | None:
    access = CardAccess(CONSOLE_CLIENT, PURPOSE, request_id, now)

    def read() -> str | None:
        with runtime.database.read() as session:
            return cards_access.card_image(session, pin, side, sequence=None, seed=seed,
                                           access=access)

    image = await runtime.run_in_thread(read)
    await runtime.audit.append(access.entries, now=now)
    return image


async def search(runtime: Runtime, name: str, *, request_id: str,
                 now: datetime) -> list[dict[str, Any]]:
    access = citizens.Access(CONSOLE_CLIENT, PURPOSE, request_id, now)
    return await citizens.audited(runtime, citizens.search, citizens.SearchFilter(name=name),
                                  after_pin=None, limit=50, access=access)
