"""The card use cases behind the HTTP API: each reads what it needs in the session it is given,
notes the access on its :class:`CardAccess` and returns plain values; the caller then commits those
audit entries (the router, through the process's group-commit audit writer) before answering.

A refused or unknown access is audited too: the functions return ``None`` instead of raising, so
the entry is still committed (the router answers with the problem). A chip read needs both a
client's token (scope ``card.read``) and the card's access key (the printed MRZ, as for an NFC
reader), and is recorded under that client: the key alone is a few hundred guesses away from a PIN,
so wrong keys are counted per (client, card) and per client (:mod:`app.services.kit.throttle`;
each tenant's in its own database) and a locked-out read is refused, and audited, without trying
the key (:func:`unless_locked`). One client's wrong keys never lock a card for another client.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from typing import Any, TypeVar

from sqlalchemy.orm import Session

from app.errors import ValidationFailed
from app.icao.active_auth import CHALLENGE_LENGTH
from app.models.card import Card
from app.services.cards import chip
from app.services.cards import issuance as cards
from app.services.cards.failure_cards import persona_cards
from app.services.cards.holder import CardContent, card_content, printed_side
from app.services.cards.images import card_svg
from app.services.cards.issuance import CardNotFound, effective_status, local_date
from app.services.cards.pki import CardPki
from app.services.cards.verification import (
    ChipRead,
    Reader,
    Verification,
    decode_challenge,
    verify_read,
)
from app.services.kit import throttle
from app.services.sharing import audit
from app.settings import Settings

T = TypeVar("T")

# What a printed card shows (name, birth, sex, nationality; origin, birth place, marks; residence;
# in the MRZ and the QR code too): a consent-based client needs the citizen's consent to them all.
CARD_SCOPES = frozenset({"citizen.basic", "citizen.identity", "citizen.residence"})


class InvalidChallenge(ValidationFailed):
    code, title = "invalid-challenge", "The challenge must be 8 bytes, in hex or base64"


@dataclass(frozen=True, slots=True)
class CardAccess:
    """Who asks, why, in which request, when (what the audit records name), and the entries
    noted so far."""

    client_id: str
    purpose: str
    request_id: str
    now: datetime
    entries: list[audit.AuditEntry] = field(default_factory=list)

    def record(self, action: str, pin: str | None, result: str,
               fields: Iterable[str] = ()) -> None:
        self.entries.append(audit.AuditEntry(
            client_id=self.client_id, purpose=self.purpose, action=action, pin=pin,
            fields=tuple(fields), result=result, request_id=self.request_id))


def _card(session: Session, pin: str, sequence: int | None) -> Card | None:
    try:
        return cards.find_card(session, pin, sequence)
    except CardNotFound:
        return None


# --- the printed card -----------------------------------------------------------------------------


def _expired_event(card: Card) -> dict[str, Any]:
    """The expiry as a history entry (derived from the clock, not stored)."""
    assert card.expiry_date is not None
    moment = datetime.combine(card.expiry_date + timedelta(days=1), time(),
                              tzinfo=cards.VIETNAM_TIME).astimezone(UTC)
    return {"at": moment, "action": "expired", "status": "expired", "reason": "expiry_date",
            "actor": "clock"}


def _history(session: Session, card: Card, today: Any) -> list[dict[str, Any]]:
    events = [{"at": e.at, "action": e.action, "status": e.status, "reason": e.reason,
               "actor": e.actor} for e in cards.history(session, card)]
    if effective_status(card, today) == "expired":
        events.append(_expired_event(card))
    return events


def _summary(card: Card, today: Any) -> dict[str, Any]:
    return {"sequence": card.sequence, "generation": card.generation,
            "issue_date": card.issue_date, "expiry_date": card.expiry_date,
            "status": effective_status(card, today)}


def _printed(content: CardContent) -> dict[str, Any]:
    generation = content.generation
    return {"generation": generation.code, "title": generation.title,
            "legal_specimen": generation.legal_specimen,
            "issuing_authority": generation.issuing_authority,
            "mrz": list(content.td1.lines), "qr_payload": content.qr_payload,
            "front": [vars(f) for f in printed_side(content, "front")],
            "back": [vars(f) for f in printed_side(content, "back")]}


def card_view(session: Session, pin: str, *, sequence: int | None,
              access: CardAccess) -> dict[str, Any] | None:
    """The printed card with its status and history (the latest card, or ``sequence``)."""
    card = _card(session, pin, sequence)
    if card is None:
        access.record("card_read", pin, "not_found")
        return None
    today = local_date(access.now)
    content = card_content(session, card)
    access.record("card_read", pin, "disclosed", ("card",))
    return {"pin": card.pin, **_summary(card, today), **_printed(content),
            "status_reason": card.status_reason, "document_signer": card.document_signer,
            "history": _history(session, card, today),
            "cards": [_summary(c, today) for c in cards.cards_of(session, pin)]}


def card_image(session: Session, pin: str, side: str, *, sequence: int | None, seed: int,
               access: CardAccess) -> str | None:
    """The ``front`` or ``back`` SVG of the card, or ``None`` (audited) when there is none."""
    card = _card(session, pin, sequence)
    if card is None:
        access.record("card_image", pin, "not_found")
        return None
    content = card_content(session, card)
    portrait = chip.face(seed, card.chip_key_ref, content.details.sex).image
    access.record("card_image", pin, "disclosed", (f"image.{side}",))
    return card_svg(content, side, face=portrait)


# --- the chip -------------------------------------------------------------------------------------


def _opened(session: Session, pin: str, key: str | None, *, action: str,
            access: CardAccess) -> chip.OpenedChip | None:
    try:
        opened = chip.open_chip(session, pin, key)
    except chip.ChipAccessDenied:
        access.record(action, pin, "denied")
        return None
    access.record(action, pin, "disclosed", ("chip",))
    return opened


@dataclass(frozen=True, slots=True)
class ChipLocked:
    """The client is locked out of the card (or of every card) after wrong access keys, for
    ``retry_after`` s."""

    retry_after: int


def chip_checks(settings: Settings, *, pin: str, client_id: str) -> list[throttle.Check]:
    """The client's count of wrong keys for this card, and its count over every card."""
    per_card, per_client = throttle.chip_limits(settings)
    return [(per_card, f"{client_id}/{pin}"), (per_client, client_id)]


def unless_locked(session: Session, checks: Sequence[throttle.Check], *, action: str, pin: str,
                  access: CardAccess, work: Callable[[Session], T]) -> T | ChipLocked:
    """``work(session)``, unless the card or the client is locked out (audited as ``locked``)."""
    wait = throttle.locked(session, checks, now=access.now)
    if wait:
        access.record(action, pin, "locked")
        return ChipLocked(wait)
    return work(session)


def read_chip(session: Session, pin: str, key: str | None, *, seed: int, pki: CardPki,
              access: CardAccess) -> dict[str, bytes] | None:
    """The chip's files when ``key`` is the card's BAC key seed (hex), else ``None``."""
    opened = _opened(session, pin, key, action="chip_read", access=access)
    return None if opened is None else chip.read_files(opened, seed=seed, pki=pki)


def checked_challenge(text: str) -> bytes:
    challenge = decode_challenge(text)
    if challenge is None or len(challenge) != CHALLENGE_LENGTH:
        raise InvalidChallenge()
    return challenge


def internal_authenticate(session: Session, pin: str, key: str | None, challenge: bytes, *,
                          seed: int, access: CardAccess) -> bytes | None:
    """The chip's signature over ``challenge``, or ``None`` without the right access key."""
    opened = _opened(session, pin, key, action="chip_authenticate", access=access)
    return None if opened is None else chip.internal_authenticate(opened, challenge, seed=seed)


# --- verification ---------------------------------------------------------------------------------


def verify(reader: Reader, read: ChipRead, *, pki: CardPki, access: CardAccess) -> Verification:
    """Verify a chip read (:mod:`.verification`) in ``reader``'s transaction (a session or a
    connection); the PIN is audited when the chip vouches for it."""
    result = verify_read(reader, read, pki=pki, now=access.now)
    access.record("card_verify", result.pin, result.verdict)
    return result


# --- personas -------------------------------------------------------------------------------------


def personas(session: Session, *, now: datetime) -> list[dict[str, Any]]:
    """The persona cards with what a tester needs: PIN, MRZ, access key and the expected result."""
    listed = []
    for spec, card in persona_cards(session):
        content = card_content(session, card)
        listed.append({
            "key": spec.key, "title": spec.title, "pin": card.pin, "sequence": card.sequence,
            "status": effective_status(card, local_date(now)), "mrz": list(content.td1.lines),
            "access_key": chip.access_key(content),
            "needs_active_authentication": spec.active_authentication,
            "expected": {"verdict": "fail" if spec.failing else "pass", "failing": [
                {"code": code, "reason": reason} for code, reason in spec.failing]}})
    return listed
