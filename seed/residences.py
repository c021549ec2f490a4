"""Residences (Law on Residence 2020): permanent for everyone, temporary and current for movers.

Everyone alive has a permanent residence at their household's address (the deceased keep theirs,
deregistered on the day of death). A share of working-age adults also hold a temporary residence
elsewhere, valid for at most two years, which is also their current place of living. Registrations
made before 2025-07-01 keep the legacy ward they were made in (``legacy_commune_code``): the address
as it was written then (ward, district, province) is rendered from it and the address line, not
stored (about 70 bytes a person, 7 GiB at national scale).
"""

from __future__ import annotations

import numpy as np

from seed.addresses import address_lines
from seed.batch import Context, Derived, People
from seed.columns import Rows, digits, iso_dates
from seed.rng import DAYS_PER_YEAR, choice

KINDS = np.array(["permanent", "temporary", "current"])
PERMANENT, TEMPORARY, CURRENT = range(3)


def residence_rows(ctx: Context, rng: np.random.Generator, people: People, d: Derived) -> Rows:
    """Residence rows in PIN order (sorted while still numbers; ids stay sequential)."""
    moved_lines, moved = _moved(rng, ctx, people, d, line_offset=len(d.lines))
    parts = [_permanent_alive(people, d), _permanent_dead(rng, people, d), *moved]
    merged = {key: np.concatenate([p[key] for p in parts]) for key in parts[0]}
    order = np.argsort(d.pin_number[merged["person"]], kind="stable")
    merged = {key: values[order] for key, values in merged.items()}
    lines = np.concatenate([d.lines, moved_lines])
    ward = merged["ward"]
    legacy = (merged["registered"] < ctx.merger_day) & (ward >= 0)
    rows = Rows()
    rows.add("id", ctx.residence_ids + np.arange(len(ward), dtype=np.int64))
    rows.add("pin", d.pin[merged["person"]])
    rows.add_keyed("kind", merged["kind"], lambda u: KINDS[u])
    rows.add_keyed("commune_code", merged["commune"],
                   lambda u: digits(ctx.tables.communes.code[u], 5))
    rows.add_keyed("address_line", merged["line"], lambda u: lines[u])
    rows.add_keyed("legacy_commune_code", np.maximum(ward, 0),
                   lambda u: digits(ctx.tables.wards.code[u], 5), ~legacy)
    rows.add_keyed("registered_on", merged["registered"], iso_dates)
    until, gone = merged["valid_until"], merged["deregistered"]
    rows.add_keyed("valid_until", np.maximum(until, 0), iso_dates, until < 0)
    rows.add_keyed("deregistered_on", np.maximum(gone, 0), iso_dates, gone < 0)
    return rows


def _part(person: np.ndarray, kind: int, commune: np.ndarray, line: np.ndarray, ward: np.ndarray,
          registered: np.ndarray, valid_until: np.ndarray | None = None,
          deregistered: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """One kind of residence; ``line`` indexes the address lines (homes', then new ones)."""
    n = len(person)
    none = np.full(n, -1, dtype=np.int64)
    return {"person": person, "kind": np.full(n, kind), "commune": commune, "line": line,
            "ward": ward, "registered": registered,
            "valid_until": none if valid_until is None else valid_until,
            "deregistered": none if deregistered is None else deregistered}


def _permanent_alive(people: People, d: Derived) -> dict[str, np.ndarray]:
    who = np.flatnonzero(people.vitals.alive)
    home = d.home_of[who]
    registered = np.maximum(people.vitals.birth[who], d.registered[people.homes.unit[who]])
    return _part(who, PERMANENT, d.home.commune[home], home, d.home.ward[home], registered)


def _permanent_dead(rng: np.random.Generator, people: People, d: Derived) -> dict[str, np.ndarray]:
    v = people.vitals
    who = np.flatnonzero(~v.alive)
    home = d.home_of[who]
    lived = np.minimum(v.death[who] - v.birth[who], int(20 * DAYS_PER_YEAR))
    registered = v.death[who] - 1 - (rng.random(len(who)) * (lived - 1)).astype(np.int64)
    return _part(who, PERMANENT, d.home.commune[home], home, d.home.ward[home],
                 np.maximum(registered, v.birth[who]), deregistered=v.death[who])


def _moved(rng: np.random.Generator, ctx: Context, people: People, d: Derived, *,
           line_offset: int) -> tuple[np.ndarray, list[dict[str, np.ndarray]]]:
    """Temporary residence and the matching current place of living (and their address lines)."""
    v, t = people.vitals, ctx.tables
    params = ctx.demography["temporary_residence"]
    who = np.flatnonzero(v.alive & (people.age >= 18) & (people.age <= 45) &
                         (rng.random(len(v)) < params["share_18_45"]))
    province = choice(rng, t.provinces.migration_pull, len(who))
    _, ward, commune = t.sample_home(rng, province)
    lines = address_lines(rng, t, commune)
    line = line_offset + np.arange(len(who))
    registered = ctx.clock.ref_day - rng.integers(1, params["max_days"] - 30, len(who))
    until = registered + params["max_days"]
    return lines, [_part(who, TEMPORARY, commune, line, ward, registered, valid_until=until),
                   _part(who, CURRENT, commune, line, ward, registered)]
