"""Residences (Law on Residence 2020): permanent for everyone, temporary and current for movers.

Everyone alive has a permanent residence at their household's address (the deceased keep theirs,
deregistered on the day of death). A share of working-age adults also hold a temporary residence
elsewhere, valid for at most two years, which is also their current place of living. Registrations
made before 2025-07-01 keep the address text as it was written then (ward, district, province).
"""

from __future__ import annotations

import numpy as np
from numpy.dtypes import StringDType

from seed.addresses import address_lines, legacy_text
from seed.batch import Context, Derived, People
from seed.columns import Rows, digits, iso_dates
from seed.rng import DAYS_PER_YEAR, choice


def residence_rows(ctx: Context, rng: np.random.Generator, people: People, d: Derived) -> Rows:
    parts = [_permanent_alive(people, d), _permanent_dead(rng, people, d)]
    parts += _moved(rng, ctx, people, d)
    merged = {key: np.concatenate([p[key] for p in parts]) for key in parts[0]}
    t = ctx.tables
    ward = merged["ward"]
    legacy = (merged["registered"] < ctx.merger_day) & (ward >= 0)
    rows = Rows()
    rows.add("id", ctx.residence_ids + np.arange(len(ward), dtype=np.int64))
    rows.add("pin", d.pin[merged["person"]])
    rows.add("kind", merged["kind"])
    rows.add("commune_code", digits(t.communes.code[merged["commune"]], 5))
    rows.add("address_line", merged["line"])
    rows.add("legacy_address", legacy_text(merged["line"], ward), ~legacy)
    rows.add("registered_on", iso_dates(merged["registered"]))
    until = merged["valid_until"]
    rows.add("valid_until", iso_dates(np.maximum(until, 0)), until < 0)
    rows.add("deregistered_on", iso_dates(np.maximum(merged["deregistered"], 0)),
             merged["deregistered"] < 0)
    return rows.ordered_by(d.pin_number[merged["person"]], fixed="id")


def _part(person: np.ndarray, kind: str, commune: np.ndarray, line: np.ndarray, ward: np.ndarray,
          registered: np.ndarray, valid_until: np.ndarray | None = None,
          deregistered: np.ndarray | None = None) -> dict[str, np.ndarray]:
    n = len(person)
    none = np.full(n, -1, dtype=np.int64)
    return {"person": person, "kind": np.full(n, kind, dtype=StringDType()), "commune": commune,
            "line": line, "ward": ward, "registered": registered,
            "valid_until": none if valid_until is None else valid_until,
            "deregistered": none if deregistered is None else deregistered}


def _permanent_alive(people: People, d: Derived) -> dict[str, np.ndarray]:
    who = np.flatnonzero(people.vitals.alive)
    home = d.home_of[who]
    registered = np.maximum(people.vitals.birth[who], d.registered[people.homes.unit[who]])
    return _part(who, "permanent", d.home.commune[home], d.lines[home], d.home.ward[home],
                 registered)


def _permanent_dead(rng: np.random.Generator, people: People, d: Derived) -> dict[str, np.ndarray]:
    v = people.vitals
    who = np.flatnonzero(~v.alive)
    home = d.home_of[who]
    lived = np.minimum(v.death[who] - v.birth[who], int(20 * DAYS_PER_YEAR))
    registered = v.death[who] - 1 - (rng.random(len(who)) * (lived - 1)).astype(np.int64)
    return _part(who, "permanent", d.home.commune[home], d.lines[home], d.home.ward[home],
                 np.maximum(registered, v.birth[who]), deregistered=v.death[who])


def _moved(rng: np.random.Generator, ctx: Context, people: People,
           d: Derived) -> list[dict[str, np.ndarray]]:
    """Temporary residence and the matching current place of living."""
    v, t = people.vitals, ctx.tables
    params = ctx.demography["temporary_residence"]
    who = np.flatnonzero(v.alive & (people.age >= 18) & (people.age <= 45) &
                         (rng.random(len(v)) < params["share_18_45"]))
    province = choice(rng, t.provinces.migration_pull, len(who))
    commune = t.sample_commune(province, rng.random(len(who)))
    wards = t.communes.legacy_wards
    ward = np.where(wards.count[commune] > 0, wards.pick(commune, rng.random(len(who))), -1)
    line = address_lines(rng, t, commune)
    registered = ctx.clock.ref_day - rng.integers(1, params["max_days"] - 30, len(who))
    until = registered + params["max_days"]
    return [_part(who, "temporary", commune, line, ward, registered, valid_until=until),
            _part(who, "current", commune, line, ward, registered)]
