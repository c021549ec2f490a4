"""Reference data for rendering records: administrative-unit names and code lists, cached per
database (they change only when the population is regenerated, which restarts the service)."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from sqlalchemy import URL, make_url, select
from sqlalchemy.orm import Session

from app.models.population import CodeItem, Commune, LegacyCommune, Province


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


_cache: dict[str, Reference] = {}
_lock = threading.Lock()


def _load(session: Session) -> Reference:
    rows = session.scalars(select(Province)).all()
    provinces = {p.code: Unit(p.code, p.name) for p in rows}
    communes = {
        c.code: Unit(c.code, c.name, c.province_code) for c in session.scalars(select(Commune))
    }
    codes = {(i.list_name, i.code): (i.name, i.name_en) for i in session.scalars(select(CodeItem))}
    legacy_names = {p.code: p.legacy_name for p in rows}
    legacy = {w.code: f", {w.name}, {w.district_name}, {legacy_names[w.province_code]}"
              for w in session.scalars(select(LegacyCommune))}
    return Reference(provinces, communes, codes, legacy)


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
