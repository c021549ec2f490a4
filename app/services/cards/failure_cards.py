"""Test cards that fail verification on purpose, one per failure an integrator must handle.

Each persona is a card of the generated population, picked deterministically (a hash of the seed,
the persona key and the PIN) among the cards that fit, then marked (``card.persona``) and, for the
chip personas, given its faulty chip or signer. Picking from the population keeps every channel
consistent (lookup, chip, VNeID); the PINs therefore depend on the seed and the population size,
and ``GET /v1/sandbox/personas/cards`` lists them with what each must produce.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import ColumnElement, or_, select
from sqlalchemy.orm import Session, aliased

from app.models.card import Card
from app.models.population import Citizen
from app.services.cards import issuance as cards
from app.services.cards.issuance import Change, local_date

log = logging.getLogger("dancu.cards")
CANDIDATES = 3000


@dataclass(frozen=True)
class CardPersona:
    """A test card: how it is made and which steps must fail (``code``, ``reason``)."""

    key: str
    title: str
    failing: tuple[tuple[str, str], ...]
    signer: str | None = None  # a persona document signer label
    status: str | None = None  # the card's status
    holder: str = "alive"  # the holder's status
    expired: bool = False
    active_authentication: bool = False  # the failure shows only with a challenge


PERSONAS: tuple[CardPersona, ...] = (
    CardPersona("tampered-dg1", "DG1 altered after signing (hash mismatch)",
                (("dg.hash", "hash_mismatch"),)),
    CardPersona("forged-sod", "SOD signed with a forger's key (bad signature)",
                (("sod.signature", "bad_signature"),)),
    CardPersona("foreign-dsc", "Document signer not issued by the CSCA",
                (("dsc.chain", "untrusted_signer"),), signer="persona/foreign-dsc"),
    CardPersona("expired-dsc", "Document signer expired when it signed",
                (("dsc.validity", "expired_signer"),), signer="persona/expired-dsc"),
    CardPersona("revoked-dsc", "Document signer on the CSCA's CRL",
                (("dsc.revocation", "revoked_signer"),), signer="persona/revoked-dsc"),
    CardPersona("cloned-chip", "Cloned chip: genuine data, no private key (active authentication)",
                (("chip.active_auth", "bad_signature"),), active_authentication=True),
    CardPersona("lost-card", "Card reported lost", (("db.card_status", "card_lost"),),
                status="lost"),
    CardPersona("revoked-card", "Card revoked by an authority",
                (("db.card_status", "card_revoked"),), status="revoked"),
    CardPersona("expired-card", "Card past its expiry date, not renewed",
                (("card.expiry", "document_expired"), ("db.card_status", "card_expired")),
                expired=True),
    CardPersona("deceased-holder", "Holder has died (cards revoked)",
                (("db.card_status", "card_revoked"), ("db.holder_alive", "holder_deceased")),
                holder="deceased"),
)
PERSONA_KEYS = tuple(p.key for p in PERSONAS)
# Chips that verify but answer APDUs (``/v1/cards/{pin}/chip/apdu``) the way a difficult real chip
# does (``app.services.cards.chip_apdu.profile_of``); the persona catalogue lists them.
CHIP_PERSONAS: tuple[CardPersona, ...] = (
    CardPersona("chip-slow", "Chip answering each APDU 250 ms late", ()),
    CardPersona("chip-torn-read", "Chip tearing once: a READ BINARY returns half the bytes", ()),
    CardPersona("chip-broken-sm-mac", "Chip whose secure-messaging responses carry a wrong MAC",
                ()),
    CardPersona("chip-bac-only", "Chip without EF.CardAccess: BAC only, no PACE", ()),
    CardPersona("chip-pace-only", "Chip refusing BAC: PACE only", ()),
)


def draw(seed: int, key: str, pin: str) -> bytes:
    return hashlib.sha256(f"dancu-sandbox/card-persona/{seed}/{key}/{pin}".encode()).digest()


def _is_latest() -> ColumnElement[bool]:
    """The card is its holder's latest (no card of the same PIN has a higher sequence)."""
    other = aliased(Card)
    return ~select(other.id).where(other.pin == Card.pin, other.sequence > Card.sequence).exists()


def _candidates(session: Session, spec: CardPersona, today: date) -> list[tuple[str, int]]:
    """(PIN, card id) of the cards that fit ``spec``: columns, not ORM cards (3,000 of them per
    persona were most of the first start's card step)."""
    query = (select(Card.pin, Card.id).join(Citizen, Citizen.pin == Card.pin)
             .where(Card.persona.is_(None), Citizen.status == spec.holder, _is_latest()))
    if spec.holder == "deceased":
        query = query.where(Card.status == "revoked", Card.status_reason == "death")
    elif spec.expired:
        query = query.where(Card.status == "active", Card.expiry_date < today)
    else:
        far = date(today.year + 6, 1, 1)  # still valid after the clock is moved a few years
        query = query.where(Card.status == "active",
                            or_(Card.expiry_date.is_(None), Card.expiry_date >= far),
                            Card.issue_date >= date(2021, 1, 2))
    return [(pin, card_id) for pin, card_id in session.execute(
        query.order_by(Card.pin).limit(CANDIDATES))]


def _pick(session: Session, spec: CardPersona, *, seed: int, today: date,
          also_taken: frozenset[str] = frozenset()) -> Card | None:
    taken = set(session.scalars(select(Card.pin).where(Card.persona.is_not(None)))) | also_taken
    found = [(pin, card_id) for pin, card_id in _candidates(session, spec, today)
             if pin not in taken]
    chosen = min(found, key=lambda candidate: draw(seed, spec.key, candidate[0]), default=None)
    return None if chosen is None else session.get(Card, chosen[1])


def _apply(session: Session, card: Card, spec: CardPersona, *, now: datetime) -> None:
    card.persona = spec.key
    if spec.signer:
        card.document_signer = spec.signer
    change = Change(now=now, actor="generator", reason="persona")
    if spec.status == "lost":
        cards.report_lost(session, card.pin, change=change)
    elif spec.status == "revoked":
        cards.revoke(session, card.pin, change=Change(now=now, actor="generator",
                                                       reason="authority"))
    session.flush()


def ensure_personas(session: Session, *, seed: int, now: datetime) -> list[str]:
    """Mark one card per persona (idempotent); returns the keys marked now."""
    present = set(session.scalars(select(Card.persona).where(Card.persona.is_not(None))))
    made = []
    for spec in PERSONAS:
        if spec.key in present:
            continue
        card = _pick(session, spec, seed=seed, today=local_date(now))
        if card is None:
            log.warning("no card fits the %s persona in this population", spec.key)
            continue
        _apply(session, card, spec, now=now)
        made.append(spec.key)
    return made


def ensure_chip_persona(session: Session, key: str, *, seed: int, now: datetime,
                        taken: frozenset[str]) -> str | None:
    """Mark the card of a chip persona (idempotent) among holders not in ``taken``; its PIN.

    Marked by the persona catalogue after every other persona it picks (``personas.SPECS`` lists
    them last), so that adding them changed no other persona's citizen."""
    present = session.scalar(select(Card.pin).where(Card.persona == key))
    if present is not None:
        return present
    spec = next(p for p in CHIP_PERSONAS if p.key == key)
    card = _pick(session, spec, seed=seed, today=local_date(now), also_taken=taken)
    if card is None:
        log.warning("no card fits the %s persona in this population", spec.key)
        return None
    _apply(session, card, spec, now=now)
    return card.pin


def persona_cards(session: Session) -> list[tuple[CardPersona, Card]]:
    """The marked persona cards, in :data:`PERSONAS` then :data:`CHIP_PERSONAS` order."""
    found = {c.persona: c for c in session.scalars(select(Card).where(Card.persona.is_not(None)))}
    return [(spec, found[spec.key]) for spec in (*PERSONAS, *CHIP_PERSONAS) if spec.key in found]
