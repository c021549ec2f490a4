"""Events that contradict the population are refused with a clear problem and change nothing; an
event is one transaction (a failure half-way leaves no trace); the API needs events.write."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.db import Database
from app.errors import Conflict
from app.icao.dates import add_years
from app.services.vneid import accounts
from app.settings import Settings
from tests.api.events_support import (
    admin,
    fingerprint,
    frozen_today,  # noqa: F401 - the today fixture
    married_couple,
    record,
    single,
)
from tests.api.sharing_support import admin_headers, new_client  # noqa: F401 - fixture

Case = Callable[[Database, date], tuple[str, dict[str, Any]]]


def _dead_person(database: Database, today: date) -> tuple[str, dict[str, Any]]:
    pin = single(database, sex="M", born=date(1940, 1, 1), status="deceased",
                 died=date(2024, 1, 1))
    return "deaths", {"pin": pin}


def _child_mother(database: Database, today: date) -> tuple[str, dict[str, Any]]:
    girl = single(database, sex="F", born=add_years(today, -11))
    return "births", {"mother_pin": girl, "surname": "Lê", "given_name": "An", "sex": "F",
                      "birth_date": today.isoformat()}


def _deceased_mother(database: Database, today: date) -> tuple[str, dict[str, Any]]:
    mother = single(database, sex="F", born=date(1990, 1, 1), status="deceased",
                    died=today - timedelta(days=30))
    return "births", {"mother_pin": mother, "surname": "Lê", "given_name": "An", "sex": "F",
                      "birth_date": today.isoformat()}


def _male_mother(database: Database, today: date) -> tuple[str, dict[str, Any]]:
    man = single(database, sex="M", born=date(1990, 1, 1))
    return "births", {"mother_pin": man, "surname": "Lê", "given_name": "An", "sex": "F",
                      "birth_date": today.isoformat()}


def _married_again(database: Database, today: date) -> tuple[str, dict[str, Any]]:
    family = married_couple(database)
    other = single(database, sex="F", born=date(1995, 1, 1))
    return "marriages", {"husband_pin": family.husband, "wife_pin": other}


def _young_groom(database: Database, today: date) -> tuple[str, dict[str, Any]]:
    groom = single(database, sex="M", born=add_years(today, -20) + timedelta(days=1))
    bride = single(database, sex="F", born=date(2000, 1, 1))
    return "marriages", {"husband_pin": groom, "wife_pin": bride}


def _young_bride(database: Database, today: date) -> tuple[str, dict[str, Any]]:
    groom = single(database, sex="M", born=date(1995, 1, 1))
    bride = single(database, sex="F", born=add_years(today, -18) + timedelta(days=1))
    return "marriages", {"husband_pin": groom, "wife_pin": bride}


def _siblings(database: Database, today: date) -> tuple[str, dict[str, Any]]:
    family = married_couple(database)
    pins = []
    from app.models.population import FamilyRelation

    for sex in ("M", "F"):
        pin = single(database, sex=sex, born=date(2000, 1, 1))
        with database.write() as session:
            session.add(FamilyRelation(pin=pin, kind="mother", relative_pin=family.wife,
                                       started_on=date(2000, 1, 1), ended_on=None))
        pins.append(pin)
    return "marriages", {"husband_pin": pins[0], "wife_pin": pins[1]}


def _nowhere(database: Database, today: date) -> tuple[str, dict[str, Any]]:
    pin = single(database, sex="F", born=date(1990, 1, 1))
    return "residence-changes", {"pin": pin, "kind": "temporary", "commune_code": "99999",
                                 "address_line": "1 Đường Không"}


def _unmarried_divorce(database: Database, today: date) -> tuple[str, dict[str, Any]]:
    a = single(database, sex="M", born=date(1990, 1, 1))
    b = single(database, sex="F", born=date(1990, 1, 1))
    return "divorces", {"pin": a, "spouse_pin": b}


def _future_death(database: Database, today: date) -> tuple[str, dict[str, Any]]:
    pin = single(database, sex="M", born=date(1950, 1, 1))
    return "deaths", {"pin": pin, "date_of_death": (today + timedelta(days=1)).isoformat()}


def _long_temporary(database: Database, today: date) -> tuple[str, dict[str, Any]]:
    family = married_couple(database)
    return "residence-changes", {
        "pin": family.husband, "kind": "temporary", "commune_code": family.commune,
        "address_line": "3 Hàng Đào",
        "valid_until": (add_years(today, 2) + timedelta(days=1)).isoformat()}


def _not_head(database: Database, today: date) -> tuple[str, dict[str, Any]]:
    family = married_couple(database)  # the wife heads it
    return "residence-changes", {"pin": family.husband, "kind": "permanent",
                                 "commune_code": family.commune, "address_line": "1 Tràng Tiền",
                                 "household": "move_household"}


def _same_prefix(database: Database, today: date) -> tuple[str, dict[str, Any]]:
    pin = single(database, sex="F", born=date(1990, 1, 1))
    return "pin-reestablishments", {"pin": pin, "reason": "data_entry_error",
                                    "birth_date": "1990-12-31"}


def _unknown_pin(database: Database, today: date) -> tuple[str, dict[str, Any]]:
    return "name-changes", {"pin": "001099999999", "given_name": "Lan"}


def _event_on_the_dead(database: Database, today: date) -> tuple[str, dict[str, Any]]:
    pin = single(database, sex="M", born=date(1940, 1, 1), status="deceased",
                 died=date(2024, 1, 1))
    return "name-changes", {"pin": pin, "given_name": "Tư"}


REFUSALS: list[tuple[str, Case, int, str]] = [
    ("death of a dead person", _dead_person, 409, "already-deceased"),
    ("birth to a mother under 12", _child_mother, 409, "parent-too-young"),
    ("birth to a deceased mother", _deceased_mother, 409, "parent-deceased"),
    ("birth with a male mother", _male_mother, 409, "parent-sex-mismatch"),
    ("marriage of a married man", _married_again, 409, "already-married"),
    ("marriage of a man under 20", _young_groom, 409, "under-marriage-age"),
    ("marriage of a woman under 18", _young_bride, 409, "under-marriage-age"),
    ("marriage of siblings", _siblings, 409, "marriage-not-allowed"),
    ("residence in a commune that does not exist", _nowhere, 422, "unknown-commune"),
    ("divorce of an unmarried couple", _unmarried_divorce, 409, "not-married"),
    ("death in the future", _future_death, 422, "event-date-invalid"),
    ("temporary residence over two years", _long_temporary, 422, "event-date-invalid"),
    ("moving a household one does not head", _not_head, 409, "not-household-head"),
    ("re-establishment that keeps the PIN", _same_prefix, 422, "pin-unchanged"),
    ("an unknown PIN", _unknown_pin, 404, "citizen-not-found"),
    ("a name change of a dead person", _event_on_the_dead, 409, "citizen-not-alive"),
]


@pytest.mark.parametrize(("case", "status", "code"), [r[1:] for r in REFUSALS],
                         ids=[r[0] for r in REFUSALS])
def test_contradicting_event_is_refused_with_a_problem_and_changes_nothing(
        client: TestClient, database: Database, settings: Settings, today: date, case: Case,
        status: int, code: str) -> None:
    kind, body = case(database, today)
    before = fingerprint(database)
    response = record(client, admin(settings), kind, body, **{"Idempotency-Key": f"r-{code}"})
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"] == f"https://dancu.sandbox/problems/{code}"
    assert fingerprint(database) == before


def test_a_failure_half_way_through_an_event_leaves_no_trace(
        client: TestClient, database: Database, settings: Settings, today: date,
        monkeypatch: pytest.MonkeyPatch) -> None:
    family = married_couple(database)

    def fail(*args: Any, **kwargs: Any) -> None:
        raise Conflict("the accounts service refused")

    # The death has already marked the citizen, deregistered residences, revoked cards...
    monkeypatch.setattr(accounts, "close_for_death", fail)
    before = fingerprint(database)
    response = record(client, admin(settings), "deaths", {"pin": family.husband})
    assert response.status_code == 409
    assert fingerprint(database) == before


@pytest.mark.parametrize("body", [
    {"pin": "001190000001", "date_of_death": "yesterday"},
    {"pin": "00119000000", "date_of_death": None},
    {"pin": "001190000001", "extra": 1},
    {"pin": "x" * 10_000},
])
def test_malformed_requests_are_validation_problems(
        client: TestClient, settings: Settings, body: dict[str, Any]) -> None:
    response = record(client, admin(settings), "deaths", body)
    assert response.status_code == 422
    assert response.json()["type"].endswith("/validation-error")


@pytest.mark.parametrize(("kind", "body"), [
    ("births", {"mother_pin": "001190000001", "surname": "Lê", "given_name": "An", "sex": "F",
                "birth_date": "1850-01-01"}),
    ("births", {"mother_pin": "001190000001", "surname": " ", "given_name": "An", "sex": "F",
                "birth_date": "2020-01-01"}),
    ("births", {"surname": "Lê", "given_name": "An", "sex": "F", "birth_date": "2020-01-01"}),
    ("births", {"mother_pin": "001190000001", "surname": "Lê", "given_name": "An7", "sex": "F",
                "birth_date": "2020-01-01"}),
    ("residence-changes", {"pin": "001190000001", "kind": "permanent", "household": "join",
                           "household_id": 2**70}),
    ("residence-changes", {"pin": "001190000001", "kind": "current", "commune_code": "00004",
                           "address_line": "1\u0000 Lê Lợi"}),
    ("card-changes", {"pin": "001190000001", "action": "stolen"}),
    ("name-changes", {"pin": "001190000001"}),
])
def test_bodies_outside_the_contract_are_validation_problems(
        client: TestClient, settings: Settings, kind: str, body: dict[str, Any]) -> None:
    response = record(client, admin(settings), kind, body)
    assert response.status_code == 422, response.text
    assert response.json()["type"].endswith("/validation-error")


def test_recording_events_needs_events_write_from_a_sandbox_client(
        client: TestClient, admin_headers: dict[str, str]) -> None:  # noqa: F811
    from tests.api.sharing_support import issue_token

    client_id, secret = new_client(client, admin_headers, scopes=["citizen.basic"],
                                   sandbox=False)
    token = issue_token(client, client_id, secret)
    response = record(client, {"Authorization": f"Bearer {token}"}, "deaths",
                      {"pin": "001190000001"})
    assert response.status_code == 403
    assert response.json()["type"].endswith("/insufficient-scope")
    refused = client.post("/v1/admin/clients", headers=admin_headers, json={
        "name": "agency", "scopes": ["events.write"], "purposes": ["registry"],
        "sandbox": False})
    assert refused.status_code == 422
    assert record(client, {}, "deaths", {"pin": "001190000001"}).status_code == 401


def test_a_refusal_about_a_citizen_who_is_not_alive_names_their_status(
        client: TestClient, database: Database, settings: Settings) -> None:
    pin = single(database, sex="F", born=date(1960, 1, 1), status="missing")
    response = record(client, admin(settings), "marriages",
                      {"husband_pin": single(database, sex="M", born=date(1960, 1, 1)),
                       "wife_pin": pin})
    assert response.json()["status"] == 409  # the RFC 9457 member stays the HTTP status
    assert response.json()["citizen_status"] == "missing"
