"""Web console sign-in: a server-side session per sign-in (a new random cookie each time), that
expires after 8 hours of sandbox time and ends at sign-out; the cookie is HttpOnly,
SameSite=Strict, and Secure over https. The old cookie was a fixed MAC of the admin token that
never expired and outlived sign-out."""

from __future__ import annotations

import hashlib
import hmac

from fastapi import FastAPI
from fastapi.testclient import TestClient

from app.clock import SandboxClock
from app.services.sandbox import console
from app.settings import Settings
from tests.api.oidc_support import *  # noqa: F403


def _browser(app: FastAPI, base_url: str = "http://testserver") -> TestClient:
    return TestClient(app, base_url=base_url, follow_redirects=False)


def _sign_in(agent: TestClient, settings: Settings) -> str:
    response = agent.post("/console/login", data={"token": settings.admin_token})
    assert response.status_code == 303, response.text
    return str(response.cookies[console.COOKIE])


def _signed_in(app: FastAPI, cookie: str) -> bool:
    """The console home with only this cookie: shown, or a redirect to the sign-in page."""
    fresh = _browser(app)
    fresh.cookies.set(console.COOKIE, cookie)
    return fresh.get("/console").status_code == 200


def test_each_sign_in_opens_a_new_session(app: FastAPI, settings: Settings) -> None:
    agent = _browser(app)
    first = _sign_in(agent, settings)
    second = _sign_in(agent, settings)
    assert first != second
    assert _signed_in(app, second)
    assert not _signed_in(app, first)  # signing in again in that browser ended its session
    assert _signed_in(app, _sign_in(_browser(app), settings))  # other browsers have their own


def test_signing_out_ends_the_session_for_good(app: FastAPI, settings: Settings) -> None:
    agent = _browser(app)
    cookie = _sign_in(agent, settings)
    assert agent.post("/console/logout").status_code == 303
    assert not _signed_in(app, cookie)  # a copy of the cookie is worth nothing now


def test_a_session_expires_after_eight_hours_of_sandbox_time(
        app: FastAPI, settings: Settings, clock: SandboxClock) -> None:
    clock.freeze()
    cookie = _sign_in(_browser(app), settings)
    clock.advance(console.SESSION_TTL - console.SESSION_TTL / 8)
    assert _signed_in(app, cookie)
    clock.advance(console.SESSION_TTL / 8)
    assert not _signed_in(app, cookie)


def test_the_old_fixed_cookie_no_longer_opens_the_console(app: FastAPI,
                                                          settings: Settings) -> None:
    fixed = hmac.new(settings.admin_token.encode(), b"dancu-console/v1",
                     hashlib.sha256).hexdigest()
    assert not _signed_in(app, fixed)
    assert not _signed_in(app, "")


def test_the_cookie_is_httponly_and_samesite_strict_and_secure_over_https(
        app: FastAPI, settings: Settings) -> None:
    plain = _browser(app).post("/console/login", data={"token": settings.admin_token})
    flags = plain.headers["set-cookie"].lower()
    assert "httponly" in flags
    assert "samesite=strict" in flags
    assert f"max-age={int(console.SESSION_TTL.total_seconds())}" in flags
    assert "secure" not in flags  # http://127.0.0.1: a browser would not send it back
    secure = _browser(app, "https://testserver").post("/console/login",
                                                      data={"token": settings.admin_token})
    assert "secure" in secure.headers["set-cookie"].lower()


def test_a_wrong_token_opens_no_session(app: FastAPI) -> None:
    refused = _browser(app).post("/console/login", data={"token": "not-the-token"})
    assert refused.status_code == 401
    assert console.COOKIE not in refused.cookies
