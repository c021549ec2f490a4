"""Regressions of what the fuzzer and the hostile-input family found, pinned as plain examples so
they fail on their own if they come back (the fuzzer only finds them by chance)."""

from __future__ import annotations

import re
from typing import Any

from fastapi.testclient import TestClient

from app.db import Database
from tests.api.oidc_support import *  # noqa: F403
from tests.api.oidc_support import citizen_without_account
from tests.api.sharing_support import bearer, issue_token

ISO_WITH_ZONE = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$")


def test_unlocking_every_manual_ground_at_once_records_each_ground(
        client: TestClient, admin: dict[str, str], database: Database) -> None:
    """Their joined names overflowed the 32-character reason column: a 500 on PostgreSQL."""
    pin = citizen_without_account(database, min_age=30, max_age=50, valid_card=True)
    assert client.post("/v1/admin/accounts", json={"pin": pin, "level": 2},
                       headers=admin).status_code == 201
    for reason in ("self_request", "tos_violation", "authority"):
        locked = client.post(f"/v1/admin/accounts/{pin}/lock", json={"reason": reason},
                             headers=admin)
        assert locked.status_code == 200, locked.text
    unlocked = client.post(f"/v1/admin/accounts/{pin}/unlock", json={}, headers=admin)
    assert unlocked.status_code == 200, unlocked.text
    events = client.get(f"/v1/admin/accounts/{pin}/events", headers=admin).json()["events"]
    assert [e["reason"] for e in events if e["kind"] == "unlocked"] == [
        "self_request", "tos_violation", "authority"]


def test_a_card_state_conflict_keeps_its_integer_status(
        client: TestClient, admin: dict[str, str], personas: dict[str, Any]) -> None:
    """A ``status`` extension (the card's) replaced the problem's HTTP status."""
    pin = personas["citizen-l2"]["pin"]
    response = client.post(f"/v1/admin/cards/{pin}/issue", json={}, headers=admin)
    assert response.status_code == 409
    body = response.json()
    assert body["status"] == 409
    assert body["card_status"] == "active"


def test_instants_carry_their_zone(client: TestClient, admin: dict[str, str],
                                   personas: dict[str, Any]) -> None:
    """SQLite gave instants back without a zone: not an RFC 3339 date-time."""
    pin = personas["citizen-l2"]["pin"]
    events = client.get(f"/v1/admin/accounts/{pin}/events", headers=admin).json()["events"]
    assert all(ISO_WITH_ZONE.match(event["at"]) for event in events)


def test_a_batch_item_with_an_invalid_pin_may_omit_it(client: TestClient, settings: Any) -> None:
    token = issue_token(client, settings.demo_client_id, settings.demo_client_secret)
    response = client.post("/v1/citizens/verify/batch", headers=bearer(token), json={
        "items": [{"pin": "", "full_name": "Nguyễn Văn An"}]})
    assert response.status_code == 200
    assert response.json()["results"][0]["verdict"] == "invalid_pin"
    assert "pin" not in response.json()["results"][0]
    schema = client.get("/openapi.json").json()["components"]["schemas"]["BatchResult"]
    assert "pin" not in schema.get("required", [])


def test_a_body_that_is_not_utf8_is_the_documented_422(client: TestClient,
                                                      settings: Any) -> None:
    token = issue_token(client, settings.demo_client_id, settings.demo_client_secret)
    response = client.post("/v1/citizens/verify", content=b'{"pin": "\xff"}',
                           headers={**bearer(token), "Content-Type": "application/json"})
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
