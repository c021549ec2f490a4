"""One persona vocabulary: every place that takes a persona by name (the login page's picker, the
sandbox QR approval, ``X-Sandbox-Login``, the fault personas) accepts the keys of
``GET /v1/sandbox/personas`` and, as aliases, the keys of the channel personas they build on
(account personas, ``/v1/admin/accounts/personas``; card personas,
``/v1/sandbox/personas/cards``). A key none of them has is an unknown persona, said as such.
"""

from __future__ import annotations

import re

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.errors import DomainError
from app.models.account import Account
from app.models.card import Card
from app.models.population import PinHistory
from app.models.sandbox import SandboxPersona

# The shape of a persona key: a short lowercase word list (never a PIN, never free text).
KEY_SHAPE = re.compile(r"[a-z][a-z0-9]*(?:-[a-z0-9]+)*")
MAX_KEY = 48


class UnknownPersona(DomainError):
    code, status, title = "unknown-persona", 404, "No persona has this key"

    def __init__(self) -> None:
        super().__init__("GET /v1/sandbox/personas lists the persona keys of this deployment "
                         "(or tenant).")


def looks_like_key(value: str) -> bool:
    return len(value) <= MAX_KEY and KEY_SHAPE.fullmatch(value) is not None


def persona_pin(session: Session, key: str) -> str | None:
    """The current PIN of the citizen ``key`` names (a catalogue key, or an account or card
    persona's key), or ``None`` when no persona has that key. A re-established PIN gives the
    new number: the citizen's account and records moved there."""
    if not looks_like_key(key):
        return None
    pin = (session.scalar(select(SandboxPersona.pin).where(SandboxPersona.key == key))
           or session.scalar(select(Account.pin).where(Account.persona == key))
           or session.scalar(select(Card.pin).where(Card.persona == key).limit(1)))
    if pin is None:
        return None
    return session.scalar(select(PinHistory.new_pin).where(PinHistory.old_pin == pin)) or pin


def require_persona_pin(session: Session, key: str) -> str:
    """:func:`persona_pin`, or the ``unknown-persona`` problem."""
    pin = persona_pin(session, key)
    if pin is None:
        raise UnknownPersona()
    return pin
