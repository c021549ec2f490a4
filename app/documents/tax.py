"""The tax identification number: the PIN since 2025-07-01 (Circular 86/2024/TT-BTC), the
10-digit code of the General Department of Taxation before. 62% of people aged 18 to 65
registered as taxpayers (through an employer: codes starting with 8); a death closes the code."""

from __future__ import annotations

from datetime import date
from typing import Any

from app.documents.model import Person, add_years, between, digits, rng

PIN_FROM = date(2025, 7, 1)
REGISTERED = 0.62
MST_WEIGHTS = (31, 29, 23, 19, 17, 13, 7, 5, 3)


def mst_check_digit(first9: str) -> str | None:
    """The check digit of a 10-digit tax code (``None``: no digit fits, draw another)."""
    check = 10 - sum(w * int(d) for w, d in zip(MST_WEIGHTS, first9, strict=True)) % 11
    return None if check == 10 else str(check)


def legacy_tax_code(seed: int, pin: str) -> str:
    draw = rng(seed, pin, "mst")
    while True:
        first9 = "8" + digits(draw, 8)
        check = mst_check_digit(first9)
        if check is not None:
            return first9 + check


def tax_registration(person: Person, *, seed: int, today: date) -> dict[str, Any] | None:
    draw = rng(seed, person.pin, "tax")
    if draw.random() >= REGISTERED:
        return None
    registered = between(draw, add_years(person.birth_date, 18), add_years(person.birth_date, 65))
    stop = min(d for d in (today, person.died_on) if d is not None)
    if registered > stop:
        return None
    legacy = legacy_tax_code(seed, person.pin) if registered < PIN_FROM else None
    closed = person.died_on is not None and person.died_on <= today
    return {"kind": "tax_registration", "number": person.pin if today >= PIN_FROM else legacy,
            "tax_id": person.pin if today >= PIN_FROM else legacy, "legacy_tax_code": legacy,
            "registered_on": registered,
            "tax_office": f"Thuế {person.province_name}" if person.province_name else None,
            "status": "closed" if closed else "active",
            "status_reason": "holder_deceased" if closed else None}
