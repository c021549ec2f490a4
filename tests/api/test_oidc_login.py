"""Logging in at the provider: assurance levels, account states, the HTML login (password + SMS
code, QR, persona picker), consent and its withdrawal, CSRF, cookies, headers, and that PINs and
secrets never reach URLs or logs."""

from __future__ import annotations

import logging
import re
from datetime import timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from app.clock import SandboxClock
from app.db import Database
from app.main import create_app
from app.services.vneid import otp as accounts_otp
from app.settings import Settings, load_settings
from tests.api.oidc_support import *  # noqa: F403
from tests.api.oidc_support import (
    Rp,
    approve_consent,
    authorize,
    browser,
    citizen_with_contact,
    csrf_of,
    interactive_login,
    jwt_claims,
    password_login,
    redeem,
    refresh,
    register_rp,
    sms_code,
    tokens_for,
    userinfo,
)


@pytest.fixture(scope="module")
def rp(client: TestClient, admin: dict[str, str]) -> Rp:
    return register_rp(client, admin, name="Cổng dịch vụ công thử nghiệm")


@pytest.fixture(scope="module")
def public_rp(client: TestClient, admin: dict[str, str]) -> Rp:
    """A relying party that is not a sandbox client (no shortcuts)."""
    return register_rp(client, admin, name="Production-like RP", sandbox=False,
                       redirect_uris=["https://rp.example/cb"])


@pytest.fixture
def agent(app: FastAPI) -> TestClient:
    return browser(app)


@pytest.fixture
def citizen(client: TestClient, admin: dict[str, str], database: Database) -> str:
    pin = citizen_with_contact(database)
    response = client.post("/v1/admin/accounts", headers=admin,
                           json={"pin": pin, "level": 2, "password": "Vneid@2025",
                                 "passcode": "123456"})
    assert response.status_code == 201, response.text
    return pin


def _pin(personas: dict[str, Any], key: str) -> str:
    return str(personas[key]["pin"])


# --- assurance levels -----------------------------------------------------------------------------


def test_loa2_from_a_level_1_account_is_unmet_authentication_requirements(
        agent: TestClient, rp: Rp, personas: dict[str, Any], settings: Settings) -> None:
    flow = authorize(agent, rp, pin=_pin(personas, "citizen-l1"), acr_values="LoA2")
    assert flow.result["error"] == "unmet_authentication_requirements"
    assert flow.result["state"] == flow.params["state"]
    assert flow.result["iss"] == settings.issuer_url
    assert "code" not in flow.result


def test_loa2_from_a_level_1_account_fails_after_an_interactive_login_too(
        agent: TestClient, admin: dict[str, str], rp: Rp, personas: dict[str, Any]) -> None:
    flow = interactive_login(agent, admin, rp, _pin(personas, "citizen-l1"), acr_values="LoA2")
    assert flow.result["error"] == "unmet_authentication_requirements"


@pytest.mark.parametrize(("key", "requested", "acr"), [
    ("citizen-l1", "LoA1", "LoA1"),
    ("citizen-l1", "", "LoA1"),
    ("citizen-l2", "LoA2", "LoA2"),
    ("citizen-l2", "LoA1", "LoA1"),
    ("citizen-l2", "", "LoA2"),
    ("citizen-l2", "LoA2 LoA1", "LoA2"),
])
def test_acr_in_the_id_token_follows_the_request_and_the_account_level(
        agent: TestClient, rp: Rp, personas: dict[str, Any], key: str, requested: str,
        acr: str) -> None:
    body = tokens_for(agent, rp, _pin(personas, key), acr_values=requested)
    claims = jwt_claims(body["id_token"])
    assert claims["acr"] == acr
    assert claims["amr"] == ["pwd", "sms", "mfa"]
    assert jwt_claims(body["access_token"])["acr"] == acr


# --- account states -------------------------------------------------------------------------------


@pytest.mark.parametrize(("key", "text"), [
    ("locked-self", "locked"), ("locked-card-expired", "locked"), ("closed-deceased", "closed"),
    ("pending", "not yet activated")])
def test_locked_closed_and_pending_accounts_cannot_log_in_headlessly(
        agent: TestClient, rp: Rp, personas: dict[str, Any], key: str, text: str) -> None:
    flow = authorize(agent, rp, pin=_pin(personas, key))
    assert flow.result["error"] == "access_denied"
    assert text in flow.result["error_description"]
    assert "code" not in flow.result


@pytest.mark.parametrize(("key", "message"), [
    ("locked-self", "The account is locked."), ("closed-deceased", "The account is closed."),
    ("pending", "The account is not activated yet")])
def test_locked_closed_and_pending_accounts_cannot_log_in_on_the_page(
        agent: TestClient, admin: dict[str, str], rp: Rp, personas: dict[str, Any], key: str,
        message: str) -> None:
    flow = authorize(agent, rp, ui_locales="en")
    page = agent.get(flow.location)
    interaction = flow.location.rsplit("/", 1)[-1]
    refused = agent.post(f"/oauth2/login/{interaction}/password", data={
        "csrf": csrf_of(page.text), "pin": _pin(personas, key), "password": "Vneid@2025",
        "lang": "en"})
    assert refused.status_code == 200
    assert message in refused.text


def test_an_account_locked_after_login_loses_its_session_and_tokens(
        agent: TestClient, admin: dict[str, str], rp: Rp, citizen: str,
        client: TestClient) -> None:
    body = tokens_for(agent, rp, citizen, scope="openid profile offline_access",
                      prompt="consent")
    client.post(f"/v1/admin/accounts/{citizen}/lock", json={"reason": "authority"},
                headers=admin)
    assert userinfo(agent, body["access_token"]).status_code == 401
    assert refresh(agent, rp, body["refresh_token"]).json()["error"] == "invalid_grant"
    assert authorize(agent, rp, prompt="none").result["error"] == "login_required"
    client.post(f"/v1/admin/accounts/{citizen}/unlock", json={}, headers=admin)
    assert refresh(agent, rp, body["refresh_token"]).status_code == 400  # family revoked


def test_a_code_is_refused_if_the_account_is_locked_before_redemption(
        agent: TestClient, admin: dict[str, str], rp: Rp, citizen: str,
        client: TestClient) -> None:
    flow = authorize(agent, rp, pin=citizen)
    client.post(f"/v1/admin/accounts/{citizen}/lock", json={"reason": "self_request"},
                headers=admin)
    assert redeem(agent, rp, flow).json()["error"] == "invalid_grant"


# --- sandbox login --------------------------------------------------------------------------------


def test_sandbox_login_header_is_refused_for_non_sandbox_clients(
        agent: TestClient, public_rp: Rp, personas: dict[str, Any]) -> None:
    flow = authorize(agent, public_rp, pin=_pin(personas, "citizen-l2"))
    assert flow.result["error"] == "access_denied"
    assert flow.location.startswith("https://rp.example/cb?")


def test_sandbox_login_header_is_refused_outside_a_sandbox_deployment(
        settings: Settings, database: Database, rp: Rp, personas: dict[str, Any]) -> None:
    production = load_settings(database_url=settings.database_url, seed=settings.seed,
                               sandbox=False, admin_token="a-real-admin-token",
                               demo_client_secret="a-real-demo-secret-for-the-sandbox-only")
    app = create_app(production, database=database, migrate_on_start=False)
    flow = authorize(browser(app), rp, pin=_pin(personas, "citizen-l2"))
    assert flow.result["error"] == "access_denied"


@pytest.mark.parametrize(("change", "expected"), [
    ({"code_challenge": ""}, "invalid_request"),
    ({"code_challenge_method": "plain"}, "invalid_request"),
    ({"scope": "profile"}, "invalid_scope"),
    ({"response_type": "token"}, "unsupported_response_type"),
])
def test_sandbox_login_still_enforces_the_request_rules(
        agent: TestClient, rp: Rp, personas: dict[str, Any], change: dict[str, str],
        expected: str) -> None:
    flow = authorize(agent, rp, pin=_pin(personas, "citizen-l2"), **change)
    assert flow.result["error"] == expected


def test_sandbox_login_still_enforces_the_redirect_uri(agent: TestClient, rp: Rp,
                                                       personas: dict[str, Any]) -> None:
    flow = authorize(agent, rp, pin=_pin(personas, "citizen-l2"),
                     redirect_uri="http://127.0.0.1:8765/callback/../evil")
    assert flow.response.status_code == 400
    assert "location" not in flow.response.headers


def test_unknown_pin_in_the_sandbox_header_is_access_denied(agent: TestClient, rp: Rp) -> None:
    flow = authorize(agent, rp, pin="079099000001")
    assert flow.result["error"] == "access_denied"


# --- the HTML login -------------------------------------------------------------------------------


def test_password_and_sms_code_log_in_and_consent_is_asked_once(
        agent: TestClient, admin: dict[str, str], rp: Rp, citizen: str) -> None:
    flow = authorize(agent, rp, scope="openid profile phone")
    after_code = password_login(agent, admin, flow.location, citizen)
    assert after_code.headers["location"].startswith("/oauth2/consent/")
    page = agent.get(after_code.headers["location"])
    assert "phone" in page.text
    assert "profile" in page.text
    done = approve_consent(agent, after_code.headers["location"])
    assert "code=" in done.headers["location"]
    again = authorize(agent, rp, scope="phone openid")  # already consented: straight back
    assert "code" in again.result
    wider = authorize(agent, rp, scope="openid email")  # a new scope: asked again
    assert wider.location.startswith("/oauth2/consent/")


def test_declining_consent_is_access_denied(agent: TestClient, admin: dict[str, str], rp: Rp,
                                            citizen: str) -> None:
    flow = authorize(agent, rp)
    after_code = password_login(agent, admin, flow.location, citizen)
    declined = approve_consent(agent, after_code.headers["location"], decision="deny")
    result = dict(re.findall(r"[?&](\w+)=([^&]*)", declined.headers["location"]))
    assert result["error"] == "access_denied"


def test_a_wrong_sms_code_is_refused_and_an_expired_one_too(
        agent: TestClient, admin: dict[str, str], rp: Rp, citizen: str,
        clock: SandboxClock) -> None:
    clock.freeze()
    flow = authorize(agent, rp, ui_locales="en")
    page = agent.get(flow.location)
    interaction = flow.location.rsplit("/", 1)[-1]
    sent = agent.post(f"/oauth2/login/{interaction}/password", data={
        "csrf": csrf_of(page.text), "pin": citizen, "password": "Vneid@2025"})
    csrf = csrf_of(agent.get(sent.headers["location"]).text)
    code = sms_code(agent, admin, citizen)
    wrong = f"{(int(code) + 1) % 10**6:06d}"
    refused = agent.post(f"/oauth2/login/{interaction}/otp", data={"csrf": csrf, "code": wrong})
    assert refused.status_code == 200
    assert "wrong or has expired" in refused.text
    clock.advance(accounts_otp.OTP_TTL)
    late = agent.post(f"/oauth2/login/{interaction}/otp", data={"csrf": csrf, "code": code})
    assert "wrong or has expired" in late.text
    agent.post(f"/oauth2/login/{interaction}/otp/resend", data={"csrf": csrf})
    fresh = agent.post(f"/oauth2/login/{interaction}/otp",
                       data={"csrf": csrf, "code": sms_code(agent, admin, citizen)})
    assert fresh.status_code == 303


def test_an_sms_code_stops_working_after_five_wrong_tries(
        agent: TestClient, admin: dict[str, str], rp: Rp, citizen: str) -> None:
    flow = authorize(agent, rp)
    interaction = flow.location.rsplit("/", 1)[-1]
    sent = agent.post(f"/oauth2/login/{interaction}/password", data={
        "csrf": csrf_of(agent.get(flow.location).text), "pin": citizen, "password": "Vneid@2025"})
    csrf = csrf_of(agent.get(sent.headers["location"]).text)
    code = sms_code(agent, admin, citizen)
    for _ in range(accounts_otp.OTP_MAX_ATTEMPTS):
        agent.post(f"/oauth2/login/{interaction}/otp", data={"csrf": csrf, "code": "000000"
                                                             if code != "000000" else "111111"})
    assert agent.post(f"/oauth2/login/{interaction}/otp",
                      data={"csrf": csrf, "code": code}).status_code == 200


def test_forms_without_the_csrf_token_or_from_another_browser_are_refused(
        agent: TestClient, app: FastAPI, rp: Rp, citizen: str) -> None:
    flow = authorize(agent, rp)
    interaction = flow.location.rsplit("/", 1)[-1]
    page = agent.get(flow.location)
    forged = agent.post(f"/oauth2/login/{interaction}/password",
                        data={"pin": citizen, "password": "Vneid@2025"})
    assert forged.status_code == 403
    other = browser(app)
    stolen = other.post(f"/oauth2/login/{interaction}/password", data={
        "csrf": csrf_of(page.text), "pin": citizen, "password": "Vneid@2025"})
    assert stolen.status_code == 400  # the interaction belongs to the first browser
    assert other.get(flow.location).status_code == 400


def test_the_persona_picker_logs_in_sandbox_clients_only(
        agent: TestClient, client: TestClient, admin: dict[str, str], public_rp: Rp,
        personas: dict[str, Any]) -> None:
    flow = authorize(agent, register_rp(client, admin))
    page = agent.get(flow.location)
    assert 'value="citizen-l2"' in page.text
    assert personas["citizen-l2"]["pin"] not in page.text  # masked in the list
    interaction = flow.location.rsplit("/", 1)[-1]
    picked = agent.post(f"/oauth2/login/{interaction}/persona",
                        data={"csrf": csrf_of(page.text), "persona": "citizen-l2"})
    assert picked.headers["location"].startswith("/oauth2/consent/")
    other = authorize(agent, public_rp, prompt="login")
    other_page = agent.get(other.location)
    assert 'value="citizen-l2"' not in other_page.text
    refused = agent.post(other.location.replace("/oauth2/login/", "/oauth2/login/") + "/persona",
                         data={"csrf": csrf_of(other_page.text), "persona": "citizen-l2"})
    assert refused.status_code == 200
    assert "consent" not in refused.headers.get("location", "")


def test_login_page_speaks_vietnamese_by_default_and_english_on_request(
        agent: TestClient, rp: Rp) -> None:
    flow = authorize(agent, rp)
    vietnamese = agent.get(flow.location)
    assert "Số định danh cá nhân" in vietnamese.text
    english = agent.get(flow.location + "?lang=en")
    assert "Personal identification number" in english.text
    assert '<html lang="en">' in english.text


def test_pages_carry_security_headers_and_cookies_are_httponly_lax(
        agent: TestClient, rp: Rp) -> None:
    flow = authorize(agent, rp)
    cookie = flow.response.headers["set-cookie"]
    assert "HttpOnly" in cookie
    assert "SameSite=lax" in cookie
    assert "Secure" not in cookie  # http issuer (loopback sandbox)
    page = agent.get(flow.location)
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert page.headers["x-frame-options"] == "DENY"
    assert page.headers["referrer-policy"] == "no-referrer"
    assert page.headers["cache-control"] == "no-store"


def test_cookies_are_secure_when_the_issuer_is_https(settings: Settings, database: Database,
                                                     rp: Rp) -> None:
    https = load_settings(database_url=settings.database_url, seed=settings.seed,
                          issuer="https://vneid.sandbox.example")
    app = create_app(https, database=database, migrate_on_start=False)
    flow = authorize(browser(app), rp)
    assert "Secure" in flow.response.headers["set-cookie"]


def test_no_pin_or_secret_in_urls_or_logs(agent: TestClient, admin: dict[str, str], rp: Rp,
                                          citizen: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    flow = authorize(agent, rp, login_hint=citizen)
    locations = [flow.location]
    after_code = password_login(agent, admin, flow.location, citizen)
    locations.append(after_code.headers["location"])
    locations.append(approve_consent(agent, after_code.headers["location"]).headers["location"])
    assert not [url for url in locations if citizen in url]
    logged = "\n".join(record.getMessage() for record in caplog.records
                       if not record.name.startswith(("httpx", "httpcore")))  # the test's own
    assert citizen not in logged
    assert "Vneid@2025" not in logged


# --- QR login -------------------------------------------------------------------------------------


def _qr_handle(page: str) -> str:
    match = re.search(r'data-status-url="/oauth2/qr/([^"]+)"', page)
    assert match
    return match.group(1)


def test_qr_login_approved_by_the_bound_app_with_its_passcode(
        agent: TestClient, client: TestClient, rp: Rp, personas: dict[str, Any]) -> None:
    flow = authorize(agent, rp)
    page = agent.get(flow.location)
    handle = _qr_handle(page.text)
    assert client.get(f"/oauth2/qr/{handle}").json() == {"status": "pending"}
    app_auth = {"Authorization": f"Bearer {personas['citizen-l2']['device_token']}"}
    wrong = client.post(f"/oauth2/qr/{handle}/approve", json={"passcode": "000000"},
                        headers=app_auth)
    assert wrong.status_code == 403
    approved = client.post(f"/oauth2/qr/{handle}/approve", json={"passcode": "123456"},
                           headers=app_auth)
    assert approved.json() == {"status": "approved"}
    interaction = flow.location.rsplit("/", 1)[-1]
    done = agent.post(f"/oauth2/login/{interaction}/qr", data={"csrf": csrf_of(page.text)})
    assert done.status_code == 303
    if done.headers["location"].startswith("/oauth2/consent/"):
        done = approve_consent(agent, done.headers["location"])
    result = dict(re.findall(r"[?&](\w+)=([^&]*)", done.headers["location"]))
    assert "code" in result
    assert client.get(f"/oauth2/qr/{handle}").json() == {"status": "expired"}  # used up


def test_qr_login_needs_a_device_token_and_a_level_2_account(
        agent: TestClient, client: TestClient, admin: dict[str, str], rp: Rp,
        personas: dict[str, Any]) -> None:
    handle = _qr_handle(agent.get(authorize(agent, rp).location).text)
    anonymous = client.post(f"/oauth2/qr/{handle}/approve", json={"passcode": "123456"})
    assert anonymous.status_code == 401
    assert anonymous.json()["type"].endswith("/device-token-required")
    level1 = personas["citizen-l1"]["pin"]
    token = client.post(f"/v1/admin/accounts/{level1}/device", json={},
                        headers=admin).json()["device_token"]
    refused = client.post(f"/oauth2/qr/{handle}/approve", json={"passcode": "123456"},
                          headers={"Authorization": f"Bearer {token}"})
    assert refused.status_code == 403
    assert refused.json()["type"].endswith("/qr-login-needs-level-2")


def test_qr_codes_expire_and_can_be_denied(agent: TestClient, client: TestClient, rp: Rp,
                                           personas: dict[str, Any],
                                           clock: SandboxClock) -> None:
    clock.freeze()
    app_auth = {"Authorization": f"Bearer {personas['citizen-l2']['device_token']}"}
    denied = _qr_handle(agent.get(authorize(agent, rp).location).text)
    assert client.post(f"/oauth2/qr/{denied}/deny", headers=app_auth).json()["status"] == \
        "denied"
    late = _qr_handle(agent.get(authorize(agent, rp).location).text)
    clock.advance(timedelta(minutes=3))
    assert client.get(f"/oauth2/qr/{late}").json() == {"status": "expired"}
    assert client.post(f"/oauth2/qr/{late}/approve", json={"passcode": "123456"},
                       headers=app_auth).status_code == 404


def test_sandbox_helper_approves_a_qr_login_as_a_persona(
        agent: TestClient, client: TestClient, admin: dict[str, str], rp: Rp) -> None:
    flow = authorize(agent, rp)
    page = agent.get(flow.location)
    handle = _qr_handle(page.text)
    assert client.post(f"/v1/sandbox/qr/{handle}/approve", json={"persona": "citizen-l2"}
                       ).status_code == 401
    approved = client.post(f"/v1/sandbox/qr/{handle}/approve", json={"persona": "citizen-l2"},
                           headers=admin)
    assert approved.json() == {"status": "approved"}
    interaction = flow.location.rsplit("/", 1)[-1]
    done = agent.post(f"/oauth2/login/{interaction}/qr", data={"csrf": csrf_of(page.text)})
    assert done.status_code == 303


# --- consent --------------------------------------------------------------------------------------


def test_consent_is_recorded_with_who_what_when_and_how(
        agent: TestClient, client: TestClient, admin: dict[str, str], rp: Rp,
        citizen: str) -> None:
    tokens_for(agent, rp, citizen, scope="openid profile address")
    listed = client.get(f"/v1/admin/accounts/{citizen}/consents", headers=admin).json()
    latest = listed["consents"][0]
    assert (latest["client_id"], latest["purpose"], latest["method"]) == (
        rp.client_id, "login", "sandbox_header")
    assert latest["scopes"] == ["openid", "profile", "address"]
    assert latest["status"] == "granted"
    assert latest["granted_at"]


def test_withdrawing_consent_revokes_tokens_and_asks_again(
        agent: TestClient, client: TestClient, admin: dict[str, str], rp: Rp,
        citizen: str) -> None:
    body = tokens_for(agent, rp, citizen, scope="openid profile offline_access",
                      prompt="consent")
    consent_id = client.get(f"/v1/admin/accounts/{citizen}/consents",
                            headers=admin).json()["consents"][0]["id"]
    withdrawn = client.post(f"/v1/admin/consents/{consent_id}/withdraw", headers=admin)
    assert withdrawn.json()["status"] == "withdrawn"
    assert withdrawn.json()["withdrawn_by"] == "admin"
    assert userinfo(agent, body["access_token"]).status_code == 401
    assert refresh(agent, rp, body["refresh_token"]).json()["error"] == "invalid_grant"
    assert authorize(agent, rp).location.startswith("/oauth2/consent/")  # asked again
    again = client.post(f"/v1/admin/consents/{consent_id}/withdraw", headers=admin)
    assert again.status_code == 409


def test_the_citizen_withdraws_consent_on_their_page(
        agent: TestClient, admin: dict[str, str], rp: Rp, citizen: str) -> None:
    body = tokens_for(agent, rp, citizen)
    page = agent.get("/oauth2/account/consents?lang=en")
    assert page.status_code == 200
    assert "Withdraw" in page.text
    consent_id = re.search(r"/oauth2/account/consents/(\d+)/withdraw", page.text).group(1)
    forged = agent.post(f"/oauth2/account/consents/{consent_id}/withdraw", data={"csrf": "x"})
    assert forged.status_code == 403
    done = agent.post(f"/oauth2/account/consents/{consent_id}/withdraw",
                      data={"csrf": csrf_of(page.text)})
    assert done.status_code == 303
    assert userinfo(agent, body["access_token"]).status_code == 401


def test_the_citizens_app_lists_and_withdraws_consents(
        agent: TestClient, client: TestClient, admin: dict[str, str], rp: Rp,
        citizen: str) -> None:
    body = tokens_for(agent, rp, citizen)
    device = client.post(f"/v1/admin/accounts/{citizen}/device", json={},
                         headers=admin).json()["device_token"]
    app_auth = {"Authorization": f"Bearer {device}"}
    listed = client.get("/v1/me/consents", headers=app_auth).json()["consents"]
    mine = [c for c in listed if c["client_id"] == rp.client_id]
    assert mine
    withdrawn = client.post(f"/v1/me/consents/{mine[0]['id']}/withdraw", headers=app_auth)
    assert withdrawn.json()["withdrawn_by"] == "citizen"
    assert userinfo(agent, body["access_token"]).status_code == 401
    assert client.get("/v1/me/consents").status_code == 401


def test_the_consents_page_needs_a_login(agent: TestClient) -> None:
    assert agent.get("/oauth2/account/consents").status_code == 401


def test_interactions_long_expired_are_swept_as_new_ones_open(
        agent: TestClient, rp: Rp, database: Database, clock: SandboxClock,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """An authorization request needs no credentials and opens a row: a loop of them must not
    grow the table without end. Those expired over a day ago go; a recent one stays."""
    from sqlalchemy import select

    from app.models.oidc import LoginInteraction
    from app.services.vneid import sessions

    def opened() -> str:
        location = authorize(agent, rp).location
        assert location.startswith("/oauth2/login/"), location
        return location.rsplit("/", 1)[-1].split("?")[0]

    monkeypatch.setattr(sessions.secrets, "randbelow", lambda _: 1)  # no sweep yet
    old, recent = opened(), None
    clock.freeze(clock.now() + sessions.KEEP_EXPIRED + timedelta(hours=1))
    try:
        recent = opened()
        clock.freeze(clock.now() + timedelta(minutes=30))  # both expired now; one a day ago
        monkeypatch.setattr(sessions.secrets, "randbelow", lambda _: 0)  # this one sweeps
        newest = opened()
    finally:
        clock.reset()
    with database.read() as session:
        left = set(session.scalars(select(LoginInteraction.id).where(
            LoginInteraction.id.in_([old, recent, newest]))))
    assert left == {recent, newest}


def test_headless_logins_long_expired_are_swept_as_new_ones_are_made(
        agent: TestClient, rp: Rp, database: Database, clock: SandboxClock,
        personas: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    """A sandbox client's X-Sandbox-Login stores a login session and a code per request, both
    left unused here: a loop of them must not grow the tables without end. The unused codes
    expired over a day ago and the sessions expired over a refresh family's lifetime ago go; a
    redeemed code stays as long as a replay of it must still revoke what it gave."""
    from sqlalchemy import select

    from app.models.oidc import AuthorizationCode, BrowserSession
    from app.oidc.codes import opaque_hash
    from app.services.vneid import sessions
    from app.services.vneid.provider import SESSION_TTL

    def logged_in() -> tuple[str, str]:
        agent.cookies.clear()
        flow = authorize(agent, rp, pin=_pin(personas, "citizen-l2"))
        code_hash = opaque_hash(flow.result["code"])
        with database.read() as session:
            sid = session.scalar(select(AuthorizationCode.session_id).where(
                AuthorizationCode.code_hash == code_hash))
        assert sid
        return code_hash, sid

    monkeypatch.setattr(sessions.secrets, "randbelow", lambda _: 1)  # no sweep yet
    old = logged_in()
    start = clock.now()
    clock.freeze(start + timedelta(days=2))
    try:
        unused = logged_in()  # expired over a day ago at the end: goes
        redeemed_flow = authorize(agent, rp, pin=_pin(personas, "citizen-l2"))
        assert redeem(agent, rp, redeemed_flow).status_code == 200
        redeemed = opaque_hash(redeemed_flow.result["code"])  # a replay still revokes: stays
        clock.freeze(start + SESSION_TTL + sessions.KEEP_EXPIRED_SESSIONS + timedelta(hours=1))
        recent = logged_in()
        clock.freeze(clock.now() + timedelta(minutes=30))  # both codes expired, one long ago
        monkeypatch.setattr(sessions.secrets, "randbelow", lambda _: 0)  # this one sweeps
        newest = logged_in()
    finally:
        clock.reset()
    flows = [old, unused, recent, newest]
    with database.read() as session:
        codes = set(session.scalars(select(AuthorizationCode.code_hash).where(
            AuthorizationCode.code_hash.in_([redeemed, *(code for code, _ in flows)]))))
        logins = set(session.scalars(select(BrowserSession.id).where(
            BrowserSession.id.in_([sid for _, sid in flows]))))
    assert codes == {redeemed, recent[0], newest[0]}
    assert logins == {unused[1], recent[1], newest[1]}


def test_a_page_login_that_sweeps_keeps_working_with_its_interaction_loaded(
        agent: TestClient, admin: dict[str, str], rp: Rp, citizen: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The sweep runs in the transaction that starts the login session, where the interaction
    is already loaded: an ORM delete compared its (naive, on SQLite) expiry with the aware clock
    in Python and the login failed with a 500, once in 256 logins."""
    from app.services.vneid import sessions

    monkeypatch.setattr(sessions.secrets, "randbelow", lambda _: 0)  # every new row sweeps
    flow = authorize(agent, rp)
    after_code = password_login(agent, admin, flow.location, citizen)
    assert after_code.status_code in (302, 303), after_code.text
    assert after_code.headers["location"].startswith("/oauth2/consent/")


def test_the_sweeps_deletes_find_their_rows_through_the_expiry_indexes(
    database: Database, clock: SandboxClock
) -> None:
    """Each of the sweep's deletes (one new row in 256) reads its table through the table's
    ``expires_at`` index, not a scan of the whole table (migration 0020): the plan of every
    statement the sweep sends names the index of its table."""
    from sqlalchemy import event

    from app.services.vneid import sessions

    sent: list[tuple[str, Any]] = []

    def remember(conn, cursor, statement, parameters, context, executemany) -> None:
        sent.append((statement, parameters))

    with database.write() as session:
        connection = session.connection()
        event.listen(connection, "before_cursor_execute", remember)
        try:
            sessions.sweep_interactions(session, now=clock.now())
        finally:
            event.remove(connection, "before_cursor_execute", remember)
        session.rollback()
    deletes = [(sql, parameters) for sql, parameters in sent if sql.startswith("DELETE")]
    assert len(deletes) == 4
    with database.engine.connect() as connection:
        if not database.is_sqlite:
            connection.exec_driver_sql("SET enable_seqscan = off")  # small test tables
        for sql, parameters in deletes:
            table = sql.split()[2]
            explain = "EXPLAIN QUERY PLAN" if database.is_sqlite else "EXPLAIN"
            rows = connection.exec_driver_sql(f"{explain} {sql}", parameters).all()
            plan = " ".join(str(row[-1] if database.is_sqlite else row[0]) for row in rows)
            assert f"ix_{table}_expires_at" in plan, (sql, plan)
