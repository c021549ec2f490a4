"""Helpers for the sandbox-control tests: a sandbox client's tokens, the persona catalogue, a sleep
that records instead of waiting, and one observer per channel that reads what a persona produces
through HTTP (the same fields the catalogue's ``expected`` names)."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.api.cards_support import CHALLENGE, access_key
from tests.api.oidc_support import Rp, authorize, jwt_claims, redeem, register_rp
from tests.api.sharing_support import bearer, chip_headers, new_client

SCOPES = "citizen.basic citizen.verify card.read card.verify"


class Sleeps:
    """Stands in for the sandbox's sleep: remembers each wait, returns at once."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)

    def total_ms(self) -> int:
        return round(sum(self.waits) * 1000)


@pytest.fixture
def sleeps(app: FastAPI) -> Iterator[Sleeps]:
    recorder = Sleeps()
    app.state.sandbox_sleep = recorder
    yield recorder
    app.state.sandbox_sleep = None


_clients: dict[tuple[str, bool], tuple[str, str]] = {}


def sandbox_client(client: TestClient, admin: dict[str, str], *,
                   sandbox: bool = True) -> tuple[str, str]:
    """A registered client of this test database (one per kind), rate limit out of the way."""
    key = (str(client.app.state.database.url), sandbox)  # type: ignore[attr-defined]
    if key not in _clients:
        name = "sandbox-tester" if sandbox else "production-tester"
        _clients[key] = new_client(client, admin, client_id=name, sandbox=sandbox,
                                   rate_limit=100000, **({} if sandbox else {
                                       "scopes": ["citizen.basic", "citizen.verify"]}))
    return _clients[key]


def token(client: TestClient, credentials: tuple[str, str], scope: str = SCOPES,
          headers: dict[str, str] | None = None) -> str:
    response = client.post("/oauth2/token", data={"grant_type": "client_credentials",
                                                  "scope": scope},
                           auth=credentials, headers=headers or {})
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


def catalogue(client: TestClient, headers: dict[str, str]) -> dict[str, dict[str, Any]]:
    response = client.get("/v1/sandbox/personas", headers=headers)
    assert response.status_code == 200, response.text
    return {p["key"]: p for p in response.json()["personas"]}


# --- what each channel shows ---------------------------------------------------------------------


def _problem(response: Any) -> dict[str, Any]:
    code = response.json().get("type", "").rsplit("/", 1)[-1]
    return {"http_status": response.status_code, "problem": code}


def lookup(client: TestClient, persona: dict[str, Any], tokens: str) -> dict[str, Any]:
    response = client.get(f"/v1/citizens/{persona['pin']}", headers=bearer(tokens))
    if response.status_code != 200:
        return _problem(response)
    return {"http_status": 200, "status": response.json()["status"]}


def verification(client: TestClient, persona: dict[str, Any], tokens: str) -> dict[str, Any]:
    claim = {"pin": persona["pin"], "full_name": persona["full_name"],
             "birth_date": persona["birth_date"]}
    response = client.post("/v1/citizens/verify", json=claim, headers=bearer(tokens))
    if response.status_code != 200:
        return _problem(response)
    body = response.json()
    return {"http_status": 200, "status": body["status"], "verdict": body["verdict"]}


def chip(client: TestClient, persona: dict[str, Any], tokens: str) -> dict[str, Any]:
    """Read the printed card, open the chip with the key computed from its MRZ, challenge it,
    and have the read verified."""
    card = client.get(f"/v1/cards/{persona['pin']}", headers=bearer(tokens))
    if card.status_code != 200:
        return _problem(card)
    key = chip_headers(client, access_key(card.json()["mrz"]))
    files = client.get(f"/v1/cards/{persona['pin']}/chip", headers=key).json()["files"]
    signed = client.post(f"/v1/cards/{persona['pin']}/chip/internal-authenticate",
                         json={"challenge": CHALLENGE}, headers=key).json()["response"]
    body = {"files": files, "active_authentication": {"challenge": CHALLENGE,
                                                      "response": signed}}
    report = client.post("/v1/cards/verify", json=body, headers=bearer(tokens))
    assert report.status_code == 200, report.text
    verdict = report.json()["verdict"]
    failing = [f"{s['code']}:{s['reason']}" for s in report.json()["steps"]
               if s["status"] == "fail"]
    return {"http_status": 200, "verdict": verdict, **({"failing": failing} if failing else {})}


def login(client: TestClient, persona: dict[str, Any], rp: Rp) -> dict[str, Any]:
    agent = TestClient(client.app, follow_redirects=False)
    flow = authorize(agent, rp, pin=persona["pin"])
    if flow.response.status_code != 303:
        return {"result": "http", "http_status": flow.response.status_code}
    if "error" in flow.result:
        return {"result": "error", "error": flow.result["error"]}
    tokens = redeem(agent, rp, flow)
    assert tokens.status_code == 200, tokens.text
    return {"result": "code", "acr": jwt_claims(tokens.json()["id_token"])["acr"]}


def login_rp(client: TestClient, admin: dict[str, str]) -> Rp:
    return register_rp(client, admin, name="Persona RP")


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()
