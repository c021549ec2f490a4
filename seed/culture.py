"""Ethnicity and religion, weighted by province (rules §6.1, §6.2), then shared within families.

Family coherence: a wife usually shares her husband's ethnicity and religion; children take their
father's (else their mother's); adults whose parents live with them take theirs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from seed.rng import pick_rows
from seed.tables import Tables


@dataclass
class Lineage:
    """Who inherits from whom, in the order inheritance must run (elders before grandchildren)."""

    adult_child: np.ndarray  # adults whose parents are on record...
    adult_parent: np.ndarray  # ...and the parent they take after
    wife: np.ndarray  # wives without parents on record...
    husband: np.ndarray  # ...and their husbands
    child: np.ndarray  # children...
    parent: np.ndarray  # ...and the parent they take after (father, else mother)


def inherit(values: np.ndarray, lineage: Lineage, rng: np.random.Generator, *,
            spouse_share: float, child_share: float = 1.0) -> np.ndarray:
    out = values.copy()
    steps = ((lineage.adult_child, lineage.adult_parent, child_share),
             (lineage.wife, lineage.husband, spouse_share),
             (lineage.child, lineage.parent, child_share))
    for target, source, share in steps:
        take = rng.random(len(target)) < share
        out[target[take]] = out[source[take]]
    return out


def ethnicity_codes(rng: np.random.Generator, tables: Tables, province: np.ndarray) -> np.ndarray:
    """Ethnicity code (1..56) drawn from each person's province mix."""
    u = rng.random(len(province))
    codes = np.empty(len(province), dtype=np.int64)
    for p in np.unique(province):  # per province: no (people x 56) matrix
        rows = np.flatnonzero(province == p)
        cum = tables.ethnicity_cum[p]
        codes[rows] = np.searchsorted(cum, u[rows] * cum[-1], side="right").clip(0, len(cum) - 1)
    return codes + 1


def religion_codes(rng: np.random.Generator, tables: Tables, province: np.ndarray,
                   ethnicity: np.ndarray) -> np.ndarray:
    cum = tables.religion_cum[province, ethnicity - 1]
    return tables.religion_codes[pick_rows(cum, rng.random(len(province)))]
