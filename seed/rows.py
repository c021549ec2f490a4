"""Turn the people of a batch into table rows: household, citizen, residence, family_relation."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
from numpy.dtypes import StringDType

from app.matching import CLAN_LAST_ETHNICITIES
from seed import culture, marks, naming, places
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
        "citizen": citizens,
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
    communes = d.home.commune[:size]
    commune = digits(ctx.tables.communes.code[communes], 5)
    ward = d.home.ward[:size]
    rows = Rows()
    rows.add("id", ids)
    rows.add("head_pin", d.pin[people.homes.head])
    rows.add("residence_file_number", np.strings.add(np.strings.add(commune, "-"), digits(ids, 9)))
    rows.add_keyed("commune_code", communes, lambda u: digits(ctx.tables.communes.code[u], 5))
    rows.add("address_line", d.lines[:size])
    rows.add_keyed("legacy_commune_code", np.maximum(ward, 0),
                   lambda u: digits(ctx.tables.wards.code[u], 5), ward < 0)
    rows.add_keyed("registered_on", d.registered, iso_dates)
    return rows


def _citizens(ctx: Context, index: int, people: People, d: Derived,
              births: places.BirthPlaces, birth_year: np.ndarray) -> Rows:
    """Citizen rows in PIN order: per-person arrays are drawn in person order, then permuted
    while still numbers (permuting numpy string arrays is slow), then turned into text."""
    rng = stream(ctx.seed, index, "citizen")
    t, v, homes = ctx.tables, people.vitals, people.homes
    ethnicity, religion = ethnicity_and_religion(ctx, index, people, births)
    tokens = names_of(ctx, index, people, births, ethnicity)
    origin = culture.inherit(places.origin_communes(rng, t, births), lineage(people), rng,
                             spouse_share=0.0)
    status, status_day = _life_status(rng, ctx, people)
    contact = _contact_columns(rng, ctx, people, births, birth_year, tokens)
    o = np.argsort(d.pin_number, kind="stable")
    model = name_model()
    names = naming.NameTokens(tokens.surname[o], tokens.middle1[o], tokens.middle2[o],
                              tokens.given[o])
    member = homes.unit[o] >= 0
    commune_codes = digits(t.communes.code, 5)
    rows = Rows()
    rows.add("pin", digits(d.pin_number[o], 12))
    rows.add_keyed("surname", names.surname, lambda u: model.words[u])
    rows.add_keyed("middle_name", naming.middle_key(names),
                   lambda u: naming.middle_strings(model, u))
    rows.add_keyed("given_name", names.given, lambda u: model.words[u])
    clan_last = np.isin(ethnicity[o], list(CLAN_LAST_ETHNICITIES))
    rows.add("name_folded", naming.folded_names(model, names, clan_last=clan_last))
    rows.add_keyed("birth_date", v.birth[o], iso_dates)
    rows.add_keyed("birth_date_precision", v.precision[o], lambda u: PRECISION_NAMES[u])
    rows.add_keyed("sex", v.sex[o], lambda u: np.where(u == FEMALE, "F", "M"))
    place = births.commune[o]
    rows.add_keyed("birth_place_commune", np.maximum(place, 0), lambda u: commune_codes[u],
                   place < 0)
    rows.add_keyed("birth_registration_place", births.place_code[o], lambda u: digits(u, 3))
    rows.add_keyed("origin_commune", origin[o], lambda u: commune_codes[u])
    rows.add("ethnicity_code", ethnicity[o].astype(np.int64))
    rows.add("religion_code", religion[o].astype(np.int64))
    rows.add_keyed("nationality", np.zeros(len(v), dtype=np.int64), lambda u: np.array(["VN"]))
    for name, (values, null) in contact.items():
        rows.add(name, values[o], null[o])
    rows.add("marital_status", people.status[o].astype(np.int64))
    rows.add_keyed("status", status[o], lambda u: STATUS_NAMES[u])
    day = status_day[o]
    rows.add_keyed("status_date", np.maximum(day, 0), iso_dates, day < 0)
    rows.add("household_id", ctx.household_ids + np.maximum(homes.unit[o], 0), ~member)
    rows.add("relationship_to_head", homes.relationship[o].astype(np.int64), ~member)
    mark, no_mark = marks.draw_marks(stream(ctx.seed, index, "marks"), age=people.age)
    rows.add_keyed("identifying_marks", mark[o], marks.mark_texts, no_mark[o])
    return rows


STATUS_NAMES = np.array(["alive", "missing", "deceased"])


def _life_status(rng: np.random.Generator, ctx: Context,
                 people: People) -> tuple[np.ndarray, np.ndarray]:
    """(index into STATUS_NAMES, day of death or of being declared missing, else -1)."""
    v, age = people.vitals, people.age
    ref = ctx.clock.ref_day
    missing = rng.random(len(v)) < ctx.demography["missing_share"]
    missing &= v.alive & (age >= 18) & (age <= 70)
    since = np.maximum(v.birth + int(18 * DAYS_PER_YEAR) + 1, ref - int(5 * DAYS_PER_YEAR))
    declared = since + (rng.random(len(v)) * (ref - since)).astype(np.int64)
    status = np.where(v.alive, missing.astype(np.int64), 2)
    day = np.where(~v.alive, v.death, np.where(missing, declared, -1))
    return status, day


def _contact_columns(rng: np.random.Generator, ctx: Context, people: People,
                     births: places.BirthPlaces, birth_year: np.ndarray,
                     tokens: naming.NameTokens) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Blood group, old CMND number, mobile number and e-mail: (values, NULL mask) each."""
    v, age, demo = people.vitals, people.age, ctx.demography
    n = len(v)
    blood = v.alive & (rng.random(n) < demo["blood_group_share"])
    cmnd = (birth_year <= demo["cmnd"]["born_until"]) & (rng.random(n) < demo["cmnd"]["share"])
    legacy = np.where(births.legacy_province >= 0, births.legacy_province,
                      ctx.tables.current_as_legacy[births.home_province])
    number = np.zeros(n, dtype=np.int64)
    number[cmnd] = ctx.ids.cmnd_numbers(ctx.tables.legacy.cmnd_prefix[legacy[cmnd]])
    share = np.select([age < demo["phone"]["min_age"], age < 15, age < 70], [0.0, 0.3, 0.88], 0.6)
    has_phone = v.alive & (rng.random(n) < share)
    phone = np.full(n, "", dtype=StringDType())
    phone[has_phone] = ctx.ids.phones(rng, ctx.phone_weights, int(has_phone.sum()))
    email_share = np.select([age < 18, age <= 50], [0.0, demo["email"]["share_18_50"]],
                            demo["email"]["share_51_plus"])
    has_email = v.alive & (rng.random(n) < email_share)
    return {"blood_group": (_blood_groups(rng, ctx, n), ~blood),
            "cmnd_number": (digits(number, 9), ~cmnd),
            "phone": (phone, ~has_phone),
            "email": (_emails(rng, ctx, tokens, has_email), ~has_email)}


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
