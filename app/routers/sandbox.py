"""``/v1/sandbox``: the persona catalogue, fault rules, the sandbox clock, isolated tenants and the
recent requests. Sandbox clients (any scope) and the admin token only, in a sandbox deployment.

Inside a tenant (``X-Sandbox-Tenant``) the personas, rules and clock are the tenant's own; the
tenant routes themselves are always the deployment's. The deployment's clock is shared by every
client, so only the admin token moves it; a sandbox client moves the clocks of tenants. Tenants
belong to the client that made them, and the demo client (public credentials) may not own one.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response, status
from fastapi.responses import JSONResponse

from app.dependencies import DatabaseDep, SettingsDep
from app.edge.faults import fault_state
from app.edge.tenants import tenant_apps
from app.schemas import sandbox as schemas
from app.security import AdminOnly, BearerDep, Caller, authenticate, runtime
from app.services.sandbox import clock as sandbox_clock
from app.services.sandbox import faults, personas, recorded_requests, tenants
from app.services.sandbox.faults import SandboxClientRequired

router = APIRouter(prefix="/v1/sandbox", tags=["sandbox"])
_PROBLEM = {"content": {"application/problem+json": {}}}
_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "Missing or invalid token", **_PROBLEM},
    403: {"description": "sandbox-client-required: not a sandbox client (or not a sandbox "
                         "deployment)", **_PROBLEM},
}


async def sandbox_caller(request: Request, credentials: BearerDep) -> Caller:
    """A sandbox client's token (any scope) or the admin token, in a sandbox deployment."""
    caller = await authenticate(request, credentials, allow_admin=True)
    if not request.app.state.settings.sandbox or not (caller.admin or caller.sandbox):
        raise SandboxClientRequired()
    return caller


SandboxCaller = Annotated[Caller, Depends(sandbox_caller)]


async def clock_mover(request: Request, caller: SandboxCaller) -> Caller:
    """The admin, or in a tenant any sandbox client of it: the deployment's clock is everyone's."""
    if not caller.admin and _tenant(request) is None:
        raise AdminOnly("The deployment's clock is shared by every client: moving it needs the "
                        "admin token. Move the clock of a tenant of your own instead.")
    return caller


ClockMover = Annotated[Caller, Depends(clock_mover)]


def _tenant(request: Request) -> str | None:
    return getattr(request.app.state, "tenant", None)


# --- personas -------------------------------------------------------------------------------------


def _catalogue(request: Request) -> dict[str, Any]:
    settings, clock = request.app.state.settings, request.app.state.clock
    with runtime(request).database.read() as session:
        listed = personas.catalogue(session, now=clock.now(), settings=settings)
    return {"tenant": _tenant(request), "seed": settings.seed, "personas": listed,
            "channel_personas": {"cards": "/v1/sandbox/personas/cards",
                                 "accounts": "/v1/admin/accounts/personas"}}


@router.get("/personas", response_model=schemas.PersonaCatalogue, responses=_ERRORS,
            summary="The persona catalogue: one test citizen per case, with its PIN, secrets "
                    "and the outcome on every channel")
def persona_catalogue(_: SandboxCaller, request: Request) -> Any:
    return _catalogue(request)


@router.get("/personas/export", response_model=schemas.PersonaCatalogue, responses=_ERRORS,
            summary="The catalogue as a JSON fixture file (Content-Disposition: attachment)")
def persona_fixtures(_: SandboxCaller, request: Request) -> Any:
    name = f"dancu-personas-{_tenant(request) or 'deployment'}.json"
    return JSONResponse(schemas.PersonaCatalogue(**_catalogue(request)).model_dump(mode="json"),
                        headers={"Content-Disposition": f'attachment; filename="{name}"'})


# --- faults ---------------------------------------------------------------------------------------


def _rule_owner(caller: Caller, wanted: str | None) -> str:
    if wanted is not None and not caller.admin:
        raise SandboxClientRequired("Only the admin token sets rules for another client.")
    return wanted or caller.client_id


@router.get("/faults", response_model=schemas.FaultRuleList, responses=_ERRORS,
            summary="The caller's fault rules")
def list_faults(caller: SandboxCaller, request: Request) -> Any:
    with runtime(request).database.read() as session:
        rules = faults.all_rules(session) if caller.admin else faults.rules_of(
            session, caller.client_id)
        return {"rules": [schemas.FaultRuleOut.model_validate(rule) for rule in rules]}


@router.post("/faults", status_code=status.HTTP_201_CREATED, response_model=schemas.FaultRuleOut,
             responses={**_ERRORS, 403: {"description": "own-client-required: the demo "
                                                 "client in the deployment (its credentials "
                                                 "are public); sandbox-client-required",
                                  **_PROBLEM},
                        422: {"description": "invalid-fault", **_PROBLEM}},
             summary="Add a fault rule: the caller's matching requests get the fault")
def add_fault(body: schemas.FaultRuleCreate, caller: SandboxCaller, request: Request) -> Any:
    if (not caller.admin and _tenant(request) is None
            and caller.client_id == request.app.state.settings.demo_client_id):
        raise tenants.OwnClientRequired(
            "The demo client's credentials are public: a rule for it in the deployment would "
            "fail every organisation's demo requests. Send X-Sandbox-Fault with the request, "
            "or add rules with a sandbox client of your own or in a tenant of your own.")
    spec = faults.RuleSpec(fault=body.fault, method=body.method, path=body.path)
    with runtime(request).database.write() as session:
        rule = faults.add_rule(session, _rule_owner(caller, body.client_id), spec,
                               now=request.app.state.clock.now())
        out = schemas.FaultRuleOut.model_validate(rule)
    fault_state(request.app).rules_changed()
    return out


@router.delete("/faults", status_code=status.HTTP_204_NO_CONTENT, responses=_ERRORS,
               summary="Delete the caller's rules and reset its fail-first counters")
def clear_faults(caller: SandboxCaller, request: Request) -> Response:
    with runtime(request).database.write() as session:
        faults.clear(session, caller.client_id)
    fault_state(request.app).rules_changed()
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.delete("/faults/{rule_id}", status_code=status.HTTP_204_NO_CONTENT,
               responses={**_ERRORS, 404: {"description": "fault-rule-not-found", **_PROBLEM}},
               summary="Delete one rule")
def delete_fault(rule_id: str, caller: SandboxCaller, request: Request) -> Response:
    with runtime(request).database.write() as session:
        owner = caller.client_id
        if caller.admin:
            found = session.get(faults.FaultRule, rule_id)
            owner = found.client_id if found is not None else owner
        faults.delete_rule(session, owner, rule_id)
    fault_state(request.app).rules_changed()
    return Response(status_code=status.HTTP_204_NO_CONTENT)


# --- the clock ------------------------------------------------------------------------------------


def _clock_view(request: Request, version: int | None = None) -> dict[str, Any]:
    database = runtime(request).database
    if version is None:
        version = sandbox_clock.stored_version(database)
    sync = getattr(request.app.state, "clock_sync", None)
    if sync is not None:
        sync.saved(version)
    return sandbox_clock.view(request.app.state.clock, version=version, tenant=_tenant(request))


_CLOCK = {"response_model": schemas.ClockState, "responses": _ERRORS}
_MOVE = {"response_model": schemas.ClockState, "responses": {
    **_ERRORS, 403: {"description": "admin-only: a client moving the deployment's clock (only "
                                    "the admin token does); sandbox-client-required", **_PROBLEM}}}


@router.get("/clock", summary="The sandbox clock (of the tenant, or of the deployment)", **_CLOCK)
def get_clock(_: SandboxCaller, request: Request) -> Any:
    return _clock_view(request)


@router.post("/clock/freeze", summary="Stop the clock (at `at`, default now)", **_MOVE)
def freeze_clock(body: schemas.ClockFreeze, _: ClockMover, request: Request) -> Any:
    database, clock = runtime(request).database, request.app.state.clock
    return _clock_view(request, sandbox_clock.freeze(database, clock, body.at))


@router.post("/clock/advance", summary="Move the clock forward (or back) by seconds and days",
             **_MOVE)
def advance_clock(body: schemas.ClockAdvance, _: ClockMover, request: Request) -> Any:
    delta = timedelta(days=body.days, seconds=body.seconds)
    database, clock = runtime(request).database, request.app.state.clock
    return _clock_view(request, sandbox_clock.advance(database, clock, delta))


@router.post("/clock/unfreeze", summary="Let a frozen clock run again from where it stopped",
             **_MOVE)
def unfreeze_clock(_: ClockMover, request: Request) -> Any:
    database, clock = runtime(request).database, request.app.state.clock
    return _clock_view(request, sandbox_clock.unfreeze(database, clock))


@router.post("/clock/reset", summary="Back to real time", **_MOVE)
def reset_clock(_: ClockMover, request: Request) -> Any:
    database, clock = runtime(request).database, request.app.state.clock
    return _clock_view(request, sandbox_clock.reset(database, clock))


# --- recent requests ------------------------------------------------------------------------------


@router.get("/requests", response_model=schemas.RecentRequests, responses=_ERRORS,
            summary="The last requests this server process answered (the caller's own; all for "
                    "the admin): route template, status, client, request id; no personal data")
def recent_requests(caller: SandboxCaller, request: Request) -> Any:
    owner = None if caller.admin else caller.client_id
    return {"requests": recorded_requests.recent(request.app, client_id=owner)}


# --- tenants (always the deployment's) ------------------------------------------------------------

tenants_router = APIRouter(prefix="/v1/sandbox/tenants", tags=["sandbox"])
_TENANT_ERRORS: dict[int | str, dict[str, Any]] = {
    **_ERRORS, 403: {"description": "own-client-required: the demo client (public credentials); "
                                    "sandbox-client-required", **_PROBLEM},
    404: {"description": "tenant-not-found", **_PROBLEM},
    409: {"description": "tenant-busy (being created or reset), tenant-limit, "
                         "tenant-owner-limit", **_PROBLEM}}


async def tenant_owner(caller: SandboxCaller, settings: SettingsDep) -> Caller:
    """A sandbox client of one's own (or the admin): the demo client is everyone's."""
    if not caller.admin and caller.client_id == settings.demo_client_id:
        raise tenants.OwnClientRequired(
            "The demo client's credentials are public, so whatever it owned would be everyone's. "
            "Create tenants with a sandbox client registered for you (POST /v1/admin/clients "
            "with sandbox: true).")
    return caller


TenantOwner = Annotated[Caller, Depends(tenant_owner)]


def _owner(caller: Caller) -> str | None:
    return None if caller.admin else caller.client_id


def _built(database: Any, settings: Any, tenant: Any, now: Any) -> None:
    try:
        tenants.build(settings, tenant, now=now)
    except BaseException:
        with database.write() as session:
            tenants.finish(session, tenant.id, ok=False, now=now)
        raise
    with database.write() as session:
        tenants.finish(session, tenant.id, ok=True, now=now)
        tenant.status = tenants.READY


@tenants_router.post("", status_code=status.HTTP_201_CREATED, response_model=schemas.TenantOut,
                     responses=_TENANT_ERRORS,
                     summary="Create an isolated tenant from a seed (a few seconds: the "
                             "population is generated now)")
def create_tenant(body: schemas.TenantCreate, caller: TenantOwner, request: Request,
                  database: DatabaseDep, settings: SettingsDep) -> Any:
    now = request.app.state.clock.now()
    spec = tenants.Registration(owner=caller.client_id, size=body.size,
                                seed=settings.seed if body.seed is None else body.seed)
    with database.write() as session:
        tenant = tenants.register(session, spec, now=now, per_owner=None if caller.admin
                                  else settings.tenants_per_client)
        session.expunge(tenant)
    _built(database, settings, tenant, now)
    return tenants.view(tenant)


@tenants_router.get("", response_model=schemas.TenantList, responses=_TENANT_ERRORS,
                    summary="The caller's tenants (every tenant for the admin)")
def list_tenants(caller: TenantOwner, database: DatabaseDep) -> Any:
    with database.read() as session:
        return {"tenants": [tenants.view(t) for t in tenants.listed(session,
                                                                    owner=_owner(caller))]}


@tenants_router.get("/{tenant_id}", response_model=schemas.TenantOut, responses=_TENANT_ERRORS,
                    summary="One tenant")
def get_tenant(tenant_id: str, caller: TenantOwner, database: DatabaseDep) -> Any:
    with database.read() as session:
        return tenants.view(tenants.find(session, tenant_id, owner=_owner(caller)))


@tenants_router.post("/{tenant_id}/reset", response_model=schemas.TenantOut,
                     responses=_TENANT_ERRORS,
                     summary="Rebuild the tenant from its seed: every change made in it is gone")
def reset_tenant(tenant_id: str, caller: TenantOwner, request: Request, database: DatabaseDep,
                 settings: SettingsDep) -> Any:
    now = request.app.state.clock.now()
    with database.write() as session:
        tenant = tenants.begin_reset(
            session, tenants.find(session, tenant_id, owner=_owner(caller)), now=now)
        session.expunge(tenant)
    tenant_apps(request.app).forget(tenant_id)
    _built(database, settings, tenant, now)
    return tenants.view(tenant)


@tenants_router.delete("/{tenant_id}", status_code=status.HTTP_204_NO_CONTENT,
                       responses=_TENANT_ERRORS, summary="Delete the tenant and its database")
def delete_tenant(tenant_id: str, caller: TenantOwner, request: Request,
                  database: DatabaseDep, settings: SettingsDep) -> Response:
    with database.write() as session:
        tenant = tenants.find(session, tenant_id, owner=_owner(caller))
        if tenant.status == tenants.CREATING:
            raise tenants.TenantBusy(tenant_status=tenant.status)
        tenants.forget(session, tenant)
    tenant_apps(request.app).forget(tenant_id)
    tenants.drop_database(tenants.database_url(settings.database_url, tenant_id))
    return Response(status_code=status.HTTP_204_NO_CONTENT)
