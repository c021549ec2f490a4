"""``dancu seed`` generates the chip cards and VNeID accounts with the people, in the same
transaction: the same ones the first ``dancu serve`` would have made, and nothing at all when any
step fails."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError
from typer.testing import CliRunner

from app.cli import cli
from app.db import Database
from app.main import create_app
from app.models.account import Account
from app.models.card import Card
from app.models.population import Citizen
from app.services.vneid import account_generation
from app.settings import load_settings
from seed import loader
from seed.cards import seed_cards
from seed.populate import reference_date
from tests.api.population_support import fresh_database

__all__ = ["fresh_database"]
SIZE, SEED = 1500, 4


def _seed(database: Database, *extra: str) -> Any:
    return CliRunner().invoke(cli, ["seed", "--size", str(SIZE), "--seed", str(SEED),
                                    "--database-url", database.url, *extra])


def _cards(database: Database) -> list[tuple[Any, ...]]:
    with database.read() as session:
        return [tuple(row) for row in session.execute(
            select(Card.pin, Card.sequence, Card.status, Card.issue_date, Card.expiry_date)
            .order_by(Card.pin, Card.sequence))]


def _accounts(database: Database) -> list[tuple[Any, ...]]:
    with database.read() as session:
        return [tuple(row) for row in session.execute(
            select(Account.pin, Account.state, Account.level, Account.lock_reasons,
                   Account.closed_reason, Account.phone).order_by(Account.pin))]


def _count(database: Database, column: Any) -> int:
    with database.read() as session:
        return int(session.scalar(select(func.count(column))) or 0)


def test_seed_makes_the_cards_and_accounts_the_first_start_would_have_made(
        fresh_database: Callable[..., Database]) -> None:
    together, later = fresh_database(migrate=False), fresh_database(migrate=False)
    result = _seed(together)
    assert result.exit_code == 0, result.output
    assert "VNeID accounts" in result.stdout
    assert _seed(later, "--population-only").exit_code == 0
    assert _count(later, Card.id) == _count(later, Account.id) == 0
    now = datetime.now(UTC)
    seed_cards(later, seed=SEED, reference_date=reference_date())  # the first start's steps
    account_generation.seed_accounts(later, seed=SEED, now=now)
    assert _cards(together) == _cards(later)
    assert _accounts(together) == _accounts(later)
    assert len(_accounts(together)) > SIZE // 3


def test_a_failure_while_writing_the_accounts_leaves_no_people_and_no_cards(
        fresh_database: Callable[..., Database], monkeypatch: pytest.MonkeyPatch) -> None:
    database = fresh_database(migrate=False)
    for writer in (loader.SqliteWriter, loader.PostgresWriter):
        def broken(self: loader.Writer, name: str, columns: tuple[str, ...], values: list[Any],
                   original: Callable[..., None] = writer.write_tuples) -> None:
            if name == "vneid_account":
                raise OperationalError("INSERT", {}, Exception("the disk is full"))
            original(self, name, columns, values)

        monkeypatch.setattr(writer, "write_tuples", broken)
    result = _seed(database)
    assert result.exit_code == 1
    assert "rolled back" in result.stderr
    assert _count(database, Citizen.pin) == _count(database, Card.id) == 0
    assert _count(database, Account.id) == 0


def test_replacing_the_population_replaces_its_accounts(
        fresh_database: Callable[..., Database]) -> None:
    database = fresh_database(migrate=False)
    assert _seed(database).exit_code == 0
    before = {pin for pin, *_ in _accounts(database)}
    result = CliRunner().invoke(cli, ["seed", "--size", str(SIZE), "--seed", str(SEED + 1),
                                      "--replace", "--database-url", database.url])
    assert result.exit_code == 0, result.output
    with database.read() as session:
        citizens = set(session.scalars(select(Citizen.pin)))
    after = {pin for pin, *_ in _accounts(database)}
    assert after
    assert after <= citizens
    assert after != before


@pytest.mark.parametrize("extra", [(), ("--population-only",)])
def test_after_a_replacement_the_persona_catalogue_names_citizens_of_the_new_population(
        fresh_database: Callable[..., Database], extra: tuple[str, ...]) -> None:
    database = fresh_database(migrate=False)
    assert _seed(database).exit_code == 0
    settings = load_settings(database_url=database.url, seed=SEED, population_size=SIZE,
                             delivery_worker=False, secret_key="replaced-population-secret")
    admin = {"Authorization": f"Bearer {settings.admin_token}"}

    def catalogue() -> dict[str, str]:  # a start, as `dancu serve` makes it, then the catalogue
        with TestClient(create_app(settings, database=database)) as client:
            answer = client.get("/v1/sandbox/personas", headers=admin)
            assert answer.status_code == 200
            found = {p["key"]: p["pin"] for p in answer.json()["personas"] if not p["fault"]}
            token = client.post("/oauth2/token", data={
                "grant_type": "client_credentials", "scope": "citizen.basic"},
                auth=(settings.demo_client_id, settings.demo_client_secret)).json()
            bearer = {"Authorization": f"Bearer {token['access_token']}"}
            for key, pin in found.items():
                assert client.get(f"/v1/citizens/{pin}", headers=bearer).status_code == 200, key
            return found

    before = catalogue()
    result = CliRunner().invoke(cli, ["seed", "--size", str(SIZE), "--seed", str(SEED + 1),
                                      "--replace", "--database-url", database.url, *extra])
    assert result.exit_code == 0, result.output
    after = catalogue()
    assert after
    assert after != before
