"""Where households live and where people's births were registered.

A household lives in a current province drawn by population share (rules §6.6); within it, in a
legacy province drawn by its 2019 census population, a legacy ward of it drawn by commune type, and
a current commune that ward merged into. The ward is the pre-2025 address, its province the code
that locally born members carry in their PIN.
Births registered from 2025-07-01 carry the current province's code (rules §1.5); a share of adults
were registered in another province (internal migration) and ~0.2% abroad (codes 101-295, §1.4).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from seed.rng import choice
from seed.tables import Tables

FOREIGN_CODES = (101, 295)


@dataclass
class HomePlaces:
    province: np.ndarray  # current province index
    commune: np.ndarray  # commune index
    ward: np.ndarray  # legacy ward index
    legacy_province: np.ndarray  # legacy province index of the ward


@dataclass
class BirthPlaces:
    place_code: np.ndarray  # PIN digits 1-3 as an int (1..96 or 101..295)
    legacy_province: np.ndarray  # legacy province index, -1 when abroad or coded post-2025
    commune: np.ndarray  # commune index of the place of birth, -1 when abroad
    home_province: np.ndarray  # current province the person lives (or lived) in


def home_places(rng: np.random.Generator, tables: Tables, n: int) -> HomePlaces:
    province = choice(rng, tables.provinces.share, n)
    legacy, ward, commune = tables.sample_home(rng, province)
    return HomePlaces(province=province, commune=commune, ward=ward, legacy_province=legacy)


def birth_places(rng: np.random.Generator, tables: Tables, *, home: HomePlaces,
                 home_of_person: np.ndarray, birth: np.ndarray, adult: np.ndarray,
                 merger_day: int, params: dict[str, Any]) -> BirthPlaces:
    """Registration place per person; ``home_of_person`` indexes ``home`` (household or own)."""
    n = len(birth)
    province = home.province[home_of_person]
    legacy = home.legacy_province[home_of_person].copy()
    commune = home.commune[home_of_person].copy()
    migrant = adult & (rng.random(n) < tables.provinces.migrant_share[province])
    legacy[migrant] = choice(rng, tables.legacy.weight, int(migrant.sum()))
    elsewhere = migrant | (adult & (rng.random(n) < 0.5))
    commune[elsewhere] = tables.wards.communes_of_province.pick(legacy[elsewhere],
                                                               rng.random(int(elsewhere.sum())))
    place = tables.legacy.code[legacy]
    recent = birth >= merger_day
    place[recent] = tables.provinces.code[province[recent]]
    legacy[recent] = -1
    commune[recent] = home.commune[home_of_person[recent]]
    abroad = rng.random(n) < params["born_abroad_share"]
    place[abroad] = rng.integers(FOREIGN_CODES[0], FOREIGN_CODES[1] + 1, int(abroad.sum()))
    legacy[abroad] = -1
    commune[abroad] = -1
    return BirthPlaces(place_code=place, legacy_province=legacy, commune=commune,
                       home_province=province)


def origin_communes(rng: np.random.Generator, tables: Tables, births: BirthPlaces) -> np.ndarray:
    """Quê quán before inheritance: the place of birth, or a commune of the home province."""
    n = len(births.commune)
    fallback = tables.sample_commune(births.home_province, rng.random(n))
    return np.where(births.commune >= 0, births.commune, fallback)


def region_of(tables: Tables, births: BirthPlaces) -> np.ndarray:
    """Region (index into REGIONS) of the registration province, else of the home province."""
    own = tables.legacy.region[np.maximum(births.legacy_province, 0)]
    return np.where(births.legacy_province >= 0, own, tables.provinces.region[births.home_province])
