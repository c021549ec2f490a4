"""The people of one batch: who they are, whom they married, whose children they are.

A batch is self-contained (every household and family link stays inside it) and drawn from streams
seeded by (seed, batch index); only identifier counters and row ids carry over between batches.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

import numpy as np

from seed import culture, naming, places
from seed.children import children_and_mothers, husband_of, match_parents
from seed.households import CHILD, HEAD, WARD, WIFE, Households, build_households
from seed.identifiers import Identifiers, phone_table
from seed.marriage import (
    Couples,
    marital_status,
    pair_living,
    pair_with_deceased,
    settle_unpaired,
    shuffled,
)
from seed.naming import name_model
from seed.reference import read_json
from seed.rng import DAYS_PER_YEAR, stream
from seed.tables import Tables, build_tables
from seed.vitals import AgeClock, Vitals, day_number, sample_vitals

MERGER = date(2025, 7, 1)


@dataclass
class Context:
    """What every batch needs: parameters, compiled tables and the carried-over counters."""

    seed: int
    reference_date: date
    tables: Tables = field(default_factory=build_tables)
    demography: dict[str, Any] = field(default_factory=lambda: read_json("demography.json"))
    codes: dict[str, Any] = field(default_factory=lambda: read_json("codes.json"))
    household_ids: int = 1
    residence_ids: int = 1
    relation_ids: int = 1

    def __post_init__(self) -> None:
        self.clock = AgeClock(self.reference_date)
        self.merger_day = day_number(MERGER)
        prefixes, self.phone_weights = phone_table(self.codes)
        self.ids = Identifiers(seed=self.seed, phone_prefixes=prefixes)


@dataclass
class People:
    """Everything known about the people of a batch while it is being built (index = person)."""

    vitals: Vitals
    age: np.ndarray  # at the reference date, or at death
    status: np.ndarray  # marital status code
    couples: Couples
    late: Couples
    mother: np.ndarray
    father: np.ndarray
    homes: Households


@dataclass
class Derived:
    """Per-person values computed once and shared by several tables."""

    pin: np.ndarray  # 12-digit strings
    pin_number: np.ndarray  # the same as int64 (sort key)
    home: places.HomePlaces  # households' homes, then the deceased's last homes
    home_of: np.ndarray  # home index per person
    lines: np.ndarray  # address line per home
    registered: np.ndarray  # day each household registered at its address


def build_people(ctx: Context, index: int, size: int) -> People:
    d = ctx.demography
    rng = stream(ctx.seed, index, "vitals")
    vitals = sample_vitals(rng, size, clock=ctx.clock, demography=d)
    age = np.where(vitals.alive, ctx.clock.age(vitals.birth),
                   ((vitals.death - vitals.birth) / DAYS_PER_YEAR).astype(np.int64))
    rng = stream(ctx.seed, index, "marriage")
    as_of = np.where(vitals.alive, ctx.clock.ref_day, vitals.death)
    status = marital_status(rng, vitals, age, d["marital"], as_of=as_of)
    couples = pair_living(rng, vitals, age, status, d["marriage"], ctx.clock.ref_day)
    couples = shuffled(rng, couples)
    late = pair_with_deceased(rng, vitals, status, d["marriage"], d["deaths"]["married_at_death"])
    settle_unpaired(status, vitals, [couples, late])
    husband = husband_of(size, [couples, late])
    rng = stream(ctx.seed, index, "children")
    children, mothers = children_and_mothers(rng, vitals, age, status, husband, d["children"])
    parentage = match_parents(rng, vitals, age, children, mothers, husband, d["children"])
    rng = stream(ctx.seed, index, "households")
    homes = build_households(rng, vitals, age, status, couples, late, parentage.mother,
                             parentage.father, parentage.unplaced, d["households"], d["children"])
    return People(vitals, age, status, couples, late, parentage.mother, parentage.father, homes)


def lineage(people: People, *, lineal_parent: np.ndarray | None = None) -> culture.Lineage:
    """Inheritance order: adults from their parents, wives from husbands, children from parents."""
    role, mother, father = people.homes.role, people.mother, people.father
    parent = np.where(father >= 0, father, mother) if lineal_parent is None else lineal_parent
    has_parent = parent >= 0
    adult_child = np.flatnonzero(has_parent & np.isin(role, (HEAD, WIFE)))
    child = np.flatnonzero(has_parent & (role == CHILD))
    c = people.couples
    without_parents = (mother[c.wife] < 0) & (father[c.wife] < 0)
    return culture.Lineage(adult_child=adult_child, adult_parent=parent[adult_child],
                           wife=c.wife[without_parents], husband=c.husband[without_parents],
                           child=child, parent=parent[child])


def places_of(ctx: Context, index: int, people: People) -> tuple[places.HomePlaces, np.ndarray,
                                                                   places.BirthPlaces]:
    """Homes of households (then of the deceased), each person's home index, birth places."""
    rng = stream(ctx.seed, index, "places")
    v, homes = people.vitals, people.homes
    dead = np.flatnonzero(~v.alive)
    home = places.home_places(rng, ctx.tables, homes.size + len(dead))
    home_of = homes.unit.copy()
    home_of[dead] = homes.size + np.arange(len(dead))
    local = np.isin(homes.role, (CHILD, WARD)) | (people.age < 18)
    births = places.birth_places(rng, ctx.tables, home=home, home_of_person=home_of,
                                 birth=v.birth, adult=~local, merger_day=ctx.merger_day,
                                 params=ctx.demography)
    return home, home_of, births


def ethnicity_and_religion(ctx: Context, index: int, people: People,
                           births: places.BirthPlaces) -> tuple[np.ndarray, np.ndarray]:
    rng = stream(ctx.seed, index, "culture")
    t = ctx.tables
    origin = np.where(births.legacy_province >= 0,
                      t.legacy.current[np.maximum(births.legacy_province, 0)], births.home_province)
    family = lineage(people)
    marriage = ctx.demography["marriage"]
    ethnicity = culture.inherit(culture.ethnicity_codes(rng, t, origin), family, rng,
                                spouse_share=marriage["same_ethnicity"])
    religion = culture.inherit(culture.religion_codes(rng, t, origin, ethnicity), family, rng,
                               spouse_share=marriage["same_religion"],
                               child_share=ctx.demography["children"]["inherit_religion"])
    return ethnicity, religion


def names_of(ctx: Context, index: int, people: People, births: places.BirthPlaces,
             ethnicity: np.ndarray) -> naming.NameTokens:
    rng = stream(ctx.seed, index, "names")
    model = name_model()
    region = places.region_of(ctx.tables, births)
    own = naming.family_tokens(rng, model, ethnicity=ethnicity, region=region)
    mother, father = people.mother, people.father
    m = np.maximum(mother, 0)
    matrilineal = np.isin(ethnicity, list(model.matrilineal)) & (mother >= 0) & \
        (ethnicity[m] == ethnicity)
    parent = np.where(matrilineal, mother, np.where(father >= 0, father, mother))
    family = culture.inherit(own, lineage(people, lineal_parent=parent), rng, spouse_share=0.0)
    kinh_mother = (mother >= 0) & (model.pattern_of_ethnicity[ethnicity[m]] == 0)
    birth_year = people.vitals.birth_year
    return naming.personal_tokens(rng, model, family=family, sex=people.vitals.sex,
                                  birth_year=birth_year, ethnicity=ethnicity, region=region,
                                  mother_family=np.where(kinh_mother, family[m], 0))
