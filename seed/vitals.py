"""Who exists: birth dates and sexes from the age pyramid, plus the recently deceased.

Day numbers count days since 1970-01-01 (numpy ``datetime64[D]``). The living follow the 5-year
pyramid and the sex ratio of each band exactly in expectation (rules §6.5); the deceased are drawn
apart, from an age-at-death distribution, so that they do not distort the living pyramid.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np

from seed.rng import DAYS_PER_YEAR, choice

MALE, FEMALE = 0, 1
PRECISION_DAY, PRECISION_MONTH, PRECISION_YEAR = 0, 1, 2
PRECISION_NAMES = np.array(["day", "month", "year"])
MAX_AGE = 104


def day_number(value: date) -> int:
    return int(np.datetime64(value, "D").astype(np.int64))


@dataclass
class Vitals:
    birth: np.ndarray  # day number
    sex: np.ndarray  # MALE / FEMALE
    death: np.ndarray  # day number, -1 while alive
    precision: np.ndarray  # PRECISION_*

    @property
    def birth_year(self) -> np.ndarray:
        return self.birth.astype("datetime64[D]").astype("datetime64[Y]").astype(np.int64) + 1970

    @property
    def alive(self) -> np.ndarray:
        return self.death < 0

    def __len__(self) -> int:
        return len(self.birth)


class AgeClock:
    """Exact calendar ages at the reference date (a person is k on their k-th birthday)."""

    def __init__(self, reference: date) -> None:
        self.reference = reference
        self.ref_day = day_number(reference)
        # cutoff[k]: latest birth day of someone aged >= k at the reference date
        self.cutoff = np.array([day_number(_years_before(reference, k)) for k in range(131)])

    def age(self, birth: np.ndarray) -> np.ndarray:
        # cutoff decreases with k; count the k whose cutoff is on or after the birth day
        return np.searchsorted(-self.cutoff, -birth, side="right") - 1


def _years_before(reference: date, years: int) -> date:
    try:
        return reference.replace(year=reference.year - years)
    except ValueError:  # 29 February
        return reference.replace(year=reference.year - years, day=28)


def sample_vitals(rng: np.random.Generator, n: int, *, clock: AgeClock,
                  demography: dict[str, Any]) -> Vitals:
    deaths = demography["deaths"]
    n_dead = int(rng.binomial(n, deaths["share"])) if n > 20 else 0
    living = _living(rng, n - n_dead, clock=clock, demography=demography)
    dead = _deceased(rng, n_dead, clock=clock, deaths=deaths)
    vitals = Vitals(*(np.concatenate(pair) for pair in zip(living, dead, strict=True)))
    _coarsen_old_birth_dates(rng, vitals, demography["birth_date_precision"])
    return vitals


def _living(rng: np.random.Generator, n: int, *, clock: AgeClock,
            demography: dict[str, Any]) -> tuple[np.ndarray, ...]:
    bands = demography["age_pyramid"]
    band = choice(rng, np.array([b["percent"] for b in bands]), n)
    age = 5 * band + rng.integers(0, 5, n)
    oldest = band == len(bands) - 1
    decay = demography["oldest_decay"] ** np.arange(MAX_AGE - 80 + 1)
    age[oldest] = 80 + choice(rng, decay, int(oldest.sum()))
    birth = clock.ref_day - np.floor((age + rng.random(n)) * DAYS_PER_YEAR).astype(np.int64)
    ratio = np.array([b["sex_ratio"] for b in bands], dtype=float)[band]
    sex = (rng.random(n) >= ratio / (100 + ratio)).astype(np.int8)
    return birth, sex, np.full(n, -1, dtype=np.int64), np.zeros(n, dtype=np.int8)


def _deceased(rng: np.random.Generator, n: int, *, clock: AgeClock,
              deaths: dict[str, Any]) -> tuple[np.ndarray, ...]:
    start = day_number(date.fromisoformat(deaths["death_from"]))
    death = rng.integers(start, clock.ref_day, n)
    spans = [tuple(int(x) for x in k.split("-")) for k in deaths["age_at_death"]]
    band = choice(rng, np.array(list(deaths["age_at_death"].values())), n)
    low = np.array([s[0] for s in spans])[band]
    high = np.array([s[1] for s in spans])[band]
    age = low + rng.random(n) * (high + 1 - low)
    birth = death - np.maximum(1, np.floor(age * DAYS_PER_YEAR).astype(np.int64))
    sex = (rng.random(n) >= deaths["male_share"]).astype(np.int8)
    return birth, sex, death, np.zeros(n, dtype=np.int8)


def _coarsen_old_birth_dates(rng: np.random.Generator, vitals: Vitals,
                             rules: dict[str, Any]) -> None:
    """Some elderly people's records hold only the year, or month and year, of birth."""
    days = vitals.birth.astype("datetime64[D]")
    year = days.astype("datetime64[Y]").astype(int) + 1970
    u = rng.random(len(vitals))
    for before in sorted(int(k) for k in rules if not k.startswith("_")):
        share = rules[str(before)]
        pending = (year < before) & (vitals.precision == PRECISION_DAY)
        as_year = pending & (u < share["year"])
        as_month = pending & ~as_year & (u < share["year"] + share["month"])
        vitals.precision[as_year] = PRECISION_YEAR
        vitals.precision[as_month] = PRECISION_MONTH
        u = np.where(pending, 1.0, u)  # decided: not coarsened again by a later rule
    first_of_year = days.astype("datetime64[Y]").astype("datetime64[D]").astype(np.int64)
    first_of_month = days.astype("datetime64[M]").astype("datetime64[D]").astype(np.int64)
    vitals.birth = np.where(vitals.precision == PRECISION_YEAR, first_of_year,
                            np.where(vitals.precision == PRECISION_MONTH, first_of_month,
                                     vitals.birth))
