"""Identifying marks (đặc điểm nhân dạng): "Nốt ruồi C:3cm trên sau mép trái" (rules §2.2).

Each part of the phrase is drawn from ``seed/data/marks.json``; a person's mark travels as one
integer (the parts' indices in mixed radix) and each distinct mark is turned into text once.
"""

from __future__ import annotations

from functools import cache

import numpy as np
from numpy.dtypes import StringDType

from seed.reference import read_json
from seed.rng import choice

PARTS = ("kinds", "distances_cm", "vertical", "horizontal", "places", "sides")


@cache
def _spec() -> dict:
    return read_json("marks.json")


def draw_marks(rng: np.random.Generator, *, age: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(mark code per person, NULL mask): a mark for ``share`` of those aged 14 and over."""
    spec, n = _spec(), len(age)
    code = np.zeros(n, dtype=np.int64)
    for part in PARTS:
        options = spec[part]
        code = code * len(options) + choice(rng, np.array(list(options.values()), float), n)
    has_mark = (age >= 14) & (rng.random(n) < spec["share"])
    return code, ~has_mark


def mark_texts(codes: np.ndarray) -> np.ndarray:
    """The marks' text, e.g. 'Nốt ruồi C:3cm trên sau mép trái'."""
    spec = _spec()
    words = {}
    for part in reversed(PARTS):
        options = np.array(list(spec[part]), dtype=StringDType())
        words[part] = options[codes % len(options)]
        codes = codes // len(options)
    text = np.strings.add(np.strings.add(words["kinds"], " C:"), words["distances_cm"])
    text = np.strings.add(text, "cm")
    for part in ("vertical", "horizontal", "places", "sides"):
        text = np.strings.add(np.strings.add(text, " "), words[part])
    return text
