"""Give children their mothers (and the mothers' husbands as fathers).

Children are the living minors plus the never-married young adults who still live with their
parents. Each looks for a mother born about 27 years before them (normal around the mean maternal
age) among the wives and a share of single women; a match must keep both parents 18 to 45 years
older than the child, siblings at least ~10 months apart (twins aside) and at most a handful of
children per mother. Unmatched children retry in the next round; what is left is returned.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from seed.marriage import DIVORCED, NEVER, SEPARATED, Couples
from seed.rng import DAYS_PER_YEAR
from seed.vitals import FEMALE, Vitals

WINDOW = 30  # candidate mothers around the ideal one, in rank positions


@dataclass
class Parentage:
    mother: np.ndarray  # per person, -1 if none on record
    father: np.ndarray
    unplaced: np.ndarray  # children for whom no parents were found


def gap_ok(parent_birth: np.ndarray, child_birth: np.ndarray, params: dict[str, Any]) -> np.ndarray:
    """A parent is 18 to 45 years older than the child (day-based, same rule as the tests)."""
    gap = child_birth - parent_birth
    return (gap >= np.ceil(params["parent_age_min"] * DAYS_PER_YEAR)) & \
           (gap <= np.floor(params["parent_age_max"] * DAYS_PER_YEAR))


def husband_of(n: int, couples: list[Couples]) -> np.ndarray:
    """For each woman, her husband (living) or late husband (recorded deceased), else -1."""
    out = np.full(n, -1, dtype=np.int64)
    for c in couples:
        out[c.wife] = c.husband
    return out


def children_and_mothers(rng: np.random.Generator, vitals: Vitals, age: np.ndarray,
                         status: np.ndarray, husband: np.ndarray,
                         params: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    alive = vitals.alive
    band = np.clip((age - 15) // 5, 0, len(params["lives_with_parents"]) - 1)
    at_home = np.array(params["lives_with_parents"])[band] > rng.random(len(vitals))
    unattached = np.isin(status, (NEVER, DIVORCED, SEPARATED))
    limit = 15 + 5 * len(params["lives_with_parents"])
    children = alive & ((age < 18) | (unattached & (age < limit) & at_home))
    single_share = np.zeros(6)
    for code, share in params["single_mother_share"].items():
        single_share[int(code)] = share
    candidate = alive & ~children & (vitals.sex == FEMALE) & (age >= 18) & (age < 86)
    candidate &= (husband >= 0) | (rng.random(len(vitals)) < single_share[status])
    return np.flatnonzero(children), np.flatnonzero(candidate)


def match_parents(rng: np.random.Generator, vitals: Vitals, age: np.ndarray, children: np.ndarray,
                  mothers: np.ndarray, husband: np.ndarray, params: dict[str, Any]) -> Parentage:
    mothers = mothers[np.argsort(vitals.birth[mothers], kind="stable")]
    mother_birth = vitals.birth[mothers]
    taken_child = np.empty(0, dtype=np.int64)
    taken_mother = np.empty(0, dtype=np.int64)
    orphan = rng.random(len(children)) < params["without_parents_share"]
    orphan &= age[children] < 18
    pending = children[~orphan]
    for _ in range(params["match_rounds"] if len(mothers) else 0):
        if not len(pending):
            break
        proposal = _propose(rng, vitals, pending, mothers, mother_birth, params)
        ok = _parents_fit(vitals, pending, proposal, husband, params)
        new_child, new_mother = pending[ok], proposal[ok]
        keep = _resolve(rng, vitals.birth, taken_mother, taken_child, new_mother, new_child, params)
        taken_child = np.concatenate([taken_child, new_child[keep]])
        taken_mother = np.concatenate([taken_mother, new_mother[keep]])
        pending = np.concatenate([pending[~ok], new_child[~keep]])
    mother = np.full(len(vitals), -1, dtype=np.int64)
    mother[taken_child] = taken_mother
    father = np.where(mother >= 0, husband[np.maximum(mother, 0)], -1)
    unplaced = np.sort(np.concatenate([pending, children[orphan]]))
    return Parentage(mother=mother, father=father, unplaced=unplaced)



def _propose(rng: np.random.Generator, vitals: Vitals, pending: np.ndarray, mothers: np.ndarray,
             mother_birth: np.ndarray, params: dict[str, Any]) -> np.ndarray:
    low, high = params["parent_age_min"] + 0.05, params["parent_age_max"] - 0.05
    years = np.clip(rng.normal(params["mother_age_mean"], params["mother_age_sd"], len(pending)),
                    low, high)
    ideal = vitals.birth[pending] - (years * DAYS_PER_YEAR).astype(np.int64)
    pos = np.searchsorted(mother_birth, ideal) + rng.integers(-WINDOW, WINDOW + 1, len(pending))
    return mothers[np.clip(pos, 0, len(mothers) - 1)]


def _parents_fit(vitals: Vitals, child: np.ndarray, mother: np.ndarray, husband: np.ndarray,
                 params: dict[str, Any]) -> np.ndarray:
    born = vitals.birth[child]
    ok = gap_ok(vitals.birth[mother], born, params)
    father = husband[mother]
    has_father = father >= 0
    f = np.maximum(father, 0)
    father_ok = gap_ok(vitals.birth[f], born, params)
    # a late husband can father a child born up to ~9 months after his death
    father_ok &= (vitals.death[f] < 0) | (born <= vitals.death[f] + 280)
    return ok & (~has_father | father_ok)


def _resolve(rng: np.random.Generator, birth: np.ndarray, old_mother: np.ndarray,
             old_child: np.ndarray, new_mother: np.ndarray, new_child: np.ndarray,
             params: dict[str, Any]) -> np.ndarray:
    """Which new matches keep siblings spaced and mothers under the cap (old matches stand)."""
    mother = np.concatenate([old_mother, new_mother])
    born = birth[np.concatenate([old_child, new_child])]
    is_new = np.concatenate([np.zeros(len(old_mother), bool), np.ones(len(new_mother), bool)])
    priority = np.concatenate([np.zeros(len(old_mother)), rng.random(len(new_mother))])
    kept = np.ones(len(mother), dtype=bool)
    while True:  # each pass drops at least one new match, so this ends
        idx = np.flatnonzero(kept)
        order = idx[np.lexsort((priority[idx], born[idx], mother[idx]))]
        gap = born[order[1:]] - born[order[:-1]]
        close = (gap > 0) & (gap < params["min_spacing_days"])
        bad = (mother[order[1:]] == mother[order[:-1]]) & close
        if not bad.any():
            break
        later, earlier = order[1:][bad], order[:-1][bad]
        kept[np.where(is_new[later], later, earlier)] = False
    idx = np.flatnonzero(kept)
    order = idx[np.lexsort((priority[idx], is_new[idx], mother[idx]))]
    rank = _rank_within(mother[order])
    kept[order[is_new[order] & (rank >= params["max_per_mother"])]] = False
    return kept[len(old_mother):]


def _rank_within(sorted_keys: np.ndarray) -> np.ndarray:
    """0, 1, 2... within each run of equal keys of a sorted array."""
    if not len(sorted_keys):
        return sorted_keys
    first = np.searchsorted(sorted_keys, sorted_keys, side="left")
    return np.arange(len(sorted_keys)) - first
