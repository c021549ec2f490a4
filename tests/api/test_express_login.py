"""The login flow's common requests are answered as bytes by app.routers.express_login: each
answer must be the one the route gives (status, every header in order, body), for successes
and for errors. Each request is made twice, once answered express and once by the route (the
express function swapped for one that leaves every request to the route); what is random in an
answer (codes, session cookies, token ids, signatures, request ids) is compared by shape."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from app.routers import express_login
from tests.api.oidc_support import *  # noqa: F403
from tests.api.oidc_support import (
    DEMO_REDIRECT,
    Rp,
    authorize,
    browser,
    redeem,
    register_rp,
    tokens_for,
)

_JWT = re.compile(rb"eyJ[\w-]+\.[\w-]+\.[\w-]+")
_RANDOM = [
    (re.compile(rb"code=[\w-]+"), b"code=<code>"),
    (re.compile(rb"dancu_(session|browser)=[\w-]+"), rb"dancu_\1=<random>"),
    (re.compile(rb"/oauth2/(login|consent)/[\w-]+"), rb"/oauth2/\1/<interaction>"),
    (re.compile(rb'"refresh_token":"[\w.-]+"'), b'"refresh_token":"<refresh>"'),
]
FORM = "application/x-www-form-urlencoded"
_VOLATILE_CLAIMS = {"jti", "sid", "exp", "iat", "auth_time", "at_hash", "c_hash"}


def _claims_shape(match: re.Match[bytes]) -> bytes:
    header, payload, _ = match.group(0).split(b".")
    decoded = [
        json.loads(base64.urlsafe_b64decode(part + b"=" * (-len(part) % 4)))
        for part in (header, payload)
    ]
    kept = {
        name: (value if name not in _VOLATILE_CLAIMS else type(value).__name__)
        for name, value in decoded[1].items()
    }
    return json.dumps([decoded[0], kept], sort_keys=True).encode()


def _shape(value: bytes) -> bytes:
    value = _JWT.sub(_claims_shape, value)
    for pattern, replacement in _RANDOM:
        value = pattern.sub(replacement, value)
    return value


def _answer(response: Any) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    """Status, headers in order and body, random parts by shape; the length checked, then
    left out (a token's length may differ by its random parts)."""
    assert int(response.headers.get("content-length", len(response.content))) == len(
        response.content
    )
    headers = [
        (name, _shape(value))
        for name, value in response.headers.raw
        if name not in (b"x-request-id", b"content-length")
    ]
    return response.status_code, headers, _shape(response.content)


async def _by_route(request: Any) -> None:
    return None


def _both(monkeypatch: pytest.MonkeyPatch, path: str, call: Callable[[], Any]) -> tuple[Any, Any]:
    """The answer express, then the route's to the same request (made anew)."""
    express = call()
    with monkeypatch.context() as patched:
        patched.setitem(express_login.FAST, path, _by_route)
        routed = call()
    return express, routed


@pytest.fixture(scope="module")
def rp(client: TestClient, admin: dict[str, str]) -> Rp:
    return register_rp(
        client, admin, name="Express login RP", scopes=["openid", "profile", "vneid.identity"]
    )


@pytest.fixture(scope="module")
def post_rp(client: TestClient, admin: dict[str, str]) -> Rp:
    return register_rp(
        client,
        admin,
        name="Express login RP (post)",
        token_endpoint_auth_method="client_secret_post",
    )


@pytest.fixture
def pin(personas: dict[str, Any]) -> str:
    return str(personas["citizen-l2"]["pin"])


def test_a_headless_authorization_is_answered_as_the_route_answers_it(
    app: FastAPI, monkeypatch: pytest.MonkeyPatch, rp: Rp, pin: str
) -> None:
    express, routed = _both(
        monkeypatch,
        "/oauth2/authorize",
        lambda: authorize(browser(app), rp, pin=pin, state="s", nonce="n"),
    )
    assert express.response.status_code == 303
    assert "set-cookie" in express.response.headers
    assert _answer(express.response) == _answer(routed.response)


@pytest.mark.parametrize(
    "changes",
    [
        {"client_id": "no-such-client"},  # the HTML error page
        {"redirect_uri": "http://127.0.0.1:8765/elsewhere"},  # the HTML error page
        {"scope": "openid no-such-scope"},  # an error redirect to the client
        {"code_challenge_method": "plain"},  # an error redirect to the client
    ],
)
def test_a_refused_authorization_is_answered_as_the_route_answers_it(
    app: FastAPI, monkeypatch: pytest.MonkeyPatch, rp: Rp, pin: str, changes: dict[str, str]
) -> None:
    express, routed = _both(
        monkeypatch,
        "/oauth2/authorize",
        lambda: authorize(browser(app), rp, pin=pin, state="s", nonce="n", **changes),
    )
    assert express.response.status_code in (303, 400)
    assert _answer(express.response) == _answer(routed.response)


def test_an_authorization_without_the_sandbox_login_is_answered_as_the_route_answers_it(
    app: FastAPI, monkeypatch: pytest.MonkeyPatch, rp: Rp
) -> None:
    # an interaction begins: the browser cookie is set (by the route's own Response)
    express, routed = _both(
        monkeypatch, "/oauth2/authorize", lambda: authorize(browser(app), rp, state="s", nonce="n")
    )
    assert express.response.status_code == 303
    assert _answer(express.response) == _answer(routed.response)


@pytest.mark.parametrize("method", ["basic", "post"])
def test_a_code_is_redeemed_as_the_route_redeems_it(
    app: FastAPI, monkeypatch: pytest.MonkeyPatch, rp: Rp, post_rp: Rp, pin: str, method: str
) -> None:
    client = rp if method == "basic" else post_rp

    def call() -> Any:
        agent = browser(app)
        return redeem(agent, client, authorize(agent, client, pin=pin, state="s", nonce="n"))

    express, routed = _both(monkeypatch, "/oauth2/token", call)
    assert express.status_code == 200, express.text
    assert _answer(express) == _answer(routed)


@pytest.mark.parametrize(
    "form",
    [
        {"grant_type": "authorization_code", "code": "spent", "redirect_uri": DEMO_REDIRECT},
        {"grant_type": "no-such-grant"},
        {"grant_type": "authorization_code", "code": "a&code=b"},
    ],
)
def test_a_refused_token_request_is_answered_as_the_route_answers_it(
    app: FastAPI, monkeypatch: pytest.MonkeyPatch, rp: Rp, form: dict[str, str]
) -> None:
    headers, form = rp.auth(form)
    express, routed = _both(
        monkeypatch,
        "/oauth2/token",
        lambda: browser(app).post("/oauth2/token", data=form, headers=headers),
    )
    assert express.status_code in (400, 401)
    assert _answer(express) == _answer(routed)


def _token_body_both(
    app: FastAPI, monkeypatch: pytest.MonkeyPatch, rp: Rp, body: str | bytes, media: str
) -> tuple[Any, Any]:
    """A token request with this raw body and media type, on the express path and the route."""
    headers = {**rp.auth({})[0], "content-type": media}
    return _both(
        monkeypatch,
        "/oauth2/token",
        lambda: browser(app).post("/oauth2/token", content=body, headers=headers),
    )


@pytest.mark.parametrize(
    ("body", "media"),
    [
        ("grant_type=a&grant_type=b", "application/x-www-form-urlencoded"),
        ('{"grant_type": "authorization_code"}', "application/json"),
    ],
)
def test_a_repeated_parameter_and_a_wrong_media_type_are_refused_as_by_the_route(
    app: FastAPI, monkeypatch: pytest.MonkeyPatch, rp: Rp, body: str, media: str
) -> None:
    express, routed = _token_body_both(app, monkeypatch, rp, body, media)
    assert express.status_code == 400
    assert _answer(express) == _answer(routed)


@pytest.mark.parametrize(
    "headers",
    [
        None,  # the bearer token of a login
        {"Authorization": "Bearer not-a-token"},
        {"Authorization": "Basic abc"},
        {},  # no token: the challenge only, an empty body
    ],
)
def test_userinfo_is_answered_as_the_route_answers_it(
    app: FastAPI, monkeypatch: pytest.MonkeyPatch, rp: Rp, pin: str, headers: dict[str, str] | None
) -> None:
    if headers is None:
        token = tokens_for(browser(app), rp, pin)["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
    express, routed = _both(
        monkeypatch,
        "/oauth2/userinfo",
        lambda: browser(app).get("/oauth2/userinfo", headers=headers),
    )
    assert express.status_code in (200, 400, 401)
    assert _answer(express) == _answer(routed)
    if headers.get("Authorization", "").startswith("Bearer ey"):
        assert express.status_code == 200
        assert express.json()["sub"]


def test_userinfo_with_a_token_in_the_query_is_refused_by_the_route(
    app: FastAPI, rp: Rp, pin: str
) -> None:
    token = tokens_for(browser(app), rp, pin)["access_token"]
    refused = browser(app).get("/oauth2/userinfo", params={"access_token": token})
    assert refused.status_code == 400
    assert refused.json()["error"] == "invalid_request"


@pytest.mark.parametrize(
    ("body", "media"),
    [
        (b"grant_type=authorization_code&code=\xff\xfe", "application/x-www-form-urlencoded"),
        (b"grant_type=authorization_code&code=%FF%FE", "application/x-www-form-urlencoded"),
        (b"grant_type=authorization_code&code=x", "Application/X-WWW-Form-Urlencoded; x=y"),
        (b"grant_type=authorization_code&code=x", "text/plain"),
        (b"grant_type=authorization_code&" + b"code=x&" * 2000, FORM),
        (b"", "application/x-www-form-urlencoded"),
    ],
)
def test_malformed_token_requests_are_answered_as_by_the_route(
    app: FastAPI, monkeypatch: pytest.MonkeyPatch, rp: Rp, body: bytes, media: str
) -> None:
    express, routed = _token_body_both(app, monkeypatch, rp, body, media)
    assert express.status_code >= 400
    assert _answer(express) == _answer(routed)


def test_a_chunked_token_request_is_answered_as_by_the_route(
    app: FastAPI, monkeypatch: pytest.MonkeyPatch, rp: Rp
) -> None:
    headers, form = rp.auth({"grant_type": "authorization_code", "code": "spent"})
    body = "&".join(f"{name}={value}" for name, value in form.items()).encode()

    def chunks() -> Any:
        yield body[:5]
        yield body[5:]

    headers = {**headers, "content-type": "application/x-www-form-urlencoded"}
    express, routed = _both(
        monkeypatch,
        "/oauth2/token",
        lambda: browser(app).post("/oauth2/token", content=chunks(), headers=headers),
    )
    assert express.status_code == 400
    assert _answer(express) == _answer(routed)


@pytest.mark.parametrize(
    "query",
    [
        b"client_id=%FF%FE&response_type=code",
        b"client_id=\xff&response_type=code",
        b"response_type=code&response_type=code&client_id=x",
        b"a=" + b"b" * 6000,
        b"&&&==&",
    ],
)
def test_malformed_authorization_requests_are_answered_as_by_the_route(
    app: FastAPI, monkeypatch: pytest.MonkeyPatch, query: bytes
) -> None:
    def call() -> Any:
        client = browser(app)
        client.cookies.clear()
        return client.get("/oauth2/authorize?" + query.decode("latin-1"))

    express, routed = _both(monkeypatch, "/oauth2/authorize", call)
    assert express.status_code in (303, 400)
    assert _answer(express) == _answer(routed)
