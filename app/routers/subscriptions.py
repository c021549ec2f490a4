"""``/v1/subscriptions``: a client's webhooks, their deliveries and replays (``events.read``)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Response, status

from app.dependencies import NowDep, ReadSessionDep, SessionDep, SettingsDep
from app.models.events import Delivery
from app.schemas import events as schemas
from app.security import Caller, require_scope
from app.services.events import subscriptions, webhook_sender, webhooks

router = APIRouter(prefix="/v1/subscriptions", tags=["event subscriptions"])
DeliveryId = Annotated[int, Path(ge=1, le=2**63 - 1)]
SubscriberDep = Annotated[Caller, Depends(require_scope("events.read"))]
_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "Missing or invalid access token"},
    403: {"description": "The token lacks events.read"},
    404: {"description": "subscription-not-found, delivery-not-found"},
    422: {"description": "invalid-subscription: problems lists each broken rule; "
                         "webhook-address-refused: the URL's host is an address webhooks may "
                         "not reach; event-type-unreadable: an event type named that the "
                         "subscription's scopes would never show (a <kind>.changed event "
                         "without document.<kind>)"},
}


def _owner(caller: Caller) -> subscriptions.Owner:
    return subscriptions.Owner(client_id=caller.client_id, scopes=caller.scopes,
                               purposes=caller.purposes, purpose=caller.purpose,
                               sandbox=caller.sandbox)


@router.post("", status_code=status.HTTP_201_CREATED, response_model=schemas.SubscriptionCreated,
             summary="Subscribe a webhook URL to event types (the secret is shown once)",
             responses=_ERRORS)
def create(body: schemas.SubscriptionCreate, caller: SubscriberDep, session: SessionDep,
           settings: SettingsDep, now: NowDep) -> Any:
    created = subscriptions.create(session, _owner(caller), body, now=now,
                                   targets=webhook_sender.target_policy(settings))
    return schemas.SubscriptionCreated.model_validate(
        {**schemas.SubscriptionOut.model_validate(created).model_dump(), "secret": created.secret})


@router.get("", response_model=schemas.SubscriptionList, summary="The client's subscriptions",
            responses=_ERRORS)
def list_all(caller: SubscriberDep, session: ReadSessionDep) -> Any:
    return schemas.SubscriptionList(subscriptions=[
        schemas.SubscriptionOut.model_validate(s)
        for s in subscriptions.of_client(session, caller.client_id)])


@router.get("/{subscription_id}", response_model=schemas.SubscriptionOut,
            summary="One subscription", responses=_ERRORS)
def get_one(subscription_id: str, caller: SubscriberDep, session: ReadSessionDep) -> Any:
    return subscriptions.get(session, caller.client_id, subscription_id)


@router.patch("/{subscription_id}", response_model=schemas.SubscriptionOut,
              summary="Change the URL, event types or scopes; pause or resume",
              responses=_ERRORS)
def update(subscription_id: str, body: schemas.SubscriptionUpdate, caller: SubscriberDep,
           session: SessionDep, settings: SettingsDep, now: NowDep) -> Any:
    found = subscriptions.get(session, caller.client_id, subscription_id)
    return subscriptions.update(session, _owner(caller), found, body, now=now,
                                targets=webhook_sender.target_policy(settings))


@router.delete("/{subscription_id}", status_code=status.HTTP_204_NO_CONTENT,
               summary="Delete (pending deliveries are dropped)", responses=_ERRORS)
def delete(subscription_id: str, caller: SubscriberDep, session: SessionDep,
           now: NowDep) -> Response:
    subscriptions.delete(session, subscriptions.get(session, caller.client_id, subscription_id),
                         now=now)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


def _out(delivery: Delivery, history: list[Any]) -> schemas.DeliveryOut:
    return schemas.DeliveryOut.model_validate({
        **{name: getattr(delivery, name) for name in
           ("id", "status", "attempts", "next_attempt_at", "last_status_code", "last_error",
            "created_at", "delivered_at")},
        "event_id": delivery.event_seq,
        "history": [schemas.AttemptOut.model_validate(a) for a in history]})


@router.get("/{subscription_id}/deliveries", response_model=schemas.DeliveryList,
            summary="Deliveries, newest first, with every attempt (status code or error)",
            responses=_ERRORS)
def deliveries(subscription_id: str, caller: SubscriberDep, session: ReadSessionDep,
               delivery_status: Annotated[Literal["pending", "delivered", "failed"] | None,
                                          Query(alias="status")] = None,
               limit: Annotated[int, Query(ge=1, le=200)] = 50) -> Any:
    found = subscriptions.get(session, caller.client_id, subscription_id)
    rows = subscriptions.deliveries(session, found, status=delivery_status, limit=limit)
    history = webhooks.attempts(session, [d.id for d in rows])
    return schemas.DeliveryList(deliveries=[_out(d, history[d.id]) for d in rows])


@router.post("/{subscription_id}/deliveries/{delivery_id}/replay",
             response_model=schemas.DeliveryOut,
             summary="Send one delivery again (a new round of attempts)", responses=_ERRORS)
def replay_one(subscription_id: str, delivery_id: DeliveryId, caller: SubscriberDep,
               session: SessionDep, now: NowDep) -> Any:
    found = subscriptions.get(session, caller.client_id, subscription_id)
    delivery = subscriptions.delivery(session, found, delivery_id)
    webhooks.replay(session, [delivery], now=now)
    return _out(delivery, webhooks.attempts(session, [delivery.id])[delivery.id])


@router.post("/{subscription_id}/replay", response_model=schemas.ReplayResult,
             summary="Send every failed delivery again", responses=_ERRORS)
def replay_failed(subscription_id: str, caller: SubscriberDep, session: SessionDep,
                  now: NowDep) -> Any:
    found = subscriptions.get(session, caller.client_id, subscription_id)
    return schemas.ReplayResult(
        replayed=webhooks.replay(session, subscriptions.failed(session, found), now=now))
