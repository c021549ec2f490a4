"""Family relations by PIN (Law on Identification 2023 Art. 9 item 15): father, mother, spouse,
legal representative. Children are found through the reverse index on ``relative_pin``.
Marriages ended by a recorded death keep their row, with ``ended_on`` set to the day of death.
"""

from __future__ import annotations

import numpy as np
from numpy.dtypes import StringDType

from seed.batch import Context, Derived, People
from seed.columns import Rows, iso_dates
from seed.rng import DAYS_PER_YEAR


def relation_rows(ctx: Context, rng: np.random.Generator, people: People, d: Derived) -> Rows:
    v = people.vitals
    parts = []
    for kind, parent in (("father", people.father), ("mother", people.mother)):
        child = np.flatnonzero(parent >= 0)
        parts.append((child, kind, parent[child], v.birth[child], None))
    for couple in (people.couples, people.late):
        ended = couple.end if (couple.end >= 0).any() else None
        parts.append((couple.husband, "spouse", couple.wife, couple.start, ended))
        parts.append((couple.wife, "spouse", couple.husband, couple.start, ended))
    ward = np.flatnonzero(people.homes.guardian >= 0)
    years = (rng.random(len(ward)) * 6 * DAYS_PER_YEAR).astype(np.int64)
    since = np.maximum(v.birth[ward], ctx.clock.ref_day - years)
    parts.append((ward, "legal_representative", people.homes.guardian[ward], since, None))
    return _rows(ctx, d, parts)


def _rows(ctx: Context, d: Derived, parts: list) -> Rows:
    person = np.concatenate([p[0] for p in parts]).astype(np.int64)
    relative = np.concatenate([p[2] for p in parts]).astype(np.int64)
    kind = np.concatenate([np.full(len(p[0]), p[1], dtype=StringDType()) for p in parts])
    started = np.concatenate([p[3] for p in parts]).astype(np.int64)
    ended = np.concatenate([np.full(len(p[0]), -1, np.int64) if p[4] is None else p[4]
                            for p in parts]).astype(np.int64)
    rows = Rows()
    rows.add("id", ctx.relation_ids + np.arange(len(person), dtype=np.int64))
    rows.add("pin", d.pin[person])
    rows.add("kind", kind)
    rows.add("relative_pin", d.pin[relative])
    rows.add("started_on", iso_dates(started))
    rows.add("ended_on", iso_dates(np.maximum(ended, 0)), ended < 0)
    return rows.ordered_by(d.pin_number[person], fixed="id")
