"""Reference data for rendering records: administrative-unit names and code lists, cached per
database (they change only when the population is regenerated, which restarts the service)."""

from __future__ import annotations

import functools
import threading
from dataclasses import dataclass, field

from sqlalchemy import URL, make_url, select
from sqlalchemy.orm import Session

from app.models.population import (
    CodeItem,
    Commune,
    LegacyCommune,
    LegacyCommuneSuccessor,
    Province,
)


@dataclass(frozen=True)
class Unit:
    code: str
    name: str
    province_code: str | None = None


@dataclass(frozen=True)
class Reference:
    provinces: dict[str, Unit] = field(default_factory=dict)
    communes: dict[str, Unit] = field(default_factory=dict)
    codes: dict[tuple[str, int], tuple[str, str]] = field(
        default_factory=dict
    )  # -> (name, name_en)
    # legacy ward code -> ", ward, district, province" as written until 2025-06-30
    legacy_suffixes: dict[str, str] = field(default_factory=dict)
    # current commune code -> (legacy province code, legacy ward code) of the wards that went
    # (partly) into it, sorted
    predecessors: dict[str, tuple[tuple[str, str], ...]] = field(default_factory=dict)
    legacy_province_names: dict[str, str] = field(default_factory=dict)

    def commune(self, code: str | None) -> Unit | None:
        return self.communes.get(code) if code else None

    def province(self, code: str | None) -> Unit | None:
        return self.provinces.get(code) if code else None

    def code_name(self, list_name: str, code: int | None) -> tuple[str, str] | None:
        return None if code is None else self.codes.get((list_name, code))

    def legacy_address(self, *, line: str, legacy_commune_code: str) -> str | None:
        """``line, ward, district, province`` with the names before 2025-07-01."""
        suffix = self.legacy_suffixes.get(legacy_commune_code)
        return None if suffix is None else line + suffix

    def legacy_place(self, commune_code: str, *, key: int,
                     province_code: str | None = None) -> str | None:
        """``ward, district, province`` as written until 2025-06-30 for a place recorded by its
        current commune: one of the wards that went into it (those of ``province_code`` first),
        the same one for the same ``key`` (the holder's PIN), since the record keeps no ward."""
        wards = self.predecessors.get(commune_code, ())
        pool = [ward for province, ward in wards if province == province_code]
        pool = pool or [ward for _, ward in wards]
        if not pool:
            return None
        return self.legacy_suffixes[pool[key % len(pool)]].removeprefix(", ")

    def legacy_province(self, code: str) -> str | None:
        return self.legacy_province_names.get(code)


_cache: dict[str, Reference] = {}
_lock = threading.Lock()


def _load(session: Session) -> Reference:
    """Columns, not ORM objects (the ~10,000 legacy wards as objects were a second of the first
    start)."""
    rows = session.execute(select(Province.code, Province.name, Province.legacy_name)).all()
    provinces = {code: Unit(code, name) for code, name, _ in rows}
    communes = {code: Unit(code, name, province) for code, name, province in session.execute(
        select(Commune.code, Commune.name, Commune.province_code))}
    codes = {(list_name, code): (name, name_en) for list_name, code, name, name_en in
             session.execute(select(CodeItem.list_name, CodeItem.code, CodeItem.name,
                                    CodeItem.name_en))}
    legacy_names = {code: legacy_name for code, _, legacy_name in rows}
    wards = session.execute(select(LegacyCommune.code, LegacyCommune.name,
                                   LegacyCommune.district_name,
                                   LegacyCommune.province_code)).all()
    legacy = {code: f", {name}, {district}, {legacy_names[province]}"
              for code, name, district, province in wards}
    ward_province = {code: province for code, _, _, province in wards}
    predecessors: dict[str, list[tuple[str, str]]] = {}
    for code, commune in session.execute(select(LegacyCommuneSuccessor.legacy_code,
                                                LegacyCommuneSuccessor.commune_code)):
        predecessors.setdefault(commune, []).append((ward_province[code], code))
    return Reference(provinces, communes, codes, legacy,
                     {commune: tuple(sorted(wards)) for commune, wards in predecessors.items()},
                     legacy_names)


@functools.lru_cache(maxsize=64)  # rendering the URL was ~0.5 % of a login flow (userinfo)
def _key(url: str | URL) -> str:
    return make_url(url).render_as_string(hide_password=True)


def cached_reference(url: str | URL) -> Reference | None:
    """The reference data of the database at ``url`` if already loaded (no database access)."""
    return _cache.get(_key(url))


def reference(session: Session) -> Reference:
    """The cached reference data of this session's database (loaded once it is populated)."""
    key = _key(session.get_bind().url)
    cached = _cache.get(key)
    if cached is not None:
        return cached
    loaded = _load(session)
    if loaded.communes:
        with _lock:
            _cache[key] = loaded
    return loaded


def forget() -> None:
    """Drop the cache (after regenerating the population in-process, e.g. in tests)."""
    with _lock:
        _cache.clear()
