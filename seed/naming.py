"""Vietnamese names: surname (họ), 0-2 middle names (chữ đệm), given name (tên), NFC.

Names are built from a token vocabulary (``seed/data/names.json``) as integer arrays and turned into
strings once per batch. Surnames follow the national frequencies with the Hoàng/Huỳnh and Vũ/Võ
switch by region of birth registration; middle and given names depend on sex and birth cohort
(Văn/Thị fading in younger cohorts); ethnic minorities follow their own patterns (rules §6.7-6.8).
The family token (surname, or clan) is inherited. A sex marker that opens a personal name (Ê-đê
"Y"/"H'", Ba Na and Xơ-đăng "A"/"Y") is part of the given name, never the family name.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field
from functools import cache, cached_property

import numpy as np
from numpy.dtypes import StringDType

from app.matching import accent_fold
from seed.reference import read_json
from seed.rng import choice
from seed.tables import REGIONS
from seed.vitals import FEMALE, MALE

SEXES = ("M", "F")
COHORT_OF_GIVEN = ((0, "old"), (1975, "mid"), (2000, "new"))
fold = accent_fold  # name_folded: lower-case, no diacritics, đ -> d (the service's search key)


@dataclass
class Weighted:
    tokens: np.ndarray
    weights: np.ndarray

    def draw(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return self.tokens[choice(rng, self.weights, n)] if n else np.empty(0, dtype=np.int64)


@dataclass
class Pattern:
    surnames: Weighted
    middle: dict[int, Weighted | None]  # None: the Vietnamese cohort rules
    given: dict[int, Weighted | None]


@dataclass
class Vocabulary:
    words: list[str] = field(default_factory=lambda: [""])
    index: dict[str, int] = field(default_factory=lambda: {"": 0})

    def token(self, word: str) -> int:
        word = unicodedata.normalize("NFC", word)
        if word not in self.index:
            self.index[word] = len(self.words)
            self.words.append(word)
        return self.index[word]

    def weighted(self, mapping: dict[str, float]) -> Weighted:
        return Weighted(np.array([self.token(w) for w in mapping]),
                        np.array(list(mapping.values()), dtype=float))


@dataclass
class NameModel:
    vocab: Vocabulary
    kinh: Pattern
    patterns: list[Pattern]  # index 0 is Kinh
    pattern_of_ethnicity: np.ndarray  # by ethnicity code
    variant_second: np.ndarray  # token -> its southern form (or itself)
    variant_share: np.ndarray  # (token, region) -> share keeping the northern form
    given: dict[tuple[int, str], Weighted]
    middle_pool: dict[int, Weighted]  # middle names other than Văn/Thị, by sex
    compounds: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]]  # middle, given, weights
    van_thi: dict[int, int]
    structure: dict
    compound_share: float
    matrilineal: frozenset[int]

    @cached_property
    def words(self) -> np.ndarray:
        return np.array(self.vocab.words, dtype=StringDType())

    @cached_property
    def folded(self) -> np.ndarray:
        return np.array([fold(w) for w in self.vocab.words], dtype=StringDType())


MAX_TOKENS = 4096


def _kinh(vocab: Vocabulary, data: dict) -> tuple[Pattern, np.ndarray, np.ndarray]:
    second = np.arange(MAX_TOKENS)
    share = np.ones((MAX_TOKENS, len(REGIONS)))
    surnames = {}
    for entry, weight in data["surnames"].items():
        north, _, south = entry.partition("|")
        surnames[north] = weight
        if south:
            second[vocab.token(north)] = vocab.token(south)
            share[vocab.token(north)] = [data["surname_variants"][entry][r] for r in REGIONS]
    # Kinh middle and given names follow the Vietnamese cohort rules (None), not a fixed list.
    pattern = Pattern(surnames=vocab.weighted(surnames), middle={MALE: None, FEMALE: None},
                      given={MALE: None, FEMALE: None})
    return pattern, second, share


def _minority(vocab: Vocabulary, spec: dict) -> Pattern:
    def per_sex(section: dict | None) -> dict[int, Weighted | None]:
        if section is None:
            return {MALE: None, FEMALE: None}
        return {sex: None if section[key] == "vietnamese" else vocab.weighted(section[key])
                for sex, key in ((MALE, "M"), (FEMALE, "F"))}

    given = per_sex(spec["given"])
    for sex, key in ((MALE, "M"), (FEMALE, "F")):
        marker = spec.get("prefix", {}).get(key)
        if marker:
            given[sex] = vocab.weighted(_marked(spec["given"][key], marker,
                                                spec.get("prefix_share", 1.0)))
    return Pattern(surnames=vocab.weighted(spec["surnames"]), middle=per_sex(spec.get("middle")),
                   given=given)


def _marked(names: dict[str, float], marker: str, share: float) -> dict[str, float]:
    """Given names opened by a sex marker in ``share`` of cases: "Y Moan", "H'Hen" (joined)."""
    joiner = "" if marker.endswith("'") else " "
    marked = {marker + joiner + w: x * share for w, x in names.items()}
    if share < 1:
        marked |= {w: x * (1 - share) for w, x in names.items()}
    return marked


@cache
def name_model() -> NameModel:
    data = read_json("names.json")
    vocab = Vocabulary()
    kinh, second, share = _kinh(vocab, data)
    patterns, pattern_of = [kinh], np.zeros(57, dtype=np.int64)
    for spec in data["minority"].values():
        patterns.append(_minority(vocab, spec))
        pattern_of[spec["ethnicities"]] = len(patterns) - 1
    given, compounds = {}, {}
    for sex, key in ((MALE, "M"), (FEMALE, "F")):
        for _, cohort in COHORT_OF_GIVEN:
            given[(sex, cohort)] = vocab.weighted(data["given"][key][cohort])
        pairs = data["given"][key]["compound_new"]
        compounds[sex] = (np.array([vocab.token(p.split()[0]) for p in pairs]),
                          np.array([vocab.token(p.split()[1]) for p in pairs]),
                          np.array(list(pairs.values()), dtype=float))
    if len(vocab.words) > MAX_TOKENS:
        raise ValueError("names.json holds more tokens than the variant tables")
    return NameModel(
        vocab=vocab, kinh=kinh, patterns=patterns, pattern_of_ethnicity=pattern_of,
        variant_second=second[: len(vocab.words)], variant_share=share[: len(vocab.words)],
        given=given, compounds=compounds,
        middle_pool={MALE: vocab.weighted(data["middle"]["M"]),
                     FEMALE: vocab.weighted(data["middle"]["F"])},
        van_thi={MALE: vocab.token("Văn"), FEMALE: vocab.token("Thị")},
        structure=data["structure"], compound_share=data["given"]["compound_share_new"],
        matrilineal=frozenset(data.get("matrilineal", [])),
    )


@dataclass
class NameTokens:
    """Token ids of the three stored name fields (middle as up to two tokens)."""

    surname: np.ndarray
    middle1: np.ndarray
    middle2: np.ndarray
    given: np.ndarray


def family_tokens(rng: np.random.Generator, model: NameModel, *, ethnicity: np.ndarray,
                  region: np.ndarray) -> np.ndarray:
    """Each person's own surname (or clan) before inheritance."""
    pattern = model.pattern_of_ethnicity[ethnicity]
    family = np.zeros(len(pattern), dtype=np.int64)
    for p in np.unique(pattern):
        rows = np.flatnonzero(pattern == p)
        family[rows] = model.patterns[p].surnames.draw(rng, len(rows))
    northern = rng.random(len(family)) < model.variant_share[family, region]
    switch = (pattern == 0) & ~northern
    family[switch] = model.variant_second[family[switch]]
    return family


def personal_tokens(rng: np.random.Generator, model: NameModel, *, family: np.ndarray,
                    sex: np.ndarray, birth_year: np.ndarray, ethnicity: np.ndarray,
                    region: np.ndarray, mother_family: np.ndarray) -> NameTokens:
    """Middle and given names around the (inherited) family tokens.

    ``mother_family`` is the mother's surname token (a middle name source), 0 if unknown.
    """
    n = len(family)
    out = NameTokens(family.copy(), *(np.zeros(n, np.int64) for _ in range(3)))
    pattern = model.pattern_of_ethnicity[ethnicity]
    for p in np.unique(pattern):
        spec = model.patterns[p]
        for s in (MALE, FEMALE):
            rows = np.flatnonzero((pattern == p) & (sex == s))
            if len(rows):
                _fill(rng, model, spec, s, rows, out, birth_year, region, mother_family)
    return out


def _fill(rng: np.random.Generator, model: NameModel, spec: Pattern, sex: int, rows: np.ndarray,
          out: NameTokens, birth_year: np.ndarray, region: np.ndarray,
          mother_family: np.ndarray) -> None:
    if spec.middle[sex] is None:
        _vietnamese_middle(rng, model, sex, rows, out, birth_year, region, mother_family)
    else:
        out.middle2[rows] = spec.middle[sex].draw(rng, len(rows))
    if spec.given[sex] is None:
        _vietnamese_given(rng, model, sex, rows, out, birth_year)
    else:
        out.given[rows] = spec.given[sex].draw(rng, len(rows))


def _vietnamese_middle(rng: np.random.Generator, model: NameModel, sex: int, rows: np.ndarray,
                       out: NameTokens, birth_year: np.ndarray, region: np.ndarray,
                       mother_family: np.ndarray) -> None:
    st = model.structure
    cohort = np.searchsorted(st["cohorts"], birth_year[rows], side="right") - 1
    u = rng.random(len(rows))
    none = u < np.array(st["no_middle"])[cohort]
    two = ~none & (u < np.array(st["no_middle"])[cohort] + np.array(st["two_middle"])[cohort])
    factor = np.array([st["region_factor"][r] for r in REGIONS])[region[rows]]
    # the reference shares are of everyone in the cohort, so drawn among those with a middle name
    share_of_all = np.array(st["van" if sex == MALE else "thi"])[cohort]
    classic = share_of_all * factor / (1 - np.array(st["no_middle"])[cohort])
    pool = model.middle_pool[sex]
    last = np.where(rng.random(len(rows)) < np.minimum(classic, 0.95), model.van_thi[sex],
                    pool.draw(rng, len(rows)))
    first = pool.draw(rng, len(rows))
    from_mother = rng.random(len(rows)) < st["mother_surname_as_first_middle"]
    from_mother &= mother_family[rows] > 0
    first = np.where(from_mother, mother_family[rows], first)
    first = np.where(first == last, pool.draw(rng, len(rows)), first)
    out.middle1[rows] = np.where(two, first, 0)
    out.middle2[rows] = np.where(none, 0, last)


def _vietnamese_given(rng: np.random.Generator, model: NameModel, sex: int, rows: np.ndarray,
                      out: NameTokens, birth_year: np.ndarray) -> None:
    for start, cohort in reversed(COHORT_OF_GIVEN):
        pick = rows[(birth_year[rows] >= start) & (out.given[rows] == 0)]
        out.given[pick] = model.given[(sex, cohort)].draw(rng, len(pick))
    middle, given, weights = model.compounds[sex]
    recent = rows[(birth_year[rows] >= 2000) & (out.middle1[rows] == 0) & (out.middle2[rows] > 0)
                  & (out.middle2[rows] != model.van_thi[sex])]  # compounds do not replace Văn/Thị
    recent = recent[rng.random(len(recent)) < model.compound_share]
    pair = choice(rng, weights, len(recent))
    out.middle2[recent], out.given[recent] = middle[pair], given[pair]
    echo = rows[out.middle2[rows] == out.given[rows]]  # "Hà Hà": draw the middle name again
    out.middle2[echo] = np.where(out.middle2[echo] == model.van_thi[sex], out.middle2[echo],
                                 model.middle_pool[sex].draw(rng, len(echo)))


def middle_key(tokens: NameTokens) -> np.ndarray:
    """One integer per (first, second) middle-name pair."""
    return tokens.middle1 * MAX_TOKENS + tokens.middle2


def middle_strings(model: NameModel, keys: np.ndarray) -> np.ndarray:
    words = model.words
    return _join(words[keys // MAX_TOKENS], words[keys % MAX_TOKENS])


def folded_names(model: NameModel, tokens: NameTokens, *, clan_last: np.ndarray) -> np.ndarray:
    """``name_folded``: the whole name folded, words in written order (``clan_last``: the middle
    and given name, then the surname, as Ê-đê names are written;
    ``app.services.population.citizens``)."""
    folded = model.folded
    middle = _join(folded[tokens.middle1], folded[tokens.middle2])
    surname, given = folded[tokens.surname], folded[tokens.given]
    return np.where(clan_last, _join(_join(middle, given), surname),
                    _join(_join(surname, middle), given))


def _join(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    joined = np.strings.add(np.strings.add(a, " "), b)
    return np.where(a == "", b, np.where(b == "", a, joined))
