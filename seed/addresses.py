"""House/street lines of addresses (the part before the commune).

Urban communes (phường, đặc khu) get house numbers on streets, alleys (ngõ in the North, kiệt in the
Centre, hẻm in the South) or residential groups; rural ones (xã) get hamlets: thôn/xóm/bản in the
North, ấp in the South (rules §5.2).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np
from numpy.dtypes import StringDType

from seed.reference import read_json
from seed.rng import choice
from seed.tables import REGIONS, Tables

URBAN_KINDS = (1, 2)  # phường, đặc khu (seed.tables.COMMUNE_TYPES)


@dataclass(frozen=True)
class LineModel:
    streets: list[str]
    hamlets: list[str]
    urban: dict[str, tuple[list[str], np.ndarray]]
    rural: dict[str, tuple[list[str], np.ndarray]]


@cache
def line_model() -> LineModel:
    data = read_json("addresses.json")

    def patterns(section: dict) -> dict[str, tuple[list[str], np.ndarray]]:
        return {r: (list(p), np.array(list(p.values()), dtype=float)) for r, p in section.items()}

    return LineModel(streets=data["streets"], hamlets=data["hamlets"],
                     urban=patterns(data["urban"]), rural=patterns(data["rural"]))


def address_lines(rng: np.random.Generator, tables: Tables, commune: np.ndarray) -> np.ndarray:
    """One address line per entry of ``commune`` (commune indices)."""
    model = line_model()
    n = len(commune)
    region = tables.provinces.region[tables.communes.province[commune]]
    urban = np.isin(tables.communes.kind[commune], URBAN_KINDS)
    template = np.empty(n, dtype=object)
    for r, name in enumerate(REGIONS):
        for is_urban, table in ((True, model.urban), (False, model.rural)):
            rows = np.flatnonzero((region == r) & (urban == is_urban))
            texts, weights = table[name]
            template[rows] = np.array(texts, dtype=object)[choice(rng, weights, len(rows))]
    number = rng.integers(1, 300, n).tolist()
    alley = rng.integers(1, 120, n).tolist()
    sub = rng.integers(1, 40, n).tolist()
    group = rng.integers(1, 25, n).tolist()
    street = np.array(model.streets, dtype=object)[rng.integers(0, len(model.streets), n)].tolist()
    hamlet = np.array(model.hamlets, dtype=object)[rng.integers(0, len(model.hamlets), n)].tolist()
    lines = [t.format(n=a, a=b, b=c, t=d, s=e, h=f) for t, a, b, c, d, e, f
             in zip(template.tolist(), number, alley, sub, group, street, hamlet, strict=True)]
    return np.array(lines, dtype=StringDType())
