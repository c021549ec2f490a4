"""Webhook deliveries: sign, send, record, retry with exponential backoff, replay.

Deliveries wait in the outbox (``event_delivery``, written in the event's own transaction). A pass
(:func:`run_pass`: the server's background worker every second, or ``dancu events deliver``)
claims the due ones in a short transaction, sends them with no transaction open (the sender:
:mod:`app.services.events.webhook_sender`, which decides where a webhook may go and how long an
attempt may take), then records each attempt in another. A subscriber that is down therefore never
blocks an event; it only delays its own deliveries.

Signature (Stripe-like): header ``X-Dancu-Signature: t=<unix seconds>,v1=<hex>`` where
``hex = HMAC-SHA256(secret, f"{t}." + body)`` over the exact body bytes; ``t`` is real time (the
subscriber compares it with its own clock), event dates are sandbox time. Attempt ``n`` that fails
(network error, timeout or a status other than 2xx; redirects are not followed) is retried after
``30 s * 2^(n-1)`` (capped at one hour) of sandbox time; after :data:`MAX_ATTEMPTS` the delivery is
``failed`` until replayed.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.db import Database
from app.models.client import Client
from app.models.events import Delivery, DeliveryAttempt, LifeEvent, Subscription
from app.services.events import feed as events
from app.services.sharing import consent as consents

log = logging.getLogger("dancu.webhooks")
SIGNATURE_HEADER = "X-Dancu-Signature"
MAX_ATTEMPTS = 8
BASE_DELAY = timedelta(seconds=30)
MAX_DELAY = timedelta(hours=1)
LEASE = timedelta(minutes=2)  # a claimed delivery is not claimed again meanwhile
PASS_SIZE = 100


def signature(secret: str, timestamp: int, body: bytes) -> str:
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def signature_header(secret: str, timestamp: int, body: bytes) -> str:
    return f"t={timestamp},v1={signature(secret, timestamp, body)}"


def backoff(attempts: int) -> timedelta:
    """Delay after the ``attempts``-th failed attempt of a round."""
    return min(BASE_DELAY * 2 ** max(attempts - 1, 0), MAX_DELAY)


@dataclass(frozen=True)
class Job:
    """One delivery to send: where, what, signed with which secret."""

    delivery_id: int
    subscription_id: str
    url: str
    secret: str
    body: bytes
    headers: dict[str, str]


@dataclass(frozen=True)
class Result:
    delivery_id: int
    status_code: int | None
    error: str | None
    duration_ms: int
    attempted: bool = True  # False: not sent in this pass, due again at the next

    @classmethod
    def deferred(cls, delivery_id: int) -> Result:
        return cls(delivery_id, None, None, 0, attempted=False)

    @property
    def answered(self) -> bool:
        return self.status_code is not None

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


@dataclass
class PassReport:
    attempted: int = 0
    delivered: int = 0
    failed: int = 0
    retrying: int = 0


Sender = Callable[[list[Job]], list[Result]]


# --- claiming -------------------------------------------------------------------------------------


def _due(session: Session, now: datetime, limit: int) -> list[Delivery]:
    """The due deliveries a pass takes, in turns: every subscription's oldest due one first,
    then every subscription's second, and so on. A subscription with a backlog (a receiver that
    has been down for a while) therefore cannot fill a pass and starve the others: each pass
    takes at least one delivery of every subscription that has one due (up to ``limit``
    subscriptions). The ranking reads every due delivery (the status and due-time index), once
    a pass."""
    due = (Delivery.status == "pending", Delivery.next_attempt_at <= now)
    turns = (select(Delivery.id, func.row_number().over(
        partition_by=Delivery.subscription_id,
        order_by=(Delivery.next_attempt_at, Delivery.id)).label("turn"))
        .where(*due).subquery())
    query = (select(Delivery).join(turns, turns.c.id == Delivery.id).where(*due)
             .order_by(turns.c.turn, Delivery.next_attempt_at, Delivery.id).limit(limit)
             .with_for_update(of=Delivery, skip_locked=True))
    return list(session.scalars(query))


def _consented(session: Session, subscription: Subscription, client: Client, event: LifeEvent,
               now: datetime) -> list[str] | None:
    """What this delivery may carry now: the subscription's scopes the client still holds and,
    for a consent-based client, the citizen's consent in force covers (``None``: it lapsed)."""
    scopes = [s for s in subscription.scopes if s in client.scopes]
    if client.data_basis != "consent":
        return scopes
    found = consents.in_force(session, pin=event.pin, client_id=client.client_id,
                              purpose=subscription.purpose, now=now)
    return None if found is None else [s for s in scopes if s in found.scopes]


def _job(session: Session, delivery: Delivery, now: datetime) -> Job | str | None:
    """The job to send, an error that fails the delivery, or ``None`` to wait (paused)."""
    subscription = session.get(Subscription, delivery.subscription_id)
    event = session.get(LifeEvent, delivery.event_seq)
    if subscription is None or subscription.status == "deleted" or event is None:
        return "subscription deleted"
    if subscription.status == "paused":
        return None
    client = session.get(Client, subscription.client_id)
    if client is None or client.status != "active":
        return "client disabled"
    scopes = _consented(session, subscription, client, event, now)
    if scopes is None:
        return "consent no longer in force"
    if event.type in events.GATED_EVENTS and not events.readable(event.type, scopes):
        return "scopes no longer cover the event"
    body = json.dumps(events.view(event, scopes), ensure_ascii=False, separators=(",", ":"),
                      sort_keys=True).encode()
    headers = {"Content-Type": "application/json", "X-Dancu-Event-Id": str(event.seq),
               "X-Dancu-Event-Type": event.type, "X-Dancu-Delivery-Id": str(delivery.id),
               "X-Dancu-Subscription-Id": subscription.id, "User-Agent": "dancu-sandbox-webhooks"}
    return Job(delivery.id, subscription.id, subscription.url, subscription.secret, body, headers)


def claim(session: Session, *, now: datetime, limit: int | None = None) -> list[Job]:
    """Due deliveries (at most ``limit``, :data:`PASS_SIZE` unless given) as jobs; each is leased
    until ``now + LEASE`` (no other pass takes it)."""
    jobs = []
    for delivery in _due(session, now, PASS_SIZE if limit is None else limit):
        job = _job(session, delivery, now)
        if isinstance(job, str):
            delivery.status, delivery.last_error, delivery.next_attempt_at = "failed", job, None
            continue
        delivery.next_attempt_at = now + LEASE
        if job is not None:
            jobs.append(job)
    session.flush()
    return jobs


# --- recording ------------------------------------------------------------------------------------


def record(session: Session, results: list[Result], *, now: datetime,
           report: PassReport) -> None:
    for result in results:
        delivery = session.get(Delivery, result.delivery_id)
        if delivery is None:
            continue
        if not result.attempted:
            delivery.next_attempt_at = now  # only leased for this pass: due again at the next
            continue
        session.add(DeliveryAttempt(delivery_id=delivery.id, attempted_at=now,
                                    status_code=result.status_code, error=result.error,
                                    duration_ms=result.duration_ms))
        _outcome(delivery, result, now, report)
    session.flush()


def _outcome(delivery: Delivery, result: Result, now: datetime, report: PassReport) -> None:
    report.attempted += 1
    delivery.attempts += 1
    delivery.last_status_code, delivery.last_error = result.status_code, result.error
    if result.ok:
        delivery.status, delivery.delivered_at, delivery.next_attempt_at = "delivered", now, None
        report.delivered += 1
    elif delivery.attempts >= MAX_ATTEMPTS:
        delivery.status, delivery.next_attempt_at = "failed", None
        report.failed += 1
    else:
        delivery.next_attempt_at = now + backoff(delivery.attempts)
        report.retrying += 1


def run_pass(database: Database, *, now: datetime, send: Sender,
             limit: int | None = None) -> PassReport:
    """Claim, send and record one batch of due deliveries (owns its two short transactions)."""
    with database.write() as session:
        jobs = claim(session, now=now, limit=limit)
    report = PassReport()
    if not jobs:
        return report
    results = send(jobs)
    with database.write() as session:
        record(session, results, now=now, report=report)
    log.info("webhook pass: %d attempted, %d delivered, %d retrying, %d failed",
             report.attempted, report.delivered, report.retrying, report.failed)
    return report


# --- replay ---------------------------------------------------------------------------------------


def replay(session: Session, deliveries: list[Delivery], *, now: datetime) -> int:
    """Queue failed (or delivered) deliveries again for a new round of attempts."""
    for delivery in deliveries:
        delivery.status, delivery.attempts, delivery.next_attempt_at = "pending", 0, now
        delivery.delivered_at = None
    session.flush()
    return len(deliveries)


def attempts(session: Session, delivery_ids: list[int]) -> dict[int, list[DeliveryAttempt]]:
    found: dict[int, list[DeliveryAttempt]] = {i: [] for i in delivery_ids}
    if delivery_ids:
        query = (select(DeliveryAttempt).where(DeliveryAttempt.delivery_id.in_(delivery_ids))
                 .order_by(DeliveryAttempt.id))
        for attempt in session.scalars(query):
            found[attempt.delivery_id].append(attempt)
    return found

