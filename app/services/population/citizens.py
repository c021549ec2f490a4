"""Population data for agencies: lookup by PIN, residence confirmation, verification without
disclosure, old-CMND resolution and test-data search.

Each function reads through the :class:`~app.services.population.reading.ReadScope` it is given and
records what it disclosed in its :class:`Access`; :func:`audited` runs it and then commits those
audit records (group commit, :mod:`app.services.sharing.audit_writer`) before the answer may leave.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Concatenate, ParamSpec, TypeVar

from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from app import matching
from app import pin as pin_rules
from app.errors import NotFound, ServiceUnavailable, ValidationFailed
from app.models.population import (
    Citizen,
    Commune,
    FamilyRelation,
    Household,
    PinHistory,
    Residence,
)
from app.services.population.reading import NeedsBlocking, ReadScope
from app.services.population.reference import Reference
from app.services.sharing import audit
from app.services.sharing.audit_writer import AuditUnavailable
from app.services.storage.runtime import Runtime

# Code lists in ``code_item`` (list_name).
ETHNICITY, RELIGION, MARITAL_STATUS, RELATIONSHIP = ("ethnicity", "religion", "marital_status",
                                                      "relationship")
FAMILY_KINDS = ("father", "mother", "spouse", "legal_representative")


class InvalidPin(ValidationFailed):
    code, title = "invalid-pin", "The personal identification number is invalid"


class CitizenNotFound(NotFound):
    code, title = "citizen-not-found", "No citizen has this number"


def checked_pin(value: str) -> str:
    """A PIN exactly as the API takes it (12 ASCII digits, no spaces or separators), else a 422
    problem naming the rule broken; the value itself is never repeated."""
    try:
        # twelve ASCII digits are their own compact form (the lookups' every request)
        if not (value.isascii() and value.isdigit()) and value != pin_rules.compact(value):
            raise pin_rules.InvalidFormat()
        return pin_rules.validate(value)
    except pin_rules.PinError as error:
        raise InvalidPin(error.message, rule=error.rule) from None


def pin_rule_broken(value: str) -> str | None:
    """The rule ``value`` breaks as a PIN, or ``None`` when it is valid (for batch items)."""
    try:
        checked_pin(value)
    except InvalidPin as error:
        return str(error.extensions["rule"])
    return None


@dataclass(frozen=True, slots=True)
class Access:
    """Who asks, why, and the request it belongs to: what each audit record names. The reading
    functions below :meth:`record` their disclosures here; :func:`audited` commits them."""

    client_id: str
    purpose: str
    request_id: str
    now: datetime
    entries: list[audit.AuditEntry] = field(default_factory=list)

    def record(self, entries: Iterable[audit.AuditEntry]) -> None:
        self.entries.extend(entries)

    def entry(
        self, action: str, pin: str | None, fields: Iterable[str], result: str
    ) -> audit.AuditEntry:
        return audit.AuditEntry(
            client_id=self.client_id,
            purpose=self.purpose,
            action=action,
            pin=pin,
            fields=tuple(fields),
            result=result,
            request_id=self.request_id,
        )


def written_name(*, surname: str, middle_name: str | None, given_name: str,
                 clan_last: bool = False) -> str:
    """The full name in the order it is written: surname, middle name(s), given name, or for a
    clan-last group the middle and given name, then the clan."""
    parts = ((middle_name, given_name, surname) if clan_last
             else (surname, middle_name, given_name))
    return " ".join(part for part in parts if part)


def full_name(citizen: Any) -> str:
    """The written full name of a citizen row (its ``ethnicity_code`` decides the order)."""
    return written_name(surname=citizen.surname, middle_name=citizen.middle_name,
                        given_name=citizen.given_name,
                        clan_last=citizen.ethnicity_code in matching.CLAN_LAST_ETHNICITIES)


class AuditFailed(ServiceUnavailable):
    code, title = "audit-unavailable", "The access could not be audited, so nothing is disclosed"
    RETRY_AFTER_SECONDS = 1  # the database was unreachable (a failover): worth trying again

    def __init__(self) -> None:
        super().__init__()
        self.headers["Retry-After"] = str(self.RETRY_AFTER_SECONDS)


P = ParamSpec("P")
T = TypeVar("T")


def _in_read_scope(runtime: Runtime, work: Callable[..., T], *args: Any,
                   prefetched: dict[str, Any] | None = None, inline_only: bool = False,
                   **kwargs: Any) -> T:
    scope = ReadScope(runtime.database, runtime.citizens, prefetched=prefetched,
                      inline_only=inline_only)
    try:
        return work(scope, *args, **kwargs)
    finally:
        scope.close()


async def _read(runtime: Runtime, work: Callable[..., T], args: tuple[Any, ...],
                kwargs: dict[str, Any], prefetch: str | None) -> T:
    if runtime.citizens_async is None or prefetch is None:  # SQLite: all inline
        return await runtime.run_blocking(
            functools.partial(_in_read_scope, runtime, work, *args, **kwargs))
    prefetched = {prefetch: await runtime.citizens_async(prefetch)}
    try:  # most lookups need that row only: answer from the event loop, no worker thread
        return _in_read_scope(runtime, work, *args, prefetched=prefetched, inline_only=True,
                              **kwargs)
    except NeedsBlocking:
        kwargs["access"].entries.clear()  # the work is re-run from the start
        return await runtime.run_blocking(functools.partial(
            _in_read_scope, runtime, work, *args, prefetched=prefetched, **kwargs))


async def audited(
    runtime: Runtime,
    work: Callable[Concatenate[ReadScope, P], T],
    *args: P.args,
    **kwargs: P.kwargs,
) -> T:
    """Run a reading function (its ``access=`` keyword collects the disclosures) with a
    :class:`ReadScope`, then wait until its audit records are committed: no answer without its
    record. ``prefetch=<pin>`` reads that citizen row first, asynchronously where the database
    allows it."""
    access = kwargs["access"]
    assert isinstance(access, Access)
    prefetch = kwargs.pop("prefetch", None)
    pin = prefetch if isinstance(prefetch, str) else None
    result = await _read(runtime, work, args, kwargs, pin)
    try:
        await runtime.audit.append(access.entries, now=access.now)
    except AuditUnavailable:
        raise AuditFailed() from None
    return result


# --- rendering -----------------------------------------------------------------------------------


def _unit(ref: Reference, commune_code: str | None) -> dict[str, Any] | None:
    commune = ref.commune(commune_code)
    if commune is None:
        return None
    province = ref.province(commune.province_code)
    return {
        "commune_code": commune.code,
        "commune": commune.name,
        "province_code": commune.province_code,
        "province": province.name if province else None,
    }


def address(ref: Reference, *, commune_code: str, line: str | None) -> dict[str, Any]:
    """Post-2025 two-level form: ``line, commune, province`` (no district)."""
    unit = _unit(ref, commune_code) or {
        "commune_code": commune_code,
        "commune": None,
        "province_code": None,
        "province": None,
    }
    parts = [line, unit["commune"], unit["province"]]
    return {**unit, "address_line": line, "text": ", ".join(p for p in parts if p)}


def _coded(ref: Reference, list_name: str, code: int | None) -> dict[str, Any] | None:
    if code is None:
        return None
    names = ref.code_name(list_name, code)
    return {
        "code": code,
        "name": names[0] if names else None,
        "name_en": names[1] if names else None,
    }


def _residence_view(ref: Reference, row: Residence | None) -> dict[str, Any] | None:
    if row is None:
        return None
    return {
        **address(ref, commune_code=row.commune_code, line=row.address_line),
        "registered_on": row.registered_on,
        "valid_until": row.valid_until,
    }


def _person(citizen: Citizen | None) -> dict[str, Any] | None:
    if citizen is None:
        return None
    return {"pin": citizen.pin, "full_name": full_name(citizen), "nationality": citizen.nationality}


@dataclass
class _Context:
    """Loads related rows only when an allowed field needs them."""

    scope: ReadScope
    citizen: Any  # a citizen row (attribute access)
    _residences: dict[str, Residence] | None = None
    _relatives: dict[str, list[Citizen]] | None = None

    @property
    def session(self) -> Session:
        return self.scope.session

    @property
    def ref(self) -> Reference:
        return self.scope.reference()

    def residence(self, kind: str) -> Residence | None:
        if self._residences is None:
            self._residences = current_residences(self.session, self.citizen.pin)
        return self._residences.get(kind)

    def relatives(self, kind: str) -> list[Citizen]:
        if self._relatives is None:
            self._relatives = _relatives(self.session, self.citizen.pin)
        return self._relatives.get(kind, [])

    def relative(self, kind: str) -> dict[str, Any] | None:
        found = self.relatives(kind)
        return _person(found[0]) if found else None


def current_residences(session: Session, pin: str) -> dict[str, Residence]:
    """Registrations still in force, by kind (the latest registration wins)."""
    query = (
        select(Residence)
        .where(Residence.pin == pin, Residence.deregistered_on.is_(None))
        .order_by(Residence.registered_on)
    )
    return {row.kind: row for row in session.scalars(query)}


def _relatives(session: Session, pin: str) -> dict[str, list[Citizen]]:
    """Father, mother, spouse, legal representative and children of ``pin`` (relations in force)."""
    found: dict[str, list[Citizen]] = {}
    outgoing = (
        select(FamilyRelation.kind, Citizen)
        .join(Citizen, Citizen.pin == FamilyRelation.relative_pin)
        .where(FamilyRelation.pin == pin, FamilyRelation.ended_on.is_(None))
    )
    for kind, relative in session.execute(outgoing):
        found.setdefault(kind, []).append(relative)
    children = (
        select(Citizen)
        .join(FamilyRelation, FamilyRelation.pin == Citizen.pin)
        .where(FamilyRelation.relative_pin == pin, FamilyRelation.kind.in_(("father", "mother")))
        .order_by(Citizen.birth_date)
    )
    found["children"] = list(session.scalars(children))
    return found


def _household(ctx: _Context) -> dict[str, Any] | None:
    citizen = ctx.citizen
    if citizen.household_id is None:
        return None
    household = ctx.session.get(Household, citizen.household_id)
    return {
        "household_id": citizen.household_id,
        "residence_file_number": household.residence_file_number if household else None,
        "is_head": household is not None and household.head_pin == citizen.pin,
        "relationship_to_head": _coded(ctx.ref, RELATIONSHIP, citizen.relationship_to_head),
    }


def _registration_place(ctx: _Context) -> dict[str, Any]:
    code = ctx.citizen.birth_registration_place
    province = ctx.ref.province(code)
    return {"code": code, "name": province.name if province else None, "abroad": province is None}


def _address_of(ctx: _Context, commune_code: str | None) -> dict[str, Any] | None:
    return None if commune_code is None else address(ctx.ref, commune_code=commune_code, line=None)


FIELD_VALUES: dict[str, Callable[[_Context], Any]] = {
    "pin": lambda c: c.citizen.pin,
    "status": lambda c: c.citizen.status,
    "full_name": lambda c: full_name(c.citizen),
    "surname": lambda c: c.citizen.surname,
    "middle_name": lambda c: c.citizen.middle_name or None,
    "given_name": lambda c: c.citizen.given_name,
    "birth_date": lambda c: c.citizen.birth_date,
    "birth_date_precision": lambda c: c.citizen.birth_date_precision,
    "sex": lambda c: c.citizen.sex,
    "nationality": lambda c: c.citizen.nationality,
    "status_date": lambda c: c.citizen.status_date,
    "other_names": lambda c: c.citizen.other_names,
    "place_of_birth": lambda c: _address_of(c, c.citizen.birth_place_commune),
    "birth_registration_place": _registration_place,
    "place_of_origin": lambda c: _address_of(c, c.citizen.origin_commune),
    "old_id_number": lambda c: c.citizen.cmnd_number,
    "identifying_marks": lambda c: c.citizen.identifying_marks,
    "permanent_residence": lambda c: _residence_view(c.ref, c.residence("permanent")),
    "temporary_residence": lambda c: _residence_view(c.ref, c.residence("temporary")),
    "current_residence": lambda c: _residence_view(c.ref, c.residence("current")),
    "household": _household,
    "marital_status": lambda c: _coded(c.ref, MARITAL_STATUS, c.citizen.marital_status),
    "father": lambda c: c.relative("father"),
    "mother": lambda c: c.relative("mother"),
    "spouse": lambda c: c.relative("spouse"),
    "legal_representative": lambda c: c.relative("legal_representative"),
    "children": lambda c: [_person(child) for child in c.relatives("children")],
    "phone": lambda c: c.citizen.phone,
    "email": lambda c: c.citizen.email,
    "ethnicity": lambda c: _coded(c.ref, ETHNICITY, c.citizen.ethnicity_code),
    "religion": lambda c: _coded(c.ref, RELIGION, c.citizen.religion_code),
    "blood_group": lambda c: c.citizen.blood_group,
}


# --- lookup and residence ------------------------------------------------------------------------

def current(scope: ReadScope, citizen: Any) -> Any:
    """The record to answer with: a citizen whose PIN was cancelled and re-established (status
    ``replaced``) answers as the new PIN's record (``pin_history``)."""
    if citizen is None or citizen.status != "replaced":
        return citizen
    newer = scope.session.scalar(select(PinHistory.new_pin)
                                 .where(PinHistory.old_pin == citizen.pin))
    return scope.citizen(newer) if newer else citizen


def _superseded(record: dict[str, Any], asked: str) -> dict[str, Any]:
    if record["pin"] != asked:
        record["superseded_pin"] = asked
    return record


def lookup(
    scope: ReadScope, pin: str, *, fields: frozenset[str], access: Access
) -> dict[str, Any] | None:
    """The record restricted to ``fields``; ``None`` (and an audited ``not_found``) when unknown."""
    citizen = current(scope, scope.citizen(pin))
    if citizen is None:
        access.record([access.entry("lookup", pin, (), "not_found")])
        return None
    ctx = _Context(scope, citizen)
    record = {name: FIELD_VALUES[name](ctx) for name in sorted(fields)}
    access.record([access.entry("lookup", citizen.pin, fields, "disclosed")])
    return _superseded(record, pin)


RESIDENCE_FIELDS = (
    "permanent_residence",
    "temporary_residence",
    "current_residence",
    "household",
    "household_members",
)


def _members(ctx: _Context) -> list[dict[str, Any]]:
    household_id = ctx.citizen.household_id
    if household_id is None:
        return []
    head = ctx.session.get(Household, household_id)
    query = select(Citizen).where(Citizen.household_id == household_id).order_by(Citizen.birth_date)
    return [
        {
            "pin": member.pin,
            "full_name": full_name(member),
            "is_head": head is not None and head.head_pin == member.pin,
            "relationship_to_head": _coded(ctx.ref, RELATIONSHIP, member.relationship_to_head),
        }
        for member in ctx.session.scalars(query)
    ]


def residence_confirmation(scope: ReadScope, pin: str, *, access: Access) -> dict[str, Any] | None:
    """What replaced the household book: residences in force and the household's members."""
    citizen = current(scope, scope.citizen(pin))
    if citizen is None:
        access.record([access.entry("residence", pin, (), "not_found")])
        return None
    ctx = _Context(scope, citizen)
    view = {name: FIELD_VALUES[name](ctx) for name in ("pin", "status", *RESIDENCE_FIELDS[:4])}
    view["household_members"] = _members(ctx)
    access.record([access.entry("residence", citizen.pin, RESIDENCE_FIELDS, "disclosed")])
    return _superseded(view, pin)


# --- verification --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Claims:
    """Attributes a relying party claims for a PIN; ``None`` = not claimed."""

    full_name: str | None = None
    birth_date: date | None = None
    sex: str | None = None
    old_id_number: str | None = None
    phone: str | None = None

    def claimed(self) -> tuple[str, ...]:
        return tuple(
            name
            for name in ("full_name", "birth_date", "sex", "old_id_number", "phone")
            if getattr(self, name) is not None
        )


@dataclass(frozen=True)
class FieldResult:
    result: str  # match | no_match | not_on_record
    level: str | None = None  # for names: canonical | accent_insensitive


@dataclass(frozen=True)
class Verification:
    pin: str
    verdict: str  # match | no_match | inconclusive | pin_not_found | invalid_pin
    status: str | None = None
    fields: dict[str, FieldResult] = field(default_factory=dict)


def _plain(claimed: str, recorded: str | None, normalise: Callable[[str], str]) -> FieldResult:
    if not recorded:
        return FieldResult("not_on_record")
    return FieldResult("match" if normalise(claimed) == normalise(recorded) else "no_match")


def _name(claimed: str, citizen: Citizen, accent_insensitive: bool) -> FieldResult:
    found = matching.name_match(claimed, full_name(citizen), accent_insensitive=accent_insensitive)
    return FieldResult(
        "match" if found.matched else "no_match", found.level.value if found.matched else None
    )


def _birth(claimed: date, citizen: Citizen) -> FieldResult:
    same = matching.birth_date_matches(
        claimed, citizen.birth_date, precision=citizen.birth_date_precision
    )
    return FieldResult("match" if same else "no_match")


def compare(
    claims: Claims, citizen: Citizen, *, accent_insensitive: bool
) -> dict[str, FieldResult]:
    """Per claimed attribute: match / no_match / not_on_record (the stored value never leaves)."""
    checks: dict[str, Callable[[], FieldResult]] = {
        "full_name": lambda: _name(claims.full_name or "", citizen, accent_insensitive),
        "birth_date": lambda: _birth(claims.birth_date or date.min, citizen),
        "sex": lambda: FieldResult("match" if claims.sex == citizen.sex else "no_match"),
        "old_id_number": lambda: _plain(
            claims.old_id_number or "", citizen.cmnd_number, matching.clean_text
        ),
        "phone": lambda: _plain(claims.phone or "", citizen.phone, matching.canonical_phone),
    }
    return {name: checks[name]() for name in claims.claimed()}


def verdict(results: dict[str, FieldResult]) -> str:
    outcomes = {r.result for r in results.values()}
    if "no_match" in outcomes:
        return "no_match"
    return "inconclusive" if "not_on_record" in outcomes else "match"


def _verification(
    pin: str, citizen: Citizen | None, claims: Claims, accent_insensitive: bool
) -> Verification:
    if citizen is None:
        return Verification(pin, "pin_not_found")
    results = compare(claims, citizen, accent_insensitive=accent_insensitive)
    return Verification(pin, verdict(results), citizen.status, results)


def _audit_verifications(
    items: Sequence[tuple[Claims, Verification]], *, action: str, access: Access
) -> None:
    entries = [
        access.entry(action, v.pin, (*claims.claimed(), "status") if v.status else (), v.verdict)
        for claims, v in items
        if v.verdict != "invalid_pin"
    ]
    access.record(entries)


def verify(
    scope: ReadScope, pin: str, claims: Claims, *, accent_insensitive: bool, access: Access
) -> Verification:
    result = _verification(pin, current(scope, scope.citizen(pin)), claims, accent_insensitive)
    _audit_verifications([(claims, result)], action="verify", access=access)
    return result


def verify_batch(
    scope: ReadScope,
    items: Sequence[tuple[str | None, Claims]],
    *,
    accent_insensitive: bool,
    access: Access,
) -> list[Verification]:
    """``items`` are (valid PIN or ``None`` for one that broke a PIN rule, claims)."""
    pins = {pin for pin, _ in items if pin}
    found = (
        {c.pin: c for c in scope.session.scalars(select(Citizen).where(Citizen.pin.in_(pins)))}
        if pins
        else {}
    )
    results = [
        _verification(pin, current(scope, found.get(pin)), claims, accent_insensitive)
        if pin
        else Verification("", "invalid_pin")
        for pin, claims in items
    ]
    _audit_verifications(
        list(zip((c for _, c in items), results, strict=True)),
        action="verify_batch",
        access=access,
    )
    return results


# --- old CMND and search -------------------------------------------------------------------------


def resolve_cmnd(scope: ReadScope, cmnd: str, *, access: Access) -> tuple[str, str] | None:
    """(PIN, status) of the citizen who held this 9-digit CMND, or ``None``."""
    query = select(Citizen.pin, Citizen.status).where(Citizen.cmnd_number == cmnd).limit(2)
    rows = scope.session.execute(query).all()
    if len(rows) != 1:
        result = "not_found" if not rows else "ambiguous"
        access.record([access.entry("resolve_cmnd", None, (), result)])
        return None
    pin, status = rows[0]
    access.record([access.entry("resolve_cmnd", pin, ("pin", "status"), "disclosed")])
    return pin, status


@dataclass(frozen=True)
class SearchFilter:
    name: str | None = None  # accent-insensitive prefix of the full name (surname first)
    birth_date: date | None = None
    province: str | None = None  # province (current code) of the permanent residence
    status: str | None = None


SEARCH_FIELDS = ("pin", "full_name", "birth_date", "sex", "status")


def _search_query(flt: SearchFilter, *, after_pin: str | None, limit: int) -> Any:
    # A replaced row is a cancelled number, not a person: the person is found under the new one.
    query = select(Citizen).where(Citizen.status != "replaced").order_by(Citizen.pin).limit(limit)
    if flt.name:
        prefix = matching.accent_fold(flt.name)
        query = query.where(
            Citizen.name_folded >= prefix, Citizen.name_folded < prefix + "\U0010ffff"
        )
    if flt.birth_date:
        query = query.where(Citizen.birth_date == flt.birth_date)
    if flt.status:
        query = query.where(Citizen.status == flt.status)
    if flt.province:
        lives_there = (
            select(Residence.id)
            .join(Commune, Commune.code == Residence.commune_code)
            .where(
                Residence.pin == Citizen.pin,
                Residence.kind == "permanent",
                Residence.deregistered_on.is_(None),
                Commune.province_code == flt.province,
            )
        )
        query = query.where(exists(lives_there))
    if after_pin:
        query = query.where(Citizen.pin > after_pin)
    return query


def search(
    scope: ReadScope, flt: SearchFilter, *, after_pin: str | None, limit: int, access: Access
) -> list[dict[str, Any]]:
    """One page of matches ordered by PIN (keyset: pass the last PIN as ``after_pin``)."""
    hits = list(scope.session.scalars(_search_query(flt, after_pin=after_pin, limit=limit)))
    entries = [access.entry("search", c.pin, SEARCH_FIELDS, "disclosed") for c in hits] or [
        access.entry("search", None, (), "no_hits")
    ]
    access.record(entries)
    return [
        {
            "pin": c.pin,
            "full_name": full_name(c),
            "birth_date": c.birth_date,
            "sex": c.sex,
            "status": c.status,
        }
        for c in hits
    ]
