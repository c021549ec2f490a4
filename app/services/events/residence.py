"""Residence registration (Law on Residence 2020): permanent (one per person, in a household),
temporary (at most two years, renewable) and current place of living.

A new registration of a kind deregisters the one in force of that kind. A permanent registration
either makes the citizen head of a new household at the address, adds them to an existing
household (at its address), or moves the whole household they head (every member's permanent
residence follows). Leaving a household they headed hands it to its eldest member.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.errors import ValidationFailed
from app.icao.dates import add_years
from app.models.events import LifeEvent
from app.models.population import Citizen, CodeItem, Household, LegacyCommune, Residence
from app.schemas.events import ResidenceChangeRequest
from app.services.events import feed as events
from app.services.events import life_events as le

TEMPORARY_YEARS = 2
MERGER = date(2025, 7, 1)


def legacy_ward(session: Session, commune_code: str, day: date) -> str | None:
    """For a registration dated before the 2025-07-01 merger, the ward it was made in: the first
    (by code) of those that went into the commune, as the address then read (the request names
    only the current commune)."""
    if day >= MERGER:
        return None
    return session.scalar(select(func.min(LegacyCommune.code))
                          .where(LegacyCommune.current_commune_code == commune_code))


def change_residence(recorder: events.Recorder, body: ResidenceChangeRequest,
                     tools: le.Tools) -> le.Outcome:
    session = recorder.session
    citizen = le.living(session, body.pin)
    day = le.checked_date(body.registered_on, recorder, not_before=citizen.birth_date)
    if body.kind != "permanent":
        return _other_kind(recorder, citizen, body, day)
    if body.household == "join":
        return _join(recorder, citizen, body, day)
    if body.household == "move_household":
        return _move_household(recorder, citizen, body, day)
    return _new_household(recorder, citizen, body, day)


def _address(session: Session, body: ResidenceChangeRequest) -> tuple[str, str]:
    missing = [name for name in ("commune_code", "address_line") if getattr(body, name) is None]
    if missing:
        raise ValidationFailed(errors=[{"loc": ["body", name], "rule": "missing",
                                        "message": "Required for this registration."}
                                       for name in missing])
    assert body.address_line is not None
    return le.commune(session, body.commune_code).code, body.address_line


def _valid_until(body: ResidenceChangeRequest, day: date) -> date | None:
    if body.kind != "temporary":
        return None
    limit = add_years(day, TEMPORARY_YEARS)
    until = body.valid_until or limit
    if not day < until <= limit:
        raise le.EventDateInvalid("A temporary residence lasts at most two years.")
    return until


def _register(session: Session, citizen: Citizen, kind: str, *, commune_code: str, line: str,
              day: date, valid_until: date | None = None) -> tuple[Residence, Residence | None]:
    """(the new registration, the one it replaced)."""
    previous = le.residences_in_force(session, citizen.pin, kind)
    le.deregister(previous, day)
    row = Residence(pin=citizen.pin, kind=kind, commune_code=commune_code, address_line=line,
                    legacy_commune_code=legacy_ward(session, commune_code, day),
                    registered_on=day, valid_until=valid_until,
                    deregistered_on=None)
    session.add(row)
    session.flush()
    return row, previous[-1] if previous else None


def _event(recorder: events.Recorder, citizen: Citizen, row: Residence,
           previous: Residence | None, *, household: Household | None = None) -> LifeEvent:
    session = recorder.session
    data: dict[str, object] = {
        "kind": row.kind, "registered_on": row.registered_on,
        f"{row.kind}_residence": le.residence_view(session, row),
        "previous_residence": le.residence_view(session, previous)}
    if household is not None:
        data["household"] = le.household_view(household, citizen)
    return recorder.emit("residence.changed", citizen.pin, occurred_on=row.registered_on,
                         data=data)


def _other_kind(recorder: events.Recorder, citizen: Citizen, body: ResidenceChangeRequest,
                day: date) -> le.Outcome:
    commune_code, line = _address(recorder.session, body)
    until = _valid_until(body, day)
    row, previous = _register(recorder.session, citizen, body.kind, commune_code=commune_code,
                              line=line, day=day, valid_until=until)
    return le.Outcome(citizen.pin, _event(recorder, citizen, row, previous))


def _new_household(recorder: events.Recorder, citizen: Citizen, body: ResidenceChangeRequest,
                   day: date) -> le.Outcome:
    session = recorder.session
    commune_code, line = _address(session, body)
    le.leave_household(session, citizen)
    household_id = (session.scalar(select(func.max(Household.id))) or 0) + 1
    household = Household(id=household_id, head_pin=citizen.pin,
                          residence_file_number=f"{commune_code}-{household_id % 10**9:09d}",
                          commune_code=commune_code, address_line=line,
                          legacy_commune_code=legacy_ward(session, commune_code, day),
                          registered_on=day)
    session.add(household)
    citizen.household_id, citizen.relationship_to_head = household_id, le.HEAD
    row, previous = _register(session, citizen, "permanent", commune_code=commune_code, line=line,
                              day=day)
    return le.Outcome(citizen.pin, _event(recorder, citizen, row, previous, household=household))


def _join(recorder: events.Recorder, citizen: Citizen, body: ResidenceChangeRequest,
          day: date) -> le.Outcome:
    session = recorder.session
    household = session.get(Household, body.household_id) if body.household_id else None
    if household is None:
        raise le.HouseholdNotFound()
    relationship = body.relationship_to_head or 99
    if session.get(CodeItem, ("relationship", relationship)) is None:
        raise ValidationFailed(errors=[{"loc": ["body", "relationship_to_head"], "rule": "code",
                                        "message": "Not a relationship code."}])
    if citizen.household_id != household.id:
        le.leave_household(session, citizen)
        citizen.household_id, citizen.relationship_to_head = household.id, relationship
    row, previous = _register(session, citizen, "permanent", commune_code=household.commune_code,
                              line=household.address_line, day=day)
    return le.Outcome(citizen.pin, _event(recorder, citizen, row, previous, household=household))


def _move_household(recorder: events.Recorder, citizen: Citizen, body: ResidenceChangeRequest,
                    day: date) -> le.Outcome:
    session = recorder.session
    household = session.get(Household, citizen.household_id) if citizen.household_id else None
    if household is None or household.head_pin != citizen.pin:
        raise le.NotHouseholdHead()
    commune_code, line = _address(session, body)
    household.commune_code, household.address_line = commune_code, line
    household.legacy_commune_code = legacy_ward(session, commune_code, day)
    household.registered_on = day
    emitted = []
    for member in [citizen, *[m for m in le.members(session, household.id) if m is not citizen]]:
        row, previous = _register(session, member, "permanent", commune_code=commune_code,
                                  line=line, day=day)
        emitted.append(_event(recorder, member, row, previous, household=household))
    return le.Outcome(citizen.pin, emitted[0], emitted[1:])
