"""Life events: one function per event, each changing every linked record in the caller's single
transaction (all or nothing), emitting its events to the feed, and refusing with a problem (and no
change: the transaction rolls back) whatever contradicts the population.

:func:`record` runs one event: it locks the feed (life events are serialised, see
:mod:`app.services.events.feed`), answers a repeated ``Idempotency-Key`` with the stored result,
runs the handler and stores the result under the key. The handlers live in ``life_events_*``
modules; this module holds what they share: the refusals, the citizen checks and the address views.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.errors import Conflict, NotFound, ValidationFailed
from app.icao.dates import add_years
from app.models.events import IdempotencyRecord, LifeEvent
from app.models.population import Citizen, Commune, Household, Residence
from app.services.cards.issuance import local_date
from app.services.cards.pki import CardPki
from app.services.events import feed as events
from app.services.population.citizens import CitizenNotFound, address, full_name
from app.services.population.reference import reference

MARRIED, WIDOWED, DIVORCED, NEVER_MARRIED = 2, 3, 4, 1
HEAD = 1  # relationship code of the household head


# --- refusals (docs/errors.md) --------------------------------------------------------------------


class AlreadyDeceased(Conflict):
    code, title = "already-deceased", "The citizen is already recorded as deceased"


class CitizenNotAlive(Conflict):
    code, title = "citizen-not-alive", "The citizen is deceased, missing or has a replaced PIN"


class ParentTooYoung(Conflict):
    code, title = "parent-too-young", "A parent would have been under 12 at the birth"


class ParentDeceased(Conflict):
    code, title = "parent-deceased", "A parent had died before the birth"


class ParentSexMismatch(Conflict):
    code, title = "parent-sex-mismatch", "The mother must be female and the father male"


class UnderMarriageAge(Conflict):
    code, title = "under-marriage-age", "Below the legal age of marriage (men 20, women 18)"


class AlreadyMarried(Conflict):
    code, title = "already-married", "One of the two is married"


class MarriageNotAllowed(Conflict):
    code, title = "marriage-not-allowed", "The law does not allow this marriage"


class NotMarried(Conflict):
    code, title = "not-married", "The two are not married to each other"


class UnknownCommune(ValidationFailed):
    code, title = "unknown-commune", "No commune has this code"


class UnknownProvince(ValidationFailed):
    code, title = "unknown-province", "Not a province or foreign-registration code"


class RegistrationPlaceNotAllowed(ValidationFailed):
    code, title = ("registration-place-not-allowed",
                   "Births registered from 2025-07-01 carry one of the 34 current province codes")


class EventDateInvalid(ValidationFailed):
    code, title = "event-date-invalid", "The date is in the future or before the citizen's birth"


class HouseholdNotFound(NotFound):
    code, title = "household-not-found", "No household has this id"


class HouseholdRequired(ValidationFailed):
    code, title = ("household-required",
                   "No household to register the permanent residence in: give household_id")


class NotHouseholdHead(Conflict):
    code, title = "not-household-head", "Only the household head can move the whole household"


class PinUnchanged(ValidationFailed):
    code, title = ("pin-unchanged",
                   "The corrected data gives the same PIN prefix: nothing to re-establish")


class PinBucketFull(Conflict):
    code, title = "pin-bucket-full", "No free number is left for this place, sex and birth year"


class IdempotencyKeyReused(ValidationFailed):
    code, title = ("idempotency-key-reused",
                   "This Idempotency-Key was used with a different request")


# --- running one event ----------------------------------------------------------------------------


@dataclass
class Outcome:
    """What an event handler did: the citizen it concerns, its event and the linked ones."""

    pin: str
    event: LifeEvent
    linked: list[LifeEvent] = field(default_factory=list)


@dataclass(frozen=True)
class Tools:
    """What some handlers need besides the transaction: randomness for new PINs, the card PKI."""

    rng: random.Random
    pki: Callable[[], CardPki] | None = None


Handler = Callable[[events.Recorder, Any, Tools], Outcome]


@dataclass(frozen=True)
class Recorded:
    status: int
    body: dict[str, Any]
    replayed: bool = False


def request_hash(kind: str, body: BaseModel) -> str:
    canonical = json.dumps([kind, body.model_dump(mode="json")], sort_keys=True,
                           separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def record(session: Session, kind: str, body: BaseModel, *, handler: Handler, now: datetime,
           actor: str, tools: Tools, idempotency_key: str | None = None) -> Recorded:
    """Run one life event in the caller's transaction (see the module docstring)."""
    events.lock_feed(session)
    digest = request_hash(kind, body)
    if idempotency_key is not None:
        stored = session.get(IdempotencyRecord, (actor, idempotency_key))
        if stored is not None:
            if stored.request_hash != digest:
                raise IdempotencyKeyReused()
            return Recorded(stored.status_code, dict(stored.response), replayed=True)
    recorder = events.Recorder(session, now, actor)
    result = Recorded(201, render(handler(recorder, body, tools)))
    if idempotency_key is not None:
        session.add(IdempotencyRecord(client_id=actor, key=idempotency_key, request_hash=digest,
                                      status_code=result.status, response=result.body,
                                      created_at=now))
    session.flush()
    return result


def render(outcome: Outcome) -> dict[str, Any]:
    return {"pin": outcome.pin, "event": events.full_view(outcome.event),
            "linked_events": [events.full_view(e) for e in outcome.linked]}


# --- shared checks and views ----------------------------------------------------------------------


def citizen(session: Session, pin: str) -> Citizen:
    found = session.get(Citizen, pin)
    if found is None:
        raise CitizenNotFound()
    return found


def living(session: Session, pin: str) -> Citizen:
    found = citizen(session, pin)
    if found.status != "alive":
        raise CitizenNotAlive(citizen_status=found.status)
    return found


def today(recorder: events.Recorder) -> date:
    """The sandbox day in Vietnam (records carry local dates)."""
    return local_date(recorder.now)


def checked_date(value: date | None, recorder: events.Recorder, *,
                 not_before: date | None = None) -> date:
    """``value`` (default today) if it is not in the future nor before ``not_before``."""
    day = value or today(recorder)
    if day > today(recorder) or (not_before is not None and day < not_before):
        raise EventDateInvalid()
    return day


def age_on(birth_date: date, day: date) -> int:
    return day.year - birth_date.year - ((day.month, day.day) < (birth_date.month, birth_date.day))


def birthday(birth_date: date, years: int) -> date:
    return add_years(birth_date, years)


def commune(session: Session, code: str | None) -> Commune:
    found = session.get(Commune, code) if code else None
    if found is None:
        raise UnknownCommune()
    return found


def place(session: Session, *, commune_code: str, line: str | None) -> dict[str, Any]:
    return address(reference(session), commune_code=commune_code, line=line)


def residence_view(session: Session, row: Residence | None) -> dict[str, Any] | None:
    if row is None:
        return None
    return {**place(session, commune_code=row.commune_code, line=row.address_line),
            "registered_on": row.registered_on, "valid_until": row.valid_until}


def person(row: Citizen | None) -> dict[str, Any] | None:
    if row is None:
        return None
    return {"pin": row.pin, "full_name": full_name(row), "nationality": row.nationality}


def household_view(household: Household | None, member: Citizen) -> dict[str, Any] | None:
    if household is None:
        return None
    return {"household_id": household.id, "residence_file_number": household.residence_file_number,
            "is_head": household.head_pin == member.pin,
            "relationship_to_head": member.relationship_to_head}


def marital(code: int) -> dict[str, Any]:
    names = {1: ("Chưa kết hôn", "Never married"), 2: ("Đã kết hôn", "Married"),
             3: ("Góa", "Widowed"), 4: ("Ly hôn", "Divorced"), 5: ("Ly thân", "Separated")}
    name, name_en = names.get(code, (None, None))
    return {"code": code, "name": name, "name_en": name_en}


def residences_in_force(session: Session, pin: str, kind: str | None = None) -> list[Residence]:
    query = select(Residence).where(Residence.pin == pin, Residence.deregistered_on.is_(None))
    if kind is not None:
        query = query.where(Residence.kind == kind)
    return list(session.scalars(query.order_by(Residence.registered_on, Residence.id)))


def deregister(rows: list[Residence], day: date) -> None:
    for row in rows:
        row.deregistered_on = max(day, row.registered_on)


def members(session: Session, household_id: int) -> list[Citizen]:
    """Living members, eldest first."""
    query = (select(Citizen).where(Citizen.household_id == household_id,
                                   Citizen.status == "alive")
             .order_by(Citizen.birth_date, Citizen.pin))
    return list(session.scalars(query))


def leave_household(session: Session, member: Citizen) -> None:
    """Take ``member`` out of their household; when they headed it, the eldest member left leads
    it (the others keep their recorded relationship: the sandbox does not re-derive it)."""
    household_id = member.household_id
    member.household_id = member.relationship_to_head = None
    if household_id is None:
        return
    household = session.get(Household, household_id)
    session.flush()
    if household is None or household.head_pin != member.pin:
        return
    remaining = members(session, household_id)
    if remaining:
        household.head_pin = remaining[0].pin
        remaining[0].relationship_to_head = HEAD
