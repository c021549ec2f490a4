"""The reference data compiled into numpy arrays for vectorised sampling (built once per process).

Index spaces: current provinces 0..33, legacy provinces 0..62, communes 0..3320 (sorted by
province), legacy wards 0..10050, ethnicities 0..55 (code - 1), religions 0..17 (row in
religions.csv).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np

from seed.reference import admin_units, read_csv

REGIONS = ("N", "NC", "SC", "S")
COMMUNE_TYPES = ("xã", "phường", "đặc khu")


@dataclass(frozen=True)
class Grouped:
    """Members of each group as one flat array plus offsets: group g is flat[start[g]:end[g]]."""

    flat: np.ndarray
    start: np.ndarray
    count: np.ndarray

    def pick(self, group: np.ndarray, u: np.ndarray) -> np.ndarray:
        """One member of each requested group, uniformly (``u`` in [0, 1))."""
        return self.flat[self.start[group] + (u * self.count[group]).astype(np.int64)]


@dataclass(frozen=True)
class WeightedGroups:
    """Like ``Grouped``, members drawn by weight: group g is flat[start[g]:start[g] + count[g]]."""

    flat: np.ndarray
    cum: np.ndarray  # cumulative weight over flat
    start: np.ndarray
    count: np.ndarray
    base: np.ndarray  # cum before the group's first member
    total: np.ndarray

    def pick(self, group: np.ndarray, u: np.ndarray) -> np.ndarray:
        """One member of each requested group, by weight (``u`` in [0, 1))."""
        target = self.base[group] + u * self.total[group]
        i = np.searchsorted(self.cum, target, side="right")
        i = np.clip(i, self.start[group], self.start[group] + self.count[group] - 1)
        return self.flat[i]


def weighted_group(keys: np.ndarray, values: np.ndarray, weights: np.ndarray,
                   n_groups: int) -> WeightedGroups:
    order = np.argsort(keys, kind="stable")
    count = np.bincount(keys, minlength=n_groups)
    total = np.bincount(keys, weights=weights, minlength=n_groups)
    if np.any((count > 0) & (total <= 0)):
        raise ValueError("a group has members but no weight")
    return WeightedGroups(flat=values[order], cum=np.cumsum(weights[order]),
                          start=np.concatenate(([0], np.cumsum(count)[:-1])), count=count,
                          base=np.concatenate(([0.0], np.cumsum(total)[:-1])), total=total)


def group(keys: np.ndarray, values: np.ndarray, n_groups: int) -> Grouped:
    order = np.argsort(keys, kind="stable")
    count = np.bincount(keys, minlength=n_groups)
    start = np.concatenate(([0], np.cumsum(count)[:-1]))
    return Grouped(flat=values[order], start=start, count=count)


@dataclass(frozen=True)
class Provinces:
    code: np.ndarray  # int, e.g. 1 for "001"
    share: np.ndarray  # population share
    region: np.ndarray  # index into REGIONS
    migration_pull: np.ndarray  # weights as a destination of temporary residents
    migrant_share: np.ndarray  # adults registered at birth elsewhere


@dataclass(frozen=True)
class LegacyProvinces:
    code: np.ndarray
    region: np.ndarray
    cmnd_prefix: np.ndarray
    current: np.ndarray  # index of the current province
    weight: np.ndarray  # share of the national population at the 2019 census
    of_province: WeightedGroups  # legacy provinces of each current one, by 2019 population


@dataclass(frozen=True)
class Communes:
    code: np.ndarray
    province: np.ndarray  # current province index
    kind: np.ndarray  # index into COMMUNE_TYPES
    cum_weight: np.ndarray  # cumulative sampling weight, communes sorted by province
    province_base: np.ndarray  # cum_weight before each province's first commune
    province_total: np.ndarray
    legacy_wards: Grouped  # legacy ward indices mapping into each commune
    names: list[str]


@dataclass(frozen=True)
class LegacyWards:
    code: np.ndarray
    province: np.ndarray  # legacy province index
    communes_of_province: Grouped  # communes holding wards of each legacy province
    of_legacy_province: WeightedGroups  # wards of each legacy province, by commune type
    communes: Grouped  # the current communes each ward merged into


@dataclass(frozen=True)
class Tables:
    provinces: Provinces
    legacy: LegacyProvinces
    communes: Communes
    wards: LegacyWards
    ethnicity_cum: np.ndarray  # (province, ethnicity) cumulative probabilities
    religion_codes: np.ndarray
    religion_cum: np.ndarray  # (province, ethnicity, religion) cumulative probabilities
    current_as_legacy: np.ndarray  # legacy index of each current province's (shared) code

    def sample_home(self, rng: np.random.Generator,
                    province: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(legacy province, legacy ward, commune) of homes in current ``province``s.

        The legacy province by its 2019 census population within the current one (not by its
        number of communes), then a ward by commune type, then a commune it merged into. The
        đặc khu that had no commune-level units before 2025 (Bạch Long Vĩ, Cồn Cỏ, Hoàng Sa,
        Lý Sơn, Côn Đảo) are never drawn: a registration there would have no legacy ward.
        """
        n = len(province)
        legacy = self.legacy.of_province.pick(province, rng.random(n))
        ward = self.wards.of_legacy_province.pick(legacy, rng.random(n))
        commune = self.wards.communes.pick(ward, rng.random(n))
        return legacy, ward, commune

    def sample_commune(self, province: np.ndarray, u: np.ndarray) -> np.ndarray:
        c = self.communes
        target = c.province_base[province] + u * c.province_total[province]
        return np.minimum(np.searchsorted(c.cum_weight, target, side="right"), len(c.code) - 1)


def _provinces() -> tuple[Provinces, dict[str, int]]:
    from seed.reference import read_json

    demography = read_json("demography.json")
    rows = read_csv("provinces_profile.csv")
    # Rules §6.6: the GSO-2024 figures of unchanged units are ~10% below the population-DB based
    # figures of the merged ones; scale them up before normalising.
    pop = np.array([float(r["population"]) * (1.1 if r["population_source"] == "gso2024" else 1)
                    for r in rows])
    migrants = demography["migrants"]
    index = {r["code"]: i for i, r in enumerate(rows)}
    return Provinces(
        code=np.array([int(r["code"]) for r in rows]),
        share=pop / pop.sum(),
        region=np.array([REGIONS.index(r["region"]) for r in rows]),
        migration_pull=np.array([float(r["migration_pull"]) for r in rows]),
        migrant_share=np.array([migrants.get(r["code"], migrants["*"]) for r in rows]),
    ), index


def _legacy(province_index: dict[str, int]) -> tuple[LegacyProvinces, dict[str, int]]:
    units = admin_units().provinces
    rows = read_csv("legacy_provinces_profile.csv")
    current = np.array([province_index[units[r["code"]].current_code] for r in rows])
    census = np.array([float(r["population_2019"]) for r in rows])
    return LegacyProvinces(
        code=np.array([int(r["code"]) for r in rows]),
        region=np.array([REGIONS.index(r["region"]) for r in rows]),
        cmnd_prefix=np.array([int(r["cmnd_prefix"]) for r in rows]),
        current=current,
        weight=census / census.sum(),
        of_province=weighted_group(current, np.arange(len(rows)), census, len(province_index)),
    ), {r["code"]: i for i, r in enumerate(rows)}


def _communes(province_index: dict[str, int], ward_of: list[tuple[int, int]]) -> Communes:
    from seed.reference import read_json

    kinds_weight = read_json("demography.json")["households"]["commune_weight"]
    units = sorted(admin_units().communes.values(), key=lambda c: (c.province_code, c.code))
    province = np.array([province_index[c.province_code] for c in units])
    weight = np.array([kinds_weight[c.division_type] for c in units])
    cum = np.cumsum(weight)
    total = np.bincount(province, weights=weight)
    base = np.concatenate(([0.0], np.cumsum(total)[:-1]))
    pairs = np.array(ward_of, dtype=np.int64).reshape(-1, 2)
    return Communes(
        code=np.array([int(c.code) for c in units]),
        province=province,
        kind=np.array([COMMUNE_TYPES.index(c.division_type) for c in units]),
        cum_weight=cum, province_base=base, province_total=total,
        legacy_wards=group(pairs[:, 0], pairs[:, 1], len(units)),
        names=[c.name for c in units],
    )


def _ethnicity_cum(province_index: dict[str, int]) -> np.ndarray:
    probs = np.zeros((len(province_index), 56))
    for row in read_csv("ethnicity_by_province.csv"):
        probs[province_index[row["province_code"]], int(row["ethnicity_code"]) - 1] = \
            float(row["percent"]) / 100
    probs[:, 0] = 1 - probs.sum(axis=1)
    return np.cumsum(probs, axis=1)


def _religion_cum(province_index: dict[str, int]) -> tuple[np.ndarray, np.ndarray]:
    codes = [int(r["code"]) for r in read_csv("religions.csv")]
    col = {code: i for i, code in enumerate(codes)}
    by_province = np.zeros((len(province_index), len(codes)))
    default = np.zeros(len(codes))
    for row in read_csv("religion_by_province.csv"):
        target = default if row["province_code"] == "*" else \
            by_province[province_index[row["province_code"]]]
        target[col[int(row["religion_code"])]] = float(row["percent"]) / 100
    empty = by_province.sum(axis=1) == 0
    by_province[empty] = default
    probs = np.repeat(by_province[:, None, :], 56, axis=1)
    probs[:, 1:, :] *= 0.2  # minorities without a profile of their own: mostly no religion
    for ethnicity, shares in _religion_by_ethnicity().items():
        probs[:, ethnicity - 1, :] = 0
        for code, share in shares.items():
            probs[:, ethnicity - 1, col[code]] = share
    probs[:, :, col[0]] = 1 - probs.sum(axis=2) + probs[:, :, col[0]]
    return np.array(codes), np.cumsum(probs, axis=2)


def _religion_by_ethnicity() -> dict[int, dict[int, float]]:
    """Groups whose religion follows the group more than the province (rules §6.2)."""
    out: dict[int, dict[int, float]] = {}
    for row in read_csv("religion_by_ethnicity.csv"):
        out.setdefault(int(row["ethnicity_code"]), {})[int(row["religion_code"])] = \
            float(row["percent"]) / 100
    return out


def _legacy_wards(ward_codes: list[str], ward_province: np.ndarray, ward_of: list[tuple[int, int]],
                  pairs: np.ndarray, communes: Communes, n_legacy: int) -> LegacyWards:
    """Wards weigh as the type of the commune they merged into (the mean if split)."""
    merged = np.array(ward_of, dtype=np.int64).reshape(-1, 2)  # (commune, ward)
    n = len(ward_codes)
    kind_weight = np.diff(np.concatenate(([0.0], communes.cum_weight)))[merged[:, 0]]
    splits = np.bincount(merged[:, 1], minlength=n)
    weight = np.bincount(merged[:, 1], weights=kind_weight, minlength=n) / np.maximum(splits, 1)
    return LegacyWards(
        code=np.array([int(w) for w in ward_codes]), province=ward_province,
        communes_of_province=group(pairs[:, 0], pairs[:, 1], n_legacy),
        of_legacy_province=weighted_group(ward_province, np.arange(n), weight, n_legacy),
        communes=group(merged[:, 1], merged[:, 0], n))


@cache
def build_tables() -> Tables:
    units = admin_units()
    provinces, province_index = _provinces()
    commune_sorted = sorted(units.communes.values(), key=lambda c: (c.province_code, c.code))
    commune_index = {c.code: i for i, c in enumerate(commune_sorted)}
    ward_codes = sorted(units.legacy_wards)
    ward_index = {code: i for i, code in enumerate(ward_codes)}
    ward_of = [(commune_index[c], ward_index[w]) for w in ward_codes
               for c in units.legacy_wards[w].current_codes]
    legacy, legacy_index = _legacy(province_index)
    ward_province = np.array([legacy_index[units.legacy_wards[w].province_code]
                              for w in ward_codes])
    pairs = np.array([(ward_province[wi], ci) for ci, wi in ward_of], dtype=np.int64)
    pairs = np.unique(pairs, axis=0)
    religion_codes, religion_cum = _religion_cum(province_index)
    communes = _communes(province_index, ward_of)
    return Tables(
        provinces=provinces,
        legacy=legacy,
        communes=communes,
        wards=_legacy_wards(ward_codes, ward_province, ward_of, pairs, communes, len(legacy.code)),
        ethnicity_cum=_ethnicity_cum(province_index),
        religion_codes=religion_codes,
        religion_cum=religion_cum,
        current_as_legacy=np.array([legacy_index[f"{c:03d}"] for c in provinces.code]),
    )
