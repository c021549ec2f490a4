"""The start-up turn (app/bootstrap.py): while one process migrates and bootstraps, no other
process on the same database gets the turn; after, the next one does. (The processes themselves:
tests/e2e/test_first_start_workers.py.)"""

from __future__ import annotations

import fcntl
import os
import time

import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from app import migrations
from app.bootstrap import _STARTUP_LOCK_ID, _startup_lock_path, startup_turn
from app.cli import app as cli_app
from app.db import Database


def _another_process_could_take_it(database: Database) -> bool:
    """Asked without waiting, as another process would (another open file description of the
    lock file, another PostgreSQL session)."""
    if database.is_sqlite:
        path = _startup_lock_path(database.url)
        assert path is not None
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        finally:
            os.close(fd)
        return True
    with database.engine.connect() as connection, connection.begin():
        return bool(connection.execute(text("SELECT pg_try_advisory_xact_lock(:id)"),
                                       {"id": _STARTUP_LOCK_ID}).scalar_one())


def test_the_start_up_turn_is_one_process_at_a_time(database: Database) -> None:
    assert _another_process_could_take_it(database)
    with startup_turn(database):
        assert not _another_process_could_take_it(database)
    assert _another_process_could_take_it(database)


def test_the_start_up_turn_outlasts_the_servers_idle_transaction_timeout(
        database: Database) -> None:
    """PostgreSQL: the turn's transaction waits idle while the steps run on other connections
    (a national population takes hours); a server's ``idle_in_transaction_session_timeout`` would
    end it and hand the turn to the next process in the middle of the generation."""
    if database.is_sqlite:
        pytest.skip("PostgreSQL's setting")
    impatient = Database.connect(
        database.url, connect_args={"options": "-c idle_in_transaction_session_timeout=200"})
    try:
        with startup_turn(impatient):
            time.sleep(1)  # five times the timeout: not a measure, a span the server would end
            assert not _another_process_could_take_it(database)
    finally:
        impatient.dispose()


def test_dancu_migrate_migrates_in_the_start_up_turn(database: Database,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """``dancu migrate`` beside a server that is starting (or another ``dancu migrate``) takes
    its turn: two processes upgrading one database at once collide."""
    held: list[bool] = []
    monkeypatch.setattr(migrations, "upgrade",
                        lambda _engine: held.append(not _another_process_could_take_it(database)))
    result = CliRunner().invoke(cli_app, ["migrate", "--database-url", database.url])
    assert result.exit_code == 0, result.output
    assert held == [True]
    assert _another_process_could_take_it(database)
