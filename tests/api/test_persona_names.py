"""One persona vocabulary: a key of ``GET /v1/sandbox/personas`` is accepted wherever a persona is
named (``X-Sandbox-Login``, the login page's picker, the sandbox QR approval, the fault personas),
the account and card personas' keys too; a key no persona has is refused as an unknown persona,
never as a wrong password or an unknown PIN."""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from app.services.population import persona_names
from tests.api.oidc_support import *  # noqa: F403
from tests.api.oidc_support import Rp, authorize, browser, csrf_of, register_rp
from tests.api.sandbox_support import catalogue

WRONG_PASSWORD = "The PIN or the password is wrong."
UNKNOWN_PIN = "No VNeID account has this PIN."


@pytest.fixture(scope="module")
def listed(client: TestClient, admin: dict[str, str]) -> dict[str, dict[str, Any]]:
    return catalogue(client, admin)


@pytest.fixture(scope="module")
def rp(client: TestClient, admin: dict[str, str]) -> Rp:
    return register_rp(client, admin)


def _outcome(agent: TestClient, rp: Rp, named: str) -> tuple[bool, str | None]:
    """(a code was issued, the error of the redirect) of an X-Sandbox-Login."""
    result = authorize(agent, rp, pin=named).result
    return "code" in result, result.get("error")


def test_every_catalogue_key_logs_in_like_its_pin_through_x_sandbox_login(
        app: FastAPI, rp: Rp, listed: dict[str, dict[str, Any]]) -> None:
    quiet = {key: p for key, p in listed.items() if not p["fault"]}
    assert len(quiet) > 10
    by_key = {key: _outcome(browser(app), rp, key) for key in quiet}
    by_pin = {key: _outcome(browser(app), rp, p["current_pin"]) for key, p in quiet.items()}
    assert by_key == by_pin
    assert by_key["valid-adult-level2"] == (True, None)
    assert by_key["no-account"] == (False, "access_denied")


def test_an_unknown_key_in_x_sandbox_login_is_refused_as_an_unknown_persona(
        app: FastAPI, rp: Rp) -> None:
    result = authorize(browser(app), rp, pin="no-such-persona").result
    assert result["error"] == "access_denied"
    assert "No persona has this key" in result["error_description"]
    assert result["error_description"] != UNKNOWN_PIN


def test_a_fault_persona_named_by_its_key_answers_its_fault(app: FastAPI, rp: Rp) -> None:
    response = authorize(browser(app), rp, pin="fault-unavailable").response
    assert response.status_code == 503


def _picker(agent: TestClient, rp: Rp, key: str) -> Any:
    flow = authorize(agent, rp)
    page = agent.get(flow.location + "?lang=en")
    return agent.post(flow.location + "/persona",
                      data={"csrf": csrf_of(page.text), "persona": key, "lang": "en"})


@pytest.mark.parametrize("key", ["valid-adult-level2", "card-lost", "citizen-l2", "lost-card"])
def test_the_login_picker_takes_catalogue_account_and_card_persona_keys(
        app: FastAPI, rp: Rp, key: str) -> None:
    location = _picker(browser(app), rp, key).headers["location"]
    assert location.startswith("/oauth2/consent/") or "code=" in location  # consented before


@pytest.mark.parametrize(("key", "message"), [
    ("no-such-persona", "No persona has this key"),
    ("no-account", "This citizen has no VNeID account."),
])
def test_the_login_picker_says_why_a_persona_cannot_log_in(
        app: FastAPI, rp: Rp, key: str, message: str) -> None:
    refused = _picker(browser(app), rp, key)
    assert refused.status_code == 200
    assert message in refused.text
    assert WRONG_PASSWORD not in refused.text


def _qr_handle(agent: TestClient, rp: Rp) -> str:
    page = agent.get(authorize(agent, rp).location).text
    match = re.search(r'data-status-url="/oauth2/qr/([^"]+)"', page)
    assert match
    return match.group(1)


@pytest.mark.parametrize(("key", "status"), [
    ("valid-adult-level2", 200), ("citizen-l2", 200), ("no-such-persona", 404)])
def test_the_sandbox_qr_approval_takes_any_persona_key_and_refuses_unknown_ones(
        app: FastAPI, client: TestClient, admin: dict[str, str], rp: Rp, key: str,
        status: int) -> None:
    handle = _qr_handle(browser(app), rp)
    response = client.post(f"/v1/sandbox/qr/{handle}/approve", json={"persona": key},
                           headers=admin)
    assert response.status_code == status
    if status == 404:
        assert response.json()["type"].endswith("/unknown-persona")
        assert key not in response.text


@pytest.mark.parametrize(("value", "shaped"), [
    ("valid-adult-level2", True), ("lost-card", True), ("001093047064", False),
    ("Valid-Adult", False), ("x" * 49, False), ("a--b", False), ("", False)])
def test_persona_keys_have_one_shape(value: str, shaped: bool) -> None:
    assert persona_names.looks_like_key(value) is shaped

