"""Dynamic Client Registration (RFC 7591) and its management protocol (RFC 7592): who may
register, what is registered, and the registration access token."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from app.db import Database
from app.main import create_app
from app.services.vneid import registration as oidc_registration
from app.settings import Settings
from tests.api.oidc_support import *  # noqa: F403
from tests.api.oidc_support import (
    DEMO_REDIRECT,
    Rp,
    authorize,
    browser,
    citizen_with_contact,
    loopback_json_server,
    tokens_for,
)

BODY = {"client_name": "Bank A app", "redirect_uris": [DEMO_REDIRECT],
        "grant_types": ["authorization_code", "refresh_token"]}


@pytest.fixture(scope="module")
def initial_token(client: TestClient, admin: dict[str, str]) -> str:
    minted = client.post("/v1/admin/registration-tokens", json={}, headers=admin)
    assert minted.status_code == 201, minted.text
    return str(minted.json()["initial_access_token"])


def _register(client: TestClient, token: str | None, body: Any = None) -> Any:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return client.post("/oauth2/register", json=BODY if body is None else body, headers=headers)


def _manage(client: TestClient, registered: dict[str, Any], method: str,
            token: str | None = None, **kwargs: Any) -> Any:
    path = f"/oauth2/register/{registered['client_id']}"
    headers = {"Authorization": f"Bearer {token or registered['registration_access_token']}"}
    return client.request(method, path, headers=headers, **kwargs)


@pytest.mark.parametrize("token", ["wrong", "iat1.99999999999.forged"])
def test_a_presented_initial_access_token_must_be_valid(client: TestClient, token: str) -> None:
    refused = _register(client, token)
    assert refused.status_code == 401
    assert refused.json().get("error", "invalid_token") == "invalid_token"
    assert refused.headers["www-authenticate"].startswith("Bearer")


def test_a_sandbox_deployment_takes_registrations_without_a_token(client: TestClient) -> None:
    registered = _register(client, None)
    assert registered.status_code == 201, registered.text
    body = registered.json()
    assert {"client_id", "client_secret", "registration_access_token"} <= body.keys()


@pytest.mark.parametrize(("sandbox", "per_source", "open_"), [
    (True, 60, True), (True, 0, False), (False, 60, False), (False, 0, False)])
def test_registration_is_open_only_in_a_sandbox_deployment_with_a_limit(
        settings: Settings, sandbox: bool, per_source: int, open_: bool) -> None:
    changed = settings.model_copy(update={"sandbox": sandbox,
                                          "open_registrations_per_source": per_source})
    assert oidc_registration.open_to_all(changed) is open_


def test_open_registrations_are_limited_per_source_and_a_token_is_not(
        settings: Settings, database: Database, initial_token: str) -> None:
    limited = settings.model_copy(update={"open_registrations_per_source": 2})
    with TestClient(create_app(limited, database=database, migrate_on_start=False)) as other:
        answers = [_register(other, None) for _ in range(3)]
        assert answers[0].status_code == 201, answers[0].text
        refused = answers[-1]
        assert refused.status_code == 429, refused.text
        assert refused.headers["content-type"].startswith("application/problem+json")
        assert int(refused.headers["retry-after"]) > 0
        assert _register(other, initial_token).status_code == 201


def test_open_registration_has_a_total_a_token_does_not(
        settings: Settings, database: Database, initial_token: str) -> None:
    """Per source alone, many addresses could add clients without end: past the total of active
    dynamically registered clients, open registration is refused in RFC 7591's error format;
    a registration deleted (RFC 7592) frees its place; a token still registers."""
    from sqlalchemy import func, select

    from app.models.client import Client

    with database.read() as session:
        active = session.scalar(select(func.count()).select_from(Client).where(
            Client.registration_token_hash.is_not(None), Client.status == "active")) or 0
    full = settings.model_copy(update={"open_registrations_total": active + 1})
    with TestClient(create_app(full, database=database, migrate_on_start=False)) as other:
        taken = _register(other, None)
        assert taken.status_code == 201, taken.text
        refused = _register(other, None)
        assert refused.status_code == 403, refused.text
        assert refused.headers["content-type"].startswith("application/json")
        assert refused.json()["error"] == "access_denied"
        assert "DANCU_OPEN_REGISTRATIONS_TOTAL" in refused.json()["error_description"]
        by_token = _register(other, initial_token)
        assert by_token.status_code == 201, by_token.text
        for made in (taken.json(), by_token.json()):  # RFC 7592: each frees its place
            deleted = other.delete(f"/oauth2/register/{made['client_id']}", headers={
                "Authorization": f"Bearer {made['registration_access_token']}"})
            assert deleted.status_code == 204, deleted.text
        assert _register(other, None).status_code == 201


def test_open_registrations_sent_at_once_stay_within_the_total(
        settings: Settings, database: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    """The check before the insert runs in an earlier transaction, so registrations sent at
    once all passed it: each is counted again with its insert, and the one past the total is
    refused and leaves no client (here the first check is switched off, as if both had passed
    it at the same moment)."""
    from sqlalchemy import func, select

    from app.models.client import Client
    from app.services.vneid import registration

    def count() -> int:
        with database.read() as session:
            return session.scalar(select(func.count()).select_from(Client).where(
                Client.registration_token_hash.is_not(None), Client.status == "active")) or 0

    active = count()
    full = settings.model_copy(update={"open_registrations_total": active + 1})
    monkeypatch.setattr(registration, "check_open_room", lambda session, settings, now: None)
    with TestClient(create_app(full, database=database, migrate_on_start=False)) as other:
        assert _register(other, None).status_code == 201
        late = _register(other, None)
        assert late.status_code == 403, late.text
        assert late.json()["error"] == "access_denied"
    assert count() == active + 1


@pytest.mark.parametrize("setting", ["open_registrations_per_source", "open_registrations_total"])
def test_closed_registration_needs_an_initial_access_token(
        settings: Settings, database: Database, setting: str) -> None:
    """Either setting at 0 closes open registration (README, docs/vneid.md)."""
    closed = settings.model_copy(update={setting: 0})
    with TestClient(create_app(closed, database=database, migrate_on_start=False)) as other:
        refused = _register(other, None)
        assert refused.status_code == 401
        assert refused.json().get("error", "invalid_token") == "invalid_token"
        assert refused.headers["www-authenticate"].startswith("Bearer")


def test_the_admin_token_is_an_initial_access_token(client: TestClient,
                                                    settings: Settings) -> None:
    assert _register(client, settings.admin_token).status_code == 201


def test_a_minted_token_is_valid_until_it_expires_and_only_in_its_deployment(
        settings: Settings) -> None:
    from datetime import UTC, datetime
    now = datetime(2026, 1, 1, tzinfo=UTC)
    token, expires = oidc_registration.mint_initial_token(settings, now=now,
                                                          ttl=timedelta(hours=1))
    assert expires == now + timedelta(hours=1)
    assert oidc_registration.initial_token_valid(settings, token, now=now)
    assert not oidc_registration.initial_token_valid(settings, token, now=expires)
    other = settings.model_copy(update={"secret_key": SecretStr("another-deployment-secret!")})
    assert not oidc_registration.initial_token_valid(other, token, now=now)


def test_a_registered_client_gets_credentials_and_logs_in(
        client: TestClient, initial_token: str, app: Any, admin: dict[str, str],
        database: Any) -> None:
    response = _register(client, initial_token, {**BODY, "scope": "openid profile citizen.basic"})
    assert response.status_code == 201, response.text
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert body["client_secret"]
    assert body["client_secret_expires_at"] == 0
    assert body["token_endpoint_auth_method"] == "client_secret_basic"
    assert body["scope"] == "openid profile"  # login scopes only
    assert body["require_pkce"] is False  # a confidential client that did not ask for it
    shown = client.get(f"/v1/admin/clients/{body['client_id']}", headers=admin).json()
    assert shown["sandbox"] is True
    pin = citizen_with_contact(database)
    assert client.post("/v1/admin/accounts", json={"pin": pin, "level": 2,
                                                   "password": "Vneid@2025"},
                       headers=admin).status_code == 201
    rp = Rp(body["client_id"], body["client_secret"], pkce=False)
    assert tokens_for(browser(app), rp, pin)["id_token"]


def test_a_public_client_always_needs_pkce(client: TestClient, initial_token: str) -> None:
    body = _register(client, initial_token,
                     {**BODY, "token_endpoint_auth_method": "none"}).json()
    assert body["require_pkce"] is True
    assert "client_secret" not in body


@pytest.mark.parametrize(("change", "error"), [
    ({"grant_types": ["client_credentials"]}, "invalid_client_metadata"),
    ({"response_types": ["code", "id_token"]}, "invalid_client_metadata"),
    ({"grant_types": ["implicit"]}, "invalid_client_metadata"),
    ({"jwks": {"keys": []}}, "invalid_client_metadata"),
    ({"subject_type": "public"}, "invalid_client_metadata"),
    ({"token_endpoint_auth_method": "tls_client_auth"}, "invalid_client_metadata"),
    ({"userinfo_signed_response_alg": "HS256"}, "invalid_client_metadata"),
    ({"require_pkce": "yes"}, "invalid_client_metadata"),
    ({"redirect_uris": []}, "invalid_redirect_uri"),
    ({"redirect_uris": ["http://rp.example/cb"]}, "invalid_redirect_uri"),
    ({"redirect_uris": "https://rp.example/cb"}, "invalid_client_metadata"),
])
def test_invalid_metadata_is_refused_as_rfc_7591_says(
        client: TestClient, initial_token: str, change: dict[str, Any], error: str) -> None:
    refused = _register(client, initial_token, {**BODY, **change})
    assert refused.status_code == 400, refused.text
    assert refused.json()["error"] == error
    assert "http://rp.example" not in refused.text  # never the caller's input


def test_a_body_that_is_not_json_is_invalid_client_metadata(client: TestClient,
                                                            initial_token: str) -> None:
    refused = client.post("/oauth2/register", content=b"redirect_uris=x",
                          headers={"Authorization": f"Bearer {initial_token}",
                                   "Content-Type": "application/x-www-form-urlencoded"})
    assert refused.json()["error"] == "invalid_client_metadata"


def test_json_the_edge_refuses_is_rfc_7591_invalid_client_metadata_not_a_problem(
        client: TestClient, initial_token: str) -> None:
    deep = b'{"client_name": ' + b"[" * 40 + b"]" * 40 + b"}"
    doubled = b'{"client_name": "a", "client_name": "b"}'
    for body in (deep, doubled):
        refused = client.post("/oauth2/register", content=body, headers={
            "Authorization": f"Bearer {initial_token}", "Content-Type": "application/json"})
        assert refused.status_code == 400, refused.text
        assert refused.headers["content-type"] == "application/json"
        assert refused.json()["error"] == "invalid_client_metadata"
    made = _register(client, initial_token).json()
    replaced = client.put(f"/oauth2/register/{made['client_id']}", content=deep, headers={
        "Authorization": f"Bearer {made['registration_access_token']}",
        "Content-Type": "application/json"})
    assert (replaced.status_code, replaced.json()["error"]) == (400, "invalid_client_metadata")


def test_a_web_client_with_a_private_use_scheme_is_told_it_needs_application_type_native(
        client: TestClient, initial_token: str) -> None:
    refused = _register(client, initial_token, {**BODY, "redirect_uris": ["com.example.app:/cb"]})
    assert refused.status_code == 400, refused.text
    assert "application_type native" in refused.json()["error_description"]
    assert "absolute" not in refused.json()["error_description"]
    native = _register(client, initial_token, {
        **BODY, "redirect_uris": ["com.example.app:/cb"], "application_type": "native",
        "token_endpoint_auth_method": "none"})
    assert native.status_code == 201, native.text


def test_the_registration_access_token_reads_and_replaces_the_registration(
        client: TestClient, initial_token: str) -> None:
    registered = _register(client, initial_token).json()
    read = _manage(client, registered, "GET")
    assert read.status_code == 200
    assert read.json()["redirect_uris"] == [DEMO_REDIRECT]
    assert "client_secret" not in read.json()
    new = [DEMO_REDIRECT, "http://127.0.0.1:8765/other"]
    updated = _manage(client, registered, "PUT", json={**BODY, "client_id":
                                                       registered["client_id"],
                                                       "redirect_uris": new})
    assert updated.status_code == 200, updated.text
    assert _manage(client, registered, "GET").json()["redirect_uris"] == new


@pytest.mark.parametrize("change", [{"client_id": "someone-else"},
                                    {"token_endpoint_auth_method": "client_secret_post"}])
def test_an_update_cannot_change_identity_or_method(client: TestClient, initial_token: str,
                                                    change: dict[str, Any]) -> None:
    registered = _register(client, initial_token).json()
    body = {**BODY, "client_id": registered["client_id"], **change}
    refused = _manage(client, registered, "PUT", json=body)
    assert refused.status_code == 400
    assert refused.json()["error"] == "invalid_client_metadata"


def test_management_needs_the_clients_own_registration_token(
        client: TestClient, initial_token: str, settings: Settings) -> None:
    first, second = (_register(client, initial_token).json() for _ in range(2))
    assert _manage(client, first, "GET", token=second["registration_access_token"]
                   ).status_code == 401
    demo = {"client_id": settings.demo_client_id}
    assert _manage(client, demo, "GET", token=initial_token).status_code == 401


def test_a_deleted_registration_stops_working(client: TestClient, initial_token: str) -> None:
    registered = _register(client, initial_token).json()
    assert _manage(client, registered, "DELETE").status_code == 204
    assert _manage(client, registered, "GET").status_code == 401
    refused = client.post("/oauth2/token", auth=(registered["client_id"],
                                                 registered["client_secret"]),
                          data={"grant_type": "authorization_code", "code": "x"})
    assert refused.json()["error"] == "invalid_client"


def test_discovery_announces_the_registration_endpoint(client: TestClient,
                                                       settings: Settings) -> None:
    metadata = client.get("/.well-known/openid-configuration").json()
    assert metadata["registration_endpoint"] == settings.issuer_url + "/oauth2/register"
    rfc8414 = client.get("/.well-known/oauth-authorization-server").json()
    assert rfc8414["registration_endpoint"] == metadata["registration_endpoint"]


# --- what the server fetches on a registrant's behalf: the webhooks' address rules ---------------


@pytest.fixture
def sector_document() -> Iterator[tuple[str, list[str]]]:
    """A loopback server serving a sector identifier document; the paths it was asked for."""
    with loopback_json_server(lambda: BODY["redirect_uris"]) as (base, asked):
        yield f"{base}/sector.json", asked


@pytest.mark.parametrize("allowed", [True, False])
def test_open_registration_fetches_a_loopback_sector_uri_only_where_webhooks_may_go_there(
        app: Any, client: TestClient, settings: Settings,
        sector_document: tuple[str, list[str]], allowed: bool) -> None:
    """DANCU_WEBHOOK_ALLOW_LOOPBACK (default: the sandbox) rules the sector fetch too: turned off
    on a shared sandbox, an anonymous registrant cannot make the server call its loopback."""
    url, asked = sector_document
    app.state.settings = settings.model_copy(update={"webhook_allow_loopback": allowed})
    try:
        answer = _register(client, None, BODY | {"sector_identifier_uri": url})
    finally:
        app.state.settings = settings
    if allowed:
        assert answer.status_code == 201, answer.text
        assert asked == ["/sector.json"]
        return
    assert answer.status_code == 400
    assert answer.json() == {"error": "invalid_client_metadata", "error_description":
                             "sector_identifier_uri: not fetched (address not allowed)"}
    assert asked == []


@pytest.mark.parametrize("uri", ["https://10.1.2.3/s.json", "https://169.254.169.254/latest",
                                 "https://[fd00::1]/s.json", "https://100.64.0.1/s.json"])
def test_open_registration_never_fetches_a_private_or_metadata_address(
        client: TestClient, uri: str) -> None:
    answer = _register(client, None, BODY | {"sector_identifier_uri": uri})
    assert answer.status_code == 400
    assert answer.json()["error"] == "invalid_client_metadata"
    assert "address not allowed" in answer.json()["error_description"]


def _token_error(client: TestClient, made: dict[str, Any]) -> str:
    """The token endpoint's error for a made-up code: ``invalid_grant`` once the client has
    authenticated, ``invalid_client`` when it cannot."""
    answer = client.post("/oauth2/token", auth=(made["client_id"], made["client_secret"]),
                         data={"grant_type": "authorization_code", "code": "made-up",
                               "redirect_uri": DEMO_REDIRECT})
    return str(answer.json()["error"])


def test_an_open_registration_ends_after_its_lifetime_and_one_with_a_token_does_not(
        client: TestClient, app: Any, clock: Any, settings: Settings,
        initial_token: str) -> None:
    """RFC 7591 §3.2.1: an open registration's ``client_secret_expires_at`` is its end
    (DANCU_OPEN_REGISTRATION_LIFETIME_SECONDS); from then on the client no longer
    authenticates, authorizes or manages its registration. One made with an initial access
    token says 0 and keeps working."""
    start = clock.freeze()
    opened, by_token = _register(client, None).json(), _register(client, initial_token).json()
    ends = int(start.timestamp()) + settings.open_registration_lifetime_seconds
    assert opened["client_secret_expires_at"] == ends
    assert by_token["client_secret_expires_at"] == 0
    assert _manage(client, opened, "GET").json()["client_secret_expires_at"] == ends
    assert _token_error(client, opened) == "invalid_grant"
    rp = Rp(opened["client_id"], opened["client_secret"], pkce=False)
    assert authorize(browser(app), rp).response.status_code in (302, 303)
    clock.freeze(start + timedelta(seconds=settings.open_registration_lifetime_seconds))
    assert _token_error(client, opened) == "invalid_client"
    assert authorize(browser(app), rp).response.status_code == 400
    assert _manage(client, opened, "GET").status_code == 401
    assert _manage(client, opened, "DELETE").status_code == 401
    assert _token_error(client, by_token) == "invalid_grant"
    assert _manage(client, by_token, "GET").status_code == 200


def test_an_expired_open_registration_frees_its_place_in_the_total(
        settings: Settings, database: Database) -> None:
    """Places in DANCU_OPEN_REGISTRATIONS_TOTAL came back only through RFC 7592 deletes or an
    administrator, so one source could keep the total full for everyone: an open registration
    past its end is no longer counted."""
    from datetime import UTC, datetime

    with database.read() as session:
        active = oidc_registration.active_registrations(session, now=datetime.now(UTC))
    full = settings.model_copy(update={"open_registrations_total": active + 1})
    with TestClient(create_app(full, database=database, migrate_on_start=False)) as other:
        other_clock = other.app.state.clock  # type: ignore[attr-defined]
        start = other_clock.freeze()
        assert _register(other, None).status_code == 201
        assert _register(other, None).status_code == 403
        other_clock.freeze(start + timedelta(seconds=full.open_registration_lifetime_seconds))
        again = _register(other, None)
        assert again.status_code == 201, again.text


def test_one_source_holds_at_most_its_cap_of_live_open_registrations(
        settings: Settings, database: Database, initial_token: str) -> None:
    """Per minute and in total alone, one address could take every place of the total within
    minutes and take them again as they end: it may hold at most
    DANCU_OPEN_REGISTRATIONS_LIVE_PER_SOURCE open registrations that have not ended; deleting
    one (RFC 7592) from that address frees its place, as does its end; a token still registers."""
    with TestClient(create_app(settings, database=database, migrate_on_start=False)) as probe:
        now = probe.app.state.clock.now()  # type: ignore[attr-defined]
    with database.read() as session:
        held = oidc_registration.live_from_source(session, settings, "testclient", now=now)
    capped = settings.model_copy(update={"open_registrations_live_per_source": held + 2})
    with TestClient(create_app(capped, database=database, migrate_on_start=False)) as other:
        other_clock = other.app.state.clock  # type: ignore[attr-defined]
        start = other_clock.freeze(now)
        first, second = _register(other, None), _register(other, None)
        assert (first.status_code, second.status_code) == (201, 201), second.text
        refused = _register(other, None)
        assert refused.status_code == 403, refused.text
        assert refused.json()["error"] == "access_denied"
        assert "DANCU_OPEN_REGISTRATIONS_LIVE_PER_SOURCE" in refused.json()["error_description"]
        assert _register(other, initial_token).status_code == 201
        assert _manage(other, first.json(), "DELETE").status_code == 204
        assert _register(other, None).status_code == 201
        assert _register(other, None).status_code == 403
        other_clock.freeze(start + timedelta(seconds=capped.open_registration_lifetime_seconds))
        again = _register(other, None)
        assert again.status_code == 201, again.text


def test_a_source_is_counted_under_a_keyed_hash_never_its_address(
        settings: Settings, database: Database) -> None:
    """The live registrations' accounting names the source by an HMAC under a key derived from
    the deployment secret: not the address in clear, nor anything computed from public data."""
    from sqlalchemy import select

    from app.models.client import RateWindow

    assert _register(TestClient(create_app(settings, database=database,
                                           migrate_on_start=False)), None).status_code == 201
    key = oidc_registration.source_key(settings, "testclient")
    with database.read() as session:
        keys = set(session.scalars(select(RateWindow.client_id).where(
            RateWindow.client_id.like(f"{oidc_registration.SOURCE_KIND}%"))))
    assert key in keys
    assert not any("testclient" in k for k in keys)
    other = settings.model_copy(update={"secret_key": SecretStr("another-deployment-secret!")})
    assert oidc_registration.source_key(other, "testclient") != key
    assert oidc_registration.source_key(settings, "2001:db8::1") == oidc_registration.source_key(
        settings, "2001:db8::ffff")  # an IPv6 host's /64


def test_a_secret_client_may_register_keys_as_the_conformance_suite_does_yet_not_sign_in_with_them(
        app: Any, client: TestClient, initial_token: str, settings: Settings) -> None:
    """``OIDCCCreateDynamicClientRegistrationRequest`` always sends an RS256 ``jwks``, with
    ``client_secret_basic`` in the Basic and Back-Channel plans: the registration is accepted, and
    the keys never stand in for the secret."""
    from joserfc.jwk import RSAKey

    from tests.api.oidc_support import client_assertion

    key = RSAKey.generate_key(2048, auto_kid=True)
    registered = _register(client, initial_token, {
        **BODY, "jwks": {"keys": [key.as_dict(private=False)]},
        "token_endpoint_auth_method": "client_secret_basic", "response_types": ["code"],
        "contacts": ["certification@oidf.org"]})
    assert registered.status_code == 201, registered.text
    body = registered.json()
    assert body["token_endpoint_auth_method"] == "client_secret_basic"
    assert body["client_secret"]
    assertion = client_assertion(app, body["client_id"], key, settings.issuer_url)
    refused = client.post("/oauth2/token", data={"grant_type": "authorization_code",
                                                 "code": "x", "redirect_uri": DEMO_REDIRECT,
                                                 **assertion})
    assert refused.status_code == 401, refused.text
    assert refused.json()["error"] == "invalid_client"
