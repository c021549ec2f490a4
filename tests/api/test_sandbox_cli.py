"""``dancu sandbox``: the persona catalogue (a table, or the fixture JSON) and the stored clock
from the command line, on the session's database."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from app.cli import app as cli_app
from app.db import Database
from app.services.sandbox import clock as sandbox_clock
from app.services.sandbox import personas


@pytest.fixture
def stored_clock_reset(database: Database) -> Iterator[None]:
    yield
    CliRunner().invoke(cli_app, ["sandbox", "clock", "reset", "--database-url", database.url])


def test_personas_print_as_a_table_and_as_the_fixture_json(client: TestClient,
                                                           database: Database) -> None:
    runner, where = CliRunner(), ["--database-url", database.url]
    table = runner.invoke(cli_app, ["sandbox", "personas", *where], env={"COLUMNS": "400"})
    assert table.exit_code == 0, table.output
    assert "valid-adult-level2" in table.output
    fixture = runner.invoke(cli_app, ["sandbox", "personas", "--json", *where])
    assert [p["key"] for p in json.loads(fixture.output)["personas"]] == list(personas.KEYS)


def test_the_clock_commands_move_the_stored_clock(client: TestClient, database: Database,
                                                  stored_clock_reset: None) -> None:
    runner, where = CliRunner(), ["--database-url", database.url]
    frozen = runner.invoke(cli_app, ["sandbox", "clock", "freeze", "--at", "2031-02-03T04:05:06",
                                     *where])
    assert frozen.exit_code == 0, frozen.output
    assert "2031-02-03T04:05:06+00:00 (frozen)" in frozen.output
    runner.invoke(cli_app, ["sandbox", "clock", "advance", "--days", "2", *where])
    assert sandbox_clock.stored_now(database).isoformat() == "2031-02-05T04:05:06+00:00"
    refused = runner.invoke(cli_app, ["sandbox", "clock", "freeze", "--at", "2001-01-01", *where])
    assert refused.exit_code == 1
