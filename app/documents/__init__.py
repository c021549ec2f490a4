"""PURE: a citizen's integrated documents (VNeID "giấy tờ tích hợp"), computed, not stored.

The documents of a person are a function of the seed, the person's facts (:class:`Person`), the
day and the stored overrides (:class:`Override`: what an event or an authority changed since):
nothing is materialised when the population is generated, so 105 million people cost no rows.
A life event that changes the facts (a death, a move) changes the documents with them. Imports
only the standard library; the code lists are data files (``app/documents/data``).
See docs/documents.md for each document, its fields, its real source and the rules.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from typing import Any

from app.documents.health import health_insurance, social_insurance, vaccinations
from app.documents.model import Override, Person
from app.documents.tax import tax_registration
from app.documents.transport import driving_licences, vehicles

__all__ = ["KINDS", "Override", "Person", "documents_of"]

KINDS = ("health_insurance", "driving_licence", "vehicle_registration", "tax_registration",
         "social_insurance", "vaccination")


def _decided(document: dict[str, Any], changes: list[Override], today: date) -> dict[str, Any]:
    """A stored suspension, revocation or end date, unless the document already ended."""
    if document["status"] in ("ended", "void", "closed"):
        return document
    for change in changes:
        if change.applies_to(document) and change.effective_on <= today:
            if change.valid_to is not None:
                document["valid_to"] = change.valid_to
                if change.valid_to < today:
                    document |= {"status": "expired", "status_reason": change.reason}
            if change.status:
                document |= {"status": change.status, "status_reason": change.reason}
    return document


def documents_of(person: Person, *, seed: int, today: date, kinds: Iterable[str] = KINDS,
                 overrides: Iterable[Override] = ()) -> dict[str, list[dict[str, Any]]]:
    """Per kind asked for, the person's documents on ``today`` (empty list: none)."""
    wanted, changes = frozenset(kinds), list(overrides)
    found: dict[str, list[dict[str, Any]]] = {}
    card = health_insurance(person, seed=seed, today=today)
    if "health_insurance" in wanted:
        found["health_insurance"] = [_decided(card, changes, today)] if card else []
    if "driving_licence" in wanted:
        found["driving_licence"] = driving_licences(person, seed=seed, today=today,
                                                    overrides=changes)
    if "vehicle_registration" in wanted:
        found["vehicle_registration"] = vehicles(person, seed=seed, today=today)
    if "tax_registration" in wanted:
        found["tax_registration"] = _listed(tax_registration(person, seed=seed, today=today))
    if "social_insurance" in wanted:
        book = social_insurance(person, seed=seed, today=today,
                                group=card["group"] if card else None)
        found["social_insurance"] = _listed(book and _decided(book, changes, today))
    if "vaccination" in wanted:
        found["vaccination"] = vaccinations(person, seed=seed, today=today)
    return found


def _listed(document: dict[str, Any] | None) -> list[dict[str, Any]]:
    return [document] if document else []
