"""Fixtures and helpers for the VNeID account and OpenID provider tests.

Personas come from the running service (``GET /v1/admin/accounts/personas``); other citizens are
picked from the seeded population by age and status, among those without an account, so each test
can open accounts of its own.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
import string
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any
from urllib.parse import parse_qs, quote_plus, urlsplit

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from joserfc import jwt
from joserfc.jwk import ECKey, KeySet
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from app.clock import SandboxClock
from app.db import Database
from app.models.account import Account, AccountEvent
from app.models.card import Card
from app.models.population import Citizen
from app.models.sandbox import SandboxPersona
from app.services.vneid import accounts, backchannel
from app.settings import Settings

# fixtures, for `import *` (a module defining its own `citizen` or `agent` keeps its own)
__all__ = ["admin", "agent", "citizen", "clock", "personas"]

DEMO_REDIRECT = "http://127.0.0.1:8765/callback"
_taken: set[str] = set()


@pytest.fixture(scope="session")
def admin(settings: Settings) -> dict[str, str]:
    return {"Authorization": f"Bearer {settings.admin_token}"}


@pytest.fixture
def clock(app: FastAPI) -> Iterator[SandboxClock]:
    """The app's sandbox clock, reset after the test."""
    yield app.state.clock
    app.state.clock.reset()


@pytest.fixture(scope="session")
def personas(client: TestClient, admin: dict[str, str]) -> dict[str, dict[str, Any]]:
    response = client.get("/v1/admin/accounts/personas", headers=admin)
    assert response.status_code == 200, response.text
    return {p["key"]: p for p in response.json()["personas"]}


def _personas(session: Session) -> set[str]:
    """Citizens some persona stands for: tests never hand them out."""
    marked = [select(SandboxPersona.pin), select(Card.pin).where(Card.persona.is_not(None)),
              select(Account.pin).where(Account.persona.is_not(None))]
    return {pin for query in marked for pin in session.scalars(query)}


def _free(database: Database, pins: list[str]) -> str | None:
    """Most card-holding adults hold a generated account (the national timeline): the first of
    ``pins`` with a generated one has it removed, as if they had never opened it."""
    with database.write() as session:
        account = session.scalar(select(Account).where(
            Account.pin.in_(pins), Account.persona.is_(None)).order_by(Account.pin).limit(1))
        if account is None:
            return None
        session.execute(delete(AccountEvent).where(AccountEvent.account_id == account.id))
        session.execute(delete(Account).where(Account.id == account.id))
        return account.pin


def citizen_without_account(database: Database, *, min_age: int, max_age: int,
                            status: str = "alive", valid_card: bool | None = None) -> str:
    """A citizen of that age and status with no account, not handed out before in this run
    (``valid_card``: whose card validity, as the accounts service sees it, is this)."""
    today = date.today()
    youngest = today - timedelta(days=365 * min_age + 30)
    oldest = today - timedelta(days=365 * (max_age + 1) - 30)
    with database.read() as session:
        query = (select(Citizen.pin, Citizen.pin.in_(select(Account.pin)))
                 .where(Citizen.status == status, Citizen.birth_date <= youngest,
                        Citizen.birth_date > oldest)
                 .order_by(Citizen.pin))
        skip = _taken | _personas(session)
        rows = [(pin, has) for pin, has in session.execute(query) if pin not in skip]
        if valid_card is not None:
            holders = accounts.valid_card_holders(session, [p for p, _ in rows],
                                                  now=datetime.now(UTC))
            rows = [(pin, has) for pin, has in rows if (pin in holders) == valid_card]
    pins = [pin for pin, has in rows if not has]
    pin = pins[0] if pins else _free(database, [pin for pin, _ in rows])
    if pin is None:
        pytest.fail(f"no {status} citizen aged {min_age}-{max_age} without an account")
    _taken.add(pin)
    return pin


def citizen_with_contact(database: Database, *, min_age: int = 20, max_age: int = 60,
                         active_card: bool = False) -> str:
    """A living adult without account, holding a valid card (with ``active_card``, one not
    reported lost either: a test that then holds or revokes it), whose record has a mobile
    number and an e-mail address."""
    today = date.today()
    with database.read() as session:
        query = (select(Citizen.pin)
                 .where(Citizen.status == "alive", Citizen.email.is_not(None),
                        Citizen.phone.is_not(None),
                        Citizen.birth_date <= today - timedelta(days=365 * min_age + 30),
                        Citizen.birth_date > today - timedelta(days=365 * max_age),
                        Citizen.pin.not_in(sorted(_personas(session) | _taken)))
                 .order_by(Citizen.pin))
        pins = list(session.scalars(query))
        holders = accounts.valid_card_holders(session, pins, now=datetime.now(UTC))
        pins = [pin for pin in pins if pin in holders]
        if active_card:
            latest = accounts.latest_statuses(session, pins, now=datetime.now(UTC))
            pins = [pin for pin in pins if latest.get(pin) == "active"]
        without = set(pins) - set(session.scalars(select(Account.pin).where(
            Account.pin.in_(pins))))
    pin = min(without, default=None) or _free(database, pins)
    if pin is None:
        pytest.fail("no adult with phone and e-mail without an account")
    _taken.add(pin)
    return pin


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def query_of(location: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


# --- relying parties and flows --------------------------------------------------------------------

LOGIN_SCOPES = ["openid", "profile", "email", "phone", "address", "vneid.identity",
                "offline_access"]


@dataclass(frozen=True)
class Rp:
    """A registered relying party of the tests."""

    client_id: str
    secret: str | None
    redirect_uri: str = DEMO_REDIRECT
    method: str = "client_secret_basic"
    pkce: bool = True  # send PKCE (a client registered with require_pkce false does not)

    def auth(self, form: dict[str, str]) -> tuple[dict[str, str], dict[str, str]]:
        """(headers, form) carrying this client's authentication."""
        if self.method == "none":  # a public client: only its client_id
            return {}, {**form, "client_id": self.client_id}
        if self.method == "client_secret_post":
            return {}, {**form, "client_id": self.client_id, "client_secret": self.secret or ""}
        return {"Authorization": basic_credentials(self.client_id, self.secret or "")}, form


def basic_credentials(client_id: str, secret: str) -> str:
    """``client_secret_basic`` as RFC 6749 §2.3.1 has it, and as the OpenID Foundation's suite
    sends it: id and secret each form-urlencoded, then joined by ``:`` and base64-encoded."""
    def form(value: str) -> str:  # Java's URLEncoder: also ``~``, never ``*``
        return quote_plus(value, safe="*").replace("~", "%7E")

    raw = f"{form(client_id)}:{form(secret)}".encode()
    return "Basic " + base64.b64encode(raw).decode()


def register_rp(client: TestClient, admin: dict[str, str], **spec: Any) -> Rp:
    body = {"name": "Test RP", "scopes": LOGIN_SCOPES, "purposes": ["login-tests"],
            "sandbox": True, "grant_types": ["authorization_code", "refresh_token"],
            "redirect_uris": [DEMO_REDIRECT, "http://127.0.0.1:8765/logged-out"]} | spec
    response = client.post("/v1/admin/clients", json=body, headers=admin)
    assert response.status_code == 201, response.text
    created = response.json()
    return Rp(created["client_id"], created.get("client_secret"),
              redirect_uri=created["redirect_uris"][0],
              method=created["token_endpoint_auth_method"], pkce=created["require_pkce"])


def browser(app: FastAPI) -> TestClient:
    """A fresh user agent (own cookie jar) that does not follow redirects."""
    return TestClient(app, follow_redirects=False)


@contextmanager
def browsing(app: FastAPI) -> Iterator[TestClient]:
    """A :func:`browser` for a block, closed after it. Not ``with TestClient(app)``: that runs the
    session app's lifespan again, and its end shuts the app down under every later test (its
    back-channel logout dispatcher closed: "delivery not made: the service stopped first")."""
    agent = browser(app)
    try:
        yield agent
    finally:
        agent.close()


@dataclass
class Authorization:
    """One authorization request of a test, and where it led."""

    params: dict[str, str]
    verifier: str
    response: Any = None

    @property
    def location(self) -> str:
        return str(self.response.headers.get("location", ""))

    @property
    def result(self) -> dict[str, str]:
        return query_of(self.location)


def auth_params(rp: Rp, **extra: str) -> tuple[dict[str, str], str]:
    """The request parameters, and the PKCE verifier ("" when ``rp`` sends no PKCE)."""
    params = {"client_id": rp.client_id, "redirect_uri": rp.redirect_uri, "response_type": "code",
              "scope": "openid profile", "state": secrets.token_urlsafe(8),
              "nonce": secrets.token_urlsafe(8)}
    if not rp.pkce:
        return {**params, **extra}, ""
    verifier, challenge = pkce_pair()
    params |= {"code_challenge": challenge, "code_challenge_method": "S256"}
    return {**params, **extra}, verifier


def authorize(agent: TestClient, rp: Rp, *, pin: str | None = None,
              **extra: str) -> Authorization:
    """GET /oauth2/authorize (with ``X-Sandbox-Login`` when ``pin`` is given)."""
    params, verifier = auth_params(rp, **extra)
    params = {k: v for k, v in params.items() if v != ""}
    headers = {"X-Sandbox-Login": pin} if pin else {}
    flow = Authorization(params, verifier)
    flow.response = agent.get("/oauth2/authorize", params=params, headers=headers)
    return flow


def redeem(agent: TestClient, rp: Rp, flow: Authorization, **extra: str) -> Any:
    form = {"grant_type": "authorization_code", "code": flow.result.get("code", ""),
            "redirect_uri": flow.params["redirect_uri"]}
    if flow.verifier:
        form["code_verifier"] = flow.verifier
    headers, form = rp.auth(form | extra)
    return agent.post("/oauth2/token", data=form, headers=headers)


def tokens_for(agent: TestClient, rp: Rp, pin: str, **extra: str) -> dict[str, Any]:
    """Headless login + code exchange; the token response body."""
    flow = authorize(agent, rp, pin=pin, **extra)
    assert "code" in flow.result, flow.location
    response = redeem(agent, rp, flow)
    assert response.status_code == 200, response.text
    return dict(response.json())


def refresh(agent: TestClient, rp: Rp, token: str, **extra: str) -> Any:
    headers, form = rp.auth({"grant_type": "refresh_token", "refresh_token": token} | extra)
    return agent.post("/oauth2/token", data=form, headers=headers)


def userinfo(agent: TestClient, access_token: str) -> Any:
    return agent.get("/oauth2/userinfo", headers={"Authorization": f"Bearer {access_token}"})


# --- what the OpenID Foundation's conformance suite sends ----------------------------------------

JSON = {"Accept": "application/json"}  # Spring's setAccept on every token and userinfo call
# Spring's FormHttpMessageConverter adds the charset to every form it writes
FORM = {"Content-Type": "application/x-www-form-urlencoded;charset=UTF-8"}


def suite_end_session_state() -> str:
    """``CreateRandomEndSessionState``: 50 letters, 10 digits and 30 RFC 6749 VSCHAR punctuation
    characters, with ``+``, space and ``;`` made ``~``."""
    punctuation = "".join(chr(c) for lo, hi in ((0x20, 0x2F), (0x3A, 0x40), (0x5B, 0x60),
                                                 (0x7B, 0x7E)) for c in range(lo, hi + 1))
    state = ("".join(secrets.choice(string.ascii_letters) for _ in range(50))
             + "".join(secrets.choice(string.digits) for _ in range(10))
             + "".join(secrets.choice(punctuation) for _ in range(30)))
    return state.replace("+", "~").replace(" ", "~").replace(";", "~")


def alphanumeric(length: int) -> str:
    """``RandomStringUtils.secure().nextAlphanumeric(length)``."""
    return "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(length))


def suite_value(length: int = 10) -> str:
    """``CreateRandomStateValue`` / ``CreateRandomNonceValue``: alphanumeric, and past 10
    characters the last four are ``-._~``."""
    return alphanumeric(length - 4) + "-._~" if length > 10 else alphanumeric(length)


def suite_pkce() -> tuple[str, str]:
    """``CreateRandomCodeVerifier`` (128 characters of A-Z a-z 0-9 - . _ ~) and its S256
    challenge."""
    alphabet = string.ascii_letters + string.digits + "-._~"
    verifier = "".join(secrets.choice(alphabet) for _ in range(128))
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def suite_params(rp: Rp, *, scope: str = "openid", nonce: bool = True, state_length: int = 10,
                 reverse: bool = False, **extra: str) -> dict[str, str]:
    """The suite's authorization request, its keys sorted as ``BuildPlainRedirectTo
    AuthorizationEndpoint`` sends them (``reverse``: the reordered redirect); ``extra``: what the
    module adds (``""`` leaves a parameter out)."""
    params = {"client_id": rp.client_id, "redirect_uri": rp.redirect_uri, "scope": scope,
              "state": suite_value(state_length), "response_type": "code"}
    if nonce:
        params["nonce"] = suite_value()
    params = {k: v for k, v in (params | extra).items() if v != ""}
    return {key: params[key] for key in sorted(params, reverse=reverse)}


def suite_authorize(agent: TestClient, params: dict[str, str], *, pin: str | None = None,
                    method: str = "GET") -> Authorization:
    """The browser's request to the authorization endpoint (``X-Sandbox-Login`` with ``pin``)."""
    headers = {"X-Sandbox-Login": pin} if pin else {}
    flow = Authorization(params, "")
    if method == "POST":
        flow.response = agent.post("/oauth2/authorize", data=params, headers=headers)
    else:
        flow.response = agent.get("/oauth2/authorize", params=params, headers=headers)
    return flow


def suite_token(agent: TestClient, rp: Rp, form: dict[str, str]) -> Any:
    """``CallTokenEndpointAndReturnFullResponse``: a form POST with ``Accept: application/json``
    and the client's authentication."""
    headers, form = rp.auth(form)
    return agent.post("/oauth2/token", data=form, headers=JSON | FORM | headers)


def suite_redeem(agent: TestClient, rp: Rp, flow: Authorization, **extra: str) -> Any:
    """``CreateTokenEndpointRequestForAuthorizationCodeGrant`` (+ what the module adds)."""
    return suite_token(agent, rp, {"grant_type": "authorization_code",
                                   "code": flow.result.get("code", ""),
                                   "redirect_uri": flow.params["redirect_uri"], **extra})


def suite_userinfo(agent: TestClient, body: dict[str, Any], method: str = "GET") -> Any:
    """``CallUserInfoEndpoint`` / ``CallProtectedResource``: ``<token_type> <token>``, ``Accept:
    application/json``; a POST (``SetResourceMethodToPost``) carries ``Content-Type:
    application/x-www-form-urlencoded`` and no body."""
    headers = JSON | {"Authorization": f"{body['token_type']} {body['access_token']}"}
    if method == "POST":
        return agent.post("/oauth2/userinfo", content=b"", headers=headers | {
            "Content-Type": "application/x-www-form-urlencoded"})
    return agent.get("/oauth2/userinfo", headers=headers)


def logouts_delivered(app: FastAPI) -> None:
    """Wait until every back-channel logout submitted so far has been sent and its outcome
    recorded (they run outside the request that ended the session)."""
    assert backchannel.dispatcher(app).wait(timeout=60), "back-channel logouts still running"


def csrf_of(page: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', page)
    assert match, "the page has a CSRF field"
    return match.group(1)


def sms_code(agent: TestClient, admin: dict[str, str], pin: str) -> str:
    inbox = agent.get(f"/v1/admin/accounts/{pin}/sms", headers=admin).json()["messages"]
    match = re.search(r"\b(\d{6})\b", inbox[0]["body"])
    assert match
    return match.group(1)


def password_login(agent: TestClient, admin: dict[str, str], login_path: str, pin: str,
                   password: str = "Vneid@2025",
                   look: Callable[[str], None] | None = None) -> Any:
    """Fill the login page (PIN + password), then the SMS code; the response after the code
    (``look``: called with the login page's HTML, to check what the user sees)."""
    page = agent.get(login_path)
    assert page.status_code == 200, page.text
    if look is not None:
        look(page.text)
    interaction = login_path.rsplit("/", 1)[-1].split("?")[0]
    sent = agent.post(f"/oauth2/login/{interaction}/password",
                      data={"csrf": csrf_of(page.text), "pin": pin, "password": password})
    assert sent.status_code == 303, sent.text
    otp_page = agent.get(sent.headers["location"])
    return agent.post(f"/oauth2/login/{interaction}/otp",
                      data={"csrf": csrf_of(otp_page.text),
                            "code": sms_code(agent, admin, pin)})


def approve_consent(agent: TestClient, consent_path: str, decision: str = "approve") -> Any:
    page = agent.get(consent_path)
    assert page.status_code == 200, page.text
    return agent.post(consent_path, data={"csrf": csrf_of(page.text), "decision": decision})


def interactive_login(agent: TestClient, admin: dict[str, str], rp: Rp, pin: str,
                      **extra: str) -> Authorization:
    """Authorize in a browser: password + SMS code, then consent if asked; ends at the RP."""
    flow = authorize(agent, rp, **extra)
    response = flow.response
    if response.headers.get("location", "").startswith("/oauth2/login/"):
        response = password_login(agent, admin, response.headers["location"], pin)
    if response.headers.get("location", "").startswith("/oauth2/consent/"):
        response = approve_consent(agent, response.headers["location"])
    flow.response = response
    return flow


def jwt_claims(token: str) -> dict[str, Any]:
    """The payload, unverified (to look at; verification is the point of other helpers)."""
    payload = token.split(".")[1]
    return dict(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))))


def jwt_header(token: str) -> dict[str, Any]:
    header = token.split(".")[0]
    return dict(json.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4))))


def verify_with_jwks(token: str, jwks: dict[str, Any], *, issuer: str, audience: str,
                     now: int | None = None) -> dict[str, Any]:
    """Verify as a relying party would, with joserfc and the published JWK Set only."""
    header = jwt_header(token)
    key_set = KeySet.import_key_set(jwks)
    key = key_set.get_by_kid(header["kid"])
    decoded = jwt.decode(token, key, algorithms=[header["alg"]])
    registry = jwt.JWTClaimsRegistry(iss={"essential": True, "value": issuer},
                                     aud={"essential": True, "value": audience},
                                     sub={"essential": True}, exp={"essential": True},
                                     iat={"essential": True}, now=now, leeway=5)
    registry.validate(decoded.claims)
    return dict(decoded.claims)


def citizen_with_account(client: TestClient, admin: dict[str, str], database: Database) -> str:
    """A citizen with contact details who gets a level-2 account for the calling test module."""
    pin = citizen_with_contact(database)
    created = client.post("/v1/admin/accounts", json={"pin": pin, "level": 2,
                                                      "password": "Vneid@2025"}, headers=admin)
    assert created.status_code == 201, created.text
    return pin


# The conformance-plan modules' test user and browser (test_oidc_basic_op, test_oidc_backchannel_op,
# test_oidc_dynamic_op, test_oidc_fapi2_conformance), one definition for all of them.


@pytest.fixture(scope="module")
def citizen(client: TestClient, admin: dict[str, str], database: Database) -> str:
    """The suite's test user: a level-2 account (password ``Vneid@2025``) of a living adult whose
    record has phone and e-mail, opened for the calling module."""
    return citizen_with_account(client, admin, database)


@pytest.fixture
def agent(app: FastAPI) -> TestClient:
    """The suite's browser: a fresh cookie jar for each test."""
    return browser(app)


# --- DPoP (RFC 9449) and private_key_jwt ----------------------------------------------------------

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


def dpop_proof(app: FastAPI, method: str, url: str, *, key: Any, token: str | None = None,
               **changes: Any) -> str:
    """A DPoP proof (RFC 9449 §4.2) made now on the app's clock, with a fresh ``jti``; ``token``:
    the access token it goes with (``ath``); ``changes``: claims to set (``None`` drops one)."""
    now = int(app.state.clock.now().timestamp())
    claims = {"jti": alphanumeric(20), "htm": method, "htu": url, "iat": now}  # CreateDpopClaims
    if token is not None:
        claims["ath"] = base64.urlsafe_b64encode(
            hashlib.sha256(token.encode()).digest()).rstrip(b"=").decode()
    claims = {k: v for k, v in {**claims, **changes}.items() if v is not None}
    alg = "ES256" if isinstance(key, ECKey) else "PS256"
    header = {"typ": "dpop+jwt", "alg": alg, "jwk": key.as_dict(private=False)}
    return jwt.encode(header, claims, key, algorithms=[alg])


def client_assertion(app: FastAPI, client_id: str, key: Any, aud: str | list[str], *,
                     alg: str = "RS256", **changes: Any) -> dict[str, str]:
    """``private_key_jwt`` form parameters (RFC 7523 §2.2) with a fresh ``jti``."""
    now = int(app.state.clock.now().timestamp())
    claims = {"iss": client_id, "sub": client_id, "aud": aud, "jti": secrets.token_hex(8),
              "iat": now, "exp": now + 60, **changes}
    claims = {name: value for name, value in claims.items() if value is not None}
    header = {"alg": alg, **({"kid": key.kid} if key.kid else {})}
    return {"client_assertion_type": ASSERTION_TYPE,
            "client_assertion": jwt.encode(header, claims, key, algorithms=[alg])}


# --- FAPI 2.0 Security Profile clients ------------------------------------------------------------


@dataclass(frozen=True)
class FapiClient:
    """A ``security_profile: fapi2`` client of the tests, and its private_key_jwt key."""

    client_id: str
    key: Any
    alg: str = "ES256"


def register_fapi_client(client: TestClient, admin: dict[str, str], key: Any, *,
                         alg: str = "ES256", **spec: Any) -> FapiClient:
    body = {"name": "Bank FAPI", "scopes": LOGIN_SCOPES, "purposes": ["login-tests"],
            "sandbox": True, "grant_types": ["authorization_code", "refresh_token"],
            "redirect_uris": [DEMO_REDIRECT], "security_profile": "fapi2",
            "token_endpoint_auth_method": "private_key_jwt",
            "jwks": {"keys": [key.as_dict(private=False)]}} | spec
    created = client.post("/v1/admin/clients", json=body, headers=admin)
    assert created.status_code == 201, created.text
    return FapiClient(created.json()["client_id"], key, alg)


def fapi_request(**changes: str | None) -> tuple[dict[str, str], str]:
    """A FAPI 2.0 authorization request's parameters as the suite's ``CreateAuthorizationRequest
    Steps`` makes them (10-character state and nonce, a 128-character PKCE S256 verifier) and its
    verifier; a change to ``None`` leaves a parameter out. ``fapi_push`` adds the ``client_id``."""
    verifier, challenge = suite_pkce()
    params = {"redirect_uri": DEMO_REDIRECT, "scope": "openid profile", "state": suite_value(),
              "nonce": suite_value(), "response_type": "code", "code_challenge": challenge,
              "code_challenge_method": "S256"} | changes
    return {k: v for k, v in params.items() if v is not None}, verifier


def _suite_assertion(app: FastAPI, fapi: FapiClient, **claims: Any) -> dict[str, str]:
    """``CreateClientAuthenticationAssertionClaimsWithIssAudience``: ``nbf`` = ``iat``, a
    20-character alphanumeric ``jti``, the issuer as audience (``claims`` change them)."""
    now = int(app.state.clock.now().timestamp())
    claims = {"jti": alphanumeric(20), "nbf": now} | claims
    return client_assertion(app, fapi.client_id, fapi.key, alg=fapi.alg, **claims)


def fapi_push(client: TestClient, app: FastAPI, settings: Settings, fapi: FapiClient,
              params: dict[str, str], *, dpop: str | None = None, **assertion: Any) -> Any:
    """``CallPAREndpoint``: the request's parameters with the ``client_id`` and a private_key_jwt
    assertion (audience the issuer unless ``assertion`` changes it or another claim), ``Accept:
    application/json``."""
    auth = _suite_assertion(app, fapi, **{"aud": settings.issuer_url} | assertion)
    return client.post("/oauth2/par", data={"client_id": fapi.client_id, **params, **auth},
                       headers=JSON | FORM | ({"DPoP": dpop} if dpop else {}))


def fapi_authorize(agent: TestClient, fapi: FapiClient, request_uri: str, pin: str,
                   **extra: str) -> Any:
    return agent.get("/oauth2/authorize", headers={"X-Sandbox-Login": pin}, params={
        "client_id": fapi.client_id, "request_uri": request_uri, **extra})


def fapi_token(agent: TestClient, app: FastAPI, settings: Settings, fapi: FapiClient,
               form: dict[str, str], *, dpop: str | None) -> Any:
    """POST /oauth2/token with the client's assertion, ``Accept: application/json`` and ``dpop``
    as the DPoP header."""
    auth = _suite_assertion(app, fapi, aud=settings.issuer_url)
    return agent.post("/oauth2/token", data={**form, **auth},
                      headers=JSON | FORM | ({"DPoP": dpop} if dpop else {}))


@contextmanager
def loopback_json_server(document: Callable[[], object]) -> Iterator[tuple[str, list[str]]]:
    """A loopback HTTP server answering every GET with ``document()`` as JSON (a registrant's
    sector identifier document): its base URL and the paths it was asked for."""
    asked: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            asked.append(self.path)
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(json.dumps(document()).encode())

        def log_message(self, *args: Any) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", asked
    finally:
        server.shutdown()
        thread.join(timeout=5)
