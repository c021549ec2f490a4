"""A VNeID account stands on a valid card (Decree 69/2024 Art. 7; Law on Identification 2023
Art. 34(1), Decree 69 Art. 15): no generated account without a card, an account locks while the
card is expired, revoked or held -- in the generated data and at login, where expiry is read
against the sandbox clock."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from app.clock import SandboxClock
from app.db import Database
from app.models.account import Account
from app.models.population import Citizen, FamilyRelation
from app.services.cards import issuance as cards
from app.services.cards.statuses import VIETNAM_TIME
from app.services.vneid import accounts
from tests.api.oidc_support import *  # noqa: F403
from tests.api.oidc_support import (
    LOGIN_SCOPES,
    Rp,
    authorize,
    browser,
    citizen_without_account,
    refresh,
    register_rp,
    tokens_for,
    userinfo,
)

GROUNDS = {"expired": "card_expired", "revoked": "card_revoked", "held": "card_held"}


@pytest.fixture(scope="module")
def rp(client: TestClient, admin: dict[str, str]) -> Rp:
    return register_rp(client, admin, name="Card-bound login RP")


@pytest.fixture
def agent(app: FastAPI) -> TestClient:
    return browser(app)


def _generated(client: TestClient, database: Database,
               now: datetime) -> list[tuple[Any, str | None]]:
    """Every generated account (personas aside) with its holder's latest card status (the
    client fixture starts the service: it generates the population and its accounts)."""
    assert client.get("/healthz").status_code == 200
    with database.read() as session:
        rows = session.execute(select(Account.pin, Account.state, Account.lock_reasons,
                                      Account.closed_reason)
                               .where(Account.persona.is_(None))).all()
        latest = cards.latest_statuses(session, [row.pin for row in rows], now=now)
    return [(row, latest.get(row.pin)) for row in rows]


def test_every_generated_account_stands_on_a_card_the_holder_was_issued(
        client: TestClient, database: Database, clock: SandboxClock) -> None:
    found = _generated(client, database, clock.now())
    assert found
    # a re-established PIN moves the account to the new number, locked until a card is issued
    assert [(row.pin, row.lock_reasons) for row, card in found
            if card is None and "pin_reestablished" not in row.lock_reasons] == []


def test_generated_accounts_may_log_in_only_with_a_valid_card(
        client: TestClient, database: Database, clock: SandboxClock) -> None:
    found = _generated(client, database, clock.now())
    active = [(row.pin, card) for row, card in found if row.state == "active"]
    assert active
    assert [(pin, card) for pin, card in active if card not in ("active", "lost")] == []


def test_generated_accounts_of_expired_revoked_or_held_cards_are_locked_on_that_ground(
        client: TestClient, database: Database, clock: SandboxClock) -> None:
    found = [(row, card) for row, card in _generated(client, database, clock.now())
             if card in GROUNDS]
    assert found  # the population has expired cards at least
    wrong = [(row.pin, card, row.state) for row, card in found
             if row.state != "closed" and GROUNDS[card] not in row.lock_reasons]
    assert wrong == []


def _account_with_card(client: TestClient, admin: dict[str, str], database: Database,
                       now: datetime) -> tuple[str, Any]:
    # A valid card for the accounts service may be one reported lost (a loss does not lock the
    # account): these tests need an active one, so skip holders of lost cards.
    for _ in range(50):
        pin = citizen_without_account(database, min_age=20, max_age=45, valid_card=True)
        with database.read() as session:
            card = cards.find_card(session, pin)  # the latest
        if cards.effective_status(card, cards.local_date(now)) == "active":
            break
    else:
        pytest.fail("no citizen aged 20-45 without an account holding an active card")
    response = client.post("/v1/admin/accounts", headers=admin,
                           json={"pin": pin, "level": 2, "password": "Vneid@2025",
                                 "passcode": "123456"})
    assert response.status_code == 201, response.text
    return pin, card


def test_moving_the_sandbox_clock_past_the_card_expiry_locks_the_login(
        agent: TestClient, client: TestClient, admin: dict[str, str], rp: Rp,
        database: Database, clock: SandboxClock) -> None:
    pin, card = _account_with_card(client, admin, database, clock.now())
    assert "code" in authorize(agent, rp, pin=pin, acr_values="LoA2").result
    assert card.expiry_date is not None
    clock.freeze(datetime.combine(card.expiry_date + timedelta(days=2), time(3), tzinfo=UTC))
    for acr in ("LoA2", "LoA1"):
        refused = authorize(agent, rp, pin=pin, acr_values=acr).result
        assert refused["error"] == "access_denied"
        assert "locked" in refused["error_description"]
    clock.reset()
    assert "code" in authorize(agent, rp, pin=pin, acr_values="LoA2").result


def test_tokens_of_an_account_whose_card_expired_by_the_clock_are_refused_as_if_revoked(
        agent: TestClient, client: TestClient, admin: dict[str, str], rp: Rp,
        database: Database, clock: SandboxClock) -> None:
    """Expiry is read, never written: userinfo, introspection and the refresh grant refuse the
    tokens issued before the clock passed the expiry date, as they do after a revocation."""
    pin, card = _account_with_card(client, admin, database, clock.now())
    assert card.expiry_date is not None
    last_day = datetime.combine(card.expiry_date, time(23, 55), tzinfo=VIETNAM_TIME)
    clock.freeze(last_day)  # 5 min before the card expires; tokens live 10
    try:
        issued = tokens_for(agent, rp, pin, scope="openid offline_access", prompt="consent")
        access, refresh_token = issued["access_token"], issued["refresh_token"]
        assert userinfo(agent, access).status_code == 200
        clock.freeze(last_day + timedelta(minutes=8))
        refused = userinfo(agent, access)
        assert refused.status_code == 401
        assert 'error="invalid_token"' in refused.headers["WWW-Authenticate"]
        headers, form = rp.auth({"token": access})
        assert agent.post("/oauth2/introspect", data=form, headers=headers).json() == {
            "active": False}
        assert refresh(agent, rp, refresh_token).json()["error"] == "invalid_grant"
    finally:
        clock.reset()


@pytest.mark.parametrize("action", ["revoke", "hold"])
def test_an_account_whose_card_is_revoked_or_held_cannot_log_in(
        agent: TestClient, client: TestClient, admin: dict[str, str], rp: Rp,
        database: Database, clock: SandboxClock, action: str) -> None:
    pin, _ = _account_with_card(client, admin, database, clock.now())
    changed = client.post(f"/v1/admin/cards/{pin}/{action}", headers=admin,
                          json={"reason": "authority"} if action == "revoke" else None)
    assert changed.status_code == 200, changed.text
    refused = authorize(agent, rp, pin=pin, acr_values="LoA2").result
    assert refused["error"] == "access_denied"


# --- children's accounts (Decree 69 Art. 7; a guardian's level-2 account registers them) ----------


def _children(client: TestClient, database: Database, now: datetime) -> list[dict[str, Any]]:
    """Generated accounts of living children under 14, with the guardian their log names."""
    assert client.get("/healthz").status_code == 200
    found = []
    with database.read() as session:
        rows = session.execute(select(Account, Citizen).join(Citizen, Citizen.pin == Account.pin)
                               .where(Citizen.status == "alive", Account.persona.is_(None)))
        for account, citizen in rows:
            age = accounts.age_on(citizen.birth_date, now.date())
            if age >= 14:
                continue
            first = accounts.events(session, account)[0]
            guardian_pin = (first.reason or "").removeprefix("guardian ")
            guardian = accounts.find(session, guardian_pin)
            holder = session.get(Citizen, guardian_pin)
            if holder is not None and holder.status == "replaced":
                continue  # the pin-reestablished persona: the account moved to the new PIN
            kinds = set(session.scalars(select(FamilyRelation.kind).where(
                FamilyRelation.pin == citizen.pin, FamilyRelation.relative_pin == guardian_pin)))
            found.append({"pin": account.pin, "age": age, "level": account.level,
                          "state": account.state, "phone": account.phone, "kinds": kinds,
                          "guardian": None if guardian is None else
                          (guardian.state, guardian.level, guardian.phone)})
    return found


def test_living_children_hold_accounts_registered_by_a_guardian_with_a_level_2_account(
        client: TestClient, database: Database, clock: SandboxClock) -> None:
    children = _children(client, database, clock.now())
    assert children
    for child in children:
        assert child["guardian"] is not None, child
        state, level, phone = child["guardian"]
        assert (state, level) == ("active", 2), child
        assert child["kinds"] & {"mother", "father", "legal_representative"}, child
        assert child["phone"] == phone  # the codes go to the guardian's phone
        assert child["level"] == 1 or child["age"] >= 6  # level 2 from age 6 only


def test_a_childs_account_logs_in_at_its_own_level(
        agent: TestClient, client: TestClient, rp: Rp, database: Database,
        clock: SandboxClock) -> None:
    child = next(c for c in _children(client, database, clock.now()) if c["state"] == "active")
    granted = authorize(agent, rp, pin=child["pin"], acr_values="LoA1").result
    assert "code" in granted
    at_two = authorize(agent, rp, pin=child["pin"], acr_values="LoA2").result
    assert ("code" in at_two) == (child["level"] == 2)


def test_a_new_card_after_a_revocation_unlocks_the_account(
        agent: TestClient, client: TestClient, admin: dict[str, str], rp: Rp,
        database: Database, clock: SandboxClock) -> None:
    pin, _ = _account_with_card(client, admin, database, clock.now())
    assert client.post(f"/v1/admin/cards/{pin}/revoke", headers=admin,
                       json={"reason": "authority"}).status_code == 200
    assert authorize(agent, rp, pin=pin).result["error"] == "access_denied"
    issued = client.post(f"/v1/admin/cards/{pin}/issue", headers=admin,
                         json={"reason": "reissue"})
    assert issued.status_code == 200, issued.text
    assert "code" in authorize(agent, rp, pin=pin, acr_values="LoA2").result


def test_the_citizen_api_refuses_the_tokens_of_an_account_whose_card_expired_by_the_clock(
        agent: TestClient, client: TestClient, admin: dict[str, str], database: Database,
        clock: SandboxClock) -> None:
    """``/v1/me/...`` (a relying party's token with ``vneid.history``, or the app's device token)
    as userinfo: refused from the moment the clock passes the card's expiry, as after a
    revocation."""
    pin, card = _account_with_card(client, admin, database, clock.now())
    assert card.expiry_date is not None
    history_rp = register_rp(client, admin, scopes=[*LOGIN_SCOPES, "vneid.history"])
    bound = client.post(f"/v1/admin/accounts/{pin}/device", json={"name": "Test phone"},
                        headers=admin)
    assert bound.status_code in (200, 201), bound.text
    last_day = datetime.combine(card.expiry_date, time(23, 55), tzinfo=VIETNAM_TIME)
    clock.freeze(last_day)  # 5 min before the card expires; tokens live 10
    try:
        access = tokens_for(agent, history_rp, pin, scope="openid vneid.history")["access_token"]
        callers = [{"Authorization": f"Bearer {access}"},
                   {"Authorization": f"Bearer {bound.json()['device_token']}"}]
        assert [client.get("/v1/me/access-history", headers=h).status_code
                for h in callers] == [200, 200]
        clock.freeze(last_day + timedelta(minutes=8))
        assert [client.get("/v1/me/access-history", headers=h).status_code
                for h in callers] == [401, 401]
    finally:
        clock.reset()
