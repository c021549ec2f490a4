"""A FAPI 2.0 Security Profile client (``security_profile: fapi2``): private_key_jwt, PAR, PKCE
S256 and DPoP-bound access tokens, ``iss`` in the authorization response (RFC 9207)."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from joserfc.jwk import ECKey, RSAKey

from app.db import Database
from app.settings import Settings
from tests.api.oidc_support import *  # noqa: F403
from tests.api.oidc_support import (
    DEMO_REDIRECT,
    LOGIN_SCOPES,
    browser,
    citizen_with_account,
    client_assertion,
    jwt_claims,
    pkce_pair,
    query_of,
)
from tests.api.test_oidc_dpop import proof

CLIENT_KEY = RSAKey.generate_key(2048, auto_kid=True)
DPOP_KEY = ECKey.generate_key("P-256")


def _register(client: TestClient, admin: dict[str, str], **spec: Any) -> Any:
    body = {"name": "Bank FAPI", "scopes": LOGIN_SCOPES, "purposes": ["login-tests"],
            "sandbox": True, "grant_types": ["authorization_code", "refresh_token"],
            "redirect_uris": [DEMO_REDIRECT], "security_profile": "fapi2",
            "token_endpoint_auth_method": "private_key_jwt",
            "jwks": {"keys": [CLIENT_KEY.as_dict(private=False)]}} | spec
    return client.post("/v1/admin/clients", json=body, headers=admin)


@pytest.fixture(scope="module")
def fapi_client(client: TestClient, admin: dict[str, str]) -> str:
    created = _register(client, admin)
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["require_pkce"] is True
    assert body["require_pushed_authorization_requests"] is True
    assert body["dpop_bound_access_tokens"] is True
    return str(body["client_id"])


@pytest.fixture(scope="module")
def citizen(client: TestClient, admin: dict[str, str], database: Database) -> str:
    return citizen_with_account(client, admin, database)


def _assertion(app: FastAPI, client_id: str, aud: str) -> dict[str, str]:
    return client_assertion(app, client_id, CLIENT_KEY, aud, alg="PS256")  # FAPI 2.0 §5.4


def test_a_fapi2_client_logs_in_with_par_pkce_private_key_jwt_and_dpop(
        app: FastAPI, client: TestClient, fapi_client: str, citizen: str,
        settings: Settings) -> None:
    agent = browser(app)
    verifier, challenge = pkce_pair()
    request = {"redirect_uri": DEMO_REDIRECT, "response_type": "code", "scope": "openid profile",
               "state": "s1", "nonce": "n1", "code_challenge": challenge,
               "code_challenge_method": "S256"}
    pushed = client.post("/oauth2/par", data={
        **request, **_assertion(app, fapi_client, settings.issuer_url)})
    assert pushed.status_code == 201, pushed.text
    answer = agent.get("/oauth2/authorize", headers={"X-Sandbox-Login": citizen}, params={
        "client_id": fapi_client, "request_uri": pushed.json()["request_uri"]})
    result = query_of(answer.headers["location"])
    assert result["iss"] == settings.issuer_url  # RFC 9207
    token_url = settings.issuer_url + "/oauth2/token"
    tokens = agent.post("/oauth2/token", headers={
        "DPoP": proof(app, "POST", token_url, key=DPOP_KEY)}, data={
        "grant_type": "authorization_code", "code": result["code"],
        "redirect_uri": DEMO_REDIRECT, "code_verifier": verifier,
        **_assertion(app, fapi_client, settings.issuer_url)})
    assert tokens.status_code == 200, tokens.text
    assert tokens.json()["token_type"] == "DPoP"
    assert jwt_claims(tokens.json()["access_token"])["cnf"]["jkt"] == DPOP_KEY.thumbprint()


def test_a_fapi2_client_may_not_skip_par(app: FastAPI, fapi_client: str, citizen: str) -> None:
    _, challenge = pkce_pair()
    answer = browser(app).get("/oauth2/authorize", headers={"X-Sandbox-Login": citizen}, params={
        "client_id": fapi_client, "redirect_uri": DEMO_REDIRECT, "response_type": "code",
        "scope": "openid", "code_challenge": challenge, "code_challenge_method": "S256"})
    assert answer.status_code == 400
    assert "location" not in answer.headers


def test_a_fapi2_client_may_not_skip_pkce_in_its_pushed_request(
        app: FastAPI, client: TestClient, fapi_client: str, settings: Settings) -> None:
    refused = client.post("/oauth2/par", data={
        "redirect_uri": DEMO_REDIRECT, "response_type": "code", "scope": "openid",
        **_assertion(app, fapi_client, settings.issuer_url)})
    assert refused.status_code == 400
    assert refused.json()["error"] == "invalid_request"


def test_a_fapi2_client_may_not_skip_dpop(app: FastAPI, client: TestClient, fapi_client: str,
                                          settings: Settings) -> None:
    refused = client.post("/oauth2/token", data={
        "grant_type": "authorization_code", "code": "x", "redirect_uri": DEMO_REDIRECT,
        **_assertion(app, fapi_client, settings.issuer_url)})
    assert refused.status_code == 400
    assert refused.json()["error"] == "invalid_dpop_proof"


@pytest.mark.parametrize("spec", [
    {"token_endpoint_auth_method": "client_secret_basic", "jwks": None},
    {"security_profile": "fapi1"},
])
def test_a_fapi2_client_needs_private_key_jwt(client: TestClient, admin: dict[str, str],
                                             spec: dict[str, Any]) -> None:
    assert _register(client, admin, **spec).status_code == 422
