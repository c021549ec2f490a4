"""Card changes (through the card service) and PIN re-establishment.

PIN re-establishment (Circular 59/2021 Art. 6, Decree 70/2024; rules §1.6): when the sex is
re-determined, the birth year corrected or the registration place was recorded wrongly, the PIN is
cancelled and a new one established from the corrected data. The person's record moves to the new
PIN (residences, family links both ways, household headship, VNeID account, consents); the old
row stays as a tombstone with status ``replaced`` (its cards, revoked with reason ``pin_cancelled``,
still refer to it) and ``pin_history`` maps the old PIN to the new one, which the data-sharing
lookup follows. The VNeID account is locked (``pin_reestablished``) until an administrator lifts
it; a new card is issued under the new PIN with a later ``card.changed`` event (action
``issued``).
"""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from app import pin as pin_rules
from app.models.card import Card
from app.models.consent import Consent
from app.models.population import Citizen, FamilyRelation, Household, PinHistory, Residence
from app.schemas.events import CardChangeRequest, PinReestablishmentRequest
from app.services.cards import issuance as cards
from app.services.events import feed as events
from app.services.events import life_events as le
from app.services.events.birth import free_pin
from app.services.vneid import accounts

ACTOR = "population"
DEFAULT_CARD_REASONS = {"lost": None, "revoked": "authority", "renewed": "on_request",
                        "issued": "reissue_after_loss"}
MOVED_COLUMNS = ("cmnd_number", "phone", "email", "household_id", "relationship_to_head")


# --- cards ----------------------------------------------------------------------------------------


def change_card(recorder: events.Recorder, body: CardChangeRequest,
                tools: le.Tools) -> le.Outcome:
    session, now = recorder.session, recorder.now
    le.citizen(session, body.pin)
    reason = body.reason or DEFAULT_CARD_REASONS[body.action]
    change = cards.Change(now=now, actor=ACTOR, reason=reason)
    card = _apply(session, body, change, tools)
    if body.action in ("renewed", "issued") and cards.card_is_valid(session, body.pin, now):
        accounts.unlock_for_card(session, body.pin, now=now)
    event = recorder.emit("card.changed", body.pin, occurred_on=le.today(recorder), data={
        "action": body.action, "reason": reason, "card": card_view(card, cards.local_date(now))})
    return le.Outcome(body.pin, event)


def _apply(session: Session, body: CardChangeRequest, change: cards.Change,
           tools: le.Tools) -> Card:
    if body.action == "lost":
        return cards.report_lost(session, body.pin, change=change)
    if body.action == "revoked":
        return cards.revoke(session, body.pin, change=change)
    assert tools.pki is not None, "renewing and issuing cards need the card PKI"
    action = cards.renew if body.action == "renewed" else cards.issue
    return action(session, body.pin, change=change, pki=tools.pki())


def card_view(card: Card, today: date) -> dict[str, Any]:
    return {"sequence": card.sequence, "generation": card.generation,
            "status": cards.effective_status(card, today), "issue_date": card.issue_date,
            "expiry_date": card.expiry_date}


# --- PIN re-establishment -------------------------------------------------------------------------


def reestablish_pin(recorder: events.Recorder, body: PinReestablishmentRequest,
                    tools: le.Tools) -> le.Outcome:
    session = recorder.session
    old = le.living(session, body.pin)
    sex, birth_date, place = _corrected(recorder, old, body)
    prefix = pin_rules.prefix(place_code=place, birth_year=birth_date.year, sex=sex)
    if prefix == old.pin[:6]:
        raise le.PinUnchanged()
    new_pin = free_pin(session, place_code=place, birth_year=birth_date.year, sex=sex,
                       rng=tools.rng)
    _revoke_old_card(session, old.pin, recorder)
    new = _successor(session, old, new_pin, sex=sex, birth_date=birth_date, place=place)
    _move_records(session, old.pin, new_pin)
    _move_account(session, old.pin, new_pin, recorder)
    _record_history(session, old.pin, new_pin, body.reason, recorder)
    old.status, old.status_date = "replaced", le.today(recorder)
    session.flush()
    event = recorder.emit("pin.reestablished", new_pin, occurred_on=le.today(recorder), data={
        "reason": body.reason, "old_pin": old.pin, "new_pin": new_pin, "sex": sex,
        "birth_date": birth_date,
        "birth_registration_place": {"code": place, "abroad": place in pin_rules.FOREIGN_CODES}})
    return le.Outcome(new.pin, event)


def _corrected(recorder: events.Recorder, old: Citizen,
               body: PinReestablishmentRequest) -> tuple[str, date, str]:
    sex = body.sex or old.sex
    birth_date = le.checked_date(body.birth_date or old.birth_date, recorder)
    place = body.registration_place or old.birth_registration_place
    if place not in pin_rules.LEGACY_PROVINCE_CODES and place not in pin_rules.FOREIGN_CODES:
        raise le.UnknownProvince()
    return sex, birth_date, place


def _revoke_old_card(session: Session, pin: str, recorder: events.Recorder) -> None:
    """The card carries the cancelled number: revoke it (locks the VNeID account)."""
    latest = next(iter(cards.cards_of(session, pin)), None)
    today = cards.local_date(recorder.now)
    if latest is None or cards.effective_status(latest, today) in ("revoked", "replaced"):
        return
    cards.revoke(session, pin, change=cards.Change(now=recorder.now, actor=ACTOR,
                                                   reason="pin_cancelled"))


def _successor(session: Session, old: Citizen, new_pin: str, *, sex: str, birth_date: date,
               place: str) -> Citizen:
    values = {column.key: getattr(old, column.key) for column in Citizen.__table__.columns}
    values.update(pin=new_pin, sex=sex, birth_date=birth_date, birth_registration_place=place)
    new = Citizen(**values)
    for column in MOVED_COLUMNS:  # one person, one number: the old row keeps none of these
        setattr(old, column, None)
    session.add(new)
    session.flush()
    return new


def _move_records(session: Session, old_pin: str, new_pin: str) -> None:
    for table, column in ((Residence, Residence.pin), (FamilyRelation, FamilyRelation.pin),
                          (FamilyRelation, FamilyRelation.relative_pin),
                          (Household, Household.head_pin), (Consent, Consent.pin)):
        session.execute(update(table).where(column == old_pin).values({column.key: new_pin})
                        .execution_options(synchronize_session="fetch"))


def _move_account(session: Session, old_pin: str, new_pin: str,
                  recorder: events.Recorder) -> None:
    account = accounts.find(session, old_pin)
    if account is None:
        return
    if account.state in (accounts.ACTIVE, accounts.LOCKED):  # locked under the number relying
        # parties know (their logout tokens' sub), then moved
        accounts.lock(session, account, reason="pin_reestablished", now=recorder.now, actor=ACTOR)
    account.pin = new_pin


def _record_history(session: Session, old_pin: str, new_pin: str, reason: str,
                    recorder: events.Recorder) -> None:
    # Earlier numbers of this person now lead straight to the newest one.
    session.execute(update(PinHistory).where(PinHistory.new_pin == old_pin)
                    .values(new_pin=new_pin).execution_options(synchronize_session="fetch"))
    session.add(PinHistory(old_pin=old_pin, new_pin=new_pin, reason=reason,
                           decided_at=recorder.now))


def successor(session: Session, pin: str) -> str | None:
    """The PIN that replaced ``pin``, if it was cancelled and re-established."""
    return session.scalar(select(PinHistory.new_pin).where(PinHistory.old_pin == pin))
