"""Tokens after the login: JWT attacks at every endpoint that accepts a token, introspection,
revocation, code and refresh-token reuse under concurrency, private_key_jwt, key rotation,
pairwise subjects and what tokens never contain, and RP-initiated logout."""

from __future__ import annotations

import base64
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from joserfc import jwt
from joserfc.jwk import ECKey

from app.clock import SandboxClock
from app.db import Database
from app.oidc import errors as oauth
from app.oidc.client_auth import CLIENT_ASSERTION_TYPE
from app.oidc.keys import ES256, RS256, SigningKey
from app.services.kit import keys
from app.services.kit.keys import KeyStore
from app.services.sharing import tokens
from app.settings import Settings
from tests.api.oidc_support import *  # noqa: F403
from tests.api.oidc_support import (
    Rp,
    auth_params,
    authorize,
    browser,
    citizen_without_account,
    jwt_claims,
    jwt_header,
    pkce_pair,
    redeem,
    refresh,
    register_rp,
    tokens_for,
    userinfo,
)
from tests.unit.oidc.support import b64json, forge, forge_hs256, forge_with

REALM_CHALLENGE = 'Bearer realm="dancu", error="invalid_token"'


@pytest.fixture(scope="module")
def rp(client: TestClient, admin: dict[str, str]) -> Rp:
    return register_rp(client, admin, name="Token tests RP")


@pytest.fixture(scope="module")
def other_rp(client: TestClient, admin: dict[str, str]) -> Rp:
    return register_rp(client, admin, name="Another RP")


@pytest.fixture
def agent(app: FastAPI) -> TestClient:
    return browser(app)


@pytest.fixture
def pin(personas: dict[str, Any]) -> str:
    return str(personas["citizen-l2"]["pin"])


def _signer(database: Database, alg: str = ES256) -> SigningKey:
    with database.read() as session:
        ring = keys.load_ring(session)
    return ring.signing_key(alg, now=_now())


def _now() -> Any:
    from app.clock import system_now
    return system_now()


def _introspect(agent: TestClient, rp: Rp, token: str, **extra: str) -> Any:
    headers, form = rp.auth({"token": token, **extra})
    return agent.post("/oauth2/introspect", data=form, headers=headers)


def _revoke(agent: TestClient, rp: Rp, token: str, **extra: str) -> Any:
    headers, form = rp.auth({"token": token, **extra})
    return agent.post("/oauth2/revoke", data=form, headers=headers)


# --- the JWT attack corpus, at every endpoint that takes a token --------------------------------


Attack = Callable[[dict[str, Any], Database, Settings], str]


def _claims_of(body: dict[str, Any]) -> dict[str, Any]:
    return jwt_claims(body["access_token"])


def _alg_none(body: dict[str, Any], database: Database, settings: Settings) -> str:
    header = {**jwt_header(body["access_token"]), "alg": "none"}
    return forge(header, _claims_of(body))


def _hs_rs_confusion(body: dict[str, Any], database: Database, settings: Settings) -> str:
    rsa = _signer(database, RS256)
    public_pem = rsa.jwk.as_pem(private=False)
    return forge_hs256({"alg": "HS256", "kid": rsa.kid, "typ": "at+jwt"}, _claims_of(body),
                       public_pem)


def _wrong_kid(body: dict[str, Any], database: Database, settings: Settings) -> str:
    return forge_with(_signer(database), {"kid": "no-such-key"}, _claims_of(body))


def _unknown_key(body: dict[str, Any], database: Database, settings: Settings) -> str:
    stranger = ECKey.generate_key("P-256")
    header = {"alg": "ES256", "kid": _signer(database).kid, "typ": "at+jwt"}
    return forge(header, _claims_of(body), private_key=stranger.private_key)


def _embedded_jwk(body: dict[str, Any], database: Database, settings: Settings) -> str:
    stranger = ECKey.generate_key("P-256")
    header = {"alg": "ES256", "typ": "at+jwt", "jwk": stranger.as_dict(private=False)}
    return forge(header, _claims_of(body), private_key=stranger.private_key)


def _expired(body: dict[str, Any], database: Database, settings: Settings) -> str:
    claims = _claims_of(body)
    return forge_with(_signer(database), {}, {**claims, "iat": claims["iat"] - 7200,
                                              "exp": claims["iat"] - 3600})


def _wrong_audience(body: dict[str, Any], database: Database, settings: Settings) -> str:
    return forge_with(_signer(database), {}, {**_claims_of(body),
                                              "aud": settings.issuer_url + "/v1"})


def _wrong_issuer(body: dict[str, Any], database: Database, settings: Settings) -> str:
    return forge_with(_signer(database), {}, {**_claims_of(body),
                                              "iss": settings.issuer_url + ".evil"})


def _tampered(body: dict[str, Any], database: Database, settings: Settings) -> str:
    head, _, signature = body["access_token"].split(".")
    payload = {**_claims_of(body), "scope": "openid profile vneid.identity email"}
    return f"{head}.{b64json(payload)}.{signature}"


def _id_token(body: dict[str, Any], database: Database, settings: Settings) -> str:
    return str(body["id_token"])


def _client_credentials(body: dict[str, Any], database: Database, settings: Settings) -> str:
    return str(body["cc_token"])


ATTACKS: dict[str, Attack] = {
    "alg_none": _alg_none, "hs_rs_confusion": _hs_rs_confusion, "wrong_kid": _wrong_kid,
    "unknown_signing_key": _unknown_key, "embedded_jwk": _embedded_jwk, "expired": _expired,
    "wrong_audience": _wrong_audience, "wrong_issuer": _wrong_issuer,
    "tampered_payload": _tampered, "id_token_as_access_token": _id_token,
    "client_credentials_token": _client_credentials,
}


@pytest.fixture(scope="module")
def issued(client: TestClient, app: FastAPI, admin: dict[str, str], rp: Rp,
           personas: dict[str, Any], settings: Settings) -> dict[str, Any]:
    body = tokens_for(browser(app), rp, personas["citizen-l2"]["pin"],
                      scope="openid profile vneid.identity")
    raw = f"{settings.demo_client_id}:{settings.demo_client_secret}".encode()
    cc = client.post("/oauth2/token", data={"grant_type": "client_credentials"},
                     headers={"Authorization": "Basic " + base64.b64encode(raw).decode()})
    return {**body, "cc_token": cc.json()["access_token"]}


@pytest.mark.parametrize("attack", ATTACKS)
def test_jwt_attacks_are_refused_at_userinfo(agent: TestClient, issued: dict[str, Any],
                                             database: Database, settings: Settings,
                                             attack: str) -> None:
    assert userinfo(agent, issued["access_token"]).status_code == 200  # the genuine one works
    response = userinfo(agent, ATTACKS[attack](issued, database, settings))
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith(REALM_CHALLENGE)


def test_a_client_credentials_token_at_userinfo_is_told_it_is_not_a_users_token(
        agent: TestClient, issued: dict[str, Any]) -> None:
    response = userinfo(agent, issued["cc_token"])
    assert (response.status_code, response.json()["error"]) == (401, "invalid_token")
    assert "not a user's token" in response.json()["error_description"]
    forged = userinfo(agent, issued["cc_token"][:-4] + "AAAA")
    assert "not a user's token" not in forged.json()["error_description"]


# A token genuinely signed by the provider for another audience is still a live token: RFC 7662
# answers for any audience (the resource server checks ``aud``), so that case is left out here.
@pytest.mark.parametrize("attack", [a for a in ATTACKS
                                    if a not in ("client_credentials_token", "wrong_audience")])
def test_jwt_attacks_are_inactive_at_introspection(agent: TestClient, issued: dict[str, Any],
                                                   rp: Rp, database: Database,
                                                   settings: Settings, attack: str) -> None:
    assert _introspect(agent, rp, issued["access_token"]).json()["active"] is True
    response = _introspect(agent, rp, ATTACKS[attack](issued, database, settings))
    assert response.status_code == 200
    assert response.json() == {"active": False}


@pytest.mark.parametrize("attack", [a for a in ATTACKS if a != "client_credentials_token"])
def test_jwt_attacks_and_user_tokens_are_refused_by_the_data_api(
        client: TestClient, issued: dict[str, Any], database: Database, settings: Settings,
        pin: str, attack: str) -> None:
    path = f"/v1/citizens/{pin}"
    assert client.get(path, headers={"Authorization": f"Bearer {issued['cc_token']}"}
                      ).status_code == 200
    for token in (issued["access_token"], ATTACKS[attack](issued, database, settings)):
        response = client.get(path, headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 401


@pytest.mark.parametrize("attack", ["alg_none", "wrong_kid", "unknown_signing_key",
                                    "wrong_issuer", "tampered_payload"])
def test_forged_id_token_hints_are_refused(agent: TestClient, issued: dict[str, Any], rp: Rp,
                                           database: Database, settings: Settings,
                                           attack: str) -> None:
    forged_body = {**issued, "access_token": issued["id_token"]}
    hint = ATTACKS[attack](forged_body, database, settings).replace('"at+jwt"', '"JWT"')
    flow = authorize(agent, rp, prompt="none", id_token_hint=hint)
    assert flow.result["error"] in ("invalid_request", "login_required")
    logout = agent.get("/oauth2/logout", params={"id_token_hint": hint})
    assert logout.status_code == 400


def test_an_access_token_is_not_an_id_token_hint(agent: TestClient, issued: dict[str, Any],
                                                 rp: Rp) -> None:
    flow = authorize(agent, rp, prompt="none", id_token_hint=issued["access_token"])
    assert flow.result["error"] == "invalid_request"


def test_userinfo_refuses_tokens_in_the_query_and_answers_rfc_6750(
        agent: TestClient, issued: dict[str, Any]) -> None:
    query = agent.get("/oauth2/userinfo", params={"access_token": issued["access_token"]})
    assert query.status_code == 400
    assert query.json()["error"] == "invalid_request"
    missing = agent.get("/oauth2/userinfo")
    assert missing.status_code == 401
    assert missing.headers["www-authenticate"] == 'Bearer realm="dancu"'
    both = agent.post("/oauth2/userinfo", data={"access_token": issued["access_token"]},
                      headers={"Authorization": f"Bearer {issued['access_token']}"})
    assert both.status_code == 400


def test_userinfo_without_a_token_answers_the_challenge_with_an_empty_body(
        agent: TestClient) -> None:
    """RFC 6750 §3.1: a request without authentication is told the challenge, no error code;
    the body was the JSON ``null``."""
    for missing in (agent.get("/oauth2/userinfo"), agent.post("/oauth2/userinfo")):
        assert missing.status_code == 401
        assert missing.headers["www-authenticate"] == 'Bearer realm="dancu"'
        assert missing.content == b""
        assert "content-type" not in missing.headers


# --- what tokens carry ----------------------------------------------------------------------------


def test_sub_is_pairwise_per_client_and_never_the_pin(agent: TestClient, rp: Rp, other_rp: Rp,
                                                      pin: str) -> None:
    one = jwt_claims(tokens_for(agent, rp, pin)["id_token"])["sub"]
    two = jwt_claims(tokens_for(agent, other_rp, pin)["id_token"])["sub"]
    assert one != two
    assert pin not in (one, two)
    assert one == jwt_claims(tokens_for(agent, rp, pin)["id_token"])["sub"]  # stable


def test_tokens_carry_no_personal_or_sensitive_data(agent: TestClient, rp: Rp, pin: str) -> None:
    body = tokens_for(agent, rp, pin, scope="openid profile vneid.identity address phone email")
    for token in (body["id_token"], body["access_token"]):
        text = base64.urlsafe_b64decode(token.split(".")[1] + "==").decode()
        assert pin not in text
        for name in ("name", "SoDinhDanh", "HoVaTen", "ethnicity", "religion", "DanToc",
                     "TonGiao", "birthdate", "phone_number", "address", "preferred_username"):
            assert f'"{name}"' not in text


def test_vneid_claim_names_and_no_sensitive_claims_in_userinfo(agent: TestClient, rp: Rp,
                                                               pin: str) -> None:
    body = tokens_for(agent, rp, pin, scope="openid profile vneid.identity")
    claims = userinfo(agent, body["access_token"]).json()
    assert claims["SoDinhDanh"] == pin
    assert len(claims["NgayThangNamSinh"]) == 8
    assert claims["HoVaTen"] == claims["name"]
    assert claims["LoaiTaiKhoan"] == 1
    assert not {"ethnicity", "religion", "blood_group", "DanToc", "TonGiao", "NhomMau",
                "preferred_username", "picture"} & claims.keys()


def test_an_rs256_client_gets_rs256_tokens(client: TestClient, admin: dict[str, str],
                                           agent: TestClient, pin: str) -> None:
    rs = register_rp(client, admin, signing_alg="RS256")
    body = tokens_for(agent, rs, pin)
    assert jwt_header(body["id_token"])["alg"] == "RS256"
    assert jwt_header(body["access_token"])["alg"] == "RS256"
    assert userinfo(agent, body["access_token"]).status_code == 200


# --- introspection and revocation -----------------------------------------------------------------


def test_introspection_shows_a_token_to_its_client_only(agent: TestClient, rp: Rp,
                                                        other_rp: Rp, pin: str) -> None:
    body = tokens_for(agent, rp, pin, scope="openid offline_access", prompt="consent")
    active = _introspect(agent, rp, body["access_token"]).json()
    assert active["active"] is True
    assert active["client_id"] == rp.client_id
    assert active["scope"] == "openid offline_access"
    assert active["acr"] == "LoA2"
    assert "username" not in active
    assert _introspect(agent, other_rp, body["access_token"]).json() == {"active": False}
    hinted = _introspect(agent, rp, body["refresh_token"], token_type_hint="refresh_token")
    assert hinted.json()["active"] is True
    assert _introspect(agent, rp, "not-a-token").json() == {"active": False}


def test_introspection_and_revocation_need_client_authentication(agent: TestClient,
                                                                 rp: Rp) -> None:
    for path in ("/oauth2/introspect", "/oauth2/revoke"):
        anonymous = agent.post(path, data={"token": "x"})
        assert anonymous.status_code == 401
        assert anonymous.json()["error"] == "invalid_client"
        wrong = agent.post(path, data={"token": "x"}, auth=(rp.client_id, "wrong-secret"))
        assert wrong.status_code == 401
        assert wrong.headers["www-authenticate"].startswith("Basic")


def test_revoking_an_access_token_stops_it_at_once(agent: TestClient, rp: Rp, pin: str) -> None:
    body = tokens_for(agent, rp, pin)
    assert _revoke(agent, rp, body["access_token"]).status_code == 200
    assert userinfo(agent, body["access_token"]).status_code == 401
    assert _introspect(agent, rp, body["access_token"]).json() == {"active": False}


def test_revoking_a_refresh_token_revokes_its_family(agent: TestClient, rp: Rp, pin: str) -> None:
    body = tokens_for(agent, rp, pin, scope="openid offline_access", prompt="consent")
    rotated = refresh(agent, rp, body["refresh_token"]).json()
    assert _revoke(agent, rp, rotated["refresh_token"],
                   token_type_hint="refresh_token").status_code == 200
    assert refresh(agent, rp, rotated["refresh_token"]).json()["error"] == "invalid_grant"
    assert userinfo(agent, rotated["access_token"]).status_code == 401


def test_revocation_ignores_unknown_and_foreign_tokens(agent: TestClient, rp: Rp,
                                                       other_rp: Rp, pin: str) -> None:
    body = tokens_for(agent, rp, pin)
    assert _revoke(agent, rp, "not-a-token").status_code == 200
    assert _revoke(agent, other_rp, body["access_token"]).status_code == 200
    assert userinfo(agent, body["access_token"]).status_code == 200  # not other_rp's to revoke


def test_client_credentials_tokens_are_not_revocable(agent: TestClient, issued: dict[str, Any],
                                                     settings: Settings) -> None:
    demo = Rp(settings.demo_client_id, settings.demo_client_secret)
    response = _revoke(agent, demo, issued["cc_token"])
    assert response.status_code == 400
    assert response.json()["error"] == "unsupported_token_type"


# --- reuse and concurrency ------------------------------------------------------------------------


def test_a_reused_refresh_token_revokes_the_family(agent: TestClient, rp: Rp, pin: str) -> None:
    body = tokens_for(agent, rp, pin, scope="openid offline_access", prompt="consent")
    first = refresh(agent, rp, body["refresh_token"]).json()
    replay = refresh(agent, rp, body["refresh_token"])
    assert replay.json()["error"] == "invalid_grant"
    assert refresh(agent, rp, first["refresh_token"]).json()["error"] == "invalid_grant"
    assert userinfo(agent, first["access_token"]).status_code == 401


def test_a_refresh_request_cannot_widen_the_scope(agent: TestClient, rp: Rp, pin: str) -> None:
    body = tokens_for(agent, rp, pin, scope="openid offline_access", prompt="consent")
    wider = refresh(agent, rp, body["refresh_token"], scope="openid profile offline_access")
    assert wider.json()["error"] == "invalid_scope"
    narrower = refresh(agent, rp, body["refresh_token"], scope="openid")
    assert narrower.json()["scope"] == "openid"


def test_an_expired_code_is_invalid_grant(agent: TestClient, rp: Rp, pin: str,
                                          clock: SandboxClock) -> None:
    clock.freeze()
    flow = authorize(agent, rp, pin=pin)
    clock.advance(timedelta(seconds=61))
    assert redeem(agent, rp, flow).json()["error"] == "invalid_grant"


def test_a_code_is_bound_to_its_client_and_redirect_uri(agent: TestClient, rp: Rp,
                                                        other_rp: Rp, pin: str) -> None:
    flow = authorize(agent, rp, pin=pin)
    assert redeem(agent, other_rp, flow).json()["error"] == "invalid_grant"
    assert redeem(agent, rp, flow, redirect_uri="http://localhost:8765/callback").json()[
        "error"] == "invalid_grant"
    assert redeem(agent, rp, flow).status_code == 200


@pytest.mark.parametrize("verifier", ["", "short", pkce_pair()[0]],
                         ids=["missing", "malformed", "another"])
def test_a_failed_pkce_verification_spends_the_code(agent: TestClient, rp: Rp, pin: str,
                                                    verifier: str) -> None:
    """RFC 9700 §4.5: whoever sends a code without its verifier may have intercepted it."""
    flow = authorize(agent, rp, pin=pin)
    assert redeem(agent, rp, flow, code_verifier=verifier).json()["error"] == "invalid_grant"
    late = redeem(agent, rp, flow)
    assert (late.status_code, late.json()["error"]) == (400, "invalid_grant")


def test_a_failed_pkce_verification_of_a_used_code_revokes_its_tokens(
        agent: TestClient, rp: Rp, pin: str) -> None:
    flow = authorize(agent, rp, pin=pin)
    issued = redeem(agent, rp, flow).json()
    assert userinfo(agent, issued["access_token"]).status_code == 200
    assert redeem(agent, rp, flow, code_verifier=pkce_pair()[0]).status_code == 400
    assert userinfo(agent, issued["access_token"]).status_code == 401


def _race(database: Database, settings: Settings, form: dict[str, str], rp: Rp,
          threads: int = 16) -> list[str]:
    """Send the same token request from ``threads`` threads at once; their outcomes."""
    store, barrier, outcomes = KeyStore(database), threading.Barrier(threads), []
    headers, form = rp.auth(form)
    request = tokens.TokenRequest(form, headers.get("Authorization"))

    def one() -> None:
        barrier.wait()
        try:
            with database.write() as session:
                tokens.token_response(session, request, settings=settings, keys=store,
                                      now=_now())
            outcomes.append("issued")
        except oauth.OAuthError as error:
            outcomes.append(error.error)

    workers = [threading.Thread(target=one) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
    return outcomes


def test_concurrent_redemptions_of_one_code_issue_exactly_one_token(
        agent: TestClient, rp: Rp, pin: str, database: Database, settings: Settings) -> None:
    flow = authorize(agent, rp, pin=pin)
    outcomes = _race(database, settings, {
        "grant_type": "authorization_code", "code": flow.result["code"],
        "redirect_uri": flow.params["redirect_uri"], "code_verifier": flow.verifier}, rp)
    assert len(outcomes) == 16
    assert outcomes.count("issued") == 1
    assert set(outcomes) == {"issued", "invalid_grant"}


def test_concurrent_refreshes_with_one_token_rotate_it_once(
        agent: TestClient, rp: Rp, pin: str, database: Database, settings: Settings) -> None:
    body = tokens_for(agent, rp, pin, scope="openid offline_access", prompt="consent")
    outcomes = _race(database, settings, {"grant_type": "refresh_token",
                                          "refresh_token": body["refresh_token"]}, rp)
    assert outcomes.count("issued") == 1


# --- private_key_jwt ------------------------------------------------------------------------------


def _assertion(key: ECKey, client_id: str, audience: str, jti: str) -> str:
    now = int(time.time())
    claims = {"iss": client_id, "sub": client_id, "aud": audience, "jti": jti,
              "iat": now, "exp": now + 60}
    return jwt.encode({"alg": "ES256", "kid": key.kid}, claims, key, algorithms=["ES256"])


def test_private_key_jwt_client_redeems_a_code_and_a_replayed_assertion_fails(
        client: TestClient, admin: dict[str, str], agent: TestClient, pin: str,
        settings: Settings) -> None:
    key = ECKey.generate_key("P-256", auto_kid=True)
    created = client.post("/v1/admin/clients", headers=admin, json={
        "name": "Key client", "scopes": ["openid", "profile"], "purposes": ["login"],
        "sandbox": True, "grant_types": ["authorization_code"],
        "redirect_uris": ["http://127.0.0.1:8765/callback"],
        "token_endpoint_auth_method": "private_key_jwt",
        "jwks": {"keys": [key.as_dict(private=False)]}}).json()
    key_rp = Rp(created["client_id"], None, method="private_key_jwt")
    flow = authorize(agent, key_rp, pin=pin)
    assertion = _assertion(key, key_rp.client_id, settings.issuer_url, "jti-1")
    form = {"grant_type": "authorization_code", "code": flow.result["code"],
            "redirect_uri": flow.params["redirect_uri"], "code_verifier": flow.verifier,
            "client_assertion_type": CLIENT_ASSERTION_TYPE, "client_assertion": assertion}
    assert agent.post("/oauth2/token", data=form).status_code == 200
    second = authorize(agent, key_rp, pin=pin)
    replay = agent.post("/oauth2/token", data={**form, "code": second.result["code"],
                                               "code_verifier": second.verifier})
    assert replay.status_code == 401
    assert replay.json()["error"] == "invalid_client"


# --- key rotation ---------------------------------------------------------------------------------


def test_tokens_signed_before_a_key_rotation_keep_working(
        client: TestClient, admin: dict[str, str], agent: TestClient, rp: Rp, pin: str,
        app: FastAPI) -> None:
    before = tokens_for(agent, rp, pin)
    old_kid = jwt_header(before["id_token"])["kid"]
    rotated = client.post("/v1/admin/keys/ES256/rotate", headers=admin)
    assert rotated.status_code == 200
    new_kid = rotated.json()["kid"]
    published = {k["kid"] for k in client.get("/.well-known/jwks.json").json()["keys"]}
    assert {old_kid, new_kid} <= published
    assert userinfo(agent, before["access_token"]).status_code == 200
    after = tokens_for(agent, rp, pin)
    assert jwt_header(after["id_token"])["kid"] == new_kid


# --- RP-initiated logout --------------------------------------------------------------------------


def test_logout_with_a_hint_ends_the_session_and_returns_with_state(
        agent: TestClient, rp: Rp, pin: str) -> None:
    body = tokens_for(agent, rp, pin)
    target = "http://127.0.0.1:8765/logged-out"
    response = agent.get("/oauth2/logout", params={
        "id_token_hint": body["id_token"], "post_logout_redirect_uri": target, "state": "bye"})
    assert response.status_code == 303
    assert response.headers["location"] == f"{target}?state=bye"
    assert authorize(agent, rp, prompt="none").result["error"] == "login_required"


def test_logout_refuses_an_unregistered_post_logout_redirect_uri(
        agent: TestClient, rp: Rp, pin: str) -> None:
    body = tokens_for(agent, rp, pin)
    for uri in ("https://evil.example/", "http://127.0.0.1:8765/logged-out/",
                "http://127.0.0.1:8765/logged-out?x=1"):
        response = agent.get("/oauth2/logout", params={
            "id_token_hint": body["id_token"], "post_logout_redirect_uri": uri})
        assert response.status_code == 400
        assert "location" not in response.headers
    no_client = agent.get("/oauth2/logout",
                          params={"post_logout_redirect_uri": "http://127.0.0.1:8765/logged-out"})
    assert no_client.status_code == 400


def test_logout_without_a_hint_asks_the_citizen_to_confirm(agent: TestClient, rp: Rp,
                                                           pin: str) -> None:
    tokens_for(agent, rp, pin)
    page = agent.get("/oauth2/logout", params={"ui_locales": "en"})
    assert page.status_code == 200
    assert "Do you want to log out" in page.text
    forged = agent.post("/oauth2/logout", data={"confirm": "nope"})
    assert 'id="logout-confirm"' in forged.text  # asked again: a forged form logs nobody out
    assert "code" in authorize(agent, rp, prompt="none").result
    confirm = page.text.split('name="confirm" value="')[1].split('"')[0]
    done = agent.post("/oauth2/logout", data={"confirm": confirm, "ui_locales": "en"})
    assert "You are logged out" in done.text
    assert authorize(agent, rp, prompt="none").result["error"] == "login_required"


def test_a_login_waiting_for_sqlites_write_lock_does_not_stall_the_event_loop(
        client: TestClient, rp: Rp, pin: str, database: Database, is_postgres: bool) -> None:
    """Another connection holds SQLite's write lock: the authorization waits for its turn in a
    worker thread, and the same event loop still answers other requests meanwhile."""
    if is_postgres:
        pytest.skip("SQLite's single writer lock")
    blocker = database.engine.connect()
    blocker.begin()  # BEGIN IMMEDIATE: holds the write lock
    outcome: list[Any] = []
    params, _ = auth_params(rp)
    waiting = threading.Thread(target=lambda: outcome.append(client.get(
        "/oauth2/authorize", params=params, headers={"X-Sandbox-Login": pin},
        follow_redirects=False)))  # the app's own event loop (the session's client)
    waiting.start()
    try:
        waiting.join(timeout=0.5)
        assert waiting.is_alive()  # it waits for the lock ...
        assert client.get("/healthz").status_code == 200  # ... the loop does not
    finally:
        blocker.rollback()
        blocker.close()
    waiting.join(timeout=30)
    assert "code=" in outcome[0].headers["location"]


# --- only the writes queue for SQLite's writer lock (app.services.storage.phases) ---


def _holding_sqlites_write_lock(database: Database, is_postgres: bool) -> Any:
    if is_postgres:
        pytest.skip("SQLite's single writer lock")
    blocker = database.engine.connect()
    blocker.begin()  # BEGIN IMMEDIATE: holds the write lock
    return blocker


def _answered_while(blocker: Any, request: Callable[[], Any]) -> Any:
    """``request`` run in a thread while ``blocker`` holds the lock; its answer, which must come
    before the lock is released."""
    outcome: list[Any] = []
    asking = threading.Thread(target=lambda: outcome.append(request()))
    asking.start()
    try:
        asking.join(timeout=20)
        answered_under_lock = not asking.is_alive()
    finally:
        blocker.rollback()
        blocker.close()
    asking.join(timeout=30)
    assert answered_under_lock, "the request waited for the writer lock"
    return outcome[0]


def test_token_requests_refused_on_their_checks_do_not_wait_for_sqlites_writer_lock(
        agent: TestClient, rp: Rp, pin: str, database: Database, is_postgres: bool) -> None:
    flow = authorize(agent, rp, pin=pin)
    blocker = _holding_sqlites_write_lock(database, is_postgres)
    elsewhere = "http://127.0.0.1:8765/elsewhere"
    wrong = _answered_while(blocker, lambda: redeem(agent, rp, flow, redirect_uri=elsewhere))
    assert (wrong.status_code, wrong.json()["error"]) == (400, "invalid_grant")
    assert redeem(agent, rp, flow).status_code == 200  # the refusal spent nothing


def test_a_refused_authorization_request_does_not_wait_for_sqlites_writer_lock(
        agent: TestClient, rp: Rp, pin: str, database: Database, is_postgres: bool) -> None:
    blocker = _holding_sqlites_write_lock(database, is_postgres)
    refused = _answered_while(blocker, lambda: authorize(
        agent, rp, pin=pin, code_challenge_method="plain"))
    assert refused.result["error"] == "invalid_request"


def test_client_credentials_tokens_do_not_wait_for_sqlites_writer_lock(
        client: TestClient, issued: dict[str, Any], database: Database, settings: Settings,
        is_postgres: bool, clock: SandboxClock) -> None:
    """Once the process holds a lease of the client's quota (a write every 1 % of the limit, the
    first one here, before the lock is taken), a token is issued on reads alone."""
    clock.freeze()  # one quota window for both requests
    raw = f"{settings.demo_client_id}:{settings.demo_client_secret}".encode()
    headers = {"Authorization": "Basic " + base64.b64encode(raw).decode()}
    leased = client.post("/oauth2/token", data={"grant_type": "client_credentials"},
                         headers=headers)
    assert leased.status_code == 200, leased.text
    blocker = _holding_sqlites_write_lock(database, is_postgres)
    answer = _answered_while(blocker, lambda: client.post(
        "/oauth2/token", data={"grant_type": "client_credentials"}, headers=headers))
    assert answer.status_code == 200, answer.text


def _fresh_account(client: TestClient, admin: dict[str, str], database: Database) -> str:
    adult = citizen_without_account(database, min_age=25, max_age=60, valid_card=True)
    opened = client.post("/v1/admin/accounts", json={"pin": adult, "level": 2}, headers=admin)
    assert opened.status_code == 201, opened.text
    return adult


def test_a_sandbox_login_after_a_lock_lapsed_lifts_the_lock_and_issues_a_code(
        client: TestClient, agent: TestClient, admin: dict[str, str], rp: Rp,
        database: Database, clock: SandboxClock) -> None:
    """The read phase meets a lock whose term has passed (lifting it is a write): the login runs
    in one writing transaction instead, and succeeds."""
    adult = _fresh_account(client, admin, database)
    clock.freeze()
    until = (clock.now() + timedelta(days=1)).isoformat()
    locked = client.post(f"/v1/admin/accounts/{adult}/lock", headers=admin,
                         json={"reason": "authority", "until": until})
    assert locked.status_code == 200, locked.text
    assert authorize(agent, rp, pin=adult).result["error"] == "access_denied"
    clock.advance(timedelta(days=1, seconds=1))
    assert "code" in authorize(agent, rp, pin=adult).result
    account = client.get(f"/v1/admin/accounts/{adult}", headers=admin).json()
    assert account["state"] == "active"


def test_a_code_whose_account_was_locked_after_login_is_refused_and_spent(
        client: TestClient, agent: TestClient, admin: dict[str, str], rp: Rp,
        database: Database) -> None:
    adult = _fresh_account(client, admin, database)
    flow = authorize(agent, rp, pin=adult)
    assert "code" in flow.result
    lock = client.post(f"/v1/admin/accounts/{adult}/lock", headers=admin,
                       json={"reason": "authority"})
    assert lock.status_code == 200, lock.text
    refused = redeem(agent, rp, flow)
    assert (refused.status_code, refused.json()["error"]) == (400, "invalid_grant")
    assert "no longer log in" in refused.json()["error_description"]
    assert client.post(f"/v1/admin/accounts/{adult}/unlock", headers=admin,
                       json={}).status_code == 200
    again = redeem(agent, rp, flow)
    assert again.json()["error_description"] == "The authorization code has already been used."
