"""The audit trail: every access recorded, hash-chained, tamper-evident, readable by its owner."""

from __future__ import annotations

import hashlib
import json
import logging
import re
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import delete, func, select, update
from typer.testing import CliRunner

from app.cli import cli
from app.db import Database
from app.models.audit import AuditChainHead, AuditRecord
from app.services.sharing import audit
from app.settings import Settings
from tests.api.sharing_support import *  # noqa: F403
from tests.api.sharing_support import People, bearer, issue_token, new_client


def _records_of(database: Database, request_id: str) -> list[AuditRecord]:
    with database.read() as session:
        query = (
            select(AuditRecord)
            .where(AuditRecord.request_id == request_id)
            .order_by(AuditRecord.seq)
        )
        return list(session.scalars(query))


def test_lookup_appends_a_record_of_who_why_whose_which_fields_and_result(
    client: TestClient, database: Database, people: People, token_for_scopes: Any
) -> None:
    response = client.get(
        f"/v1/citizens/{people.mother}", headers=bearer(token_for_scopes("citizen.contact"))
    )
    [record] = _records_of(database, response.headers["x-request-id"])
    assert (record.client_id, record.purpose, record.action) == (
        "scoped-tester",
        "testing",
        "lookup",
    )
    assert record.pin == people.mother
    assert record.fields.split() == ["email", "phone", "pin", "status"]
    assert record.result == "disclosed"


def test_failed_lookup_is_audited_too(
    client: TestClient, database: Database, demo_token: str
) -> None:
    response = client.get("/v1/citizens/001099999999", headers=bearer(demo_token))
    [record] = _records_of(database, response.headers["x-request-id"])
    assert (record.result, record.fields) == ("not_found", "")


def test_batch_verification_appends_one_record_per_checked_pin(
    client: TestClient, database: Database, people: People, demo_token: str
) -> None:
    response = client.post(
        "/v1/citizens/verify/batch",
        headers=bearer(demo_token),
        json={
            "items": [
                {"pin": people.mother, "sex": "F"},
                {"pin": people.father, "sex": "F"},
                {"pin": "bad", "sex": "F"},
            ]
        },
    )
    records = _records_of(database, response.headers["x-request-id"])
    assert [(r.pin, r.result) for r in records] == [
        (people.mother, "match"),
        (people.father, "no_match"),
    ]
    assert all(r.fields.split() == ["sex", "status"] for r in records)


def test_pins_and_tokens_never_reach_the_logs(
    client: TestClient, people: People, demo_token: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    client.get(f"/v1/citizens/{people.mother}", headers=bearer(demo_token))
    client.get(f"/v1/citizens/{people.mother}", headers=bearer("forged." + demo_token))
    client.post(
        "/v1/citizens/verify",
        headers=bearer(demo_token),
        json={"pin": people.mother, "full_name": "Nguyễn Thị Thuỷ"},
    )
    server_side = [
        r for r in caplog.records if not r.name.startswith("httpx")
    ]  # not the test client
    logged = "\n".join(r.getMessage() for r in server_side)
    assert server_side
    assert not re.search(r"\d{12}", logged)
    assert "eyJ" not in logged
    assert "Thuỷ" not in logged


_RECORD = {"seq": 7, "created_at": datetime(2026, 12, 7, 12, 30, 0, 5, tzinfo=UTC),
           "client_id": "bench", "purpose": "benchmark", "action": "lookup",
           "pin": "001099012345", "fields": "birth_date full_name pin sex", "result": "disclosed",
           "request_id": "0" * 32, "prev_hash": audit.GENESIS_HASH}


@pytest.mark.parametrize("changes", [
    {},
    {"pin": None, "fields": "", "result": "not_found"},
    {"client_id": "Trần Thị \u2028 \"quoted\" \\ back\nline\x00", "purpose": "mục đích"},
    {"seq": 2**70, "created_at": datetime(999, 1, 2, 3, 4, 5, tzinfo=UTC)},
])
def test_a_record_hashes_as_the_sha256_of_its_documented_canonical_json(
        changes: dict[str, Any]) -> None:
    """The hash's input is json.dumps(ensure_ascii=False, separators=(",", ":")) of the columns
    in their fixed order, created_at as UTC text: what `dancu audit verify` and any outside
    verifier recompute, whatever encoder the service uses to make it faster."""
    record = {**_RECORD, **changes}
    values = [audit.utc_text(record[name]) if name == "created_at" else record[name]
              for name in audit.HASHED_COLUMNS]
    canonical = json.dumps(values, ensure_ascii=False, separators=(",", ":"))
    assert audit.record_hash(record) == hashlib.sha256(canonical.encode()).hexdigest()


def test_the_chain_verifies_after_appends(
    client: TestClient, database: Database, people: People, demo_token: str
) -> None:
    for _ in range(3):
        client.get(f"/v1/citizens/{people.mother}", headers=bearer(demo_token))
    with database.read() as session:
        report = audit.verify_chain(session)
        count = session.scalar(select(func.count()).select_from(AuditRecord))
    assert report.ok
    assert report.checked == count >= 3


def _tampered(database: Database, change: Any) -> audit.ChainReport:
    """Apply ``change`` in a transaction, verify the chain inside it, then roll back."""
    with database.writer() as session:
        target = session.scalar(select(func.max(AuditRecord.seq))) - 1
        change(session, target)
        report = audit.verify_chain(session)
        session.rollback()
    return report, target


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (
            lambda s, seq: s.execute(
                update(AuditRecord).where(AuditRecord.seq == seq).values(result="match")
            ),
            "content",
        ),
        (
            lambda s, seq: s.execute(
                update(AuditRecord).where(AuditRecord.seq == seq).values(pin=None)
            ),
            "content",
        ),
        (lambda s, seq: s.execute(delete(AuditRecord).where(AuditRecord.seq == seq)), "missing"),
    ],
    ids=["edited result", "erased PIN", "deleted row"],
)
def test_editing_or_deleting_a_record_breaks_the_chain_at_that_record(
    client: TestClient,
    database: Database,
    people: People,
    demo_token: str,
    change: Any,
    reason: str,
) -> None:
    for _ in range(2):
        client.get(f"/v1/citizens/{people.mother}", headers=bearer(demo_token))
    report, target = _tampered(database, change)
    assert not report.ok
    assert report.broken_at in (target, target + 1)
    assert reason in (report.reason or "")


def test_deleting_the_newest_record_breaks_the_chain(
    client: TestClient, database: Database, people: People, demo_token: str
) -> None:
    client.get(f"/v1/citizens/{people.mother}", headers=bearer(demo_token))
    with database.writer() as session:
        session.execute(
            delete(AuditRecord).where(
                AuditRecord.seq == session.scalar(select(func.max(AuditRecord.seq)))
            )
        )
        report = audit.verify_chain(session)
        session.rollback()
    assert not report.ok
    assert report.reason == "records after this point are missing"


def test_cli_audit_verify_exits_non_zero_naming_the_broken_record(
    client: TestClient, database: Database, people: People, demo_token: str
) -> None:
    client.get(f"/v1/citizens/{people.mother}", headers=bearer(demo_token))
    runner, args = CliRunner(), ["audit", "verify", "--database-url", database.url]
    intact = runner.invoke(cli, args)
    with database.write() as session:
        seq = session.scalar(select(func.max(AuditRecord.seq)))
        original = session.get(AuditRecord, seq).result
        session.execute(update(AuditRecord).where(AuditRecord.seq == seq).values(result="forged"))
    try:
        broken = runner.invoke(cli, args)
    finally:
        with database.write() as session:
            session.execute(
                update(AuditRecord).where(AuditRecord.seq == seq).values(result=original)
            )
    assert intact.exit_code == 0
    assert "intact" in intact.output
    assert broken.exit_code == 1
    assert f"broken at record {seq}" in broken.output


def test_concurrent_appends_keep_one_unbroken_chain(database: Database) -> None:
    before = _head(database)
    barrier, errors = threading.Barrier(8), []

    def append(n: int) -> None:
        try:
            barrier.wait()
            with database.write() as session:
                entry = audit.AuditEntry(
                    "concurrency", "testing", "lookup", None, (), f"r{n}", f"t{n}"
                )
                audit.append(session, [entry], now=datetime.now(UTC))
        except Exception as error:  # collected: a failure in a thread must fail the test
            errors.append(error)

    threads = [threading.Thread(target=append, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with database.read() as session:
        report = audit.verify_chain(session)
    assert errors == []
    assert report.ok
    assert _head(database) == before + 8


def _head(database: Database) -> int:
    with database.read() as session:
        return session.get(AuditChainHead, 1).seq


def test_a_client_reads_only_its_own_trail(
    client: TestClient, admin_headers: dict[str, str], people: People, demo_token: str
) -> None:
    client_id, secret = new_client(client, admin_headers)
    token = issue_token(client, client_id, secret, "citizen.basic")
    client.get(f"/v1/citizens/{people.mother}", headers=bearer(token))
    client.get(f"/v1/citizens/{people.father}", headers=bearer(demo_token))
    own = client.get("/v1/audit", headers=bearer(token)).json()["records"]
    other = client.get("/v1/audit", params={"client_id": "demo"}, headers=bearer(token))
    assert {r["client_id"] for r in own} == {client_id}
    assert [r["pin"] for r in own] == [people.mother[:4] + "****" + people.mother[8:]]
    assert other.status_code == 403


def test_admin_reads_every_clients_trail(
    client: TestClient, admin_headers: dict[str, str], people: People, demo_token: str
) -> None:
    client.get(f"/v1/citizens/{people.mother}", headers=bearer(demo_token))
    everyone = client.get("/v1/audit", params={"limit": 500}, headers=admin_headers).json()[
        "records"
    ]
    only_demo = client.get("/v1/audit", params={"client_id": "demo"}, headers=admin_headers).json()
    assert len({r["client_id"] for r in everyone}) > 1
    assert {r["client_id"] for r in only_demo["records"]} == {"demo"}


def test_audit_trail_pages_newest_first_with_a_cursor(
    client: TestClient, people: People, demo_token: str
) -> None:
    for _ in range(3):
        client.get(f"/v1/citizens/{people.mother}", headers=bearer(demo_token))
    first = client.get("/v1/audit", params={"limit": 2}, headers=bearer(demo_token)).json()
    second = client.get(
        "/v1/audit", params={"limit": 2, "cursor": first["next_cursor"]}, headers=bearer(demo_token)
    ).json()
    seqs = [r["seq"] for r in first["records"] + second["records"]]
    assert seqs == sorted(seqs, reverse=True)
    assert len(set(seqs)) == 4
    assert all(r["prev_hash"] and r["hash"] for r in first["records"])


def test_audit_needs_a_token(client: TestClient) -> None:
    assert client.get("/v1/audit").status_code == 401


def test_a_lookup_after_the_audit_connection_was_lost_commits_on_a_new_one(
    client: TestClient, database: Database, people: People, demo_token: str, is_postgres: bool
) -> None:
    """PostgreSQL: the writer's kept connection dies (a server restart, a killed backend). The
    next lookup's records still commit, on a new connection, in one unbroken chain."""
    if not is_postgres:
        pytest.skip("the event-loop appends of PostgreSQL")
    from sqlalchemy import text

    from app.services.sharing.audit_writer import APPLICATION_NAME

    headers = bearer(demo_token)
    assert client.get(f"/v1/citizens/{people.mother}", headers=headers).status_code == 200
    with database.engine.connect() as connection:
        killed = connection.execute(text(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE application_name = :name AND datname = current_database()"),
            {"name": APPLICATION_NAME}).scalar()
    assert killed == 1
    again = client.get(f"/v1/citizens/{people.mother}", headers=headers)
    assert again.status_code == 200
    assert len(_records_of(database, again.headers["x-request-id"])) == 1
    with database.read() as session:
        assert audit.verify_chain(session).ok


def test_a_lookup_after_another_writer_appended_chains_after_that_writers_records(
    client: TestClient, database: Database, people: People, demo_token: str
) -> None:
    """The request writer remembers the head it last wrote (PostgreSQL: its one-statement
    commit); another writer (the CLI, another process) moving the head since must not fork the
    chain: the lookup's record follows the other writer's."""
    headers = bearer(demo_token)
    assert client.get(f"/v1/citizens/{people.mother}", headers=headers).status_code == 200
    with database.write() as session:
        audit.append(session, [audit.AuditEntry("elsewhere", "testing", "lookup", None, (),
                                                 "ok", "other-writer")], now=datetime.now(UTC))
    [other] = _records_of(database, "other-writer")
    again = client.get(f"/v1/citizens/{people.mother}", headers=headers)
    assert again.status_code == 200
    [record] = _records_of(database, again.headers["x-request-id"])
    assert record.seq > other.seq
    with database.read() as session:
        assert audit.verify_chain(session).ok


def _commit_answer_lost(database: Database, monkeypatch: pytest.MonkeyPatch, request_id: str,
                        meanwhile: Callable[[], None] = lambda: None) -> list[bool]:
    """Two PostgreSQL appends: the first takes the locked steps (the writer learns the head), the
    second's one-statement commit reaches the server, ``meanwhile`` runs, then its connection
    fails (the answer lost). Whether that statement wrote, as the writer saw it."""
    import asyncio

    import psycopg

    from app.services.sharing.audit_writer import PostgresAppends

    appends = PostgresAppends(database.url)
    real = PostgresAppends._at_head
    lost: list[bool] = []

    async def answer_lost(self: PostgresAppends, *args: Any) -> bool:
        lost.append(await real(self, *args))
        meanwhile()
        raise psycopg.OperationalError("the server closed the connection unexpectedly")

    def group(request_id: str) -> audit.Group:
        return [audit.AuditEntry("lost-answer", "testing", "lookup", None, (), "ok",
                                 request_id)], datetime.now(UTC)

    async def run() -> None:
        await appends.append([group(f"{request_id}-before")])  # locked steps: head known
        monkeypatch.setattr(PostgresAppends, "_at_head", answer_lost)
        await appends.append([group(request_id)])

    asyncio.run(run())
    return lost


def test_a_batch_whose_commit_answer_was_lost_is_recorded_once(
    database: Database, is_postgres: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PostgreSQL: the connection fails after the one-statement commit reached the server (its
    answer lost): the writer sees its own batch at the head and does not append it again."""
    if not is_postgres:
        pytest.skip("the one-statement commit of PostgreSQL")
    lost = _commit_answer_lost(database, monkeypatch, "answer-lost")
    assert lost == [True]  # the statement did commit
    assert len(_records_of(database, "answer-lost")) == 1
    with database.read() as session:
        assert audit.verify_chain(session).ok


def test_a_batch_whose_commit_answer_was_lost_is_recorded_once_after_another_writer_appended(
    database: Database, is_postgres: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PostgreSQL: the one-statement commit reached the server, its answer was lost (the
    connection killed), and another writer (another process, the CLI) appended before the retry
    took the head's lock: the head is no longer the batch's last record, but the batch is in the
    chain all the same and must not be appended a second time."""
    if not is_postgres:
        pytest.skip("the one-statement commit of PostgreSQL")

    def another_append() -> None:
        with database.write() as session:
            audit.append(session, [audit.AuditEntry("elsewhere", "testing", "lookup", None, (),
                                                     "ok", "meanwhile")], now=datetime.now(UTC))

    lost = _commit_answer_lost(database, monkeypatch, "answer-lost-overtaken", another_append)
    assert lost == [True]  # the statement did commit
    assert len(_records_of(database, "meanwhile")) == 1
    assert len(_records_of(database, "answer-lost-overtaken")) == 1
    with database.read() as session:
        assert audit.verify_chain(session).ok

def test_an_audit_commit_that_fails_discloses_nothing(
    client: TestClient, database: Database, people: People, demo_token: str
) -> None:
    """Whatever the backend: when the records cannot be committed, the answer is 503
    audit-unavailable without the citizen's data, and nothing of the batch is stored."""
    with database.write() as session:  # the chain head gone: no append can find where to chain
        session.execute(delete(AuditChainHead))
    try:
        lost = client.get(f"/v1/citizens/{people.mother}", headers=bearer(demo_token))
        assert lost.status_code == 503
        assert lost.json()["type"].endswith("audit-unavailable")
        assert people.mother not in lost.text
        assert _records_of(database, lost.headers["x-request-id"]) == []
    finally:
        with database.write() as session:
            last = session.scalars(select(AuditRecord).order_by(AuditRecord.seq.desc())).first()
            session.add(AuditChainHead(id=audit.HEAD_ID, seq=last.seq if last else 0,
                                       hash=last.hash if last else audit.GENESIS_HASH))
    again = client.get(f"/v1/citizens/{people.mother}", headers=bearer(demo_token))
    assert again.status_code == 200


def _recording_connections(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Every connection the audit writer opens from now on (psycopg's async connect, wrapped)."""
    import psycopg

    made: list[Any] = []
    connect = psycopg.AsyncConnection.connect

    async def recorded(*args: Any, **kwargs: Any) -> Any:
        made.append(await connect(*args, **kwargs))
        return made[-1]

    monkeypatch.setattr(psycopg.AsyncConnection, "connect", recorded)
    return made


def test_the_audit_connections_of_an_event_loop_are_closed_when_the_loop_ends(
    database: Database, is_postgres: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PostgreSQL: the writer keeps its connections per event loop between commits; when the
    loop ends they are closed there, not left open until the garbage collector finds the loop
    (with the collector off here, they would stay open for good)."""
    if not is_postgres:
        pytest.skip("the event-loop appends of PostgreSQL")
    import asyncio
    import gc

    from app.services.sharing import audit_writer

    appends = audit_writer.PostgresAppends(database.url)
    made = _recording_connections(monkeypatch)
    entry = audit.AuditEntry("loop-ends", "testing", "lookup", None, (), "ok", "loop-ends")
    open_in_loop: list[bool] = []

    async def two_appends() -> None:
        for _ in range(2):
            await appends.append([([entry], datetime.now(UTC))])
        open_in_loop.extend(not connection.closed for connection in made)

    gc.disable()
    try:
        asyncio.run(two_appends())
        closed_after = [connection.closed for connection in made]
    finally:
        gc.enable()
    assert open_in_loop == [True]  # one connection, kept between the commits of its loop
    assert closed_after == [True]
    with database.read() as session:
        assert audit.verify_chain(session).ok


def test_the_application_closes_its_audit_connections_when_it_shuts_down(
    database: Database, settings: Settings, is_postgres: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PostgreSQL: the application's shutdown (its lifespan's end, on the serving loop) closes
    that loop's audit connections at once."""
    if not is_postgres:
        pytest.skip("the event-loop appends of PostgreSQL")
    import asyncio

    from app.main import create_app
    from app.security import new_runtime

    made = _recording_connections(monkeypatch)
    shop = create_app(settings, database=database, migrate_on_start=False)
    entry = audit.AuditEntry("app-shuts-down", "testing", "lookup", None, (), "ok", "shutdown")
    seen: list[list[bool]] = []

    async def serve_then_shut_down() -> None:
        async with shop.router.lifespan_context(shop):
            shop.state.sharing_runtime = new_runtime(database)
            await shop.state.sharing_runtime.audit.append([entry], now=datetime.now(UTC))
            seen.append([connection.closed for connection in made])
        seen.append([connection.closed for connection in made])

    asyncio.run(serve_then_shut_down())
    assert seen == [[False], [True]]
