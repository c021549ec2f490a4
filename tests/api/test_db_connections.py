"""SQLite's kept connections of the event-loop thread: for writes that must not wait
(app.db.Database.unwaiting_connection) and for the login endpoints' read phases
(Database.reading_connection); SQLite's BEGIN, issued on the driver's connection; and
PostgreSQL's connections kept per event loop, closed when their loop ends."""

from __future__ import annotations

import asyncio
import gc
import sqlite3
import threading
import weakref
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Column, Integer, MetaData, Table, select, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from app import migrations
from app.db import Database, driver_transaction
from app.prepared import Prepared
from app.services.storage.phases import Pending, reading_only
from app.services.storage.runtime import Runtime
from app.services.storage.units import run_phases, write_at_once
from app.settings import Settings
from tests.api.sharing_support import *  # noqa: F403
from tests.api.sharing_support import People, bearer


@pytest.fixture
def sqlite_database(tmp_path: Path) -> Database:
    database = Database.connect(f"sqlite:///{tmp_path}/kept.db")
    migrations.upgrade(database.engine)
    return database


def test_a_thread_keeps_one_unwaiting_connection_per_database(sqlite_database: Database) -> None:
    first = sqlite_database.unwaiting_connection()
    assert sqlite_database.unwaiting_connection() is first
    assert first.connection.dbapi_connection.execute("PRAGMA busy_timeout").fetchone() == (0,)


def test_an_unwaiting_connection_fails_at_once_while_another_writer_holds_the_lock(
        sqlite_database: Database, tmp_path: Path) -> None:
    other = sqlite3.connect(tmp_path / "kept.db", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    connection = sqlite_database.unwaiting_connection()
    try:
        with pytest.raises(OperationalError, match="locked"):
            connection.begin()
        connection.rollback()
    finally:
        other.execute("COMMIT")
    with connection.begin():
        assert connection.execute(text("SELECT 1")).scalar() == 1


def test_a_thread_keeps_one_reading_connection_per_database_that_does_not_take_the_write_lock(
        sqlite_database: Database, tmp_path: Path) -> None:
    reading = sqlite_database.reading_connection()
    assert sqlite_database.reading_connection() is reading
    other = sqlite3.connect(tmp_path / "kept.db", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # a writer holds the lock: a reader still reads (WAL)
    try:
        with reading.begin():
            assert reading.execute(text("SELECT 1")).scalar() == 1
    finally:
        other.execute("COMMIT")


def test_sqlite_transactions_begin_as_their_engine_says(sqlite_database: Database,
                                                        tmp_path: Path) -> None:
    """Writers BEGIN IMMEDIATE (they hold the write lock from the start), readers a plain BEGIN."""
    with sqlite_database.engine.connect() as writer, writer.begin():
        other = sqlite3.connect(tmp_path / "kept.db", isolation_level=None, timeout=0)
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            other.execute("BEGIN IMMEDIATE")
    with sqlite_database.reader.kw["bind"].connect() as reader, reader.begin():
        other.execute("BEGIN IMMEDIATE")  # the reader holds no write lock
        other.execute("COMMIT")


@pytest.mark.parametrize("kept", ["unwaiting_connection", "reading_connection"])
def test_a_kept_connection_goes_with_its_database(tmp_path: Path, kept: str) -> None:
    """Tenants' databases come and go in a long-running server: nothing of one stays behind."""
    database = Database.connect(f"sqlite:///{tmp_path}/gone.db")
    engine, connection = (weakref.ref(database.engine),
                          weakref.ref(getattr(database, kept)()))
    database.dispose()
    del database
    gc.collect()
    assert engine() is None
    assert connection() is None


def test_a_new_connection_waits_to_switch_to_wal_while_a_writer_holds_a_rollback_database(
        tmp_path: Path) -> None:
    """Two workers starting on a new file: the first migrates (a write lock on a database not yet
    in WAL), the second's connection must wait to switch to WAL instead of failing at start-up."""
    path = tmp_path / "new.db"
    writer = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    writer.execute("CREATE TABLE t (x)")  # rollback journal mode, as a new file is
    writer.execute("BEGIN IMMEDIATE")
    writer.execute("INSERT INTO t VALUES (1)")
    releasing = threading.Timer(0.5, lambda: writer.execute("COMMIT"))
    releasing.start()
    try:
        with Database.connect(f"sqlite:///{path}").engine.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    finally:
        releasing.join()


def test_the_event_loops_writing_connection_leaves_wal_checkpoints_to_a_background_thread(
        sqlite_database: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A checkpoint's fsyncs stalled every request in flight when an inline commit ran it: the
    kept writing connection checkpoints only past a backstop, and each of its commits marks the
    file for the checkpoint thread (app.services.storage.checkpoints)."""
    from app.db import LOOP_CHECKPOINT_PAGES
    from app.services.storage import checkpoints, units

    driver = sqlite_database.unwaiting_connection().connection.dbapi_connection
    assert driver.execute("PRAGMA wal_autocheckpoint").fetchone() == (LOOP_CHECKPOINT_PAGES,)
    done: list[tuple[str, str, tuple[int, int, int] | None]] = []
    finished = threading.Event()
    real = checkpoints.checkpoint

    def watched(path: str) -> tuple[int, int, int] | None:
        done.append((path, threading.current_thread().name, found := real(path)))
        finished.set()
        return found

    monkeypatch.setattr(checkpoints, "checkpoint", watched)
    monkeypatch.setattr(checkpoints, "INTERVAL_SECONDS", 0)
    assert units.write_at_once(sqlite_database, lambda session: session.execute(
        text("UPDATE audit_chain_head SET hash = hash")))
    assert finished.wait(30), "no checkpoint followed the commit"
    path, thread, found = done[0]
    assert path == str(tmp_path / "kept.db")
    assert thread == "dancu-wal-checkpoints"
    assert found is not None
    busy, logged, copied = found
    assert busy == 0
    assert logged == copied > 0  # the commit's pages, back in the database file


def test_a_checkpoint_never_creates_a_database_file(tmp_path: Path) -> None:
    """A tenant's file dropped after its last commit: the checkpoint thread leaves it gone."""
    from app.services.storage.checkpoints import checkpoint

    assert checkpoint(str(tmp_path / "dropped.db")) is None
    assert not (tmp_path / "dropped.db").exists()


def _kept_connections(database: Database) -> list[object]:
    """The thread's reading and writing connections and its lookups' raw one (a lookup through
    a replica-less database reads on the writing one, so the raw one is asked for directly)."""
    from app.services.population.reading import SqliteCitizens

    lookups = SqliteCitizens(database)
    lookups._share = False
    assert lookups("000000000000") is None  # opens the lookups' own connection
    return [database.reading_connection(), database.unwaiting_connection(),
            lookups._local.connection]


def _closed(connection: object) -> bool:
    return bool(getattr(connection, "closed", False)) or \
        getattr(connection, "dbapi_connection", True) is None


def test_disposing_a_database_closes_the_connections_its_threads_kept(
        sqlite_database: Database) -> None:
    """A tenant reset, dropped or evicted from the cache disposes its Database: the connections
    the event loop's thread kept outside the pools close then, not whenever the collector takes
    the Database (never, once gc.freeze() has moved it to the permanent generation), which left
    the unlinked tenant file and its log open in the server."""
    kept = _kept_connections(sqlite_database)
    assert not any(_closed(connection) for connection in kept)
    sqlite_database.dispose()
    assert all(_closed(connection) for connection in kept)
    reopened = sqlite_database.reading_connection()  # a later use opens a new one
    assert reopened is not kept[0]
    assert not reopened.closed


def test_a_loops_kept_connections_are_closed_on_its_own_thread_when_another_disposes(
        sqlite_database: Database) -> None:
    """A SQLite connection closed while another thread uses it crashes the driver: a dispose in
    a worker thread (the tenant reset route) leaves the event loop's connections to that loop."""
    import asyncio

    loop = asyncio.new_event_loop()
    running = threading.Thread(target=loop.run_forever)
    running.start()
    closed_on: list[str] = []
    try:
        async def keep() -> list[object]:
            return _kept_connections(sqlite_database)

        kept = asyncio.run_coroutine_threadsafe(keep(), loop).result(30)
        real_close = type(kept[0]).close

        def watched_close(self: object) -> None:
            closed_on.append(threading.current_thread().name)
            real_close(self)  # type: ignore[arg-type]

        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(type(kept[0]), "close", watched_close)
            sqlite_database.dispose()

            async def settled() -> None:
                return None

            # the loop runs the closes scheduled before this coroutine's task
            asyncio.run_coroutine_threadsafe(settled(), loop).result(30)
        assert all(_closed(connection) for connection in kept)
        assert closed_on
        assert set(closed_on) == {running.name}
    finally:
        loop.call_soon_threadsafe(loop.stop)
        running.join(30)
        loop.close()



def test_a_file_marked_while_a_checkpoint_pass_fails_is_still_checkpointed(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A file marked while a pass fails must still be checkpointed: a mark is skipped while the
    file is marked, so a thread that died with marks pending would never be started again for
    them (their log left to the loop's own backstop, the stall the thread exists to avoid)."""
    from app.services.storage import checkpoints

    monkeypatch.setattr(checkpoints, "INTERVAL_SECONDS", 0)
    first, second = str(tmp_path / "first.db"), str(tmp_path / "second.db")
    in_first, marked_meanwhile, second_done = (threading.Event(), threading.Event(),
                                               threading.Event())

    def failing_then_watched(path: str) -> None:
        if path == first:
            in_first.set()
            assert marked_meanwhile.wait(30)
            raise RuntimeError("an error no one expected")
        second_done.set()

    monkeypatch.setattr(checkpoints, "checkpoint", failing_then_watched)
    marks = checkpoints.Checkpoints()
    marks.wrote(first)
    assert in_first.wait(30)
    marks.wrote(second)  # marked while the pass over `first` runs
    marked_meanwhile.set()
    assert second_done.wait(30), "the file marked during the failed pass was never checkpointed"


def test_a_test_client_without_its_context_leaves_no_event_loop_connection_open(
    settings: Settings,
    database: Database,
    is_postgres: bool,
    demo_token: str,
    people: People,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Without its context, a test client runs each request in an event loop of its own, ended
    after it: the lookup's reading connection (and the quota's, unless another loop charged)
    that each loop kept stayed open until the garbage collector found the loop, so a loop of
    requests took PostgreSQL's ``max_connections``. Each loop closes them as it ends (the
    collector is off here: nothing is left to it)."""
    if not is_postgres:
        pytest.skip("PostgreSQL's event-loop connections")
    from app.main import create_app
    from tests.api.test_audit import _recording_connections

    made = _recording_connections(monkeypatch)
    http = TestClient(create_app(settings, database=database, migrate_on_start=False))
    gc.disable()
    try:
        for _ in range(3):  # a loop each
            answer = http.get(f"/v1/citizens/{people.mother}", headers=bearer(demo_token))
            assert answer.status_code == 200, answer.text
        left_open = [connection for connection in made if not connection.closed]
    finally:
        gc.enable()
    assert len(made) >= 3  # the lookup's, the audit's, the quota's
    assert left_open == []


_ROWS = Table("driver_unit_rows", MetaData(), Column("x", Integer))


def _rows(tmp_path: Path) -> list[int]:
    other = sqlite3.connect(tmp_path / "kept.db")
    try:
        return [x for (x,) in other.execute("SELECT x FROM driver_unit_rows ORDER BY x")]
    finally:
        other.close()


@pytest.fixture
def rows_table(sqlite_database: Database) -> Database:
    with sqlite_database.engine.begin() as connection:
        _ROWS.create(connection)
    return sqlite_database


def test_a_unit_on_the_drivers_transaction_commits_prepared_and_orm_writes_together(
        rows_table: Database, tmp_path: Path) -> None:
    insert = Prepared(_ROWS.insert())

    def work(session: Session) -> None:
        insert.run(session.connection(), {"x": 1})
        session.execute(text("INSERT INTO driver_unit_rows (x) VALUES (2)"))  # the ORM joins
        insert.run(session.connection(), {"x": 3})

    assert write_at_once(rows_table, work)
    assert _rows(tmp_path) == [1, 2, 3]
    connection = rows_table.unwaiting_connection()
    assert not connection.in_transaction()
    assert not connection.connection.dbapi_connection.in_transaction


@pytest.mark.parametrize("orm", [False, True])
def test_a_failing_unit_on_the_drivers_transaction_rolls_back_all_its_writes(
        rows_table: Database, tmp_path: Path, orm: bool) -> None:
    insert = Prepared(_ROWS.insert())

    def work(session: Session) -> None:
        insert.run(session.connection(), {"x": 1})
        if orm:
            session.execute(text("INSERT INTO driver_unit_rows (x) VALUES (2)"))
        raise RuntimeError("refused")

    with pytest.raises(RuntimeError, match="refused"):
        write_at_once(rows_table, work)
    assert _rows(tmp_path) == []
    connection = rows_table.unwaiting_connection()
    assert not connection.in_transaction()
    assert not connection.connection.dbapi_connection.in_transaction
    assert write_at_once(rows_table, lambda session: insert.run(session.connection(), {"x": 4}))
    assert _rows(tmp_path) == [4]


def test_a_unit_that_cannot_begin_at_once_does_nothing_and_leaves_its_connection_usable(
        rows_table: Database, tmp_path: Path) -> None:
    insert = Prepared(_ROWS.insert())
    other = sqlite3.connect(tmp_path / "kept.db", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        assert not write_at_once(rows_table, lambda session: insert.run(session.connection(),
                                                                         {"x": 1}))
    finally:
        other.execute("COMMIT")
    assert not rows_table.unwaiting_connection().connection.dbapi_connection.in_transaction
    assert write_at_once(rows_table, lambda session: insert.run(session.connection(), {"x": 2}))
    assert _rows(tmp_path) == [2]


def test_a_read_on_the_drivers_transaction_sees_one_snapshot_and_takes_no_write_lock(
        rows_table: Database, tmp_path: Path) -> None:
    select_rows = Prepared(select(_ROWS.c.x))
    reading = rows_table.reading_connection()
    other = sqlite3.connect(tmp_path / "kept.db", isolation_level=None)
    with driver_transaction(reading, "BEGIN", commit=False):
        assert select_rows.all(reading, {}) == []
        other.execute("BEGIN IMMEDIATE")  # a writer gets the lock while the read is open
        other.execute("INSERT INTO driver_unit_rows (x) VALUES (1)")
        other.execute("COMMIT")
        assert select_rows.all(reading, {}) == []  # the read's snapshot
    assert not reading.connection.dbapi_connection.in_transaction
    with driver_transaction(reading, "BEGIN", commit=False):
        assert [row.x for row in select_rows.all(reading, {})] == [1]


def test_a_two_phase_use_case_decides_in_its_writing_transaction_when_the_lock_is_free(
        rows_table: Database) -> None:
    """One process: the decision and its writes in one transaction (no reading one before)."""
    insert = Prepared(_ROWS.insert())
    seen: list[bool] = []

    def decide(session: Session) -> Pending[str]:
        seen.append(reading_only(session))
        return Pending(lambda writing: (insert.run(writing.connection(), {"x": 1}), "done")[1])

    assert asyncio.run(run_phases(Runtime(rows_table), decide)) == "done"
    assert seen == [False]


def test_a_two_phase_use_case_decides_on_a_reader_while_another_process_writes(
        rows_table: Database, tmp_path: Path) -> None:
    """The lock held elsewhere: decide on a reader, then only the writes wait for the lock."""
    insert = Prepared(_ROWS.insert())
    seen: list[bool] = []
    other = sqlite3.connect(tmp_path / "kept.db", isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")

    def decide(session: Session) -> Pending[str]:
        seen.append(reading_only(session))
        threading.Timer(0.2, other.execute, ("COMMIT",)).start()  # the other writer finishes
        return Pending(lambda writing: (insert.run(writing.connection(), {"x": 1}), "done")[1])

    assert asyncio.run(run_phases(Runtime(rows_table), decide)) == "done"
    assert seen == [True]
    assert _rows(tmp_path) == [1]


def test_a_unit_of_prepared_statements_only_registers_no_orm_session(
        rows_table: Database, tmp_path: Path) -> None:
    """The ORM session a unit is handed is initialised (given an id and registered) at the ORM's
    first use only."""
    from sqlalchemy.orm import session as orm_session

    insert = Prepared(_ROWS.insert())
    handed: list[Session] = []

    def prepared_only(session: Session) -> None:
        insert.run(session.connection(), {"x": 1})
        handed.append(session)

    def with_the_orm(session: Session) -> None:
        session.execute(text("INSERT INTO driver_unit_rows (x) VALUES (2)"))
        handed.append(session)

    assert write_at_once(rows_table, prepared_only)
    assert "hash_key" not in vars(handed[0])
    assert write_at_once(rows_table, with_the_orm)
    assert orm_session._sessions.get(handed[1].hash_key) is handed[1]
    assert _rows(tmp_path) == [1, 2]
