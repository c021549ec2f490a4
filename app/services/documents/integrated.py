"""Integrated documents of a citizen: the facts the pure rules (:mod:`app.documents`) need, read
from the population database, the stored overrides, and the sector checks relying parties call.

The documents are computed on each read from the population's seed (``population_run``), the
citizen's record, their permanent residence and the day of the sandbox clock; the only rows are
``document_override`` (a suspension, a revocation, points deducted, a persona's shaping).
Every disclosure to a client goes through
:func:`app.services.population.citizens.audited` like a lookup.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from app import documents as rules
from app.documents import codes
from app.models.documents import DocumentOverride
from app.models.population import Commune, PopulationRun, Province, Residence
from app.prepared import Prepared
from app.services.cards import issuance as cards
from app.services.cards.issuance import local_date
from app.services.population import citizens
from app.services.population.reading import ReadScope
from app.services.population.reference import Reference

RESIDENCE_ORDER = ("permanent", "current", "temporary")


@dataclass(frozen=True)
class _Layout:
    """Per database: the population's seed, each commune's position in its province, each
    province's plate codes (they change only when the population is generated again, which
    restarts the service)."""

    seed: int
    commune_index: dict[str, int]
    plate_codes: dict[str, tuple[str, ...]]


# Compiled once, run on the driver's cursor (app.prepared): a documents read is a lookup's
# reads plus these two.
_HOMES = Prepared(select(Residence.kind, Residence.commune_code)
                  .where(Residence.pin == bindparam("pin"), Residence.deregistered_on.is_(None))
                  .order_by(Residence.registered_on))
_OVERRIDES = Prepared(select(DocumentOverride.kind, DocumentOverride.effective_on,
                             DocumentOverride.number, DocumentOverride.status,
                             DocumentOverride.valid_to, DocumentOverride.points_deducted,
                             DocumentOverride.reason)
                      .where(DocumentOverride.pin == bindparam("pin"))
                      .order_by(DocumentOverride.effective_on, DocumentOverride.id))


_layouts: dict[str, _Layout] = {}
_lock = threading.Lock()


def _layout(session: Session) -> _Layout:
    key = str(session.get_bind().engine.url)
    found = _layouts.get(key)
    if found is not None:
        return found
    by_province: dict[str, list[str]] = {}
    for code, province in session.execute(select(Commune.code, Commune.province_code)
                                          .order_by(Commune.code)):
        by_province.setdefault(province, []).append(code)
    index = {code: i for codes_ in by_province.values() for i, code in enumerate(codes_)}
    parts: dict[str, list[str]] = {}
    for code, current in session.execute(select(Province.code, Province.current_code)):
        parts.setdefault(current, []).append(code)
    seed = session.scalar(select(PopulationRun.seed).limit(1))
    layout = _Layout(int(seed or 0), index, {current: codes.plate_codes(found_codes)
                                             for current, found_codes in parts.items()})
    with _lock:
        _layouts[key] = layout
    return layout


def population_seed(session: Session) -> int:
    return _layout(session).seed


def _home(session: Session, pin: str) -> Any:
    latest = {row.kind: row for row in _HOMES.all(session.connection(), {"pin": pin})}
    return next((latest[kind] for kind in RESIDENCE_ORDER if kind in latest), None)


def person(session: Session, ref: Reference, citizen: Any) -> rules.Person:
    """The facts of ``citizen`` (a citizen row) the document rules use."""
    home = _home(session, citizen.pin)
    commune = ref.commune(home.commune_code) if home else None
    province = ref.province(commune.province_code) if commune else None
    layout = _layout(session)
    return rules.Person(
        pin=citizen.pin, birth_date=citizen.birth_date, sex=citizen.sex, status=citizen.status,
        status_date=citizen.status_date,
        province_code=commune.province_code if commune else None,
        province_name=province.name if province else None,
        commune_code=commune.code if commune else None,
        commune_name=commune.name if commune else None,
        commune_index=layout.commune_index.get(commune.code, 0) if commune else 0,
        plate_codes=layout.plate_codes.get(commune.province_code or "", ()) if commune else ())


def overrides(session: Session, pin: str) -> list[rules.Override]:
    return [rules.Override(*row) for row in _OVERRIDES.all(session.connection(), {"pin": pin})]


def documents_of(session: Session, ref: Reference, citizen: Any, *, now: datetime,
                 kinds: Iterable[str] = rules.KINDS) -> dict[str, list[dict[str, Any]]]:
    return rules.documents_of(person(session, ref, citizen), seed=population_seed(session),
                              today=local_date(now), kinds=kinds,
                              overrides=overrides(session, citizen.pin))


def checked_kind(kind: str) -> str:
    if kind not in rules.KINDS:
        raise ValueError("not a kind of integrated document")
    return kind


def record_override(session: Session, *, pin: str, kind: str, effective_on: date, actor: str,
                    now: datetime, **change: Any) -> DocumentOverride:
    """Store a change to a document (``number``, ``status``, ``valid_to``, ``points_deducted``,
    ``reason``)."""
    row = DocumentOverride(pin=pin, kind=checked_kind(kind), effective_on=effective_on,
                           actor=actor, created_at=now, **change)
    session.add(row)
    session.flush()
    return row


# --- what relying parties read (audited) ---------------------------------------------------------


def lookup(scope: ReadScope, pin: str, *, kind: str, now: datetime,
           access: citizens.Access) -> dict[str, Any] | None:
    """The citizen's documents of ``kind``; ``None`` (audited ``not_found``) for an unknown PIN."""
    citizen = citizens.current(scope, scope.citizen(pin))
    if citizen is None:
        access.record([access.entry("documents", pin, (), "not_found")])
        return None
    found = documents_of(scope.session, scope.reference(), citizen, now=now, kinds=(kind,))[kind]
    access.record([access.entry("documents", citizen.pin, (kind,), "disclosed")])
    return {"pin": citizen.pin, "status": citizen.status, "kind": kind, "documents": found}


HEALTH_CHECK_FIELDS = ("health_insurance.valid", "health_insurance.benefit_level",
                       "health_insurance.registered_facility")


def health_insurance_check(scope: ReadScope, pin: str, *, facility_code: str | None,
                           now: datetime, access: citizens.Access) -> dict[str, Any] | None:
    """What a hospital's reception checks with the chip card instead of the insurance card:
    insured on that day, benefit level, registered facility (and whether it is this one)."""
    citizen = citizens.current(scope, scope.citizen(pin))
    if citizen is None:
        access.record([access.entry("health_insurance_check", pin, (), "not_found")])
        return None
    cards_ = documents_of(scope.session, scope.reference(), citizen, now=now,
                          kinds=("health_insurance",))["health_insurance"]
    card = cards_[0] if cards_ else None
    access.record([access.entry("health_insurance_check", citizen.pin, HEALTH_CHECK_FIELDS,
                                "disclosed" if card else "not_insured")])
    answer: dict[str, Any] = {"pin": citizen.pin, "citizen_status": citizen.status,
                              "insured": card is not None,
                              "valid": bool(card and card["status"] == "valid")}
    if card is not None:
        answer |= {key: card[key] for key in ("status", "status_reason", "number",
                                              "legacy_number", "card_code",
                                              "benefit_level", "benefit_rate",
                                              "registered_facility", "valid_from", "valid_to",
                                              "five_years_continuous_from")}
        if facility_code is not None:
            answer["at_registered_facility"] = card["registered_facility"]["code"] == facility_code
    return answer


def identity_check(scope: ReadScope, pin: str, claims: citizens.Claims, *, action: str,
                   now: datetime, with_card: bool, access: citizens.Access) -> dict[str, Any]:
    """A telecom's subscriber check or a bank's customer check: the claimed name and birth date
    against the record (match / no_match per field, never the values), the record's status and,
    for a bank, whether the citizen holds a valid chip card."""
    citizen = citizens.current(scope, scope.citizen(pin))
    result = citizens._verification(pin, citizen, claims, False)
    shown = (*claims.claimed(), "status", *(("card_valid",) if with_card else ()))
    access.record([access.entry(action, pin, shown if result.status else (), result.verdict)])
    answer: dict[str, Any] = {"pin": pin, "verdict": result.verdict, "status": result.status,
                              "fields": {name: {"result": r.result, "level": r.level}
                                         for name, r in result.fields.items()}}
    if with_card and result.status is not None:
        answer["card_valid"] = cards.card_is_valid(scope.session, citizen.pin, now)
    return answer
