"""The OpenID Foundation Basic OP certification plan (oidcc-basic-certification-test-plan), ported
to pytest: one test per module of ``oidc-basic-op-test-plan.txt``, named after it, in plan order.

Each test sends what the suite's module sends in the plan's variants (response_type ``code``,
``client_secret_basic`` -- ``client_secret_post`` in its own module --, default response mode, a
static client, discovery), and nothing more:

* the authorization request (``CreateAuthorizationRequestSteps``): ``client_id``, ``redirect_uri``,
  ``scope=openid``, a 10-character alphanumeric ``state`` and ``nonce``, ``response_type=code``, in
  alphabetical order, plus what the module adds; no PKCE except in
  ``oidcc-ensure-request-with-valid-pkce-succeeds``;
* the token request: ``grant_type``, ``code``, ``redirect_uri``, form-encoded (``Content-Type:
  application/x-www-form-urlencoded;charset=UTF-8``, as Spring writes it), ``Accept:
  application/json``, the client's credentials form-urlencoded before base64 (RFC 6749 §2.3.1);
* then, in every module that does not stop earlier, a GET of the userinfo endpoint with the token
  as ``<token_type> <token>`` and ``Accept: application/json``, which must answer 200.

The suite drives a browser; here the "user" logs in either headlessly (``X-Sandbox-Login``, same
checks as a browser login, standing for the user in the browser) or through the HTML login pages
with a cookie jar when the module is about the login page or session (display, prompt, max_age,
id_token_hint, login_hint, ui_locales). Modules the suite does not run for a static client
(``VariantNotApplicable``) are skipped, and the ones it skips because discovery lacks ``none`` in
``request_object_signing_alg_values_supported`` only read discovery, as the suite does: both
kinds of request are ported in test_oidc_dynamic_op.py. Where an assertion goes beyond the suite
(a check it only warns about, or one it does not make), the test says so.

One account may be sent 10 SMS codes an hour, and the plan's browser logins in one run are 11:
the modules that ask the tester to clear cookies and log in again (display, login_hint,
ui_locales) use a second test user.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.clock import SandboxClock
from app.db import Database
from app.settings import Settings
from tests.api.oidc_support import *  # noqa: F403
from tests.api.oidc_support import (
    DEMO_REDIRECT,
    FORM,
    JSON,
    Authorization,
    Rp,
    approve_consent,
    citizen_with_account,
    jwt_claims,
    jwt_header,
    password_login,
    register_rp,
    suite_authorize,
    suite_params,
    suite_pkce,
    suite_redeem,
    suite_token,
    suite_userinfo,
    suite_value,
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
def fresh_user(client: TestClient, admin: dict[str, str], database: Database) -> str:
    """A second test user, for the modules that ask the tester to clear cookies and log in
    (display, login_hint, ui_locales): one account may be sent 10 SMS codes an hour, and the
    plan's browser logins are more than that (see the module docstring)."""
    return citizen_with_account(client, admin, database)


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


def suite_tokens(agent: TestClient, rp: Rp, flow: Authorization, settings: Settings,
                 **extra: str) -> dict[str, Any]:
    """The rest of the default flow after the redirect: the callback checks, the token request
    (must be 200), then the userinfo GET (must be 200)."""
    _code_redirect(flow, settings)
    response = suite_redeem(agent, rp, flow, **extra)
    assert response.status_code == 200, response.text
    body = dict(response.json())
    assert body["expires_in"] > 0  # ValidateExpiresIn
    info = suite_userinfo(agent, body)
    assert info.status_code == 200, info.text
    return body


def suite_flow(agent: TestClient, rp: Rp, citizen: str, settings: Settings,
               **extra: Any) -> tuple[Authorization, dict[str, Any]]:
    """``AbstractOIDCCServerTest``'s whole flow, the user logged in headlessly."""
    flow = suite_authorize(agent, suite_params(rp, **extra), pin=citizen)
    return flow, suite_tokens(agent, rp, flow, settings)


def browser_login(agent: TestClient, admin: dict[str, str], rp: Rp, citizen: str,
                  params: dict[str, str], look: Any = None) -> tuple[Authorization, bool]:
    """The authorization request in a browser: password + SMS code if the login page comes,
    consent if asked; ends at the RP. Whether the login page was shown (``look``: called with its
    HTML)."""
    flow = suite_authorize(agent, params)
    response = flow.response
    shown = response.headers.get("location", "").startswith("/oauth2/login/")
    if shown:
        response = password_login(agent, admin, response.headers["location"], citizen,
                                  look=look)
    if response.headers.get("location", "").startswith("/oauth2/consent/"):
        response = approve_consent(agent, response.headers["location"])
    flow.response = response
    return flow, shown


def _code_redirect(flow: Authorization, settings: Settings) -> dict[str, str]:
    assert flow.response.status_code == 303, flow.response.text
    result = flow.result
    assert "code" in result, flow.location
    assert result["state"] == flow.params["state"]
    assert result["iss"] == settings.issuer_url
    assert flow.location.startswith(flow.params["redirect_uri"] + "?")
    return result


def _error_redirect(flow: Authorization, settings: Settings, *errors: str) -> dict[str, str]:
    """``performGenericAuthorizationEndpointErrorResponseValidation`` and the module's codes."""
    assert flow.response.status_code == 303, flow.response.text
    result = flow.result
    assert result.get("error") in errors, flow.location
    assert "code" not in result
    assert result["iss"] == settings.issuer_url
    assert not set("\r\n\t") & set(result.get("error_description", ""))
    if "state" in flow.params:
        assert result["state"] == flow.params["state"]
    return result


def _token_error(response: Any) -> None:
    """``CheckTokenEndpointHttpStatus400``, JSON content type, ``invalid_grant``."""
    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert response.json()["error"] == "invalid_grant"


def test_oidcc_server(agent: TestClient, rp: Rp, citizen: str, jwks: dict[str, Any],
                      settings: Settings) -> None:
    flow = suite_authorize(agent, suite_params(rp), pin=citizen)
    assert len(flow.result.get("code", "").encode()) * 8 >= 128  # EnsureMinimumAuthorization...
    response = suite_redeem(agent, rp, flow)
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"  # beyond the suite: RFC 6749 §5.1
    body = response.json()
    assert body["token_type"] == "Bearer"
    claims = check_id_token(body["id_token"], jwks, settings, rp, flow=flow,
                            access_token=body["access_token"])
    assert claims["amr"] == ["pwd", "sms", "mfa"]  # beyond the suite
    assert "name" not in claims  # EnsureIdTokenDoesNotContainName (a warning in the suite)
    assert suite_userinfo(agent, body).status_code == 200


def test_oidcc_response_type_missing(agent: TestClient, rp: Rp, citizen: str,
                                     settings: Settings) -> None:
    flow = suite_authorize(agent, suite_params(rp, response_type=""), pin=citizen)
    assert "response_type" not in flow.params
    _error_redirect(flow, settings, "invalid_request", "unsupported_response_type")


def test_oidcc_idtoken_signature() -> None:
    pytest.skip("VariantNotApplicable(static_client): the suite runs it with a dynamic client "
                "only (test_oidc_dynamic_op.py)")


def test_oidcc_idtoken_unsigned() -> None:
    pytest.skip("VariantNotApplicable(static_client): the suite runs it with a dynamic client "
                "only (test_oidc_dynamic_op.py)")


def _userinfo_answer(response: Any, body: dict[str, Any]) -> dict[str, Any]:
    """``AbstractOIDCCUserInfoTest``: 200, JSON, ``sub`` that of the token endpoint's ID token."""
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    claims = dict(response.json())
    assert claims["sub"] == jwt_claims(body["id_token"])["sub"]
    return claims


def test_oidcc_userinfo_get(agent: TestClient, rp: Rp, citizen: str, settings: Settings) -> None:
    _, body = suite_flow(agent, rp, citizen, settings)
    _userinfo_answer(suite_userinfo(agent, body), body)


def test_oidcc_userinfo_post_header(agent: TestClient, rp: Rp, citizen: str,
                                    settings: Settings) -> None:
    _, body = suite_flow(agent, rp, citizen, settings)
    _userinfo_answer(suite_userinfo(agent, body, "POST"), body)


def test_oidcc_userinfo_post_body(agent: TestClient, rp: Rp, citizen: str,
                                  settings: Settings) -> None:
    """``CallUserInfoEndpointWithBearerTokenInBody``: no Authorization header, the token in a form
    body. The suite only warns if this is refused; we accept it (RFC 6750 §2.2)."""
    _, body = suite_flow(agent, rp, citizen, settings)
    response = agent.post("/oauth2/userinfo", data={"access_token": body["access_token"]},
                          headers=JSON | FORM)
    _userinfo_answer(response, body)


def test_oidcc_ensure_request_without_nonce_succeeds_for_code_flow(
        agent: TestClient, rp: Rp, citizen: str, settings: Settings) -> None:
    """The suite stops at the redirect: the code is never redeemed."""
    flow = suite_authorize(agent, suite_params(rp, nonce=False), pin=citizen)
    assert "nonce" not in flow.params
    _code_redirect(flow, settings)


def _scope_claims(agent: TestClient, rp: Rp, citizen: str, settings: Settings,
                  scope: str, **extra: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """``AbstractOIDCCReturnedClaimsServerTest``: the flow, then userinfo once more (200)."""
    _, body = suite_flow(agent, rp, citizen, settings, scope=scope, **extra)
    assert set(body["scope"].split()) == set(scope.split())  # beyond the suite
    return body, _userinfo_answer(suite_userinfo(agent, body), body)


def test_oidcc_scope_profile(agent: TestClient, rp: Rp, citizen: str, settings: Settings) -> None:
    _, claims = _scope_claims(agent, rp, citizen, settings, "openid profile")
    assert {"name", "family_name", "given_name", "birthdate", "gender"} <= claims.keys()
    assert not {"email", "phone_number", "address", "SoDinhDanh"} & claims.keys()


def _scope_email(body: dict[str, Any], claims: dict[str, Any]) -> None:
    """``OIDCCScopeEmail``'s warnings, held as failures here."""
    assert "@" in claims["email"]
    assert claims["email_verified"] is False
    assert "name" not in claims
    assert not {"name", "email"} & jwt_claims(body["id_token"]).keys()


def test_oidcc_scope_email(agent: TestClient, rp: Rp, citizen: str, settings: Settings) -> None:
    _scope_email(*_scope_claims(agent, rp, citizen, settings, "openid email"))


def test_oidcc_scope_address(agent: TestClient, rp: Rp, citizen: str, settings: Settings) -> None:
    _, claims = _scope_claims(agent, rp, citizen, settings, "openid address")
    assert claims["address"]["country"] == "Việt Nam"
    assert claims["address"]["formatted"]


def test_oidcc_scope_phone(agent: TestClient, rp: Rp, citizen: str, settings: Settings) -> None:
    _, claims = _scope_claims(agent, rp, citizen, settings, "openid phone")
    assert claims["phone_number"].startswith("+84")
    assert claims["phone_number_verified"] is True


def test_oidcc_scope_all(agent: TestClient, rp: Rp, citizen: str, settings: Settings) -> None:
    _, claims = _scope_claims(agent, rp, citizen, settings, "openid email phone address profile")
    assert {"name", "email", "phone_number", "address"} <= claims.keys()


def test_oidcc_alternate_happy_flow(agent: TestClient, rp: Rp, citizen: str,
                                    settings: Settings) -> None:
    """``OIDCCScopeEmail`` with the scope reversed and the parameters in reverse order."""
    body, claims = _scope_claims(agent, rp, citizen, settings, "email openid", reverse=True)
    _scope_email(body, claims)


def _display(agent: TestClient, admin: dict[str, str], rp: Rp, citizen: str,
             settings: Settings, display: str) -> None:
    params = suite_params(rp, display=display)
    flow, shown = browser_login(agent, admin, rp, citizen, params)
    assert shown  # a fresh browser gets the login page (the suite's screenshot)
    suite_tokens(agent, rp, flow, settings)


def test_oidcc_display_page(agent: TestClient, admin: dict[str, str], rp: Rp, fresh_user: str,
                            settings: Settings) -> None:
    _display(agent, admin, rp, fresh_user, settings, "page")


def test_oidcc_display_popup(agent: TestClient, admin: dict[str, str], rp: Rp, fresh_user: str,
                             settings: Settings) -> None:
    _display(agent, admin, rp, fresh_user, settings, "popup")


def _browser_tokens(agent: TestClient, admin: dict[str, str], rp: Rp, citizen: str,
                    settings: Settings, **extra: str) -> tuple[bool, dict[str, Any]]:
    """One authorization of the suite in the browser, then its token and userinfo requests;
    whether the login page was shown."""
    flow, shown = browser_login(agent, admin, rp, citizen, suite_params(rp, **extra))
    return shown, suite_tokens(agent, rp, flow, settings)


def test_oidcc_prompt_login(agent: TestClient, admin: dict[str, str], rp: Rp, citizen: str,
                            settings: Settings, clock: SandboxClock) -> None:
    clock.freeze()
    _, first = _browser_tokens(agent, admin, rp, citizen, settings)
    clock.advance(timedelta(seconds=1))  # WaitForOneSecond
    shown, second = _browser_tokens(agent, admin, rp, citizen, settings, prompt="login")
    assert shown  # the user is asked to log in again
    assert jwt_claims(second["id_token"])["auth_time"] > jwt_claims(first["id_token"])["auth_time"]


def test_oidcc_prompt_none_not_logged_in(agent: TestClient, rp: Rp, settings: Settings) -> None:
    """A 128-character state (124 alphanumerics and ``-._~``) must come back unchanged."""
    flow = suite_authorize(agent, suite_params(rp, state_length=128, prompt="none"))
    assert len(flow.params["state"]) == 128
    _error_redirect(flow, settings, "login_required", "interaction_required",
                    "account_selection_required", "consent_required")


def _same_auth_twice(first: dict[str, Any], second: dict[str, Any]) -> None:
    one, two = jwt_claims(first["id_token"]), jwt_claims(second["id_token"])
    assert (two["sub"], two["auth_time"]) == (one["sub"], one["auth_time"])


def test_oidcc_prompt_none_logged_in(agent: TestClient, admin: dict[str, str], rp: Rp,
                                     citizen: str, settings: Settings) -> None:
    _, first = _browser_tokens(agent, admin, rp, citizen, settings)
    silent = suite_authorize(agent, suite_params(rp, prompt="none"))
    _same_auth_twice(first, suite_tokens(agent, rp, silent, settings))  # no login page between


def test_oidcc_max_age_1(agent: TestClient, admin: dict[str, str], rp: Rp, citizen: str,
                         settings: Settings, clock: SandboxClock) -> None:
    clock.freeze()
    _, first = _browser_tokens(agent, admin, rp, citizen, settings)
    clock.advance(timedelta(seconds=2))  # WaitFor2Seconds
    shown, second = _browser_tokens(agent, admin, rp, citizen, settings, max_age="1")
    assert shown
    assert jwt_claims(second["id_token"])["auth_time"] > jwt_claims(first["id_token"])["auth_time"]


def test_oidcc_max_age_10000(agent: TestClient, admin: dict[str, str], rp: Rp, citizen: str,
                             settings: Settings) -> None:
    _, first = _browser_tokens(agent, admin, rp, citizen, settings, max_age="15000")
    assert "auth_time" in jwt_claims(first["id_token"])
    silent = suite_authorize(agent, suite_params(rp, max_age="10000"))
    _same_auth_twice(first, suite_tokens(agent, rp, silent, settings))


def test_oidcc_ensure_request_with_unknown_parameter_succeeds(
        agent: TestClient, rp: Rp, citizen: str, settings: Settings) -> None:
    suite_flow(agent, rp, citizen, settings, extra="foobar")


def test_oidcc_id_token_hint(agent: TestClient, admin: dict[str, str], rp: Rp, citizen: str,
                             settings: Settings) -> None:
    _, first = _browser_tokens(agent, admin, rp, citizen, settings)
    silent = suite_authorize(agent, suite_params(rp, prompt="none",
                                                 id_token_hint=first["id_token"]))
    _same_auth_twice(first, suite_tokens(agent, rp, silent, settings))


def test_oidcc_login_hint(agent: TestClient, admin: dict[str, str], rp: Rp, fresh_user: str,
                          settings: Settings) -> None:
    """``login_hint`` from the test configuration (``server.login_hint``): the user's PIN."""
    def prefilled(page: str) -> None:
        assert f'value="{fresh_user}"' in page

    params = suite_params(rp, login_hint=fresh_user)
    flow, shown = browser_login(agent, admin, rp, fresh_user, params, look=prefilled)
    assert shown
    suite_tokens(agent, rp, flow, settings)


def test_oidcc_ui_locales(agent: TestClient, admin: dict[str, str], rp: Rp, fresh_user: str,
                          settings: Settings) -> None:
    """``ui_locales`` unconfigured: the suite sends ``se``, which we fall back from to Vietnamese
    (English pages: test_oidc_login.py)."""
    def vietnamese(page: str) -> None:
        assert '<html lang="vi">' in page

    params = suite_params(rp, ui_locales="se")
    flow, shown = browser_login(agent, admin, rp, fresh_user, params, look=vietnamese)
    assert shown
    suite_tokens(agent, rp, flow, settings)


def test_oidcc_claims_locales(agent: TestClient, rp: Rp, citizen: str,
                              settings: Settings) -> None:
    suite_flow(agent, rp, citizen, settings, claims_locales="se")


def test_oidcc_ensure_request_with_acr_values_succeeds(
        agent: TestClient, client: TestClient, rp: Rp, citizen: str, settings: Settings) -> None:
    advertised = client.get("/.well-known/openid-configuration").json()["acr_values_supported"]
    _, body = suite_flow(agent, rp, citizen, settings, acr_values=" ".join(advertised))
    assert jwt_claims(body["id_token"])["acr"] in advertised  # a warning in the suite


def test_oidcc_codereuse(agent: TestClient, rp: Rp, citizen: str, settings: Settings) -> None:
    """The same token request again; the suite only warns on a 200, we refuse."""
    flow, _ = suite_flow(agent, rp, citizen, settings)
    _token_error(suite_redeem(agent, rp, flow))


def test_oidcc_codereuse_30seconds(agent: TestClient, rp: Rp, citizen: str, settings: Settings,
                                   clock: SandboxClock) -> None:
    clock.freeze()
    flow, first = suite_flow(agent, rp, citizen, settings)
    clock.advance(timedelta(seconds=30))  # WaitFor30Seconds
    _token_error(suite_redeem(agent, rp, flow))
    revoked = suite_userinfo(agent, first)  # RFC 6749 §4.1.2: a 4xx (a warning in the suite)
    assert revoked.status_code == 401
    assert 'error="invalid_token"' in revoked.headers["www-authenticate"]


def test_oidcc_ensure_registered_redirect_uri(agent: TestClient, rp: Rp, citizen: str) -> None:
    """``CreateBadRedirectUriByAppending``: the registered callback with a random path segment
    appended, so a prefix match would let it through."""
    bad = f"{DEMO_REDIRECT}/{suite_value()}"
    flow = suite_authorize(agent, suite_params(rp, redirect_uri=bad), pin=citizen)
    assert flow.response.status_code == 400
    assert "location" not in flow.response.headers
    assert "text/html" in flow.response.headers["content-type"]


def test_oidcc_ensure_post_request_succeeds(agent: TestClient, rp: Rp, citizen: str,
                                            settings: Settings) -> None:
    flow = suite_authorize(agent, suite_params(rp), pin=citizen, method="POST")
    suite_tokens(agent, rp, flow, settings)


def test_oidcc_server_client_secret_post(agent: TestClient, client: TestClient,
                                         admin: dict[str, str], citizen: str,
                                         jwks: dict[str, Any], settings: Settings) -> None:
    post_rp = certification_client(client, admin, token_endpoint_auth_method="client_secret_post")
    assert post_rp.method == "client_secret_post"
    flow, body = suite_flow(agent, post_rp, citizen, settings)
    check_id_token(body["id_token"], jwks, settings, post_rp, flow=flow)


def test_oidcc_request_uri_unsigned_supported_correctly_or_rejected_as_unsupported() -> None:
    pytest.skip("VariantNotApplicable(static_client): the suite runs it with a dynamic client "
                "only (test_oidc_dynamic_op.py)")


def _skipped_without_none(client: TestClient) -> None:
    """``skipTestIfNoneUnsupported``: the suite reads discovery, finds no ``none`` among the
    request object algorithms and skips the module -- it sends nothing else. (Unsigned request
    objects are refused: test_oidc_par_jar.py.)"""
    metadata = client.get("/.well-known/openid-configuration").json()
    assert metadata["request_parameter_supported"] is True
    assert "none" not in metadata["request_object_signing_alg_values_supported"]


def test_oidcc_unsigned_request_object_supported_correctly_or_rejected_as_unsupported(
        client: TestClient) -> None:
    _skipped_without_none(client)


def test_oidcc_claims_essential(agent: TestClient, client: TestClient, rp: Rp, citizen: str,
                                settings: Settings) -> None:
    """As the suite sends it: ``scope=openid`` and ``claims={"userinfo": {"name": {"essential":
    true}}}``; ``name`` comes back from userinfo, not in the ID token (OIDC Core §5.5; warnings in
    the suite)."""
    claims = json.dumps({"userinfo": {"name": {"essential": True}}}, separators=(",", ":"))
    body, released = _scope_claims(agent, rp, citizen, settings, "openid", claims=claims)
    assert body["scope"] == "openid"  # the claim is released alone, its scope is not granted
    assert released["name"]
    assert not {"family_name", "birthdate", "gender"} & released.keys()
    assert "name" not in jwt_claims(body["id_token"])


def test_oidcc_ensure_request_object_with_redirect_uri(client: TestClient) -> None:
    _skipped_without_none(client)


def _refresh_client(agent: TestClient, rp: Rp, citizen: str, settings: Settings,
                    jwks: dict[str, Any], *, second: bool) -> dict[str, Any]:
    """One client's part of ``OIDCCRefreshToken``: the flow with ``scope=openid offline_access``
    and ``prompt=consent`` (the second client's nonce 43 characters long), the refresh (with the
    scope for the first client only), then userinfo with the new access token."""
    scope = "openid offline_access"
    params = suite_params(rp, scope=scope, prompt="consent")
    if second:
        params["nonce"] = suite_value(43)
    flow = suite_authorize(agent, params, pin=citizen)
    _code_redirect(flow, settings)
    first = suite_redeem(agent, rp, flow)
    assert first.status_code == 200, first.text
    body = first.json()
    assert body["refresh_token"]
    form = {"grant_type": "refresh_token", "refresh_token": body["refresh_token"]}
    refreshed = suite_token(agent, rp, form if second else form | {"scope": scope})
    assert refreshed.status_code == 200, refreshed.text
    assert refreshed.headers["content-type"].startswith("application/json")
    assert refreshed.headers["cache-control"] == "no-store"
    new = refreshed.json()
    assert new["token_type"] == "Bearer"
    assert new["access_token"] != body["access_token"]
    check_id_token(new["id_token"], jwks, settings, rp)
    assert jwt_claims(new["id_token"])["sub"] == jwt_claims(body["id_token"])["sub"]
    assert suite_userinfo(agent, new).status_code == 200
    return dict(new)


def test_oidcc_refresh_token(agent: TestClient, rp: Rp, rp2: Rp, citizen: str,
                             jwks: dict[str, Any], client: TestClient,
                             settings: Settings) -> None:
    assert "offline_access" in client.get("/.well-known/openid-configuration").json()[
        "scopes_supported"]
    _refresh_client(agent, rp, citizen, settings, jwks, second=False)
    second = _refresh_client(agent, rp2, citizen, settings, jwks, second=True)
    # client 2's refresh token presented by client 1 (with client 1's scope): bound to client 2
    _token_error(suite_token(agent, rp, {"grant_type": "refresh_token",
                                         "refresh_token": second["refresh_token"],
                                         "scope": "openid offline_access"}))


def test_oidcc_ensure_request_with_valid_pkce_succeeds(
        agent: TestClient, rp: Rp, citizen: str, settings: Settings) -> None:
    """The one module that sends PKCE: a 128-character verifier, S256, to a client registered
    without requiring it. (A wrong verifier is refused: test_oidc_tokens.py.)"""
    verifier, challenge = suite_pkce()
    params = suite_params(rp, code_challenge=challenge, code_challenge_method="S256")
    flow = suite_authorize(agent, params, pin=citizen)
    suite_tokens(agent, rp, flow, settings, code_verifier=verifier)
