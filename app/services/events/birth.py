"""Birth registration: a new citizen with a new PIN, linked to the parents, added to a household
with permanent residence at its address, and, for a child under 6, the linked health-insurance
enrolment (Law on Health Insurance: children under 6 are insured by the state budget).

The PIN (rules §1.1, §1.5): the registering province's code (from 2025-07-01 one of the 34 current
codes), or the foreign-registration country code for a birth registered at a mission abroad; the
century/sex digit and the year; six random digits, unique in their bucket. Life events are
serialised (:func:`app.services.events.feed.lock_feed`), so a free number stays free until this
transaction commits, and the primary key guards it anyway.
"""

from __future__ import annotations

import random
from datetime import date, timedelta

from sqlalchemy.orm import Session

from app import pin as pin_rules
from app.matching import CLAN_LAST_ETHNICITIES, accent_fold
from app.models.events import LifeEvent
from app.models.population import Citizen, FamilyRelation, Household, Province, Residence
from app.schemas.events import BirthRequest
from app.services.events import feed as events
from app.services.events import life_events as le
from app.services.population.citizens import written_name

MIN_PARENT_AGE = 12
POSTHUMOUS_DAYS = 300  # a father may have died up to ~10 months before the birth
CHILD, GRANDCHILD, OTHER = 4, 21, 99
HEALTH_INSURANCE_AGE = 6
PIN_ATTEMPTS = 200


def register_birth(recorder: events.Recorder, body: BirthRequest, tools: le.Tools) -> le.Outcome:
    session, registered_on = recorder.session, le.today(recorder)
    birth_date = le.checked_date(body.birth_date, recorder)
    mother = _parent(session, body.mother_pin, sex="F", birth_date=birth_date, grace=0)
    father = _parent(session, body.father_pin, sex="M", birth_date=birth_date,
                     grace=POSTHUMOUS_DAYS)
    household = _household(session, body, mother, father)
    place_code = _registration_place(session, body, household, registered_on)
    child = _new_citizen(session, body, mother, father, place_code=place_code, rng=tools.rng)
    _link_parents(session, child, mother, father)
    residence = _join(session, child, household, mother, father, registered_on)
    birth = recorder.emit("birth.registered", child.pin, occurred_on=birth_date,
                          data=_birth_data(session, child, mother, father, household, residence))
    linked = _health_insurance(recorder, child, residence, birth, registered_on)
    return le.Outcome(child.pin, birth, linked)


def _parent(session: Session, pin: str | None, *, sex: str, birth_date: date,
            grace: int) -> Citizen | None:
    if pin is None:
        return None
    parent = le.citizen(session, pin)
    if parent.status in ("missing", "replaced"):
        raise le.CitizenNotAlive(citizen_status=parent.status)
    if parent.sex != sex:
        raise le.ParentSexMismatch()
    if le.age_on(parent.birth_date, birth_date) < MIN_PARENT_AGE:
        raise le.ParentTooYoung()
    died = parent.status_date if parent.status == "deceased" else None
    if died is not None and died + timedelta(days=grace) < birth_date:
        raise le.ParentDeceased()
    return parent


def _household(session: Session, body: BirthRequest, mother: Citizen | None,
               father: Citizen | None) -> Household | None:
    if body.household_id is not None:
        found = session.get(Household, body.household_id)
        if found is None:
            raise le.HouseholdNotFound()
        return found
    for parent in (mother, father):
        if parent is not None and parent.status == "alive" and parent.household_id is not None:
            return session.get(Household, parent.household_id)
    if body.registered_abroad_country is None:
        raise le.HouseholdRequired()
    return None


def _registration_place(session: Session, body: BirthRequest, household: Household | None,
                        registered_on: date) -> str:
    if body.registered_abroad_country is not None:
        if body.registered_abroad_country not in pin_rules.FOREIGN_CODES:
            raise le.UnknownProvince()
        return body.registered_abroad_country
    code = body.registration_province
    if code is None:
        assert household is not None  # _household refuses a birth at home without one
        code = le.commune(session, household.commune_code).province_code
    if session.get(Province, code) is None:
        raise le.UnknownProvince()
    if not pin_rules.registration_place_is_allowed(place_code=code, registered_on=registered_on):
        raise le.RegistrationPlaceNotAllowed()
    return code


def free_pin(session: Session, *, place_code: str, birth_year: int, sex: str,
             rng: random.Random) -> str:
    """A PIN of this bucket no citizen has (re-established PINs keep their old rows)."""
    for _ in range(PIN_ATTEMPTS):
        candidate = pin_rules.generate(place_code=place_code, birth_year=birth_year, sex=sex,
                                       rng=rng)
        if session.get(Citizen, candidate) is None:
            return candidate
    raise le.PinBucketFull()


def _new_citizen(session: Session, body: BirthRequest, mother: Citizen | None,
                 father: Citizen | None, *, place_code: str, rng: random.Random) -> Citizen:
    lineage = father or mother
    assert lineage is not None  # the request names at least one parent
    number = free_pin(session, place_code=place_code, birth_year=body.birth_date.year,
                      sex=body.sex, rng=rng)
    written = written_name(surname=body.surname, middle_name=body.middle_name,
                           given_name=body.given_name,
                           clan_last=lineage.ethnicity_code in CLAN_LAST_ETHNICITIES)
    child = Citizen(
        pin=number, surname=body.surname, middle_name=body.middle_name,
        given_name=body.given_name, name_folded=accent_fold(written),
        other_names=None, birth_date=body.birth_date, birth_date_precision="day", sex=body.sex,
        birth_place_commune=body.birth_place_commune, birth_registration_place=place_code,
        origin_commune=lineage.origin_commune, ethnicity_code=lineage.ethnicity_code,
        religion_code=lineage.religion_code, nationality="VN", blood_group=None,
        cmnd_number=None, marital_status=le.NEVER_MARRIED, phone=None, email=None,
        status="alive", status_date=None, household_id=None, relationship_to_head=None,
        identifying_marks=None)
    if body.birth_place_commune is not None:
        le.commune(session, body.birth_place_commune)
    session.add(child)
    session.flush()
    return child


def _link_parents(session: Session, child: Citizen, mother: Citizen | None,
                  father: Citizen | None) -> None:
    for kind, parent in (("mother", mother), ("father", father)):
        if parent is not None:
            session.add(FamilyRelation(pin=child.pin, kind=kind, relative_pin=parent.pin,
                                       started_on=child.birth_date, ended_on=None))


def _relationship(household: Household, mother: Citizen | None, father: Citizen | None) -> int:
    parents = [p for p in (mother, father) if p is not None]
    if any(household.head_pin == p.pin for p in parents):
        return CHILD
    if any(p.household_id == household.id for p in parents):
        return GRANDCHILD
    return OTHER


def _join(session: Session, child: Citizen, household: Household | None, mother: Citizen | None,
          father: Citizen | None, registered_on: date) -> Residence | None:
    if household is None:
        return None
    child.household_id = household.id
    child.relationship_to_head = _relationship(household, mother, father)
    residence = Residence(pin=child.pin, kind="permanent", commune_code=household.commune_code,
                          address_line=household.address_line, legacy_commune_code=None,
                          registered_on=registered_on, valid_until=None, deregistered_on=None)
    session.add(residence)
    session.flush()
    return residence


def _birth_data(session: Session, child: Citizen, mother: Citizen | None, father: Citizen | None,
                household: Household | None, residence: Residence | None) -> dict[str, object]:
    province = session.get(Province, child.birth_registration_place)
    return {
        "status": child.status, "full_name": le.full_name(child), "surname": child.surname,
        "middle_name": child.middle_name or None, "given_name": child.given_name,
        "birth_date": child.birth_date, "sex": child.sex, "nationality": child.nationality,
        "birth_registration_place": {"code": child.birth_registration_place,
                                     "name": province.name if province else None,
                                     "abroad": province is None},
        "mother": le.person(mother), "father": le.person(father),
        "household": le.household_view(household, child),
        "permanent_residence": le.residence_view(session, residence),
    }


def _health_insurance(recorder: events.Recorder, child: Citizen, residence: Residence | None,
                      birth: LifeEvent, registered_on: date) -> list[LifeEvent]:
    sixth_birthday = le.birthday(child.birth_date, HEALTH_INSURANCE_AGE)
    if registered_on >= sixth_birthday:
        return []
    data = {"beneficiary_group": "children_under_6", "full_name": le.full_name(child),
            "birth_date": child.birth_date,
            "coverage_until": sixth_birthday - timedelta(days=1),
            "permanent_residence": le.residence_view(recorder.session, residence)}
    return [recorder.emit("health_insurance.enrolment", child.pin, occurred_on=registered_on,
                          data=data, cause=birth)]

