"""Distributions of a generated population, next to the reference shares it was drawn from.

Portable SQL (SQLite and PostgreSQL): ages are bucketed with date comparisons against the
population's fixed reference date, so the figures do not move with the wall clock.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import Connection, and_, case, exists, func, or_, select

from app.matching import CLAN_LAST_ETHNICITIES
from app.models.card import Card
from app.models.population import Citizen, Commune, Household, PopulationRun, Residence
from seed.reference import read_csv, read_json
from seed.tables import build_tables

BANDS = [b["band"] for b in read_json("demography.json")["age_pyramid"]]
NAME_COHORTS = read_json("names.json")["structure"]["cohorts"]  # first birth year of each cohort
CLASSIC_MIDDLE = {"M": "Văn", "F": "Thị"}
MERGER = date(2025, 7, 1)


@dataclass
class PopulationStats:
    reference_date: date
    seed: int
    people: int  # all records
    living: int  # alive or missing
    pyramid: dict[tuple[int, str], int] = field(default_factory=dict)  # (band, sex) -> living
    surnames: list[tuple[str, int]] = field(default_factory=list)
    provinces: Counter = field(default_factory=Counter)  # living, by permanent residence
    ethnicities: Counter = field(default_factory=Counter)
    religions: Counter = field(default_factory=Counter)
    marital: Counter = field(default_factory=Counter)  # living, aged 15 and over
    status: Counter = field(default_factory=Counter)
    households: int = 0
    household_members: int = 0
    # Kinh, all records: (name cohort, sex) -> people, and of them with Văn (men) / Thị (women)
    # as the last middle name
    classic_middle: dict[tuple[int, str], tuple[int, int]] = field(default_factory=dict)
    # what records and cards show as of their dates (docs/population.md, "Records as of a date")
    as_of: dict[str, int] = field(default_factory=dict)

    def band_share(self, band: int) -> float:
        return sum(self.pyramid.get((band, s), 0) for s in "MF") / max(self.living, 1)

    def sex_ratio(self, band: int | None = None) -> float:
        """Men per 100 women among the living (in one band, or overall)."""
        bands = range(len(BANDS)) if band is None else [band]
        men = sum(self.pyramid.get((b, "M"), 0) for b in bands)
        women = sum(self.pyramid.get((b, "F"), 0) for b in bands)
        return 100 * men / women if women else 0.0


def _years_before(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:
        return day.replace(year=day.year - years, day=28)


def _band(reference: date):
    """0 for ages 0-4, 1 for 5-9, ... the last band open-ended."""
    whens = [(Citizen.birth_date > _years_before(reference, 5 * (k + 1)), k)
             for k in range(len(BANDS) - 1)]
    return case(*whens, else_=len(BANDS) - 1)


def collect(connection: Connection, *, top: int = 15) -> PopulationStats:
    run = connection.execute(select(PopulationRun.reference_date, PopulationRun.seed)).first()
    reference, seed = (run[0], run[1]) if run else (date.today(), -1)
    living = Citizen.status != "deceased"
    stats = PopulationStats(reference_date=reference, seed=seed, people=0, living=0)
    stats.status = Counter(dict(connection.execute(
        select(Citizen.status, func.count()).group_by(Citizen.status)).all()))
    stats.people = sum(stats.status.values())
    stats.living = stats.people - stats.status.get("deceased", 0)
    band = _band(reference)
    rows = connection.execute(select(band, Citizen.sex, func.count()).where(living)
                              .group_by(band, Citizen.sex)).all()
    stats.pyramid = {(int(b), s): n for b, s, n in rows}
    stats.surnames = [tuple(r) for r in connection.execute(
        select(Citizen.surname, func.count()).group_by(Citizen.surname)
        .order_by(func.count().desc(), Citizen.surname).limit(top)).all()]
    stats.provinces = Counter(dict(connection.execute(
        select(Commune.province_code, func.count())
        .select_from(Citizen).join(Household, Household.id == Citizen.household_id)
        .join(Commune, Commune.code == Household.commune_code)
        .where(living).group_by(Commune.province_code)).all()))
    for attr, column in (("ethnicities", Citizen.ethnicity_code),
                         ("religions", Citizen.religion_code)):
        setattr(stats, attr, Counter(dict(connection.execute(
            select(column, func.count()).where(living).group_by(column)).all())))
    stats.classic_middle = _classic_middle(connection)
    stats.as_of = _as_of(connection)
    stats.households = connection.execute(select(func.count()).select_from(Household)).scalar_one()
    stats.household_members = connection.execute(
        select(func.count()).where(Citizen.household_id.is_not(None))).scalar_one()
    adult = Citizen.birth_date <= _years_before(reference, 15)
    stats.marital = Counter(dict(connection.execute(
        select(Citizen.marital_status, func.count()).where(living, adult)
        .group_by(Citizen.marital_status)).all()))
    return stats


def _classic_middle(connection: Connection) -> dict[tuple[int, str], tuple[int, int]]:
    cohort = case(*[(Citizen.birth_date < date(year, 1, 1), k - 1)
                    for k, year in enumerate(NAME_COHORTS) if k], else_=len(NAME_COHORTS) - 1)
    out: dict[tuple[int, str], tuple[int, int]] = {}
    for sex, word in CLASSIC_MIDDLE.items():
        classic = (Citizen.middle_name == word) | Citizen.middle_name.like(f"% {word}")
        rows = connection.execute(
            select(cohort, func.count(), func.sum(case((classic, 1), else_=0)))
            .where(Citizen.ethnicity_code == 1, Citizen.sex == sex).group_by(cohort)).all()
        out |= {(int(k), sex): (int(n), int(with_word or 0)) for k, n, with_word in rows}
    return out


def _count(connection: Connection, table, *where) -> int:  # type: ignore[no-untyped-def]
    return int(connection.execute(select(func.count()).select_from(table).where(*where))
               .scalar_one())


def _as_of(connection: Connection) -> dict[str, int]:
    """Counts of the rules that keep records as of their dates; the ``*_broken`` ones must be 0."""
    in_force = exists().where(Residence.pin == Card.pin, Residence.registered_on <= Card.issue_date,
                              or_(Residence.deregistered_on.is_(None),
                                  Residence.deregistered_on > Card.issue_date))
    # a cancelled PIN's records moved to the re-established one (its cards stay under the old)
    kept = exists().where(Citizen.pin == Card.pin, Citizen.status != "replaced")
    ended = and_(Residence.kind == "permanent", Residence.deregistered_on.is_not(None),
                 exists().where(Citizen.pin == Residence.pin, Citizen.status != "deceased"))
    return {
        "cards": _count(connection, Card),
        "cards_without_residence_in_force_broken": _count(connection, Card, ~in_force, kept),
        "cards_issued_before_merger": _count(connection, Card, Card.issue_date < MERGER),
        "registrations_before_merger_without_ward_broken": _count(
            connection, Residence, Residence.registered_on < MERGER,
            Residence.legacy_commune_code.is_(None)),
        "permanent_residences_ended_by_a_move": _count(connection, Residence, ended),
        "birth_date_year_only": _count(connection, Citizen, Citizen.birth_date_precision == "year"),
        "birth_date_month_year": _count(connection, Citizen,
                                        Citizen.birth_date_precision == "month"),
        "names_written_clan_last": _count(
            connection, Citizen, Citizen.ethnicity_code.in_(sorted(CLAN_LAST_ETHNICITIES))),
    }


def reference_shares() -> dict[str, dict]:
    """The shares the generator draws from, for side-by-side display and tests."""
    demography = read_json("demography.json")
    pyramid = demography["age_pyramid"]
    total = sum(b["percent"] for b in pyramid)
    tables = build_tables()
    ethnic = {int(r["code"]): int(r["population_2019"]) for r in read_csv("ethnicities.csv")}
    ethnic_total = sum(ethnic.values())
    structure = read_json("names.json")["structure"]
    return {
        "pyramid": {k: b["percent"] / total for k, b in enumerate(pyramid)},
        "sex_ratio": {k: float(b["sex_ratio"]) for k, b in enumerate(pyramid)},
        "provinces": {f"{code:03d}": float(share) for code, share
                      in zip(tables.provinces.code, tables.provinces.share, strict=True)},
        "ethnicities": {code: n / ethnic_total for code, n in ethnic.items()},
        "religions": {int(r["code"]): float(r["percent_2019"]) / 100
                      for r in read_csv("religions.csv")},
        "classic_middle": {(k, sex): share for sex, key in (("M", "van"), ("F", "thi"))
                           for k, share in enumerate(structure[key])},
    }
