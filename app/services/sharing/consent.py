"""Consents: a citizen lets a party receive their data for a purpose; recorded, listed, withdrawn.

General on purpose: the OpenID provider uses the purpose ``login`` (the scopes a relying party may
read at sign-in); other features record their own purposes in the same table. A grant for the same
(citizen, party, purpose) supersedes the active one and keeps its scopes (approving more never
withdraws what was approved before). Withdrawing runs the hooks registered for the purpose (the
OpenID provider revokes the party's tokens), in the same transaction; so does granting (approving
``vneid.data_sharing`` at sign-in records a data-sharing consent, docs/life-events.md).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, or_, select
from sqlalchemy.orm import Session

from app.errors import Conflict, NotFound
from app.models.consent import Consent
from app.prepared import Prepared
from app.services.kit.keys import aware

GRANTED, WITHDRAWN, SUPERSEDED = "granted", "withdrawn", "superseded"
# api: the citizen through /v1/me; written: on paper at a counter, recorded by an administrator
METHODS = ("web_form", "qr_app", "sandbox_header", "sandbox_persona", "admin", "api", "written")
WithdrawHook = Callable[[Session, Consent, datetime], None]
# (session, the new grant, the scopes the citizen approved this time, now)
GrantHook = Callable[[Session, Consent, tuple[str, ...], datetime], None]
_ON_WITHDRAW: dict[str, list[WithdrawHook]] = {}
_ON_GRANT: dict[str, list[GrantHook]] = {}


class ConsentNotFound(NotFound):
    code, title = "consent-not-found", "No such consent"


class ConsentNotActive(Conflict):
    code, title = "consent-not-active", "The consent is no longer active"


def on_withdraw(purpose: str, hook: WithdrawHook) -> None:
    """Run ``hook(session, consent, now)`` whenever a consent for ``purpose`` is withdrawn."""
    hooks = _ON_WITHDRAW.setdefault(purpose, [])
    if hook not in hooks:
        hooks.append(hook)


def on_grant(purpose: str, hook: GrantHook) -> None:
    """Run ``hook`` whenever a consent for ``purpose`` is granted (in the same transaction)."""
    hooks = _ON_GRANT.setdefault(purpose, [])
    if hook not in hooks:
        hooks.append(hook)


def _live(now: Any) -> Any:
    return (Consent.status == GRANTED) & or_(Consent.expires_at.is_(None), Consent.expires_at > now)


@dataclass(frozen=True)
class InForce:
    """The scopes of the consent in force and when it was given (without loading the row)."""

    id: int
    scopes: tuple[str, ...]
    granted_at: datetime


_IN_FORCE = Prepared(select(Consent.id, Consent.scopes, Consent.granted_at)
                     .where(Consent.pin == bindparam("pin"),
                            Consent.client_id == bindparam("client_id"),
                            Consent.purpose == bindparam("purpose"), _live(bindparam("now")))
                     .order_by(Consent.id.desc()).limit(1))  # checked at every login


def in_force(session: Session, *, pin: str, client_id: str, purpose: str,
             now: datetime) -> InForce | None:
    params = {"pin": pin, "client_id": client_id, "purpose": purpose, "now": now}
    row = _IN_FORCE.first(session.connection(), params)
    return InForce(row.id, tuple(row.scopes), row.granted_at) if row is not None else None


def active(session: Session, *, pin: str, client_id: str, purpose: str,
           now: datetime) -> Consent | None:
    query = (select(Consent).where(Consent.pin == pin, Consent.client_id == client_id,
                                   Consent.purpose == purpose, _live(now))
             .order_by(Consent.id.desc()).limit(1))
    return session.scalar(query)


def grant(session: Session, *, pin: str, client_id: str, purpose: str, scopes: Iterable[str],
          method: str, now: datetime, expires_at: datetime | None = None) -> Consent:
    """Record an approval (superseding the active one, whose scopes are kept)."""
    previous = active(session, pin=pin, client_id=client_id, purpose=purpose, now=now)
    return _supersede(session, previous, pin=pin, client_id=client_id, purpose=purpose,
                      scopes=scopes, method=method, now=now, expires_at=expires_at)


def ensure(session: Session, *, pin: str, client_id: str, purpose: str, scopes: Iterable[str],
           method: str, now: datetime) -> Consent | InForce:
    """The active consent when it already covers ``scopes`` (nothing new to approve), else a new
    grant: a shortcut that "completes consent" records only what it adds."""
    wanted = list(scopes)
    current = in_force(session, pin=pin, client_id=client_id, purpose=purpose, now=now)
    if current is not None and set(wanted) <= set(current.scopes):
        return current
    previous = session.get(Consent, current.id) if current is not None else None
    return _supersede(session, previous, pin=pin, client_id=client_id, purpose=purpose,
                      scopes=wanted, method=method, now=now, expires_at=None)


def _supersede(session: Session, previous: Consent | None, *, pin: str, client_id: str,
               purpose: str, scopes: Iterable[str], method: str, now: datetime,
               expires_at: datetime | None) -> Consent:
    if method not in METHODS:
        raise ValueError("unknown consent method")
    approved = tuple(scopes)
    merged = list(dict.fromkeys([*(previous.scopes if previous else []), *approved]))
    if previous is not None:
        previous.status = SUPERSEDED
    consent = Consent(pin=pin, client_id=client_id, purpose=purpose, scopes=merged, method=method,
                      status=GRANTED, granted_at=now, expires_at=expires_at)
    session.add(consent)
    session.flush()
    for hook in _ON_GRANT.get(purpose, []):
        hook(session, consent, approved, now)
    return consent


def withdraw(session: Session, consent_id: int, *, by: str, now: datetime,
             pin: str | None = None, client_id: str | None = None) -> Consent:
    """Withdraw a consent (``pin``: only one of this citizen's; ``client_id``: only one given to
    this client); runs the purpose's hooks."""
    consent = session.get(Consent, consent_id)
    if consent is None or (pin is not None and consent.pin != pin) \
            or (client_id is not None and consent.client_id != client_id):
        raise ConsentNotFound()
    expires = aware(consent.expires_at)
    if consent.status != GRANTED or (expires is not None and expires <= now):
        raise ConsentNotActive(status=consent.status)
    consent.status, consent.withdrawn_at, consent.withdrawn_by = WITHDRAWN, now, by
    session.flush()
    for hook in _ON_WITHDRAW.get(consent.purpose, []):
        hook(session, consent, now)
    return consent


def of_citizen(session: Session, pin: str, *, in_force_at: datetime | None = None) -> list[Consent]:
    """The citizen's consents, newest first (with ``in_force_at``: only those in force then)."""
    query = select(Consent).where(Consent.pin == pin)
    if in_force_at is not None:
        query = query.where(_live(in_force_at))
    return list(session.scalars(query.order_by(Consent.id.desc())))
