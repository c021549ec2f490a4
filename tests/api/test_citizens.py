"""/v1/citizens: scope-filtered lookup, residence confirmation, CMND resolution and search."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.services.sharing.scopes import ALWAYS_FIELDS, RECORD_SCOPES, SCOPES
from tests.api.sharing_support import *  # noqa: F403
from tests.api.sharing_support import People, bearer, issue_token, new_client


def _lookup(client: TestClient, pin: str, token: str) -> Any:
    return client.get(f"/v1/citizens/{pin}", headers=bearer(token))


@pytest.mark.parametrize("scope", RECORD_SCOPES)
def test_lookup_returns_exactly_the_fields_of_the_scope(
        client: TestClient, people: People, token_for_scopes: Any, scope: str) -> None:
    response = _lookup(client, people.mother, token_for_scopes(scope))
    assert response.status_code == 200
    assert set(response.json()) == set(ALWAYS_FIELDS) | set(SCOPES[scope].fields)


def test_lookup_with_several_scopes_returns_the_union_and_nothing_else(
        client: TestClient, people: People, token_for_scopes: Any) -> None:
    response = _lookup(client, people.mother, token_for_scopes("citizen.basic", "citizen.contact",
                                                               "citizen.verify"))
    expected = {*ALWAYS_FIELDS, *SCOPES["citizen.basic"].fields, *SCOPES["citizen.contact"].fields}
    assert set(response.json()) == expected


def test_lookup_hides_sensitive_fields_without_the_sensitive_scope(
        client: TestClient, people: People, token_for_scopes: Any) -> None:
    everything_else = [s for s in RECORD_SCOPES if s != "citizen.sensitive"]
    body = _lookup(client, people.mother, token_for_scopes(*everything_else)).json()
    assert not {"ethnicity", "religion", "blood_group"} & set(body)


def test_lookup_returns_the_recorded_values(client: TestClient, people: People,
                                            token_for_scopes: Any) -> None:
    body = _lookup(client, people.mother, token_for_scopes(*RECORD_SCOPES)).json()
    assert (body["full_name"], body["birth_date"], body["sex"]) == (
        "Nguyễn Thị Thuỷ",
        "1990-05-17",
        "F",
    )
    assert body["old_id_number"] == people.cmnd
    assert body["phone"] == people.phone
    assert body["spouse"]["pin"] == people.father
    assert [c["pin"] for c in body["children"]] == [people.child, people.baby]
    assert body["permanent_residence"]["address_line"] == "12 Lê Lợi"
    assert body["permanent_residence"]["text"].startswith("12 Lê Lợi, ")
    assert body["temporary_residence"]["valid_until"] == "2027-01-01"
    assert body["household"]["is_head"] is True
    assert body["blood_group"] == "O+"


def test_childs_parents_are_found(
    client: TestClient, people: People, token_for_scopes: Any
) -> None:
    body = _lookup(client, people.child, token_for_scopes("citizen.family")).json()
    assert (body["father"]["pin"], body["mother"]["pin"]) == (people.father, people.mother)
    assert body["children"] == []


def test_unknown_pin_is_a_404_problem(client: TestClient, demo_token: str) -> None:
    response = _lookup(client, "001099999999", demo_token)
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"] == "https://dancu.sandbox/problems/citizen-not-found"
    assert "001099999999" not in response.text


@pytest.mark.parametrize("who", ["deceased", "missing"])
def test_deceased_and_missing_citizens_are_returned_with_their_status(
    client: TestClient, people: People, token_for_scopes: Any, who: str
) -> None:
    body = _lookup(client, getattr(people, who), token_for_scopes("citizen.basic")).json()
    assert body["status"] == who
    assert body["status_date"] is not None


def test_status_is_reported_even_with_only_the_residence_scope(
    client: TestClient, people: People, token_for_scopes: Any
) -> None:
    body = _lookup(client, people.deceased, token_for_scopes("citizen.residence")).json()
    assert body["status"] == "deceased"


def test_lookup_needs_a_record_scope(
    client: TestClient, people: People, token_for_scopes: Any
) -> None:
    response = _lookup(client, people.mother, token_for_scopes("citizen.verify"))
    assert response.status_code == 403


def test_residence_confirmation_lists_residences_and_household_members(
    client: TestClient, people: People, token_for_scopes: Any
) -> None:
    response = client.get(
        f"/v1/citizens/{people.mother}/residence",
        headers=bearer(token_for_scopes("citizen.residence")),
    )
    body = response.json()
    assert response.status_code == 200
    assert body["permanent_residence"]["address_line"] == "12 Lê Lợi"
    assert body["current_residence"]["address_line"] == "5 Hai Bà Trưng"
    assert body["household"]["residence_file_number"] == "RF-TEST-1"
    members = {m["pin"]: m for m in body["household_members"]}
    assert set(members) == {people.mother, people.father, people.child, people.baby}
    assert members[people.mother]["is_head"]
    assert not members[people.child]["is_head"]


def test_residence_confirmation_needs_the_residence_scope(
    client: TestClient, people: People, token_for_scopes: Any
) -> None:
    response = client.get(
        f"/v1/citizens/{people.mother}/residence", headers=bearer(token_for_scopes("citizen.basic"))
    )
    assert response.status_code == 403


def test_residence_of_unknown_pin_is_404(client: TestClient, demo_token: str) -> None:
    assert (
        client.get("/v1/citizens/001099999999/residence", headers=bearer(demo_token)).status_code
        == 404
    )


def test_old_cmnd_resolves_to_the_pin(
    client: TestClient, people: People, token_for_scopes: Any
) -> None:
    response = client.post(
        "/v1/citizens/resolve-cmnd",
        json={"old_id_number": people.cmnd},
        headers=bearer(token_for_scopes("citizen.resolve")),
    )
    assert response.status_code == 200
    assert response.json() == {"pin": people.mother, "status": "alive"}


@pytest.mark.parametrize(
    ("number", "status"),
    [("999999998", 404), ("12345", 422), ("07909012A", 422), ("０７９０９０１２３", 422)],
)
def test_cmnd_resolution_of_unknown_or_malformed_numbers(
    client: TestClient, token_for_scopes: Any, number: str, status: int
) -> None:
    response = client.post(
        "/v1/citizens/resolve-cmnd",
        json={"old_id_number": number},
        headers=bearer(token_for_scopes("citizen.resolve")),
    )
    assert response.status_code == status
    assert number not in response.text


def test_cmnd_resolution_needs_its_scope(
    client: TestClient, people: People, token_for_scopes: Any
) -> None:
    response = client.post(
        "/v1/citizens/resolve-cmnd",
        json={"old_id_number": people.cmnd},
        headers=bearer(token_for_scopes("citizen.basic")),
    )
    assert response.status_code == 403


def _search(client: TestClient, token: str, **params: Any) -> Any:
    return client.get("/v1/citizens", params=params, headers=bearer(token))


@pytest.mark.parametrize(
    "name", ["nguyen thi thuy", "Nguyễn Thị Thuỷ", "NGUYEN THI", "nguyễn thị thủy"]
)
def test_search_by_name_is_accent_insensitive(
    client: TestClient, people: People, demo_token: str, name: str
) -> None:
    response = _search(client, demo_token, name=name, birth_date="1990-05-17")
    assert response.status_code == 200
    assert people.mother in {hit["pin"] for hit in response.json()["items"]}


def test_search_filters_by_status_birth_date_and_province(
    client: TestClient, people: People, demo_token: str
) -> None:
    deceased = _search(client, demo_token, status="deceased", birth_date="1950-03-03").json()[
        "items"
    ]
    in_province = _search(
        client, demo_token, province=people.province_code, name="nguyen thi thuy"
    ).json()["items"]
    elsewhere = _search(client, demo_token, province="999", name="nguyen thi thuy").json()["items"]
    assert people.deceased in {h["pin"] for h in deceased}
    assert all(h["status"] == "deceased" for h in deceased)
    assert people.mother in {h["pin"] for h in in_province}
    assert people.mother not in {h["pin"] for h in elsewhere}


def test_search_pages_with_a_keyset_cursor(client: TestClient, demo_token: str) -> None:
    everyone = [hit["pin"] for hit in _search(client, demo_token, limit=100).json()["items"]]
    seen: list[str] = []
    cursor = None
    for _ in range(5):
        page = _search(client, demo_token, limit=2, **({"cursor": cursor} if cursor else {})).json()
        seen += [hit["pin"] for hit in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(everyone) >= 7
    assert seen == everyone[: len(seen)] == sorted(seen)
    assert len(seen) == min(10, len(everyone))


@pytest.mark.parametrize("cursor", ["garbage", "WyJhdWRpdCIsNV0", "W10", "x" * 300])
def test_search_refuses_a_forged_cursor(client: TestClient, demo_token: str, cursor: str) -> None:
    response = _search(client, demo_token, cursor=cursor)
    assert response.status_code == 422


def test_search_refuses_an_unknown_filter_parameter_with_a_400_problem(
        client: TestClient, demo_token: str) -> None:
    refused = client.get("/v1/citizens", params={"surname": "Nguyễn", "limit": 5},
                         headers={"Authorization": f"Bearer {demo_token}"})
    assert refused.status_code == 400, refused.text
    assert refused.headers["content-type"] == "application/problem+json"
    problem = refused.json()
    assert problem["type"].endswith("/unknown-search-parameter")
    assert problem["parameters"] == ["surname"]
    assert "name" in problem["known"]


@pytest.mark.parametrize("params", [
    {"001087012345": "1"}, {"Nguyễn Văn An": "1"}, {"q" * 3000: "1"},
    {f"p{i}": "1" for i in range(500)}])
def test_an_unknown_search_parameter_is_named_only_when_short_and_plain(
        client: TestClient, demo_token: str, params: dict[str, str]) -> None:
    """A parameter name can be anything a caller typed: a PIN, a name, a megabyte. The problem
    names at most a few short, plain ones and counts the rest."""
    refused = client.get("/v1/citizens", params=params,
                         headers={"Authorization": f"Bearer {demo_token}"})
    assert refused.status_code == 400, refused.text
    assert "001087012345" not in refused.text
    assert "Nguy" not in refused.text
    assert len(refused.text) < 1000
    assert refused.json()["unknown_count"] == len(params)


def test_search_limit_is_bounded(client: TestClient, demo_token: str) -> None:
    assert _search(client, demo_token, limit=101).status_code == 422


def test_search_is_for_sandbox_clients_and_the_admin_only(
    client: TestClient, admin_headers: dict[str, str]
) -> None:
    client_id, secret = new_client(
        client,
        admin_headers,
        sandbox=False,
        legal_basis=None,
        scopes=["citizen.basic", "citizen.verify"],
    )
    agency = _search(client, issue_token(client, client_id, secret), name="nguyen")
    admin = client.get("/v1/citizens", params={"name": "nguyen"}, headers=admin_headers)
    registration = client.post(
        "/v1/admin/clients",
        headers=admin_headers,
        json={"name": "agency", "scopes": ["citizen.search"], "purposes": ["x"], "sandbox": False},
    )
    assert agency.status_code == 403
    assert admin.status_code == 200
    assert registration.status_code == 422


@pytest.mark.parametrize(("params", "rule", "message"), [
    ({"limit": "101"}, "less_than_equal", "must be at most 100"),
    ({"limit": "0"}, "greater_than_equal", "must be at least 1"),
    ({"status": "001087012345"}, "literal_error", "must be 'alive', 'deceased' or 'missing'"),
])
def test_a_broken_bound_names_the_bound_never_the_value(
        client: TestClient, demo_token: str, params: dict[str, str], rule: str,
        message: str) -> None:
    """A newcomer learns the limit from the answer; the value sent is still never repeated."""
    refused = client.get("/v1/citizens", params=params,
                         headers={"Authorization": f"Bearer {demo_token}"})
    assert refused.status_code == 422, refused.text
    [error] = refused.json()["errors"]
    assert (error["rule"], error["message"]) == (rule, message)
    assert "001087012345" not in refused.text
