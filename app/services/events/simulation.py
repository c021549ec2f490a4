"""Simulation: the population keeps living. Day by day the sandbox clock moves on and births,
deaths, moves, marriages, divorces and card renewals happen at national rates scaled to the
population's size, each through the same life-event handlers as the API (same checks, same linked
changes, same events and webhooks).

Rates (docs/life-events.md gives the sources): per year for the whole country of 101.1 million
(2024 mid-term population survey) -- 1.4 M births, 0.6 M deaths, 1.28 M moves (6.4 M migrants
over five years in the 2019 census), 0.69 M marriages, 0.12 M divorces (an assumption within the
published range) -- and every card holder reaching a renewal age (25, 40, 60) renews on their
birthday with probability 0.9. Counts per day are Poisson draws; who is involved is drawn by age
(a mother's age follows the fertility schedule, a death's age the mortality profile) among the
living, through the ``birth_date`` index: a random birth date in the age band, then the first
fitting citizen born on or after it.

Deterministic: each day draws from ``Random(f"dancu-simulation/{seed}/{day}")``, so the same
database state, seed and start give the same events. Each day is one transaction; each event runs
in a savepoint, and one the rules refuse (a drawn couple that may not marry, ...) is skipped.
"""

from __future__ import annotations

import math
import random
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from pydantic import BaseModel
from sqlalchemy import exists, func, select
from sqlalchemy.orm import Session

from app.clock import SandboxClock
from app.db import Database
from app.errors import DomainError
from app.icao.dates import add_years
from app.models.card import Card
from app.models.population import Citizen, Commune, FamilyRelation, Household
from app.schemas import events as schemas
from app.services.cards.issuance import local_date
from app.services.cards.pki import CardPki
from app.services.events import feed as events
from app.services.events import life_events as le
from app.services.events.kinds import KINDS
from app.services.kit import shared_clock
from app.services.vneid import backchannel

NATIONAL_POPULATION = 101_112_656
PER_YEAR = {"births": 1_400_000, "deaths": 600_000, "moves": 1_280_000, "marriages": 690_000,
            "divorces": 120_000}
RENEWAL_AGES = (25, 40, 60)
RENEWAL_SHARE = 0.9
ACTOR = "simulation"
# (first age, last age, weight): shares of births by the mother's age, of deaths by age.
MOTHER_AGES = ((15, 19, 3), (20, 24, 22), (25, 29, 35), (30, 34, 25), (35, 39, 11), (40, 44, 3),
               (45, 49, 1))
DEATH_AGES = ((0, 4, 2), (5, 14, 1), (15, 29, 4), (30, 44, 6), (45, 59, 14), (60, 69, 17),
              (70, 79, 23), (80, 99, 33))
BIRTHS_IN_MARRIAGE = 0.85
FIRST_MARRIAGES = 0.83  # 2023: 83 % of marriages were first marriages
BOYS_PER_GIRL = 1.12


@dataclass
class Report:
    days: int = 0
    start: datetime | None = None
    end: datetime | None = None
    counts: Counter[str] = field(default_factory=Counter)
    expected: dict[str, float] = field(default_factory=dict)
    population: int = 0


Progress = Callable[[int, Counter[str]], None]


def per_day(population: int) -> dict[str, float]:
    """Expected events per day for a population of this size."""
    return {name: population * yearly / NATIONAL_POPULATION / 365.25
            for name, yearly in PER_YEAR.items()}


def poisson(rng: random.Random, mean: float) -> int:
    if mean <= 0:
        return 0
    if mean > 30:  # normal approximation; exact enough, and no long loop for big populations
        return max(0, round(rng.gauss(mean, math.sqrt(mean))))
    limit, count, product = math.exp(-mean), 0, rng.random()
    while product > limit:
        count, product = count + 1, product * rng.random()
    return count


def living(session: Session) -> int:
    return int(session.scalar(select(func.count()).select_from(Citizen)
                              .where(Citizen.status == "alive")) or 0)


# --- drawing people -------------------------------------------------------------------------------


def _band(rng: random.Random, bands: tuple[tuple[int, int, int], ...]) -> tuple[int, int]:
    first, last, _ = rng.choices(bands, weights=[w for _, _, w in bands])[0]
    return first, last


def _aged(session: Session, rng: random.Random, today: date, ages: tuple[int, int],
          *conditions: Any) -> Citizen | None:
    """A living citizen aged ``ages`` (inclusive) matching ``conditions``: the first born on or
    after a random birth date of the band (wrapping round to the band's start)."""
    oldest = add_years(today, -(ages[1] + 1)) + timedelta(days=1)
    youngest = add_years(today, -ages[0])
    target = oldest + timedelta(days=rng.randrange((youngest - oldest).days + 1))
    base = (select(Citizen).where(Citizen.status == "alive", Citizen.birth_date <= youngest,
                                  *conditions).order_by(Citizen.birth_date, Citizen.pin).limit(1))
    return (session.scalars(base.where(Citizen.birth_date >= target)).first()
            or session.scalars(base.where(Citizen.birth_date >= oldest)).first())


def _spouse(session: Session, pin: str) -> Citizen | None:
    query = (select(Citizen).join(FamilyRelation, FamilyRelation.relative_pin == Citizen.pin)
             .where(FamilyRelation.pin == pin, FamilyRelation.kind == "spouse",
                    FamilyRelation.ended_on.is_(None), Citizen.status == "alive").limit(1))
    return session.scalars(query).first()


@dataclass
class Names:
    """Child names drawn from the generator's curated lists (seed/data/names.json)."""

    middle: dict[str, list[tuple[str, float]]]
    given: dict[str, list[tuple[str, float]]]

    @classmethod
    def load(cls) -> Names:
        from seed.reference import read_json

        data = read_json("names.json")
        return cls(middle={s: list(data["middle"][s].items()) for s in ("M", "F")},
                   given={s: list(data["given"][s]["new"].items()) for s in ("M", "F")})

    def pick(self, rng: random.Random, sex: str, table: dict[str, list[tuple[str, float]]]) -> str:
        names, weights = zip(*table[sex], strict=True)
        return str(rng.choices(names, weights=weights)[0])


# --- one kind of event each -----------------------------------------------------------------------


@dataclass
class Day:
    """What one simulated day's events share."""

    session: Session
    recorder: events.Recorder
    rng: random.Random
    tools: le.Tools
    today: date
    names: Names
    communes: list[tuple[str, str]]
    streets: list[str]

    def run(self, kind: str, body: BaseModel | None) -> bool:
        """Record one event in a savepoint; ``False`` when there was nobody to draw or the rules
        refused it (its changes are rolled back)."""
        if body is None:
            return False
        try:
            with self.session.begin_nested():
                KINDS[kind].handler(self.recorder, body, self.tools)
        except DomainError:
            return False
        return True


def _birth(day: Day) -> BaseModel | None:
    married = day.rng.random() < BIRTHS_IN_MARRIAGE
    conditions = [Citizen.sex == "F", Citizen.household_id.is_not(None)]
    if married:
        conditions.append(Citizen.marital_status == le.MARRIED)
    mother = _aged(day.session, day.rng, day.today, _band(day.rng, MOTHER_AGES), *conditions)
    if mother is None:
        return None
    father = _spouse(day.session, mother.pin) if married else None
    sex = "M" if day.rng.random() < BOYS_PER_GIRL / (1 + BOYS_PER_GIRL) else "F"
    return schemas.BirthRequest(
        mother_pin=mother.pin, father_pin=father.pin if father else None,
        surname=(father or mother).surname,
        middle_name=day.names.pick(day.rng, sex, day.names.middle),
        given_name=day.names.pick(day.rng, sex, day.names.given), sex=sex, birth_date=day.today)


def _death(day: Day) -> BaseModel | None:
    deceased = _aged(day.session, day.rng, day.today, _band(day.rng, DEATH_AGES))
    return None if deceased is None else schemas.DeathRequest(pin=deceased.pin,
                                                              date_of_death=day.today)


def _address(day: Day, near: str | None) -> tuple[str, str]:
    same = [c for c, p in day.communes if p == near] if near and day.rng.random() < 0.7 else []
    code = day.rng.choice(same or [c for c, _ in day.communes])
    return code, f"{day.rng.randint(1, 300)} {day.rng.choice(day.streets)}"


def _move(day: Day) -> BaseModel | None:
    mover = _aged(day.session, day.rng, day.today, (18, 59))
    if mover is None:
        return None
    household = (day.session.get(Household, mover.household_id) if mover.household_id else None)
    province = day.session.get(Commune, household.commune_code).province_code if household else None
    commune, line = _address(day, province)
    roll = day.rng.random()
    if roll < 0.55:
        return schemas.ResidenceChangeRequest(
            pin=mover.pin, kind="temporary", commune_code=commune, address_line=line)
    if roll < 0.65:
        return schemas.ResidenceChangeRequest(
            pin=mover.pin, kind="current", commune_code=commune, address_line=line)
    whole = household is not None and household.head_pin == mover.pin
    return schemas.ResidenceChangeRequest(
        pin=mover.pin, kind="permanent", commune_code=commune, address_line=line,
        household="move_household" if whole else "new")


def _marriage(day: Day) -> BaseModel | None:
    status = (le.NEVER_MARRIED if day.rng.random() < FIRST_MARRIAGES
              else day.rng.choice((le.WIDOWED, le.DIVORCED)))
    groom = _aged(day.session, day.rng, day.today, (22, 40), Citizen.sex == "M",
                  Citizen.marital_status == status)
    bride = _aged(day.session, day.rng, day.today, (20, 36), Citizen.sex == "F",
                  Citizen.marital_status.in_((le.NEVER_MARRIED, le.WIDOWED, le.DIVORCED)))
    if groom is None or bride is None:
        return None
    return schemas.MarriageRequest(husband_pin=groom.pin, wife_pin=bride.pin,
                                   married_on=day.today)


def _divorce(day: Day) -> BaseModel | None:
    spouse = _aged(day.session, day.rng, day.today, (25, 60),
                   Citizen.marital_status == le.MARRIED)
    other = _spouse(day.session, spouse.pin) if spouse is not None else None
    if spouse is None or other is None:
        return None
    return schemas.DivorceRequest(pin=spouse.pin, spouse_pin=other.pin, divorced_on=day.today)


DRAWS: dict[str, tuple[str, Callable[[Day], BaseModel | None]]] = {
    "deaths": ("deaths", _death), "births": ("births", _birth),
    "moves": ("residence-changes", _move),
    "marriages": ("marriages", _marriage), "divorces": ("divorces", _divorce)}


def _renewals(day: Day) -> Iterator[BaseModel]:
    """Card holders reaching a renewal age today (most renew on the day)."""
    born = [add_years(day.today, -age) for age in RENEWAL_AGES]
    query = (select(Citizen.pin).where(Citizen.birth_date.in_(born), Citizen.status == "alive",
                                       exists().where(Card.pin == Citizen.pin))
             .order_by(Citizen.pin))
    for pin in list(day.session.scalars(query)):
        if day.rng.random() < RENEWAL_SHARE:
            yield schemas.CardChangeRequest(pin=pin, action="renewed", reason="renewal_age")


# --- running days ---------------------------------------------------------------------------------


def simulate_day(day: Day, population: int) -> Counter[str]:
    events.lock_feed(day.session)
    done: Counter[str] = Counter()
    for name, mean in per_day(population).items():
        kind, draw = DRAWS[name]
        done[name] += sum(day.run(kind, draw(day)) for _ in range(poisson(day.rng, mean)))
    done["card_renewals"] += sum(day.run("card-changes", body) for body in _renewals(day))
    return done


def _context(session: Session) -> tuple[list[tuple[str, str]], list[str]]:
    from seed.reference import read_json

    communes = [(c, p) for c, p in session.execute(select(Commune.code, Commune.province_code)
                                                   .order_by(Commune.code))]
    return communes, list(read_json("addresses.json")["streets"])


def _advanced(clock: SandboxClock, delta: timedelta) -> SandboxClock:
    """A copy of ``clock`` moved on by ``delta`` (the process's clock moves once, at the end)."""
    copy = SandboxClock()
    offset, frozen_at = clock.state()
    copy.restore(offset=offset, frozen_at=frozen_at)
    copy.advance(delta)
    return copy


def simulate(database: Database, *, days: int, seed: int, clock: SandboxClock,
             pki: Callable[[datetime], CardPki], logouts: backchannel.Logouts,
             progress: Progress | None = None) -> Report:
    """Simulate ``days`` days from the clock's now; then advance the clock by as much and store
    it for every process (:mod:`app.services.kit.shared_clock`). An account a day closed (a
    death) or locked (a card revoked) has its login sessions ended with the day, and the relying
    parties are told through ``logouts``, as when the API records the event."""
    start = clock.now()
    with database.read() as session:
        population, (communes, streets) = living(session), _context(session)
    report = Report(days=days, start=start, population=population, expected={
        name: mean * days for name, mean in per_day(population).items()})
    names = Names.load()
    for number in range(1, days + 1):
        now = start + timedelta(days=number)
        rng = random.Random(f"dancu-simulation/{seed}/{local_date(now).isoformat()}")
        with logouts.write(database) as session:
            day = Day(session, events.Recorder(session, now, ACTOR),
                      rng, le.Tools(rng=rng, pki=lambda now=now: pki(now)), local_date(now),
                      names, communes, streets)
            done = simulate_day(day, population)
            # The clock moves in the day's transaction: a run killed after this commit resumes
            # from the next day instead of simulating the kept days again.
            shared_clock.save(session, _advanced(clock, timedelta(days=number)))
        population += done["births"] - done["deaths"]
        report.counts.update(done)
        if progress is not None:
            progress(number, done)
    clock.advance(timedelta(days=days))
    report.end, report.population = clock.now(), population
    return report
