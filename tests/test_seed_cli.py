"""``dancu seed`` and ``dancu stats``: bad input gives one line, a non-zero exit and loses nothing;
killing a real ``dancu seed`` half-way leaves the database as it was."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from app.cli import cli
from app.db import Database
from app.models.population import PopulationRun
from seed.populate import is_populated, populate
from tests.api.population_support import digest, fresh_database

__all__ = ["fresh_database"]

DANCU = str(Path(sys.executable).with_name("dancu"))


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def one_line(text: str) -> str:
    lines = text.strip().splitlines()
    assert len(lines) == 1, text
    return lines[0]


def test_seed_loads_and_summarises(runner: CliRunner,
                                   fresh_database: Callable[..., Database]) -> None:
    database = fresh_database(migrate=False)
    result = runner.invoke(cli, ["seed", "--size", "1500", "--seed", "4",
                                 "--database-url", database.url])
    assert result.exit_code == 0, result.output
    assert "1,500" in result.stdout
    assert "households" in result.stdout
    assert "of which indexes and keys" in result.stdout
    assert is_populated(database)


def test_seed_into_a_populated_database_needs_replace(
        runner: CliRunner, fresh_database: Callable[..., Database]) -> None:
    database = fresh_database()
    populate(database, size=1000, seed=4)
    before = digest(database)
    result = runner.invoke(cli, ["seed", "--size", "1200", "--database-url", database.url])
    assert result.exit_code == 1
    assert "--replace" in one_line(result.stderr)
    assert digest(database) == before


def test_replace_regenerates_with_the_new_seed(
        runner: CliRunner, fresh_database: Callable[..., Database]) -> None:
    database = fresh_database()
    populate(database, size=1000, seed=4)
    result = runner.invoke(cli, ["seed", "--size", "1200", "--seed", "5", "--replace",
                                 "--database-url", database.url])
    assert result.exit_code == 0, result.output
    with database.engine.connect() as connection:
        assert tuple(connection.execute(select(PopulationRun.seed, PopulationRun.size)).one()) \
            == (5, 1200)


@pytest.mark.parametrize("command", ["seed", "stats"])
def test_an_unreachable_database_is_one_line(runner: CliRunner, command: str) -> None:
    result = runner.invoke(cli, [command, "--database-url",
                                 "postgresql+psycopg://nobody@127.0.0.1:1/x"])
    assert result.exit_code == 1
    assert "cannot reach the database" in one_line(result.stderr)


@pytest.mark.parametrize(("args", "env", "name"), [
    (["--size", "5"], {}, "DANCU_POPULATION_SIZE"),
    ([], {"DANCU_SEED": "-1"}, "DANCU_SEED"),
    ([], {"DANCU_DATABASE_URL": "mysql://x/y"}, "DANCU_DATABASE_URL"),
])
def test_a_bad_setting_is_one_line(runner: CliRunner, args: list[str], env: dict[str, str],
                                   name: str) -> None:
    result = runner.invoke(cli, ["seed", *args], env=env)
    assert result.exit_code == 2
    assert name in one_line(result.stderr)


def test_stats_prints_the_distributions(runner: CliRunner, database: Database) -> None:
    result = runner.invoke(cli, ["stats", "--database-url", database.url])
    assert result.exit_code == 0, result.output
    for heading in ("Age pyramid", "Top surnames", "Provinces", "Ethnicities", "Religions",
                    "Marital status", "Nguyễn", "Kinh", "Văn (men) / Thị (women)",
                    "people per household"):
        assert heading in result.stdout


def test_stats_of_an_empty_database_is_one_line(
        runner: CliRunner, fresh_database: Callable[..., Database]) -> None:
    database = fresh_database()
    result = runner.invoke(cli, ["stats", "--database-url", database.url])
    assert result.exit_code == 1
    assert "no population" in one_line(result.stderr)


def _children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in path.read_text().split()] if path.exists() else []


def _gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
        except FileNotFoundError:
            return True
        if state == "Z":
            return True
        time.sleep(0.1)
    return False


def _kill_mid_seed(url: str, *extra: str) -> list[int]:
    """Start a real ``dancu seed`` big enough to need a worker, SIGKILL it after a batch."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen([DANCU, "seed", "--size", "500000", "--seed", "8",
                                "--database-url", url, *extra],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                               env=env)
    assert process.stderr is not None
    for line in process.stderr:  # one plain progress line per loaded batch
        if line.startswith("loaded "):
            break
    else:
        pytest.fail(f"dancu seed ended before loading a batch (exit {process.wait()})")
    workers = _children(process.pid)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    process.stderr.close()
    return workers


def test_killing_seed_half_way_leaves_an_empty_database(
        fresh_database: Callable[..., Database]) -> None:
    database = fresh_database()
    workers = _kill_mid_seed(database.url)
    assert workers, "the generator should run in a worker process at this size"
    assert all(_gone(pid, 30) for pid in workers), "the generator outlived dancu seed"
    assert not is_populated(database)


def test_killing_a_replacement_half_way_keeps_the_old_population(
        fresh_database: Callable[..., Database]) -> None:
    database = fresh_database()
    populate(database, size=1000, seed=4)
    before = digest(database)
    _kill_mid_seed(database.url, "--replace")
    assert digest(database) == before
