"""POST /v1/citizens/verify and /verify/batch: match / no-match without disclosure."""

from __future__ import annotations

import unicodedata
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.api.sharing_support import *  # noqa: F403
from tests.api.sharing_support import People, bearer, issue_token, new_client

STORED_VALUES = ("Nguyễn Thị Thuỷ", "1990-05-17", "0912345678", "079090123", "thuy@example.vn")


def _verify(client: TestClient, token: str, **body: Any) -> Any:
    return client.post("/v1/citizens/verify", json=body, headers=bearer(token))


def test_all_claimed_attributes_match(client: TestClient, people: People, demo_token: str) -> None:
    response = _verify(client, demo_token, pin=people.mother, full_name="Nguyễn Thị Thuỷ",
                       birth_date="1990-05-17", sex="F", old_id_number=people.cmnd,
                       phone="+84 912 345 678")
    body = response.json()
    assert response.status_code == 200
    assert body["verdict"] == "match"
    assert body["status"] == "alive"
    assert {name: r["result"] for name, r in body["fields"].items()} == {
        "full_name": "match", "birth_date": "match", "sex": "match", "old_id_number": "match",
        "phone": "match"}
    assert body["name_matching"] == {"mode": "canonical"}


def test_one_wrong_attribute_gives_no_match_for_that_field_only(
        client: TestClient, people: People, demo_token: str) -> None:
    body = _verify(client, demo_token, pin=people.mother, full_name="Nguyễn Thị Thuỷ",
                   birth_date="1990-05-18").json()
    assert body["verdict"] == "no_match"
    assert body["fields"]["full_name"]["result"] == "match"
    assert body["fields"]["birth_date"]["result"] == "no_match"


def test_verification_never_returns_the_stored_values(
        client: TestClient, people: People, demo_token: str) -> None:
    response = _verify(client, demo_token, pin=people.mother, full_name="Someone Else",
                       birth_date="2000-01-01", phone="0999999999", old_id_number="111111111")
    assert response.status_code == 200
    assert not [value for value in STORED_VALUES if value in response.text]


@pytest.mark.parametrize("claimed", [
    "Nguyễn Thị Thuỷ", "Nguyễn Thị Thủy", unicodedata.normalize("NFD", "Nguyễn Thị Thuỷ"),
    "NGUYỄN THỊ THUỶ", "  nguyễn   thị\u00a0thuỷ ", "Nguy\u00ea\u0303n Thị Thuỷ",
], ids=["as recorded", "old tone placement", "NFD", "upper case", "spacing", "IME composite"])
def test_name_matching_policy_accepts_canonical_equivalents(
        client: TestClient, people: People, demo_token: str, claimed: str) -> None:
    body = _verify(client, demo_token, pin=people.mother, full_name=claimed).json()
    assert body["fields"]["full_name"] == {"result": "match", "level": "canonical"}


def test_old_tone_placement_on_record_matches_new_placement_claimed(
        client: TestClient, people: People, demo_token: str) -> None:
    body = _verify(client, demo_token, pin=people.father, full_name="Trần Văn Hoà").json()
    assert body["verdict"] == "match"


def test_accents_count_unless_accent_insensitive_mode_is_asked_and_reported(
        client: TestClient, people: People, demo_token: str) -> None:
    strict = _verify(client, demo_token, pin=people.mother, full_name="Nguyen Thi Thuy").json()
    relaxed = _verify(client, demo_token, pin=people.mother, full_name="Nguyen Thi Thuy",
                      accent_insensitive=True).json()
    assert strict["fields"]["full_name"]["result"] == "no_match"
    assert relaxed["fields"]["full_name"] == {"result": "match", "level": "accent_insensitive"}
    assert relaxed["name_matching"] == {"mode": "accent_insensitive"}


def test_attribute_not_on_record_makes_the_verdict_inconclusive(
        client: TestClient, people: People, demo_token: str) -> None:
    body = _verify(client, demo_token, pin=people.father, sex="M", phone="0912345678").json()
    assert body["fields"]["phone"]["result"] == "not_on_record"
    assert body["verdict"] == "inconclusive"


def test_year_only_birth_date_matches_any_day_of_that_year(
        client: TestClient, people: People, demo_token: str) -> None:
    body = _verify(client, demo_token, pin=people.elderly, birth_date="1932-08-15").json()
    assert body["fields"]["birth_date"]["result"] == "match"


def test_verification_reports_a_deceased_citizen(client: TestClient, people: People,
                                                 demo_token: str) -> None:
    body = _verify(client, demo_token, pin=people.deceased, full_name="Lê Văn Tám").json()
    assert (body["verdict"], body["status"]) == ("match", "deceased")


def test_verifying_an_unknown_pin_is_404(client: TestClient, demo_token: str) -> None:
    response = _verify(client, demo_token, pin="001099999999", sex="M")
    assert response.status_code == 404
    assert response.json()["type"].endswith("/citizen-not-found")


def test_verification_needs_at_least_one_claim(client: TestClient, people: People,
                                               demo_token: str) -> None:
    assert _verify(client, demo_token, pin=people.mother).status_code == 422


def _batch(client: TestClient, token: str, items: list[dict[str, Any]], **extra: Any) -> Any:
    return client.post("/v1/citizens/verify/batch", json={"items": items, **extra},
                       headers=bearer(token))


def test_batch_gives_one_result_per_item_in_order(client: TestClient, people: People,
                                                  demo_token: str) -> None:
    response = _batch(client, demo_token, [
        {"pin": people.mother, "full_name": "Nguyễn Thị Thuỷ"},
        {"pin": people.father, "birth_date": "1999-01-01"},
        {"pin": "001099999999", "sex": "M"},
        {"pin": "00109999999X", "sex": "M"},
        {"pin": people.missing, "sex": "F"},
    ])
    body = response.json()
    assert response.status_code == 200
    assert [r["verdict"] for r in body["results"]] == [
        "match", "no_match", "pin_not_found", "invalid_pin", "match"]
    assert [r["index"] for r in body["results"]] == [0, 1, 2, 3, 4]
    assert body["results"][3]["rule"] == "pin.format"
    assert "pin" not in body["results"][3]
    assert "00109999999X" not in response.text
    assert body["results"][4]["status"] == "missing"
    assert body["summary"] == {"match": 2, "no_match": 1, "pin_not_found": 1, "invalid_pin": 1}


def test_batch_takes_up_to_1000_items(client: TestClient, people: People, demo_token: str) -> None:
    items = [{"pin": people.mother, "sex": "F"}] * 1000
    accepted = _batch(client, demo_token, items)
    refused = _batch(client, demo_token, [*items, {"pin": people.mother, "sex": "F"}])
    assert accepted.status_code == 200
    assert accepted.json()["summary"] == {"match": 1000}
    assert refused.status_code == 422


def test_empty_batch_is_refused(client: TestClient, demo_token: str) -> None:
    assert _batch(client, demo_token, []).status_code == 422


def test_batch_needs_the_verify_scope(
    client: TestClient, people: People, token_for_scopes: Any
) -> None:
    response = _batch(
        client, token_for_scopes("citizen.basic"), [{"pin": people.mother, "sex": "F"}]
    )
    assert response.status_code == 403


def test_every_batch_item_counts_against_the_quota(
    client: TestClient, admin_headers: dict[str, str], people: People, clock_guard: Any
) -> None:
    clock_guard.freeze()
    client_id, secret = new_client(client, admin_headers, rate_limit=5)
    token = issue_token(client, client_id, secret, "citizen.verify")
    four = _batch(client, token, [{"pin": people.mother, "sex": "F"}] * 4)
    two_more = _batch(client, token, [{"pin": people.mother, "sex": "F"}] * 2)
    assert four.status_code == 200
    assert two_more.status_code == 429
    assert "retry-after" in two_more.headers
