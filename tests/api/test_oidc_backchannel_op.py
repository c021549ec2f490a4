"""The OpenID Foundation Back-Channel Logout OP plan
(``oidcc-backchannel-rp-initiated-logout-certification-test-plan``, conformance suite
``OIDCCBackchannelRpInitiatedLogoutTestPlan``), ported to pytest: one test per module, named after
it, sending what the suite sends.

The plan has two modules: ``oidcc-backchannel-logout-discovery-endpoint-verification`` and
``oidcc-backchannel-rp-initiated-logout`` (variant: discovery, ``client_secret_basic``, default
response mode; the client registered statically -- the admin API -- or dynamically, RFC 7591,
with ``backchannel_logout_uri`` and ``backchannel_logout_session_required: true`` as the suite
adds them).
The suite sends no PKCE in these modules, so the clients are registered without ``require_pkce``.
Its requests (oidc_support's ``suite_*`` helpers): the authorization request with ``scope=openid``,
a 10-character nonce and a 128-character state (both requests), the token request with ``Accept:
application/json`` and form-urlencoded Basic credentials, the userinfo GET of its default flow,
then the end-session request with ``id_token_hint``, ``post_logout_redirect_uri`` and a
90-character RFC 6749 VSCHAR ``state``. The user logs in through the HTML login pages (a cookie
jar), as the suite's browser does, so that the second, ``prompt=none`` request can find the
session. The dynamic client is registered with ``OIDCCCreateDynamicClientRegistrationRequest``'s
body (name, grant and response types, an RS256 JWK Set, ``client_secret_basic``, contacts) and an
initial access token.

Where this differs from the suite's environment: the suite's receiver is an https URL on the
internet; here it is an HTTP server on loopback (allowed for a sandbox deployment, as for webhooks),
and the discovery module's "every endpoint is https" check is replaced by "every endpoint is under
the issuer" (the test server's issuer is http; https is required outside loopback by settings).
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey

from app.settings import Settings
from tests.api.events_support import Receiver, running_receiver
from tests.api.oidc_support import *  # noqa: F403
from tests.api.oidc_support import (
    DEMO_REDIRECT,
    Authorization,
    Rp,
    approve_consent,
    jwt_claims,
    logouts_delivered,
    password_login,
    query_of,
    register_rp,
    suite_authorize,
    suite_end_session_state,
    suite_params,
    suite_redeem,
    suite_userinfo,
)

POST_LOGOUT_REDIRECT = "http://127.0.0.1:8765/post_logout_redirect"
BACKCHANNEL_EVENT = "http://schemas.openid.net/event/backchannel-logout"


@pytest.fixture(scope="module")
def listening() -> Iterator[Receiver]:
    yield from running_receiver(Receiver(status=200))


@pytest.fixture
def receiver(listening: Receiver) -> Receiver:
    listening.received.clear()
    return listening


def _static_client(client: TestClient, admin: dict[str, str], receiver: Receiver) -> Rp:
    return register_rp(client, admin, name="Back-channel OP client", require_pkce=False,
                       redirect_uris=[DEMO_REDIRECT], scopes=["openid"],
                       post_logout_redirect_uris=[POST_LOGOUT_REDIRECT],
                       backchannel_logout_uri=receiver.url)


def _dynamic_client(client: TestClient, admin: dict[str, str], receiver: Receiver) -> Rp:
    minted = client.post("/v1/admin/registration-tokens", json={"expires_in": 3600},
                         headers=admin)
    assert minted.status_code == 201, minted.text
    key = RSAKey.generate_key(2048, auto_kid=True)
    registered = client.post("/oauth2/register", headers={
        "Authorization": f"Bearer {minted.json()['initial_access_token']}"}, json={
        "client_name": "oidcc dancu " + secrets.token_hex(3),
        "grant_types": ["authorization_code"], "jwks": {"keys": [key.as_dict(private=False)]},
        "token_endpoint_auth_method": "client_secret_basic", "response_types": ["code"],
        "redirect_uris": [DEMO_REDIRECT], "contacts": ["certification@oidf.org"],
        "post_logout_redirect_uris": [POST_LOGOUT_REDIRECT],
        "backchannel_logout_session_required": True, "backchannel_logout_uri": receiver.url})
    assert registered.status_code == 201, registered.text
    body = registered.json()
    return Rp(body["client_id"], body["client_secret"], redirect_uri=DEMO_REDIRECT, pkce=False)


def test_oidcc_backchannel_logout_discovery_endpoint_verification(
        client: TestClient, settings: Settings) -> None:
    metadata = client.get("/.well-known/openid-configuration").json()
    endpoints = [value for name, value in metadata.items()
                 if name.endswith(("_endpoint", "_uri")) and isinstance(value, str)]
    assert endpoints
    assert all(url.startswith(settings.issuer_url + "/") for url in endpoints)
    assert metadata["backchannel_logout_supported"] is True  # OIDCBCL-2.1
    assert metadata["backchannel_logout_session_supported"] is True  # sid, for certification
    assert metadata["end_session_endpoint"] == settings.issuer_url + "/oauth2/logout"


def _validate_logout_request(receiver: Receiver, client: TestClient, rp: Rp,
                             id_token: dict[str, Any], settings: Settings) -> None:
    """The suite's checks of the back-channel request (OIDCBCL-2.4, 2.5)."""
    (request,) = receiver.received
    params = parse_qs(request.body.decode())
    assert set(params) == {"logout_token"}  # CheckForUnexpectedParametersInBackchannelLogout...
    (token,) = params["logout_token"]
    decoded = jwt.decode(token, KeySet.import_key_set(client.get("/.well-known/jwks.json").json()))
    claims = decoded.claims  # ValidateLogoutTokenSignature passed
    assert claims["iss"] == settings.issuer_url
    assert claims["aud"] == rp.client_id or rp.client_id in claims["aud"]
    assert isinstance(claims["iat"], int)
    assert claims["jti"]
    assert claims["events"] == {BACKCHANNEL_EVENT: {}}
    assert claims["sub"] == id_token["sub"]  # CheckIdTokenSubMatchesLogoutToken
    assert claims["sid"] == id_token["sid"]  # CheckIdTokenSidMatchesLogoutToken
    assert "nonce" not in claims  # CheckLogoutTokenNoNonce


def _browser_login(agent: TestClient, admin: dict[str, str], citizen: str,
                   params: dict[str, str]) -> Authorization:
    flow = suite_authorize(agent, params)
    response = flow.response
    if response.headers.get("location", "").startswith("/oauth2/login/"):
        response = password_login(agent, admin, response.headers["location"], citizen)
    if response.headers.get("location", "").startswith("/oauth2/consent/"):
        response = approve_consent(agent, response.headers["location"])
    flow.response = response
    return flow


@pytest.mark.parametrize("registration", ["static", "dynamic"])
def test_oidcc_backchannel_rp_initiated_logout(
        app: FastAPI, agent: TestClient, client: TestClient, admin: dict[str, str], citizen: str,
        receiver: Receiver, settings: Settings, registration: str) -> None:
    register = _static_client if registration == "static" else _dynamic_client
    rp = register(client, admin, receiver)
    flow = _browser_login(agent, admin, citizen, suite_params(rp, state_length=128))
    assert flow.result["state"] == flow.params["state"]
    tokens = suite_redeem(agent, rp, flow)
    assert tokens.status_code == 200, tokens.text
    assert suite_userinfo(agent, tokens.json()).status_code == 200
    id_token = tokens.json()["id_token"]
    end_session_state = suite_end_session_state()
    answer = agent.get("/oauth2/logout", params={
        "id_token_hint": id_token, "post_logout_redirect_uri": POST_LOGOUT_REDIRECT,
        "state": end_session_state})
    assert answer.status_code in (302, 303), answer.text
    location = answer.headers["location"]
    assert location.split("?")[0] == POST_LOGOUT_REDIRECT
    assert query_of(location) == {"state": end_session_state}  # CheckPostLogoutState, no extras
    logouts_delivered(app)  # the suite waits for the back-channel request
    _validate_logout_request(receiver, client, rp, jwt_claims(id_token), settings)
    again = suite_authorize(agent, suite_params(rp, state_length=128, prompt="none"))
    result = query_of(again.location)  # the user has been logged out
    assert result.get("error") in ("login_required", "interaction_required",
                                   "account_selection_required", "consent_required")
    assert result["state"] == again.params["state"]
