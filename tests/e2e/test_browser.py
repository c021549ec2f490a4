"""A real browser (Debian's Chromium, headless, driven by Playwright) completes the HTML login --
PIN and password, the SMS code read from the sandbox inbox -- and the consent page, against a real
server process; a second run logs in by QR code, the page's script polling until the app approves.

Skipped only when Chromium is not installed (``apt-get install chromium``), a failure under CI
(``.ci/run`` installs it). Playwright never downloads a browser here: it launches Debian's.
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest

from app.db import Database
from tests.api.oidc_support import citizen_without_account
from tests.e2e.conftest import Server, free_port
from tests.system_tools import require_tool

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run"]


@pytest.fixture(scope="module", autouse=True)
def chromium() -> str:
    """First: a missing Chromium skips (or under CI fails) before any server starts."""
    return require_tool("chromium", debian="chromium")


class _Callback(BaseHTTPRequestHandler):
    """The relying party's redirect URI: a page for the browser to land on."""

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.end_headers()
        self.wfile.write(b"signed in")

    def log_message(self, *args: Any) -> None:  # keep test output (and any code) out of logs
        return


@pytest.fixture(scope="module")
def callback() -> Iterator[str]:
    """A loopback redirect URI on a free port (loopback IPs match any port, RFC 8252 §7.3)."""
    httpd = HTTPServer(("127.0.0.1", free_port()), _Callback)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/callback"
    httpd.shutdown()


@pytest.fixture(scope="module")
def browser(chromium: str) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=chromium, headless=True,
                                              args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def rp(server: Server) -> tuple[str, str]:
    created = httpx.post(f"{server.base}/v1/admin/clients", headers=server.admin, json={
        "name": "Browser RP", "scopes": ["openid", "profile", "phone"], "purposes": ["e2e"],
        "sandbox": True, "grant_types": ["authorization_code"], "application_type": "native",
        "redirect_uris": ["http://127.0.0.1:8765/callback"]})  # native: the loopback port varies
    assert created.status_code == 201, created.text
    return created.json()["client_id"], created.json()["client_secret"]


def _authorize_url(server: Server, client_id: str, callback: str) -> tuple[str, str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(
        hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    state = secrets.token_urlsafe(8)
    query = urlencode({"client_id": client_id, "redirect_uri": callback, "response_type": "code",
                       "scope": "openid profile phone", "state": state, "nonce": "browser-n",
                       "code_challenge": challenge, "code_challenge_method": "S256",
                       "ui_locales": "en"})
    return f"{server.base}/oauth2/authorize?{query}", verifier, state


def _new_account(server: Server, adult: str) -> None:
    created = httpx.post(f"{server.base}/v1/admin/accounts", headers=server.admin,
                         json={"pin": adult, "level": 2, "password": "Tr0ng-Sandbox"})
    assert created.status_code == 201, created.text


def _redeem(server: Server, rp: tuple[str, str], callback: str, landed: str,
            verifier: str) -> dict[str, Any]:
    code = parse_qs(urlsplit(landed).query)["code"][0]
    response = httpx.post(f"{server.base}/oauth2/token", auth=rp, data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": callback,
        "code_verifier": verifier})
    assert response.status_code == 200, response.text
    return dict(response.json())


def test_browser_logs_in_with_password_and_sms_code_and_consents(
        server: Server, browser: Any, rp: tuple[str, str], callback: str,
        database: Database) -> None:
    pin = citizen_without_account(database, min_age=25, max_age=50, valid_card=True)
    _new_account(server, pin)
    url, verifier, state = _authorize_url(server, rp[0], callback)
    page = browser.new_context().new_page()
    page.goto(url)
    assert page.locator("h1").inner_text() == "Log in with your electronic identification account"
    page.fill("#pin", pin)
    page.fill("#password", "Tr0ng-Sandbox")
    page.click("#login-submit")
    page.wait_for_url(re.compile(r".*/oauth2/otp/.*"))
    inbox = httpx.get(f"{server.base}/v1/admin/accounts/{pin}/sms", headers=server.admin)
    page.fill("#code", re.search(r"\b(\d{6})\b", inbox.json()["messages"][0]["body"]).group(1))
    page.click("#otp-submit")
    page.wait_for_url(re.compile(r".*/oauth2/consent/.*"))
    assert "phone" in page.content()
    page.click("#consent-approve")
    page.wait_for_url(re.compile(r"http://127\.0\.0\.1:\d+/callback\?.*"))
    landed = page.url
    assert pin not in landed
    assert parse_qs(urlsplit(landed).query)["state"] == [state]
    tokens = _redeem(server, rp, callback, landed, verifier)
    profile = httpx.get(f"{server.base}/oauth2/userinfo",
                        headers={"Authorization": f"Bearer {tokens['access_token']}"}).json()
    assert profile["name"]
    assert profile["phone_number"].startswith("+84")
    cookies = {c["name"]: c for c in page.context.cookies()}
    assert cookies["dancu_session"]["httpOnly"] is True
    assert cookies["dancu_session"]["sameSite"] == "Lax"


def test_browser_logs_in_by_qr_code_approved_in_the_app(
        server: Server, browser: Any, rp: tuple[str, str], callback: str) -> None:
    personas = httpx.get(f"{server.base}/v1/admin/accounts/personas", headers=server.admin)
    citizen = next(p for p in personas.json()["personas"] if p["key"] == "citizen-l2")
    url, verifier, _ = _authorize_url(server, rp[0], callback)
    page = browser.new_context().new_page()
    page.goto(url)
    status_url = page.locator("#qr-state").get_attribute("data-status-url")
    approved = httpx.post(f"{server.base}{status_url}/approve", json={"passcode": "123456"},
                          headers={"Authorization": f"Bearer {citizen['device_token']}"})
    assert approved.json() == {"status": "approved"}
    page.wait_for_url(re.compile(r".*/(oauth2/consent/|callback\?).*"))  # the script continues
    if "/oauth2/consent/" in page.url:
        page.click("#consent-approve")
        page.wait_for_url(re.compile(r"http://127\.0\.0\.1:\d+/callback\?.*"))
    tokens = _redeem(server, rp, callback, page.url, verifier)
    claims = tokens["id_token"].split(".")[1]
    assert b'"amr":["swk","pin","mfa"]' in base64.urlsafe_b64decode(claims + "==")
