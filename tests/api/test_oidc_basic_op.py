"""The OpenID Foundation Basic OP certification plan (oidcc-basic-certification-test-plan), ported
to pytest: one test per module of ``oidc-basic-op-test-plan.txt``, named after it, in plan order.

The conformance suite drives a browser; here the "user" logs in either headlessly
(``X-Sandbox-Login``, same checks as a browser login) or through the HTML login pages with a cookie
jar when the module is about the login session (prompt, max_age, id_token_hint). Every ID token goes
through the suite's standard checks (``check_id_token``). Modules about features we do not offer
(request objects) assert the refusal the plan accepts.

The clients are registered as the suite's configuration describes them: ``client_secret_basic``
(``client_secret_post`` in its own module), and ``require_pkce`` false -- the suite sends PKCE only
in ``oidcc-ensure-request-with-valid-pkce-succeeds``, so every other module sends none, exactly as
the suite does, and no header the suite would not send (``X-Sandbox-Login`` stands for the user in
the browser).
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.clock import SandboxClock
from app.settings import Settings
from tests.api.oidc_support import *  # noqa: F403
from tests.api.oidc_support import (
    Authorization,
    Rp,
    authorize,
    interactive_login,
    jwt_claims,
    jwt_header,
    pkce_pair,
    redeem,
    refresh,
    register_rp,
    tokens_for,
    userinfo,
    verify_with_jwks,
)


@pytest.fixture(scope="module")
def rp(client: TestClient, admin: dict[str, str]) -> Rp:
    return certification_client(client, admin, name="Basic OP client 1")


@pytest.fixture(scope="module")
def rp2(client: TestClient, admin: dict[str, str]) -> Rp:
    return certification_client(client, admin, name="Basic OP client 2")


def certification_client(client: TestClient, admin: dict[str, str], **spec: Any) -> Rp:
    """A client as the suite's configuration registers it: no PKCE unless a module sends it."""
    registered = register_rp(client, admin, require_pkce=False, **spec)
    assert registered.pkce is False
    return registered


@pytest.fixture(scope="module")
def jwks(client: TestClient) -> dict[str, Any]:
    return dict(client.get("/.well-known/jwks.json").json())


def check_id_token(id_token: str, jwks: dict[str, Any], settings: Settings, rp: Rp, *,
                   flow: Authorization | None = None, access_token: str | None = None,
                   now: int | None = None) -> dict[str, Any]:
    """The suite's standard ID-token checks (reliability catalogue §1.5)."""
    header = jwt_header(id_token)
    assert header["kid"]
    assert header["alg"] in ("ES256", "RS256")
    claims = verify_with_jwks(id_token, jwks, issuer=settings.issuer_url, audience=rp.client_id,
                              now=now)
    assert claims["azp"] == rp.client_id
    assert claims["exp"] > claims["iat"]
    assert isinstance(claims["auth_time"], int)
    assert claims["acr"] in ("LoA1", "LoA2")
    assert len(claims["sub"]) <= 255
    if flow is not None:
        assert claims.get("nonce") == flow.params.get("nonce")
    if access_token is not None:
        from app.oidc.tokens import token_hash
        assert claims["at_hash"] == token_hash(access_token, alg=header["alg"])
    return claims


def _code_redirect(flow: Authorization, settings: Settings) -> dict[str, str]:
    assert flow.response.status_code == 303, flow.response.text
    result = flow.result
    assert "code" in result, flow.location
    assert result["state"] == flow.params["state"]
    assert result["iss"] == settings.issuer_url
    assert flow.location.startswith(flow.params["redirect_uri"] + "?")
    return result


def _error_redirect(flow: Authorization, settings: Settings, *errors: str) -> dict[str, str]:
    assert flow.response.status_code == 303, flow.response.text
    result = flow.result
    assert result.get("error") in errors, flow.location
    assert result["iss"] == settings.issuer_url
    assert "\n" not in result.get("error_description", "")
    if "state" in flow.params:
        assert result["state"] == flow.params["state"]
    return result


def test_oidcc_server(agent: TestClient, rp: Rp, citizen: str, jwks: dict[str, Any],
                      settings: Settings) -> None:
    flow = authorize(agent, rp, pin=citizen)
    _code_redirect(flow, settings)
    response = redeem(agent, rp, flow)
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] > 0
    claims = check_id_token(body["id_token"], jwks, settings, rp, flow=flow,
                            access_token=body["access_token"])
    assert claims["amr"] == ["pwd", "sms", "mfa"]


def test_oidcc_response_type_missing(agent: TestClient, rp: Rp, citizen: str,
                                     settings: Settings) -> None:
    flow = authorize(agent, rp, pin=citizen, response_type="")
    _error_redirect(flow, settings, "invalid_request", "unsupported_response_type")


def test_oidcc_idtoken_signature(agent: TestClient, client: TestClient, admin: dict[str, str],
                                 citizen: str, jwks: dict[str, Any], settings: Settings) -> None:
    rs256 = certification_client(client, admin, name="RS256 client", signing_alg="RS256")
    for relying_party, alg in ((rs256, "RS256"), (certification_client(client, admin), "ES256")):
        body = tokens_for(agent, relying_party, citizen)
        assert jwt_header(body["id_token"])["alg"] == alg
        check_id_token(body["id_token"], dict(client.get("/.well-known/jwks.json").json()),
                       settings, relying_party)


def test_oidcc_idtoken_unsigned(client: TestClient, admin: dict[str, str]) -> None:
    document = client.get("/.well-known/openid-configuration").json()
    assert "none" not in document["id_token_signing_alg_values_supported"]
    response = client.post("/v1/admin/clients", headers=admin, json={
        "name": "unsigned", "scopes": ["openid"], "purposes": ["x"], "signing_alg": "none",
        "grant_types": ["authorization_code"], "redirect_uris": ["https://rp.example/cb"]})
    assert response.status_code == 422


def test_oidcc_userinfo_get(agent: TestClient, rp: Rp, citizen: str) -> None:
    body = tokens_for(agent, rp, citizen)
    response = userinfo(agent, body["access_token"])
    assert response.status_code == 200
    assert response.json()["sub"] == jwt_claims(body["id_token"])["sub"]


def test_oidcc_userinfo_post_header(agent: TestClient, rp: Rp, citizen: str) -> None:
    body = tokens_for(agent, rp, citizen)
    response = agent.post("/oauth2/userinfo",
                          headers={"Authorization": f"Bearer {body['access_token']}"})
    assert response.status_code == 200
    assert response.json()["sub"] == jwt_claims(body["id_token"])["sub"]


def test_oidcc_userinfo_post_body(agent: TestClient, rp: Rp, citizen: str) -> None:
    body = tokens_for(agent, rp, citizen)
    response = agent.post("/oauth2/userinfo", data={"access_token": body["access_token"]})
    assert response.status_code == 200
    assert response.json()["sub"] == jwt_claims(body["id_token"])["sub"]


def test_oidcc_ensure_request_without_nonce_succeeds_for_code_flow(
        agent: TestClient, rp: Rp, citizen: str, jwks: dict[str, Any],
        settings: Settings) -> None:
    flow = authorize(agent, rp, pin=citizen, nonce="")
    _code_redirect(flow, settings)
    body = redeem(agent, rp, flow).json()
    assert "nonce" not in check_id_token(body["id_token"], jwks, settings, rp)


def _userinfo_for(agent: TestClient, rp: Rp, citizen: str, scope: str) -> dict[str, Any]:
    body = tokens_for(agent, rp, citizen, scope=scope)
    assert body["scope"].split() == scope.split()
    response = userinfo(agent, body["access_token"])
    assert response.status_code == 200
    return dict(response.json())


def test_oidcc_scope_profile(agent: TestClient, rp: Rp, citizen: str) -> None:
    claims = _userinfo_for(agent, rp, citizen, "openid profile")
    assert {"name", "family_name", "given_name", "birthdate", "gender"} <= claims.keys()
    assert not {"email", "phone_number", "address", "SoDinhDanh"} & claims.keys()


def test_oidcc_scope_email(agent: TestClient, rp: Rp, citizen: str) -> None:
    claims = _userinfo_for(agent, rp, citizen, "openid email")
    assert "@" in claims["email"]
    assert claims["email_verified"] is False
    assert "name" not in claims


def test_oidcc_scope_address(agent: TestClient, rp: Rp, citizen: str) -> None:
    claims = _userinfo_for(agent, rp, citizen, "openid address")
    assert claims["address"]["country"] == "Việt Nam"
    assert claims["address"]["formatted"]


def test_oidcc_scope_phone(agent: TestClient, rp: Rp, citizen: str) -> None:
    claims = _userinfo_for(agent, rp, citizen, "openid phone")
    assert claims["phone_number"].startswith("+84")
    assert claims["phone_number_verified"] is True


def test_oidcc_scope_all(agent: TestClient, rp: Rp, citizen: str) -> None:
    claims = _userinfo_for(agent, rp, citizen, "openid address email phone profile")
    assert {"name", "email", "phone_number", "address"} <= claims.keys()


def test_oidcc_alternate_happy_flow(agent: TestClient, rp: Rp, citizen: str,
                                    settings: Settings) -> None:
    params = {"state": "alt", "nonce": "n-alt", "scope": "profile openid"}
    flow = authorize(agent, rp, pin=citizen, **params)
    _code_redirect(flow, settings)
    body = redeem(agent, rp, flow).json()
    assert set(body["scope"].split()) == {"openid", "profile"}
    assert "name" in userinfo(agent, body["access_token"]).json()


def _display(agent: TestClient, rp: Rp, citizen: str, settings: Settings, display: str) -> None:
    login_page = authorize(agent, rp, display=display)  # a fresh browser gets the login page
    assert login_page.location.startswith("/oauth2/login/")
    assert agent.get(login_page.location).status_code == 200
    _code_redirect(authorize(agent, rp, pin=citizen, display=display), settings)


def test_oidcc_display_page(agent: TestClient, rp: Rp, citizen: str, settings: Settings) -> None:
    _display(agent, rp, citizen, settings, "page")


def test_oidcc_display_popup(agent: TestClient, rp: Rp, citizen: str,
                             settings: Settings) -> None:
    _display(agent, rp, citizen, settings, "popup")


def _browser_tokens(agent: TestClient, admin: dict[str, str], rp: Rp, citizen: str,
                    settings: Settings, **extra: str) -> tuple[Authorization, dict[str, Any]]:
    flow = interactive_login(agent, admin, rp, citizen, **extra)
    _code_redirect(flow, settings)
    response = redeem(agent, rp, flow)
    assert response.status_code == 200, response.text
    return flow, dict(response.json())


def test_oidcc_prompt_login(agent: TestClient, admin: dict[str, str], rp: Rp, citizen: str,
                            settings: Settings, clock: SandboxClock) -> None:
    clock.freeze()
    _, first = _browser_tokens(agent, admin, rp, citizen, settings)
    clock.advance(timedelta(seconds=5))
    again = authorize(agent, rp, prompt="login")
    assert again.location.startswith("/oauth2/login/")  # the user is asked to log in again
    _, second = _browser_tokens(agent, admin, rp, citizen, settings, prompt="login")
    assert jwt_claims(second["id_token"])["auth_time"] > jwt_claims(first["id_token"])["auth_time"]


def test_oidcc_prompt_none_not_logged_in(agent: TestClient, rp: Rp, settings: Settings) -> None:
    flow = authorize(agent, rp, prompt="none")
    _error_redirect(flow, settings, "login_required", "interaction_required")


def test_oidcc_prompt_none_logged_in(agent: TestClient, admin: dict[str, str], rp: Rp,
                                     citizen: str, settings: Settings) -> None:
    _, first = _browser_tokens(agent, admin, rp, citizen, settings)
    silent = authorize(agent, rp, prompt="none")
    _code_redirect(silent, settings)  # no login page in between
    second = redeem(agent, rp, silent).json()
    one, two = jwt_claims(first["id_token"]), jwt_claims(second["id_token"])
    assert (two["sub"], two["auth_time"]) == (one["sub"], one["auth_time"])


def test_oidcc_max_age_1(agent: TestClient, admin: dict[str, str], rp: Rp, citizen: str,
                         settings: Settings, clock: SandboxClock) -> None:
    clock.freeze()
    _, first = _browser_tokens(agent, admin, rp, citizen, settings)
    clock.advance(timedelta(seconds=2))
    assert authorize(agent, rp, max_age="1").location.startswith("/oauth2/login/")
    _, second = _browser_tokens(agent, admin, rp, citizen, settings, max_age="1")
    assert jwt_claims(second["id_token"])["auth_time"] > jwt_claims(first["id_token"])["auth_time"]


def test_oidcc_max_age_10000(agent: TestClient, admin: dict[str, str], rp: Rp, citizen: str,
                             settings: Settings) -> None:
    _, first = _browser_tokens(agent, admin, rp, citizen, settings, max_age="15000")
    silent = authorize(agent, rp, max_age="10000")
    _code_redirect(silent, settings)
    second = redeem(agent, rp, silent).json()
    one, two = jwt_claims(first["id_token"]), jwt_claims(second["id_token"])
    assert (two["sub"], two["auth_time"]) == (one["sub"], one["auth_time"])


def test_oidcc_ensure_request_with_unknown_parameter_succeeds(
        agent: TestClient, rp: Rp, citizen: str, settings: Settings) -> None:
    _code_redirect(authorize(agent, rp, pin=citizen, extra="foobar"), settings)


def test_oidcc_id_token_hint(agent: TestClient, admin: dict[str, str], rp: Rp, citizen: str,
                             settings: Settings) -> None:
    _, first = _browser_tokens(agent, admin, rp, citizen, settings)
    silent = authorize(agent, rp, prompt="none", id_token_hint=first["id_token"])
    _code_redirect(silent, settings)
    second = redeem(agent, rp, silent).json()
    assert jwt_claims(second["id_token"])["sub"] == jwt_claims(first["id_token"])["sub"]


def test_oidcc_login_hint(agent: TestClient, rp: Rp, citizen: str) -> None:
    flow = authorize(agent, rp, login_hint=citizen)
    assert flow.location.startswith("/oauth2/login/")
    assert citizen not in flow.location  # the hint never travels in our URLs
    page = agent.get(flow.location)
    assert page.status_code == 200
    assert f'value="{citizen}"' in page.text


def test_oidcc_ui_locales(agent: TestClient, rp: Rp) -> None:
    english = agent.get(authorize(agent, rp, ui_locales="en-GB vi").location)
    assert '<html lang="en">' in english.text
    swedish = authorize(agent, rp, ui_locales="se")
    assert '<html lang="vi">' in agent.get(swedish.location).text


def test_oidcc_claims_locales(agent: TestClient, rp: Rp, citizen: str,
                              settings: Settings) -> None:
    _code_redirect(authorize(agent, rp, pin=citizen, claims_locales="se"), settings)


def test_oidcc_ensure_request_with_acr_values_succeeds(
        agent: TestClient, client: TestClient, rp: Rp, citizen: str, settings: Settings) -> None:
    advertised = client.get("/.well-known/openid-configuration").json()["acr_values_supported"]
    flow = authorize(agent, rp, pin=citizen, acr_values=" ".join(advertised))
    _code_redirect(flow, settings)
    assert jwt_claims(redeem(agent, rp, flow).json()["id_token"])["acr"] in advertised


def test_oidcc_codereuse(agent: TestClient, rp: Rp, citizen: str) -> None:
    flow = authorize(agent, rp, pin=citizen)
    assert redeem(agent, rp, flow).status_code == 200
    second = redeem(agent, rp, flow)
    assert second.status_code == 400
    assert second.json()["error"] == "invalid_grant"


def test_oidcc_codereuse_30seconds(agent: TestClient, rp: Rp, citizen: str,
                                   clock: SandboxClock) -> None:
    clock.freeze()
    flow = authorize(agent, rp, pin=citizen)
    first = redeem(agent, rp, flow).json()
    assert userinfo(agent, first["access_token"]).status_code == 200
    clock.advance(timedelta(seconds=30))
    second = redeem(agent, rp, flow)
    assert second.status_code == 400
    assert second.json()["error"] == "invalid_grant"
    revoked = userinfo(agent, first["access_token"])  # RFC 6749 §4.1.2: tokens revoked
    assert revoked.status_code == 401
    assert 'error="invalid_token"' in revoked.headers["www-authenticate"]


def test_oidcc_ensure_registered_redirect_uri(agent: TestClient, rp: Rp, citizen: str) -> None:
    flow = authorize(agent, rp, pin=citizen, redirect_uri="https://attacker.example/cb")
    assert flow.response.status_code == 400
    assert "location" not in flow.response.headers
    assert "text/html" in flow.response.headers["content-type"]


def test_oidcc_ensure_post_request_succeeds(agent: TestClient, rp: Rp, citizen: str,
                                            settings: Settings) -> None:
    flow = authorize(agent, rp)  # only to build the parameters
    flow.response = agent.post("/oauth2/authorize", data=flow.params,
                               headers={"X-Sandbox-Login": citizen})
    _code_redirect(flow, settings)
    assert redeem(agent, rp, flow).status_code == 200


def test_oidcc_server_client_secret_post(agent: TestClient, client: TestClient,
                                         admin: dict[str, str], citizen: str,
                                         jwks: dict[str, Any], settings: Settings) -> None:
    post_rp = certification_client(client, admin, token_endpoint_auth_method="client_secret_post")
    assert post_rp.method == "client_secret_post"
    flow = authorize(agent, post_rp, pin=citizen)
    body = redeem(agent, post_rp, flow).json()
    check_id_token(body["id_token"], jwks, settings, post_rp, flow=flow)


def test_oidcc_request_uri_unsigned_supported_correctly_or_rejected_as_unsupported(
        agent: TestClient, client: TestClient, rp: Rp, citizen: str, settings: Settings) -> None:
    assert client.get("/.well-known/openid-configuration").json()[
        "request_uri_parameter_supported"] is False
    flow = authorize(agent, rp, pin=citizen, request_uri="https://rp.example/request.jwt")
    _error_redirect(flow, settings, "request_uri_not_supported")


def _unsigned_request_object(flow_params: dict[str, str]) -> str:
    import base64

    def part(value: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'none'})}.{part(flow_params)}."


def test_oidcc_unsigned_request_object_supported_correctly_or_rejected_as_unsupported(
        agent: TestClient, client: TestClient, rp: Rp, citizen: str, settings: Settings) -> None:
    """Signed request objects are supported, unsigned ones not: the suite skips this module when
    ``none`` is not among ``request_object_signing_alg_values_supported``. The object is refused,
    never silently ignored."""
    metadata = client.get("/.well-known/openid-configuration").json()
    assert metadata["request_parameter_supported"] is True
    assert "none" not in metadata["request_object_signing_alg_values_supported"]
    probe = authorize(agent, rp)
    flow = authorize(agent, rp, pin=citizen, request=_unsigned_request_object(probe.params))
    _error_redirect(flow, settings, "invalid_request_object")


def test_oidcc_claims_essential(agent: TestClient, client: TestClient, rp: Rp, citizen: str,
                                settings: Settings) -> None:
    """As the suite sends it: ``scope=openid`` and ``claims={"userinfo": {"name": {"essential":
    true}}}``; ``name`` comes back from userinfo, not in the ID token (OIDC Core §5.5)."""
    assert client.get("/.well-known/openid-configuration").json()["claims_parameter_supported"]
    claims = json.dumps({"userinfo": {"name": {"essential": True}}})
    flow = authorize(agent, rp, pin=citizen, scope="openid", claims=claims)
    _code_redirect(flow, settings)
    body = redeem(agent, rp, flow).json()
    assert body["scope"] == "openid"  # the claim is released alone, its scope is not granted
    released = userinfo(agent, body["access_token"]).json()
    assert released["name"]
    assert not {"family_name", "birthdate", "gender"} & released.keys()
    assert "name" not in jwt_claims(body["id_token"])


def test_oidcc_ensure_request_object_with_redirect_uri(
        agent: TestClient, rp: Rp, citizen: str, settings: Settings) -> None:
    probe = authorize(agent, rp)
    inner = {**probe.params, "redirect_uri": "https://elsewhere.example/cb"}
    flow = authorize(agent, rp, pin=citizen, request=_unsigned_request_object(inner))
    _error_redirect(flow, settings, "invalid_request_object")  # unsigned: refused
    assert flow.location.startswith(rp.redirect_uri)  # the registered parameter, not the object's


def test_oidcc_refresh_token(agent: TestClient, rp: Rp, rp2: Rp, citizen: str,
                             jwks: dict[str, Any], settings: Settings) -> None:
    body = tokens_for(agent, rp, citizen, scope="openid profile offline_access",
                      prompt="consent")
    assert body["refresh_token"]
    refreshed = refresh(agent, rp, body["refresh_token"])
    assert refreshed.status_code == 200, refreshed.text
    new = refreshed.json()
    assert new["refresh_token"] != body["refresh_token"]
    check_id_token(new["id_token"], jwks, settings, rp)
    assert jwt_claims(new["id_token"])["sub"] == jwt_claims(body["id_token"])["sub"]
    assert userinfo(agent, new["access_token"]).status_code == 200
    other = refresh(agent, rp2, new["refresh_token"])  # bound to its client
    assert other.status_code == 400
    assert other.json()["error"] == "invalid_grant"
    assert refresh(agent, rp, new["refresh_token"]).status_code == 200


def test_oidcc_ensure_request_with_valid_pkce_succeeds(
        agent: TestClient, rp: Rp, citizen: str, settings: Settings) -> None:
    """The one module that sends PKCE (S256), to a client registered without requiring it."""
    flow = _pkce_flow(agent, rp, citizen)
    _code_redirect(flow, settings)
    assert redeem(agent, rp, flow).status_code == 200
    unchecked = _pkce_flow(agent, rp, citizen)  # the challenge is kept with the code
    assert redeem(agent, rp, unchecked, code_verifier=pkce_pair()[0]).json()["error"] == \
        "invalid_grant"


def _pkce_flow(agent: TestClient, rp: Rp, citizen: str) -> Authorization:
    verifier, challenge = pkce_pair()
    flow = authorize(agent, rp, pin=citizen, code_challenge=challenge,
                     code_challenge_method="S256")
    flow.verifier = verifier
    return flow
