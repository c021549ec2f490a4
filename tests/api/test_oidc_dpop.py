"""DPoP (RFC 9449) at the token, userinfo and data-API endpoints: a proof at the token endpoint
binds the access token (and a public client's refresh token) to its key; each proof is accepted
once; server nonces when a client or the deployment asks for them; introspection shows the key."""

from __future__ import annotations

import base64
from datetime import timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from joserfc import jwt
from joserfc.jwk import ECKey

from app.clock import SandboxClock
from app.db import Database
from app.settings import Settings
from tests.api.oidc_support import *  # noqa: F403
from tests.api.oidc_support import (
    Rp,
    authorize,
    browser,
    citizen_with_account,
    dpop_proof,
    jwt_claims,
    register_rp,
)

KEY = ECKey.generate_key("P-256")
OTHER = ECKey.generate_key("P-256")


@pytest.fixture(scope="module")
def citizen(client: TestClient, admin: dict[str, str], database: Database) -> str:
    return citizen_with_account(client, admin, database)


@pytest.fixture(scope="module")
def rp(client: TestClient, admin: dict[str, str]) -> Rp:
    return register_rp(client, admin, name="DPoP RP")


@pytest.fixture(scope="module")
def public_rp(client: TestClient, admin: dict[str, str]) -> Rp:
    return register_rp(client, admin, name="DPoP SPA", token_endpoint_auth_method="none",
                       application_type="web")


@pytest.fixture(scope="module")
def bound(client: TestClient, admin: dict[str, str]) -> Rp:
    return register_rp(client, admin, name="DPoP-only RP", dpop_bound_access_tokens=True)


@pytest.fixture(scope="module")
def nonce_rp(client: TestClient, admin: dict[str, str]) -> Rp:
    return register_rp(client, admin, name="DPoP nonce RP", require_dpop_nonce=True)


@pytest.fixture
def agent(app: FastAPI) -> TestClient:
    return browser(app)


def proof(app: FastAPI, method: str, url: str, *, key: ECKey = KEY, token: str | None = None,
          **changes: Any) -> str:
    return dpop_proof(app, method, url, key=key, token=token, **changes)


def _token_url(settings: Settings) -> str:
    return settings.issuer_url + "/oauth2/token"


def _userinfo_url(settings: Settings) -> str:
    return settings.issuer_url + "/oauth2/userinfo"


def _dpop_tokens(agent: TestClient, app: FastAPI, settings: Settings, rp: Rp,
                 citizen: str, dpop: str | None = "make", **extra: str) -> Any:
    flow = authorize(agent, rp, pin=citizen, **extra)
    form = {"grant_type": "authorization_code", "code": flow.result["code"],
            "redirect_uri": flow.params["redirect_uri"], "code_verifier": flow.verifier}
    headers, form = rp.auth(form)
    if dpop == "make":
        dpop = proof(app, "POST", _token_url(settings))
    if dpop is not None:
        headers["DPoP"] = dpop
    return agent.post("/oauth2/token", data=form, headers=headers)


def _refresh(agent: TestClient, rp: Rp, token: str, dpop: str | None) -> Any:
    headers, form = rp.auth({"grant_type": "refresh_token", "refresh_token": token})
    return agent.post("/oauth2/token", data=form,
                      headers=headers | ({"DPoP": dpop} if dpop else {}))


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
    used = _userinfo(agent, body["access_token"],
                     dpop=proof(app, "GET", _userinfo_url(settings), token=body["access_token"]))
    assert used.status_code == 200, used.text
    assert used.json()["sub"] == jwt_claims(body["id_token"])["sub"]
    assert used.headers["DPoP-Nonce"]  # §8.2: the current nonce with every DPoP answer


@pytest.mark.parametrize(("case", "error"), [
    ("as bearer", "invalid_token"), ("no proof", "invalid_dpop_proof"),
    ("other key", "invalid_dpop_proof"), ("no ath", "invalid_dpop_proof"),
    ("wrong htm", "invalid_dpop_proof"), ("wrong htu", "invalid_dpop_proof"),
    ("stale", "invalid_dpop_proof")])
def test_a_bound_token_needs_its_keys_proof_for_this_request(
        agent: TestClient, app: FastAPI, settings: Settings, rp: Rp, citizen: str,
        case: str, error: str) -> None:
    token = _dpop_tokens(agent, app, settings, rp, citizen).json()["access_token"]
    url = _userinfo_url(settings)
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
    assert refused.json()["error"] == error
    # RFC 9449 §7.1: a DPoP challenge, naming the error and the algorithms
    challenge = refused.headers["WWW-Authenticate"]
    assert challenge.startswith("DPoP ")
    assert f'error="{error}"' in challenge
    assert 'algs="ES256 RS256 PS256"' in challenge


def test_an_unbound_token_is_not_accepted_under_the_dpop_scheme(
        agent: TestClient, app: FastAPI, settings: Settings, rp: Rp, citizen: str) -> None:
    token = _dpop_tokens(agent, app, settings, rp, citizen, dpop=None).json()["access_token"]
    assert "cnf" not in jwt_claims(token)
    url = _userinfo_url(settings)
    assert _userinfo(agent, token, dpop=proof(app, "GET", url, token=token)).status_code == 401
    assert _userinfo(agent, token, scheme="Bearer").status_code == 200


@pytest.mark.parametrize("case", ["wrong htu", "stale", "private key", "wrong typ"])
def test_a_bad_proof_at_the_token_endpoint_is_invalid_dpop_proof(
        agent: TestClient, app: FastAPI, settings: Settings, rp: Rp, citizen: str,
        case: str) -> None:
    url = _token_url(settings)
    now = int(app.state.clock.now().timestamp())
    claims = {"jti": "j", "htm": "POST", "htu": url, "iat": now}
    dpop = {
        "wrong htu": lambda: proof(app, "POST", _userinfo_url(settings)),
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
        agent: TestClient, app: FastAPI, settings: Settings, bound: Rp, citizen: str) -> None:
    refused = _dpop_tokens(agent, app, settings, bound, citizen, dpop=None)
    assert (refused.status_code, refused.json()["error"]) == (400, "invalid_dpop_proof")
    assert _dpop_tokens(agent, app, settings, bound, citizen).json()["token_type"] == "DPoP"


# --- §11.1: each proof once --------------------------------------------------------------------


def test_a_proof_is_accepted_once_at_the_token_endpoint(
        agent: TestClient, app: FastAPI, settings: Settings, rp: Rp, citizen: str) -> None:
    used = proof(app, "POST", _token_url(settings))
    assert _dpop_tokens(agent, app, settings, rp, citizen, dpop=used).status_code == 200
    replayed = _dpop_tokens(agent, app, settings, rp, citizen, dpop=used)
    assert replayed.status_code == 400, replayed.text
    assert replayed.json()["error"] == "invalid_dpop_proof"
    other_jti = proof(app, "POST", _token_url(settings))
    assert _dpop_tokens(agent, app, settings, rp, citizen, dpop=other_jti).status_code == 200


def test_a_proof_is_accepted_once_at_userinfo(
        agent: TestClient, app: FastAPI, settings: Settings, rp: Rp, citizen: str) -> None:
    token = _dpop_tokens(agent, app, settings, rp, citizen).json()["access_token"]
    used = proof(app, "GET", _userinfo_url(settings), token=token)
    assert _userinfo(agent, token, dpop=used).status_code == 200
    replayed = _userinfo(agent, token, dpop=used)
    assert replayed.status_code == 401
    assert replayed.json()["error"] == "invalid_dpop_proof"


def test_a_proofs_jti_may_be_reused_by_another_key(
        agent: TestClient, app: FastAPI, settings: Settings, rp: Rp, citizen: str) -> None:
    """The record is per key thumbprint and jti: another client's proof is not a replay."""
    first = proof(app, "POST", _token_url(settings), jti="shared-jti-1")
    second = proof(app, "POST", _token_url(settings), key=OTHER, jti="shared-jti-1")
    assert _dpop_tokens(agent, app, settings, rp, citizen, dpop=first).status_code == 200
    assert _dpop_tokens(agent, app, settings, rp, citizen, dpop=second).status_code == 200


# --- §8, §9: server nonces ----------------------------------------------------------------------


def test_a_client_that_requires_nonces_is_told_which_to_use_at_the_token_endpoint(
        agent: TestClient, app: FastAPI, settings: Settings, nonce_rp: Rp, citizen: str) -> None:
    asked = _dpop_tokens(agent, app, settings, nonce_rp, citizen)
    assert asked.status_code == 400, asked.text
    assert asked.json()["error"] == "use_dpop_nonce"
    nonce = asked.headers["DPoP-Nonce"]
    answered = _dpop_tokens(agent, app, settings, nonce_rp, citizen,
                            dpop=proof(app, "POST", _token_url(settings), nonce=nonce))
    assert answered.status_code == 200, answered.text
    assert answered.headers["DPoP-Nonce"]


def test_a_client_that_requires_nonces_needs_one_at_userinfo(
        agent: TestClient, app: FastAPI, settings: Settings, nonce_rp: Rp, citizen: str) -> None:
    nonce = _dpop_tokens(agent, app, settings, nonce_rp, citizen).headers["DPoP-Nonce"]
    token = _dpop_tokens(agent, app, settings, nonce_rp, citizen, dpop=proof(
        app, "POST", _token_url(settings), nonce=nonce)).json()["access_token"]
    asked = _userinfo(agent, token, dpop=proof(app, "GET", _userinfo_url(settings), token=token))
    assert asked.status_code == 401
    assert asked.headers["WWW-Authenticate"].startswith('DPoP realm="dancu", '
                                                        'error="use_dpop_nonce"')
    answered = _userinfo(agent, token, dpop=proof(app, "GET", _userinfo_url(settings),
                                                  token=token, nonce=asked.headers["DPoP-Nonce"]))
    assert answered.status_code == 200, answered.text


def test_a_nonce_expires_after_two_windows(
        agent: TestClient, app: FastAPI, settings: Settings, nonce_rp: Rp, citizen: str,
        clock: SandboxClock) -> None:
    nonce = _dpop_tokens(agent, app, settings, nonce_rp, citizen).headers["DPoP-Nonce"]
    clock.advance(timedelta(minutes=11))
    stale = _dpop_tokens(agent, app, settings, nonce_rp, citizen,
                         dpop=proof(app, "POST", _token_url(settings), nonce=nonce))
    assert stale.status_code == 400
    assert stale.json()["error"] == "use_dpop_nonce"
    assert stale.headers["DPoP-Nonce"] != nonce


def test_a_client_without_the_policy_needs_no_nonce(
        agent: TestClient, app: FastAPI, settings: Settings, rp: Rp, citizen: str) -> None:
    assert _dpop_tokens(agent, app, settings, rp, citizen).status_code == 200


# --- §5: refresh tokens -------------------------------------------------------------------------


def test_a_public_clients_refresh_token_is_bound_to_its_dpop_key(
        agent: TestClient, app: FastAPI, settings: Settings, public_rp: Rp,
        citizen: str) -> None:
    issued = _dpop_tokens(agent, app, settings, public_rp, citizen,
                          scope="openid offline_access",
                          prompt="consent")
    assert issued.status_code == 200, issued.text
    refresh = issued.json()["refresh_token"]
    url = _token_url(settings)
    for dpop in (None, proof(app, "POST", url, key=OTHER)):
        refused = _refresh(agent, public_rp, refresh, dpop)
        assert refused.status_code == 400, refused.text
        assert refused.json()["error"] == "invalid_dpop_proof"
    renewed = _refresh(agent, public_rp, refresh, proof(app, "POST", url))
    assert renewed.status_code == 200, renewed.text
    assert renewed.json()["token_type"] == "DPoP"
    again = _refresh(agent, public_rp, renewed.json()["refresh_token"], None)  # still bound
    assert again.status_code == 400


def test_a_confidential_clients_refresh_token_is_not_bound(
        agent: TestClient, app: FastAPI, settings: Settings, rp: Rp, citizen: str) -> None:
    issued = _dpop_tokens(agent, app, settings, rp, citizen, scope="openid offline_access",
                          prompt="consent")
    renewed = _refresh(agent, rp, issued.json()["refresh_token"], None)
    assert renewed.status_code == 200, renewed.text
    assert renewed.json()["token_type"] == "Bearer"


def test_a_dpop_bound_clients_refresh_needs_a_proof(
        agent: TestClient, app: FastAPI, settings: Settings, bound: Rp, citizen: str) -> None:
    issued = _dpop_tokens(agent, app, settings, bound, citizen, scope="openid offline_access",
                          prompt="consent")
    refused = _refresh(agent, bound, issued.json()["refresh_token"], None)
    assert (refused.status_code, refused.json()["error"]) == (400, "invalid_dpop_proof")


# --- client credentials, the data API and introspection -----------------------------------------


def _basic(settings: Settings) -> dict[str, str]:
    raw = f"{settings.demo_client_id}:{settings.demo_client_secret}".encode()
    return {"Authorization": "Basic " + base64.b64encode(raw).decode()}


def _api_token(client: TestClient, app: FastAPI, settings: Settings) -> Any:
    return client.post("/oauth2/token", data={"grant_type": "client_credentials",
                                              "scope": "citizen.basic"},
                       headers=_basic(settings) | {"DPoP": proof(app, "POST",
                                                                 _token_url(settings))})


def _lookup(client: TestClient, citizen: str, token: str, *, scheme: str = "DPoP",
            dpop: str | None = None) -> Any:
    headers = {"Authorization": f"{scheme} {token}", **({"DPoP": dpop} if dpop else {})}
    return client.get(f"/v1/citizens/{citizen}", headers=headers)


def test_a_client_credentials_token_is_bound_by_a_proof(
        client: TestClient, app: FastAPI, settings: Settings) -> None:
    issued = _api_token(client, app, settings)
    assert issued.status_code == 200, issued.text
    assert issued.json()["token_type"] == "DPoP"
    assert jwt_claims(issued.json()["access_token"])["cnf"] == {"jkt": KEY.thumbprint()}


def test_the_data_api_takes_a_bound_token_with_its_proof_once(
        client: TestClient, app: FastAPI, settings: Settings, citizen: str) -> None:
    token = _api_token(client, app, settings).json()["access_token"]
    url = f"{settings.issuer_url}/v1/citizens/{citizen}"
    used = proof(app, "GET", url, token=token)
    found = _lookup(client, citizen, token, dpop=used)
    assert found.status_code == 200, found.text
    replayed = _lookup(client, citizen, token, dpop=used)
    assert replayed.status_code == 401
    assert 'error="invalid_dpop_proof"' in replayed.headers["WWW-Authenticate"]


@pytest.mark.parametrize(("case", "error"), [
    ("as bearer", "invalid_token"), ("no proof", "invalid_dpop_proof"),
    ("other key", "invalid_dpop_proof"), ("no ath", "invalid_dpop_proof"),
    ("other path", "invalid_dpop_proof")])
def test_the_data_api_refuses_a_bound_token_without_its_keys_proof(
        client: TestClient, app: FastAPI, settings: Settings, citizen: str, case: str,
        error: str) -> None:
    token = _api_token(client, app, settings).json()["access_token"]
    url = f"{settings.issuer_url}/v1/citizens/{citizen}"
    scheme, dpop = {
        "as bearer": ("Bearer", proof(app, "GET", url, token=token)),
        "no proof": ("DPoP", None),
        "other key": ("DPoP", proof(app, "GET", url, key=OTHER, token=token)),
        "no ath": ("DPoP", proof(app, "GET", url)),
        "other path": ("DPoP", proof(app, "GET", url + "/residence", token=token)),
    }[case]
    refused = _lookup(client, citizen, token, scheme=scheme, dpop=dpop)
    assert refused.status_code == 401, refused.text
    assert refused.headers["WWW-Authenticate"].startswith("DPoP ")
    assert f'error="{error}"' in refused.headers["WWW-Authenticate"]


def test_the_data_api_refuses_a_bearer_token_under_the_dpop_scheme(
        client: TestClient, app: FastAPI, settings: Settings, citizen: str) -> None:
    token = client.post("/oauth2/token", data={"grant_type": "client_credentials",
                                               "scope": "citizen.basic"},
                        headers=_basic(settings)).json()["access_token"]
    url = f"{settings.issuer_url}/v1/citizens/{citizen}"
    assert _lookup(client, citizen, token, dpop=proof(app, "GET", url, token=token)
                   ).status_code == 401
    assert _lookup(client, citizen, token, scheme="Bearer").status_code == 200


def test_introspection_shows_the_key_a_token_is_bound_to(
        client: TestClient, app: FastAPI, settings: Settings) -> None:
    token = _api_token(client, app, settings).json()["access_token"]
    seen = client.post("/oauth2/introspect", data={"token": token}, headers=_basic(settings))
    assert seen.status_code == 200, seen.text
    assert seen.json()["active"] is True
    assert seen.json()["cnf"] == {"jkt": KEY.thumbprint()}
    assert seen.json()["token_type"] == "DPoP"


def test_discovery_announces_dpop_algorithms(client: TestClient) -> None:
    metadata = client.get("/.well-known/openid-configuration").json()
    assert metadata["dpop_signing_alg_values_supported"] == ["ES256", "RS256", "PS256"]
