"""The judicial-records sector behind the criminal-record certificate (phiếu lý lịch tư pháp):
requests made through the national portal or VNeID, and the convictions the judicial-records
database holds (synthetic: only the personas have any, docs/documents.md).

A request's steps are timestamps planned at submission on the sandbox clock (checked, decided,
delivered to VNeID); its status at a moment is the last step whose time has come
(:mod:`app.services.documents.judicial_lifecycle`), so moving the clock moves requests along.
The signed certificate is made on first fetch and kept (``certificate_jws``): the same bytes
every time.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    CheckConstraint,
    Date,
    DateTime,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, BigId, CodeString


class JudicialRecordRequest(Base):
    __tablename__ = "judicial_record_request"
    __table_args__ = (
        CheckConstraint("certificate_type IN (1, 2)", name="certificate_type"),
        CheckConstraint("outcome IN ('issue', 'reject')", name="outcome"),
        Index("ix_judicial_record_request_pin", "pin"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    pin: Mapped[str] = mapped_column(CodeString(12))  # the person the certificate is about
    certificate_type: Mapped[int] = mapped_column(SmallInteger)
    purpose: Mapped[str] = mapped_column(String(200))
    copies: Mapped[int] = mapped_column(SmallInteger)
    fee_vnd: Mapped[int] = mapped_column(Integer)
    client_id: Mapped[str | None] = mapped_column(String(64))  # the e-service that submitted it
    declaration: Mapped[dict[str, Any]] = mapped_column(JSON)  # the pre-filled form, as sent
    submitted_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    checking_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))  # None: on hold
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    outcome: Mapped[str] = mapped_column(String(8))
    rejection_code: Mapped[str | None] = mapped_column(String(32))
    certificate_jws: Mapped[str | None] = mapped_column(Text)


class JudicialConviction(Base):
    """A conviction in the judicial-records database (Law on Judicial Records, Art. 2(2))."""

    __tablename__ = "judicial_conviction"
    __table_args__ = (Index("ix_judicial_conviction_pin", "pin"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    pin: Mapped[str] = mapped_column(CodeString(12))
    judgment_number: Mapped[str] = mapped_column(String(40))
    judgment_date: Mapped[date] = mapped_column(Date)
    court: Mapped[str] = mapped_column(String(200))
    offence: Mapped[str] = mapped_column(String(200))
    penal_code_article: Mapped[str] = mapped_column(String(80))
    principal_penalty: Mapped[str] = mapped_column(String(200))
    additional_penalty: Mapped[str | None] = mapped_column(String(200))
    sentence_completed_on: Mapped[date | None] = mapped_column(Date)
    expunged_on: Mapped[date | None] = mapped_column(Date)  # án tích được xóa
