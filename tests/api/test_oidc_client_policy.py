"""Per-client policy (docs/vneid.md "Client policy"): PKCE requirement, application type and the
RFC 8252 loopback port rule, post-logout redirect URIs, public clients; registered through the
admin API and enforced at the authorization, token and logout endpoints."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import text

from app import migrations
from app.db import Database
from app.models.client import Client
from app.services.sharing import clients
from tests.api.oidc_support import *  # noqa: F403
from tests.api.oidc_support import (
    DEMO_REDIRECT,
    LOGIN_SCOPES,
    Rp,
    authorize,
    browser,
    pkce_pair,
    redeem,
    register_rp,
    tokens_for,
)
from tests.api.population_support import fresh_database

__all__ = ["fresh_database"]  # a fixture


@pytest.fixture
def agent(app: FastAPI) -> TestClient:
    return browser(app)


@pytest.fixture
def pin(personas: dict[str, Any]) -> str:
    return str(personas["citizen-l2"]["pin"])


def _register(client: TestClient, admin: dict[str, str], **spec: Any) -> Any:
    body = {"name": "Policy RP", "scopes": LOGIN_SCOPES, "purposes": ["login-tests"],
            "sandbox": True, "grant_types": ["authorization_code", "refresh_token"],
            "redirect_uris": [DEMO_REDIRECT]} | spec
    return client.post("/v1/admin/clients", json=body, headers=admin)


def test_a_registered_client_shows_its_policy_with_safe_defaults(
        client: TestClient, admin: dict[str, str]) -> None:
    created = _register(client, admin).json()
    assert (created["require_pkce"], created["application_type"],
            created["post_logout_redirect_uris"]) == (True, "web", [])


@pytest.mark.parametrize(
    ("spec", "problem"),
    [
        ({"token_endpoint_auth_method": "none", "require_pkce": False}, "require_pkce"),
        ({"token_endpoint_auth_method": "none",
          "grant_types": ["authorization_code", "client_credentials"]}, "client_credentials"),
        ({"require_pkce": False, "grant_types": ["client_credentials"], "redirect_uris": []},
         "require_pkce"),
        ({"post_logout_redirect_uris": ["http://rp.example/out"]}, "post_logout_redirect_uris"),
        ({"post_logout_redirect_uris": ["https://rp.example/out#x"]},
         "post_logout_redirect_uris"),
    ],
)
def test_registration_refuses_an_impossible_policy(client: TestClient, admin: dict[str, str],
                                                   spec: dict[str, Any], problem: str) -> None:
    response = _register(client, admin, **spec)
    assert response.status_code == 422, response.text
    assert any(problem in text for text in response.json()["problems"])


@pytest.mark.parametrize("spec", [{"application_type": "desktop"}, {"require_pkce": "maybe"},
                                  {"token_endpoint_auth_method": "tls_client_auth"}])
def test_registration_refuses_unknown_policy_values(client: TestClient, admin: dict[str, str],
                                                    spec: dict[str, Any]) -> None:
    assert _register(client, admin, **spec).status_code == 422


def test_a_client_registered_without_pkce_logs_in_without_it(
        agent: TestClient, client: TestClient, admin: dict[str, str], pin: str) -> None:
    rp = register_rp(client, admin, require_pkce=False)
    assert rp.pkce is False
    flow = authorize(agent, rp, pin=pin)
    assert "code_challenge" not in flow.params
    assert "code" in flow.result, flow.location
    assert redeem(agent, rp, flow).status_code == 200


def test_a_verifier_for_a_code_issued_without_challenge_is_refused(
        agent: TestClient, client: TestClient, admin: dict[str, str], pin: str) -> None:
    """RFC 9700 §2.1.1: a PKCE downgrade must not go unnoticed."""
    rp = register_rp(client, admin, require_pkce=False)
    flow = authorize(agent, rp, pin=pin)
    refused = redeem(agent, rp, flow, code_verifier=pkce_pair()[0])
    assert refused.status_code == 400
    assert refused.json()["error"] == "invalid_grant"


def test_a_client_registered_without_pkce_still_has_a_sent_challenge_checked(
        agent: TestClient, client: TestClient, admin: dict[str, str], pin: str) -> None:
    rp = register_rp(client, admin, require_pkce=False)
    verifier, challenge = pkce_pair()
    flow = authorize(agent, rp, pin=pin, code_challenge=challenge, code_challenge_method="S256")
    flow.verifier = verifier + "x"
    assert redeem(agent, rp, flow).json()["error"] == "invalid_grant"


def test_a_client_requiring_pkce_is_refused_without_it(
        agent: TestClient, client: TestClient, admin: dict[str, str], pin: str) -> None:
    rp = register_rp(client, admin)
    flow = authorize(agent, rp, pin=pin, code_challenge="", code_challenge_method="")
    assert flow.result["error"] == "invalid_request"


@pytest.mark.parametrize(("application_type", "accepted"), [("native", True), ("web", False)])
def test_only_a_native_client_may_use_another_loopback_port(
        agent: TestClient, client: TestClient, admin: dict[str, str], pin: str,
        application_type: str, accepted: bool) -> None:
    rp = register_rp(client, admin, application_type=application_type,
                     redirect_uris=["http://127.0.0.1/callback"])
    flow = authorize(agent, rp, pin=pin, redirect_uri="http://127.0.0.1:51004/callback")
    assert (flow.response.status_code == 303) is accepted
    assert ("code" in flow.result) is accepted


def test_the_demo_client_keeps_its_quick_start_redirect_uri(
        agent: TestClient, settings: Any, pin: str) -> None:
    demo = Rp(settings.demo_client_id, settings.demo_client_secret)
    assert "code" in authorize(agent, demo, pin=pin).result


def test_logout_returns_only_to_a_registered_post_logout_uri(
        agent: TestClient, client: TestClient, admin: dict[str, str], pin: str) -> None:
    rp = register_rp(client, admin, post_logout_redirect_uris=["https://rp.example/bye"])
    body = tokens_for(agent, rp, pin)
    redirect = agent.get("/oauth2/logout", params={
        "id_token_hint": body["id_token"], "post_logout_redirect_uri": DEMO_REDIRECT})
    assert redirect.status_code == 400  # a redirect URI is not a post-logout URI once some are
    listed = agent.get("/oauth2/logout", params={
        "id_token_hint": tokens_for(agent, rp, pin)["id_token"],
        "post_logout_redirect_uri": "https://rp.example/bye"})
    assert listed.headers["location"] == "https://rp.example/bye"


# --- public clients (token_endpoint_auth_method none) --------------------------------------------


@pytest.fixture(scope="module")
def public_rp(client: TestClient, admin: dict[str, str]) -> Rp:
    rp = register_rp(client, admin, name="Native app", token_endpoint_auth_method="none",
                     application_type="native", redirect_uris=["http://127.0.0.1/callback"])
    assert (rp.method, rp.secret, rp.pkce) == ("none", None, True)
    return rp


def test_a_public_client_logs_in_refreshes_and_revokes_without_a_secret(
        agent: TestClient, public_rp: Rp, pin: str) -> None:
    body = tokens_for(agent, public_rp, pin, scope="openid profile offline_access",
                      prompt="consent", redirect_uri="http://127.0.0.1:50123/callback")
    refreshed = agent.post("/oauth2/token", data={
        "grant_type": "refresh_token", "refresh_token": body["refresh_token"],
        "client_id": public_rp.client_id})
    assert refreshed.status_code == 200, refreshed.text
    revoked = agent.post("/oauth2/revoke", data={
        "token": refreshed.json()["refresh_token"], "client_id": public_rp.client_id})
    assert revoked.status_code == 200


def test_a_public_client_cannot_skip_pkce(agent: TestClient, public_rp: Rp, pin: str) -> None:
    flow = authorize(agent, public_rp, pin=pin, code_challenge="", code_challenge_method="")
    assert flow.result["error"] == "invalid_request"


def test_a_public_client_has_no_client_credentials_grant_and_no_introspection(
        agent: TestClient, public_rp: Rp, pin: str) -> None:
    credentials = agent.post("/oauth2/token", data={"grant_type": "client_credentials",
                                                    "client_id": public_rp.client_id})
    assert credentials.json()["error"] == "unauthorized_client"
    token = tokens_for(agent, public_rp, pin)["access_token"]
    introspected = agent.post("/oauth2/introspect", data={"token": token,
                                                          "client_id": public_rp.client_id})
    assert (introspected.status_code, introspected.json()["error"]) == (401, "invalid_client")


def test_a_confidential_client_cannot_pass_as_a_public_one(
        agent: TestClient, client: TestClient, admin: dict[str, str], pin: str) -> None:
    rp = register_rp(client, admin)
    flow = authorize(agent, rp, pin=pin)
    response = redeem(agent, Rp(rp.client_id, None, method="none"), flow)
    assert (response.status_code, response.json()["error"]) == (401, "invalid_client")


# --- the migration --------------------------------------------------------------------------------


def test_the_client_policy_migration_goes_down_and_up_keeping_clients_usable(
        fresh_database: Callable[..., Database]) -> None:
    """Down: a public client cannot exist in the older schema, so it is disabled; up: every client
    gets the defaults (PKCE required, web, no post-logout URIs)."""
    from alembic import command

    database = fresh_database()
    now = datetime.now(UTC)
    with database.write() as session:
        clients.register(session, clients.ClientSpec(
            name="app", client_id="public-app", scopes=("openid",), purposes=("login",),
            token_endpoint_auth_method="none", grant_types=("authorization_code",),
            redirect_uris=("http://127.0.0.1/cb",), application_type="native"), now=now)
    config = migrations.alembic_config(database.engine.url.render_as_string(hide_password=False))
    with database.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0008")
    with database.engine.connect() as connection:
        row = connection.execute(text("SELECT status, token_endpoint_auth_method FROM client "
                                      "WHERE client_id = 'public-app'")).one()
    assert tuple(row) == ("disabled", "client_secret_basic")
    migrations.upgrade(database.engine)
    with database.read() as session:
        client = session.get(Client, "public-app")
        assert (client.require_pkce, client.application_type,
                client.post_logout_redirect_uris) == (True, "web", [])


def test_a_native_app_logs_in_with_its_private_use_scheme(
        agent: TestClient, client: TestClient, admin: dict[str, str], pin: str) -> None:
    """RFC 8252 §7.1: the code comes back to ``com.example.app:/cb``; a web client may not
    register such a URI."""
    rp = register_rp(client, admin, token_endpoint_auth_method="none",
                     application_type="native", redirect_uris=["com.example.app:/cb"])
    flow = authorize(agent, rp, pin=pin)
    assert flow.location.startswith("com.example.app:/cb?code=")
    assert redeem(agent, rp, flow).status_code == 200
    web = _register(client, admin, redirect_uris=["com.example.app:/cb"])
    assert web.status_code == 422
