"""The pull feed: ordered by id, cursor-paginated (the cursor returned is where to continue, also
when the page was empty), filtered by type, and each payload cut to the reader's scopes."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.db import Database
from app.schemas.events import EventType
from app.services.events import feed as events
from app.services.kit.pagination import encode_cursor
from app.settings import Settings
from tests.api.events_support import admin, married_couple, record, single
from tests.api.sharing_support import admin_headers, issue_token, new_client  # noqa: F401


@pytest.fixture(scope="module")
def reader(client: TestClient, admin_headers: dict[str, str]) -> Any:  # noqa: F811
    """``reader("citizen.basic")``: headers of a client holding events.read and these scopes."""
    made: dict[tuple[str, ...], tuple[str, str]] = {}

    def headers(*scopes: str) -> dict[str, str]:
        if scopes not in made:
            made[scopes] = new_client(client, admin_headers, scopes=["events.read", *scopes])
        client_id, secret = made[scopes]
        return {"Authorization": f"Bearer {issue_token(client, client_id, secret)}"}

    return headers


def _here(database: Database) -> str:
    with database.read() as session:
        return encode_cursor("events", events.last_seq(session))


def _page(client: TestClient, headers: dict[str, str], **params: Any) -> dict[str, Any]:
    response = client.get("/v1/events", params=params, headers=headers)
    assert response.status_code == 200, response.text
    return dict(response.json())


def _renames(client: TestClient, settings: Settings, pin: str, *names: str) -> None:
    for name in names:
        response = record(client, admin(settings), "name-changes", {"pin": pin, "given_name": name})
        assert response.status_code == 201, response.text


def test_feed_is_ordered_and_the_cursor_continues_where_the_last_page_stopped(
        client: TestClient, database: Database, settings: Settings, reader: Any) -> None:
    pin = single(database, sex="F", born=date(1988, 8, 8))
    cursor = _here(database)
    _renames(client, settings, pin, "Lan", "Huệ", "Cúc")
    headers = reader("citizen.basic")
    first = _page(client, headers, cursor=cursor, limit=2)
    second = _page(client, headers, cursor=first["next_cursor"], limit=2)
    empty = _page(client, headers, cursor=second["next_cursor"], limit=2)
    items = first["items"] + second["items"]
    assert [i["data"]["given_name"] for i in items] == ["Lan", "Huệ", "Cúc"]
    assert [i["id"] for i in items] == sorted(i["id"] for i in items)
    assert empty["items"] == []
    assert empty["next_cursor"] == second["next_cursor"]  # poll it again later
    _renames(client, settings, pin, "Đào")
    later = _page(client, headers, cursor=empty["next_cursor"])
    assert [i["data"]["given_name"] for i in later["items"]] == ["Đào"]


def test_feed_can_be_filtered_by_type(
        client: TestClient, database: Database, settings: Settings, reader: Any) -> None:
    cursor = _here(database)
    family = married_couple(database)
    assert record(client, admin(settings), "deaths", {"pin": family.husband}).status_code == 201
    page = _page(client, reader("citizen.basic"), cursor=cursor, type="funeral_allowance.eligible")
    assert [(i["type"], i["pin"]) for i in page["items"]] == [
        ("funeral_allowance.eligible", family.husband)]


def test_payloads_carry_only_the_fields_of_the_readers_scopes(
        client: TestClient, database: Database, settings: Settings, reader: Any) -> None:
    cursor = _here(database)
    family = married_couple(database)
    assert record(client, admin(settings), "births", {
        "mother_pin": family.wife, "father_pin": family.husband, "surname": "Trần",
        "given_name": "Khôi", "sex": "M", "birth_date": date.today().isoformat()}
    ).status_code == 201
    basic = _page(client, reader("citizen.basic"), cursor=cursor, type="birth.registered")
    family_view = _page(client, reader("citizen.family"), cursor=cursor, type="birth.registered")
    [seen_basic], [seen_family] = basic["items"], family_view["items"]
    assert {"full_name", "birth_date", "sex"} <= set(seen_basic["data"])
    assert not {"mother", "father", "household", "permanent_residence"} & set(seen_basic["data"])
    assert {"mother", "father"} <= set(seen_family["data"])
    assert "full_name" not in seen_family["data"]
    assert seen_basic["pin"] == seen_family["pin"]
    assert seen_family["data"]["status"] == "alive"


def test_reading_the_feed_needs_events_read_and_a_record_scope(
        client: TestClient, admin_headers: dict[str, str], reader: Any) -> None:  # noqa: F811
    no_fields = client.get("/v1/events", headers=reader())
    assert no_fields.status_code == 403
    assert no_fields.json()["type"].endswith("/insufficient-scope")
    client_id, secret = new_client(client, admin_headers, scopes=["citizen.basic"])
    token = issue_token(client, client_id, secret)
    no_feed = client.get("/v1/events", headers={"Authorization": f"Bearer {token}"})
    assert no_feed.status_code == 403
    assert client.get("/v1/events").status_code == 401


@pytest.mark.parametrize("params", [{"cursor": "garbage"}, {"limit": 0}, {"type": "x.y"},
                                    {"cursor": encode_cursor("citizen", "001")}])
def test_bad_feed_parameters_are_validation_problems(
        client: TestClient, reader: Any, params: dict[str, Any]) -> None:
    response = client.get("/v1/events", params=params, headers=reader("citizen.basic"))
    assert response.status_code == 422


def test_every_event_type_is_documented_and_in_the_api_contract() -> None:
    from pathlib import Path
    from typing import get_args

    assert set(get_args(EventType)) == set(events.EVENT_TYPES)
    doc = (Path(__file__).resolve().parents[2] / "docs" / "life-events.md").read_text()
    assert all(f"`{name}`" in doc for name in events.EVENT_TYPES)


def test_every_problem_type_of_life_events_feeds_and_consent_is_in_docs_errors() -> None:
    import re
    from pathlib import Path

    from app.errors import DomainError
    from app.services.events import life_events, subscriptions
    from app.services.vneid import access_history

    table = (Path(__file__).resolve().parents[2] / "docs" / "errors.md").read_text()
    problems = {value for module in (life_events, subscriptions, access_history)
                for value in vars(module).values()
                if isinstance(value, type) and issubclass(value, DomainError)
                and value.__module__ == module.__name__}
    assert len(problems) >= 25
    for problem in problems:
        row = re.search(rf"^\| `{re.escape(problem.code)}` \| (\d+) \| (.+?) \|", table, re.M)
        assert row is not None, problem.code
        assert (int(row.group(1)), row.group(2)) == (problem.status, problem.title)


@pytest.mark.parametrize("key", [2**63, -1])
def test_a_cursor_beyond_the_id_range_is_invalid_not_a_server_error(
        client: TestClient, reader: Any, key: int) -> None:
    response = client.get("/v1/events", params={"cursor": encode_cursor("events", key)},
                          headers=reader("citizen.basic"))
    assert response.status_code == 422
    assert response.json()["type"].endswith("/invalid-cursor")
