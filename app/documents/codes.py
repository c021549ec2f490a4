"""The code lists of the integrated documents (``app/documents/data/*.json``), loaded once."""

from __future__ import annotations

import functools
import json
from datetime import date
from pathlib import Path
from typing import Any

DATA = Path(__file__).parent / "data"


@functools.cache
def table(name: str) -> dict[str, Any]:
    """One data file (``health_insurance``, ``licence_classes``, ``plate_codes``, ``vaccines``,
    ``vehicles``) as parsed JSON."""
    with (DATA / f"{name}.json").open(encoding="utf-8") as handle:
        loaded: dict[str, Any] = json.load(handle)
    return loaded


def day(text: str) -> date:
    return date.fromisoformat(text)


def benefit_level(group: str) -> int:
    return int(table("health_insurance")["groups"][group]["level"])


def benefit_rate(level: int) -> int:
    return int(table("health_insurance")["benefit_levels"][str(level)]["rate"])


def licence_class(key: str) -> dict[str, Any]:
    found: dict[str, Any] = table("licence_classes")["classes"][key]
    return found


def plate_codes(province_codes: list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """The plate codes of the provinces (GSO codes of the 63) a current province was made of."""
    codes = table("plate_codes")["codes"]
    return tuple(code for province in sorted(province_codes) for code in codes.get(province, ()))
