"""The life-event feed: record events in commit order, fan them out to the webhook outbox, read
them back as a cursor-paginated feed, and cut each payload down to what a reader may see.

Every life-event transaction starts with :func:`lock_feed`, which locks the single feed head row
(``SELECT ... FOR UPDATE`` on PostgreSQL; on SQLite the writing transaction already holds the
database lock). Life events are therefore serialised: two concurrent births never see the same free
PIN, two marriages of one person never both pass the checks, and ``seq`` grows in commit order, so
the pull feed never skips an event committed late.

Payloads hold record fields under their data-sharing names (``docs/scopes.md``): a reader receives
``pin``, ``status``, the fields of its scopes and the event's metadata (:data:`META_FIELDS`), never
anything else.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from app.models.client import Client
from app.models.events import Delivery, LifeEvent, LifeEventHead, Subscription
from app.services.sharing import consent as consents
from app.services.sharing.scopes import disclosed_fields

HEAD_ID = 1
DOCUMENT_KINDS = {"health_insurance": "health-insurance card",
                  "driving_licence": "driving licence", "vehicle_registration":
                  "vehicle registration", "tax_registration": "tax registration",
                  "social_insurance": "social-insurance book",
                  "vaccination": "vaccination record"}
EVENT_TYPES: dict[str, str] = {
    "birth.registered": "A birth was registered: a new citizen with a new PIN",
    "health_insurance.enrolment": "Linked to a birth: a child under 6 is enrolled in the "
                                  "state-funded health insurance",
    "death.registered": "A death was registered: residence deregistered, cards revoked, VNeID "
                        "account closed",
    "funeral_allowance.eligible": "Linked to a death: the funeral allowance may be claimed",
    "residence.changed": "A permanent, temporary or current residence was registered",
    "marriage.registered": "A marriage was registered (one event per spouse)",
    "divorce.registered": "A divorce was recorded (one event per spouse)",
    "marriage.ended_by_death": "The spouse died: the survivor is widowed",
    "name.changed": "The citizen's name was changed",
    "card.changed": "A chip card was reported lost, revoked or renewed",
    "pin.reestablished": "The PIN was cancelled and a new one established (event under the new "
                         "PIN; old_pin names the cancelled one)",
    **{f"{kind}.changed": f"An authority's decision on the citizen's {title}: suspended, revoked, "
                          "a new end date or points deducted (readers with document."
                          f"{kind} only)" for kind, title in DOCUMENT_KINDS.items()},
}
# Events about a document are shown only to a reader holding that document's scope (the feed
# and webhooks skip them otherwise), and then whole.
GATED_EVENTS: dict[str, str] = {f"{kind}.changed": f"document.{kind}" for kind in DOCUMENT_KINDS}
GATED_FIELDS = frozenset({"change", "documents"})
# Metadata of an event, shown to every reader (no personal data beyond the PIN).
META_FIELDS = frozenset({"reason", "kind", "action", "registered_on", "beneficiary_group",
                         "old_pin", "new_pin"})
# Payload fields outside the record fields of docs/scopes.md, and the scope that shows them.
EXTRA_FIELDS: dict[str, str] = {"card": "card.read", "previous_full_name": "citizen.basic",
                                "previous_residence": "citizen.residence",
                                "coverage_until": "citizen.basic"}
RECORD_SCOPES = ("citizen.basic", "citizen.identity", "citizen.residence", "citizen.family",
                 "citizen.contact", "card.read")
PAYLOAD_SCOPES = (*RECORD_SCOPES, *(f"document.{kind}" for kind in DOCUMENT_KINDS))


def visible_fields(scopes: Iterable[str]) -> frozenset[str]:
    """Payload fields a reader holding ``scopes`` receives."""
    held = set(scopes)
    extra = {name for name, scope in EXTRA_FIELDS.items() if scope in held}
    return disclosed_fields(held) | META_FIELDS | extra


def readable(event_type: str, scopes: Iterable[str]) -> bool:
    """Whether a reader with ``scopes`` receives an event of this type at all: a document event
    needs its document's scope, any other event a record scope (a reader holding document
    scopes only never learns of a birth or a death)."""
    held = set(scopes)
    gate = GATED_EVENTS.get(event_type)
    return gate in held if gate is not None else not held.isdisjoint(RECORD_SCOPES)


def view(event: LifeEvent, scopes: Iterable[str]) -> dict[str, Any]:
    """The event as a reader with ``scopes`` sees it."""
    held = list(scopes)
    allowed = visible_fields(held) | (GATED_FIELDS if event.type in GATED_EVENTS
                                      and readable(event.type, held) else frozenset())
    return {"id": event.seq, "type": event.type, "pin": event.pin,
            "occurred_on": event.occurred_on.isoformat(),
            "recorded_at": _utc(event.recorded_at), "cause_id": event.cause_seq,
            "data": {k: v for k, v in event.data.items() if k in allowed}}


def full_view(event: LifeEvent) -> dict[str, Any]:
    """The event as recorded (admin and the recording client)."""
    return view(event, [*PAYLOAD_SCOPES, "citizen.sensitive"])


def _utc(moment: datetime) -> str:
    from app.services.sharing.audit import utc_text

    return utc_text(moment)


# --- recording ------------------------------------------------------------------------------------


def lock_feed(session: Session) -> int:
    """Lock the feed head for this transaction (serialises life events); the last ``seq``."""
    found = session.execute(select(LifeEventHead.seq).where(LifeEventHead.id == HEAD_ID)
                            .with_for_update()).scalar_one_or_none()
    if found is None:  # a database made without the migration's first row
        session.add(LifeEventHead(id=HEAD_ID, seq=0))
        session.flush()
        return 0
    return int(found)


_NEXT_SEQ = (update(LifeEventHead).where(LifeEventHead.id == HEAD_ID)
             .values(seq=LifeEventHead.seq + 1).returning(LifeEventHead.seq))


@dataclass
class Recorder:
    """One life-event transaction: who records, when, and the events emitted so far."""

    session: Session
    now: datetime
    actor: str
    emitted: list[LifeEvent] = field(default_factory=list)
    _subscriptions: list[tuple[Subscription, str]] | None = None

    def emit(self, type_: str, pin: str, *, occurred_on: date, data: dict[str, Any],
             cause: LifeEvent | None = None) -> LifeEvent:
        assert type_ in EVENT_TYPES, type_
        seq = int(self.session.execute(_NEXT_SEQ).scalar_one())
        event = LifeEvent(seq=seq, type=type_, pin=pin, occurred_on=occurred_on,
                          recorded_at=self.now, data=_jsonable(data), recorded_by=self.actor,
                          cause_seq=cause.seq if cause is not None else None)
        self.session.add(event)
        self.emitted.append(event)
        self._fan_out(event)
        return event

    def _fan_out(self, event: LifeEvent) -> None:
        for subscription, basis in self._active_subscriptions():
            if not _wants(subscription, event.type) or not readable(event.type,
                                                                     subscription.scopes):
                continue
            if basis == "consent":
                found = consents.in_force(self.session, pin=event.pin,
                                          client_id=subscription.client_id,
                                          purpose=subscription.purpose, now=self.now)
                if found is None or not readable(event.type, found.scopes):
                    continue
            self.session.add(Delivery(subscription_id=subscription.id, event_seq=event.seq,
                                      status="pending", attempts=0, next_attempt_at=self.now,
                                      created_at=self.now))

    def _active_subscriptions(self) -> list[tuple[Subscription, str]]:
        if self._subscriptions is None:
            query = (select(Subscription, Client.data_basis)
                     .join(Client, Client.client_id == Subscription.client_id)
                     # a paused subscription queues its deliveries until it is resumed
                     .where(Subscription.status.in_(("active", "paused")),
                            Client.status == "active")
                     .order_by(Subscription.id))
            self._subscriptions = [(s, basis) for s, basis in self.session.execute(query)]
        return self._subscriptions


def _wants(subscription: Subscription, event_type: str) -> bool:
    return "*" in subscription.event_types or event_type in subscription.event_types


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items() if v is not None}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, date | datetime):
        return value.isoformat()
    return value


# --- reading --------------------------------------------------------------------------------------


def page(session: Session, *, after: int, limit: int,
         types: Sequence[str] | None = None) -> list[LifeEvent]:
    """Events with ``seq > after``, oldest first."""
    query = select(LifeEvent).where(LifeEvent.seq > after).order_by(LifeEvent.seq).limit(limit)
    if types:
        query = query.where(LifeEvent.type.in_(list(types)))
    return list(session.scalars(query))


def get(session: Session, seq: int) -> LifeEvent | None:
    return session.get(LifeEvent, seq)


def last_seq(session: Session) -> int:
    found = session.scalar(select(LifeEventHead.seq).where(LifeEventHead.id == HEAD_ID))
    return int(found or 0)


def readable_page(session: Session, *, after: int, limit: int, types: Sequence[str] | None,
                  scopes: Sequence[str], consent: tuple[str, str] | None,
                  now: datetime) -> tuple[list[dict[str, Any]], int]:
    """One page of the feed as a reader sees it, and the ``seq`` to continue after.

    ``consent`` = (client, purpose) of a consent-based reader: it receives only events about
    citizens whose consent is in force, each cut down to the scopes that consent covers."""
    from app.services.vneid.access_history import consented_scopes

    rows = page(session, after=after, limit=limit, types=types)
    last = rows[-1].seq if rows else after
    items = []
    for event in rows:
        allowed: Sequence[str] = scopes
        if consent is not None:
            covered = consented_scopes(session, pin=event.pin, client_id=consent[0],
                                       purpose=consent[1], now=now)
            allowed = [s for s in scopes if s in covered]
            if not allowed:
                continue
        if not readable(event.type, allowed):
            continue
        items.append(view(event, allowed))
    return items, last
