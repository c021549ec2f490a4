"""An authority's decision on a citizen's integrated document (``POST
/v1/admin/documents/{pin}/changes``) as a life event: the override is stored and a
``<kind>.changed`` event goes to the feed and the webhooks in the same transaction, as every
life event does (docs/life-events.md). The event is shown only to readers holding the
document's scope (``document.<kind>``), with the change and the documents of that kind after it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy.orm import Session

from app.models.population import Citizen
from app.services.documents import integrated as documents
from app.services.events import feed as events
from app.services.population.reference import reference

# What a reader of the event learns of each document after the change.
SHOWN = ("number", "status", "status_reason", "valid_from", "valid_to", "points",
         "last_deduction_on")


@dataclass(frozen=True)
class Change:
    kind: str
    effective_on: date
    number: str | None = None
    status: str | None = None
    valid_to: date | None = None
    points_deducted: int | None = None
    reason: str | None = None

    @property
    def action(self) -> str:
        if self.status is not None:
            return self.status  # suspended | revoked
        return "points_deducted" if self.points_deducted is not None else "valid_to_changed"


def record_change(session: Session, citizen: Citizen, change: Change, *, actor: str,
                  now: datetime) -> tuple[list[dict[str, Any]], Any]:
    """Store ``change`` and emit its event: the documents of that kind after it, and the event."""
    events.lock_feed(session)
    documents.record_override(session, pin=citizen.pin, kind=change.kind, number=change.number,
                              status=change.status, valid_to=change.valid_to,
                              points_deducted=change.points_deducted, reason=change.reason,
                              effective_on=change.effective_on, actor=actor, now=now)
    after = documents.documents_of(session, reference(session), citizen, now=now,
                                   kinds=(change.kind,))[change.kind]
    touched = [doc for doc in after if change.number in (None, doc["number"])]
    data = {"kind": change.kind, "action": change.action, "reason": change.reason,
            "change": {"number": change.number, "status": change.status,
                       "valid_to": change.valid_to, "points_deducted": change.points_deducted,
                       "effective_on": change.effective_on},
            "documents": [{key: doc.get(key) for key in SHOWN} for doc in touched]}
    event = events.Recorder(session, now, actor).emit(f"{change.kind}.changed", citizen.pin,
                                                      occurred_on=change.effective_on, data=data)
    session.flush()
    return after, event
