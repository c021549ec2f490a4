"""Card lifecycle: issue, renew, report lost, revoke, hold, release; status by the sandbox clock;
and the seams other features call (:func:`card_is_valid`, :func:`valid_card_holders`,
:func:`revoke_cards_for_death`).

Statuses (``card.status`` holds the first five; ``expired`` is read from the expiry date)::

    active --report_lost--> lost          active|held|lost --revoke--> revoked
    active --hold--> held --release--> active
    active|expired --renew--> replaced (and a new active card)
    active, past its expiry date (Vietnam local date of the sandbox clock) = expired

A citizen's cards are numbered by ``sequence`` from 1; the latest is the one in use. Issuing a new
card needs the latest to be lost, revoked or expired (an expired one becomes ``replaced``);
renewing (cấp đổi) needs it active or expired. Every change appends a ``card_event`` row; when a
card is revoked or held the holder's VNeID account is locked through
``app.services.vneid.accounts.lock_for_card`` (and unlocked on release, issue or renewal).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import ColumnElement, func, or_, select
from sqlalchemy.orm import Session

from app.card_rules import CardRuleError, card_expiry, generation_for
from app.errors import Conflict, NotFound
from app.icao.dates import add_years
from app.models.card import Card, CardEvent
from app.models.population import Citizen
from app.services.cards.pki import CardPki, NoDocumentSigner
from app.services.cards.statuses import (  # noqa: F401  (part of this module's interface)
    VIETNAM_TIME,
    CardState,
    effective_status,
    latest_statuses,
    local_date,
)
from app.services.population.citizens import CitizenNotFound

STORED_STATUSES = ("active", "lost", "revoked", "replaced", "held")
STATUSES = (*STORED_STATUSES, "expired")
ISSUE_REASONS = ("first_issue", "reissue_after_loss", "reissue", "under_14_on_request")
RENEW_REASONS = ("renewal_age", "data_changed", "damaged", "admin_unit_change", "on_request",
                 "pin_reestablished")
REVOKE_REASONS = ("death", "authority", "nationality_lost", "fraud", "pin_cancelled")
UNDER_14_FROM = date(2024, 7, 1)  # Law on Identification 2023: cards under 14 on request


class CardNotFound(NotFound):
    code, title = "card-not-found", "No card is recorded for this number"


class CardStateConflict(Conflict):
    code, title = "card-state-conflict", "The card's status does not allow this change"


class CardHolderIneligible(Conflict):
    code, title = "card-holder-ineligible", "This citizen cannot be issued a card now"


class NoSignerForDate(Conflict):
    code, title = "no-document-signer", "No document signer of the test PKI covers this date"


# --- reading --------------------------------------------------------------------------------------


def cards_of(session: Session, pin: str) -> list[Card]:
    """The citizen's cards, latest first."""
    return list(session.scalars(select(Card).where(Card.pin == pin)
                                .order_by(Card.sequence.desc())))


def find_card(session: Session, pin: str, sequence: int | None = None) -> Card:
    """The latest card of ``pin`` (or the one with ``sequence``), else 404 ``card-not-found``."""
    query = select(Card).where(Card.pin == pin)
    query = (query.where(Card.sequence == sequence) if sequence is not None
             else query.order_by(Card.sequence.desc()).limit(1))
    card = session.scalars(query).first()
    if card is None:
        raise CardNotFound()
    return card


def history(session: Session, card: Card) -> list[CardEvent]:
    return list(session.scalars(select(CardEvent).where(CardEvent.card_id == card.id)
                                .order_by(CardEvent.id)))


def _valid_condition(today: date) -> list[ColumnElement[bool]]:
    return [Card.status == "active", or_(Card.expiry_date.is_(None), Card.expiry_date >= today)]


def valid_card_holders(session: Session, pins: Iterable[str], *, now: datetime) -> set[str]:
    """SEAM (VNeID): the PINs among ``pins`` holding a valid card at ``now`` (active, not past
    its expiry date) whose holder is alive."""
    wanted = list(dict.fromkeys(pins))
    found: set[str] = set()
    for start in range(0, len(wanted), 900):  # stay under SQLite's bound-parameter limit
        chunk = wanted[start:start + 900]
        query = (select(Card.pin).join(Citizen, Citizen.pin == Card.pin)
                 .where(Card.pin.in_(chunk), Citizen.status == "alive",
                        *_valid_condition(local_date(now))))
        found.update(session.scalars(query))
    return found


def first_issued(session: Session, pins: Iterable[str]) -> dict[str, date]:
    """The issue date of each citizen's first card, by PIN (citizens without one left out)."""
    wanted, found = list(dict.fromkeys(pins)), {}
    for start in range(0, len(wanted), 900):
        query = select(Card.pin, func.min(Card.issue_date)).where(
            Card.pin.in_(wanted[start:start + 900])).group_by(Card.pin)
        found.update((pin, first) for pin, first in session.execute(query))
    return found


def card_is_valid(session: Session, pin: str, now: datetime) -> bool:
    """SEAM (VNeID): does the citizen hold a valid card at ``now``?"""
    return pin in valid_card_holders(session, [pin], now=now)


# --- changes --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Change:
    """Who changes a card, when and why (``actor``: admin, cli, population, generator, system)."""

    now: datetime
    actor: str
    reason: str | None = None


def _record(session: Session, card: Card, action: str, change: Change) -> None:
    session.add(CardEvent(card_id=card.id, at=change.now, action=action, status=card.status,
                          reason=change.reason, actor=change.actor))


def _set_status(session: Session, card: Card, status: str, action: str, change: Change) -> None:
    card.status, card.status_reason, card.status_changed_at = status, change.reason, change.now
    _record(session, card, action, change)
    session.flush()


def _holder(session: Session, pin: str) -> Citizen:
    citizen = session.get(Citizen, pin)
    if citizen is None:
        raise CitizenNotFound()
    return citizen


def _check_eligible(citizen: Citizen, today: date) -> None:
    if citizen.status != "alive":
        raise CardHolderIneligible("Cards are issued to living citizens only.")
    if citizen.birth_date > today:
        raise CardHolderIneligible("The citizen is not born yet on the sandbox date.")
    if today < UNDER_14_FROM and add_years(citizen.birth_date, 14) > today:
        raise CardHolderIneligible("Cards under 14 are issued only from 2024-07-01.")


def _new_card(session: Session, citizen: Citizen, change: Change, pki: CardPki) -> Card:
    today = local_date(change.now)
    try:
        generation = generation_for(today).code
        signer = pki.signer_label_at(change.now)
    except (CardRuleError, NoDocumentSigner):
        raise NoSignerForDate("Chip cards are issued from 2021-01-01 to 2035-12-31.") from None
    sequence = (session.scalar(select(func.max(Card.sequence)).where(Card.pin == citizen.pin))
                or 0) + 1
    card = Card(pin=citizen.pin, sequence=sequence, generation=generation, issue_date=today,
                expiry_date=card_expiry(date_of_birth=citizen.birth_date, issue_date=today),
                status="active", status_reason=change.reason, status_changed_at=change.now,
                signed_at=change.now, document_signer=signer,
                chip_key_ref=f"{citizen.pin}-{sequence}")
    session.add(card)
    session.flush()
    _record(session, card, "issued", change)
    session.flush()
    return card


def _latest(session: Session, pin: str) -> Card | None:
    cards = cards_of(session, pin)
    return cards[0] if cards else None


def _conflict(card: Card, today: date, action: str) -> CardStateConflict:
    return CardStateConflict(f"A card that is {effective_status(card, today)} cannot be {action}.",
                             card_status=effective_status(card, today))


def issue(session: Session, pin: str, *, change: Change, pki: CardPki) -> Card:
    """A new card (first issue, or re-issue after a loss, revocation or expiry)."""
    citizen, today = _holder(session, pin), local_date(change.now)
    _check_eligible(citizen, today)
    latest = _latest(session, pin)
    if latest is not None:
        status = effective_status(latest, today)
        if status in ("active", "held"):
            raise _conflict(latest, today, "replaced by a new issue (renew it instead)")
        if status == "expired":
            _set_status(session, latest, "replaced", "replaced", change)
    return _unlocking(session, _new_card(session, citizen, change, pki), change)


def renew(session: Session, pin: str, *, change: Change, pki: CardPki) -> Card:
    """Cấp đổi: the active or expired card is replaced by a new one."""
    citizen, today = _holder(session, pin), local_date(change.now)
    latest = find_card(session, pin)
    if effective_status(latest, today) not in ("active", "expired"):
        raise _conflict(latest, today, "renewed")
    _check_eligible(citizen, today)
    _set_status(session, latest, "replaced", "replaced", change)
    return _unlocking(session, _new_card(session, citizen, change, pki), change)


def _unlocking(session: Session, card: Card, change: Change) -> Card:
    """A valid card again: the card grounds of the holder's account end (Decree 69 Art. 15:
    the account unlocks when the ground ends)."""
    from app.services.vneid import accounts

    accounts.unlock_for_card(session, card.pin, now=change.now)
    return card


def _change_latest(session: Session, pin: str, *, allowed: tuple[str, ...], status: str,
                   action: str, change: Change) -> Card:
    card, today = find_card(session, pin), local_date(change.now)
    if effective_status(card, today) not in allowed:
        raise _conflict(card, today, action.replace("_", " "))
    _set_status(session, card, status, action, change)
    return card


def report_lost(session: Session, pin: str, *, change: Change) -> Card:
    return _change_latest(session, pin, allowed=("active", "expired", "held"), status="lost",
                          action="reported_lost", change=change)


def revoke(session: Session, pin: str, *, change: Change) -> Card:
    card = _change_latest(session, pin, allowed=("active", "expired", "held", "lost"),
                          status="revoked", action="revoked", change=change)
    _lock_account(session, pin, reason="card_revoked", now=change.now)
    return card


def hold(session: Session, pin: str, *, change: Change) -> Card:
    card = _change_latest(session, pin, allowed=("active",), status="held", action="held",
                          change=change)
    _lock_account(session, pin, reason="card_held", now=change.now)
    return card


def release(session: Session, pin: str, *, change: Change) -> Card:
    card = _change_latest(session, pin, allowed=("held",), status="active", action="released",
                          change=change)
    if card_is_valid(session, pin, change.now):
        from app.services.vneid import accounts

        accounts.unlock_for_card(session, pin, now=change.now)
    return card


def revoke_cards_for_death(session: Session, pin: str, now: datetime) -> list[Card]:
    """SEAM (life events): the citizen died; every card not yet revoked or replaced is revoked
    (reason ``death``, actor ``population``) and the VNeID account is locked. Idempotent."""
    change = Change(now=now, actor="population", reason="death")
    revoked = [card for card in cards_of(session, pin)
               if card.status in ("active", "held", "lost")]
    for card in revoked:
        _set_status(session, card, "revoked", "revoked", change)
    if revoked:
        _lock_account(session, pin, reason="card_revoked", now=now)
    return revoked


def _lock_account(session: Session, pin: str, *, reason: str, now: datetime) -> None:
    from app.services.vneid import accounts

    accounts.lock_for_card(session, pin, reason=reason, now=now)
