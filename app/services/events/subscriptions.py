"""Webhook subscriptions of a client: which event types, which payload scopes (a subset of the
client's), which purpose, and where to; their deliveries and replays. A client sees only its own.

Rules: the URL is ``https`` (``http`` only on a loopback address, as for redirect URIs), without
whitespace or control characters; a host written as an address must be one webhooks may reach
(:mod:`app.webhook_address`; a name is checked at each delivery, where it counts); every event type
is known (or ``*``); the payload scopes are scopes the client holds among those that
put fields in payloads (:data:`app.services.events.feed.PAYLOAD_SCOPES`), at least one, and they
let the subscription receive every event type it names (``<kind>.changed`` needs
``document.<kind>``, any other type a record scope; ``event-type-unreadable`` otherwise); the
purpose is one the client registered. The secret is random, shown once at creation.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.errors import NotFound, ValidationFailed, named
from app.models.events import Delivery, Subscription
from app.oidc.clients import redirect_uri_problem
from app.schemas.events import SubscriptionCreate, SubscriptionUpdate
from app.services.events.feed import (
    EVENT_TYPES,
    GATED_EVENTS,
    PAYLOAD_SCOPES,
    RECORD_SCOPES,
    readable,
)
from app.webhook_address import TargetPolicy, host_refusal, url_text_problem

MAX_SUBSCRIPTIONS = 20
DELIVERY_STATUSES = ("pending", "delivered", "failed")


class SubscriptionNotFound(NotFound):
    code, title = "subscription-not-found", "No such subscription"


class DeliveryNotFound(NotFound):
    code, title = "delivery-not-found", "No such delivery"


class InvalidSubscription(ValidationFailed):
    code, title = "invalid-subscription", "The subscription is not valid"


class EventTypeUnreadable(ValidationFailed):
    code, title = ("event-type-unreadable",
                   "The subscription's scopes would never let it receive these event types")


class WebhookAddressRefused(ValidationFailed):
    code, title = "webhook-address-refused", "Webhooks may not be sent to this address"


@dataclass(frozen=True)
class Owner:
    """The client a subscription belongs to, as its token shows it."""

    client_id: str
    scopes: frozenset[str]
    purposes: tuple[str, ...]
    purpose: str
    sandbox: bool


def _url_problem(url: str, *, sandbox: bool) -> str | None:
    try:
        return url_text_problem(url) or redirect_uri_problem(url, sandbox=sandbox) or _port(url)
    except ValueError:  # urlsplit: a malformed host such as "[::1"
        return "must be an absolute URI"


def _port(url: str) -> None:
    """Raise ``ValueError`` for a port that is not a number from 0 to 65535."""
    urlsplit(url).port  # noqa: B018 (the property parses the port)


def _refuse_address(url: str, targets: TargetPolicy) -> None:
    """Refuse a URL whose host, as written, is an address webhooks may not reach."""
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    reason = host_refusal(parts.hostname or "", port, targets)
    if reason is not None:
        raise WebhookAddressRefused(problems=[f"url: {reason} is not allowed"])


def _problems(owner: Owner, *, url: str | None, types: Iterable[str] | None,
              scopes: Iterable[str] | None, purpose: str | None) -> list[str]:
    problems = []
    if url is not None and (reason := _url_problem(url, sandbox=owner.sandbox)):
        problems.append(f"url: {reason}")
    problems += [f"event_types: unknown type {named(t, i)}" for i, t in enumerate(types or ())
                 if t != "*" and t not in EVENT_TYPES]
    if scopes is not None:
        problems += [f"scopes: {named(s, i)} is not a payload scope the client holds"
                     for i, s in enumerate(scopes)
                     if s not in PAYLOAD_SCOPES or s not in owner.scopes]
        if not list(scopes):
            problems.append("scopes: at least one payload scope")
    if purpose is not None and purpose not in owner.purposes:
        problems.append("purpose: not one of the client's purposes")
    return problems


def _check(owner: Owner, targets: TargetPolicy, **values: object) -> None:
    problems = _problems(owner, **values)  # type: ignore[arg-type]
    if problems:
        raise InvalidSubscription(problems=problems)
    if values["url"] is not None:
        _refuse_address(str(values["url"]), targets)


def _refuse_unreadable(types: Iterable[str], scopes: Iterable[str]) -> None:
    """An event type named (not ``*``) that the subscription's payload scopes would never show
    (:func:`app.services.events.feed.readable`: a ``<kind>.changed`` event needs
    ``document.<kind>``, any other a record scope): accepted, it would never receive anything."""
    held = list(scopes)
    problems = [f"event_types: {t!r} needs {_needed(t)} among the subscription's scopes"
                for t in dict.fromkeys(types) if t != "*" and not readable(t, held)]
    if problems:
        raise EventTypeUnreadable(problems=problems)


def _needed(event_type: str) -> str:
    gate = GATED_EVENTS.get(event_type)
    return repr(gate) if gate is not None else "a record scope (" + ", ".join(RECORD_SCOPES) + ")"


def default_scopes(owner: Owner) -> list[str]:
    return [s for s in PAYLOAD_SCOPES if s in owner.scopes]


def create(session: Session, owner: Owner, body: SubscriptionCreate, *, targets: TargetPolicy,
           now: datetime) -> Subscription:
    scopes = body.scopes if body.scopes is not None else default_scopes(owner)
    purpose = body.purpose or owner.purpose
    _check(owner, targets, url=body.url, types=body.event_types, scopes=scopes, purpose=purpose)
    _refuse_unreadable(body.event_types, scopes)
    if len(of_client(session, owner.client_id)) >= MAX_SUBSCRIPTIONS:
        raise InvalidSubscription(problems=[f"at most {MAX_SUBSCRIPTIONS} subscriptions"])
    subscription = Subscription(
        id="sub_" + secrets.token_hex(8), client_id=owner.client_id, url=body.url,
        event_types=list(dict.fromkeys(body.event_types)), scopes=list(dict.fromkeys(scopes)),
        purpose=purpose, secret="whsec_" + secrets.token_urlsafe(32), status="active",
        created_at=now, updated_at=now)
    session.add(subscription)
    session.flush()
    return subscription


def of_client(session: Session, client_id: str) -> list[Subscription]:
    query = (select(Subscription).where(Subscription.client_id == client_id,
                                        Subscription.status != "deleted")
             .order_by(Subscription.created_at, Subscription.id))
    return list(session.scalars(query))


def get(session: Session, client_id: str, subscription_id: str) -> Subscription:
    found = session.get(Subscription, subscription_id)
    if found is None or found.client_id != client_id or found.status == "deleted":
        raise SubscriptionNotFound()
    return found


def update(session: Session, owner: Owner, subscription: Subscription, body: SubscriptionUpdate,
           *, targets: TargetPolicy, now: datetime) -> Subscription:
    _check(owner, targets, url=body.url, types=body.event_types, scopes=body.scopes, purpose=None)
    _refuse_unreadable(body.event_types if body.event_types is not None else
                       subscription.event_types,
                       body.scopes if body.scopes is not None else subscription.scopes)
    for name in ("url", "event_types", "scopes", "status"):
        value = getattr(body, name)
        if value is not None:
            setattr(subscription, name, value)
    subscription.updated_at = now
    session.flush()
    return subscription


def delete(session: Session, subscription: Subscription, *, now: datetime) -> None:
    """Stop it for good (kept for its delivery records); pending deliveries fail when due."""
    subscription.status, subscription.updated_at = "deleted", now
    session.flush()


def deliveries(session: Session, subscription: Subscription, *, status: str | None,
               limit: int) -> list[Delivery]:
    query = (select(Delivery).where(Delivery.subscription_id == subscription.id)
             .order_by(Delivery.id.desc()).limit(limit))
    if status is not None:
        query = query.where(Delivery.status == status)
    return list(session.scalars(query))


def delivery(session: Session, subscription: Subscription, delivery_id: int) -> Delivery:
    found = session.get(Delivery, delivery_id)
    if found is None or found.subscription_id != subscription.id:
        raise DeliveryNotFound()
    return found


def failed(session: Session, subscription: Subscription) -> list[Delivery]:
    query = select(Delivery).where(Delivery.subscription_id == subscription.id,
                                   Delivery.status == "failed").order_by(Delivery.id)
    return list(session.scalars(query))
