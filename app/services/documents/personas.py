"""Document personas (docs/personas.md, "Document personas"): a citizen whose generated document
is then changed by a stored override, so an integrator meets an expired licence, a licence with
no points left or a suspended health-insurance card on purpose.

The citizen is picked like the other personas (a hash of the seed, the key and the PIN among the
citizens that fit), but only among those the generator gives the document to."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy.orm import Session

from app.models.population import Citizen
from app.services.cards import failure_cards
from app.services.documents import integrated as documents
from app.services.population.reference import reference

log = logging.getLogger("dancu.personas")


@dataclass(frozen=True)
class DocumentCase:
    kind: str
    status: str
    reason: str
    fits: Callable[[dict[str, Any]], bool]
    change: Callable[[dict[str, Any], Any], dict[str, Any]]  # (document, today) -> override


CASES: dict[str, DocumentCase] = {
    "licence-expired": DocumentCase(
        "driving_licence", "expired", "not_renewed",
        fits=lambda d: d["status"] == "valid" and d["valid_to"] is not None,
        change=lambda d, today: {"valid_to": today - timedelta(days=45),
                                 "effective_on": today - timedelta(days=45),
                                 "reason": "not_renewed"}),
    "licence-no-points": DocumentCase(
        "driving_licence", "suspended", "no_points_left",
        fits=lambda d: d["status"] == "valid",
        change=lambda d, today: {"points_deducted": 12,
                                 "effective_on": today - timedelta(days=30)}),
    "health-insurance-suspended": DocumentCase(
        "health_insurance", "suspended", "contribution_arrears",
        fits=lambda d: d["status"] == "valid",
        change=lambda d, today: {"status": "suspended", "reason": "contribution_arrears",
                                 "effective_on": today - timedelta(days=10)}),
}


def shape(session: Session, citizen: Citizen, ctx: Any, *, key: str,
          candidates: list[str]) -> str:
    """Among ``candidates`` (``citizen`` is the usual pick), the first by the persona draw with a
    document of the case's kind that fits; its override is stored."""
    case = CASES[key]
    ref = reference(session)
    for pin in sorted(candidates, key=lambda pin: failure_cards.draw(ctx.seed, key, pin)):
        row = session.get(Citizen, pin)
        found = documents.documents_of(session, ref, row, now=ctx.now, kinds=(case.kind,))
        document = next((d for d in found[case.kind] if case.fits(d)), None)
        if document is not None:
            documents.record_override(session, pin=pin, kind=case.kind,
                                      number=document["number"], actor="generator",
                                      now=ctx.now, **case.change(document, ctx.today))
            return pin
    log.warning("no citizen has the document the %s persona needs", key)
    return citizen.pin
