"""Picks the population-dependent example values (:mod:`app.schemas.examples`) from a default
deployment (seed 6, 10,000 people), so that every request of the HTTP collection and every
OpenAPI request example works as given there. ``dancu export-collection --refresh-examples``
builds such a deployment in a scratch database, picks, writes ``app/schemas/examples.json`` and
regenerates the collection; run it after any change to the population generator.

Who is picked (never a persona, each example a different person, so the collection's requests
do not interfere when they run top to bottom): the persona ``valid-adult-level2`` for the PIN,
chip access key, name, birth date, sex, CMND, phone, e-mail and commune; the persona
``pin-reestablished`` for ``old_pin``/``new_pin``; and for each life event and the account
creation, a person its rules accept -- each candidate is tried by running the real life event
(or the account eligibility rule) in a savepoint that is rolled back. Candidates are drawn like
the personas (a hash of the seed, the example and the PIN), so the same population always gives
the same picks.
"""

from __future__ import annotations

import json
import random
import unicodedata
from collections.abc import Callable, Iterable
from datetime import date, datetime
from typing import Any

from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session

from app.clock import SandboxClock
from app.db import Database
from app.errors import DomainError
from app.models.account import Account
from app.models.population import Citizen, Commune, FamilyRelation
from app.schemas import examples
from app.services.cards import failure_cards
from app.services.cards import issuance as cards
from app.services.events import life_events
from app.services.events.kinds import KINDS
from app.services.sandbox import personas
from app.services.vneid import accounts
from app.settings import Settings, load_settings

DEFAULT_SEED, DEFAULT_POPULATION = 6, 10_000  # app.settings defaults: what the docs describe
CANDIDATES = 200
REFRESH_COMMAND = "dancu export-collection --refresh-examples"


def default_deployment(url: str) -> tuple[Settings, Database]:
    """A migrated, populated database as ``dancu serve`` makes by default (seed 6, 10,000
    people); the start-up steps (cards, accounts, personas) run when an app or :func:`refresh`
    starts on it."""
    from app import migrations
    from seed.populate import populate

    settings = load_settings(database_url=url, seed=DEFAULT_SEED,
                             population_size=DEFAULT_POPULATION, auto_seed=True,
                             delivery_worker=False)
    database = Database.connect(url)
    migrations.upgrade(database.engine)
    populate(database, size=DEFAULT_POPULATION, seed=DEFAULT_SEED)
    return settings, database


def unaccented(text: str) -> str:
    """Vietnamese letters without their diacritics, case kept (Đ -> D)."""
    text = text.replace("Đ", "D").replace("đ", "d")
    return "".join(ch for ch in unicodedata.normalize("NFD", text)
                   if not unicodedata.combining(ch))


class _Picker:
    def __init__(self, session: Session, ctx: personas.Context) -> None:
        self.session, self.ctx = session, ctx
        self.used: set[str] = set(personas._taken(session))
        self.reference_day = (ctx.issue_at or ctx.now).date()

    def lasting_card(self, pin: str) -> bool:
        """A valid card now and still in three years (so the pick holds for a while)."""
        later = self.ctx.now.replace(year=self.ctx.now.year + 3, day=min(self.ctx.now.day, 28))
        return (cards.card_is_valid(self.session, pin, self.ctx.now)
                and cards.card_is_valid(self.session, pin, later))

    def candidates(self, key: str, *conditions: ColumnElement[bool],
                    ages: tuple[int, int] = (25, 55)) -> list[Citizen]:
        today = self.reference_day  # not the sandbox day: the same picks on any day
        youngest = date(today.year - ages[0], today.month, min(today.day, 28))
        oldest = date(today.year - ages[1] - 1, today.month, min(today.day, 28))
        query = (select(Citizen).where(Citizen.status == "alive", Citizen.birth_date <= youngest,
                                       Citizen.birth_date > oldest, *conditions)
                 .order_by(Citizen.pin).limit(CANDIDATES * 10))
        found = [c for c in self.session.scalars(query) if c.pin not in self.used]
        found.sort(key=lambda c: failure_cards.draw(self.ctx.seed, key, c.pin))
        return found[:CANDIDATES]

    def accepted(self, kind: str, **fields: Any) -> bool:
        """Whether the life event's documented example, with these fields, would be recorded
        now (tried, then rolled back)."""
        extra: Any = KINDS[kind].model.model_config.get("json_schema_extra")
        body = KINDS[kind].model.model_validate({**extra["examples"][0], **fields})
        tools = life_events.Tools(rng=random.Random(f"{self.ctx.seed}/examples/{kind}"),
                                  pki=self.ctx.pki)
        savepoint = self.session.begin_nested()
        try:
            life_events.record(self.session, kind, body, handler=KINDS[kind].handler,
                               now=self.ctx.now, actor="examples", tools=tools)
        except DomainError:
            return False
        finally:
            savepoint.rollback()
            self.session.expire_all()
        return True

    def first(self, key: str, people: Iterable[Any], fits: Callable[[Any], bool]) -> Any:
        for person in people:
            if fits(person):
                parts = person if isinstance(person, tuple) else (person,)
                self.used |= {part.pin for part in parts if isinstance(part, Citizen)}
                return person
        raise LookupError(f"no one in this population fits the {key} example")

    def spouse(self, citizen: Citizen) -> Citizen | None:
        pin = self.session.scalar(select(FamilyRelation.relative_pin).where(
            FamilyRelation.pin == citizen.pin, FamilyRelation.kind == "spouse",
            FamilyRelation.ended_on.is_(None)))
        return None if pin is None else self.session.get(Citizen, pin)

    def couples(self, key: str, ages: tuple[int, int]) -> list[tuple[Citizen, Citizen]]:
        wives = self.candidates(key, Citizen.sex == "F", ages=ages)
        found = [(husband, wife) for wife in wives
                 if (husband := self.spouse(wife)) is not None and husband.pin not in self.used]
        return found


def _persona(session: Session, key: str, ctx: personas.Context,
             settings: Settings) -> dict[str, Any]:
    pin = personas.recorded(session)[key]
    spec = personas.spec_of(key)
    assert spec is not None
    return personas.describe(session, spec, pin, now=ctx.now, settings=settings)


def _commune_of(session: Session, pin: str) -> str | None:
    """The commune of the citizen's permanent residence in force, if any."""
    rows = life_events.residences_in_force(session, pin, "permanent")
    return rows[-1].commune_code if rows else None


def pick(session: Session, ctx: personas.Context, settings: Settings) -> dict[str, str]:
    """The example table for this population (changes nothing: every trial is rolled back);
    ``settings`` as the app runs with them (the deployment secret resolved)."""
    picker = _Picker(session, ctx)
    persona = _persona(session, "valid-adult-level2", ctx, settings)
    citizen = session.get(Citizen, persona["pin"])
    assert citizen is not None
    assert persona["card"] is not None
    reestablished = _persona(session, "pin-reestablished", ctx, settings)
    picker.used.add(reestablished["current_pin"])
    table = {
        "pin": citizen.pin, "current_pin": persona["current_pin"],
        "access_key": persona["card"]["access_key"], "full_name": persona["full_name"],
        "full_name_unaccented": unaccented(persona["full_name"]),
        "surname": citizen.surname, "middle_name": citizen.middle_name,
        "given_name": citizen.given_name, "birth_date": citizen.birth_date.isoformat(),
        "sex": citizen.sex, "phone": citizen.phone or accounts.derived_phone(citizen.pin),
        "email": citizen.email or (accounts.find(session, citizen.pin) or citizen).email
        or "someone@example.vn",
        "commune_code": _commune_of(session, citizen.pin)
        or str(session.scalar(select(Commune.code).order_by(Commune.code))),
        "old_pin": reestablished["pin"], "new_pin": reestablished["current_pin"],
    }
    table["old_id_number"] = citizen.cmnd_number or picker.first(
        "old_id_number", picker.candidates("old_id_number", Citizen.cmnd_number.is_not(None)),
        lambda c: True).cmnd_number
    _life_events(picker, table)
    account = picker.first("account", picker.candidates(
        "account", Citizen.pin.not_in(select(Account.pin)), ages=(20, 60)),
        lambda c: picker.lasting_card(c.pin)
        and 2 in accounts.eligible_levels(session, c, now=ctx.now))
    table["account_pin"] = account.pin
    return dict(sorted(table.items()))


def _life_events(picker: _Picker, table: dict[str, str]) -> None:
    """A person (or couple) for each life-event example of app/schemas/events.py, tried with the
    example's own other fields (its dates, names, reasons)."""
    session, accepted = picker.session, picker.accepted
    single = Citizen.marital_status != life_events.MARRIED
    father, mother = picker.first("births", picker.couples("births", (22, 38)), lambda couple:
        accepted("births", father_pin=couple[0].pin, mother_pin=couple[1].pin,
                 surname=couple[0].surname))
    table |= {"birth_mother_pin": mother.pin, "birth_father_pin": father.pin,
              "birth_surname": father.surname}
    husband, wife = picker.first("divorces", picker.couples("divorces", (30, 55)), lambda couple:
        accepted("divorces", pin=couple[0].pin, spouse_pin=couple[1].pin))
    table |= {"divorce_pin": husband.pin, "divorce_spouse_pin": wife.pin}
    men = picker.candidates("marriages", Citizen.sex == "M", single, ages=(24, 34))
    women = picker.candidates("marriages", Citizen.sex == "F", single, ages=(22, 32))
    husband, wife = picker.first("marriages", zip(men, women, strict=False), lambda couple:
        accepted("marriages", husband_pin=couple[0].pin, wife_pin=couple[1].pin))
    table |= {"marriage_husband_pin": husband.pin, "marriage_wife_pin": wife.pin}
    table["death_pin"] = picker.first("deaths", picker.candidates("deaths", single, ages=(60, 90)),
                                      lambda c: accepted("deaths", pin=c.pin)).pin
    moving, commune = picker.first("residence-changes", (
        (c, _nearby_commune(session, c.pin)) for c in picker.candidates("residence-changes")),
        lambda pair: pair[1] is not None and accepted(
            "residence-changes", pin=pair[0].pin, commune_code=pair[1]))
    table |= {"residence_pin": moving.pin, "residence_commune_code": commune}
    table["name_change_pin"] = picker.first("name-changes", picker.candidates("name-changes"),
                                            lambda c: accepted("name-changes", pin=c.pin)).pin
    table["card_change_pin"] = picker.first(
        "card-changes", picker.candidates("card-changes"), lambda c: picker.lasting_card(c.pin)
        and accepted("card-changes", pin=c.pin)).pin
    old, corrected = picker.first("pin-reestablishments", (
        (c, _corrected_birth_date(c.birth_date))
        for c in picker.candidates("pin-reestablishments")),
        lambda pair: accepted("pin-reestablishments", pin=pair[0].pin, birth_date=pair[1]))
    table |= {"pin_reestablishment_pin": old.pin,
              "pin_reestablishment_birth_date": corrected.isoformat()}


def _nearby_commune(session: Session, pin: str) -> str | None:
    """Another commune of the province of the citizen's permanent residence (the first by code)."""
    code = _commune_of(session, pin)
    here = None if code is None else session.get(Commune, code)
    if here is None:
        return None
    return session.scalar(select(Commune.code).where(
        Commune.province_code == here.province_code, Commune.code != here.code)
        .order_by(Commune.code))


def _corrected_birth_date(born: date) -> date:
    """The birth year mis-recorded by one (as the ``pin-reestablished`` persona's)."""
    return date(born.year + (1 if born.year < 1999 else -1), born.month, min(born.day, 28))


def save(table: dict[str, str]) -> None:
    """Write the table where :mod:`app.schemas.examples` reads it (in a checkout: the repo)."""
    examples.PATH.write_text(json.dumps(table, ensure_ascii=False, indent=2) + "\n", "utf-8")


def refresh(url: str, *, now: datetime | None = None) -> dict[str, str]:
    """Build a default deployment at ``url`` (an empty database), run its start-up steps and
    pick the example table."""
    from app.bootstrap import bootstrap

    settings, database = default_deployment(url)
    try:
        clock = SandboxClock()
        settings = bootstrap(database=database, settings=settings, clock=clock)
        with database.write() as session:
            return pick(session, personas.context(database, settings, now=now or clock.now()),
                        settings)
    finally:
        database.dispose()
