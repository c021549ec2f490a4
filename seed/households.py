"""Households (hộ gia đình): who lives with whom, who heads it, and each member's relationship.

A household grows from a core: a couple, a single parent, or a person alone. Children join their
mother's household. Some widowed elders and elderly couples then move in with a married son or
daughter (three generations, rules §6.10 relationships), which also records them as that child's
parents. Minors left without parents live with a guardian (their legal representative); young
adults left over live alone or lodge with a household.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from seed.children import gap_ok
from seed.marriage import DIVORCED, SEPARATED, WIDOWED, Couples
from seed.rng import DAYS_PER_YEAR
from seed.vitals import MALE, Vitals

HEAD, WIFE, CHILD, ELDER_M, ELDER_F, WARD, LODGER = range(7)
SON_SIDE, DAUGHTER_SIDE = 0, 1
WINDOW = 30


def _relationship_table() -> np.ndarray:
    """Relationship code (codes.json) by [head's role, member's role, side of the elders]."""
    rel = np.full((7, 7, 2), 99, dtype=np.int16)
    rows = {
        HEAD: {HEAD: (1, 1), WIFE: (2, 2), CHILD: (4, 4), ELDER_M: (9, 13), ELDER_F: (10, 14)},
        WIFE: {HEAD: (3, 3), WIFE: (1, 1), CHILD: (4, 4), ELDER_M: (15, 9), ELDER_F: (16, 10)},
        ELDER_M: {HEAD: (4, 8), WIFE: (7, 4), CHILD: (21, 21), ELDER_M: (1, 1), ELDER_F: (2, 2)},
        ELDER_F: {HEAD: (4, 8), WIFE: (7, 4), CHILD: (21, 21), ELDER_M: (3, 3), ELDER_F: (1, 1)},
    }
    for head, members in rows.items():
        for member, codes in members.items():
            rel[head, member] = codes
        rel[head, WARD] = 26
        rel[head, LODGER] = 27
    return rel


RELATIONSHIP = _relationship_table()


@dataclass
class Households:
    unit: np.ndarray  # household index per person, -1 for the deceased
    role: np.ndarray
    head: np.ndarray  # person index per household
    relationship: np.ndarray  # code per person, 0 for the deceased
    guardian: np.ndarray  # legal representative per person, -1 if none
    size: int


class _Builder:
    def __init__(self, vitals: Vitals, age: np.ndarray, couples: Couples) -> None:
        n = len(vitals)
        self.vitals, self.age, self.couples = vitals, age, couples
        self.unit = np.full(n, -1, dtype=np.int64)
        self.role = np.full(n, -1, dtype=np.int8)
        self.guardian = np.full(n, -1, dtype=np.int64)
        self.unit_side = np.zeros(0, dtype=np.int8)
        self.next_unit = 0

    def new_units(self, people: np.ndarray, role: int) -> None:
        self.unit[people] = self.next_unit + np.arange(len(people))
        self.role[people] = role
        self.next_unit += len(people)

    def cores(self, mother: np.ndarray, unplaced: np.ndarray) -> None:
        c = self.couples
        self.unit[c.husband] = self.unit[c.wife] = self.next_unit + np.arange(len(c.husband))
        self.role[c.husband], self.role[c.wife] = HEAD, WIFE
        self.next_unit += len(c.husband)
        mothers = np.unique(mother[mother >= 0])
        self.new_units(mothers[self.unit[mothers] < 0], HEAD)
        kids = np.flatnonzero(mother >= 0)
        self.unit[kids], self.role[kids] = self.unit[mother[kids]], CHILD
        alone = self.vitals.alive & (self.unit < 0)
        alone[unplaced] = False
        self.new_units(np.flatnonzero(alone), HEAD)


def build_households(rng: np.random.Generator, vitals: Vitals, age: np.ndarray, status: np.ndarray,
                     couples: Couples, late: Couples, mother: np.ndarray, father: np.ndarray,
                     unplaced: np.ndarray, params: dict[str, Any],
                     child_params: dict[str, Any]) -> Households:
    """Assemble households; also fills ``mother``/``father`` of adults whose parents move in."""
    b = _Builder(vitals, age, couples)
    b.cores(mother, unplaced)
    side = _attach_elders(rng, b, status, late, mother, father, params, child_params)
    minors = unplaced[age[unplaced] < 18]
    _place_wards(rng, b, minors)
    _place_lodgers(rng, b, unplaced[age[unplaced] >= 18], params["unmatched_adult_joins_relative"])
    return _finish(rng, b, side, params)


def _attach_elders(rng: np.random.Generator, b: _Builder, status: np.ndarray, late: Couples,
                   mother: np.ndarray, father: np.ndarray, params: dict[str, Any],
                   child_params: dict[str, Any]) -> np.ndarray:
    v, age, c = b.vitals, b.age, b.couples
    size = np.bincount(b.unit[b.unit >= 0], minlength=b.next_unit)
    old = age >= params["elder_min_age"]
    lone = v.alive & (b.role == HEAD) & (size[np.maximum(b.unit, 0)] == 1) & old
    lone &= np.isin(status, (WIDOWED, DIVORCED, SEPARATED))
    lone &= rng.random(len(v)) < params["elder_widowed_co_resides"]
    lone_people = np.flatnonzero(lone)
    old_couple = old[c.husband] & (size[b.unit[c.husband]] == 2)
    old_couple &= rng.random(len(c.husband)) < params["elder_couple_co_resides"]
    young = ~old[c.husband] & ~old[c.wife]
    elder_father, elder_mother = _elder_parents(v, lone_people, late, c, old_couple)
    target = _choose_children(rng, v, c, young, elder_father, elder_mother, params, child_params)
    side = np.zeros(b.next_unit, dtype=np.int8)
    placed = target[0] >= 0
    k, s = target[0][placed], target[1][placed]
    child = np.where(s == SON_SIDE, c.husband[k], c.wife[k])
    for parents, role in ((elder_father[placed], ELDER_M), (elder_mother[placed], ELDER_F)):
        living = (parents >= 0) & v.alive[np.maximum(parents, 0)]
        b.unit[parents[living]] = b.unit[c.husband[k[living]]]
        b.role[parents[living]] = role
    father[child] = elder_father[placed]
    mother[child] = elder_mother[placed]
    side[b.unit[c.husband[k]]] = s
    return side


def _elder_parents(v: Vitals, lone: np.ndarray, late: Couples, c: Couples,
                   old_couple: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(father, mother) of each candidate elder unit; a lone elder's late spouse may be a parent."""
    late_spouse = np.full(len(v), -1, dtype=np.int64)
    late_spouse[late.husband], late_spouse[late.wife] = late.wife, late.husband
    spouse = late_spouse[lone]
    male = v.sex[lone] == MALE
    lone_father = np.where(male, lone, spouse)
    lone_mother = np.where(male, spouse, lone)
    return (np.concatenate([lone_father, c.husband[old_couple]]),
            np.concatenate([lone_mother, c.wife[old_couple]]))


def _choose_children(rng: np.random.Generator, v: Vitals, c: Couples, young: np.ndarray,
                     elder_father: np.ndarray, elder_mother: np.ndarray, params: dict[str, Any],
                     child_params: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """For each elder unit, a couple (index) where a spouse is their child, and which side."""
    n = len(elder_father)
    chosen = np.full(n, -1, dtype=np.int64)
    side = (rng.random(n) >= params["son_side"]).astype(np.int8)
    taken = ~young.copy()
    anchor = np.where(elder_mother >= 0, elder_mother, elder_father)
    for _ in range(4):
        todo = np.flatnonzero(chosen < 0)
        if not len(todo) or taken.all():
            break
        years = np.clip(rng.normal(28, 6, len(todo)), 18.1, 44.9)
        ideal = v.birth[anchor[todo]] + (years * DAYS_PER_YEAR).astype(np.int64)
        k = np.empty(len(todo), dtype=np.int64)
        for s, spouse in ((SON_SIDE, c.husband), (DAUGHTER_SIDE, c.wife)):
            mine = side[todo] == s
            k[mine] = _nearest(rng, v.birth[spouse], ideal[mine], ~taken)
        child = np.where(side[todo] == SON_SIDE, c.husband[k], c.wife[k])
        ok = ~taken[k] & _parent_fits(v, elder_father[todo], child, child_params)
        ok &= _parent_fits(v, elder_mother[todo], child, child_params)
        ok &= _first_claim(rng, k, ok)
        chosen[todo[ok]] = k[ok]
        taken[k[ok]] = True
    return chosen, side


def _parent_fits(v: Vitals, parent: np.ndarray, child: np.ndarray,
                 child_params: dict[str, Any]) -> np.ndarray:
    p = np.maximum(parent, 0)
    fits = gap_ok(v.birth[p], v.birth[child], child_params)
    fits &= (v.death[p] < 0) | (v.birth[child] <= v.death[p] + 280)
    return (parent < 0) | fits


def _nearest(rng: np.random.Generator, birth: np.ndarray, ideal: np.ndarray,
             allowed: np.ndarray) -> np.ndarray:
    """Index of an allowed entry born near each ideal day (random within a small window)."""
    candidates = np.flatnonzero(allowed)
    if not len(candidates):
        return np.zeros(len(ideal), dtype=np.int64)
    candidates = candidates[np.argsort(birth[candidates], kind="stable")]
    pos = np.searchsorted(birth[candidates], ideal) + rng.integers(-WINDOW, WINDOW + 1, len(ideal))
    return candidates[np.clip(pos, 0, len(candidates) - 1)]


def _first_claim(rng: np.random.Generator, target: np.ndarray, ok: np.ndarray) -> np.ndarray:
    """Among proposals for the same target, only one (at random) succeeds."""
    order = np.lexsort((rng.random(len(target)), ~ok, target))
    first = np.ones(len(target), dtype=bool)
    first[order[1:]] = target[order[1:]] != target[order[:-1]]
    return first


def _place_wards(rng: np.random.Generator, b: _Builder, minors: np.ndarray) -> None:
    """Minors without parents on record live with a guardian, their legal representative."""
    v, c = b.vitals, b.couples
    husbands = c.husband[v.alive[c.husband]]
    if not len(minors):
        return
    guardian = np.full(len(minors), -1, dtype=np.int64)
    for _ in range(4):
        todo = np.flatnonzero(guardian < 0)
        if not len(todo) or not len(husbands):
            break
        ideal = v.birth[minors[todo]] - (40 * DAYS_PER_YEAR)
        pick = husbands[_nearest(rng, v.birth[husbands], ideal, np.ones(len(husbands), bool))]
        ok = v.birth[pick] <= v.birth[minors[todo]] - 20 * DAYS_PER_YEAR
        guardian[todo[ok]] = pick[ok]
    adults = np.flatnonzero(v.alive & (b.age >= 18) & (b.unit >= 0))
    guardian[guardian < 0] = adults[np.argmin(v.birth[adults])] if len(adults) else -1
    placed = guardian >= 0
    b.guardian[minors[placed]] = guardian[placed]
    b.unit[minors[placed]] = b.unit[guardian[placed]]
    b.role[minors[placed]] = WARD
    b.new_units(minors[~placed], HEAD)


def _place_lodgers(rng: np.random.Generator, b: _Builder, adults: np.ndarray, share: float) -> None:
    c = b.couples
    lodge = rng.random(len(adults)) < share if len(c.husband) else np.zeros(len(adults), bool)
    host = c.husband[rng.integers(0, max(len(c.husband), 1), int(lodge.sum()))]
    b.unit[adults[lodge]] = b.unit[host]
    b.role[adults[lodge]] = LODGER
    b.new_units(adults[~lodge], HEAD)


def _finish(rng: np.random.Generator, b: _Builder, side: np.ndarray,
            params: dict[str, Any]) -> Households:
    used = np.unique(b.unit[b.unit >= 0])
    side = np.concatenate([side, np.zeros(b.next_unit - len(side), dtype=np.int8)])[used]
    unit = np.where(b.unit >= 0, np.searchsorted(used, b.unit), -1)
    head = _choose_heads(rng, unit, b.role, len(used), params)
    member = unit >= 0
    relationship = np.zeros(len(unit), dtype=np.int16)
    head_role = b.role[head[unit[member]]]
    relationship[member] = RELATIONSHIP[head_role, b.role[member], side[unit[member]]]
    relationship[head] = 1
    return Households(unit=unit, role=b.role, head=head, relationship=relationship,
                      guardian=b.guardian, size=len(used))


def _choose_heads(rng: np.random.Generator, unit: np.ndarray, role: np.ndarray, n: int,
                  params: dict[str, Any]) -> np.ndarray:
    holder = {}
    for r in (HEAD, WIFE, ELDER_M, ELDER_F):
        people = np.flatnonzero((role == r) & (unit >= 0))
        holder[r] = np.full(n, -1, dtype=np.int64)
        holder[r][unit[people]] = people
    head = holder[HEAD].copy()
    wife_heads = (holder[WIFE] >= 0) & (rng.random(n) < params["wife_is_head"])
    head[wife_heads] = holder[WIFE][wife_heads]
    elder = np.where(holder[ELDER_M] >= 0, holder[ELDER_M], holder[ELDER_F])
    elder_heads = (elder >= 0) & (rng.random(n) < params["elder_is_head"])
    head[elder_heads] = elder[elder_heads]
    return head
