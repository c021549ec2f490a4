"""The inputs of the document rules: a person's facts, stored overrides, and date helpers."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any


@dataclass(frozen=True, slots=True)
class Person:
    """What the rules know about a citizen: their record plus where they live.

    ``province_code`` is the current province of the permanent residence (GSO, 3 digits),
    ``commune_index`` the commune's position among its province's communes (facility codes),
    ``plate_codes`` the registration-plate codes of that province (``codes.plate_codes``).
    """

    pin: str
    birth_date: date
    sex: str
    status: str = "alive"  # alive | deceased | missing | replaced
    status_date: date | None = None
    province_code: str | None = None
    province_name: str | None = None
    commune_code: str | None = None
    commune_name: str | None = None
    commune_index: int = 0
    plate_codes: tuple[str, ...] = ()

    @property
    def died_on(self) -> date | None:
        return self.status_date if self.status == "deceased" else None

    @property
    def province2(self) -> str:
        """The two-digit province code of insurance and licence numbers (``079`` -> ``79``)."""
        return (self.province_code or self.pin[:3])[-2:]


@dataclass(frozen=True, slots=True)
class Override:
    """A stored change to a generated document (a life event, an authority's decision, a
    persona): ``number`` names one document of ``kind`` (``None``: every one of that kind)."""

    kind: str
    effective_on: date
    number: str | None = None
    status: str | None = None  # suspended | revoked
    valid_to: date | None = None
    points_deducted: int | None = None
    reason: str | None = None

    def applies_to(self, document: dict[str, Any]) -> bool:
        return document["kind"] == self.kind and self.number in (None, document["number"])


def rng(seed: int, pin: str, topic: str) -> random.Random:
    """The draws of one rule for one person: the same seed, PIN and topic give the same draws
    whatever else was generated (a string seed is hashed with SHA-512 by ``random``)."""
    return random.Random(f"{seed}:{pin}:{topic}")


def add_years(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February in a common year: the 28th, as card expiry does
        return day.replace(year=day.year + years, day=28)


def add_months(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    last = (date(year + (month + 1) // 12, (month + 1) % 12 + 1, 1) - timedelta(days=1)).day
    return date(year, month + 1, min(day.day, last))


def age_on(birth_date: date, day: date) -> int:
    return day.year - birth_date.year - ((day.month, day.day) < (birth_date.month,
                                                                 birth_date.day))


def digits(draw: random.Random, count: int) -> str:
    return "".join(str(draw.randrange(10)) for _ in range(count))


def between(draw: random.Random, start: date, end: date) -> date:
    """A day from ``start`` to ``end`` inclusive (``start`` when the range is empty)."""
    span = (end - start).days
    return start + timedelta(days=draw.randint(0, span)) if span > 0 else start
