"""The generated history reaches the national milestones of chip cards and VNeID accounts when
scaled to the nation (seed/timeline.py; the sentences are cited in docs/population.md)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime

import pytest
from typer.testing import CliRunner

from app.cli import app as cli_app
from app.db import Database
from app.services.vneid.account_generation import seed_accounts
from seed import timeline
from seed.cards import ensure_cards
from seed.populate import populate
from tests.api.population_support import fresh_database

__all__ = ["fresh_database"]

SIZE = 20_000  # large enough for the 2.6 M accounts of 2022 (about 500 people) to hold at 5 %
NOW = datetime(2026, 12, 1, 3, tzinfo=UTC)


@pytest.fixture(scope="module")
def history(fresh_database: Callable[..., Database]) -> Database:
    database = fresh_database()
    populate(database, size=SIZE, seed=6, now=NOW)
    ensure_cards(database, seed=6, now=NOW)
    seed_accounts(database, seed=6, now=NOW)
    return database


def _reached(database: Database) -> timeline.Timeline:
    with database.engine.connect() as connection:
        return timeline.collect(connection)


@pytest.mark.parametrize("milestone", timeline.MILESTONES,
                         ids=[f"{m.what}-{m.on.isoformat()}" for m in timeline.MILESTONES])
def test_the_scaled_history_reaches_each_national_milestone(
        history: Database, milestone: timeline.Milestone) -> None:
    reached = next(r for r in _reached(history).reached if r.milestone == milestone)
    assert reached.holds, (milestone.figure, reached.scaled)


def test_the_first_vneid_accounts_open_in_2022_before_decree_59(history: Database) -> None:
    first = _reached(history).first_account
    assert first is not None
    assert date(2022, 1, 1) <= first <= timeline.FIRST_ACCOUNTS_BY


def test_dancu_stats_timeline_prints_the_scaled_figures(history: Database) -> None:
    result = CliRunner().invoke(cli_app, ["stats", "--timeline", "--database-url", history.url])
    assert result.exit_code == 0, result.output
    assert "National timeline" in result.output
    assert "86.3 M" in result.output
    assert "75.7 M" in result.output
    rows = result.output.split("# National timeline", 1)[1].splitlines()[2:]
    assert [row.rsplit("\t", 1)[-1] for row in rows] == ["yes"] * (len(timeline.MILESTONES) + 1)


@pytest.mark.parametrize(("bound", "scaled", "holds"), [
    ("more", 67e6 * 0.95, True), ("more", 67e6 * 0.94, False), ("about", 67e6 * 1.05, True),
    ("about", 67e6 * 1.06, False), ("about", 67e6 * 0.94, False)])
def test_a_milestone_holds_within_five_percent(bound: str, scaled: float, holds: bool) -> None:
    milestone = timeline.Milestone("cards", date(2022, 7, 31), 67e6, bound, "")
    assert milestone.holds(scaled) is holds
