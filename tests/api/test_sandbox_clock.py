"""The sandbox clock through the API: freeze, advance, unfreeze, reset; tokens, one-time codes,
card expiry, ages and life events follow it; it is stored for every process and the command line,
and it stays where tokens can still be signed."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from app.db import Database
from app.services.sandbox import clock as sandbox_clock
from app.services.vneid import otp as accounts_otp
from tests.api.events_support import person
from tests.api.oidc_support import authorize, csrf_of, register_rp, sms_code
from tests.api.sandbox_support import catalogue, sandbox_client, token
from tests.api.sharing_support import admin_headers, bearer

__all__ = ["admin_headers"]
INSTANT = "2030-03-01T08:00:00Z"


@pytest.fixture(autouse=True)
def back_to_real_time(client: TestClient, admin_headers: dict[str, str],
                      app: FastAPI) -> Iterator[None]:
    yield
    client.post("/v1/sandbox/clock/reset", headers=admin_headers)
    app.state.clock.reset()


@pytest.fixture(scope="module")
def listed(client: TestClient, admin_headers: dict[str, str]) -> dict[str, Any]:
    return catalogue(client, admin_headers)


def _clock(client: TestClient, headers: dict[str, str], action: str,
           body: dict[str, Any] | None = None) -> dict[str, Any]:
    response = client.post(f"/v1/sandbox/clock/{action}", json=body or {}, headers=headers)
    assert response.status_code == 200, response.text
    return dict(response.json())


def test_freeze_advance_unfreeze_and_reset(client: TestClient,
                                           admin_headers: dict[str, str]) -> None:
    frozen = _clock(client, admin_headers, "freeze", {"at": INSTANT})
    assert (frozen["now"], frozen["frozen"]) == ("2030-03-01T08:00:00Z", True)
    assert client.get("/v1/sandbox/clock", headers=admin_headers).json()["now"] == frozen["now"]
    later = _clock(client, admin_headers, "advance", {"days": 2, "seconds": 30})
    assert later["now"] == "2030-03-03T08:00:30Z"
    assert later["version"] > frozen["version"]
    running = _clock(client, admin_headers, "unfreeze")
    assert running["frozen"] is False
    assert running["offset_seconds"] > 3 * 365 * 86400
    real = _clock(client, admin_headers, "reset")
    assert (real["offset_seconds"], real["frozen"]) == (0.0, False)


def test_the_stored_clock_is_what_the_command_line_reads(
        client: TestClient, admin_headers: dict[str, str], database: Database) -> None:
    _clock(client, admin_headers, "freeze", {"at": INSTANT})
    assert sandbox_clock.stored_now(database) == datetime(2030, 3, 1, 8, tzinfo=UTC)


def test_the_clock_cannot_go_where_no_key_can_sign(client: TestClient,
                                                   admin_headers: dict[str, str]) -> None:
    for action, body in (("freeze", {"at": "2001-01-01T00:00:00Z"}),
                         ("freeze", {"at": "2100-06-01T00:00:00Z"}),
                         ("advance", {"days": -3000})):
        response = client.post(f"/v1/sandbox/clock/{action}", json=body, headers=admin_headers)
        assert response.status_code == 422
        assert response.json()["type"].endswith("/clock-out-of-range")


def _problem(response: Any) -> tuple[int, str]:
    return response.status_code, response.json()["type"].rsplit("/", 1)[-1]


MOVES: dict[str, dict[str, Any]] = {"freeze": {}, "advance": {"seconds": 60}, "unfreeze": {},
                                    "reset": {}}


@pytest.mark.parametrize("action", list(MOVES))
def test_only_the_admin_moves_the_deployment_clock_that_every_client_shares(
        client: TestClient, admin_headers: dict[str, str], settings: Any, action: str) -> None:
    production = sandbox_client(client, admin_headers, sandbox=False)
    access = bearer(token(client, production, scope="citizen.basic"))
    refused = client.post(f"/v1/sandbox/clock/{action}", json=MOVES[action], headers=access)
    assert _problem(refused) == (403, "sandbox-client-required")
    demo = bearer(token(client, (settings.demo_client_id, settings.demo_client_secret)))
    mine = bearer(token(client, sandbox_client(client, admin_headers)))
    for caller in (demo, mine):
        moved = client.post(f"/v1/sandbox/clock/{action}", json=MOVES[action], headers=caller)
        assert _problem(moved) == (403, "admin-only")
        assert client.get("/v1/sandbox/clock", headers=caller).status_code == 200
    assert client.post(f"/v1/sandbox/clock/{action}", json=MOVES[action],
                       headers=admin_headers).status_code == 200


def test_access_tokens_expire_on_the_sandbox_clock(client: TestClient,
                                                   admin_headers: dict[str, str]) -> None:
    mine = bearer(token(client, sandbox_client(client, admin_headers)))
    assert client.get("/v1/sandbox/clock", headers=mine).status_code == 200
    _clock(client, admin_headers, "advance", {"seconds": 600 + 120})  # lifetime + leeway
    expired = client.get("/v1/sandbox/clock", headers=mine)
    assert expired.json()["type"].endswith("/invalid-token")


def test_sms_codes_expire_on_the_sandbox_clock(
        client: TestClient, admin_headers: dict[str, str], listed: dict[str, Any]) -> None:
    rp = register_rp(client, admin_headers, name="Clock RP")
    agent = TestClient(client.app, follow_redirects=False)
    pin = listed["valid-adult-level2"]["pin"]
    flow = authorize(agent, rp, ui_locales="en")
    interaction = flow.location.rsplit("/", 1)[-1]
    page = agent.get(flow.location)
    sent = agent.post(f"/oauth2/login/{interaction}/password",
                      data={"csrf": csrf_of(page.text), "pin": pin, "password": "Vneid@2025"})
    csrf = csrf_of(agent.get(sent.headers["location"]).text)
    code = sms_code(agent, admin_headers, pin)
    _clock(client, admin_headers, "advance",
           {"seconds": int(accounts_otp.OTP_TTL.total_seconds()) + 1})
    late = agent.post(f"/oauth2/login/{interaction}/otp", data={"csrf": csrf, "code": code})
    assert "wrong or has expired" in late.text


def test_cards_expire_on_the_sandbox_clock(client: TestClient, admin_headers: dict[str, str],
                                           listed: dict[str, Any]) -> None:
    minor = listed["minor-under-14"]
    access = bearer(token(client, sandbox_client(client, admin_headers)))
    assert client.get(f"/v1/cards/{minor['pin']}", headers=access).json()["status"] == "active"
    expiry = date.fromisoformat(minor["card"]["expiry_date"])
    _clock(client, admin_headers, "freeze",
           {"at": f"{expiry + timedelta(days=2)}T00:00:00Z"})
    access = bearer(token(client, sandbox_client(client, admin_headers)))
    assert client.get(f"/v1/cards/{minor['pin']}", headers=access).json()["status"] == "expired"


def test_ages_follow_the_sandbox_clock(client: TestClient, admin_headers: dict[str, str],
                                       listed: dict[str, Any]) -> None:
    """Level 2 needs age 6 (Decree 69 Art. 7): a card-holding child under 6 becomes eligible for
    it when the clock passes the sixth birthday."""
    child = listed["child-under-6-no-photo"]
    body = {"pin": child["pin"], "level": 2}
    refused = client.post("/v1/admin/accounts", json=body, headers=admin_headers)
    assert refused.status_code == 409, refused.text
    assert refused.json()["type"].endswith("/account-not-eligible")
    born = date.fromisoformat(child["birth_date"])
    _clock(client, admin_headers, "freeze",
           {"at": f"{born.replace(year=born.year + 6) + timedelta(days=1)}T03:00:00Z"})
    opened = client.post("/v1/admin/accounts", json=body, headers=admin_headers)
    assert opened.status_code == 201, opened.text
    assert opened.json()["level"] == 2
    client.post(f"/v1/admin/accounts/{child['pin']}/close", json={"reason": "authority"},
                headers=admin_headers)


def test_life_events_are_dated_by_the_sandbox_clock(
        client: TestClient, admin_headers: dict[str, str], database: Database) -> None:
    with database.write() as session:
        pin = person(session, sex="M", born=date(1950, 5, 5)).pin
    _clock(client, admin_headers, "freeze", {"at": INSTANT})
    recorded = client.post("/v1/life-events/deaths", json={"pin": pin}, headers=admin_headers)
    assert recorded.status_code == 201, recorded.text
    event = recorded.json()["event"]
    assert event["occurred_on"] == "2030-03-01"
    assert event["recorded_at"].startswith("2030-03-01T08:00:00")
