"""OIDC Core §5.5 (the ``claims`` request parameter) and §8.1 (pairwise ``sub`` keyed on the
sector identifier of a ``sector_identifier_uri``), through HTTP on a migrated database."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from app.db import Database
from app.settings import Settings
from tests.api.oidc_support import *  # noqa: F403
from tests.api.oidc_support import (
    DEMO_REDIRECT,
    Rp,
    authorize,
    browser,
    citizen_with_account,
    jwt_claims,
    refresh,
    register_rp,
    tokens_for,
    userinfo,
)


@pytest.fixture(scope="module")
def citizen(client: TestClient, admin: dict[str, str], database: Database) -> str:
    return citizen_with_account(client, admin, database)


@pytest.fixture(scope="module")
def rp(client: TestClient, admin: dict[str, str]) -> Rp:
    return register_rp(client, admin, name="Claims RP")


@pytest.fixture
def agent(app: FastAPI) -> TestClient:
    return browser(app)


def _claims(**targets: dict[str, Any]) -> str:
    return json.dumps(targets)


def test_claims_asked_for_the_id_token_are_in_the_id_token_only(
        agent: TestClient, rp: Rp, citizen: str) -> None:
    body = tokens_for(agent, rp, citizen, scope="openid",
                      claims=_claims(id_token={"email": None, "birthdate": {"essential": True}}))
    id_token = jwt_claims(body["id_token"])
    assert "@" in id_token["email"]
    assert id_token["birthdate"]
    assert "name" not in id_token
    assert set(userinfo(agent, body["access_token"]).json()) == {"sub"}


def test_claims_asked_for_userinfo_are_released_alone_not_their_scope(
        agent: TestClient, rp: Rp, citizen: str) -> None:
    body = tokens_for(agent, rp, citizen, scope="openid",
                      claims=_claims(userinfo={"phone_number": None, "SoDinhDanh": None}))
    assert body["scope"] == "openid"
    released = userinfo(agent, body["access_token"]).json()
    assert released["phone_number"].startswith("+84")
    assert released["SoDinhDanh"] == citizen
    assert not {"phone_number_verified", "HoVaTen"} & released.keys()


def test_claims_outside_the_clients_scopes_are_not_released(
        agent: TestClient, client: TestClient, admin: dict[str, str], citizen: str) -> None:
    narrow = register_rp(client, admin, name="Profile-only RP",
                         scopes=["openid", "profile"])
    body = tokens_for(agent, narrow, citizen, scope="openid",
                      claims=_claims(userinfo={"SoDinhDanh": {"essential": True}, "name": None}))
    released = userinfo(agent, body["access_token"]).json()
    assert "SoDinhDanh" not in released
    assert released["name"]


def test_claims_asked_for_stay_with_refreshed_tokens(
        agent: TestClient, rp: Rp, citizen: str) -> None:
    body = tokens_for(agent, rp, citizen, scope="openid offline_access", prompt="consent",
                      claims=_claims(id_token={"gender": None}, userinfo={"email": None}))
    renewed = refresh(agent, rp, body["refresh_token"])
    assert renewed.status_code == 200, renewed.text
    assert jwt_claims(renewed.json()["id_token"])["gender"] in ("male", "female")
    assert "@" in userinfo(agent, renewed.json()["access_token"]).json()["email"]


def test_acr_values_in_the_claims_parameter_select_the_acr(
        agent: TestClient, rp: Rp, citizen: str) -> None:
    body = tokens_for(agent, rp, citizen,
                      claims=_claims(id_token={"acr": {"essential": True, "values": ["LoA2"]}}))
    assert jwt_claims(body["id_token"])["acr"] == "LoA2"


@pytest.mark.parametrize("value", ["not json", "[]", '{"userinfo": {"name": true}}'])
def test_malformed_claims_parameter_is_an_invalid_request_redirect(
        agent: TestClient, rp: Rp, citizen: str, value: str) -> None:
    flow = authorize(agent, rp, pin=citizen, claims=value)
    assert flow.location.startswith(rp.redirect_uri)
    assert flow.result["error"] == "invalid_request"


def test_discovery_announces_the_claims_parameter(client: TestClient) -> None:
    assert client.get("/.well-known/openid-configuration").json()["claims_parameter_supported"]


# --- sector identifier --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sector_server() -> Iterator[str]:
    """A loopback HTTP server serving a sector identifier document (a sandbox allows loopback)."""
    document = json.dumps([DEMO_REDIRECT, "http://127.0.0.1:8765/logged-out"]).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            found = self.path == "/sector.json"
            self.send_response(200 if found else 404)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(document if found else b"{}")

        def log_message(self, *args: Any) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=5)


def _sub(agent: TestClient, rp: Rp, citizen: str) -> str:
    return str(jwt_claims(tokens_for(agent, rp, citizen)["id_token"])["sub"])


def test_clients_of_one_sector_identifier_see_the_same_pairwise_sub(
        agent: TestClient, client: TestClient, admin: dict[str, str], citizen: str, rp: Rp,
        sector_server: str) -> None:
    fetched = register_rp(client, admin, name="Sector RP fetched",
                          sector_identifier_uri=f"{sector_server}/sector.json")
    listed = register_rp(client, admin, name="Sector RP listed",
                         sector_identifier_uri="http://127.0.0.1/other-path.json",
                         sector_redirect_uris=[DEMO_REDIRECT, "http://127.0.0.1:8765/logged-out"])
    assert _sub(agent, fetched, citizen) == _sub(agent, listed, citizen)  # host 127.0.0.1
    assert _sub(agent, fetched, citizen) != _sub(agent, rp, citizen)  # rp: keyed on its id
    shown = client.get(f"/v1/admin/clients/{fetched.client_id}", headers=admin).json()
    assert shown["sector_identifier_uri"] == f"{sector_server}/sector.json"


@pytest.mark.parametrize(("extra", "problem"), [
    ({"sector_identifier_uri": "ftp://rp.example/s.json"}, "sector_identifier_uri: must use"),
    ({"sector_identifier_uri": "https://rp.example/s.json",
      "sector_redirect_uris": ["https://rp.example/cb"]}, "does not list every redirect URI"),
    ({"sector_identifier_uri": "https://rp.example/s.json", "sandbox": False,
      "sector_redirect_uris": [DEMO_REDIRECT]}, "only for sandbox clients"),
    ({"sector_identifier_uri": "https://10.1.2.3/s.json"}, "not fetched (address not allowed)"),
    ({"sector_identifier_uri": "SERVER/missing.json"}, "not fetched (answered HTTP 404)"),
])
def test_sector_identifier_uri_must_list_every_redirect_uri(
        client: TestClient, admin: dict[str, str], sector_server: str, extra: dict[str, Any],
        problem: str) -> None:
    extra = {k: v.replace("SERVER", sector_server) if isinstance(v, str) else v
             for k, v in extra.items()}
    body = {"name": "Bad sector RP", "scopes": ["openid"], "purposes": ["login-tests"],
            "sandbox": True, "grant_types": ["authorization_code"],
            "redirect_uris": [DEMO_REDIRECT]} | extra
    response = client.post("/v1/admin/clients", json=body, headers=admin)
    assert response.status_code == 422, response.text
    assert any(problem in p for p in response.json()["problems"]), response.json()


def test_settings_allow_loopback_for_sector_documents(settings: Settings) -> None:
    assert settings.webhook_loopback_allowed  # what lets the loopback test server be fetched
