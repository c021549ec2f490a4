"""Stateless scale-out: two independent ``dancu serve`` processes on different ports share nothing
but the database (the session's, PostgreSQL when ``DANCU_TEST_DATABASE_URL`` is set), as two
instances behind a load balancer would. Every step of a flow goes to the other server: a login
started on one is finished on the other, its tokens work on both, a one-time code used on one is
spent on the other, a revocation on one holds on the other, a data-sharing token issued by one is
accepted by the other, a client's quota is one count across both (docs/scale.md), and a chip
session's APDUs may alternate between them."""

from __future__ import annotations

import base64
import hashlib
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from itertools import cycle
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from fastapi.testclient import TestClient

from app.settings import Settings
from tests.e2e.conftest import ROOT, free_port, server_env, server_log, stop, wait_ready
from tests.unit.icao.reader import Reader

REDIRECT = "http://127.0.0.1:8765/callback"
DANCU = Path(sys.executable).with_name("dancu")


@pytest.fixture(scope="module")
def servers(client: TestClient, settings: Settings) -> Iterator[tuple[str, str]]:
    """Two ``dancu serve`` processes (one worker each) on one database; one issuer, as behind a
    load balancer. ``client`` first: the in-process app has bootstrapped the database."""
    ports = free_port(), free_port()
    issuer = f"http://127.0.0.1:{ports[0]}"
    processes, logs = [], []
    try:
        for port in ports:
            env = server_env(settings, issuer, DANCU_HOST="127.0.0.1", DANCU_PORT=str(port))
            logs.append(server_log(f"two-servers-{port}.log"))
            processes.append(subprocess.Popen([str(DANCU), "serve"], cwd=ROOT, env=env,
                                              stdout=logs[-1], stderr=subprocess.STDOUT))
            wait_ready(f"http://127.0.0.1:{port}", processes[-1])
        yield f"http://127.0.0.1:{ports[0]}", f"http://127.0.0.1:{ports[1]}"
    finally:
        for process in processes:
            stop(process)
        for log in logs:
            log.close()


@pytest.fixture(scope="module")
def admin(settings: Settings) -> dict[str, str]:
    return {"Authorization": f"Bearer {settings.admin_token}"}


def _basic(client_id: str, secret: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()}


def _register(base: str, admin: dict[str, str], **spec: Any) -> tuple[str, str]:
    created = httpx.post(f"{base}/v1/admin/clients", headers=admin,
                         json={"name": "two servers", "purposes": ["scale-out"],
                               "sandbox": True} | spec)
    assert created.status_code == 201, created.text
    return created.json()["client_id"], created.json()["client_secret"]


def _persona_pin(base: str, admin: dict[str, str]) -> str:
    personas = httpx.get(f"{base}/v1/admin/accounts/personas", headers=admin).json()["personas"]
    return next(p["pin"] for p in personas if p["key"] == "citizen-l2")


def _code_from(base: str, client_id: str, pin: str) -> tuple[str, str]:
    """Headless login (``X-Sandbox-Login``, PKCE S256) on ``base``: (code, verifier)."""
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(
        hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    state = secrets.token_urlsafe(8)
    response = httpx.get(f"{base}/oauth2/authorize", headers={"X-Sandbox-Login": pin}, params={
        "client_id": client_id, "response_type": "code", "redirect_uri": REDIRECT,
        "scope": "openid profile vneid.identity offline_access", "state": state,
        "nonce": secrets.token_urlsafe(8), "code_challenge": challenge,
        "code_challenge_method": "S256", "prompt": "consent"})
    assert response.status_code in (302, 303), response.text
    query = {k: v[0] for k, v in parse_qs(urlsplit(response.headers["location"]).query).items()}
    assert query["state"] == state
    return query["code"], verifier


def _redeem(base: str, client: tuple[str, str], code: str, verifier: str) -> httpx.Response:
    return httpx.post(f"{base}/oauth2/token", headers=_basic(*client), data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT,
        "code_verifier": verifier})


def _userinfo(base: str, access_token: str) -> httpx.Response:
    return httpx.get(f"{base}/oauth2/userinfo", headers={"Authorization": f"Bearer {access_token}"})


@pytest.fixture(scope="module")
def relying_party(servers: tuple[str, str], admin: dict[str, str]) -> tuple[str, str]:
    a, _ = servers
    return _register(a, admin, scopes=["openid", "profile", "vneid.identity", "offline_access"],
                     redirect_uris=[REDIRECT], grant_types=["authorization_code", "refresh_token"])


def test_a_login_started_on_one_server_is_finished_and_used_on_the_other(
        servers: tuple[str, str], admin: dict[str, str],
        relying_party: tuple[str, str]) -> None:
    a, b = servers
    pin = _persona_pin(a, admin)
    code, verifier = _code_from(a, relying_party[0], pin)
    tokens = _redeem(b, relying_party, code, verifier)
    assert tokens.status_code == 200, tokens.text
    on_a = _userinfo(a, tokens.json()["access_token"])
    assert on_a.status_code == 200, on_a.text
    assert on_a.json()["sub"] == _userinfo(b, tokens.json()["access_token"]).json()["sub"]


def test_a_code_redeemed_on_one_server_is_spent_on_the_other(
        servers: tuple[str, str], admin: dict[str, str],
        relying_party: tuple[str, str]) -> None:
    a, b = servers
    code, verifier = _code_from(b, relying_party[0], _persona_pin(a, admin))
    first = _redeem(a, relying_party, code, verifier)
    assert first.status_code == 200, first.text
    again = _redeem(b, relying_party, code, verifier)
    assert again.status_code == 400
    assert again.json()["error"] == "invalid_grant"
    # RFC 6749 §4.1.2: the reuse revoked what the code produced, on every server
    assert _userinfo(a, first.json()["access_token"]).status_code == 401


def test_a_refresh_and_a_revocation_on_one_server_hold_on_the_other(
        servers: tuple[str, str], admin: dict[str, str],
        relying_party: tuple[str, str]) -> None:
    a, b = servers
    code, verifier = _code_from(a, relying_party[0], _persona_pin(a, admin))
    tokens = _redeem(a, relying_party, code, verifier).json()
    refreshed = httpx.post(f"{b}/oauth2/token", headers=_basic(*relying_party), data={
        "grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]})
    assert refreshed.status_code == 200, refreshed.text
    access = refreshed.json()["access_token"]
    assert _userinfo(a, access).status_code == 200
    revoked = httpx.post(f"{a}/oauth2/revoke", headers=_basic(*relying_party),
                         data={"token": access, "token_type_hint": "access_token"})
    assert revoked.status_code == 200
    assert _userinfo(b, access).status_code == 401


def test_a_data_sharing_token_from_one_server_is_accepted_by_the_other(
        servers: tuple[str, str], admin: dict[str, str]) -> None:
    a, b = servers
    client = _register(a, admin, scopes=["citizen.basic"], legal_basis="test", rate_limit=1000)
    issued = httpx.post(f"{a}/oauth2/token", headers=_basic(*client),
                        data={"grant_type": "client_credentials", "scope": "citizen.basic"})
    assert issued.status_code == 200, issued.text
    pin = _persona_pin(a, admin)
    found = httpx.get(f"{b}/v1/citizens/{pin}",
                      headers={"Authorization": f"Bearer {issued.json()['access_token']}"})
    assert found.status_code == 200, found.text
    assert found.json()["pin"] == pin


def _granted_across(servers: tuple[str, str], token: str, pin: str, requests: int) -> int:
    statuses = [httpx.get(f"{servers[i % 2]}/v1/citizens/{pin}",
                          headers={"Authorization": f"Bearer {token}"}).status_code
                for i in range(requests)]
    assert set(statuses) <= {200, 429}, statuses
    return statuses.count(200)


def _quota_run(servers: tuple[str, str], admin: dict[str, str], limit: int) -> int | None:
    """Requests granted to a new client with ``limit``, or ``None`` when the run straddled a
    one-minute window boundary (the next window restarts the count)."""
    a, _ = servers
    client = _register(a, admin, scopes=["citizen.basic"], legal_basis="test", rate_limit=limit)
    token = httpx.post(f"{a}/oauth2/token", headers=_basic(*client), data={
        "grant_type": "client_credentials", "scope": "citizen.basic"}).json()["access_token"]
    pin = _persona_pin(a, admin)
    window = time.time() // 60
    granted = _granted_across(servers, token, pin, 3 * limit)
    return granted if time.time() // 60 == window else None


def test_a_client_quota_is_one_count_across_servers(
        servers: tuple[str, str], admin: dict[str, str]) -> None:
    """A limit under 200 is leased one request at a time, so the shared count is exact."""
    limit = 5
    granted = _quota_run(servers, admin, limit)
    if granted is None:  # two runs in a row cannot both straddle a boundary
        granted = _quota_run(servers, admin, limit)
    assert granted == limit


def test_a_chip_session_opened_on_one_server_answers_apdus_on_the_other(
        servers: tuple[str, str], admin: dict[str, str]) -> None:
    """The emulator's state is the session's database row: each APDU may go to either server."""
    a, b = servers
    reader_client = _register(a, admin, scopes=["card.read"])
    token = httpx.post(f"{a}/oauth2/token", headers=_basic(*reader_client), data={
        "grant_type": "client_credentials", "scope": "card.read"}).json()["access_token"]
    bearer = {"Authorization": f"Bearer {token}"}
    personas = httpx.get(f"{a}/v1/sandbox/personas", headers=admin).json()["personas"]
    persona = next(p for p in personas if p["key"] == "valid-adult-level2")
    pin, key = persona["pin"], persona["card"]["access_key"]
    opened = httpx.post(f"{a}/v1/cards/{pin}/chip/sessions", headers=bearer)
    assert opened.status_code == 201, opened.text
    bases = cycle((b, a))

    def transmit(command: bytes) -> bytes:
        answer = httpx.post(f"{next(bases)}/v1/cards/{pin}/chip/apdu", headers=bearer, json={
            "session_id": opened.json()["session_id"], "apdus": [command.hex()]})
        assert answer.status_code == 200, answer.text
        return bytes.fromhex(answer.json()["responses"][0])

    reader = Reader(transmit)
    reader.select_application()
    reader.bac(bytes.fromhex(key))
    files = httpx.get(f"{b}/v1/cards/{pin}/chip",
                      headers={"X-Chip-Access-Key": key, **bearer}).json()["files"]
    assert reader.read_file(0x0101) == base64.b64decode(files["DG1"])
    assert reader.read_file(0x010F) == base64.b64decode(files["DG15"])
