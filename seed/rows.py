"""Turn the people of a batch into table rows: household, citizen, residence, family_relation."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
from numpy.dtypes import StringDType

from seed import culture, naming, places
from seed.addresses import address_lines
from seed.batch import (
    Context,
    Derived,
    People,
    build_people,
    ethnicity_and_religion,
    lineage,
    names_of,
    places_of,
)
from seed.columns import Rows, digits, iso_dates
from seed.naming import name_model
from seed.relations import relation_rows
from seed.residences import residence_rows
from seed.rng import DAYS_PER_YEAR, choice, stream
from seed.vitals import FEMALE, PRECISION_NAMES, day_number

TABLES = ("household", "citizen", "residence", "family_relation")


@dataclass
class Batch:
    index: int
    people: int
    tables: dict[str, Rows]


def generate_batch(ctx: Context, index: int, size: int) -> Batch:
    people = build_people(ctx, index, size)
    rows = batch_rows(ctx, index, people)
    ctx.household_ids += people.homes.size
    ctx.residence_ids += len(rows["residence"])
    ctx.relation_ids += len(rows["family_relation"])
    return Batch(index=index, people=size, tables=rows)


def batch_rows(ctx: Context, index: int, people: People) -> dict[str, Rows]:
    home, home_of, births = places_of(ctx, index, people)
    v = people.vitals
    birth_year = v.birth_year
    number = ctx.ids.pins(place=births.place_code, birth_year=birth_year, sex=v.sex)
    rng = stream(ctx.seed, index, "homes")
    lines = address_lines(rng, ctx.tables, home.commune)
    registered = _household_registration(rng, ctx, people)
    derived = Derived(pin=digits(number, 12), pin_number=number, home=home, home_of=home_of,
                      lines=lines, registered=registered)
    citizens = _citizens(ctx, index, people, derived, births, birth_year)
    return {
        "household": _households(ctx, people, derived),
        "citizen": citizens.ordered_by(number),  # in PIN order: see Rows.ordered_by
        "residence": _residences(ctx, index, people, derived),
        "family_relation": _relations(ctx, index, people, derived),
    }


def _household_registration(rng: np.random.Generator, ctx: Context, people: People) -> np.ndarray:
    """When each household registered at its address: after the head came of age."""
    head_birth = people.vitals.birth[people.homes.head]
    earliest = np.maximum(head_birth + int(18 * DAYS_PER_YEAR), day_number(date(1990, 1, 1)))
    earliest = np.minimum(earliest, ctx.clock.ref_day - 1)
    span = ctx.clock.ref_day - earliest
    return earliest + (rng.random(len(earliest)) * span).astype(np.int64)


def _households(ctx: Context, people: People, d: Derived) -> Rows:
    size = people.homes.size
    ids = ctx.household_ids + np.arange(size, dtype=np.int64)
    commune = digits(ctx.tables.communes.code[d.home.commune[:size]], 5)
    ward = d.home.ward[:size]
    rows = Rows()
    rows.add("id", ids)
    rows.add("head_pin", d.pin[people.homes.head])
    rows.add("residence_file_number", np.strings.add(np.strings.add(commune, "-"), digits(ids, 9)))
    rows.add("commune_code", commune)
    rows.add("address_line", d.lines[:size])
    rows.add("legacy_commune_code", digits(ctx.tables.wards.code[np.maximum(ward, 0)], 5), ward < 0)
    rows.add("registered_on", iso_dates(d.registered))
    return rows


def _citizens(ctx: Context, index: int, people: People, d: Derived,
              births: places.BirthPlaces, birth_year: np.ndarray) -> Rows:
    rng = stream(ctx.seed, index, "citizen")
    t, v, homes = ctx.tables, people.vitals, people.homes
    ethnicity, religion = ethnicity_and_religion(ctx, index, people, births)
    tokens = names_of(ctx, index, people, births, ethnicity)
    surname, middle, given, folded = naming.name_strings(name_model(), tokens)
    origin = culture.inherit(places.origin_communes(rng, t, births), lineage(people), rng,
                             spouse_share=0.0)
    status, status_day = _life_status(rng, ctx, people)
    member = homes.unit >= 0
    rows = Rows()
    rows.add("pin", d.pin)
    rows.add("surname", surname)
    rows.add("middle_name", middle)
    rows.add("given_name", given)
    rows.add("name_folded", folded)
    rows.add("birth_date", iso_dates(v.birth))
    rows.add("birth_date_precision", PRECISION_NAMES[v.precision].astype(StringDType()))
    rows.add("sex", np.where(v.sex == FEMALE, "F", "M").astype(StringDType()))
    rows.add("birth_place_commune", digits(t.communes.code[np.maximum(births.commune, 0)], 5),
             births.commune < 0)
    rows.add("birth_registration_place", digits(births.place_code, 3))
    rows.add("origin_commune", digits(t.communes.code[origin], 5))
    rows.add("ethnicity_code", ethnicity.astype(np.int64))
    rows.add("religion_code", religion.astype(np.int64))
    rows.add("nationality", np.full(len(v), "VN", dtype=StringDType()))
    _contact_columns(rows, rng, ctx, people, d, births, birth_year, tokens)
    rows.add("marital_status", people.status.astype(np.int64))
    rows.add("status", status)
    rows.add("status_date", iso_dates(np.maximum(status_day, 0)), status_day < 0)
    hh_id = ctx.household_ids + np.maximum(homes.unit, 0)
    rows.add("household_id", hh_id.astype(np.int64), ~member)
    rows.add("relationship_to_head", homes.relationship.astype(np.int64), ~member)
    return rows


def _life_status(rng: np.random.Generator, ctx: Context,
                 people: People) -> tuple[np.ndarray, np.ndarray]:
    v, age = people.vitals, people.age
    ref = ctx.clock.ref_day
    missing = rng.random(len(v)) < ctx.demography["missing_share"]
    missing &= v.alive & (age >= 18) & (age <= 70)
    since = np.maximum(v.birth + int(18 * DAYS_PER_YEAR) + 1, ref - int(5 * DAYS_PER_YEAR))
    declared = since + (rng.random(len(v)) * (ref - since)).astype(np.int64)
    status = np.where(v.alive, np.where(missing, "missing", "alive"), "deceased")
    status = status.astype(StringDType())
    day = np.where(~v.alive, v.death, np.where(missing, declared, -1))
    return status, day


def _contact_columns(rows: Rows, rng: np.random.Generator, ctx: Context, people: People,
                     d: Derived, births: places.BirthPlaces, birth_year: np.ndarray,
                     tokens: naming.NameTokens) -> None:
    """Blood group, old CMND number, mobile number and e-mail, in the citizen table's order."""
    v, age, demo = people.vitals, people.age, ctx.demography
    n = len(v)
    blood = v.alive & (rng.random(n) < demo["blood_group_share"])
    rows.add("blood_group", _blood_groups(rng, ctx, n), ~blood)
    cmnd = (birth_year <= demo["cmnd"]["born_until"]) & (rng.random(n) < demo["cmnd"]["share"])
    legacy = np.where(births.legacy_province >= 0, births.legacy_province,
                      ctx.tables.current_as_legacy[births.home_province])
    number = np.zeros(n, dtype=np.int64)
    number[cmnd] = ctx.ids.cmnd_numbers(ctx.tables.legacy.cmnd_prefix[legacy[cmnd]])
    rows.add("cmnd_number", digits(number, 9), ~cmnd)
    share = np.select([age < demo["phone"]["min_age"], age < 15, age < 70], [0.0, 0.3, 0.88], 0.6)
    has_phone = v.alive & (rng.random(n) < share)
    phone = np.full(n, "", dtype=StringDType())
    phone[has_phone] = ctx.ids.phones(rng, ctx.phone_weights, int(has_phone.sum()))
    rows.add("phone", phone, ~has_phone)
    email_share = np.select([age < 18, age <= 50], [0.0, demo["email"]["share_18_50"]],
                            demo["email"]["share_51_plus"])
    has_email = v.alive & (rng.random(n) < email_share)
    rows.add("email", _emails(rng, ctx, tokens, has_email), ~has_email)


def _blood_groups(rng: np.random.Generator, ctx: Context, n: int) -> np.ndarray:
    groups = ctx.codes["blood_groups"]
    pick = choice(rng, np.array(list(groups.values()), float), n)
    abo = np.array(list(groups), dtype=StringDType())[pick]
    rh = np.where(rng.random(n) < ctx.codes["rh_negative_share"], "-", "+")
    return np.strings.add(abo, rh.astype(StringDType()))


def _emails(rng: np.random.Generator, ctx: Context, tokens: naming.NameTokens,
            wanted: np.ndarray) -> np.ndarray:
    folded = name_model().folded
    local = np.strings.add(folded[tokens.given], folded[tokens.surname])
    for junk in (" ", "'"):
        local = np.strings.replace(local, junk, "")
    domains = ctx.codes["email_domains"]
    domain = np.array(list(domains), dtype=StringDType())[
        choice(rng, np.array(list(domains.values()), float), len(local))]
    out = np.full(len(local), "", dtype=StringDType())
    serial = ctx.ids.email_serials(int(wanted.sum())).astype(StringDType())
    out[wanted] = np.strings.add(np.strings.add(np.strings.add(local[wanted], serial), "@"),
                                 domain[wanted])
    return out


def _residences(ctx: Context, index: int, people: People, d: Derived) -> Rows:
    return residence_rows(ctx, stream(ctx.seed, index, "residence"), people, d)


def _relations(ctx: Context, index: int, people: People, d: Derived) -> Rows:
    return relation_rows(ctx, stream(ctx.seed, index, "relations"), people, d)
