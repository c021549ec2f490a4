"""Marriage, divorce and name change.

Marriage (Law on Marriage and Family 2014, Art. 5 and 8): a man of full 20 and a woman of full 18,
neither married, not related in the direct line nor siblings; both become married (code 2) with
spouse links from the date. Divorce ends the links of a married couple; both become divorced
(code 4). Each spouse gets their own event, so a subscriber following one citizen sees it.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.matching import accent_fold
from app.models.events import LifeEvent
from app.models.population import Citizen, FamilyRelation
from app.schemas.events import DivorceRequest, MarriageRequest, NameChangeRequest
from app.services.events import feed as events
from app.services.events import life_events as le

MARRIAGE_AGE = {"M": 20, "F": 18}


def _spouse_links(session: Session, pin: str) -> list[FamilyRelation]:
    return list(session.scalars(select(FamilyRelation).where(
        FamilyRelation.kind == "spouse", FamilyRelation.ended_on.is_(None),
        (FamilyRelation.pin == pin) | (FamilyRelation.relative_pin == pin))))


def _parents(session: Session, pin: str) -> set[str]:
    return set(session.scalars(select(FamilyRelation.relative_pin).where(
        FamilyRelation.pin == pin, FamilyRelation.kind.in_(("father", "mother")))))


def _related(session: Session, a: Citizen, b: Citizen) -> bool:
    """Parent and child, or siblings sharing a parent (the relatives the sandbox records)."""
    parents_a, parents_b = _parents(session, a.pin), _parents(session, b.pin)
    return a.pin in parents_b or b.pin in parents_a or bool(parents_a & parents_b)


def _check_marriage(session: Session, husband: Citizen, wife: Citizen, day: date) -> None:
    if husband.pin == wife.pin or husband.sex != "M" or wife.sex != "F":
        raise le.MarriageNotAllowed("A marriage is registered between a man and a woman.")
    for spouse in (husband, wife):
        if le.age_on(spouse.birth_date, day) < MARRIAGE_AGE[spouse.sex]:
            raise le.UnderMarriageAge()
        if spouse.marital_status == le.MARRIED or _spouse_links(session, spouse.pin):
            raise le.AlreadyMarried()
    if _related(session, husband, wife):
        raise le.MarriageNotAllowed("Relatives in the direct line and siblings may not marry.")


def register_marriage(recorder: events.Recorder, body: MarriageRequest,
                      tools: le.Tools) -> le.Outcome:
    session = recorder.session
    husband, wife = le.living(session, body.husband_pin), le.living(session, body.wife_pin)
    day = le.checked_date(body.married_on, recorder,
                          not_before=max(husband.birth_date, wife.birth_date))
    _check_marriage(session, husband, wife, day)
    emitted = []
    for spouse, other in ((husband, wife), (wife, husband)):
        spouse.marital_status = le.MARRIED
        session.add(FamilyRelation(pin=spouse.pin, kind="spouse", relative_pin=other.pin,
                                   started_on=day, ended_on=None))
        emitted.append(_family_event(recorder, "marriage.registered", spouse, other, day))
    session.flush()
    return le.Outcome(husband.pin, emitted[0], emitted[1:])


def register_divorce(recorder: events.Recorder, body: DivorceRequest,
                     tools: le.Tools) -> le.Outcome:
    session = recorder.session
    first, second = le.living(session, body.pin), le.living(session, body.spouse_pin)
    links = [link for link in _spouse_links(session, first.pin)
             if {link.pin, link.relative_pin} == {first.pin, second.pin}]
    if not links:
        raise le.NotMarried()
    day = le.checked_date(body.divorced_on, recorder,
                          not_before=max(link.started_on or date.min for link in links))
    for link in links:
        link.ended_on = day
    emitted = []
    for spouse, other in ((first, second), (second, first)):
        spouse.marital_status = le.DIVORCED
        emitted.append(_family_event(recorder, "divorce.registered", spouse, other, day))
    session.flush()
    return le.Outcome(first.pin, emitted[0], emitted[1:])


def _family_event(recorder: events.Recorder, type_: str, spouse: Citizen, other: Citizen,
                  day: date) -> LifeEvent:
    return recorder.emit(type_, spouse.pin, occurred_on=day, data={
        "marital_status": le.marital(spouse.marital_status), "spouse": le.person(other)})


def change_name(recorder: events.Recorder, body: NameChangeRequest,
                tools: le.Tools) -> le.Outcome:
    session = recorder.session
    citizen = le.living(session, body.pin)
    previous = le.full_name(citizen)
    citizen.surname = body.surname if body.surname is not None else citizen.surname
    citizen.middle_name = body.middle_name if body.middle_name is not None else citizen.middle_name
    citizen.given_name = body.given_name if body.given_name is not None else citizen.given_name
    citizen.name_folded = accent_fold(le.full_name(citizen))
    session.flush()
    event = recorder.emit("name.changed", citizen.pin, occurred_on=le.today(recorder), data={
        "reason": body.reason, "full_name": le.full_name(citizen), "surname": citizen.surname,
        "middle_name": citizen.middle_name or None, "given_name": citizen.given_name,
        "previous_full_name": previous})
    return le.Outcome(citizen.pin, event)
