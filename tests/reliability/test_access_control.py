"""Access control, generated from the route table: every route's guard is read from its FastAPI
dependencies (the admin token, a client token with given scopes, any client, a citizen), and each
guarded route is then called without a token, with a token lacking its scope, with a client
token on an admin route, with a disabled client's token, and (object routes) with another
client's or citizen's identifiers (BOLA/IDOR). A route whose guard the table does not recognise
fails ``test_every_v1_route_has_a_recognised_guard``, so none is forgotten."""

from __future__ import annotations

import inspect
from collections import Counter
from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest
from fastapi import FastAPI

from app.routers.lazy import load_all
from app.services.sharing.scopes import NON_ADMIN_SCOPES
from tests.api.events_support import record as record_event
from tests.api.events_support import single
from tests.api.oidc_support import browser, register_rp, tokens_for
from tests.api.sharing_support import bearer, issue_token, new_client
from tests.reliability.conftest import Isolated
from tests.reliability.support import Operation, document_operations, example_path, record

ALL_OPERATIONS = document_operations()
# Public by design: discovery, the test PKI, the certificate signer's keys, health, the
# event-type list, the QR status poll, the Prometheus scrape (aggregate counts only).
PUBLIC = {"GET /healthz", "GET /readyz", "GET /.well-known/jwks.json",
          "GET /.well-known/openid-configuration", "GET /.well-known/oauth-authorization-server",
          "GET /v1/events/types",
          "GET /oauth2/qr/{handle}", "GET /metrics",
          # the criminal-record certificates' signer: what a relying party verifies with
          *(f"GET /v1/judicial-records/authority{tail}" for tail in (
              "", "/jwks.json", "/root.pem", "/root.der", "/certificate.pem"))}
# Guarded by something other than a dependency: the app's device token read in the handler,
# client authentication of the OAuth endpoints, the login flow. (The chip's routes need a
# card.read token, a dependency, as well as the MRZ-derived access key.)
IN_HANDLER = {"GET /v1/me/consents", "POST /v1/me/consents/{consent_id}/withdraw",
              # the app's device token too (tests/api/test_login_sessions.py: 401 without it)
              "GET /v1/me/sessions", "POST /v1/me/sessions/revoke",
              "POST /v1/me/sessions/{sid}/revoke",
              "POST /oauth2/qr/{handle}/approve", "POST /oauth2/qr/{handle}/deny",
              # an initial access token, then the registration access token (RFC 7591, 7592)
              "POST /oauth2/register", "GET /oauth2/register/{client_id}",
              "PUT /oauth2/register/{client_id}", "DELETE /oauth2/register/{client_id}"}
TALLY: Counter[str] = Counter()


def _route_contexts(app: FastAPI) -> Iterator[Any]:
    for route in load_all(app).routes:  # every router, loaded or not yet (app.routers.lazy)
        if hasattr(route, "effective_route_contexts"):
            yield from route.effective_route_contexts()


def _calls(dependant: Any) -> Iterator[Any]:
    for dependency in dependant.dependencies:
        yield dependency.call
        yield from _calls(dependency)


def _guard_of(dependant: Any) -> tuple[str, frozenset[str]] | None:
    """('admin'|'scope'|'any-client'|'sandbox'|'citizen', scopes) from the route's
    dependencies."""
    for call in _calls(dependant):
        name = getattr(call, "__qualname__", "")
        if name == "require_admin":
            return "admin", frozenset()
        if name.startswith(("require_scope.", "require_any_scope.")):
            scopes = inspect.getclosurevars(call).nonlocals["names"]
            return "scope", frozenset(scopes)
        if name == "any_caller":
            return "any-client", frozenset()
        if name == "sandbox_caller":
            return "sandbox", frozenset()
        if name in ("citizen", "citizen_caller", "first_party_citizen", "documents_caller"):
            return "citizen", frozenset()
    return None


def guards(app: FastAPI) -> dict[str, tuple[str, frozenset[str]] | None]:
    table: dict[str, tuple[str, frozenset[str]] | None] = {}
    for context in _route_contexts(app):
        if context.include_in_schema:
            for method in context.methods:
                table[f"{method} {context.path}"] = _guard_of(context.dependant)
    return table


def _table() -> dict[str, tuple[str, frozenset[str]] | None]:
    from app.main import create_app
    from app.settings import load_settings

    app = create_app(load_settings(database_url="sqlite:///:memory:"), migrate_on_start=False)
    return guards(app)


GUARDS = _table()
GUARDED = [op for op in ALL_OPERATIONS if GUARDS.get(op.id)]
SCOPED = [op for op in GUARDED if GUARDS[op.id][0] == "scope"]  # type: ignore[index]
ADMIN = [op for op in GUARDED if GUARDS[op.id][0] == "admin"]  # type: ignore[index]
CLIENT = [op for op in GUARDED  # type: ignore[index]
          if GUARDS[op.id][0] in ("scope", "any-client", "sandbox")]  # type: ignore[index]
SANDBOX = [op for op in GUARDED if GUARDS[op.id][0] == "sandbox"]  # type: ignore[index]


@pytest.fixture(scope="module", autouse=True)
def figures() -> Iterator[None]:
    yield
    record("access control", "guarded routes", len(GUARDED))
    record("access control", "requests", TALLY["requests"])
    record("access control", "unauthorised 2xx", TALLY["unauthorised 2xx"])


def _call(isolated: Isolated, operation: Operation, headers: dict[str, str],
          values: dict[str, str] | None = None) -> Any:
    path = example_path(operation.path, {"pin": "001093047064", "action": "issue",
                                         "side": "front", "alg": "ES256", **(values or {})})
    kwargs: dict[str, Any] = {"json": {}} if operation.json_body else {}
    response = isolated.client.request(operation.method, path, headers=headers, **kwargs)
    TALLY["requests"] += 1
    return response


def _refused(response: Any, *statuses: int) -> bool:
    TALLY["unauthorised 2xx"] += response.status_code < 300
    return response.status_code in statuses


def test_every_v1_route_has_a_recognised_guard() -> None:
    """Any route under /v1 or /oauth2 that is neither public, nor guarded in its handler, nor
    guarded by a dependency this table knows, fails here (a forgotten check, or a new kind)."""
    unguarded = {op.id for op in ALL_OPERATIONS
                 if GUARDS.get(op.id) is None and op.id not in PUBLIC | IN_HANDLER
                 and op.path not in ("/oauth2/token", "/oauth2/introspect", "/oauth2/revoke",
                                     "/oauth2/par",
                                     "/oauth2/authorize", "/oauth2/userinfo", "/oauth2/logout")
                 and not op.path.startswith("/v1/pki")}
    assert unguarded == set()


@pytest.mark.parametrize("operation", GUARDED, ids=lambda op: op.id)
def test_a_missing_token_is_401(isolated: Isolated, operation: Operation) -> None:
    assert _refused(_call(isolated, operation, {}), 401)


@pytest.fixture(scope="module")
def scoped_token(isolated: Isolated) -> Any:
    """``scoped_token(scopes)``: a token of a sandbox client holding exactly ``scopes``."""
    made: dict[frozenset[str], str] = {}
    admin = bearer(isolated.settings.admin_token)

    def token(scopes: frozenset[str]) -> str:
        if scopes not in made:
            client_id, secret = new_client(isolated.client, admin, scopes=sorted(scopes),
                                           rate_limit=100_000)
            made[scopes] = issue_token(isolated.client, client_id, secret)
        return made[scopes]

    return token


@pytest.mark.parametrize("operation", SCOPED, ids=lambda op: op.id)
def test_a_token_without_the_routes_scope_is_403(isolated: Isolated, scoped_token: Any,
                                                 operation: Operation) -> None:
    needed = GUARDS[operation.id][1]  # type: ignore[index]
    others = frozenset(NON_ADMIN_SCOPES) - needed
    response = _call(isolated, operation, bearer(scoped_token(others)))
    assert _refused(response, 403), response.text[:200]
    assert response.json()["type"].endswith(("insufficient-scope", "forbidden"))


@pytest.mark.parametrize("operation", ADMIN, ids=lambda op: op.id)
def test_a_client_token_with_every_scope_is_refused_on_admin_routes(
        isolated: Isolated, scoped_token: Any, operation: Operation) -> None:
    response = _call(isolated, operation, bearer(scoped_token(frozenset(NON_ADMIN_SCOPES))))
    assert _refused(response, 403)
    assert response.json()["type"].endswith("/admin-only")


@pytest.fixture(scope="module")
def production_token(isolated: Isolated) -> str:
    """A client that is not a sandbox client (a production integration)."""
    admin = bearer(isolated.settings.admin_token)
    client_id, secret = new_client(isolated.client, admin, sandbox=False, rate_limit=100_000,
                                   scopes=["citizen.basic"])
    return issue_token(isolated.client, client_id, secret)


@pytest.mark.parametrize("operation", SANDBOX, ids=lambda op: op.id)
def test_a_non_sandbox_clients_token_is_refused_on_sandbox_controls(
        isolated: Isolated, production_token: str, operation: Operation) -> None:
    response = _call(isolated, operation, bearer(production_token))
    assert _refused(response, 403), response.text[:200]


@pytest.fixture(scope="module")
def disabled_token(isolated: Isolated) -> str:
    admin = bearer(isolated.settings.admin_token)
    client_id, secret = new_client(isolated.client, admin, rate_limit=100_000)
    token = issue_token(isolated.client, client_id, secret)
    assert isolated.client.get("/v1/sandbox/personas/cards", headers=bearer(token)).status_code \
        == 200
    disabled = isolated.client.post(f"/v1/admin/clients/{client_id}/disable", headers=admin)
    assert disabled.status_code == 200, disabled.text
    return token


@pytest.mark.parametrize("operation", CLIENT, ids=lambda op: op.id)
def test_a_disabled_clients_token_is_refused_at_once(isolated: Isolated, disabled_token: str,
                                                     operation: Operation) -> None:
    assert _refused(_call(isolated, operation, bearer(disabled_token)), 401)


# --- BOLA / IDOR: another client's or citizen's objects -------------------------------------------


@pytest.fixture(scope="module")
def two_clients(isolated: Isolated, scoped_token: Any) -> tuple[dict[str, str], dict[str, str]]:
    admin = bearer(isolated.settings.admin_token)
    tokens = []
    for _ in range(2):
        client_id, secret = new_client(isolated.client, admin, rate_limit=100_000)
        tokens.append(bearer(issue_token(isolated.client, client_id, secret)))
    return tokens[0], tokens[1]


SUBSCRIPTION_ROUTES = [op for op in ALL_OPERATIONS if "{subscription_id}" in op.path]


@pytest.mark.parametrize("operation", SUBSCRIPTION_ROUTES, ids=lambda op: op.id)
def test_a_client_cannot_reach_another_clients_subscription(
        isolated: Isolated, two_clients: tuple[dict[str, str], dict[str, str]],
        operation: Operation) -> None:
    owner, intruder = two_clients
    created = isolated.client.post("/v1/subscriptions", headers=owner, json={
        "url": "http://127.0.0.1:9/hook", "event_types": ["*"]})
    assert created.status_code == 201, created.text
    values = {"subscription_id": str(created.json()["id"]), "delivery_id": "1"}
    assert _call(isolated, operation, owner, values).status_code != 404 or \
        "delivery_id" in operation.path  # the owner reaches it (no delivery exists yet)
    response = _call(isolated, operation, intruder, values)
    assert _refused(response, 404)
    assert isolated.client.get(f"/v1/subscriptions/{values['subscription_id']}",
                               headers=owner).status_code in (200, 404)


def test_a_client_cannot_read_another_clients_audit_trail(
        isolated: Isolated, two_clients: tuple[dict[str, str], dict[str, str]]) -> None:
    owner, intruder = two_clients
    owner_id = _client_id(isolated, owner)
    assert isolated.client.get("/v1/audit", params={"client_id": owner_id},
                               headers=owner).status_code == 200
    response = isolated.client.get("/v1/audit", params={"client_id": owner_id}, headers=intruder)
    TALLY["requests"] += 1
    assert _refused(response, 403)
    own = isolated.client.get("/v1/audit", headers=intruder).json()["records"]
    assert {r["client_id"] for r in own} <= {_client_id(isolated, intruder)}


def _client_id(isolated: Isolated, headers: dict[str, str]) -> str:
    from tests.api.oidc_support import jwt_claims

    return str(jwt_claims(headers["Authorization"].split()[1])["client_id"])


@pytest.fixture(scope="module")
def consent_bank(isolated: Isolated) -> Any:
    admin = bearer(isolated.settings.admin_token)
    return register_rp(isolated.client, admin, name="Reliability bank",
                       scopes=["citizen.basic", "openid", "vneid.history", "vneid.data_sharing"],
                       purposes=["account-opening"], data_basis="consent",
                       grant_types=["client_credentials", "authorization_code"])


def citizen_with_account(isolated: Isolated, born: date) -> str:
    admin = bearer(isolated.settings.admin_token)
    pin = single(isolated.database, sex="F", born=born)
    assert record_event(isolated.client, admin, "card-changes", {
        "pin": pin, "action": "issued", "reason": "first_issue"}).status_code == 201
    opened = isolated.client.post("/v1/admin/accounts", json={"pin": pin, "level": 2},
                                  headers=admin)
    assert opened.status_code == 201, opened.text
    return pin


def citizen_token(isolated: Isolated, rp: Any, pin: str) -> dict[str, str]:
    body = tokens_for(browser(isolated.app), rp, pin, scope="openid vneid.history")
    return bearer(body["access_token"])


def citizen_app(isolated: Isolated, pin: str) -> dict[str, str]:
    """The citizen's own VNeID app (bound-device token): the one that may give consent."""
    bound = isolated.client.post(f"/v1/admin/accounts/{pin}/device", json={"name": "Phone"},
                                 headers=bearer(isolated.settings.admin_token))
    assert bound.status_code == 200, bound.text
    return bearer(bound.json()["device_token"])


def test_a_citizen_cannot_withdraw_or_see_another_citizens_consent(
        isolated: Isolated, consent_bank: Any) -> None:
    alice_pin = citizen_with_account(isolated, date(1990, 1, 2))
    alice = citizen_token(isolated, consent_bank, alice_pin)
    bob = citizen_token(isolated, consent_bank, citizen_with_account(isolated, date(1991, 3, 4)))
    given = isolated.client.post("/v1/me/data-consents", headers=citizen_app(isolated, alice_pin),
                                 json={
        "client_id": consent_bank.client_id, "purpose": "account-opening",
        "scopes": ["citizen.basic"]})
    assert given.status_code == 201, given.text
    consent_id = given.json()["id"]
    stolen = isolated.client.post(f"/v1/me/data-consents/{consent_id}/withdraw", headers=bob)
    TALLY["requests"] += 1
    assert _refused(stolen, 404)
    assert consent_id not in {c["id"] for c in isolated.client.get(
        "/v1/me/data-consents", headers=bob).json()["consents"]}
    mine = isolated.client.get("/v1/me/data-consents", headers=alice).json()["consents"]
    assert [c["in_force"] for c in mine if c["id"] == consent_id] == [True]
