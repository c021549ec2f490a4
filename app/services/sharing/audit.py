"""The audit trail: append disclosures to a hash chain, verify the chain, read a client's trail.

Each record's ``hash`` is SHA-256 over its columns and ``prev_hash`` (the previous record's hash;
:data:`GENESIS_HASH` for the first), so an edited, inserted or deleted row breaks the chain.

Appends are serialised through the single ``audit_chain_head`` row: locked with
``SELECT ... FOR UPDATE`` on PostgreSQL, and on SQLite by the writing transaction itself
(``BEGIN IMMEDIATE`` holds the database write lock; SQLAlchemy drops ``FOR UPDATE`` there).
Requests append through :class:`app.services.sharing.audit_writer.AuditWriter` (group commit); the
CLI and tests may append directly in their own transaction.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Session

from app.models.audit import AuditChainHead, AuditRecord

GENESIS_HASH = "0" * 64
HEAD_ID = 1


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One disclosure (or refused attempt) to record; ``fields`` are the field names disclosed."""

    client_id: str
    purpose: str
    action: str
    pin: str | None
    fields: tuple[str, ...]
    result: str
    request_id: str


@dataclass(frozen=True, slots=True)
class ChainReport:
    ok: bool
    checked: int
    broken_at: int | None = None  # the seq of the first record that does not verify
    reason: str | None = None


def utc_text(moment: datetime) -> str:
    """One text form for a stored instant, whatever the backend gives back (SQLite: naive UTC)."""
    aware = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    utc = aware.astimezone(UTC)
    if utc.year < 1000:  # strftime's %Y is not zero-padded, isoformat's is
        return utc.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    # the same text as that strftime, a few times faster (every record is hashed with it)
    return utc.isoformat(timespec="microseconds")[:26] + "Z"


HASHED_COLUMNS = ("seq", "created_at", "client_id", "purpose", "action", "pin", "fields", "result",
                  "request_id", "prev_hash")


# json.dumps(..., ensure_ascii=False, separators=(",", ":")) builds this encoder on every call
_CANONICAL = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def _one_shot_encoder() -> Callable[[list[Any]], str]:
    """:data:`_CANONICAL` without the C encoder it builds on every call (``JSONEncoder.encode``
    makes one per value: about half of its cost on a record): the same C encoder made once, with
    the arguments ``encode`` gives it (no circular-reference markers: a record's values are
    scalars). Checked against ``_CANONICAL`` here; where it differs or is missing (another
    Python), ``_CANONICAL`` itself."""
    make = json.encoder.c_make_encoder
    if make is None:
        return _CANONICAL
    encoder = make(None, json.JSONEncoder().default, json.encoder.encode_basestring, None, ":",
                   ",", False, False, True)

    def canonical(values: list[Any]) -> str:
        return "".join(encoder(values, 0))

    sample = [1, "2026-12-07T12:30:00.000000Z", "ä\"\\\n\u2028", None, "", 2**70]
    return canonical if canonical(sample) == _CANONICAL(sample) else _CANONICAL


_ONE_SHOT = _one_shot_encoder()


def record_hash(values: Mapping[str, Any]) -> str:
    """SHA-256 over the canonical JSON of a record's columns (``hash`` itself excluded)."""
    canonical = [utc_text(values[name]) if name == "created_at" else values[name]
                 for name in HASHED_COLUMNS]
    encoded = _ONE_SHOT(canonical).encode()
    return hashlib.sha256(encoded).hexdigest()


def stored_hash_input(record: AuditRecord) -> dict[str, Any]:
    return {name: getattr(record, name) for name in HASHED_COLUMNS}


# Statements built once (their compiled forms are cached with them): this runs for every disclosure.
# Core on the tables, not the ORM entities: the ORM's bulk-update layer cost more than the UPDATE.
_HEAD = AuditChainHead.__table__
_LOCK_HEAD = select(_HEAD.c.seq, _HEAD.c.hash).where(_HEAD.c.id == HEAD_ID).with_for_update()
# RETURNING makes SQLAlchemy batch the rows into multi-row INSERTs ("insertmanyvalues").
_INSERT_RECORDS = insert(AuditRecord.__table__).returning(AuditRecord.__table__.c.seq)
# The requests' appends on PostgreSQL (app.services.sharing.audit_writer.PostgresAppends) use
# these: COPY, whose text is the same for any number of rows and whose rows psycopg encodes in C. A
# multi-row VALUES list of a 32-record group is longer than psycopg's query cache takes, and
# parsing it again on every commit was two thirds of the audit writer's CPU (bench/audit_append.py).
_RECORD_COLUMNS = tuple(column.name for column in AuditRecord.__table__.columns)
PG_COPY_RECORDS = f"COPY audit_record ({', '.join(_RECORD_COLUMNS)}) FROM STDIN"
PG_LOCK_HEAD = f"SELECT seq, hash FROM audit_chain_head WHERE id = {HEAD_ID} FOR UPDATE"
PG_MOVE_HEAD = f"UPDATE audit_chain_head SET seq = %s, hash = %s WHERE id = {HEAD_ID}"
# Whether a record is in the chain (the last of a batch whose commit's answer was lost: its hash
# covers the batch and everything before it). Parameters: seq, hash.
PG_RECORD_AT = "SELECT 1 FROM audit_record WHERE seq = %s AND hash = %s"
# The same append as one statement (one round trip, its own transaction in autocommit), for a
# writer that knows the head it last wrote: the head moves from (seq, hash) only if it is still
# there, and the records, one JSON array (encoded in C; text whatever the number of rows), go in
# only if it moved. Another writer having appended since, nothing is written (0 rows): the
# writer then appends by the locked steps above. Parameters: new seq, new hash, expected seq,
# expected hash, the records as JSON (:func:`json_rows`).
PG_APPEND_AT_HEAD = (
    f"WITH moved AS (UPDATE audit_chain_head SET seq = %s, hash = %s "
    f"WHERE id = {HEAD_ID} AND seq = %s AND hash = %s RETURNING id) "
    f"INSERT INTO audit_record ({', '.join(_RECORD_COLUMNS)}) "
    f"SELECT {', '.join('r.' + name for name in _RECORD_COLUMNS)} FROM moved, "
    f"json_populate_recordset(NULL::audit_record, %s::json) AS r")
_MOVE_HEAD = (update(_HEAD).where(_HEAD.c.id == HEAD_ID)
              .values(seq=bindparam("new_seq"), hash=bindparam("new_hash")))


def _locked_head(session: Session) -> tuple[int, str]:
    seq, head_hash = session.execute(_LOCK_HEAD).one()
    return seq, head_hash


def _new_row(entry: AuditEntry, *, seq: int, prev_hash: str, now: datetime) -> dict[str, Any]:
    row: dict[str, Any] = {
        "seq": seq, "created_at": now.astimezone(UTC), "client_id": entry.client_id,
        "purpose": entry.purpose, "action": entry.action, "pin": entry.pin,
        "fields": " ".join(sorted(entry.fields)), "result": entry.result,
        "request_id": entry.request_id, "prev_hash": prev_hash}
    row["hash"] = record_hash(row)
    return row


def append(session: Session, entries: Sequence[AuditEntry], *, now: datetime) -> None:
    """Chain ``entries`` after the current head, in this transaction (commit makes them durable)."""
    append_groups(session, [(entries, now)])


Group = tuple[Sequence[AuditEntry], datetime]


def chained_rows(groups: Sequence[Group], *, seq: int, head_hash: str) -> list[dict[str, Any]]:
    """The records of ``groups`` (each request's entries with its own time) chained after the
    head ``(seq, head_hash)``: the last row is the new head."""
    rows: list[dict[str, Any]] = []
    for entries, now in groups:
        for entry in entries:
            seq += 1
            rows.append(_new_row(entry, seq=seq, prev_hash=head_hash, now=now))
            head_hash = rows[-1]["hash"]
    return rows


def json_rows(rows: Sequence[Mapping[str, Any]]) -> str:
    """The records as the JSON array :data:`PG_APPEND_AT_HEAD` takes: ``created_at`` in ISO 8601
    with its offset and microseconds (read back as the same instant, so the stored record hashes
    as it was hashed here)."""
    return _JSON_ROWS([{**row, "created_at": row["created_at"].isoformat()} for row in rows])


_JSON_ROWS = json.JSONEncoder(separators=(",", ":")).encode


def copy_values(row: Mapping[str, Any]) -> list[Any]:
    """A record's values in the column order of :data:`PG_COPY_RECORDS`."""
    return [row[name] for name in _RECORD_COLUMNS]


_SQLITE_INSERT_RECORD = (f"INSERT INTO audit_record ({', '.join(_RECORD_COLUMNS)}) "
                         f"VALUES ({', '.join('?' for _ in _RECORD_COLUMNS)})")
_SQLITE_MOVE_HEAD = f"UPDATE audit_chain_head SET seq = ?, hash = ? WHERE id = {HEAD_ID}"


@functools.cache
def _binders(dialect: Dialect) -> tuple[tuple[str, Callable[[Any], Any] | None], ...]:
    """Each record column's bind processor on ``dialect`` (what SQLAlchemy applies itself)."""
    table = AuditRecord.__table__
    return tuple((name, table.c[name].type.dialect_impl(dialect).bind_processor(dialect))
                 for name in _RECORD_COLUMNS)


def append_groups_sqlite(session: Session, groups: Sequence[Group]) -> None:
    """:func:`append_groups` on SQLite (the requests' group commits), with the driver's
    ``executemany`` of one prepared single-row INSERT: SQLAlchemy's multi-row VALUES form is a new
    statement text for every group size, parsed again by SQLite on every commit (a third of the
    commit's CPU, bench/RESULTS.md "Third pass on the lookup"). The values are bound as
    SQLAlchemy would bind them (its own column processors)."""
    if not any(entries for entries, _ in groups):
        return
    connection = session.connection()  # begins the writing transaction (BEGIN IMMEDIATE)
    binders = _binders(connection.dialect)
    driver = connection.connection.dbapi_connection
    assert driver is not None
    seq, head_hash = driver.execute(f"SELECT seq, hash FROM audit_chain_head WHERE id = {HEAD_ID}"
                                    ).fetchone()
    rows = chained_rows(groups, seq=seq, head_hash=head_hash)
    driver.executemany(_SQLITE_INSERT_RECORD, [
        [row[name] if bind is None else bind(row[name]) for name, bind in binders] for row in rows])
    driver.execute(_SQLITE_MOVE_HEAD, (rows[-1]["seq"], rows[-1]["hash"]))


def append_groups(session: Session, groups: Sequence[Group]) -> None:
    """Chain several requests' entries (each group with its own time) under one head lock.
    Core statements, not ORM objects. Requests on SQLite append here (in the writer's thread);
    on PostgreSQL they take :class:`app.services.sharing.audit_writer.PostgresAppends`, the same
    steps on the event loop with the ``PG_*`` statements; the CLI and tests may append here
    directly."""
    if not any(entries for entries, _ in groups):
        return
    seq, head_hash = _locked_head(session)
    rows = chained_rows(groups, seq=seq, head_hash=head_hash)
    session.execute(_INSERT_RECORDS, rows)
    session.execute(_MOVE_HEAD, {"new_seq": rows[-1]["seq"], "new_hash": rows[-1]["hash"]})




def _stream(session: Session, batch: int) -> Iterator[AuditRecord]:
    query = select(AuditRecord).order_by(AuditRecord.seq).execution_options(yield_per=batch)
    yield from session.scalars(query)


def _check(record: AuditRecord, *, expected_seq: int, prev_hash: str) -> str | None:
    if record.seq != expected_seq:
        return "missing record before this one"
    if record.prev_hash != prev_hash:
        return "link to the previous record does not match"
    if record.hash != record_hash(stored_hash_input(record)):
        return "content does not match its hash"
    return None


def verify_chain(session: Session, *, batch: int = 5000) -> ChainReport:
    """Walk the chain from the genesis; report the first record that does not verify."""
    seq, prev_hash, checked = 0, GENESIS_HASH, 0
    for record in _stream(session, batch):
        reason = _check(record, expected_seq=seq + 1, prev_hash=prev_hash)
        if reason:
            return ChainReport(False, checked, broken_at=record.seq, reason=reason)
        seq, prev_hash, checked = record.seq, record.hash, checked + 1
    head = session.get(AuditChainHead, HEAD_ID)
    if head is None or (head.seq, head.hash) != (seq, prev_hash):
        missing = "records after this point are missing"
        return ChainReport(False, checked, broken_at=seq + 1, reason=missing)
    return ChainReport(True, checked)


def head(session: Session) -> AuditChainHead:
    """The last record's number and hash: publish it elsewhere to anchor the chain."""
    return session.execute(select(AuditChainHead).where(AuditChainHead.id == HEAD_ID)).scalar_one()


def trail(
    session: Session, *, client_id: str | None, before_seq: int | None, limit: int
) -> list[AuditRecord]:
    """Newest first; ``client_id=None`` reads every client's records (oversight)."""
    query = select(AuditRecord).order_by(AuditRecord.seq.desc()).limit(limit)
    if client_id is not None:
        query = query.where(AuditRecord.client_id == client_id)
    if before_seq is not None:
        query = query.where(AuditRecord.seq < before_seq)
    return list(session.scalars(query))
