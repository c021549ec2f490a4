"""The persona catalogue: every persona produces, through HTTP, the outcome the catalogue (and
docs/personas.md) promises on each channel: lookup, verification, chip and login."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.services.sandbox import personas as catalogue_rules
from tests.api.sandbox_support import (
    Sleeps,
    catalogue,
    chip,
    login,
    login_rp,
    lookup,
    sandbox_client,
    sleeps,
    token,
    verification,
)
from tests.api.sharing_support import admin_headers, bearer

__all__ = ["admin_headers", "sleeps"]
CHANNELS = ("lookup", "verification", "chip", "login")
DOC = Path(__file__).parents[2] / "docs" / "personas.md"


@pytest.fixture(scope="module")
def tester(client: TestClient, admin_headers: dict[str, str]) -> tuple[str, str]:
    return sandbox_client(client, admin_headers)


@pytest.fixture(scope="module")
def listed(client: TestClient, admin_headers: dict[str, str]) -> dict[str, dict[str, Any]]:
    return catalogue(client, admin_headers)


@pytest.fixture(scope="module")
def access(client: TestClient, tester: tuple[str, str]) -> str:
    return token(client, tester)


@pytest.fixture(scope="module")
def rp(client: TestClient, admin_headers: dict[str, str]) -> Any:
    return login_rp(client, admin_headers)


def _observe(channel: str, client: TestClient, persona: dict[str, Any], access: str,
             rp: Any) -> dict[str, Any]:
    if channel == "login":
        return login(client, persona, rp)
    return {"lookup": lookup, "verification": verification, "chip": chip}[channel](
        client, persona, access)


@pytest.mark.parametrize("channel", CHANNELS)
@pytest.mark.parametrize("key", catalogue_rules.KEYS)
def test_persona_produces_its_documented_outcome_on_each_channel(
        key: str, channel: str, client: TestClient, listed: dict[str, dict[str, Any]],
        access: str, rp: Any, sleeps: Sleeps) -> None:
    persona = listed[key]
    expected = {name: value for name, value in persona["expected"][channel].items()
                if name != "request" and value is not None}
    observed = _observe(channel, client, persona, access, rp)
    if "delay_ms" in expected:  # each request naming the persona waits, the others do not
        assert len(set(sleeps.waits)) == 1
        observed["delay_ms"] = round(sleeps.waits[0] * 1000)
    assert observed == expected


def test_catalogue_lists_every_persona_once_with_distinct_citizens(
        listed: dict[str, dict[str, Any]]) -> None:
    assert list(listed) == list(catalogue_rules.KEYS)
    pins = [p["pin"] for p in listed.values()]
    assert len(set(pins)) == len(pins)


def test_card_and_account_personas_are_the_same_citizens_as_their_channel_lists(
        client: TestClient, admin_headers: dict[str, str],
        listed: dict[str, dict[str, Any]]) -> None:
    cards = {p["key"]: p["pin"] for p in client.get(
        "/v1/sandbox/personas/cards", headers=admin_headers).json()["personas"]}
    accounts = {p["key"]: p["pin"] for p in client.get(
        "/v1/admin/accounts/personas", headers=admin_headers).json()["personas"]}
    for spec in catalogue_rules.SPECS:
        if spec.card_persona:
            assert listed[spec.key]["pin"] == cards[spec.card_persona]
        if spec.account_persona:
            assert listed[spec.key]["pin"] == accounts[spec.account_persona]


def test_special_personas_have_the_data_their_name_promises(
        listed: dict[str, dict[str, Any]]) -> None:
    rare = listed["rare-diacritics-two-middle-names"]["full_name"]
    assert len(rare.split()) == 4
    assert set(rare) & set("Ỷữẩ")
    assert listed["born-abroad"]["pin"][:3] >= "101"
    assert listed["child-under-6-no-photo"]["card"] is not None
    assert listed["elderly-card-for-life"]["card"]["expiry_date"] is None
    moved = listed["pin-reestablished"]
    assert moved["current_pin"] != moved["pin"]
    assert listed["level1-only"]["vneid"]["level"] == 1


def test_level1_persona_is_refused_a_loa2_login(client: TestClient, listed: dict[str, Any],
                                                 rp: Any) -> None:
    from tests.api.oidc_support import authorize

    agent = TestClient(client.app, follow_redirects=False)
    flow = authorize(agent, rp, pin=listed["level1-only"]["pin"], acr_values="LoA2")
    assert flow.result["error"] == "unmet_authentication_requirements"


def test_fault_personas_answer_normally_to_clients_that_are_not_sandbox_clients(
        client: TestClient, admin_headers: dict[str, str], listed: dict[str, Any]) -> None:
    production = sandbox_client(client, admin_headers, sandbox=False)
    access = token(client, production, scope="citizen.basic")
    pin = listed["fault-unavailable"]["pin"]
    response = client.get(f"/v1/citizens/{pin}", headers=bearer(access))
    assert response.status_code == 200


def test_catalogue_is_for_sandbox_clients_and_the_admin(client: TestClient,
                                                        admin_headers: dict[str, str]) -> None:
    production = sandbox_client(client, admin_headers, sandbox=False)
    refused = client.get("/v1/sandbox/personas",
                         headers=bearer(token(client, production, scope="citizen.basic")))
    assert refused.status_code == 403
    assert refused.json()["type"].endswith("/sandbox-client-required")
    assert client.get("/v1/sandbox/personas").status_code == 401


def test_export_is_a_json_fixture_file_of_the_same_catalogue(
        client: TestClient, admin_headers: dict[str, str], listed: dict[str, Any]) -> None:
    response = client.get("/v1/sandbox/personas/export", headers=admin_headers)
    assert response.status_code == 200
    assert "attachment" in response.headers["content-disposition"]
    assert [p["key"] for p in response.json()["personas"]] == list(listed)


def test_docs_personas_table_lists_every_persona_with_its_outcomes() -> None:
    text = DOC.read_text("utf-8")
    rows = {m[1]: m[0] for m in re.finditer(r"^\| `([a-z0-9-]+)` \|.*$", text, re.M)}
    assert list(rows) == list(catalogue_rules.KEYS)
    for spec in catalogue_rules.SPECS:
        for channel, expected in catalogue_rules.expectations(spec.outcomes).items():
            text = catalogue_rules.outcome_text(channel, expected, markdown=True)
            assert text in rows[spec.key], (spec.key, channel)


@pytest.mark.parametrize(("named", "faulted"), [
    ("{pin}", True),  # the PIN alone, in a body longer than the scanner's short cut
    ("x{pin}y", True),
    ("{pin}0", False),  # thirteen digits: no PIN
    ("9{pin}", False),
])
def test_a_fault_persona_named_anywhere_in_a_long_body_answers_its_fault(
        client: TestClient, tester: tuple[str, str], listed: dict[str, Any], named: str,
        faulted: bool) -> None:
    pin = listed["fault-unavailable"]["pin"]
    padding = "Qm9keTEyMzQ1Njc4OTAx" * 400  # base64-like, digits in short runs only
    response = client.post("/v1/citizens/verify", headers=bearer(token(client, tester)), json={
        "padding": padding, "note": named.format(pin=pin), "pin": "001099999999",
        "full_name": "Nguyễn Văn A", "birth_date": "1990-01-01"})
    assert (response.status_code == 503) is faulted, response.text
