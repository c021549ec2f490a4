"""Death registration: the citizen is deceased from the date of death; every residence in force is
deregistered and they leave their household; their cards are revoked (card service seam) and their
VNeID account closed (accounts seam); a marriage ends, the spouse is widowed; and the linked
funeral-allowance event is emitted (the family may claim it)."""

from __future__ import annotations

from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models.events import LifeEvent
from app.models.population import Citizen, FamilyRelation, Household
from app.schemas.events import DeathRequest
from app.services.cards import issuance as cards
from app.services.events import feed as events
from app.services.events import life_events as le
from app.services.vneid import accounts


def register_death(recorder: events.Recorder, body: DeathRequest, tools: le.Tools) -> le.Outcome:
    session = recorder.session
    deceased = le.citizen(session, body.pin)
    if deceased.status == "deceased":
        raise le.AlreadyDeceased()
    if deceased.status == "replaced":
        raise le.CitizenNotAlive(citizen_status=deceased.status)
    died = le.checked_date(body.date_of_death, recorder, not_before=deceased.birth_date)
    permanent = next(iter(le.residences_in_force(session, deceased.pin, "permanent")), None)
    residence = le.residence_view(session, permanent)
    household = session.get(Household, deceased.household_id) if deceased.household_id else None
    household_data = le.household_view(household, deceased)
    deceased.status, deceased.status_date = "deceased", died
    le.deregister(le.residences_in_force(session, deceased.pin), died)
    le.leave_household(session, deceased)
    cards.revoke_cards_for_death(session, deceased.pin, recorder.now)
    accounts.close_for_death(session, deceased.pin, now=recorder.now)
    spouses = _end_marriages(session, deceased, died)
    death = recorder.emit("death.registered", deceased.pin, occurred_on=died, data={
        "status": "deceased", "status_date": died, "full_name": le.full_name(deceased),
        "spouse": le.person(spouses[0]) if spouses else None,
        "permanent_residence": residence, "household": household_data})
    linked = [_widowed(recorder, spouse, deceased, died, death) for spouse in spouses]
    linked.append(recorder.emit("funeral_allowance.eligible", deceased.pin, occurred_on=died,
                                cause=death, data={
        "full_name": le.full_name(deceased), "status_date": died,
        "permanent_residence": residence}))
    return le.Outcome(deceased.pin, death, linked)


def _end_marriages(session: Session, deceased: Citizen, died: date) -> list[Citizen]:
    """End the spouse relations in force (both directions); the living spouses become widowed."""
    query = select(FamilyRelation).where(
        FamilyRelation.kind == "spouse", FamilyRelation.ended_on.is_(None),
        (FamilyRelation.pin == deceased.pin) | (FamilyRelation.relative_pin == deceased.pin))
    spouses: dict[str, Citizen] = {}
    for relation in session.scalars(query):
        relation.ended_on = max(died, relation.started_on or died)
        other = relation.relative_pin if relation.pin == deceased.pin else relation.pin
        spouse = session.get(Citizen, other)
        if spouse is not None and spouse.status == "alive":
            spouse.marital_status = le.WIDOWED
            spouses[spouse.pin] = spouse
    session.flush()
    return list(spouses.values())


def _widowed(recorder: events.Recorder, spouse: Citizen, deceased: Citizen, died: date,
             death: LifeEvent) -> LifeEvent:
    return recorder.emit("marriage.ended_by_death", spouse.pin, occurred_on=died, cause=death,
                         data={"marital_status": le.marital(le.WIDOWED),
                               "spouse": le.person(deceased)})
