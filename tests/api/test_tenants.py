"""Isolated tenants: each is a database of its own made from a seed; a change in one is invisible
in the others and in the deployment; reset restores the seed's state; clocks are independent; the
personas export as a fixture; a second server process follows a reset."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import make_url

from app.db import Database
from app.main import create_app
from app.services.sandbox import tenants
from app.settings import Settings
from tests.api.oidc_support import csrf_of
from tests.api.sandbox_support import sandbox_client, token
from tests.api.sharing_support import admin_headers, bearer, new_client

__all__ = ["admin_headers"]
SIZE = 300


def _create(client: TestClient, headers: dict[str, str], **body: Any) -> dict[str, Any]:
    response = client.post("/v1/sandbox/tenants", json={"size": SIZE, **body}, headers=headers)
    assert response.status_code == 201, response.text
    return dict(response.json())


@pytest.fixture(scope="module")
def pair(client: TestClient, admin_headers: dict[str, str]) -> Iterator[tuple[str, str]]:
    first, second = (_create(client, admin_headers)["id"] for _ in range(2))
    yield first, second
    for tenant_id in (first, second):
        client.delete(f"/v1/sandbox/tenants/{tenant_id}", headers=admin_headers)


def _in(tenant_id: str, headers: dict[str, str]) -> dict[str, str]:
    return {**headers, "X-Sandbox-Tenant": tenant_id}


def _someone(client: TestClient, headers: dict[str, str]) -> dict[str, Any]:
    page = client.get("/v1/citizens", params={"limit": 5}, headers=headers)
    assert page.status_code == 200, page.text
    return next(p for p in page.json()["items"] if p["status"] == "alive")


def _name(client: TestClient, headers: dict[str, str], pin: str) -> str:
    """The full name a lookup answers, with the demo client's token of that tenant."""
    demo = ("demo", "demo-secret-for-the-sandbox-only")
    inside = {"X-Sandbox-Tenant": headers["X-Sandbox-Tenant"]}
    access = token(client, demo, scope="citizen.basic", headers=inside)
    response = client.get(f"/v1/citizens/{pin}", headers={**bearer(access), **inside})
    assert response.status_code == 200, response.text
    return str(response.json()["full_name"])


def test_a_change_in_one_tenant_is_invisible_in_the_other_and_reset_restores_it(
        client: TestClient, admin_headers: dict[str, str], pair: tuple[str, str]) -> None:
    first, second = (_in(tenant, admin_headers) for tenant in pair)
    pin = _someone(client, first)["pin"]
    before = _name(client, first, pin)
    assert _name(client, second, pin) == before  # same seed, same people
    renamed = client.post("/v1/life-events/name-changes", headers=first, json={
        "pin": pin, "given_name": "Thử", "reason": "correction"})
    assert renamed.status_code == 201, renamed.text
    assert _name(client, first, pin) != before
    assert _name(client, second, pin) == before
    reset = client.post(f"/v1/sandbox/tenants/{pair[0]}/reset", headers=admin_headers)
    assert reset.status_code == 200, reset.text
    assert reset.json()["generation"] == 2
    assert _name(client, first, pin) == before


def test_tenant_clocks_are_independent_and_moved_by_the_tenants_clients(
        client: TestClient, admin_headers: dict[str, str], pair: tuple[str, str],
        settings: Settings) -> None:
    first, second = (_in(tenant, admin_headers) for tenant in pair)
    inside = {**_demo_token(client, settings, pair[0]), "X-Sandbox-Tenant": pair[0]}
    frozen = client.post("/v1/sandbox/clock/freeze", json={"at": "2031-01-01T00:00:00Z"},
                         headers=inside)
    assert frozen.json()["tenant"] == pair[0]
    assert client.get("/v1/sandbox/clock", headers=first).json()["now"] == "2031-01-01T00:00:00Z"
    assert client.get("/v1/sandbox/clock", headers=second).json()["frozen"] is False
    assert client.get("/v1/sandbox/clock", headers=admin_headers).json()["frozen"] is False
    client.post("/v1/sandbox/clock/reset", headers=first)


def test_a_tenant_has_its_own_clients_tokens_and_personas_exported_as_a_fixture(
        client: TestClient, admin_headers: dict[str, str], pair: tuple[str, str],
        settings: Settings) -> None:
    inside = {"X-Sandbox-Tenant": pair[1]}
    demo = (settings.demo_client_id, settings.demo_client_secret)
    access = bearer(token(client, demo, scope="citizen.basic", headers=inside))
    assert client.get("/v1/sandbox/clock", headers={**access, **inside}).status_code == 200
    fixture = client.get("/v1/sandbox/personas/export", headers={**access, **inside})
    assert fixture.status_code == 200
    assert fixture.json()["tenant"] == pair[1]
    assert "attachment" in fixture.headers["content-disposition"]
    outside = client.get("/v1/sandbox/personas", headers=admin_headers).json()
    assert outside["tenant"] is None


def test_another_process_follows_a_reset(client: TestClient, admin_headers: dict[str, str],
                                         pair: tuple[str, str], settings: Settings,
                                         database: Database) -> None:
    """A second app on the same main database stands for another worker process."""
    inside = _in(pair[1], admin_headers)
    pin = _someone(client, inside)["pin"]
    with TestClient(create_app(settings, database=database, migrate_on_start=False)) as other:
        before = _name(other, inside, pin)
        client.post("/v1/life-events/name-changes", headers=inside,
                    json={"pin": pin, "given_name": "Khác", "reason": "correction"})
        assert _name(other, inside, pin) != before
        client.post(f"/v1/sandbox/tenants/{pair[1]}/reset", headers=admin_headers)
        assert _name(other, inside, pin) == before


def test_deleting_a_tenant_removes_its_database(client: TestClient,
                                               admin_headers: dict[str, str],
                                               settings: Settings) -> None:
    made = _create(client, admin_headers, seed=11)
    assert made["seed"] == 11
    assert made["header"] == {"X-Sandbox-Tenant": made["id"]}
    url = tenants.database_url(settings.database_url, made["id"])
    assert client.delete(f"/v1/sandbox/tenants/{made['id']}", headers=admin_headers
                         ).status_code == 204
    gone = client.get("/v1/sandbox/clock", headers=_in(made["id"], admin_headers))
    assert (gone.status_code, gone.json()["type"].rsplit("/", 1)[-1]) == (404, "tenant-not-found")
    if url.startswith("sqlite"):
        assert not Path(make_url(url).database or "").exists()


def test_a_tenant_problem_names_the_route_template_never_the_pin(
        client: TestClient, admin_headers: dict[str, str]) -> None:
    pin = "001186185248"
    response = client.get(f"/v1/citizens/{pin}", headers=_in("no-such-tenant", admin_headers))
    assert (response.status_code, response.json()["type"].rsplit("/", 1)[-1]) == (
        404, "tenant-not-found")
    assert response.json()["instance"] == "/v1/citizens/{pin}"
    assert pin not in response.text


def test_tenants_are_listed_to_their_owner_only_and_refused_to_other_clients(
        client: TestClient, admin_headers: dict[str, str], pair: tuple[str, str]) -> None:
    mine = bearer(token(client, sandbox_client(client, admin_headers)))
    assert client.get("/v1/sandbox/tenants", headers=mine).json() == {"tenants": []}
    assert {t["id"] for t in client.get("/v1/sandbox/tenants", headers=admin_headers
                                        ).json()["tenants"]} >= set(pair)
    assert client.get(f"/v1/sandbox/tenants/{pair[0]}", headers=mine).status_code == 404
    production = sandbox_client(client, admin_headers, sandbox=False)
    refused = client.post("/v1/sandbox/tenants", json={"size": SIZE},
                          headers=bearer(token(client, production, scope="citizen.basic")))
    assert refused.status_code == 403
    unknown = client.get("/healthz", headers={"X-Sandbox-Tenant": "nonsense"})
    assert unknown.status_code == 200  # the deployment's own routes ignore the header
    assert client.get("/v1/sandbox/clock", headers=_in("t0000000000000000", admin_headers)
                      ).status_code == 404


def test_one_client_owns_at_most_tenants_per_client_and_the_others_still_create_theirs(
        client: TestClient, admin_headers: dict[str, str]) -> None:
    state = client.app.state  # type: ignore[attr-defined]
    original = state.settings
    state.settings = original.model_copy(update={"tenants_per_client": 1})
    greedy, other = (bearer(token(client, new_client(client, admin_headers, sandbox=True)))
                     for _ in range(2))
    made = [_create(client, greedy)["id"]]
    try:
        refused = client.post("/v1/sandbox/tenants", json={"size": SIZE}, headers=greedy)
        assert refused.status_code == 409
        assert refused.json()["type"].endswith("/tenant-owner-limit")
        assert refused.json()["limit"] == 1
        made.append(_create(client, other)["id"])  # another organisation still has slots
        made.append(_create(client, admin_headers)["id"])  # the admin: only the deployment's 20
        gone = client.delete(f"/v1/sandbox/tenants/{made.pop(0)}", headers=greedy)
        assert gone.status_code == 204, gone.text
        made.append(_create(client, greedy)["id"])  # a slot again once it deleted its tenant
    finally:
        state.settings = original
        for tenant_id in made:
            client.delete(f"/v1/sandbox/tenants/{tenant_id}", headers=admin_headers)


def test_the_edges_tenant_not_found_has_the_same_rfc_9457_shape_as_every_problem(
        client: TestClient, admin_headers: dict[str, str]) -> None:
    unknown = client.get("/v1/sandbox/clock", headers=_in("t0000000000000000", admin_headers))
    by_route = client.get("/v1/sandbox/tenants/t0000000000000000", headers=admin_headers)
    for answer in (unknown, by_route):
        assert answer.status_code == 404
        assert answer.headers["content-type"] == "application/problem+json"
        assert answer.json()["type"].endswith("/tenant-not-found")
    # the same document, rendered the same way (compact UTF-8 JSON), only the instance differs
    assert unknown.content == json.dumps({**by_route.json(), "instance": "/v1/sandbox/clock"},
                                         ensure_ascii=False, separators=(",", ":")).encode()


def _demo_token(client: TestClient, settings: Settings, tenant_id: str | None) -> dict[str, str]:
    inside = {"X-Sandbox-Tenant": tenant_id} if tenant_id else {}
    demo = (settings.demo_client_id, settings.demo_client_secret)
    return bearer(token(client, demo, scope="citizen.basic", headers=inside))


def test_a_token_of_one_tenant_is_refused_in_every_other_tenant_and_in_the_deployment(
        client: TestClient, pair: tuple[str, str], settings: Settings) -> None:
    places: list[str | None] = [*pair, None]  # same seed everywhere: only the secret differs
    tokens = {place: _demo_token(client, settings, place) for place in places}
    for issued_in, access in tokens.items():
        for used_in in places:
            inside = {"X-Sandbox-Tenant": used_in} if used_in else {}
            answer = client.get("/v1/sandbox/clock", headers={**access, **inside})
            assert answer.status_code == (200 if used_in == issued_in else 401), (issued_in,
                                                                                  used_in)


def test_each_tenant_has_its_own_issuer_and_signing_keys_served_under_its_path(
        client: TestClient, pair: tuple[str, str], settings: Settings) -> None:
    deployment = client.get("/.well-known/openid-configuration").json()
    kids = {None: {k["kid"] for k in client.get("/.well-known/jwks.json").json()["keys"]}}
    for tenant_id in pair:
        found = client.get(f"/t/{tenant_id}/.well-known/openid-configuration").json()
        assert found["issuer"] == f"{deployment['issuer']}/t/{tenant_id}"
        assert found["token_endpoint"] == f"{found['issuer']}/oauth2/token"
        kids[tenant_id] = {k["kid"] for k in client.get(f"/t/{tenant_id}/.well-known/jwks.json"
                                                        ).json()["keys"]}
    assert len(set().union(*kids.values())) == sum(len(k) for k in kids.values())
    by_path = client.post(f"/t/{pair[0]}/oauth2/token", auth=(
        settings.demo_client_id, settings.demo_client_secret),
        data={"grant_type": "client_credentials", "scope": "citizen.basic"})
    assert by_path.status_code == 200
    inside = {"X-Sandbox-Tenant": pair[0], **bearer(by_path.json()["access_token"])}
    assert client.get("/v1/sandbox/clock", headers=inside).json()["tenant"] == pair[0]


@pytest.mark.parametrize("path", ["/v1/sandbox/clock/", "/v1/events/",
                                  "/.well-known/openid-configuration/"])
def test_a_trailing_slash_redirect_under_a_tenant_path_stays_in_the_tenant(
        client: TestClient, pair: tuple[str, str], path: str) -> None:
    # A client following the redirect must not land in the deployment (its clock, its data).
    answer = client.get(f"/t/{pair[0]}{path}", follow_redirects=False)
    assert answer.status_code == 307
    assert answer.headers["location"] == f"http://testserver/t/{pair[0]}{path.rstrip('/')}"
    query = client.get(f"/t/{pair[0]}{path}?limit=1", follow_redirects=False)
    assert query.headers["location"].endswith(f"/t/{pair[0]}{path.rstrip('/')}?limit=1")


def test_a_client_cannot_see_reset_or_delete_another_clients_tenant(
        client: TestClient, admin_headers: dict[str, str], settings: Settings) -> None:
    owner, other = (bearer(token(client, new_client(
        client, admin_headers, client_id=f"partner-{name}", sandbox=True, rate_limit=100000)))
        for name in ("x", "y"))
    made = _create(client, owner)["id"]
    assert [t["id"] for t in client.get("/v1/sandbox/tenants", headers=owner
                                        ).json()["tenants"]] == [made]
    assert client.get("/v1/sandbox/tenants", headers=other).json() == {"tenants": []}
    for method, path in (("GET", ""), ("POST", "/reset"), ("DELETE", "")):
        refused = client.request(method, f"/v1/sandbox/tenants/{made}{path}", headers=other)
        assert refused.status_code == 404, (method, path)
    assert client.delete(f"/v1/sandbox/tenants/{made}", headers=owner).status_code == 204


def test_the_demo_client_whose_credentials_are_public_owns_no_tenant(
        client: TestClient, settings: Settings) -> None:
    demo = _demo_token(client, settings, None)
    for method, path in (("POST", ""), ("GET", ""), ("GET", "/t0000000000000000")):
        refused = client.request(method, f"/v1/sandbox/tenants{path}", headers=demo,
                                 json={"size": SIZE} if method == "POST" else None)
        assert refused.status_code == 403, (method, path)
        assert refused.json()["type"].endswith("/own-client-required")


def test_in_the_deployment_only_the_admin_records_life_events_and_any_client_in_its_tenant(
        client: TestClient, settings: Settings, admin_headers: dict[str, str],
        pair: tuple[str, str]) -> None:
    """As for the sandbox clock: in the deployment a death recorded by a client (the demo
    client's credentials are public; a registered sandbox client is another organisation's)
    would end a persona of every organisation for good (a deployment has no reset); a tenant is
    the caller's own."""
    demo = (settings.demo_client_id, settings.demo_client_secret)
    registered = new_client(client, admin_headers, sandbox=True,
                            scopes=["citizen.basic", "events.write"])
    pin = _someone(client, admin_headers)["pin"]
    for credentials in (demo, registered):
        outside = bearer(token(client, credentials, scope="citizen.basic events.write"))
        refused = client.post("/v1/life-events/deaths", headers=outside, json={"pin": pin})
        assert refused.status_code == 403, refused.text
        assert refused.json()["type"].endswith("/admin-only")
    looked_up = client.get(f"/v1/citizens/{pin}", headers=bearer(
        token(client, demo, scope="citizen.basic")))
    assert looked_up.json()["status"] == "alive"
    inside = {"X-Sandbox-Tenant": pair[1]}
    in_tenant = {**bearer(token(client, demo, scope="citizen.basic events.write",
                                headers=inside)), **inside}
    page = client.get("/v1/citizens", params={"limit": 20}, headers=_in(pair[1], admin_headers))
    # not the person the other tests compare across the pair
    someone = [p["pin"] for p in page.json()["items"] if p["status"] == "alive"][-1]
    renamed = client.post("/v1/life-events/name-changes", headers=in_tenant, json={
        "pin": someone, "given_name": "Thử", "reason": "correction"})
    assert renamed.status_code == 201, renamed.text


def test_a_browser_logging_in_by_a_tenants_issuer_path_stays_in_the_tenant_and_only_there(
        client: TestClient, pair: tuple[str, str]) -> None:
    """The login pages, their forms, redirects and cookies carry the ``/t/<id>`` prefix; no
    cookie names the tenant, so a cross-site link to a tenant's authorize endpoint cannot send
    the browser's later requests to the deployment into that tenant."""
    browser = TestClient(client.app, follow_redirects=False)  # a cookie jar of its own
    prefix = f"/t/{pair[0]}"
    entered = browser.get(f"{prefix}/oauth2/authorize", params={
        "client_id": "demo", "redirect_uri": "http://127.0.0.1:8765/callback",
        "response_type": "code", "scope": "openid", "state": "s", "nonce": "n",
        "code_challenge": "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
        "code_challenge_method": "S256"})
    assert entered.status_code == 303, entered.text
    login = entered.headers["location"]
    assert login.startswith(f"{prefix}/oauth2/login/")
    cookies = entered.headers.get_list("set-cookie")
    assert cookies
    assert all(f"Path={prefix}/oauth2" in cookie for cookie in cookies)
    assert not any(cookie.startswith(f"{tenants.TENANT_COOKIE}=") for cookie in cookies)
    page = browser.get(login)
    assert page.status_code == 200, page.text
    assert f'action="{login}/persona"' in page.text
    assert 'action="/oauth2/' not in page.text
    picked = browser.post(f"{login}/persona", data={"csrf": csrf_of(page.text),
                                                   "persona": "citizen-l2"})
    assert picked.status_code == 303, picked.text
    onward = picked.headers["location"]  # the consent page, or the client with a code
    assert onward.startswith((f"{prefix}/oauth2/consent/", "http://127.0.0.1:8765/callback"))
    if onward.startswith(prefix):
        assert browser.get(onward).status_code == 200
    deployment = browser.get("/.well-known/openid-configuration").json()
    assert deployment["issuer"] == client.get("/.well-known/openid-configuration").json()[
        "issuer"]  # the browser's requests to the deployment stay the deployment's
    discovery = browser.get(f"/t/{pair[1]}/.well-known/openid-configuration")
    assert "set-cookie" not in discovery.headers  # API requests by path leave no cookie


def test_a_tenant_request_is_recorded_by_the_deployment_under_its_route_and_tenant(
        client: TestClient, admin_headers: dict[str, str], pair: tuple[str, str]) -> None:
    by_path = client.get(f"/t/{pair[0]}/.well-known/openid-configuration",
                         headers={"X-Request-ID": "tenant-by-path"})
    by_header = client.get("/.well-known/openid-configuration",
                           headers={"X-Request-ID": "tenant-by-header",
                                    "X-Sandbox-Tenant": pair[1]})
    assert by_path.status_code == by_header.status_code == 200
    assert by_path.headers["x-request-id"] == "tenant-by-path"
    seen = {item["request_id"]: item for item in
            client.get("/v1/sandbox/requests", headers=admin_headers).json()["requests"]}
    for request_id, tenant_id in (("tenant-by-path", pair[0]), ("tenant-by-header", pair[1])):
        assert seen[request_id]["path"] == "/.well-known/openid-configuration"
        assert seen[request_id]["tenant"] == tenant_id


def test_the_demo_clients_recent_requests_never_show_another_tenants_requests_or_id(
        client: TestClient, settings: Settings, pair: tuple[str, str]) -> None:
    """Every tenant has a demo client with the public secret: the deployment's demo token (anyone)
    listing "its" recent requests must not learn the tenants' ids, which are their capabilities,
    nor one tenant's demo the other's."""
    inside = {"X-Sandbox-Tenant": pair[0], "X-Request-ID": "demo-in-a-tenant"}
    tenant_demo = _demo_token(client, settings, pair[0])
    assert client.get("/v1/sandbox/personas", headers={**tenant_demo, **inside}).status_code == 200
    outside = client.get("/v1/sandbox/requests", headers=_demo_token(client, settings, None))
    assert outside.status_code == 200, outside.text
    assert all(item["tenant"] is None for item in outside.json()["requests"])
    assert pair[0] not in outside.text
    other = client.get("/v1/sandbox/requests", headers={
        **_demo_token(client, settings, pair[1]), "X-Sandbox-Tenant": pair[1]})
    assert pair[0] not in other.text
    own = client.get("/v1/sandbox/requests", headers={**tenant_demo, "X-Sandbox-Tenant": pair[0]})
    assert "demo-in-a-tenant" in {item["request_id"] for item in own.json()["requests"]}


@pytest.fixture(scope="module")
def five_hundred(client: TestClient, admin_headers: dict[str, str]) -> Iterator[str]:
    tenant_id = _create(client, admin_headers, size=500)["id"]
    yield tenant_id
    client.delete(f"/v1/sandbox/tenants/{tenant_id}", headers=admin_headers)


def test_in_a_small_tenant_each_catalogue_persona_is_a_citizen_of_its_own(
        client: TestClient, five_hundred: str, settings: Settings) -> None:
    """500 people: the card personas were picked on citizens the catalogue already stood for
    (valid-adult-level2 was the cloned chip, whose active authentication fails)."""
    inside = {"X-Sandbox-Tenant": five_hundred}
    demo = (settings.demo_client_id, settings.demo_client_secret)
    access = bearer(token(client, demo, scope="citizen.basic", headers=inside))
    personas = client.get("/v1/sandbox/personas", headers={**access, **inside}).json()["personas"]
    by_pin: dict[str, list[str]] = {}
    for persona in personas:
        if persona.get("pin"):
            by_pin.setdefault(persona["pin"], []).append(persona["key"])
    assert [keys for keys in by_pin.values() if len(keys) > 1] == []


def test_a_tenants_own_clients_run_its_webhook_delivery_pass_and_only_there(
        client: TestClient, settings: Settings, pair: tuple[str, str]) -> None:
    """A tenant has no delivery thread: an organisation without the deployment's admin token
    runs its tenant's pass with a client of the tenant (events.read, as its subscriptions); the
    deployment's pass stays the admin's."""
    demo = (settings.demo_client_id, settings.demo_client_secret)
    inside = {"X-Sandbox-Tenant": pair[0]}
    in_tenant = {**bearer(token(client, demo, scope="citizen.basic events.read",
                                headers=inside)), **inside}
    ran = client.post("/v1/admin/events/deliver", headers=in_tenant)
    assert ran.status_code == 200, ran.text
    assert "delivered" in ran.json()
    without_scope = {**bearer(token(client, demo, scope="citizen.basic", headers=inside)),
                     **inside}
    assert client.post("/v1/admin/events/deliver", headers=without_scope).status_code == 403
    outside = bearer(token(client, demo, scope="citizen.basic events.read"))
    refused = client.post("/v1/admin/events/deliver", headers=outside)
    assert refused.status_code == 403, refused.text
    assert refused.json()["type"].endswith("/admin-only")
