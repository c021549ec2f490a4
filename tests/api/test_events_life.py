"""Each life event changes every linked record (population, residence, family, cards, VNeID account)
and emits its events, including the linked ones (health insurance under 6, funeral allowance)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from app import pin as pin_rules
from app.db import Database
from app.icao.dates import add_years
from app.models.account import Account
from app.models.card import Card
from app.models.population import Citizen, FamilyRelation, Household, PinHistory, Residence
from app.settings import Settings
from tests.api.events_support import (
    PROVINCE,
    admin,
    frozen_today,  # noqa: F401 - the today fixture
    married_couple,
    other_commune,
    record,
    single,
)
from tests.api.sharing_support import admin_headers, token_for_scopes  # noqa: F401 - fixtures


def _iso(day: date) -> str:
    return day.isoformat()


@pytest.fixture
def headers(settings: Settings) -> dict[str, str]:
    return admin(settings)


def _ok(response: Any) -> dict[str, Any]:
    assert response.status_code == 201, response.text
    return dict(response.json())


def _citizen(database: Database, pin: str) -> Citizen:
    with database.read() as session:
        found = session.get(Citizen, pin)
        assert found is not None
        return found


def _residences(database: Database, pin: str) -> list[Residence]:
    with database.read() as session:
        return list(session.scalars(select(Residence).where(Residence.pin == pin)
                                    .order_by(Residence.id)))


def _relations(database: Database, pin: str) -> list[FamilyRelation]:
    with database.read() as session:
        return list(session.scalars(select(FamilyRelation).where(
            (FamilyRelation.pin == pin) | (FamilyRelation.relative_pin == pin))
            .order_by(FamilyRelation.id)))


# --- birth ---------------------------------------------------------------------------------------


def test_birth_links_parents_household_residence_and_enrols_health_insurance(
        client: TestClient, database: Database, headers: dict[str, str], today: date) -> None:
    family = married_couple(database)
    body = {"mother_pin": family.wife, "father_pin": family.husband, "surname": "Trần",
            "middle_name": "Gia", "given_name": "Bảo", "sex": "M",
            "birth_date": _iso(today - timedelta(days=5))}
    result = _ok(record(client, headers, "births", body))
    pin = result["pin"]
    born = today - timedelta(days=5)
    assert pin.startswith(f"{PROVINCE}2{born.year % 100:02d}")  # Hà Nội, a boy of the 2000s
    assert pin_rules.is_valid(pin)
    child = _citizen(database, pin)
    assert (child.household_id, child.relationship_to_head) == (family.household_id, 4)
    assert child.birth_registration_place == PROVINCE
    parents = {r.kind: r.relative_pin for r in _relations(database, pin) if r.pin == pin}
    assert parents == {"mother": family.wife, "father": family.husband}
    [residence] = _residences(database, pin)
    assert (residence.kind, residence.commune_code) == ("permanent", family.commune)
    assert residence.registered_on == today
    event, [insurance] = result["event"], result["linked_events"]
    assert event["type"] == "birth.registered"
    assert insurance["type"] == "health_insurance.enrolment"
    assert insurance["cause_id"] == event["id"]
    assert insurance["data"]["coverage_until"] == _iso(add_years(born, 6) - timedelta(days=1))


def test_birth_after_the_merger_needs_a_current_province_code(
        client: TestClient, database: Database, headers: dict[str, str], today: date) -> None:
    family = married_couple(database)
    body = {"mother_pin": family.wife, "surname": "Lê", "given_name": "An", "sex": "F",
            "birth_date": _iso(today)}
    refused = record(client, headers, "births", body | {"registration_province": "035"})
    assert refused.status_code == 422
    assert refused.json()["type"].endswith("/registration-place-not-allowed")
    accepted = _ok(record(client, headers, "births", body | {"registration_province": "037"}))
    assert accepted["pin"].startswith(f"0373{today.year % 100:02d}")


def test_birth_registered_before_the_merger_keeps_a_legacy_code(
        client: TestClient, database: Database, headers: dict[str, str], app: FastAPI) -> None:
    family = married_couple(database)
    app.state.clock.freeze(datetime(2025, 3, 3, 3, tzinfo=UTC))
    try:
        result = _ok(record(client, headers, "births", {
            "mother_pin": family.wife, "surname": "Lê", "given_name": "Hạ", "sex": "F",
            "birth_date": "2025-03-01", "registration_province": "035"}))
    finally:
        app.state.clock.reset()
    assert result["pin"].startswith("035325")  # Hà Nam, registered before 2025-07-01


def test_birth_registered_abroad_carries_the_country_code(
        client: TestClient, database: Database, headers: dict[str, str], today: date) -> None:
    family = married_couple(database)
    result = _ok(record(client, headers, "births", {
        "mother_pin": family.wife, "surname": "Lê", "given_name": "Vy", "sex": "F",
        "birth_date": _iso(today), "registered_abroad_country": "286"}))
    assert result["pin"].startswith(f"2863{today.year % 100:02d}")
    assert result["event"]["data"]["birth_registration_place"] == {"code": "286", "abroad": True}


def test_late_registration_after_six_emits_no_health_insurance_event(
        client: TestClient, database: Database, headers: dict[str, str], today: date) -> None:
    family = married_couple(database)
    result = _ok(record(client, headers, "births", {
        "mother_pin": family.wife, "surname": "Lê", "given_name": "Tú", "sex": "M",
        "birth_date": _iso(add_years(today, -7))}))
    assert result["pin"].startswith(f"{PROVINCE}2{(today.year - 7) % 100:02d}")
    assert result["linked_events"] == []


# --- death ---------------------------------------------------------------------------------------


def test_death_deregisters_revokes_closes_widows_and_emits_funeral_allowance(
        client: TestClient, database: Database, headers: dict[str, str], today: date) -> None:
    family = married_couple(database)
    _ok(record(client, headers, "card-changes", {"pin": family.husband, "action": "issued",
                                                  "reason": "first_issue"}))
    opened = client.post("/v1/admin/accounts", json={"pin": family.husband, "level": 1},
                         headers=headers)
    assert opened.status_code == 201, opened.text
    died = today - timedelta(days=1)
    result = _ok(record(client, headers, "deaths", {"pin": family.husband,
                                                     "date_of_death": _iso(died)}))
    husband, wife = _citizen(database, family.husband), _citizen(database, family.wife)
    assert (husband.status, husband.status_date) == ("deceased", died)
    assert husband.household_id is None
    assert all(r.deregistered_on == died for r in _residences(database, family.husband))
    assert wife.marital_status == 3  # widowed
    spouse_links = [r for r in _relations(database, family.husband) if r.kind == "spouse"]
    assert spouse_links
    assert all(r.ended_on == died for r in spouse_links)
    with database.read() as session:
        cards = list(session.scalars(select(Card).where(Card.pin == family.husband)))
        account = session.scalar(select(Account).where(Account.pin == family.husband))
    assert [c.status for c in cards] == ["revoked"]
    assert account is not None
    assert account.state == "closed"
    types = [e["type"] for e in result["linked_events"]]
    assert types == ["marriage.ended_by_death", "funeral_allowance.eligible"]
    assert result["linked_events"][0]["pin"] == family.wife


def test_a_death_revokes_a_card_reported_lost_too(
        client: TestClient, database: Database, headers: dict[str, str]) -> None:
    family = married_couple(database)
    for action, reason in (("issued", "first_issue"), ("lost", None)):
        _ok(record(client, headers, "card-changes", {"pin": family.wife, "action": action,
                                                      "reason": reason}))
    _ok(record(client, headers, "deaths", {"pin": family.wife}))
    with database.read() as session:
        statuses = list(session.scalars(select(Card.status).where(Card.pin == family.wife)))
    assert statuses
    assert set(statuses) == {"revoked"}


def test_death_of_a_household_head_hands_the_household_to_the_eldest_member(
        client: TestClient, database: Database, headers: dict[str, str], today: date) -> None:
    family = married_couple(database)  # the wife heads it
    _ok(record(client, headers, "deaths", {"pin": family.wife}))
    with database.read() as session:
        home = session.get(Household, family.household_id)
        assert home is not None
        assert home.head_pin == family.husband
    assert _citizen(database, family.husband).relationship_to_head == 1


# --- residence -----------------------------------------------------------------------------------


def test_temporary_residence_expires_at_most_two_years_later_and_replaces_the_previous(
        client: TestClient, database: Database, headers: dict[str, str], today: date) -> None:
    pin = single(database, sex="F", born=date(1995, 1, 1))
    with database.read() as session:
        elsewhere = other_commune(session, _residences(database, pin)[0].commune_code)
    body = {"pin": pin, "kind": "temporary", "commune_code": elsewhere,
            "address_line": "15 Nguyễn Trãi"}
    first = _ok(record(client, headers, "residence-changes", body))
    limit = add_years(today, 2)
    assert first["event"]["data"]["temporary_residence"]["valid_until"] == _iso(limit)
    until = today + timedelta(days=40)
    _ok(record(client, headers, "residence-changes", body | {"valid_until": _iso(until)}))
    temporary = [r for r in _residences(database, pin) if r.kind == "temporary"]
    assert [r.deregistered_on for r in temporary] == [today, None]
    assert temporary[-1].valid_until == until
    assert _citizen(database, pin).household_id is not None  # the permanent one is untouched


def test_permanent_move_to_a_new_household_makes_the_mover_its_head(
        client: TestClient, database: Database, headers: dict[str, str], today: date) -> None:
    family = married_couple(database)
    with database.read() as session:
        elsewhere = other_commune(session, family.commune)
    result = _ok(record(client, headers, "residence-changes", {
        "pin": family.husband, "kind": "permanent", "commune_code": elsewhere,
        "address_line": "2 Lê Lợi"}))
    husband = _citizen(database, family.husband)
    assert husband.household_id not in (None, family.household_id)
    assert husband.relationship_to_head == 1
    permanent = [r for r in _residences(database, family.husband) if r.kind == "permanent"]
    assert [(r.commune_code, r.deregistered_on) for r in permanent] == [
        (family.commune, today), (elsewhere, None)]
    assert result["event"]["data"]["previous_residence"]["commune_code"] == family.commune
    assert _citizen(database, family.wife).household_id == family.household_id


def test_moving_the_whole_household_moves_every_member(
        client: TestClient, database: Database, headers: dict[str, str], today: date) -> None:
    family = married_couple(database)
    with database.read() as session:
        elsewhere = other_commune(session, family.commune)
    result = _ok(record(client, headers, "residence-changes", {
        "pin": family.wife, "kind": "permanent", "commune_code": elsewhere,
        "address_line": "9 Hàng Bạc", "household": "move_household"}))
    assert {e["pin"] for e in [result["event"], *result["linked_events"]]} == {
        family.wife, family.husband}
    for pin in (family.wife, family.husband):
        current = [r for r in _residences(database, pin) if r.deregistered_on is None]
        assert [(r.kind, r.commune_code, r.address_line) for r in current] == [
            ("permanent", elsewhere, "9 Hàng Bạc")]


def test_joining_a_household_takes_its_address(
        client: TestClient, database: Database, headers: dict[str, str], today: date) -> None:
    family = married_couple(database)
    lodger = single(database, sex="M", born=date(2000, 2, 2))
    _ok(record(client, headers, "residence-changes", {
        "pin": lodger, "kind": "permanent", "household": "join",
        "household_id": family.household_id, "relationship_to_head": 27}))
    joined = _citizen(database, lodger)
    assert (joined.household_id, joined.relationship_to_head) == (family.household_id, 27)
    current = [r for r in _residences(database, lodger) if r.deregistered_on is None]
    assert [(r.kind, r.commune_code) for r in current] == [("permanent", family.commune)]


# --- marriage, divorce, name ---------------------------------------------------------------------


def test_marriage_then_divorce_update_status_and_spouse_links(
        client: TestClient, database: Database, headers: dict[str, str], today: date) -> None:
    groom = single(database, sex="M", born=date(1996, 1, 1))
    bride = single(database, sex="F", born=date(2000, 1, 1))
    married = _ok(record(client, headers, "marriages", {"husband_pin": groom,
                                                         "wife_pin": bride}))
    assert {married["event"]["pin"], married["linked_events"][0]["pin"]} == {groom, bride}
    assert {_citizen(database, p).marital_status for p in (groom, bride)} == {2}
    links = [(r.pin, r.relative_pin, r.started_on, r.ended_on)
             for r in _relations(database, groom) if r.kind == "spouse"]
    assert sorted(links) == sorted([(groom, bride, today, None), (bride, groom, today, None)])
    divorced = _ok(record(client, headers, "divorces", {"pin": bride, "spouse_pin": groom}))
    assert divorced["event"]["data"]["marital_status"]["code"] == 4
    assert {_citizen(database, p).marital_status for p in (groom, bride)} == {4}
    assert all(r.ended_on == today for r in _relations(database, groom) if r.kind == "spouse")


def test_name_change_updates_the_record_and_the_search_key(
        client: TestClient, database: Database, headers: dict[str, str], today: date) -> None:
    pin = single(database, sex="F", born=date(1990, 4, 4))
    result = _ok(record(client, headers, "name-changes", {
        "pin": pin, "surname": "Phạm", "given_name": "Thư", "reason": "civil_status_decision"}))
    citizen = _citizen(database, pin)
    assert (citizen.surname, citizen.given_name, citizen.name_folded) == (
        "Phạm", "Thư", "pham thi thu")
    assert result["event"]["data"]["previous_full_name"] == "Lê Thị Hà"


# --- cards ---------------------------------------------------------------------------------------


def test_card_lost_reissued_renewed_and_revoked_through_the_card_service(
        client: TestClient, database: Database, headers: dict[str, str], today: date) -> None:
    pin = single(database, sex="M", born=date(1985, 8, 8))
    for action, reason in (("issued", "first_issue"), ("lost", None),
                           ("issued", "reissue_after_loss"), ("renewed", "damaged"),
                           ("revoked", "authority")):
        body = {"pin": pin, "action": action} | ({"reason": reason} if reason else {})
        result = _ok(record(client, headers, "card-changes", body))
        assert result["event"]["data"]["action"] == action
    with database.read() as session:
        statuses = [c.status for c in session.scalars(select(Card).where(Card.pin == pin)
                                                      .order_by(Card.sequence))]
    assert statuses == ["lost", "replaced", "revoked"]


# --- PIN re-establishment ------------------------------------------------------------------------


def test_pin_reestablishment_moves_the_record_and_the_old_pin_answers_for_the_new(
        client: TestClient, database: Database, headers: dict[str, str], today: date,
        token_for_scopes: Any) -> None:  # noqa: F811 - the fixture
    family = married_couple(database)
    old = family.wife
    _ok(record(client, headers, "card-changes", {"pin": old, "action": "issued",
                                                  "reason": "first_issue"}))
    assert client.post("/v1/admin/accounts", json={"pin": old, "level": 1},
                       headers=headers).status_code == 201
    result = _ok(record(client, headers, "pin-reestablishments", {
        "pin": old, "reason": "birth_year_corrected", "birth_date": "1993-06-01"}))
    new = result["pin"]
    assert new.startswith(PROVINCE + "193")
    assert result["event"]["data"]["old_pin"] == old
    with database.read() as session:
        assert session.get(PinHistory, old).new_pin == new  # type: ignore[union-attr]
        tombstone, record_now = session.get(Citizen, old), session.get(Citizen, new)
        account = session.scalar(select(Account).where(Account.pin == new))
        card = session.scalar(select(Card).where(Card.pin == old))
        home = session.get(Household, family.household_id)
    assert tombstone is not None
    assert record_now is not None
    assert tombstone.status == "replaced"
    assert record_now.birth_date == date(1993, 6, 1)
    assert record_now.household_id == family.household_id
    assert home is not None
    assert home.head_pin == new
    assert account is not None
    assert "pin_reestablished" in account.lock_reasons
    assert card is not None
    assert (card.status, card.status_reason) == ("revoked", "pin_cancelled")
    assert {r.relative_pin for r in _relations(database, new) if r.pin == new} == {
        family.husband}
    token = token_for_scopes("citizen.basic", "citizen.family")
    looked_up = client.get(f"/v1/citizens/{old}", headers={"Authorization": f"Bearer {token}"})
    assert looked_up.status_code == 200, looked_up.text
    answer = looked_up.json()
    assert (answer["pin"], answer["superseded_pin"]) == (new, old)
    assert answer["birth_date"] == "1993-06-01"
    assert answer["spouse"]["pin"] == family.husband
