"""OAuth 2.0 / OIDC negative tests from RFC 9700 (OAuth 2.0 Security BCP) and the OIDC Basic OP
plan, beyond what ``tests/api/test_oidc_*`` already prove (there: one unregistered redirect URI,
code reuse after 30 s revoking the access token, a code bound to its client and redirect URI,
PKCE with an empty verifier, the JWT attacks at userinfo).

Here: every redirect-URI manipulation of RFC 9700 §2.1 refused without a redirect, open-redirect
attempts (unknown client, errors that must not redirect), the PKCE matrix (plain, missing,
malformed and wrong challenges and verifiers), code reuse revoking the refresh token too, a code
injected into another client, the RFC 9207 ``iss`` on every response, state and nonce handling,
implicit and password grants refused.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from app.settings import Settings
from tests.api.oidc_support import *  # noqa: F403
from tests.api.oidc_support import (
    Rp,
    authorize,
    browser,
    jwt_claims,
    redeem,
    refresh,
    register_rp,
    userinfo,
)
from tests.reliability.support import record

REGISTERED = "http://127.0.0.1:8765/callback"
TALLY: Counter[str] = Counter()

REDIRECT_VARIANTS = {
    "suffix path": REGISTERED + "/evil",
    "trailing slash": REGISTERED + "/",
    "added query": REGISTERED + "?x=1",
    "fragment": REGISTERED + "#f",
    "upper-case path": REGISTERED.replace("callback", "CALLBACK"),
    "prefix": REGISTERED[:-1],
    "path traversal": "http://127.0.0.1:8765/callback/../evil",
    "encoded traversal": "http://127.0.0.1:8765/callback/%2e%2e/evil",
    "encoded slash": "http://127.0.0.1:8765%2Fcallback",
    "userinfo at attacker": "http://127.0.0.1:8765@attacker.example/callback",
    "attacker userinfo": "http://attacker.example@127.0.0.1:8765/callback",
    "https scheme": "https://127.0.0.1:8765/callback",
    "localhost alias": "http://localhost:8765/callback",
    "attacker host": "https://attacker.example/callback",
    "javascript scheme": "javascript:alert(1)//127.0.0.1:8765/callback",
}


@pytest.fixture(scope="module")
def rp(client: TestClient, admin: dict[str, str]) -> Rp:
    return register_rp(client, admin, name="RFC 9700 RP")


@pytest.fixture(scope="module")
def other_rp(client: TestClient, admin: dict[str, str]) -> Rp:
    return register_rp(client, admin, name="RFC 9700 other RP")


@pytest.fixture
def agent(app: FastAPI) -> TestClient:
    return browser(app)


@pytest.fixture
def pin(personas: dict[str, Any]) -> str:
    return str(personas["citizen-l2"]["pin"])


@pytest.fixture(scope="module", autouse=True)
def figures() -> Iterator[None]:
    yield
    record("oauth negative", "redirect-URI variants", len(REDIRECT_VARIANTS))
    record("oauth negative", "negative cases run", TALLY["cases"])
    record("oauth negative", "open redirects", TALLY["open redirects"])


def _no_redirect(response: Any) -> None:
    TALLY["cases"] += 1
    TALLY["open redirects"] += "location" in response.headers
    assert response.status_code == 400, response.text[:200]
    assert "location" not in response.headers
    assert "code=" not in response.text


@pytest.mark.parametrize("variant", REDIRECT_VARIANTS)
def test_redirect_uri_manipulations_are_refused_without_a_redirect(
        agent: TestClient, rp: Rp, pin: str, variant: str) -> None:
    flow = authorize(agent, rp, pin=pin, redirect_uri=REDIRECT_VARIANTS[variant])
    _no_redirect(flow.response)


@pytest.fixture(scope="module")
def web_rp(client: TestClient, admin: dict[str, str]) -> Rp:
    return register_rp(client, admin, name="RFC 9700 web RP",
                       redirect_uris=["https://rp.example:8443/cb"])


@pytest.mark.parametrize("uri", ["https://rp.example:8444/cb", "https://rp.example/cb",
                                 "https://rp.example:8443/cb/", "https://RP.example:8443/cb.x"])
def test_only_loopback_redirect_uris_may_change_port(agent: TestClient, web_rp: Rp, pin: str,
                                                     uri: str) -> None:
    """RFC 8252 §7.3 lets a native app's loopback URI take any port (a ``native`` client's, see
    tests/api/test_oidc_client_policy.py); a web client's URI must match exactly."""
    _no_redirect(authorize(agent, web_rp, pin=pin, redirect_uri=uri).response)


@pytest.mark.parametrize("variant", ["attacker host", "suffix path"])
def test_errors_never_redirect_to_an_unregistered_uri(agent: TestClient, rp: Rp, pin: str,
                                                     variant: str) -> None:
    """An otherwise invalid request (bad scope, unsupported response type, prompt=none without a
    session) with a bad redirect URI is an error page, never a redirect to that URI."""
    for extra in ({"scope": "admin"}, {"response_type": "token"}, {"prompt": "none"}):
        flow = authorize(agent, rp, pin=pin if "prompt" not in extra else None,
                         redirect_uri=REDIRECT_VARIANTS[variant], **extra)
        _no_redirect(flow.response)


def test_an_unknown_client_is_an_error_page_not_a_redirect(agent: TestClient, rp: Rp,
                                                          pin: str) -> None:
    unknown = Rp("no-such-client", "x", redirect_uri="https://attacker.example/cb")
    _no_redirect(authorize(agent, unknown, pin=pin).response)
    _no_redirect(authorize(agent, unknown, prompt="none").response)


def test_the_registered_uri_still_works(agent: TestClient, rp: Rp, pin: str,
                                        settings: Settings) -> None:
    """The control of the redirect family."""
    flow = authorize(agent, rp, pin=pin)
    assert flow.response.status_code == 303
    assert flow.location.startswith(REGISTERED + "?")
    assert flow.result["iss"] == settings.issuer_url


# --- PKCE ---------------------------------------------------------------------------------------

AUTHORIZE_PKCE_ERRORS = {
    "plain method": {"code_challenge_method": "plain"},
    "no challenge": {"code_challenge": "", "code_challenge_method": ""},
    "method without challenge": {"code_challenge": ""},
    "challenge of 42 chars": {"code_challenge": "a" * 42},
    "challenge of 129 chars": {"code_challenge": "a" * 129},
    "challenge with '='": {"code_challenge": "a" * 42 + "="},
    "unknown method": {"code_challenge_method": "S512"},
}


@pytest.mark.parametrize("case", AUTHORIZE_PKCE_ERRORS)
def test_pkce_is_required_s256_only_and_well_formed(agent: TestClient, rp: Rp, pin: str,
                                                    settings: Settings, case: str) -> None:
    flow = authorize(agent, rp, pin=pin, **AUTHORIZE_PKCE_ERRORS[case])
    TALLY["cases"] += 1
    assert flow.response.status_code == 303
    assert flow.result.get("error") == "invalid_request", flow.location
    assert "code" not in flow.result
    assert flow.result["iss"] == settings.issuer_url


TOKEN_PKCE_ERRORS = {
    "missing verifier": None,
    "wrong verifier": "x" * 43,
    "verifier of 42 chars": "x" * 42,
    "verifier of 129 chars": "x" * 129,
    "verifier with invalid characters": "é" * 43,
    "the challenge sent as verifier": "challenge",
}


@pytest.mark.parametrize("case", TOKEN_PKCE_ERRORS)
def test_a_code_is_redeemed_only_with_its_verifier(agent: TestClient, rp: Rp, pin: str,
                                                   case: str) -> None:
    flow = authorize(agent, rp, pin=pin)
    verifier = TOKEN_PKCE_ERRORS[case]
    if verifier == "challenge":
        verifier = flow.params["code_challenge"]
    extra = {"code_verifier": verifier} if verifier is not None else {"code_verifier": ""}
    response = redeem(agent, rp, flow, **extra)
    TALLY["cases"] += 1
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"
    assert redeem(agent, rp, flow).status_code == 200  # a failed attempt does not burn the code


# --- codes ----------------------------------------------------------------------------------------


def test_code_reuse_revokes_the_access_and_refresh_tokens_it_issued(agent: TestClient, rp: Rp,
                                                                    pin: str) -> None:
    flow = authorize(agent, rp, pin=pin, scope="openid offline_access", prompt="consent")
    first = redeem(agent, rp, flow).json()
    assert userinfo(agent, first["access_token"]).status_code == 200
    second = redeem(agent, rp, flow)
    TALLY["cases"] += 1
    assert second.json()["error"] == "invalid_grant"
    assert userinfo(agent, first["access_token"]).status_code == 401
    assert refresh(agent, rp, first["refresh_token"]).json()["error"] == "invalid_grant"


def test_a_code_injected_into_another_client_is_refused(agent: TestClient, rp: Rp, other_rp: Rp,
                                                       pin: str) -> None:
    flow = authorize(agent, rp, pin=pin)
    injected = redeem(agent, other_rp, flow)
    TALLY["cases"] += 1
    assert injected.status_code == 400
    assert injected.json()["error"] == "invalid_grant"


def test_a_code_with_another_redirect_uri_is_refused(agent: TestClient, rp: Rp, pin: str) -> None:
    flow = authorize(agent, rp, pin=pin)
    response = redeem(agent, rp, flow, redirect_uri=REGISTERED + "/")
    TALLY["cases"] += 1
    assert response.json()["error"] == "invalid_grant"


# --- mix-up (RFC 9207), state and nonce -------------------------------------------------------


@pytest.mark.parametrize("extra", [{}, {"scope": "openid no-such-scope"}, {"prompt": "none"},
                                   {"response_type": "code token"}, {"acr_values": "LoA2",
                                                                     "prompt": "none"}],
                         ids=["success", "invalid_scope", "login_required",
                              "unsupported_response_type", "acr_prompt_none"])
def test_every_authorization_response_names_the_issuer(agent: TestClient, rp: Rp, pin: str,
                                                       settings: Settings,
                                                       extra: dict[str, str]) -> None:
    flow = authorize(agent, rp, pin=pin if not extra.get("prompt") else None, **extra)
    TALLY["cases"] += 1
    assert flow.response.status_code == 303
    assert flow.result["iss"] == settings.issuer_url
    assert flow.result["state"] == flow.params["state"]


def test_state_is_echoed_exactly_and_omitted_when_absent(agent: TestClient, rp: Rp,
                                                         pin: str) -> None:
    odd = "a b&c=d/é?#%"
    assert authorize(agent, rp, pin=pin, state=odd).result["state"] == odd
    assert "state" not in authorize(agent, rp, pin=pin, state="").result


def test_the_nonce_is_bound_to_the_id_token(agent: TestClient, rp: Rp, pin: str) -> None:
    flow = authorize(agent, rp, pin=pin, nonce="n-0S6_WzA2Mj")
    claims = jwt_claims(redeem(agent, rp, flow).json()["id_token"])
    assert claims["nonce"] == "n-0S6_WzA2Mj"
    without = authorize(agent, rp, pin=pin, nonce="")
    assert "nonce" not in jwt_claims(redeem(agent, rp, without).json()["id_token"])


@pytest.mark.parametrize("response_type", ["token", "id_token", "id_token token", "code token",
                                           "code id_token"])
def test_implicit_and_hybrid_response_types_are_refused(agent: TestClient, rp: Rp, pin: str,
                                                        response_type: str) -> None:
    flow = authorize(agent, rp, pin=pin, response_type=response_type)
    TALLY["cases"] += 1
    assert flow.result.get("error") == "unsupported_response_type"
    assert "#" not in flow.location
    assert "access_token" not in flow.location


def test_the_password_grant_is_refused(client: TestClient, rp: Rp, pin: str) -> None:
    headers, form = rp.auth({"grant_type": "password", "username": pin, "password": "x"})
    response = client.post("/oauth2/token", data=form, headers=headers)
    TALLY["cases"] += 1
    assert response.status_code == 400
    assert response.json()["error"] == "unsupported_grant_type"
    assert pin not in response.text


def test_no_cors_on_the_authorization_endpoint(agent: TestClient) -> None:
    response = agent.options("/oauth2/authorize",
                             headers={"Origin": "https://attacker.example",
                                      "Access-Control-Request-Method": "GET"})
    assert "access-control-allow-origin" not in response.headers
