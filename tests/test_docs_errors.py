"""The error catalogue (docs/errors.md) is complete and true: every problem type the code can raise
is listed, and every row -- problem types, the token endpoint's, the authorization endpoint's and
userinfo's OAuth errors -- is reproduced here by the request (or persona) its last column names.

Each trigger makes its own people, clients and cards where it changes something, so the
generated population and the personas other tests read stay as they were.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi import FastAPI, HTTPException
from fastapi.testclient import TestClient
from joserfc.jwk import ECKey
from sqlalchemy import update

import app as app_package
from app.db import Database
from app.errors import Conflict, DomainError, Forbidden, Unauthorized, install_error_handlers
from app.main import create_app
from app.models.client import Client
from app.models.population import Citizen
from app.services.vneid import accounts
from app.settings import Settings
from tests.api.events_support import married_couple, single
from tests.api.oidc_support import (
    Rp,
    authorize,
    dpop_proof,
    pkce_pair,
    redeem,
    refresh,
    register_rp,
)
from tests.api.sandbox_support import catalogue, sandbox_client, token
from tests.api.sharing_support import admin_headers, bearer, new_client, token_for_scopes

__all__ = ["admin_headers", "token_for_scopes"]
DOC = Path(__file__).parents[1] / "docs" / "errors.md"
SECTIONS = {"## Problem types": "problem", "## OAuth 2.0 errors": "token",
            "## Authorization endpoint": "authorize", "## Protected resources": "userinfo"}


def catalogue_rows() -> list[tuple[str, str, str]]:
    """(table, code, where) per code of each row; ``where`` is the second column."""
    rows, table = [], None
    for line in DOC.read_text("utf-8").splitlines():
        heading = next((kind for prefix, kind in SECTIONS.items() if line.startswith(prefix)),
                       None)
        table = heading or (None if line.startswith("## ") else table)
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if table and line.startswith("| ") and len(cells) >= 4 and cells[0] not in (
                "code", "error") and not cells[0].startswith("---"):
            codes = re.findall(r"`([a-z0-9_-]+)`", cells[0]) or ["(none)"]
            rows += [(table, code, cells[1]) for code in codes]
    return rows


ROWS = catalogue_rows()


def raisable_codes() -> set[str]:
    for module in pkgutil.walk_packages(app_package.__path__, "app."):
        if module.name != "app.asgi":  # a server's entry point (it turns the collector off)
            importlib.import_module(module.name)

    def below(cls: type) -> Iterator[type]:
        for sub in cls.__subclasses__():
            yield sub
            yield from below(sub)

    return {cls.code for cls in below(DomainError)}  # type: ignore[attr-defined]


def test_every_problem_type_the_code_can_raise_is_in_the_catalogue() -> None:
    listed = {code for table, code, _ in ROWS if table == "problem"}
    assert raisable_codes() - listed == set()


# --- the context every trigger gets ------------------------------------------------------------


@dataclass
class Ctx:
    client: TestClient
    admin: dict[str, str]
    settings: Settings
    database: Database
    app: FastAPI
    token_for: Callable[..., str]
    personas: dict[str, dict[str, Any]]
    rp: Rp

    def bearer(self, *scopes: str) -> dict[str, str]:
        return bearer(self.token_for(*scopes))

    def agent(self) -> TestClient:
        return TestClient(self.app, follow_redirects=False)

    def pin(self, key: str) -> str:
        return str(self.personas[key]["pin"])


@pytest.fixture(scope="module")
def ctx(client: TestClient, admin_headers: dict[str, str], settings: Settings,
        database: Database, app: FastAPI, token_for_scopes: Any) -> Ctx:
    return Ctx(client, admin_headers, settings, database, app, token_for_scopes,
               catalogue(client, admin_headers),
               register_rp(client, admin_headers, name="Catalogue RP"))


@pytest.fixture(autouse=True)
def real_time(app: FastAPI) -> Iterator[None]:
    yield
    app.state.clock.reset()


def _adult(ctx: Ctx, *, born: date = date(1990, 5, 5), sex: str = "F") -> str:
    return single(ctx.database, sex=sex, born=born)


def _deceased_without_account(ctx: Ctx) -> str:
    """Made here: the deceased persona may hold a (closed) account, which answers first."""
    return single(ctx.database, sex="M", born=date(1950, 3, 3), with_household=False,
                  status="deceased", died=date(2020, 3, 3))


def _with_card(ctx: Ctx, born: date = date(1990, 5, 5)) -> str:
    pin = _adult(ctx, born=born)
    issued = ctx.client.post(f"/v1/admin/cards/{pin}/issue", headers=ctx.admin)
    assert issued.status_code == 200, issued.text
    return pin


def _with_account(ctx: Ctx, level: int = 2) -> str:
    pin = _with_card(ctx)
    opened = ctx.client.post("/v1/admin/accounts", json={"pin": pin, "level": level},
                             headers=ctx.admin)
    assert opened.status_code == 201, opened.text
    return pin


def _event(ctx: Ctx, kind: str, body: dict[str, Any], **headers: str) -> Any:
    return ctx.client.post(f"/v1/life-events/{kind}", json=body, headers=ctx.admin | headers)


def _service_call(work: Callable[[], Any]) -> Any:
    """A service check the API's schema never lets a request reach, rendered by the service's
    error handlers."""
    bare = FastAPI()
    install_error_handlers(bare)
    bare.get("/call")(lambda: work())
    return TestClient(bare).get("/call")


def _family(code: type[DomainError] | int) -> Any:
    """A minimal app with the service's error handlers and one route raising ``code``."""
    bare = FastAPI()
    install_error_handlers(bare)

    @bare.get("/family")
    def family() -> None:
        if isinstance(code, int):
            raise HTTPException(status_code=code)
        raise code()

    return TestClient(bare).get("/family")


# --- problem types --------------------------------------------------------------------------------


def _fault(ctx: Ctx, fault: str) -> Any:
    return ctx.client.get(f"/v1/citizens/{ctx.pin('valid-adult-level2')}",
                          headers=ctx.admin | {"X-Sandbox-Fault": fault})


def _rate_limited(ctx: Ctx) -> Any:
    limited = new_client(ctx.client, ctx.admin, rate_limit=3)
    access = bearer(token(ctx.client, limited, scope="citizen.basic"))
    answers = [ctx.client.get(f"/v1/citizens/{ctx.pin('valid-adult-level2')}", headers=access)
               for _ in range(4)]
    return answers[-1]


def _audit_down(ctx: Ctx) -> Any:
    from app.services.sharing.audit_writer import AuditUnavailable, AuditWriter

    async def down(self: Any, entries: Any, *, now: Any) -> None:
        raise AuditUnavailable()

    original = AuditWriter.append
    AuditWriter.append = down  # type: ignore[method-assign]
    try:
        return ctx.client.get(f"/v1/citizens/{ctx.pin('valid-adult-level2')}",
                              headers=ctx.bearer("citizen.basic"))
    finally:
        AuditWriter.append = original  # type: ignore[method-assign]


def _database_down(ctx: Ctx) -> Any:
    """A route of the service's error handlers whose database refuses connections (a real
    connection failure: nothing listens on port 1), as during a failover."""
    from sqlalchemy import create_engine, text

    bare = FastAPI()
    install_error_handlers(bare)
    gone = create_engine("postgresql+psycopg://postgres@127.0.0.1:1/none")

    @bare.get("/down")
    def down() -> None:
        with gone.connect() as connection:
            connection.execute(text("SELECT 1"))

    with TestClient(bare, raise_server_exceptions=False) as client:
        answer = client.get("/down")
    assert answer.headers["Retry-After"] == "1"
    return answer


def _sandbox_only(ctx: Ctx) -> Any:
    searcher = new_client(ctx.client, ctx.admin, scopes=["citizen.search"])
    access = bearer(token(ctx.client, searcher, scope="citizen.search"))
    with ctx.database.write() as session:
        session.execute(update(Client).where(Client.client_id == searcher[0]).values(
            sandbox=False))
    from app.security import runtime

    runtime(_request_for(ctx.app)).client_changed(searcher[0])
    return ctx.client.get("/v1/citizens", params={"name": "Nguyen"}, headers=access)


def _request_for(app: FastAPI) -> Any:
    from starlette.requests import Request

    return Request({"type": "http", "app": app, "headers": []})


def _issuer(ctx: Ctx) -> Any:
    settings = ctx.settings.model_copy(update={"host": "0.0.0.0", "issuer": None})
    fresh = create_app(settings, database=ctx.database, migrate_on_start=False)
    with TestClient(fresh) as other:
        return other.get("/.well-known/openid-configuration")


def _card_unreadable(ctx: Ctx) -> Any:
    pin = _with_card(ctx)
    with ctx.database.write() as session:
        session.execute(update(Citizen).where(Citizen.pin == pin).values(sex="M"))
    return ctx.client.get(f"/v1/cards/{pin}", headers=ctx.bearer("card.read"))


def _no_signer(ctx: Ctx) -> Any:
    pin = _adult(ctx)
    ctx.app.state.clock.freeze(ctx.app.state.clock.now().replace(year=2040))
    return ctx.client.post(f"/v1/admin/cards/{pin}/issue", headers=ctx.admin)


def _qr_handle(ctx: Ctx, agent: TestClient) -> str:
    page = agent.get(authorize(agent, ctx.rp).location).text
    found = re.search(r'data-status-url="/oauth2/qr/([^"]+)"', page)
    assert found
    return found[1]


def _device(ctx: Ctx, pin: str) -> dict[str, str]:
    ctx.client.put(f"/v1/admin/accounts/{pin}/passcode", json={"passcode": "123456"},
                   headers=ctx.admin)
    bound = ctx.client.post(f"/v1/admin/accounts/{pin}/device", json={}, headers=ctx.admin)
    return bearer(bound.json()["device_token"])


def _qr_twice(ctx: Ctx) -> Any:
    device = _device(ctx, _with_account(ctx))
    handle = _qr_handle(ctx, ctx.agent())
    ctx.client.post(f"/oauth2/qr/{handle}/approve", json={"passcode": "123456"}, headers=device)
    return ctx.client.post(f"/oauth2/qr/{handle}/approve", json={"passcode": "123456"},
                           headers=device)


def _qr_level1(ctx: Ctx) -> Any:
    device = _device(ctx, _with_account(ctx, level=1))
    return ctx.client.post(f"/oauth2/qr/{_qr_handle(ctx, ctx.agent())}/approve",
                           json={"passcode": "123456"}, headers=device)


def _qr_wrong_passcode(ctx: Ctx) -> Any:
    device = _device(ctx, _with_account(ctx))
    return ctx.client.post(f"/oauth2/qr/{_qr_handle(ctx, ctx.agent())}/approve",
                           json={"passcode": "000000"}, headers=device)


def _consent_twice(ctx: Ctx) -> Any:
    pin = _with_account(ctx)
    given = ctx.client.post("/v1/admin/consents", headers=ctx.admin, json={
        "pin": pin, "client_id": _bank(ctx)[0], "purpose": "kyc", "scopes": ["citizen.basic"]})
    assert given.status_code == 201, given.text
    consent = given.json()["id"]
    ctx.client.post(f"/v1/admin/consents/{consent}/withdraw", headers=ctx.admin)
    return ctx.client.post(f"/v1/admin/consents/{consent}/withdraw", headers=ctx.admin)


def _bank(ctx: Ctx) -> tuple[str, str]:
    return new_client(ctx.client, ctx.admin, scopes=["citizen.basic"], purposes=["kyc"],
                      data_basis="consent", sandbox=True)


def _bank_lookup(ctx: Ctx) -> Any:
    access = bearer(token(ctx.client, _bank(ctx), scope="citizen.basic"))
    return ctx.client.get(f"/v1/citizens/{_adult(ctx)}", headers=access)


def _invalid_consent(ctx: Ctx) -> Any:
    bank = _bank(ctx)
    return ctx.client.post("/v1/admin/consents", headers=ctx.admin, json={
        "pin": _adult(ctx), "client_id": bank[0], "purpose": "kyc",
        "scopes": ["citizen.family"]})


def _history_without_scope(ctx: Ctx) -> Any:
    pin = _with_account(ctx)
    agent = ctx.agent()
    flow = authorize(agent, ctx.rp, pin=pin, scope="openid profile")
    access = redeem(agent, ctx.rp, flow).json()["access_token"]
    return ctx.client.get("/v1/me/access-history", headers=bearer(access))


def _documents_without_scope(ctx: Ctx) -> Any:
    pin = _with_account(ctx)
    agent = ctx.agent()
    flow = authorize(agent, ctx.rp, pin=pin, scope="openid profile")
    access = redeem(agent, ctx.rp, flow).json()["access_token"]
    return ctx.client.get("/v1/me/documents", headers=bearer(access))


def _documents_of_a_level1_account(ctx: Ctx) -> Any:
    agent = ctx.agent()
    rp = register_rp(ctx.client, ctx.admin, name="Documents RP",
                     scopes=["openid", "vneid.documents"])
    flow = authorize(agent, rp, pin=ctx.pin("level1-only"), scope="openid vneid.documents")
    access = redeem(agent, rp, flow).json()["access_token"]
    return ctx.client.get("/v1/me/documents", headers=bearer(access))


def _consent_by_relying_party(ctx: Ctx) -> Any:
    pin, agent = _with_account(ctx), ctx.agent()
    rp = register_rp(ctx.client, ctx.admin, name="History RP", scopes=["openid", "vneid.history"])
    access = redeem(agent, rp, authorize(agent, rp, pin=pin, scope="openid vneid.history"))
    return ctx.client.post("/v1/me/data-consents", headers=bearer(access.json()["access_token"]),
                           json={
        "client_id": _bank(ctx)[0], "purpose": "kyc", "scopes": ["citizen.basic"]})


def _judicial(ctx: Ctx, persona: str, *, certificate_type: int = 1,
              forced: int = 0) -> tuple[dict[str, str], dict[str, Any]]:
    """A criminal-record persona signed in at an e-service, which submits a request for them (a
    relying party sees only its own requests), forced ``forced`` steps by the admin: the bearer
    header and the request."""
    agent = ctx.agent()
    rp = register_rp(ctx.client, ctx.admin, name="Portal RP",
                     scopes=["openid", "vneid.judicial_record"])
    access = redeem(agent, rp, authorize(agent, rp, pin=ctx.pin(persona),
                                         scope="openid vneid.judicial_record"))
    headers = bearer(access.json()["access_token"])
    made = ctx.client.post("/v1/me/judicial-records", headers=headers, json={
        "certificate_type": certificate_type, "purpose": "Bổ sung hồ sơ xin việc"}).json()
    for _ in range(forced):
        ctx.client.post(f"/v1/sandbox/judicial-records/{made['id']}/advance", headers=ctx.admin)
    return headers, made


def _judicial_certificate(ctx: Ctx, persona: str, **kwargs: int) -> Any:
    headers, request = _judicial(ctx, persona, **kwargs)
    return ctx.client.get(f"/v1/me/judicial-records/{request['id']}/certificate",
                          headers=headers)


def _judicial_without_scope(ctx: Ctx) -> Any:
    agent = ctx.agent()
    flow = authorize(agent, ctx.rp, pin=_with_account(ctx), scope="openid profile")
    access = redeem(agent, ctx.rp, flow).json()["access_token"]
    return ctx.client.get("/v1/me/judicial-records", headers=bearer(access))


def _advance_final(ctx: Ctx) -> Any:
    request = _judicial(ctx, "judicial-record-rejected", forced=2)[1]
    return ctx.client.post(f"/v1/sandbox/judicial-records/{request['id']}/advance",
                           headers=ctx.admin)


def _throttled(ctx: Ctx) -> TestClient:
    """An app of its own with the default limits (the session's app has them out of the way)."""
    limits = {name: Settings.model_fields[name].default for name in (
        "failures_per_source", "failures_per_client", "chip_failures_per_card",
        "chip_failures_per_client")}
    return TestClient(create_app(ctx.settings.model_copy(update=limits), database=ctx.database,
                                 migrate_on_start=False))


def _chip_locked(ctx: Ctx) -> Any:
    pin, http = _with_card(ctx), _throttled(ctx)
    wrong = ctx.bearer("card.read") | {"X-Chip-Access-Key": "00" * 16}
    return [http.get(f"/v1/cards/{pin}/chip", headers=wrong) for _ in range(6)][-1]


def _token_quota(ctx: Ctx) -> Any:
    limited, http = new_client(ctx.client, ctx.admin, rate_limit=3), _throttled(ctx)
    return [http.post("/oauth2/token", auth=limited, data={"grant_type": "client_credentials"})
            for _ in range(4)][-1]


def _subscriber(ctx: Ctx) -> dict[str, str]:
    made = new_client(ctx.client, ctx.admin, scopes=["citizen.basic", "events.read"],
                      purposes=["pension-office"])
    return bearer(token(ctx.client, made, scope="citizen.basic events.read"))


def _delivery_not_found(ctx: Ctx) -> Any:
    headers = _subscriber(ctx)
    made = ctx.client.post("/v1/subscriptions", headers=headers, json={
        "url": "http://127.0.0.1:9/hook", "event_types": ["death.registered"]})
    assert made.status_code == 201, made.text
    return ctx.client.post(f"/v1/subscriptions/{made.json()['id']}/deliveries/999999999/replay",
                           headers=headers)


def _idempotency(ctx: Ctx) -> Any:
    key = {"Idempotency-Key": f"catalogue-{_adult(ctx)}"}
    _event(ctx, "deaths", {"pin": _adult(ctx, born=date(1940, 1, 1))}, **key)
    return _event(ctx, "deaths", {"pin": _adult(ctx, born=date(1941, 1, 1))}, **key)


def _bucket_full(ctx: Ctx) -> Any:
    from app.services.events import birth, life_events

    def full(*args: Any, **kwargs: Any) -> str:
        raise life_events.PinBucketFull()

    original = birth.free_pin
    birth.free_pin = full  # type: ignore[assignment]
    try:
        family = married_couple(ctx.database)
        return _event(ctx, "births", {"mother_pin": family.wife, "father_pin": family.husband,
                                      "surname": "Lê", "given_name": "An", "sex": "F",
                                      "birth_date": ctx.app.state.clock.now().date().isoformat()})
    finally:
        birth.free_pin = original  # type: ignore[assignment]


def _household_required(ctx: Ctx) -> Any:
    mother = single(ctx.database, sex="F", born=date(1992, 2, 2), with_household=False)
    return _event(ctx, "births", {"mother_pin": mother, "surname": "Lê", "given_name": "An",
                                  "sex": "F",
                                  "birth_date": ctx.app.state.clock.now().date().isoformat()})


def _life_event_case(name: str) -> Callable[[Ctx], Any]:
    """A refusal case of tests/api/test_events_refusals.py, recorded through the API."""
    from app.services.cards.issuance import local_date
    from tests.api.test_events_refusals import REFUSALS

    case = next(row[1] for row in REFUSALS if row[3] == name)

    def trigger(ctx: Ctx) -> Any:  # the day in Vietnam, as the refusals count ages (not UTC's)
        kind, body = case(ctx.database, local_date(ctx.app.state.clock.now()))
        return _event(ctx, kind, body)

    return trigger


def _tenant_busy(ctx: Ctx) -> Any:
    from app.models.sandbox import Tenant
    from app.services.sandbox import tenants

    with ctx.database.write() as session:
        tenant = tenants.register(session, tenants.Registration("admin", 6, 100),
                                  now=ctx.app.state.clock.now())
        tenant_id = tenant.id
    try:
        return ctx.client.get("/v1/sandbox/clock", headers=ctx.admin | {
            "X-Sandbox-Tenant": tenant_id})
    finally:
        with ctx.database.write() as session:
            session.delete(session.get(Tenant, tenant_id))


def _tenant_limit(ctx: Ctx) -> Any:
    from app.services.sandbox import tenants

    original = tenants.MAX_TENANTS
    tenants.MAX_TENANTS = 0
    try:
        return ctx.client.post("/v1/sandbox/tenants", json={"size": 100}, headers=ctx.admin)
    finally:
        tenants.MAX_TENANTS = original


def _tenant_owner_limit(ctx: Ctx) -> Any:
    settings = ctx.app.state.settings
    ctx.app.state.settings = settings.model_copy(update={"tenants_per_client": 0})
    try:
        return ctx.client.post("/v1/sandbox/tenants", json={"size": 100}, headers=bearer(
            token(ctx.client, sandbox_client(ctx.client, ctx.admin))))
    finally:
        ctx.app.state.settings = settings


def _non_sandbox(ctx: Ctx) -> dict[str, str]:
    production = sandbox_client(ctx.client, ctx.admin, sandbox=False)
    return bearer(token(ctx.client, production, scope="citizen.basic"))


PROBLEMS: dict[str, Callable[[Ctx], Any]] = {
    "not-found": lambda c: c.client.get("/no/such/path"),
    "method-not-allowed": lambda c: c.client.delete("/healthz"),
    "validation-error": lambda c: c.client.post("/v1/citizens/verify", json={
        "pin": "001093047064"}, headers=c.bearer("citizen.verify")),
    "payload-too-large": lambda c: c.client.post("/v1/citizens/verify", content=b"x" * 2_000_000,
                                                 headers=c.bearer("citizen.verify")),
    "unauthorized": lambda c: _family(Unauthorized),
    "forbidden": lambda c: _family(Forbidden),
    "conflict": lambda c: _family(Conflict),
    "rate-limited": lambda c: _fault(c, "status=429"),
    "service-unavailable": lambda c: _fault(c, "status=503"),
    "internal-error": lambda c: _fault(c, "status=500"),
    "http-error": lambda c: _family(418),
    "invalid-pin": lambda c: c.client.get("/v1/citizens/00109304706",
                                          headers=c.bearer("citizen.basic")),
    "citizen-not-found": lambda c: c.client.get("/v1/citizens/001099999999",
                                                headers=c.bearer("citizen.basic")),
    "invalid-token": lambda c: c.client.get("/v1/citizens/001099999999"),
    "insufficient-scope": lambda c: c.client.post("/v1/citizens/verify", json={
        "pin": "001099999999", "full_name": "An"}, headers=c.bearer("citizen.basic")),
    "purpose-not-registered": lambda c: c.client.get(
        "/v1/citizens/001099999999", headers=c.bearer("citizen.basic") | {
            "X-Purpose": "marketing"}),
    "audit-unavailable": _audit_down,
    "database-unavailable": _database_down,
    "sandbox-only": _sandbox_only,
    "unknown-search-parameter": lambda c: c.client.get("/v1/citizens", params={
        "surname": "Nguyễn"}, headers=c.admin),
    "audit-scope": lambda c: c.client.get("/v1/audit", params={"client_id": "demo"},
                                          headers=c.bearer("citizen.basic")),
    "invalid-cursor": lambda c: c.client.get("/v1/citizens", params={"cursor": "garbage"},
                                             headers=c.admin),
    "admin-token-required": lambda c: c.client.get("/v1/admin/clients"),
    "admin-only": lambda c: c.client.get("/v1/admin/clients", headers=c.bearer("citizen.basic")),
    "client-not-found": lambda c: c.client.post("/v1/admin/clients/nope/disable",
                                                headers=c.admin),
    "client-exists": lambda c: c.client.post("/v1/admin/clients", headers=c.admin, json={
        "client_id": "demo", "name": "again", "scopes": ["citizen.basic"],
        "purposes": ["testing"]}),
    "invalid-client-registration": lambda c: c.client.post("/v1/admin/clients", headers=c.admin,
                                                           json={"name": "x", "scopes": [
                                                               "citizen.sensitive"],
                                                               "purposes": ["testing"]}),
    "issuer-misconfigured": _issuer,
    "card-not-found": lambda c: c.client.get(f"/v1/cards/{_adult(c)}",
                                             headers=c.bearer("card.read")),
    "chip-access-denied": lambda c: c.client.get(
        f"/v1/cards/{c.pin('valid-adult-level2')}/chip", headers=c.bearer("card.read")),
    "too-many-failures": _chip_locked,
    "invalid-challenge": lambda c: c.client.post(
        f"/v1/cards/{c.pin('valid-adult-level2')}/chip/internal-authenticate",
        json={"challenge": "0011"}, headers={
            **c.bearer("card.read"),
            "X-Chip-Access-Key": c.personas["valid-adult-level2"]["card"]["access_key"]}),
    "chip-session-not-found": lambda c: c.client.post(
        f"/v1/cards/{c.pin('valid-adult-level2')}/chip/apdu", headers=c.bearer("card.read"),
        json={"session_id": "never-opened", "apdus": ["0084000008"]}),
    "invalid-apdu": lambda c: c.client.post(
        f"/v1/cards/{c.pin('valid-adult-level2')}/chip/apdu", headers=c.bearer("card.read"),
        json={"session_id": "never-opened", "apdus": ["00A4"]}),
    "card-state-conflict": lambda c: c.client.post(f"/v1/admin/cards/{_with_card(c)}/issue",
                                                   headers=c.admin),
    "card-holder-ineligible": lambda c: c.client.post(
        f"/v1/admin/cards/{c.pin('deceased')}/issue", headers=c.admin),
    "no-document-signer": _no_signer,
    "card-unreadable": _card_unreadable,
    "account-not-found": lambda c: c.client.get(f"/v1/admin/accounts/{_adult(c)}",
                                                headers=c.admin),
    "account-exists": lambda c: c.client.post("/v1/admin/accounts", json={
        "pin": _with_account(c)}, headers=c.admin),
    "account-not-eligible": lambda c: c.client.post("/v1/admin/accounts", json={
        "pin": _deceased_without_account(c)}, headers=c.admin),
    "account-state-conflict": lambda c: c.client.post(
        f"/v1/admin/accounts/{_with_account(c)}/unlock", json={}, headers=c.admin),
    "weak-password": lambda c: c.client.put(f"/v1/admin/accounts/{_with_account(c)}/password",
                                            json={"password": "abc"}, headers=c.admin),
    "invalid-passcode": lambda c: _service_call(lambda: accounts.hash_passcode("１２３４５６")),
    "consent-not-found": lambda c: c.client.post("/v1/admin/consents/999999/withdraw",
                                                 headers=c.admin),
    "consent-not-active": _consent_twice,
    "session-not-found": lambda c: c.client.post(
        f"/v1/admin/accounts/{_with_account(c)}/sessions/no-such-session/revoke",
        headers=c.admin),
    "device-token-required": lambda c: c.client.get("/v1/me/consents"),
    "qr-session-not-found": _qr_twice,
    "qr-login-needs-level-2": _qr_level1,
    "app-login-refused": _qr_wrong_passcode,
    "unknown-persona": lambda c: c.client.post(
        f"/v1/sandbox/qr/{_qr_handle(c, c.agent())}/approve", json={"persona": "no-such-persona"},
        headers=c.admin),
    "already-deceased": _life_event_case("already-deceased"),
    "citizen-not-alive": _life_event_case("citizen-not-alive"),
    "parent-too-young": _life_event_case("parent-too-young"),
    "parent-deceased": _life_event_case("parent-deceased"),
    "parent-sex-mismatch": _life_event_case("parent-sex-mismatch"),
    "under-marriage-age": _life_event_case("under-marriage-age"),
    "already-married": _life_event_case("already-married"),
    "marriage-not-allowed": _life_event_case("marriage-not-allowed"),
    "not-married": _life_event_case("not-married"),
    "not-household-head": _life_event_case("not-household-head"),
    "pin-bucket-full": _bucket_full,
    "unknown-commune": _life_event_case("unknown-commune"),
    "unknown-province": lambda c: _event(c, "pin-reestablishments", {
        "pin": _adult(c), "reason": "registration_place_corrected",
        "registration_place": "003"}),
    "registration-place-not-allowed": lambda c: _event(c, "births", {
        "mother_pin": married_couple(c.database).wife, "surname": "Lê", "given_name": "An",
        "sex": "F", "birth_date": c.app.state.clock.now().date().isoformat(),
        "registration_province": "035"}),
    "event-date-invalid": lambda c: _event(c, "deaths", {"pin": _adult(c),
                                                         "date_of_death": "2999-01-01"}),
    "household-not-found": lambda c: _event(c, "residence-changes", {
        "pin": _adult(c), "kind": "permanent", "household": "join", "household_id": 999999999,
        "commune_code": married_couple(c.database).commune, "address_line": "1 Hàng Bạc"}),
    "household-required": _household_required,
    "pin-unchanged": _life_event_case("pin-unchanged"),
    "idempotency-key-reused": _idempotency,
    "subscription-not-found": lambda c: c.client.get("/v1/subscriptions/sub_nope",
                                                     headers=_subscriber(c)),
    "delivery-not-found": _delivery_not_found,
    "invalid-subscription": lambda c: c.client.post("/v1/subscriptions", headers=_subscriber(c),
                                                    json={"url": "http://rp.example/hook",
                                                          "event_types": ["death.registered"]}),
    "event-type-unreadable": lambda c: c.client.post(
        "/v1/subscriptions", headers=_subscriber(c),
        json={"url": "https://rp.example/hook", "event_types": ["driving_licence.changed"]}),
    "webhook-address-refused": lambda c: c.client.post(
        "/v1/subscriptions", headers=_subscriber(c),
        json={"url": "https://169.254.169.254/latest/meta-data/", "event_types": ["*"]}),
    "consent-required": _bank_lookup,
    "invalid-consent": _invalid_consent,
    "citizen-token-required": lambda c: c.client.get("/v1/me/access-history"),
    "history-scope-required": _history_without_scope,
    "documents-scope-required": _documents_without_scope,
    "level-2-required": _documents_of_a_level1_account,
    "citizen-interaction-required": _consent_by_relying_party,
    "judicial-record-scope-required": _judicial_without_scope,
    "judicial-request-not-found": lambda c: c.client.post(
        "/v1/sandbox/judicial-records/999999999/advance", headers=c.admin),
    "certificate-not-issued": lambda c: _judicial_certificate(c, "judicial-record-pending"),
    "certificate-first-party-only": lambda c: _judicial_certificate(
        c, "judicial-record-convictions", certificate_type=2, forced=2),
    "judicial-request-final": _advance_final,
    "sandbox-client-required": lambda c: c.client.get("/v1/sandbox/personas",
                                                      headers=_non_sandbox(c)),
    "invalid-fault": lambda c: _fault(c, "status=404"),
    "fault-rule-not-found": lambda c: c.client.delete("/v1/sandbox/faults/fr_nope",
                                                      headers=c.admin),
    "timeout": lambda c: _fault(c, "status=504"),
    "clock-out-of-range": lambda c: c.client.post("/v1/sandbox/clock/freeze", headers=c.admin,
                                                  json={"at": "2001-01-01T00:00:00Z"}),
    "tenant-not-found": lambda c: c.client.get("/v1/sandbox/clock", headers=c.admin | {
        "X-Sandbox-Tenant": "t0000000000000000"}),
    "tenant-busy": _tenant_busy,
    "tenant-limit": _tenant_limit,
    "tenant-owner-limit": _tenant_owner_limit,
    "own-client-required": lambda c: c.client.post("/v1/sandbox/tenants", json={"size": 100},
                                                   headers=bearer(token(c.client, (
                                                       c.settings.demo_client_id,
                                                       c.settings.demo_client_secret)))),
}


# --- OAuth errors ---------------------------------------------------------------------------------


def _form(ctx: Ctx, form: dict[str, str], rp: Rp | None = None) -> Any:
    headers, body = (rp or ctx.rp).auth(form)
    return ctx.client.post("/oauth2/token", data=body, headers=headers)


def _code_only_client(ctx: Ctx) -> Rp:
    return register_rp(ctx.client, ctx.admin, name="Code only",
                       grant_types=["authorization_code"])


def _without_nonce(ctx: Ctx) -> Any:
    """A DPoP proof without the server nonce, from a client that requires nonces."""
    client_id, secret = new_client(ctx.client, ctx.admin, require_dpop_nonce=True)
    url = ctx.client.get("/.well-known/openid-configuration").json()["token_endpoint"]
    return ctx.client.post("/oauth2/token", auth=(client_id, secret),
                           data={"grant_type": "client_credentials"},
                           headers={"DPoP": dpop_proof(ctx.app, "POST", url, key=_DPOP_KEY)})


_DPOP_KEY = ECKey.generate_key("P-256")


def _redeemed_twice(ctx: Ctx) -> Any:
    agent = ctx.agent()
    flow = authorize(agent, ctx.rp, pin=_with_account(ctx))
    redeem(agent, ctx.rp, flow)
    return redeem(agent, ctx.rp, flow)


DEMO = ("demo", "demo-secret-for-the-sandbox-only")
TOKEN: dict[str, Callable[[Ctx], Any]] = {
    "invalid_request": lambda c: c.client.post(
        "/oauth2/token", content="grant_type=client_credentials&grant_type=client_credentials",
        headers={"Content-Type": "application/x-www-form-urlencoded"}, auth=DEMO),
    "invalid_client": lambda c: c.client.post("/oauth2/token", auth=("demo", "wrong"),
                                              data={"grant_type": "client_credentials"}),
    "unsupported_grant_type": lambda c: _form(c, {"grant_type": "password"}),
    "unauthorized_client": lambda c: _form(c, {"grant_type": "client_credentials"},
                                           _code_only_client(c)),
    "invalid_scope": lambda c: c.client.post("/oauth2/token", auth=DEMO, data={
        "grant_type": "client_credentials", "scope": "not.a.scope"}),
    "invalid_grant": _redeemed_twice,
    "slow_down": _token_quota,
    "invalid_dpop_proof": lambda c: c.client.post(
        "/oauth2/token", auth=DEMO, data={"grant_type": "client_credentials"},
        headers={"DPoP": "not-a-proof"}),
    "use_dpop_nonce": _without_nonce,
    "unsupported_token_type": lambda c: c.client.post(
        "/oauth2/revoke", auth=DEMO,
        data={"token": token(c.client, DEMO, scope="citizen.basic")}),
}


def _authorize_raw(ctx: Ctx, pin: str | None = None, agent: TestClient | None = None,
                   **params: str) -> Any:
    verifier, challenge = pkce_pair()
    query = {"client_id": ctx.rp.client_id, "redirect_uri": ctx.rp.redirect_uri,
             "response_type": "code", "scope": "openid profile", "state": "s",
             "nonce": "n", "code_challenge": challenge, "code_challenge_method": "S256"}
    query = {k: v for k, v in (query | params).items() if v != ""}
    headers = {"X-Sandbox-Login": pin} if pin else {}
    return (agent or ctx.agent()).get("/oauth2/authorize", params=query, headers=headers)


def _consent_needed(ctx: Ctx) -> Any:
    agent = ctx.agent()
    assert "code" in authorize(agent, ctx.rp, pin=_with_account(ctx)).result
    return _authorize_raw(ctx, agent=agent, prompt="none", scope="openid profile phone")


AUTHORIZE: dict[tuple[str, str], Callable[[Ctx], Any]] = {
    ("invalid_client", "error page"): lambda c: _authorize_raw(c, client_id="nope"),
    ("invalid_request", "error page"): lambda c: _authorize_raw(
        c, redirect_uri="https://evil.example/cb"),
    ("invalid_request", "redirect"): lambda c: _authorize_raw(c, code_challenge=""),
    ("unsupported_response_type", "redirect"): lambda c: _authorize_raw(c, response_type="token"),
    ("unauthorized_client", "redirect"): lambda c: _authorize_raw(c, client_id=register_rp(
        c.client, c.admin, name="Machine only", grant_types=["client_credentials"]).client_id),
    ("invalid_scope", "redirect"): lambda c: _authorize_raw(c, scope="profile"),
    ("invalid_request_object", "redirect"): lambda c: _authorize_raw(c, request="eyJhbGciOi"),
    ("invalid_request_uri", "error page"): lambda c: _authorize_raw(
        c, request_uri="urn:ietf:params:oauth:request_uri:nope"),
    ("request_uri_not_supported", "redirect"): lambda c: _authorize_raw(
        c, request_uri="https://rp.example/request.jwt"),
    ("registration_not_supported", "redirect"): lambda c: _authorize_raw(
        c, registration='{"x": 1}'),
    ("login_required", "redirect"): lambda c: _authorize_raw(c, prompt="none"),
    ("consent_required", "redirect"): _consent_needed,
    ("unmet_authentication_requirements", "redirect"): lambda c: _authorize_raw(
        c, pin=c.pin("level1-only"), acr_values="LoA2"),
    ("access_denied", "redirect"): lambda c: _authorize_raw(c, pin=c.pin("account-locked")),
}


def _refreshed_without_openid(ctx: Ctx) -> Any:
    agent = ctx.agent()
    flow = authorize(agent, ctx.rp, pin=_with_account(ctx), scope="openid profile offline_access",
                     prompt="consent")
    tokens = redeem(agent, ctx.rp, flow).json()
    narrowed = refresh(agent, ctx.rp, tokens["refresh_token"], scope="profile")
    assert narrowed.status_code == 200, narrowed.text
    return ctx.client.get("/oauth2/userinfo",
                          headers=bearer(narrowed.json()["access_token"]))


USERINFO: dict[str, Callable[[Ctx], Any]] = {
    "(none)": lambda c: c.client.get("/oauth2/userinfo"),
    "invalid_request": lambda c: c.client.get("/oauth2/userinfo",
                                              params={"access_token": "abc"}),
    "invalid_token": lambda c: c.client.get("/oauth2/userinfo",
                                            headers=bearer(c.token_for("citizen.basic"))),
    "insufficient_scope": _refreshed_without_openid,
}


# --- the check -----------------------------------------------------------------------------------


def _problem_code(response: Any) -> str:
    assert response.headers.get("content-type", "").startswith("application/problem+json"), \
        response.text
    return str(response.json()["type"]).rsplit("/", 1)[-1]


def _authorize_error(response: Any, where: str) -> str:
    if where == "error page":  # the page names the error as <code>error</code>
        assert response.status_code == 400, response.text
        found = re.search(r"<code>([a-z_]+)</code>", response.text)
        return found[1] if found else ""
    assert response.status_code == 303, response.text
    return parse_qs(urlsplit(response.headers["location"]).query).get("error", [""])[0]


def _userinfo_error(response: Any) -> str:
    challenge = response.headers.get("www-authenticate", "")
    found = re.search(r'error="([a-z_]+)"', challenge)
    return found[1] if found else "(none)"


@pytest.mark.parametrize(("table", "code", "where"), ROWS,
                         ids=[f"{t}:{c}:{w}" for t, c, w in ROWS])
def test_each_catalogue_entry_is_reproduced_by_its_trigger(ctx: Ctx, table: str, code: str,
                                                           where: str) -> None:
    if table == "problem":
        assert code in PROBLEMS, f"no trigger for {code}"
        response = PROBLEMS[code](ctx)
        assert _problem_code(response) == code
        if where.isdigit():
            assert response.status_code == int(where)
    elif table == "token":
        response = TOKEN[code](ctx)
        assert (response.status_code, response.json()["error"]) == (int(where), code)
    elif table == "authorize":
        assert _authorize_error(AUTHORIZE[(code, where)](ctx), where) == code
    else:
        response = USERINFO[code](ctx)
        assert _userinfo_error(response) == code
        assert response.status_code == int(where)


def test_every_trigger_belongs_to_a_row() -> None:
    listed = {(t, c) for t, c, _ in ROWS}
    assert {("problem", c) for c in PROBLEMS} <= listed
    assert {("token", c) for c in TOKEN} <= listed
    assert {("authorize", c) for c, _ in AUTHORIZE} <= listed
    assert {("userinfo", c) for c in USERINFO} <= listed


def test_the_persona_faults_answer_their_catalogue_types(ctx: Ctx) -> None:
    access = bearer(token(ctx.client, sandbox_client(ctx.client, ctx.admin)))
    for key, code in (("fault-unavailable", "service-unavailable"),
                      ("fault-rate-limited", "rate-limited")):
        response = ctx.client.get(f"/v1/citizens/{ctx.pin(key)}", headers=access)
        assert _problem_code(response) == code

