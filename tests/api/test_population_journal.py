"""SQLite loads through a rollback journal (each new page written once) and is left in WAL mode,
the mode the service's concurrent readers need; with another connection open on the file the
load stays in WAL mode and still succeeds."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from app.db import Database
from seed import loader
from seed.populate import populate
from tests.api.population_support import digest, fresh_database  # noqa: F401  (fixture)

SIZE, SEED = 300, 11


def _journal_mode(database: Database) -> str:
    path = make_url(database.url).database
    with sqlite3.connect(str(path)) as connection:
        return str(connection.execute("PRAGMA journal_mode").fetchone()[0])


@pytest.fixture
def switches(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The journal modes the loader's switches ended in."""
    seen: list[str] = []
    original = loader._journal_mode

    def recording(driver: Any, mode: str) -> str:
        seen.append(original(driver, mode))
        return seen[-1]

    monkeypatch.setattr(loader, "_journal_mode", recording)
    return seen


def test_a_sqlite_population_load_goes_through_a_rollback_journal_and_ends_in_wal_mode(
        fresh_database: Callable[..., Database], switches: list[str]) -> None:  # noqa: F811
    database = fresh_database(backend="sqlite")
    populate(database, size=SIZE, seed=SEED)
    assert switches == ["truncate", "wal"]
    assert _journal_mode(database) == "wal"


def test_a_load_beside_an_open_reader_stays_in_wal_mode_and_gives_the_same_people(
        fresh_database: Callable[..., Database], switches: list[str]) -> None:  # noqa: F811
    alone, beside = fresh_database(backend="sqlite"), fresh_database(backend="sqlite")
    populate(alone, size=SIZE, seed=SEED)
    switches.clear()
    with beside.read() as session:  # another connection reads the file: no switch possible
        session.execute(text("SELECT count(*) FROM province")).scalar()
        populate(beside, size=SIZE, seed=SEED)
    assert len(switches) == 1
    assert switches[0] != "truncate"  # refused, never switched back
    assert _journal_mode(beside) == "wal"
    assert digest(alone) == digest(beside)
