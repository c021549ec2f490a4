"""VNeID accounts: eligibility by age and card, the state machine, the event log, credentials, the
automatic lock/unlock hooks, generated accounts and personas, the admin API and the CLI."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from typer.testing import CliRunner

from app.cli import app as cli_app
from app.clock import SandboxClock
from app.db import Database
from app.errors import DomainError
from app.models.account import Account, AccountEvent
from app.models.population import Citizen
from app.services.sharing import consent
from app.services.vneid import account_generation, accounts, login
from app.services.vneid import credentials as login_credentials
from app.services.vneid.accounts import age_on
from app.settings import Settings
from tests.api.oidc_support import *  # noqa: F403
from tests.api.oidc_support import citizen_without_account

ADULT: dict[str, Any] = {"min_age": 20, "max_age": 50, "valid_card": True}


def _create(client: TestClient, admin: dict[str, str], **body: Any) -> Any:
    return client.post("/v1/admin/accounts", json=body, headers=admin)


def _post(client: TestClient, admin: dict[str, str], pin: str, action: str, **body: Any) -> Any:
    return client.post(f"/v1/admin/accounts/{pin}/{action}", json=body, headers=admin)


def _kinds(client: TestClient, admin: dict[str, str], pin: str) -> list[tuple[str, str | None]]:
    events = client.get(f"/v1/admin/accounts/{pin}/events", headers=admin).json()["events"]
    return [(e["kind"], e["reason"]) for e in events]


@pytest.fixture
def adult(client: TestClient, database: Database) -> str:
    return citizen_without_account(database, **ADULT)


def test_personas_cover_every_account_state(personas: dict[str, dict[str, Any]]) -> None:
    states = {(p["state"], p["level"]) for p in personas.values()}
    assert {("active", 1), ("active", 2), ("pending", 1), ("locked", 2), ("closed", 2)} <= states
    assert personas["locked-card-expired"]["lock_reasons"] == ["card_expired"]
    assert personas["locked-self"]["lock_reasons"] == ["self_request"]
    assert personas["citizen-l2"]["device_token"]


def test_deceased_persona_is_a_deceased_citizen(personas: dict[str, Any],
                                                database: Database) -> None:
    with database.read() as session:
        citizen = session.get(Citizen, personas["closed-deceased"]["pin"])
    assert citizen is not None
    assert citizen.status == "deceased"


def test_admin_opens_an_active_level_2_account_for_an_adult_with_a_card(
        client: TestClient, admin: dict[str, str], adult: str) -> None:
    response = _create(client, admin, pin=adult, level=2, password="Vneid@2025")
    assert response.status_code == 201, response.text
    body = response.json()
    assert (body["state"], body["level"], body["has_password"]) == ("active", 2, True)
    assert _kinds(client, admin, adult) == [("created", None), ("activated", None)]


def test_a_second_account_for_the_same_citizen_is_a_conflict(
        client: TestClient, admin: dict[str, str], adult: str) -> None:
    assert _create(client, admin, pin=adult).status_code == 201
    response = _create(client, admin, pin=adult)
    assert response.status_code == 409
    assert response.json()["type"].endswith("/account-exists")


@pytest.mark.parametrize(("min_age", "max_age", "status"), [
    (7, 12, "alive"),  # a child without a card (cards under 14 only on request)
    (30, 80, "deceased"),
])
def test_citizens_without_a_valid_card_or_alive_cannot_open_an_account(
        client: TestClient, admin: dict[str, str], database: Database, min_age: int,
        max_age: int, status: str) -> None:
    pin = citizen_without_account(database, min_age=min_age, max_age=max_age, status=status,
                                  valid_card=False)
    response = _create(client, admin, pin=pin, level=1)
    assert response.status_code == 409
    assert response.json()["type"].endswith("/account-not-eligible")


@pytest.mark.parametrize(("age", "alive", "card", "levels"), [
    (40, True, True, (1, 2)),
    (14, True, True, (1, 2)),
    (10, True, True, (1, 2)),  # 6 to 14 with a card: both, on request
    (5, True, True, (1,)),  # under 6: level 1 only
    (40, True, False, ()),
    (40, False, True, ()),
])
def test_decree_69_levels_by_age_and_card(age: int, alive: bool, card: bool,
                                          levels: tuple[int, ...]) -> None:
    assert accounts.allowed_levels(age=age, alive=alive, has_valid_card=card) == levels


def test_unknown_and_malformed_pins_are_refused_without_echo(
        client: TestClient, admin: dict[str, str]) -> None:
    malformed = client.get("/v1/admin/accounts/12345", headers=admin)
    assert malformed.status_code == 422
    assert "12345" not in malformed.text
    unknown = _create(client, admin, pin="079099000001")
    assert unknown.status_code == 404


def test_pending_account_is_activated_then_upgraded_to_level_2(
        client: TestClient, admin: dict[str, str], adult: str) -> None:
    assert _create(client, admin, pin=adult, level=1, activate=False).json()["state"] == "pending"
    assert _post(client, admin, adult, "upgrade").status_code == 409  # not active yet
    assert _post(client, admin, adult, "activate").json()["state"] == "active"
    upgraded = _post(client, admin, adult, "upgrade").json()
    assert (upgraded["state"], upgraded["level"]) == ("active", 2)
    assert _post(client, admin, adult, "upgrade").status_code == 409  # already level 2
    assert [k for k, _ in _kinds(client, admin, adult)] == ["created", "activated", "upgraded"]


def test_lock_grounds_accumulate_and_the_account_reopens_when_none_is_left(
        client: TestClient, admin: dict[str, str], adult: str, database: Database,
        clock: SandboxClock) -> None:
    _create(client, admin, pin=adult, level=2)
    assert _post(client, admin, adult, "lock", reason="self_request").json()["state"] == "locked"
    with database.write() as session:
        accounts.lock_for_card(session, adult, reason="card_expired", now=clock.now())
    partly = _post(client, admin, adult, "unlock", reason="self_request").json()
    assert (partly["state"], partly["lock_reasons"]) == ("locked", ["card_expired"])
    with database.write() as session:
        account = accounts.unlock_for_card(session, adult, now=clock.now())
        assert account is not None
        assert account.state == "active"
        assert account.level == 2
    assert _kinds(client, admin, adult)[-4:] == [
        ("locked", "self_request"), ("locked", "card_expired"), ("unlocked", "self_request"),
        ("unlocked", "card_expired")]


def test_unlocking_an_active_account_is_a_state_conflict(
        client: TestClient, admin: dict[str, str], adult: str) -> None:
    _create(client, admin, pin=adult)
    response = _post(client, admin, adult, "unlock")
    assert response.status_code == 409
    assert response.json()["type"].endswith("/account-state-conflict")
    assert response.json()["state"] == "active"


def test_card_hooks_do_nothing_for_a_citizen_without_account(database: Database,
                                                             clock: SandboxClock) -> None:
    pin = citizen_without_account(database, **ADULT)
    with database.write() as session:
        assert accounts.lock_for_card(session, pin, reason="card_revoked", now=clock.now()) is None
        assert accounts.close_for_death(session, pin, now=clock.now()) is None


def test_death_closes_the_account_for_good(client: TestClient, admin: dict[str, str],
                                           adult: str, database: Database,
                                           clock: SandboxClock) -> None:
    _create(client, admin, pin=adult, level=2)
    _post(client, admin, adult, "lock", reason="authority")
    with database.write() as session:
        accounts.close_for_death(session, adult, now=clock.now())
    closed = client.get(f"/v1/admin/accounts/{adult}", headers=admin).json()
    assert (closed["state"], closed["closed_reason"]) == ("closed", "death")
    for action, body in (("unlock", {}), ("activate", {}), ("lock", {"reason": "authority"}),
                         ("close", {"reason": "authority"})):
        assert _post(client, admin, adult, action, **body).status_code == 409
    assert _kinds(client, admin, adult)[-1] == ("closed", "death")


def test_a_lock_with_a_due_date_lapses_by_the_sandbox_clock(
        client: TestClient, admin: dict[str, str], adult: str, clock: SandboxClock) -> None:
    clock.freeze()
    _create(client, admin, pin=adult)
    until = (clock.now() + timedelta(days=3)).isoformat()
    assert _post(client, admin, adult, "lock", reason="authority", until=until).status_code == 200
    clock.advance(timedelta(days=2))
    assert client.get(f"/v1/admin/accounts/{adult}", headers=admin).json()["state"] == "locked"
    clock.advance(timedelta(days=1, seconds=1))
    assert client.get(f"/v1/admin/accounts/{adult}", headers=admin).json()["state"] == "active"
    assert _kinds(client, admin, adult)[-1] == ("unlocked", "authority")


@pytest.mark.parametrize(("password", "rule"), [
    ("Ab1!", "8 to 20 characters"),
    ("Abcdefgh1!Abcdefgh1!x", "8 to 20 characters"),
    ("abcdefg1!", "an upper-case letter"),
    ("ABCDEFG1!", "a lower-case letter"),
    ("Abcdefgh!", "a digit"),
    ("Abcdefgh1", "a special character"),
    ("Abc defg1!", "printable ASCII only, no spaces"),
    ("Mậtkhẩu1!", "printable ASCII only, no spaces"),
])
def test_weak_passwords_are_refused_naming_the_rule(
        client: TestClient, admin: dict[str, str], adult: str, password: str, rule: str) -> None:
    _create(client, admin, pin=adult)
    response = client.put(f"/v1/admin/accounts/{adult}/password", json={"password": password},
                          headers=admin)
    assert response.status_code == 422
    assert rule in response.json()["rules"]
    assert password not in response.text


def test_passwords_and_passcodes_are_stored_as_argon2id(
        client: TestClient, admin: dict[str, str], adult: str, database: Database) -> None:
    _create(client, admin, pin=adult, password="Str0ng!pass", passcode="246810")
    with database.read() as session:
        account = session.scalar(select(Account).where(Account.pin == adult))
    assert account is not None
    assert account.password_hash
    assert account.password_hash.startswith("$argon2id$")
    assert account.passcode_hash
    assert account.passcode_hash.startswith("$argon2id$")
    assert "Str0ng!pass" not in account.password_hash
    assert accounts.verify_secret(account.password_hash, "Str0ng!pass")
    assert not accounts.verify_secret(account.password_hash, "Str0ng!pasS")


@pytest.mark.parametrize("passcode", ["12345", "1234567", "12a456", "１２３４５６"])
def test_passcodes_are_exactly_six_ascii_digits(client: TestClient, admin: dict[str, str],
                                               adult: str, passcode: str) -> None:
    _create(client, admin, pin=adult)
    response = client.put(f"/v1/admin/accounts/{adult}/passcode", json={"passcode": passcode},
                          headers=admin)
    assert response.status_code == 422


def test_binding_a_new_device_replaces_the_old_one(client: TestClient, admin: dict[str, str],
                                                   adult: str, database: Database) -> None:
    _create(client, admin, pin=adult)
    first = client.post(f"/v1/admin/accounts/{adult}/device", json={}, headers=admin).json()
    second = client.post(f"/v1/admin/accounts/{adult}/device", json={"name": "New phone"},
                         headers=admin).json()
    assert first["device_token"] != second["device_token"]
    with database.read() as session:
        assert accounts.account_for_device(session, first["device_token"]) is None
        found = accounts.account_for_device(session, second["device_token"])
        assert found is not None
        assert found.pin == adult
    shown = client.get(f"/v1/admin/accounts/{adult}", headers=admin).json()
    assert shown["device"]["device_name"] == "New phone"
    assert "device_token" not in shown
    assert second["device_token"] not in str(shown)


def test_five_wrong_passwords_block_logins_for_fifteen_minutes(
        client: TestClient, admin: dict[str, str], adult: str, database: Database,
        clock: SandboxClock) -> None:
    clock.freeze()
    _create(client, admin, pin=adult, password="Right#Pass1")
    for _ in range(accounts.MAX_FAILED_LOGINS):
        with database.write() as session, pytest.raises(login_credentials.LoginRefused) as refused:
            login_credentials.password_login(session, adult, "Wrong#Pass1", now=clock.now())
        assert refused.value.reason == "invalid_credentials"
    with database.write() as session, pytest.raises(login_credentials.LoginRefused) as blocked:
        login_credentials.password_login(session, adult, "Right#Pass1", now=clock.now())
    assert blocked.value.reason == "throttled"
    clock.advance(accounts.LOGIN_BLOCK)
    with database.write() as session:
        assert login_credentials.password_login(session, adult, "Right#Pass1",
                                                now=clock.now()).pin == adult
    assert ("login_blocked", None) in _kinds(client, admin, adult)


def test_unknown_pin_and_wrong_password_fail_alike(database: Database, adult: str,
                                                   clock: SandboxClock) -> None:
    reasons = set()
    for pin in (adult, "079099000001", "not-a-pin"):
        with database.write() as session, pytest.raises(login_credentials.LoginRefused) as error:
            login_credentials.password_login(session, pin, "Wrong#Pass1", now=clock.now())
        reasons.add(error.value.reason)
    assert reasons == {"invalid_credentials"}


def test_locked_closed_and_pending_personas_cannot_log_in(
        personas: dict[str, Any], database: Database, clock: SandboxClock) -> None:
    for key, reason in (("locked-self", "locked"), ("locked-card-expired", "locked"),
                        ("closed-deceased", "closed"), ("pending", "pending")):
        with database.write() as session, pytest.raises(login_credentials.LoginRefused) as error:
            login_credentials.password_login(session, personas[key]["pin"],
                                             account_generation.SANDBOX_PASSWORD, now=clock.now())
        assert error.value.reason == reason, key


def test_admin_routes_need_the_admin_token(client: TestClient, adult: str) -> None:
    assert client.get("/v1/admin/accounts/personas").status_code == 401
    response = client.post("/v1/admin/accounts", json={"pin": adult},
                           headers={"Authorization": "Bearer nope"})
    assert response.status_code == 401


def test_generated_accounts_follow_the_age_bands(database: Database,
                                                 clock: SandboxClock) -> None:
    today = clock.now().date()
    with database.read() as session:
        rows = session.execute(select(Citizen.birth_date, Citizen.status, Account.state,
                                      Account.level, Account.persona)
                               .join(Account, Account.pin == Citizen.pin, isouter=True)).all()
    alive_adults = [r for r in rows
                    if r.status == "alive" and 25 <= age_on(r.birth_date, today) < 60]
    with_account = [r for r in alive_adults if r.state is not None]
    assert 0.75 < len(with_account) / len(alive_adults) <= 1.0
    level2 = [r for r in with_account if r.level == 2]
    assert 0.75 < len(level2) / len(with_account) <= 1.0
    infants = [r for r in rows if r.state is not None and age_on(r.birth_date, today) < 6]
    assert all(r.level == 1 for r in infants)  # under 6: level 1 only
    assert all(r.state == "closed" for r in rows if r.status == "deceased" and r.state)


def test_generated_active_accounts_belong_to_card_holders(database: Database,
                                                         clock: SandboxClock) -> None:
    with database.read() as session:
        pins = list(session.scalars(select(Account.pin).where(
            Account.state == "active", Account.persona.is_(None), Account.id.in_(
                select(AccountEvent.account_id).where(AccountEvent.actor == "generator")))))
        holders = accounts.valid_card_holders(session, pins, now=clock.now())
    assert pins
    assert set(pins) <= holders


def test_generated_accounts_are_deterministic_per_seed_and_pin() -> None:
    person = account_generation._Person("079190123456", account_generation.date(1990, 5, 1),
                                        "alive", None, None, None)
    today = account_generation.date(2026, 1, 1)
    first = account_generation._state(person, 6, card="active", today=today)
    assert first == account_generation._state(person, 6, card="active", today=today)
    outcomes = {str(account_generation._state(person, seed, card="active", today=today))
                for seed in range(40)}
    assert len(outcomes) > 1  # the seed matters


def test_generated_accounts_share_the_documented_sandbox_password(database: Database) -> None:
    with database.read() as session:
        account = session.scalar(select(Account).where(Account.persona.is_(None),
                                                       Account.state == "active").limit(1))
    assert account is not None
    assert accounts.verify_secret(account.password_hash, account_generation.SANDBOX_PASSWORD)
    assert accounts.verify_secret(account.passcode_hash, account_generation.SANDBOX_PASSCODE)


def test_every_generated_account_has_an_event(database: Database) -> None:
    with database.read() as session:
        without = session.scalar(select(Account.id).where(
            Account.id.not_in(select(AccountEvent.account_id))).limit(1))
    assert without is None


def test_cli_locks_unlocks_and_lists_personas(database: Database) -> None:
    pin = citizen_without_account(database, **ADULT)
    runner, db = CliRunner(), ["--database-url", database.url]
    created = runner.invoke(cli_app, ["accounts", "create", pin, "--level", "2", *db])
    assert created.exit_code == 0, created.output
    assert "active, level 2" in created.output
    locked = runner.invoke(cli_app, ["accounts", "lock", pin, "--reason", "tos_violation", *db])
    assert "locked (tos_violation)" in locked.output
    unlocked = runner.invoke(cli_app, ["accounts", "unlock", pin, *db])
    assert "active" in unlocked.output
    wrong = runner.invoke(cli_app, ["accounts", "lock", pin, "--reason", "nope", *db])
    assert wrong.exit_code != 0
    listing = runner.invoke(cli_app, ["accounts", "personas", *db])
    assert "citizen-l2" in listing.output
    assert account_generation.SANDBOX_PASSWORD in listing.output


DOCS = Path(__file__).resolve().parents[2] / "docs"


def _problem_classes() -> list[type[DomainError]]:
    found = {value for module in (accounts, consent, login) for value in vars(module).values()
             if isinstance(value, type) and issubclass(value, DomainError)
             and value.__module__ == module.__name__}
    return sorted(found, key=lambda cls: cls.code)


@pytest.mark.parametrize("problem", _problem_classes(), ids=lambda cls: cls.code)
def test_every_vneid_problem_type_is_in_docs_errors(problem: type[DomainError]) -> None:
    table = (DOCS / "errors.md").read_text()
    row = re.search(rf"^\| `{re.escape(problem.code)}` \| (\d+) \| (.+?) \|", table, re.M)
    assert row is not None
    assert row.group(1) == str(problem.status)
    assert row.group(2) == problem.title


@pytest.mark.parametrize("error", [
    "invalid_request", "invalid_client", "invalid_grant", "unauthorized_client", "invalid_scope",
    "unsupported_response_type", "unsupported_token_type", "access_denied", "login_required",
    "consent_required", "unmet_authentication_requirements", "invalid_request_object",
    "invalid_request_uri", "invalid_dpop_proof", "request_uri_not_supported",
    "registration_not_supported", "invalid_token", "insufficient_scope"])
def test_every_oauth_error_the_provider_answers_is_in_docs_errors(error: str) -> None:
    assert f"`{error}`" in (DOCS / "errors.md").read_text()


def _citizens(database: Database, *, offset: int, count: int) -> list[dict[str, Any]]:
    with database.read() as session:
        rows = session.execute(select(Citizen.__table__).order_by(Citizen.pin)
                               .offset(offset).limit(count)).mappings().all()
    return [dict(row) for row in rows]


def test_accounts_are_generated_again_after_the_population_is_replaced(
        database: Database, tmp_path: Path, clock: SandboxClock, settings: Settings) -> None:
    from sqlalchemy import delete, insert

    from app import migrations
    from app.models.card import Card, CardEvent
    from app.services.kit.keys import KeyStore
    from app.services.vneid import backchannel
    from seed.cards import ensure_cards

    fresh = Database.connect(f"sqlite:///{tmp_path / 'replaced.db'}")
    migrations.upgrade(fresh.engine)
    with fresh.write() as session:
        session.execute(insert(Citizen), _citizens(database, offset=0, count=400))
    ensure_cards(fresh, seed=6, now=clock.now())  # an account stands on a card
    logouts = backchannel.Logouts(KeyStore(fresh), settings, backchannel.Dispatcher())
    account_generation.ensure_accounts(fresh, settings=settings, now=clock.now(),
                                       logouts=logouts)
    with fresh.write() as session:  # `dancu seed --replace`: another population
        for model in (CardEvent, Card, Citizen):
            session.execute(delete(model))
        session.execute(insert(Citizen), _citizens(database, offset=400, count=400))
        assert account_generation.population_replaced(session)
    ensure_cards(fresh, seed=6, now=clock.now())
    account_generation.ensure_accounts(fresh, settings=settings, now=clock.now(),
                                       logouts=logouts)
    with fresh.read() as session:
        orphans = session.scalar(select(Account.id).where(
            Account.pin.not_in(select(Citizen.pin))).limit(1))
        personas = set(session.scalars(select(Account.persona).where(
            Account.persona.is_not(None))))
    fresh.dispose()
    assert orphans is None
    assert {"citizen-l2", "citizen-l1", "locked-self"} <= personas
