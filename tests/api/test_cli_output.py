"""``dancu`` as a user meets it: a well-formed PIN nobody has is a one-line error and exit 1 on
every command taking a PIN; tables piped to a file or a program are plain tab-separated lines,
never cut to 80 columns; no Markdown backticks in anything the CLI prints."""

from __future__ import annotations

from typing import Any

import pytest
import typer
from fastapi.testclient import TestClient
from sqlalchemy import select
from typer.testing import CliRunner

from app.cli import app as cli_app
from app.db import Database
from app.models.population import Citizen
from app.services.population.citizens import checked_pin
from app.services.sandbox import personas

NOBODY = "001000000000"  # well formed (Hà Nội, a man born in 1900), never generated
PIN_COMMANDS = [["cards", "show"], ["cards", "issue"], ["cards", "renew"], ["cards", "lost"],
                ["cards", "revoke"], ["cards", "hold"], ["cards", "release"],
                ["accounts", "show"], ["accounts", "create"], ["accounts", "activate"],
                ["accounts", "upgrade"], ["accounts", "lock", "--reason", "authority"],
                ["accounts", "unlock"], ["accounts", "close", "--reason", "death"]]
TABLE_COMMANDS = [["sandbox", "personas"], ["cards", "personas"], ["accounts", "personas"],
                  ["events", "list"], ["sandbox", "tenants", "list"], ["clients", "list"],
                  ["stats"]]
BOX = set("│┃─━┏┓┗┛┡┩└┘┌┐├┤┬┴┼╇╈╋…")


def _run(database: Database, *arguments: str) -> Any:
    return CliRunner().invoke(cli_app, [*arguments, "--database-url", database.url])


@pytest.mark.parametrize("command", PIN_COMMANDS, ids=" ".join)
def test_a_pin_nobody_has_is_a_one_line_error_and_exit_1(client: TestClient, database: Database,
                                                         command: list[str]) -> None:
    with database.read() as session:
        assert session.scalar(select(Citizen.pin).where(Citizen.pin == checked_pin(NOBODY))) is None
    result = CliRunner().invoke(cli_app, [*command[:2], NOBODY, *command[2:],
                                          "--database-url", database.url])
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit), result.exception
    assert result.output.strip().startswith("error: "), result.output
    assert len(result.output.strip().splitlines()) == 1


@pytest.mark.parametrize("command", TABLE_COMMANDS, ids=" ".join)
def test_a_piped_table_is_tab_separated_and_uncut(client: TestClient, database: Database,
                                                 command: list[str]) -> None:
    result = _run(database, *command)
    assert result.exit_code == 0, result.output
    assert not BOX & set(result.output), result.output
    lines = [line for line in result.output.splitlines() if not line.startswith("# ")]
    assert lines
    assert all("\t" in line for line in lines if line and not line.startswith(("password:",)))


def test_piped_personas_carry_every_name_in_full(client: TestClient, database: Database) -> None:
    result = _run(database, "sandbox", "personas")
    rows = [line.split("\t") for line in result.output.splitlines()]
    assert rows[0] == ["persona", "PIN", "name", "lookup", "verification", "chip", "login"]
    assert [row[0] for row in rows[1:]] == list(personas.KEYS)
    assert all(len(row) == 7 for row in rows)
    for line in rows[1:]:
        assert line[1].isdigit()
        assert len(line[1]) == 12


def _commands(group: Any, path: list[str]) -> list[list[str]]:
    found = [path]
    for name, command in getattr(group, "commands", {}).items():
        found += _commands(command, [*path, name])
    return found


@pytest.mark.parametrize("path", _commands(typer.main.get_command(cli_app), ["dancu"]),
                         ids=" ".join)
def test_help_has_no_markdown_backticks(path: list[str]) -> None:
    result = CliRunner().invoke(cli_app, [*path[1:], "--help"])
    assert result.exit_code == 0, result.output
    assert "`" not in result.output


@pytest.mark.parametrize("command", [*TABLE_COMMANDS, ["sandbox", "clock", "show"]],
                         ids=" ".join)
def test_output_has_no_markdown_backticks(client: TestClient, database: Database,
                                          command: list[str]) -> None:
    assert "`" not in _run(database, *command).output


@pytest.mark.parametrize("command", [["accounts", "show", NOBODY], ["clients", "list"],
                                     ["stats"]], ids=" ".join)
def test_errors_on_an_empty_database_name_the_command_without_backticks(
        tmp_path: Any, command: list[str]) -> None:
    empty = f"sqlite:///{tmp_path / 'empty.db'}"
    result = CliRunner().invoke(cli_app, [*command, "--database-url", empty])
    assert result.exit_code == 1, result.output
    assert "dancu " in result.output
    assert "`" not in result.output


def test_persona_outcomes_are_plain_words_outside_the_docs() -> None:
    """The CLI, the console and the API's catalogue print them; only docs/personas.md is
    Markdown (``outcome_text(..., markdown=True)``)."""
    for spec in personas.SPECS:
        assert "`" not in spec.title + spec.notes, spec.key
        for channel, expected in personas.expectations(spec.outcomes).items():
            assert "`" not in personas.outcome_text(channel, expected)
