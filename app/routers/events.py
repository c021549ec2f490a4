"""``/v1/life-events`` (record events), ``/v1/events`` (the pull feed) and the admin simulation and
delivery pass (``/v1/admin/simulate``, ``/v1/admin/events/deliver``)."""

from __future__ import annotations

import random
import secrets
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from app.dependencies import NowDep, ReadSessionDep, SessionDep
from app.schemas import events as schemas
from app.security import AdminOnly, Caller, InsufficientScope, logouts, require_admin, require_scope
from app.services.cards.pki import card_pki
from app.services.events import feed as events
from app.services.events import life_events, simulation, webhook_sender, webhooks
from app.services.events.feed import EVENT_TYPES, PAYLOAD_SCOPES
from app.services.events.kinds import KINDS
from app.services.kit import shared_clock
from app.services.kit.pagination import decode_cursor, encode_cursor

router = APIRouter(prefix="/v1/life-events", tags=["life events"])
feed_router = APIRouter(prefix="/v1/events", tags=["event feed"])
admin_router = APIRouter(prefix="/v1/admin", tags=["admin: life events"],
                         dependencies=[Depends(require_admin)])
delivery_router = APIRouter(prefix="/v1/admin/events", tags=["admin: life events"])

_events_write = require_scope("events.write", allow_admin=True)


async def events_writer(request: Request,
                        caller: Annotated[Caller, Depends(_events_write)]) -> Caller:
    """``events.write`` (or the admin token); in the deployment itself the admin only, in a
    tenant any client of it with the scope: as for the sandbox clock. The deployment's population
    is every organisation's fixture (the personas of the README and the collection), and a death
    or a PIN re-establishment recorded there cannot be undone, as a tenant's can by a reset; the
    demo client's credentials are public, and any registered sandbox client is another
    organisation's."""
    if not caller.admin and getattr(request.app.state, "tenant", None) is None:
        raise AdminOnly(
            "The deployment's population is shared by every client: recording a life event in "
            "it needs the admin token. Record it in a tenant of your own (X-Sandbox-Tenant), "
            "where any client of the tenant with events.write may.")
    return caller


WriteCaller = Annotated[Caller, Depends(events_writer)]
ReadCaller = Annotated[Caller, Depends(require_scope("events.read", allow_admin=True))]


async def delivery_runner(request: Request, caller: ReadCaller) -> Caller:
    """The admin token; in a tenant also any client of it with ``events.read`` (the scope of its
    subscriptions): a tenant has no delivery thread, and an organisation working in its tenant
    on a shared deployment has no admin token. The deployment's pass stays the admin's."""
    if not caller.admin and getattr(request.app.state, "tenant", None) is None:
        raise AdminOnly("The deployment's deliveries run every second on their own; running a "
                        "pass needs the admin token. In a tenant of your own, any client of it "
                        "with events.read may.")
    return caller
IdempotencyKey = Annotated[str | None, Header(
    alias="Idempotency-Key", max_length=200, pattern=r"^[\x21-\x7e]+$",
    description="Same key and body: the stored result again; same key, other body: 422")]
_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "Missing or invalid token"},
    403: {"description": "insufficient-scope (events.write, sandbox clients and the admin); "
                         "admin-only: a client outside a tenant (in the deployment only the "
                         "admin records life events)"},
    404: {"description": "citizen-not-found, household-not-found, card-not-found"},
    409: {"description": "The event contradicts the population (already-deceased, "
                         "citizen-not-alive, parent-too-young, already-married, ...)"},
    422: {"description": "validation-error, unknown-commune, event-date-invalid, "
                         "idempotency-key-reused, ..."},
}


def _record(request: Request, session: SessionDep, caller: Caller, kind: str, body: BaseModel,
            key: str | None, now: NowDep) -> JSONResponse:
    settings, database = request.app.state.settings, request.app.state.database
    tools = life_events.Tools(
        rng=random.Random(secrets.randbits(64)),
        pki=lambda: card_pki(database, seed=settings.seed, key_type=settings.pki_key_type,
                             now=now))
    result = life_events.record(session, kind, body, handler=KINDS[kind].handler, now=now,
                                actor=caller.client_id, tools=tools, idempotency_key=key)
    headers = {"Idempotent-Replayed": "true"} if result.replayed else {}
    return JSONResponse(result.body, status_code=result.status, headers=headers)


_RESULT = {"status_code": 201, "response_model": schemas.LifeEventResult, "responses": _ERRORS}


@router.post("/births", summary=KINDS["births"].summary, **_RESULT)
def births(body: schemas.BirthRequest, caller: WriteCaller, session: SessionDep, now: NowDep,
           request: Request, idempotency_key: IdempotencyKey = None) -> Any:
    return _record(request, session, caller, "births", body, idempotency_key, now)


@router.post("/deaths", summary=KINDS["deaths"].summary, **_RESULT)
def deaths(body: schemas.DeathRequest, caller: WriteCaller, session: SessionDep, now: NowDep,
           request: Request, idempotency_key: IdempotencyKey = None) -> Any:
    return _record(request, session, caller, "deaths", body, idempotency_key, now)


@router.post("/residence-changes", summary=KINDS["residence-changes"].summary, **_RESULT)
def residence_changes(body: schemas.ResidenceChangeRequest, caller: WriteCaller,
                      session: SessionDep, now: NowDep, request: Request,
                      idempotency_key: IdempotencyKey = None) -> Any:
    return _record(request, session, caller, "residence-changes", body, idempotency_key, now)


@router.post("/marriages", summary=KINDS["marriages"].summary, **_RESULT)
def marriages(body: schemas.MarriageRequest, caller: WriteCaller, session: SessionDep,
              now: NowDep, request: Request, idempotency_key: IdempotencyKey = None) -> Any:
    return _record(request, session, caller, "marriages", body, idempotency_key, now)


@router.post("/divorces", summary=KINDS["divorces"].summary, **_RESULT)
def divorces(body: schemas.DivorceRequest, caller: WriteCaller, session: SessionDep, now: NowDep,
             request: Request, idempotency_key: IdempotencyKey = None) -> Any:
    return _record(request, session, caller, "divorces", body, idempotency_key, now)


@router.post("/name-changes", summary=KINDS["name-changes"].summary, **_RESULT)
def name_changes(body: schemas.NameChangeRequest, caller: WriteCaller, session: SessionDep,
                 now: NowDep, request: Request, idempotency_key: IdempotencyKey = None) -> Any:
    return _record(request, session, caller, "name-changes", body, idempotency_key, now)


@router.post("/card-changes", summary=KINDS["card-changes"].summary, **_RESULT)
def card_changes(body: schemas.CardChangeRequest, caller: WriteCaller, session: SessionDep,
                 now: NowDep, request: Request, idempotency_key: IdempotencyKey = None) -> Any:
    return _record(request, session, caller, "card-changes", body, idempotency_key, now)


@router.post("/pin-reestablishments", summary=KINDS["pin-reestablishments"].summary, **_RESULT)
def pin_reestablishments(body: schemas.PinReestablishmentRequest, caller: WriteCaller,
                         session: SessionDep, now: NowDep, request: Request,
                         idempotency_key: IdempotencyKey = None) -> Any:
    return _record(request, session, caller, "pin-reestablishments", body, idempotency_key, now)


# --- the pull feed --------------------------------------------------------------------------------


def _payload_scopes(caller: Caller) -> list[str]:
    scopes = [s for s in PAYLOAD_SCOPES if caller.has(s)]
    if not scopes:
        raise InsufficientScope(required=list(PAYLOAD_SCOPES))
    return [*scopes, "citizen.sensitive"] if caller.admin else scopes


@feed_router.get("", response_model=schemas.EventPage,
                 summary="The event feed, oldest first (cursor-paginated, at-least-once)",
                 responses={401: _ERRORS[401],
                            403: {"description": "insufficient-scope: events.read and a record "
                                                 "scope"},
                            422: {"description": "invalid-cursor, unknown type"}})
def feed(caller: ReadCaller, session: ReadSessionDep, now: NowDep,
         cursor: Annotated[str | None, Query(max_length=200)] = None,
         limit: Annotated[int, Query(ge=1, le=500)] = 100,
         types: Annotated[list[schemas.EventType] | None, Query(alias="type")] = None) -> Any:
    after = decode_cursor(cursor, kind="events", key_type=int) if cursor else 0
    scopes = _payload_scopes(caller)
    consent = (caller.client_id, caller.purpose) if caller.needs_consent else None
    items, last = events.readable_page(session, after=after, limit=limit, types=types,
                                       scopes=scopes, consent=consent, now=now)
    return schemas.EventPage(items=[schemas.Event(**item) for item in items],
                             next_cursor=encode_cursor("events", last))


@feed_router.get("/types", summary="The event types and what each means")
def event_types() -> dict[str, str]:
    return EVENT_TYPES


# --- admin: simulation and delivery ---------------------------------------------------------------


@admin_router.post("/simulate", response_model=schemas.SimulationResult,
                   summary="Advance the sandbox clock by N days of births, deaths, moves, "
                           "marriages, divorces and card renewals")
def simulate(body: schemas.SimulationRequest, request: Request) -> Any:
    settings, database = request.app.state.settings, request.app.state.database
    report = simulation.simulate(
        database, days=body.days, seed=settings.seed if body.seed is None else body.seed,
        clock=request.app.state.clock, logouts=logouts(request),
        pki=lambda now: card_pki(database, seed=settings.seed, key_type=settings.pki_key_type,
                                 now=now))
    _clock_sync(request).seen = -1  # apply the stored state again at the next poll: harmless
    assert report.start is not None
    assert report.end is not None
    return schemas.SimulationResult(days=report.days, start=report.start.isoformat(),
                                    end=report.end.isoformat(), counts=dict(report.counts),
                                    expected=report.expected, population=report.population)


def _clock_sync(request: Request) -> shared_clock.ClockSync:
    state = request.app.state
    if getattr(state, "clock_sync", None) is None:
        state.clock_sync = shared_clock.ClockSync(state.clock)
    return state.clock_sync


@delivery_router.post("/deliver", response_model=schemas.DeliveryPass,
                      summary="Run one webhook delivery pass now (the background worker runs one "
                              "every second; in a tenant, which has none, any client of it with "
                              "events.read may)",
                      responses={401: _ERRORS[401],
                                 403: {"description": "admin-only: a client outside a tenant; "
                                                      "insufficient-scope: events.read"}})
def deliver(_: Annotated[Caller, Depends(delivery_runner)], request: Request,
            now: NowDep) -> Any:
    report = webhooks.run_pass(request.app.state.database, now=now,
                               send=webhook_sender.for_settings(request.app.state.settings))
    return schemas.DeliveryPass(**vars(report))
