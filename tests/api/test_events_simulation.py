"""``dancu simulate``: deterministic for a seed, national rates scaled to the population within
statistical tolerance, and the advanced sandbox clock stored for every process.

The simulation changes random people, so it runs on databases of its own (two identical ones,
built from the same seed), never on the session database the other tests rely on."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from typer.testing import CliRunner

from app import migrations
from app.cli import cli
from app.clock import SandboxClock
from app.db import Database
from app.main import create_app
from app.models.events import LifeEvent
from app.services.cards.pki import card_pki
from app.services.events import simulation
from app.services.kit import shared_clock
from app.services.vneid import backchannel
from app.settings import load_settings
from seed.cards import ensure_cards
from seed.populate import populate
from tests.conftest import _postgres_database

SEED, PEOPLE, DAYS = 11, 3000, 730
START = datetime(2027, 1, 1, 3, tzinfo=UTC)


def _fresh_url(base: str, tmp: Any) -> Iterator[str]:
    if base.startswith("postgresql"):
        yield from _postgres_database(base)  # a database of its own, dropped afterwards
    else:
        yield f"sqlite:///{tmp.mktemp('sim') / 'sim.db'}"


@dataclass
class Run:
    database: Database
    report: simulation.Report
    clock: SandboxClock
    events: list[tuple[Any, ...]]


def _populated(url: str) -> Database:
    database = Database.connect(url)
    migrations.upgrade(database.engine)
    populate(database, size=PEOPLE, seed=SEED)
    ensure_cards(database, seed=SEED, now=START)
    return database


def _simulate(database: Database, days: int = DAYS) -> Run:
    clock = SandboxClock()
    clock.freeze(START)
    settings = load_settings(database_url=database.url, seed=SEED, auto_seed=False,
                             secret_key="simulation-test-secret")
    with backchannel.own_logouts(database, settings, now=START) as logouts:
        report = simulation.simulate(
            database, days=days, seed=SEED, clock=clock, logouts=logouts,
            pki=lambda now: card_pki(database, seed=SEED, key_type="ec", now=now))
    with database.read() as session:
        rows = [(e.seq, e.type, e.pin, e.occurred_on, json.dumps(e.data, sort_keys=True))
                for e in session.scalars(select(LifeEvent).order_by(LifeEvent.seq))]
    return Run(database, report, clock, rows)


@pytest.fixture(scope="module")
def runs(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[Run]]:
    base = os.environ.get("DANCU_TEST_DATABASE_URL") or database_url
    first, second = _fresh_url(base, tmp_path_factory), _fresh_url(base, tmp_path_factory)
    made = [_simulate(_populated(next(first))), _simulate(_populated(next(second)))]
    yield made
    for run in made:
        run.database.dispose()
    for urls in (first, second):
        next(urls, None)  # drop the PostgreSQL databases


def test_the_same_seed_and_population_give_the_same_events(runs: list[Run]) -> None:
    assert runs[0].events
    assert runs[0].events == runs[1].events
    assert runs[0].report.counts == runs[1].report.counts


def test_simulated_counts_follow_the_national_rates(runs: list[Run]) -> None:
    report = runs[0].report
    for name in ("births", "deaths", "moves", "marriages"):
        expected = report.expected[name]
        assert abs(report.counts[name] - expected) <= 4 * math.sqrt(expected) + 1, name
    assert report.counts["divorces"] <= report.expected["divorces"] * 3 + 5
    assert report.counts["card_renewals"] > 0
    assert report.expected["births"] == pytest.approx(PEOPLE * 0.97 * 1.4e6 / 101.1e6 * 2,
                                                      rel=0.05)


def test_the_simulation_records_each_event_with_its_linked_events(runs: list[Run]) -> None:
    types = {row[1] for row in runs[0].events}
    assert {"birth.registered", "health_insurance.enrolment", "death.registered",
            "funeral_allowance.eligible", "residence.changed", "marriage.registered",
            "card.changed"} <= types
    births = sum(1 for row in runs[0].events if row[1] == "birth.registered")
    assert births == runs[0].report.counts["births"]


def test_the_advanced_clock_is_stored_for_every_process(runs: list[Run]) -> None:
    run = runs[0]
    assert run.clock.now() == START + timedelta(days=DAYS)
    other_process = SandboxClock()
    assert shared_clock.ClockSync(other_process).poll(run.database)
    assert other_process.now() == START + timedelta(days=DAYS)
    with run.database.read() as session:
        stored = shared_clock.load(session)
        assert stored is not None
        assert stored.version >= 1


def test_dancu_simulate_and_dancu_events_on_the_command_line(runs: list[Run],
                                                              monkeypatch: Any) -> None:
    url = runs[1].database.url
    runner = CliRunner()
    result = runner.invoke(cli, ["simulate", "--days", "3", "--seed", "5", "--database-url", url])
    assert result.exit_code == 0, result.output
    assert "3 days simulated" in result.output
    with runs[1].database.read() as session:
        stored = shared_clock.load(session)
        assert stored is not None
        assert stored.frozen_at is not None
    listed = runner.invoke(cli, ["events", "list", "--limit", "3", "--database-url", url])
    assert listed.exit_code == 0, listed.output
    assert "birth.registered" in listed.output or "death.registered" in listed.output
    delivered = runner.invoke(cli, ["events", "deliver", "--database-url", url])
    assert delivered.exit_code == 0, delivered.output
    assert "attempted" in delivered.output
    bad = runner.invoke(cli, ["events", "record", "deaths", '{"pin": "1"}', "--database-url",
                              url])
    assert bad.exit_code != 0


def test_the_admin_api_simulates_and_moves_the_servers_clock(runs: list[Run]) -> None:
    url = runs[1].database.url
    settings = load_settings(database_url=url, seed=SEED, auto_seed=False,
                             delivery_worker=False)
    app = create_app(settings, database=Database.connect(url))
    with TestClient(app) as client:
        before = app.state.clock.now()
        response = client.post("/v1/admin/simulate", json={"days": 2},
                               headers={"Authorization": f"Bearer {settings.admin_token}"})
        assert response.status_code == 200, response.text
        assert response.json()["days"] == 2
        assert app.state.clock.now() - before >= timedelta(days=2)
        assert client.post("/v1/admin/simulate", json={"days": 2}).status_code == 401
