"""Ending login sessions on demand: the citizen, in the VNeID app (``/v1/me/sessions``, the
bound-device token), and an administrator (``/v1/admin/accounts/{pin}/sessions``) list the
account's live VNeID login sessions with the relying parties each signed in to, and end one or
all of them: the session ends, its refresh and access tokens are revoked, and the relying parties
registered for Back-Channel Logout get a logout token."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from joserfc import jwt
from joserfc.jwk import KeySet

from app.db import Database
from tests.api.events_support import Receiver, running_receiver
from tests.api.oidc_support import *  # noqa: F403
from tests.api.oidc_support import (
    Rp,
    authorize,
    browser,
    citizen_with_contact,
    jwt_claims,
    logouts_delivered,
    query_of,
    redeem,
    refresh,
    register_rp,
    tokens_for,
    userinfo,
)

PROBLEM = "https://dancu.sandbox/problems/"


@pytest.fixture(scope="module")
def listening() -> Iterator[Receiver]:
    yield from running_receiver(Receiver(status=200))


@pytest.fixture
def receiver(listening: Receiver, app: FastAPI) -> Receiver:
    logouts_delivered(app)
    listening.received.clear()
    return listening


@dataclass
class Citizen:
    pin: str
    app_headers: dict[str, str]  # the VNeID app's bound-device token


@pytest.fixture
def citizen(client: TestClient, admin: dict[str, str], database: Database) -> Citizen:
    pin = citizen_with_contact(database)
    opened = client.post("/v1/admin/accounts", headers=admin,
                         json={"pin": pin, "level": 2, "password": "Vneid@2025"})
    assert opened.status_code == 201, opened.text
    bound = client.post(f"/v1/admin/accounts/{pin}/device", headers=admin, json={})
    assert bound.status_code == 200, bound.text
    return Citizen(pin, {"Authorization": f"Bearer {bound.json()['device_token']}"})


@dataclass
class Login:
    """One browser's login session and the tokens a relying party got in it."""

    agent: TestClient
    rp: Rp
    tokens: dict[str, Any]

    @property
    def sid(self) -> str:
        return str(jwt_claims(self.tokens["id_token"])["sid"])


def _login(app: FastAPI, rp: Rp, pin: str) -> Login:
    agent = browser(app)
    return Login(agent, rp, tokens_for(agent, rp, pin, scope="openid offline_access",
                                       prompt="consent"))


def _logout_claims(receiver: Receiver, app: FastAPI, client: TestClient) -> list[dict[str, Any]]:
    logouts_delivered(app)
    keys = KeySet.import_key_set(client.get("/.well-known/jwks.json").json())
    claims = []
    for message in receiver.received:
        token = message.body.decode().removeprefix("logout_token=")
        claims.append(dict(jwt.decode(token, keys).claims))
    return claims


def _still_signed_in(login: Login) -> bool:
    """A prompt=none request from the login's browser gets a code (``False``: login_required)."""
    result = query_of(authorize(login.agent, login.rp, scope="openid", prompt="none").location)
    assert "code" in result or result.get("error") == "login_required", result
    return "code" in result


def test_the_citizen_lists_their_live_sessions_and_the_relying_parties_in_each(
        app: FastAPI, client: TestClient, admin: dict[str, str], citizen: Citizen) -> None:
    bank, shop = register_rp(client, admin, name="Bank"), register_rp(client, admin, name="Shop")
    second = _login(app, shop, citizen.pin)  # the citizen consents to the shop here
    first = _login(app, bank, citizen.pin)  # another browser
    again = authorize(first.agent, shop, scope="openid", prompt="none")  # SSO: the same session
    assert redeem(first.agent, shop, again).status_code == 200
    listed = client.get("/v1/me/sessions", headers=citizen.app_headers)
    assert listed.status_code == 200, listed.text
    sessions = {s["sid"]: s for s in listed.json()["sessions"]}
    assert set(sessions) == {first.sid, second.sid}
    assert sessions[first.sid]["relying_parties"] == sorted(
        [{"client_id": bank.client_id, "name": "Bank"},
         {"client_id": shop.client_id, "name": "Shop"}], key=lambda p: p["client_id"])
    assert sessions[second.sid]["relying_parties"] == [{"client_id": shop.client_id,
                                                        "name": "Shop"}]
    assert {"started_at", "auth_time", "expires_at", "level", "amr"} <= set(
        sessions[first.sid])


def test_the_citizen_ends_one_session_its_tokens_are_revoked_and_the_rp_is_told(
        app: FastAPI, client: TestClient, admin: dict[str, str], citizen: Citizen,
        receiver: Receiver) -> None:
    rp = register_rp(client, admin, backchannel_logout_uri=receiver.url)
    ended, kept = _login(app, rp, citizen.pin), _login(app, rp, citizen.pin)
    answer = client.post(f"/v1/me/sessions/{ended.sid}/revoke", headers=citizen.app_headers)
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"ended": [ended.sid], "notified": [rp.client_id]}
    assert not _still_signed_in(ended)
    assert userinfo(ended.agent, ended.tokens["access_token"]).status_code == 401
    # offline_access refresh tokens outlive a logout, not a revocation the citizen asked for
    assert refresh(ended.agent, rp, ended.tokens["refresh_token"]).status_code == 400
    (claims,) = _logout_claims(receiver, app, client)
    assert (claims["aud"], claims["sid"]) == (rp.client_id, ended.sid)
    assert claims["sub"] == jwt_claims(ended.tokens["id_token"])["sub"]
    # the other session and its tokens are untouched
    assert _still_signed_in(kept)
    assert userinfo(kept.agent, kept.tokens["access_token"]).status_code == 200
    assert refresh(kept.agent, rp, kept.tokens["refresh_token"]).status_code == 200
    listed = client.get("/v1/me/sessions", headers=citizen.app_headers).json()["sessions"]
    assert [s["sid"] for s in listed] == [kept.sid]


def test_the_citizen_signs_out_everywhere(
        app: FastAPI, client: TestClient, admin: dict[str, str], citizen: Citizen,
        receiver: Receiver) -> None:
    rp = register_rp(client, admin, backchannel_logout_uri=receiver.url)
    logins = [_login(app, rp, citizen.pin) for _ in range(2)]
    answer = client.post("/v1/me/sessions/revoke", headers=citizen.app_headers)
    assert answer.status_code == 200, answer.text
    assert sorted(answer.json()["ended"]) == sorted(login.sid for login in logins)
    assert not any(_still_signed_in(login) for login in logins)
    assert sorted(c["sid"] for c in _logout_claims(receiver, app, client)) == sorted(
        login.sid for login in logins)
    assert client.get("/v1/me/sessions", headers=citizen.app_headers).json() == {"sessions": []}
    again = client.post("/v1/me/sessions/revoke", headers=citizen.app_headers)
    assert again.json() == {"ended": [], "notified": []}


def test_a_session_of_another_citizen_or_already_ended_is_session_not_found(
        app: FastAPI, client: TestClient, admin: dict[str, str], citizen: Citizen,
        database: Database) -> None:
    rp = register_rp(client, admin)
    own = _login(app, rp, citizen.pin)
    stranger_pin = citizen_with_contact(database)
    assert client.post("/v1/admin/accounts", headers=admin, json={
        "pin": stranger_pin, "level": 2}).status_code == 201
    stranger = _login(app, rp, stranger_pin)
    for sid in (stranger.sid, "no-such-session"):
        answer = client.post(f"/v1/me/sessions/{sid}/revoke", headers=citizen.app_headers)
        assert answer.status_code == 404, answer.text
        assert answer.json()["type"] == PROBLEM + "session-not-found"
        assert answer.headers["content-type"].startswith("application/problem+json")
    assert _still_signed_in(stranger)
    assert client.post(f"/v1/me/sessions/{own.sid}/revoke",
                       headers=citizen.app_headers).status_code == 200
    twice = client.post(f"/v1/me/sessions/{own.sid}/revoke", headers=citizen.app_headers)
    assert twice.json()["type"] == PROBLEM + "session-not-found"


def test_only_the_citizens_app_can_see_or_end_their_sessions(
        app: FastAPI, client: TestClient, admin: dict[str, str], citizen: Citizen) -> None:
    """A relying party holds the citizen's access token: it must not see where else the citizen
    signs in, nor sign them out there."""
    rp = register_rp(client, admin, scopes=["openid", "vneid.history"])
    agent = browser(app)
    login = Login(agent, rp, tokens_for(agent, rp, citizen.pin, scope="openid vneid.history"))
    for headers in ({}, {"Authorization": f"Bearer {login.tokens['access_token']}"}):
        for method, path in (("GET", "/v1/me/sessions"), ("POST", "/v1/me/sessions/revoke"),
                             ("POST", f"/v1/me/sessions/{login.sid}/revoke")):
            answer = client.request(method, path, headers=headers)
            assert answer.status_code == 401, answer.text
            assert answer.json()["type"] == PROBLEM + "device-token-required"
    assert _still_signed_in(login)


def test_an_administrator_lists_and_ends_an_accounts_sessions(
        app: FastAPI, client: TestClient, admin: dict[str, str], citizen: Citizen,
        receiver: Receiver) -> None:
    rp = register_rp(client, admin, backchannel_logout_uri=receiver.url)
    one, two, three = (_login(app, rp, citizen.pin) for _ in range(3))
    base = f"/v1/admin/accounts/{citizen.pin}/sessions"
    listed = client.get(base, headers=admin)
    assert listed.status_code == 200, listed.text
    assert {s["sid"] for s in listed.json()["sessions"]} == {one.sid, two.sid, three.sid}
    ended = client.post(f"{base}/{one.sid}/revoke", headers=admin)
    assert ended.json() == {"ended": [one.sid], "notified": [rp.client_id]}
    assert not _still_signed_in(one)
    assert _still_signed_in(two)
    rest = client.post(f"{base}/revoke", headers=admin)
    assert sorted(rest.json()["ended"]) == sorted([two.sid, three.sid])
    assert not _still_signed_in(three)
    assert sorted(c["sid"] for c in _logout_claims(receiver, app, client)) == sorted(
        [one.sid, two.sid, three.sid])
    account = client.get(f"/v1/admin/accounts/{citizen.pin}", headers=admin).json()
    assert account["state"] == "active"  # ending sessions locks nothing


def test_the_admin_session_routes_answer_problems(
        client: TestClient, admin: dict[str, str], citizen: Citizen, database: Database) -> None:
    without = citizen_with_contact(database)
    missing = client.get(f"/v1/admin/accounts/{without}/sessions", headers=admin)
    assert missing.status_code == 404
    assert missing.json()["type"] == PROBLEM + "account-not-found"
    unknown = client.post(f"/v1/admin/accounts/{citizen.pin}/sessions/no-such-session/revoke",
                          headers=admin)
    assert unknown.status_code == 404
    assert unknown.json()["type"] == PROBLEM + "session-not-found"
    assert client.get(f"/v1/admin/accounts/{citizen.pin}/sessions").status_code == 401
