"""The audit trail: append disclosures to a hash chain, verify the chain, read a client's trail.

Each record's ``hash`` is SHA-256 over its columns and ``prev_hash`` (the previous record's hash;
:data:`GENESIS_HASH` for the first), so an edited, inserted or deleted row breaks the chain.

Appends are serialised through the single ``audit_chain_head`` row: locked with
``SELECT ... FOR UPDATE`` on PostgreSQL, and on SQLite by the writing transaction itself
(``BEGIN IMMEDIATE`` holds the database write lock; SQLAlchemy drops ``FOR UPDATE`` there).
Append as the last step of a request, so the lock is held only until the commit.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select
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
    return aware.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def record_hash(record: AuditRecord) -> str:
    canonical = [record.seq, utc_text(record.created_at), record.client_id, record.purpose,
                 record.action, record.pin, record.fields, record.result, record.request_id,
                 record.prev_hash]
    encoded = json.dumps(canonical, ensure_ascii=False, separators=(",", ":")).encode()
    return hashlib.sha256(encoded).hexdigest()


def _locked_head(session: Session) -> AuditChainHead:
    query = select(AuditChainHead).where(AuditChainHead.id == HEAD_ID).with_for_update()
    return session.execute(query).scalar_one()


def _new_record(entry: AuditEntry, *, seq: int, prev_hash: str, now: datetime) -> AuditRecord:
    record = AuditRecord(
        seq=seq, created_at=now.astimezone(UTC), client_id=entry.client_id, purpose=entry.purpose,
        action=entry.action, pin=entry.pin, fields=" ".join(sorted(entry.fields)),
        result=entry.result, request_id=entry.request_id, prev_hash=prev_hash)
    record.hash = record_hash(record)
    return record


def append(session: Session, entries: Sequence[AuditEntry], *, now: datetime) -> None:
    """Chain ``entries`` after the current head, in this transaction (commit makes them durable)."""
    if not entries:
        return
    head = _locked_head(session)
    records = []
    for entry in entries:
        record = _new_record(entry, seq=head.seq + 1, prev_hash=head.hash, now=now)
        head.seq, head.hash = record.seq, record.hash
        records.append(record)
    session.add_all(records)
    session.flush()


def _stream(session: Session, batch: int) -> Iterator[AuditRecord]:
    query = select(AuditRecord).order_by(AuditRecord.seq).execution_options(yield_per=batch)
    yield from session.scalars(query)


def _check(record: AuditRecord, *, expected_seq: int, prev_hash: str) -> str | None:
    if record.seq != expected_seq:
        return "missing record before this one"
    if record.prev_hash != prev_hash:
        return "link to the previous record does not match"
    if record.hash != record_hash(record):
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
