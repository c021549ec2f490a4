"""Driving licences (classes, validity, renewal, the 12 points) and vehicle registrations.

Rules (docs/documents.md, "Driving licences"): a licence issued before 2025-01-01 carries a class
of the old system (A1, A2, B2, C), one issued since a class of Law 36/2024/QH15; a renewal on or
after that day converts the class (A2 -> A, B2 -> B); A1/A/A2 never expire, B/B2 after 10 years,
C after 5; 85% renew on expiry. Every licence holds 12 points (Art. 58): deductions count down,
the 12 come back after 12 months without a deduction, at 0 the licence cannot be used and the
holder may sit the knowledge test 6 months later. A death voids every licence.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, timedelta
from typing import Any

from app.documents import codes
from app.documents.model import Override, Person, add_months, add_years, between, digits, rng

RENEWAL_RATE = 0.85
DEDUCTION_RATE = 0.08
# (category, old-system class, new-system class, min age, holder shares by sex)
CATEGORIES = (
    ("motorcycle", "A1-2008", "A1", 18, {"M": 0.78, "F": 0.64}),
    ("motorcycle-large", "A2-2008", "A", 18, {"M": 0.06, "F": 0.01}),
    ("car", "B2-2008", "B", 18, {"M": 0.30, "F": 0.10}),
    ("truck", "C-2008", "C", 21, {"M": 0.04, "F": 0.0}),
)


def new_system_from() -> date:
    return codes.day(codes.table("licence_classes")["new_system_from"])


def class_on(old: str, new: str, issued: date) -> str:
    """The class key a licence issued on ``issued`` carries."""
    return new if issued >= new_system_from() else old


def expiry(class_key: str, issued: date) -> date | None:
    years = codes.licence_class(class_key)["valid_years"]
    return None if years is None else add_years(issued, years)


def renewals(*, seed: int, pin: str, category: str, class_key: str, issued: date,
             until: date) -> tuple[str, date, date | None]:
    """(class, issued, expires) after the renewals made before ``until``; each one happens
    with :data:`RENEWAL_RATE` a few weeks before expiry and converts an old-system class."""
    cycle = 0
    expires = expiry(class_key, issued)
    while expires is not None and expires < until:
        draw = rng(seed, pin, f"licence-renewal:{category}:{cycle}")
        if draw.random() >= RENEWAL_RATE:
            break
        issued = expires - timedelta(days=draw.randint(0, 30))
        if issued >= new_system_from():
            class_key = codes.table("licence_classes")["converted_on_renewal"].get(class_key,
                                                                                  class_key)
        expires, cycle = expiry(class_key, issued), cycle + 1
    return class_key, issued, expires


def points_left(deductions: Iterable[tuple[date, int]], today: date) -> tuple[int, date | None]:
    """(points, day of the last deduction) on ``today`` under Art. 58: a licence not at 0 gets
    its 12 points back 12 months after the last deduction."""
    rules = codes.table("licence_classes")["points"]
    full, months = rules["full"], rules["restored_after_months"]
    points, last = full, None
    for on, lost in sorted(d for d in deductions if d[0] <= today):
        if last is not None and points > 0 and on >= add_months(last, months):
            points = full
        points, last = max(0, points - lost), on
    if last is not None and points > 0 and today >= add_months(last, months):
        points = full
    return points, last


def _generated_deductions(seed: int, pin: str, category: str, today: date) -> list[
        tuple[date, int]]:
    draw = rng(seed, pin, f"licence-points:{category}")
    start = max(codes.day(codes.table("licence_classes")["points"]["from"]),
                today - timedelta(days=365))
    if draw.random() >= DEDUCTION_RATE or start > today:
        return []
    return [(between(draw, start, today), draw.choice((2, 4, 6)))]


def _licence(person: Person, *, seed: int, today: date, category: tuple[Any, ...]) -> dict[
        str, Any] | None:
    name, old, new, min_age, shares = category
    draw = rng(seed, person.pin, f"licence:{name}")
    if draw.random() >= shares.get(person.sex, 0.0):
        return None
    first = between(draw, add_years(person.birth_date, min_age),
                    add_years(person.birth_date, min_age + 15))
    if first > today or (person.died_on and first > person.died_on):
        return None
    class_key, issued, expires = renewals(seed=seed, pin=person.pin, category=name,
                                          class_key=class_on(old, new, first), issued=first,
                                          until=min(today, person.died_on or today))
    spec = codes.licence_class(class_key)
    return {"kind": "driving_licence", "number": person.province2 + digits(draw, 10),
            "class": spec.get("class", class_key), "class_system": spec["system"],
            "vehicles": spec["vehicles"], "first_issued_on": first, "issued_on": issued,
            "valid_to": expires, "issuing_province": person.province_code, "category": name}


def driving_licences(person: Person, *, seed: int, today: date,
                     overrides: Iterable[Override] = ()) -> list[dict[str, Any]]:
    changes = list(overrides)
    found = [licence for category in CATEGORIES
             if (licence := _licence(person, seed=seed, today=today, category=category))]
    return [_licence_status(licence, person, seed=seed, today=today, changes=changes)
            for licence in found]


def _licence_status(licence: dict[str, Any], person: Person, *, seed: int, today: date,
                    changes: list[Override]) -> dict[str, Any]:
    mine = [c for c in changes if c.applies_to(licence) and c.effective_on <= today]
    for change in mine:
        if change.valid_to is not None:
            licence["valid_to"] = change.valid_to
    deductions = _generated_deductions(seed, person.pin, licence.pop("category"), today) + [
        (c.effective_on, c.points_deducted) for c in mine if c.points_deducted]
    points, last = points_left(deductions, today)
    licence |= {"points": points, "last_deduction_on": last,
                "knowledge_test_from": add_months(last, 6) if points == 0 and last else None}
    status, reason = _status(licence, person, today, mine)
    return licence | {"status": status, "status_reason": reason}


def _status(licence: dict[str, Any], person: Person, today: date,
            changes: list[Override]) -> tuple[str, str | None]:
    if person.died_on and person.died_on <= today:
        return "void", "holder_deceased"
    decided = next((c for c in reversed(changes) if c.status), None)
    if decided is not None:
        return str(decided.status), decided.reason
    if licence["valid_to"] is not None and licence["valid_to"] < today:
        return "expired", "not_renewed"
    if licence["points"] == 0:
        return "suspended", "no_points_left"
    return "valid", None


def vehicles(person: Person, *, seed: int, today: date) -> list[dict[str, Any]]:
    """Motorcycles (65% of adults, a second one for 15% of them) and cars (6% of those aged
    25 and over), each on an owner-identified plate of the owner's province."""
    if not person.plate_codes:
        return []
    draw = rng(seed, person.pin, "vehicles")
    owned = []
    if draw.random() < 0.65:
        owned.append(("motorcycle", 18))
        if draw.random() < 0.15:
            owned.append(("motorcycle", 20))
    if draw.random() < 0.06:
        owned.append(("car", 25))
    found = [_vehicle(person, seed=seed, kind=kind, min_age=min_age, index=i)
             for i, (kind, min_age) in enumerate(owned)]
    stop = min(d for d in (today, person.died_on) if d is not None)
    return [v | {"status": "owner_deceased" if person.died_on else "registered"}
            for v in found if v["registered_on"] <= stop]


def _vehicle(person: Person, *, seed: int, kind: str, min_age: int, index: int) -> dict[str, Any]:
    draw = rng(seed, person.pin, f"vehicle:{index}")
    table = codes.table("vehicles")["kinds"][kind]
    local, series, serial = draw.choice(person.plate_codes), draw.choice(table["series"]), \
        digits(draw, 5)
    plate = (f"{local}-{series} {serial[:3]}.{serial[3:]}" if kind == "motorcycle"
             else f"{local}{series}-{serial[:3]}.{serial[3:]}")
    registered = between(draw, add_years(person.birth_date, min_age),
                         add_years(person.birth_date, min_age + 25))
    return {"kind": "vehicle_registration", "number": digits(draw, 6), "plate": plate,
            "vehicle_kind": kind, "brand": draw.choice(table["brands"]),
            "registered_on": registered}
