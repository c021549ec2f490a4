"""Card lifecycle through the admin API and the CLI: issue, renew, report lost, revoke, hold,
release; expiry read from the sandbox clock; death revokes; the VNeID account follows."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update
from typer.testing import CliRunner

from app.cli import app as cli_app
from app.db import Database
from app.models.card import Card, CardEvent
from app.models.population import Citizen
from app.services.cards import issuance as cards
from app.services.vneid import accounts
from tests.api.cards_support import *  # noqa: F403
from tests.api.cards_support import (
    access_key,
    admin,
    bearer,
    failing,
    new_citizen,
    printed,
    read_chip,
    verify,
)

ADULT = date(1990, 5, 17)


@pytest.fixture
def citizen(database: Database) -> str:
    return new_citizen(database, born=ADULT)


@pytest.fixture
def holder(client: TestClient, admin_headers: dict[str, str], citizen: str) -> str:
    """A citizen holding a card issued now."""
    assert admin(client, admin_headers, citizen, "issue").status_code == 200
    return citizen


def _chip(client: TestClient, token: str, pin: str) -> dict[str, str]:
    return read_chip(client, pin, access_key(printed(client, token, pin)["mrz"]))


def test_issue_gives_a_2024_card_expiring_at_the_next_renewal_age(
        client: TestClient, admin_headers: dict[str, str], citizen: str) -> None:
    body = admin(client, admin_headers, citizen, "issue").json()
    assert (body["generation"], body["status"], body["sequence"]) == ("can_cuoc_2024", "active", 1)
    assert body["expiry_date"] == "2030-05-17"


def test_an_issued_card_verifies(client: TestClient, card_token: str, holder: str) -> None:
    report = verify(client, card_token, _chip(client, card_token, holder)).json()
    assert (report["verdict"], report["reasons"]) == ("pass", [])


def test_issuing_while_a_card_is_valid_is_a_conflict(
        client: TestClient, admin_headers: dict[str, str], holder: str) -> None:
    response = admin(client, admin_headers, holder, "issue")
    assert response.status_code == 409
    assert response.json()["type"].endswith("/card-state-conflict")


def test_lost_card_fails_verification_and_a_new_one_is_issued(
        client: TestClient, admin_headers: dict[str, str], card_token: str, holder: str) -> None:
    old_chip = _chip(client, card_token, holder)
    assert admin(client, admin_headers, holder, "lost").json()["status"] == "lost"
    assert failing(verify(client, card_token, old_chip).json()) == {("db.card_status",
                                                                     "card_lost")}
    reissued = admin(client, admin_headers, holder, "issue", "reissue_after_loss").json()
    assert (reissued["sequence"], reissued["status"]) == (2, "active")
    assert [c["status"] for c in printed(client, card_token, holder)["cards"]] == ["active", "lost"]


def test_renewal_replaces_the_card(client: TestClient, admin_headers: dict[str, str],
                                   card_token: str, holder: str) -> None:
    old_chip = _chip(client, card_token, holder)
    renewed = admin(client, admin_headers, holder, "renew", "damaged").json()
    assert (renewed["sequence"], renewed["status_reason"]) == (2, "damaged")
    assert failing(verify(client, card_token, old_chip).json()) == {("db.card_status",
                                                                     "card_replaced")}


def test_revocation_is_final(client: TestClient, admin_headers: dict[str, str],
                             holder: str) -> None:
    assert admin(client, admin_headers, holder, "revoke", "fraud").json()["status"] == "revoked"
    assert admin(client, admin_headers, holder, "renew").status_code == 409
    assert admin(client, admin_headers, holder, "release").status_code == 409


def test_held_card_fails_until_released(client: TestClient, admin_headers: dict[str, str],
                                        card_token: str, holder: str) -> None:
    chip = _chip(client, card_token, holder)
    admin(client, admin_headers, holder, "hold")
    assert failing(verify(client, card_token, chip).json()) == {("db.card_status", "card_held")}
    admin(client, admin_headers, holder, "release")
    assert verify(client, card_token, chip).json()["verdict"] == "pass"


def test_history_records_every_change_in_order(client: TestClient,
                                               admin_headers: dict[str, str],
                                               card_token: str, holder: str) -> None:
    admin(client, admin_headers, holder, "hold", "authority")
    admin(client, admin_headers, holder, "release")
    admin(client, admin_headers, holder, "lost")
    view = client.get(f"/v1/cards/{holder}", headers=bearer(card_token)).json()
    assert [(e["action"], e["status"], e["actor"]) for e in view["history"]] == [
        ("issued", "active", "admin"), ("held", "held", "admin"), ("released", "active", "admin"),
        ("reported_lost", "lost", "admin")]


def _at(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, 3, tzinfo=UTC)


def test_advancing_the_clock_past_the_expiry_date_expires_the_card(
        client: TestClient, admin_headers: dict[str, str], card_token: str, holder: str,
        clock_guard: Any, database: Database, token_for_scopes: Any) -> None:
    chip = _chip(client, card_token, holder)
    clock_guard.freeze(_at(date(2030, 5, 18)))
    token = token_for_scopes("card.read", "card.verify")
    view = client.get(f"/v1/cards/{holder}", headers=bearer(token)).json()
    assert (view["status"], view["history"][-1]["action"]) == ("expired", "expired")
    assert failing(verify(client, token, chip).json()) == {("card.expiry", "document_expired"),
                                                           ("db.card_status", "card_expired")}
    with database.read() as session:
        assert not cards.card_is_valid(session, holder, clock_guard.now())


def test_the_day_before_expiry_the_card_is_still_valid(
        holder: str, clock_guard: Any, database: Database) -> None:
    clock_guard.freeze(_at(date(2030, 5, 17)))
    with database.read() as session:
        assert cards.card_is_valid(session, holder, clock_guard.now())


def test_an_expired_card_is_renewed(client: TestClient, admin_headers: dict[str, str],
                                    holder: str, clock_guard: Any) -> None:
    clock_guard.freeze(_at(date(2030, 6, 1)))
    renewed = admin(client, admin_headers, holder, "renew", "renewal_age").json()
    assert (renewed["sequence"], renewed["expiry_date"]) == (2, "2050-05-17")


def test_a_card_issued_at_58_never_expires(client: TestClient, admin_headers: dict[str, str],
                                           database: Database, card_token: str) -> None:
    pin = new_citizen(database, born=date(1966, 1, 2), sex="M")
    body = admin(client, admin_headers, pin, "issue").json()
    assert body["expiry_date"] is None
    assert printed(client, card_token, pin)["mrz"][1][8:14] == "991231"


def test_death_revokes_every_card_and_locks_the_vneid_account(
        client: TestClient, database: Database, holder: str, card_token: str) -> None:
    now = datetime.now(UTC)
    with database.write() as session:
        accounts.create(session, accounts.NewAccount(pin=holder, level=1), now=now)
    with database.write() as session:
        revoked = cards.revoke_cards_for_death(session, holder, now)
    assert [c.status for c in revoked] == ["revoked"]
    with database.read() as session:
        account = accounts.find(session, holder)
        assert account is not None
        assert (account.state, account.lock_reasons) == ("locked", ["card_revoked"])
    chip = _chip(client, card_token, holder)
    assert ("db.card_status", "card_revoked") in failing(verify(client, card_token, chip).json())


def test_revoke_cards_for_death_is_idempotent(database: Database, holder: str) -> None:
    now = datetime.now(UTC)
    with database.write() as session:
        cards.revoke_cards_for_death(session, holder, now)
    with database.write() as session:
        assert cards.revoke_cards_for_death(session, holder, now) == []
    with database.read() as session:
        actions = list(session.scalars(select(CardEvent.action).join(Card).where(
            Card.pin == holder).order_by(CardEvent.id)))
    assert actions == ["issued", "revoked"]


def test_revocation_through_the_api_locks_the_account_and_release_unlocks_a_hold(
        client: TestClient, admin_headers: dict[str, str], database: Database,
        holder: str) -> None:
    with database.write() as session:
        accounts.create(session, accounts.NewAccount(pin=holder, level=1), now=datetime.now(UTC))
    admin(client, admin_headers, holder, "hold")
    with database.read() as session:
        assert accounts.find(session, holder).lock_reasons == ["card_held"]  # type: ignore[union-attr]
    admin(client, admin_headers, holder, "release")
    with database.read() as session:
        assert accounts.find(session, holder).state == "active"  # type: ignore[union-attr]


@pytest.mark.parametrize(("status", "problem"), [("deceased", "card-holder-ineligible"),
                                                 ("missing", "card-holder-ineligible")])
def test_only_living_citizens_get_cards(client: TestClient, admin_headers: dict[str, str],
                                        database: Database, status: str, problem: str) -> None:
    pin = new_citizen(database, born=ADULT, status=status, status_date=date(2024, 1, 1))
    response = admin(client, admin_headers, pin, "issue")
    assert (response.status_code, response.json()["type"].rsplit("/", 1)[1]) == (409, problem)


def test_unknown_citizen_cannot_get_a_card(client: TestClient,
                                           admin_headers: dict[str, str]) -> None:
    assert admin(client, admin_headers, "001099999999", "issue").status_code == 404


def test_changes_to_a_citizen_without_a_card_are_404(client: TestClient,
                                                     admin_headers: dict[str, str],
                                                     citizen: str) -> None:
    response = admin(client, admin_headers, citizen, "lost")
    assert response.json()["type"].endswith("/card-not-found")


def test_admin_routes_need_the_admin_token(client: TestClient, card_token: str,
                                           citizen: str) -> None:
    assert client.post(f"/v1/admin/cards/{citizen}/issue").status_code == 401
    response = client.post(f"/v1/admin/cards/{citizen}/issue", headers=bearer(card_token))
    assert response.status_code == 403


@pytest.mark.parametrize("reason", ["Not Valid", "x" * 40, "drop;table"])
def test_reason_must_be_a_short_code(client: TestClient, admin_headers: dict[str, str],
                                     citizen: str, reason: str) -> None:
    assert admin(client, admin_headers, citizen, "issue", reason).status_code == 422


def test_cli_issues_reports_lost_reissues_renews_and_revokes(database: Database,
                                                            citizen: str) -> None:
    runner, db = CliRunner(), ["--database-url", database.url]
    steps = [(["issue", citizen], "card 1 (can_cuoc_2024): active"),
             (["lost", citizen], "card 1 (can_cuoc_2024): lost"),
             (["issue", citizen, "--reason", "reissue_after_loss"], "card 2"),
             (["renew", citizen], "card 3"),
             (["revoke", citizen, "--reason", "fraud"], "card 3 (can_cuoc_2024): revoked")]
    for arguments, expected in steps:
        result = runner.invoke(cli_app, ["cards", *arguments, *db])
        assert result.exit_code == 0, result.output
        assert expected in result.output


def test_cli_refuses_an_impossible_change_with_a_one_line_error(database: Database,
                                                               citizen: str) -> None:
    result = CliRunner().invoke(cli_app, ["cards", "lost", citizen, "--database-url",
                                          database.url])
    assert result.exit_code == 1
    assert "No card is recorded" in result.output


def test_cli_lists_the_personas(database: Database) -> None:
    result = CliRunner().invoke(cli_app, ["cards", "personas", "--database-url", database.url])
    assert "tampered-dg1" in result.output


def test_events_are_never_rewritten(client: TestClient, admin_headers: dict[str, str],
                                    database: Database, holder: str) -> None:
    with database.read() as session:
        before = [(e.id, e.action, e.status) for e in session.scalars(
            select(CardEvent).join(Card).where(Card.pin == holder))]
    admin(client, admin_headers, holder, "lost")
    with database.read() as session:
        after = [(e.id, e.action, e.status) for e in session.scalars(
            select(CardEvent).join(Card).where(Card.pin == holder).order_by(CardEvent.id))]
    assert after[:len(before)] == before
    assert len(after) == len(before) + 1


def test_dates_follow_the_vietnam_calendar() -> None:
    # 23:30 UTC on 31 Dec is already 1 January in Vietnam.
    assert cards.local_date(datetime(2025, 12, 31, 23, 30, tzinfo=UTC)) == date(2026, 1, 1)


def test_a_record_that_no_longer_matches_its_pin_is_a_409_not_a_crash(
        client: TestClient, database: Database, card_token: str, holder: str) -> None:
    with database.write() as session:
        session.execute(update(Citizen).where(Citizen.pin == holder).values(sex="M"))
    response = client.get(f"/v1/cards/{holder}", headers=bearer(card_token))
    assert (response.status_code, response.json()["type"].rsplit("/", 1)[1]) == (
        409, "card-unreadable")
