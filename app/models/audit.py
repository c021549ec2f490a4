"""The append-only, hash-chained record of every disclosure of population data."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, DateTime, Index, SmallInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, BigId, CodeString


class AuditRecord(Base):
    """One access: who (client), why (purpose), whose data (PIN), which fields, with what result.

    ``hash`` covers every column and ``prev_hash`` (the hash of record ``seq - 1``), so editing or
    deleting a row breaks the chain (``dancu audit verify``).
    """

    __tablename__ = "audit_record"
    # Appends only touch the right edge of these indexes. No index on ``pin``: random PINs would
    # scatter every group commit over many index pages (measured: half of a lookup's time).
    __table_args__ = (Index("ix_audit_record_client_id_seq", "client_id", "seq"),)

    seq: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    client_id: Mapped[str] = mapped_column(String(64))
    purpose: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(32))
    pin: Mapped[str | None] = mapped_column(CodeString(12))
    fields: Mapped[str] = mapped_column(String(500))  # space-separated, sorted
    result: Mapped[str] = mapped_column(String(32))
    request_id: Mapped[str] = mapped_column(String(64))
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AuditChainHead(Base):
    """The single row (``id = 1``) naming the last record; locked to serialise appends."""

    __tablename__ = "audit_chain_head"

    id: Mapped[int] = mapped_column(SmallInteger, primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(BigInteger)
    hash: Mapped[str] = mapped_column(String(64))
