"""Reference data shipped in ``seed/data/``: administrative units, code lists, demography, names.

Everything here is read-only, loaded once and cached. Other modules use the display helpers to turn
codes into names without touching the database::

    >>> commune_name("00004")
    'Phường Ba Đình'
    >>> province_name("024"), province_name("024", legacy=True)
    ('Thành phố Bắc Ninh', 'Tỉnh Bắc Giang')
    >>> render_address(line="Số 12 Kim Mã", commune_code="00004")
    'Số 12 Kim Mã, Phường Ba Đình, Thành phố Hà Nội'
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from datetime import date
from functools import cache
from pathlib import Path
from typing import Any

DATA_DIR = Path(__file__).resolve().parent / "data"


@dataclass(frozen=True, slots=True)
class Province:
    """A provincial unit. The 34 current ones are a subset of the 63 legacy codes."""

    code: str  # 3 digits, as in the PIN: "001"
    name: str  # current name, or the legacy name when the unit no longer exists
    division_type: str
    phone_code: int
    is_current: bool
    legacy_name: str  # name until 2025-06-30
    legacy_division_type: str
    current_code: str  # the current province it is part of since 2025-07-01
    region: str  # N, NC, SC, S: drives regional name variants


@dataclass(frozen=True, slots=True)
class Commune:
    code: str  # 5 digits
    name: str
    division_type: str  # xã, phường, đặc khu
    province_code: str


@dataclass(frozen=True, slots=True)
class LegacyWard:
    """A commune-level unit as it was until 2025-06-30, with the current commune(s) it went to."""

    code: str
    name: str
    division_type: str
    district_code: str
    district_name: str
    province_code: str  # legacy province
    current_codes: tuple[str, ...]
    is_partly_merged: bool


@dataclass(frozen=True)
class AdminUnits:
    provinces: dict[str, Province]
    communes: dict[str, Commune]
    legacy_wards: dict[str, LegacyWard]


def read_csv(name: str) -> list[dict[str, str]]:
    with (DATA_DIR / name).open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


@cache
def read_json(name: str) -> Any:
    return json.loads((DATA_DIR / name).read_text(encoding="utf-8"))


def _provinces() -> dict[str, Province]:
    regions = {row["code"]: row["region"] for row in read_csv("legacy_provinces_profile.csv")}
    return {
        row["code"]: Province(
            code=row["code"], name=row["name"], division_type=row["division_type"],
            phone_code=int(row["phone_code"]), is_current=row["is_current"] == "1",
            legacy_name=row["legacy_name"], legacy_division_type=row["legacy_division_type"],
            current_code=row["current_code"], region=regions[row["code"]],
        )
        for row in read_csv("admin_provinces.csv")
    }


def _legacy_wards() -> dict[str, LegacyWard]:
    return {
        row["code"]: LegacyWard(
            code=row["code"], name=row["name"], division_type=row["division_type"],
            district_code=row["district_code"], district_name=row["district_name"],
            province_code=row["province_code"],
            current_codes=tuple(row["current_commune_codes"].split()),
            is_partly_merged=row["is_partly_merged"] == "1",
        )
        for row in read_csv("admin_legacy_communes.csv")
    }


@cache
def admin_units() -> AdminUnits:
    communes = {row["code"]: Commune(**row) for row in read_csv("admin_communes.csv")}
    return AdminUnits(provinces=_provinces(), communes=communes, legacy_wards=_legacy_wards())


def province_name(code: str, *, legacy: bool = False) -> str:
    """Display name of a province code; ``legacy=True`` gives the name it had until 2025-06-30."""
    province = admin_units().provinces[code]
    return province.legacy_name if legacy else province.name


def commune_name(code: str) -> str:
    return admin_units().communes[code].name


def commune_province_code(code: str) -> str:
    return admin_units().communes[code].province_code


def current_province_code(legacy_code: str) -> str:
    """The province a legacy (pre-2025) province code belongs to since 2025-07-01."""
    return admin_units().provinces[legacy_code].current_code


def render_address(*, line: str | None, commune_code: str) -> str:
    """A two-level address (since 2025-07-01): ``line, commune, province``."""
    commune = admin_units().communes[commune_code]
    parts = [line, commune.name, province_name(commune.province_code)]
    return ", ".join(part for part in parts if part)


def render_legacy_address(*, line: str | None, legacy_ward_code: str) -> str:
    """A three-level address as written until 2025-06-30: ``line, ward, district, province``."""
    ward = admin_units().legacy_wards[legacy_ward_code]
    parts = [line, ward.name, ward.district_name, province_name(ward.province_code, legacy=True)]
    return ", ".join(part for part in parts if part)


@cache
def code_lists() -> dict[str, list[tuple[int, str, str]]]:
    """``code_item`` rows by list: ethnicity, religion, marital_status, relationship."""
    codes = read_json("codes.json")
    return {
        "ethnicity": _code_rows("ethnicities.csv"),
        "religion": _code_rows("religions.csv"),
        "marital_status": [tuple(item) for item in codes["marital_status"]],
        "relationship": [tuple(item) for item in codes["relationship"]],
    }


def _code_rows(name: str) -> list[tuple[int, str, str]]:
    return [(int(r["code"]), r["name"], r["name_en"]) for r in read_csv(name)]


def code_name(list_name: str, code: int) -> str:
    return {c: name for c, name, _ in code_lists()[list_name]}[code]


def reference_date_of(database: Any, fallback: date) -> date:
    """The population's reference date (its fixed 'today'), so the cards match its ages (here,
    not in seed.cards: a server start asks for it without loading the card generator)."""
    from sqlalchemy import select

    from app.models.population import PopulationRun

    with database.read() as session:
        found = session.scalar(select(PopulationRun.reference_date).limit(1))
    return found or fallback
