"""Residences (Law on Residence 2020): permanent for everyone, temporary and current for movers.

Everyone alive has a permanent residence at their household's address (the deceased keep theirs,
deregistered on the day of death). A share of working-age adults also hold a temporary residence
elsewhere, valid for at most two years, which is also their current place of living. Registrations
made before 2025-07-01 keep the legacy ward they were made in (``legacy_commune_code``): the address
as it was written then (ward, district, province) is rendered from it and the address line, not
stored (about 70 bytes a person, 7 GiB at national scale).

Residence history: a person who lived somewhere else when a chip card could first be issued to them
(their household registered at its address after 2021-01-01 and after their birth) also has the
permanent residence before that move, deregistered on the day of the move, so a card issued before
the move prints the address in force on its issue date. Earlier moves are not kept.
"""

from __future__ import annotations

from datetime import date

import numpy as np

from seed.addresses import address_lines
from seed.batch import Context, Derived, People
from seed.columns import Rows, digits, iso_dates
from seed.rng import DAYS_PER_YEAR, choice
from seed.vitals import day_number

KINDS = np.array(["permanent", "temporary", "current"])
PERMANENT, TEMPORARY, CURRENT = range(3)
CHIP_CARDS_FROM = day_number(date(2021, 1, 1))  # the first chip card (seed/cards.py CHIP_START)
STAYED_IN_PROVINCE = 0.7  # a previous home in the same (current) province: our assumption
YEARS_AT_PREVIOUS_HOME = (1, 15)


def residence_rows(ctx: Context, rng: np.random.Generator, people: People, d: Derived) -> Rows:
    """Residence rows in PIN order (sorted while still numbers; ids stay sequential)."""
    moved_lines, moved = _moved(rng, ctx, people, d, line_offset=len(d.lines))
    permanent = [_permanent_alive(people, d), _permanent_dead(rng, people, d)]
    previous_lines, previous = _previous(rng, ctx, people, d, permanent,
                                         line_offset=len(d.lines) + len(moved_lines))
    parts = [previous, *permanent, *moved]
    merged = {key: np.concatenate([p[key] for p in parts]) for key in parts[0]}
    order = np.argsort(d.pin_number[merged["person"]], kind="stable")
    merged = {key: values[order] for key, values in merged.items()}
    lines = np.concatenate([d.lines, moved_lines, previous_lines])
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


def _previous(rng: np.random.Generator, ctx: Context, people: People, d: Derived,
              permanent: list[dict[str, np.ndarray]], *,
              line_offset: int) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """The permanent residence before the move of those who moved in the chip-card era.

    One previous home per household (the deceased: per person); it was registered at birth or
    1-15 years before the move, no later than 2021-01-01, so every card issued before the move
    finds it in force; it ends on the day of the move.
    """
    t, birth = ctx.tables, people.vitals.birth
    person = np.concatenate([p["person"] for p in permanent])
    moved_on = np.concatenate([p["registered"] for p in permanent])
    need = (moved_on > CHIP_CARDS_FROM) & (moved_on > birth[person])
    person, moved_on = person[need], moved_on[need]
    homes, first, inverse = np.unique(d.home_of[person], return_index=True, return_inverse=True)
    stayed = rng.random(len(homes)) < STAYED_IN_PROVINCE
    province = np.where(stayed, d.home.province[homes],
                        choice(rng, t.provinces.share, len(homes)))
    _, ward, commune = t.sample_home(rng, province)
    lines = address_lines(rng, t, commune)
    low, high = (int(y * DAYS_PER_YEAR) for y in YEARS_AT_PREVIOUS_HOME)
    since = np.minimum(moved_on[first] - rng.integers(low, high, len(homes)), CHIP_CARDS_FROM)
    registered = np.maximum(birth[person], since[inverse])
    return lines, _part(person, PERMANENT, commune[inverse], line_offset + inverse, ward[inverse],
                        registered, deregistered=moved_on)
