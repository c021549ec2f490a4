"""Family relations by PIN (Law on Identification 2023 Art. 9 item 15): father, mother, spouse,
legal representative. Children are found through the reverse index on ``relative_pin``.
Marriages ended by a recorded death keep their row, with ``ended_on`` set to the day of death.
"""

from __future__ import annotations

import numpy as np

from seed.batch import Context, Derived, People
from seed.columns import Rows, iso_dates
from seed.rng import DAYS_PER_YEAR

KINDS = np.array(["father", "mother", "spouse", "legal_representative"])
FATHER, MOTHER, SPOUSE, REPRESENTATIVE = range(4)


def relation_rows(ctx: Context, rng: np.random.Generator, people: People, d: Derived) -> Rows:
    v = people.vitals
    parts = []
    for kind, parent in ((FATHER, people.father), (MOTHER, people.mother)):
        child = np.flatnonzero(parent >= 0)
        parts.append((child, kind, parent[child], v.birth[child], None))
    for couple in (people.couples, people.late):
        ended = couple.end if (couple.end >= 0).any() else None
        parts.append((couple.husband, SPOUSE, couple.wife, couple.start, ended))
        parts.append((couple.wife, SPOUSE, couple.husband, couple.start, ended))
    ward = np.flatnonzero(people.homes.guardian >= 0)
    years = (rng.random(len(ward)) * 6 * DAYS_PER_YEAR).astype(np.int64)
    since = np.maximum(v.birth[ward], ctx.clock.ref_day - years)
    parts.append((ward, REPRESENTATIVE, people.homes.guardian[ward], since, None))
    return _rows(ctx, d, parts)


def _rows(ctx: Context, d: Derived, parts: list) -> Rows:
    """Relation rows in PIN order (sorted while still numbers; ids stay sequential)."""
    person = np.concatenate([p[0] for p in parts]).astype(np.int64)
    order = np.argsort(d.pin_number[person], kind="stable")
    relative = np.concatenate([p[2] for p in parts]).astype(np.int64)[order]
    kind = np.concatenate([np.full(len(p[0]), p[1]) for p in parts])[order]
    started = np.concatenate([p[3] for p in parts]).astype(np.int64)[order]
    ended = np.concatenate([np.full(len(p[0]), -1, np.int64) if p[4] is None else p[4]
                            for p in parts]).astype(np.int64)[order]
    person = person[order]
    rows = Rows()
    rows.add("id", ctx.relation_ids + np.arange(len(person), dtype=np.int64))
    rows.add("pin", d.pin[person])
    rows.add_keyed("kind", kind, lambda u: KINDS[u])
    rows.add("relative_pin", d.pin[relative])
    rows.add_keyed("started_on", started, iso_dates)
    rows.add_keyed("ended_on", np.maximum(ended, 0), iso_dates, ended < 0)
    return rows
