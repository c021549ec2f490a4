"""DPoP (RFC 9449) at the token and userinfo endpoints: a proof at the token endpoint binds the
user's access token to its key, and userinfo then wants that key's proof for every use."""

from __future__ import annotations

import base64
import hashlib
import secrets
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from joserfc import jwt
from joserfc.jwk import ECKey

from app.db import Database
from app.settings import Settings
from tests.api.oidc_support import *  # noqa: F403
from tests.api.oidc_support import (
    Rp,
    authorize,
    browser,
    citizen_with_contact,
    jwt_claims,
    register_rp,
)

KEY = ECKey.generate_key("P-256")
OTHER = ECKey.generate_key("P-256")


@pytest.fixture(scope="module")
def citizen(client: TestClient, admin: dict[str, str], database: Database) -> str:
    pin = citizen_with_contact(database)
    created = client.post("/v1/admin/accounts", json={"pin": pin, "level": 2,
                                                      "password": "Vneid@2025"}, headers=admin)
    assert created.status_code == 201, created.text
    return pin


@pytest.fixture(scope="module")
def rp(client: TestClient, admin: dict[str, str]) -> Rp:
    return register_rp(client, admin, name="DPoP RP")


@pytest.fixture
def agent(app: FastAPI) -> TestClient:
    return browser(app)


def proof(app: FastAPI, method: str, url: str, *, key: ECKey = KEY, token: str | None = None,
          **changes: Any) -> str:
    now = int(app.state.clock.now().timestamp())
    claims = {"jti": secrets.token_hex(8), "htm": method, "htu": url, "iat": now}
    if token is not None:
        claims["ath"] = base64.urlsafe_b64encode(
            hashlib.sha256(token.encode()).digest()).rstrip(b"=").decode()
    claims = {k: v for k, v in {**claims, **changes}.items() if v is not None}
    header = {"typ": "dpop+jwt", "alg": "ES256", "jwk": key.as_dict(private=False)}
    return jwt.encode(header, claims, key, algorithms=["ES256"])


def _dpop_tokens(agent: TestClient, app: FastAPI, settings: Settings, rp: Rp,
                 citizen: str, dpop: str | None = "make") -> Any:
    flow = authorize(agent, rp, pin=citizen)
    form = {"grant_type": "authorization_code", "code": flow.result["code"],
            "redirect_uri": flow.params["redirect_uri"], "code_verifier": flow.verifier}
    headers, form = rp.auth(form)
    if dpop == "make":
        dpop = proof(app, "POST", settings.issuer_url + "/oauth2/token")
    if dpop is not None:
        headers["DPoP"] = dpop
    return agent.post("/oauth2/token", data=form, headers=headers)


def _userinfo(agent: TestClient, token: str, *, scheme: str = "DPoP",
              dpop: str | None = None) -> Any:
    headers = {"Authorization": f"{scheme} {token}", **({"DPoP": dpop} if dpop else {})}
    return agent.get("/oauth2/userinfo", headers=headers)


def test_a_dpop_proof_binds_the_access_token_to_its_key(
        agent: TestClient, app: FastAPI, settings: Settings, rp: Rp, citizen: str) -> None:
    response = _dpop_tokens(agent, app, settings, rp, citizen)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token_type"] == "DPoP"
    assert jwt_claims(body["access_token"])["cnf"] == {"jkt": KEY.thumbprint()}
    url = settings.issuer_url + "/oauth2/userinfo"
    used = _userinfo(agent, body["access_token"],
                     dpop=proof(app, "GET", url, token=body["access_token"]))
    assert used.status_code == 200, used.text
    assert used.json()["sub"] == jwt_claims(body["id_token"])["sub"]


@pytest.mark.parametrize("case", ["as bearer", "no proof", "other key", "no ath", "wrong htm",
                                  "wrong htu", "stale"])
def test_a_bound_token_needs_its_keys_proof_for_this_request(
        agent: TestClient, app: FastAPI, settings: Settings, rp: Rp, citizen: str,
        case: str) -> None:
    token = _dpop_tokens(agent, app, settings, rp, citizen).json()["access_token"]
    url = settings.issuer_url + "/oauth2/userinfo"
    now = int(app.state.clock.now().timestamp())
    scheme, dpop = {
        "as bearer": ("Bearer", proof(app, "GET", url, token=token)),
        "no proof": ("DPoP", None),
        "other key": ("DPoP", proof(app, "GET", url, key=OTHER, token=token)),
        "no ath": ("DPoP", proof(app, "GET", url)),
        "wrong htm": ("DPoP", proof(app, "POST", url, token=token)),
        "wrong htu": ("DPoP", proof(app, "GET", url + "x", token=token)),
        "stale": ("DPoP", proof(app, "GET", url, token=token, iat=now - 300)),
    }[case]
    refused = _userinfo(agent, token, scheme=scheme, dpop=dpop)
    assert refused.status_code == 401, refused.text
    assert refused.json()["error"] == "invalid_token"


def test_an_unbound_token_is_not_accepted_under_the_dpop_scheme(
        agent: TestClient, app: FastAPI, settings: Settings, rp: Rp, citizen: str) -> None:
    token = _dpop_tokens(agent, app, settings, rp, citizen, dpop=None).json()["access_token"]
    assert "cnf" not in jwt_claims(token)
    url = settings.issuer_url + "/oauth2/userinfo"
    assert _userinfo(agent, token, dpop=proof(app, "GET", url, token=token)).status_code == 401
    assert _userinfo(agent, token, scheme="Bearer").status_code == 200


@pytest.mark.parametrize("case", ["wrong htu", "stale", "private key", "wrong typ"])
def test_a_bad_proof_at_the_token_endpoint_is_invalid_dpop_proof(
        agent: TestClient, app: FastAPI, settings: Settings, rp: Rp, citizen: str,
        case: str) -> None:
    url = settings.issuer_url + "/oauth2/token"
    now = int(app.state.clock.now().timestamp())
    claims = {"jti": "j", "htm": "POST", "htu": url, "iat": now}
    dpop = {
        "wrong htu": lambda: proof(app, "POST", settings.issuer_url + "/oauth2/userinfo"),
        "stale": lambda: proof(app, "POST", url, iat=now - 300),
        "private key": lambda: jwt.encode(
            {"typ": "dpop+jwt", "alg": "ES256", "jwk": KEY.as_dict(private=True)}, claims, KEY,
            algorithms=["ES256"]),
        "wrong typ": lambda: jwt.encode(
            {"typ": "JWT", "alg": "ES256", "jwk": KEY.as_dict(private=False)}, claims, KEY,
            algorithms=["ES256"]),
    }[case]()
    refused = _dpop_tokens(agent, app, settings, rp, citizen, dpop=dpop)
    assert refused.status_code == 400, refused.text
    assert refused.json()["error"] == "invalid_dpop_proof"


def test_a_client_registered_for_dpop_must_send_a_proof(
        agent: TestClient, client: TestClient, admin: dict[str, str], app: FastAPI,
        settings: Settings, citizen: str) -> None:
    bound = register_rp(client, admin, name="DPoP-only RP", dpop_bound_access_tokens=True)
    refused = _dpop_tokens(agent, app, settings, bound, citizen, dpop=None)
    assert refused.status_code == 400
    assert refused.json()["error"] == "invalid_dpop_proof"
    assert _dpop_tokens(agent, app, settings, bound, citizen).json()["token_type"] == "DPoP"


def test_discovery_announces_dpop_algorithms(client: TestClient) -> None:
    metadata = client.get("/.well-known/openid-configuration").json()
    assert metadata["dpop_signing_alg_values_supported"] == ["ES256", "RS256", "PS256"]
