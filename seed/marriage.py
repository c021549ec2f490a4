"""Marital status and couples (Law on Marriage and Family: men from 20, women from 18).

Married men and women are paired by rank of (birth date + noise), which reproduces the usual age gap
(husbands a few years older) because men marry later. The recently deceased who were married at
death are paired the same way with living widows and widowers, so that "widowed" can point to a
spouse whose death is on record.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from seed.rng import DAYS_PER_YEAR
from seed.vitals import FEMALE, MALE, Vitals

NEVER, MARRIED, WIDOWED, DIVORCED, SEPARATED = 1, 2, 3, 4, 5
LEGAL_AGE = {MALE: 20, FEMALE: 18}


@dataclass
class Couples:
    husband: np.ndarray
    wife: np.ndarray
    start: np.ndarray  # marriage day
    end: np.ndarray  # day the marriage ended by death, -1 if it goes on


def legal_day(birth: np.ndarray, sex: np.ndarray) -> np.ndarray:
    """First day on which a person may marry (day-based, never before the calendar birthday)."""
    years = np.where(sex == MALE, LEGAL_AGE[MALE], LEGAL_AGE[FEMALE])
    return birth + np.ceil(years * DAYS_PER_YEAR).astype(np.int64) + 1


def marital_status(rng: np.random.Generator, vitals: Vitals, age: np.ndarray,
                   table: dict[str, Any], *, as_of: np.ndarray) -> np.ndarray:
    """GSO codes 1-5 for everyone at ``as_of`` (the reference day, or the day of death).

    Drawn by 5-year band of ``age`` and sex; only people of legal age by then can have married.
    """
    band = np.clip(age // 5 - 3, 0, len(table["M"]["married"]) - 1)
    status = np.full(len(vitals), NEVER, dtype=np.int8)
    u = rng.random(len(vitals))
    adult = legal_day(vitals.birth, vitals.sex) < as_of
    for sex, key in ((MALE, "M"), (FEMALE, "F")):
        rows = (vitals.sex == sex) & adult
        married = np.array(table[key]["married"])[band]
        widowed = married + np.array(table[key]["widowed"])[band]
        divorced = widowed + np.array(table[key]["divorced"])[band]
        status[rows & (u < married)] = MARRIED
        status[rows & (u >= married) & (u < widowed)] = WIDOWED
        status[rows & (u >= widowed) & (u < divorced)] = DIVORCED
    separated = rng.random(len(vitals)) < table["separated_share_of_divorced"]
    separated &= status == DIVORCED
    status[separated] = SEPARATED
    return status


def pair_living(rng: np.random.Generator, vitals: Vitals, age: np.ndarray,
                status: np.ndarray, params: dict[str, Any], ref_day: int) -> Couples:
    """Pair the living married; the surplus of one sex becomes never married or divorced."""
    pool = vitals.alive & (status == MARRIED)
    men = np.flatnonzero(pool & (vitals.sex == MALE))
    women = np.flatnonzero(pool & (vitals.sex == FEMALE))
    men, women = _equalise(rng, men, women, status, age)
    husband, wife = _rank_pair(rng, men, women, vitals.birth, params["pairing_noise_years"])
    latest = np.full(len(husband), ref_day - 1)
    start = _wedding_day(rng, vitals, husband, wife, params, latest=latest)
    return Couples(husband, wife, start, np.full(len(husband), -1, dtype=np.int64))


def pair_with_deceased(rng: np.random.Generator, vitals: Vitals, status: np.ndarray,
                       params: dict[str, Any], married_at_death: dict[str, float]) -> Couples:
    """Widows and widowers whose late spouse is among the recorded deceased."""
    dead = ~vitals.alive & (vitals.birth <= vitals.death - 18 * DAYS_PER_YEAR)
    u = rng.random(len(vitals))
    share = np.where(vitals.sex == MALE, married_at_death["M"], married_at_death["F"])
    dead &= u < share
    widowed = vitals.alive & (status == WIDOWED)
    pairs = []
    for sex in (MALE, FEMALE):
        late = np.flatnonzero(dead & (vitals.sex == sex))
        survivors = np.flatnonzero(widowed & (vitals.sex != sex))
        n = min(len(late), len(survivors))
        late, survivors = rng.permutation(late)[:n], rng.permutation(survivors)[:n]
        a, b = _rank_pair(rng, late, survivors, vitals.birth, params["pairing_noise_years"])
        pairs.append((a, b) if sex == MALE else (b, a))
    husband = np.concatenate([p[0] for p in pairs])
    wife = np.concatenate([p[1] for p in pairs])
    end = np.where(vitals.alive[husband], vitals.death[wife], vitals.death[husband])
    ok = (legal_day(vitals.birth[husband], vitals.sex[husband]) < end) & \
         (legal_day(vitals.birth[wife], vitals.sex[wife]) < end)
    husband, wife, end = husband[ok], wife[ok], end[ok]
    start = _wedding_day(rng, vitals, husband, wife, params, latest=end - 1)
    status[husband[~vitals.alive[husband]]] = MARRIED
    status[wife[~vitals.alive[wife]]] = MARRIED
    return Couples(husband, wife, start, end)


def shuffled(rng: np.random.Generator, couples: Couples) -> Couples:
    """Couples in random order (pairing sorts them by age; household ids should not be)."""
    order = rng.permutation(len(couples.husband))
    return Couples(couples.husband[order], couples.wife[order], couples.start[order],
                   couples.end[order])


def settle_unpaired(status: np.ndarray, vitals: Vitals, couples: list[Couples]) -> None:
    """Nobody is 'married' without a spouse on record: the unpaired become widowed."""
    paired = np.zeros(len(status), dtype=bool)
    for c in couples:
        paired[c.husband] = paired[c.wife] = True
    status[(status == MARRIED) & ~paired] = WIDOWED


def _equalise(rng: np.random.Generator, men: np.ndarray, women: np.ndarray,
              status: np.ndarray, age: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    surplus, keep_other = (men, women) if len(men) > len(women) else (women, men)
    shuffled = rng.permutation(surplus)
    dropped, kept = shuffled[len(keep_other):], np.sort(shuffled[:len(keep_other)])
    status[dropped] = np.where(age[dropped] < 30, NEVER, DIVORCED)
    return (kept, keep_other) if len(men) > len(women) else (keep_other, kept)


def _rank_pair(rng: np.random.Generator, a: np.ndarray, b: np.ndarray, birth: np.ndarray,
               noise_years: float) -> tuple[np.ndarray, np.ndarray]:
    noise = noise_years * DAYS_PER_YEAR
    key_a = birth[a] + rng.normal(0, noise, len(a))
    key_b = birth[b] + rng.normal(0, noise, len(b))
    return a[np.argsort(key_a, kind="stable")], b[np.argsort(key_b, kind="stable")]


def _wedding_day(rng: np.random.Generator, vitals: Vitals, husband: np.ndarray, wife: np.ndarray,
                 params: dict[str, Any], *, latest: np.ndarray) -> np.ndarray:
    wife_age = rng.normal(params["wife_age_mean"], params["wife_age_sd"], len(wife))
    day = vitals.birth[wife] + (wife_age * DAYS_PER_YEAR).astype(np.int64)
    earliest = np.maximum(legal_day(vitals.birth[husband], vitals.sex[husband]),
                          legal_day(vitals.birth[wife], vitals.sex[wife]))
    return np.minimum(np.maximum(day, earliest), latest)
