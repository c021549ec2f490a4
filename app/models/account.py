"""VNeID electronic-identification accounts (Decree 69/2024/NĐ-CP), their event log and SMS inbox.

An account belongs to one citizen (``pin``) and is in one state: ``pending`` (registered,
identity not yet matched), ``active`` (level 1 or 2), ``locked`` (one or more grounds in
``lock_reasons``; the level is kept for the unlock) or ``closed`` (terminal, the record is kept).
Every change appends a row to ``vneid_account_event``; rows there are never updated or deleted.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
)
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, BigId, CodeString


class Account(Base):
    """One citizen's VNeID account: state, level, credentials and the one bound device.

    Secrets are stored only as hashes: password and passcode with argon2id, the device token with
    SHA-256 (it is 256 random bits).
    """

    __tablename__ = "vneid_account"
    __table_args__ = (
        CheckConstraint("state IN ('pending', 'active', 'locked', 'closed')", name="state"),
        CheckConstraint("level IN (1, 2)", name="level"),
        Index("ix_vneid_account_pin", "pin", unique=True),
        Index("ix_vneid_account_device_token_hash", "device_token_hash", unique=True),
        Index("ix_vneid_account_persona", "persona", unique=True),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    pin: Mapped[str] = mapped_column(CodeString(12))
    state: Mapped[str] = mapped_column(String(8))
    level: Mapped[int] = mapped_column(SmallInteger)
    lock_reasons: Mapped[list[str]] = mapped_column(JSON, default=list)
    locked_by: Mapped[str | None] = mapped_column(String(16))
    locked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    unlock_due: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    closed_reason: Mapped[str | None] = mapped_column(String(24))
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    phone: Mapped[str] = mapped_column(String(15))
    email: Mapped[str | None] = mapped_column(String(80))
    password_hash: Mapped[str | None] = mapped_column(String(200))
    passcode_hash: Mapped[str | None] = mapped_column(String(200))
    device_id: Mapped[str | None] = mapped_column(String(64))
    device_name: Mapped[str | None] = mapped_column(String(80))
    device_token_hash: Mapped[str | None] = mapped_column(String(64))
    device_bound_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    login_locked_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    persona: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class AccountEvent(Base):
    """Append-only history of an account: what happened, why, who did it, and the result."""

    __tablename__ = "vneid_account_event"
    __table_args__ = (Index("ix_vneid_account_event_account_id_id", "account_id", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    account_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("vneid_account.id"))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    kind: Mapped[str] = mapped_column(String(24))
    reason: Mapped[str | None] = mapped_column(String(32))
    actor: Mapped[str] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(String(8))  # after the event
    level: Mapped[int] = mapped_column(SmallInteger)  # after the event


class SmsMessage(Base):
    """A text message the sandbox "sent" to a phone: the inbox integrators read OTPs from."""

    __tablename__ = "vneid_sms"
    __table_args__ = (Index("ix_vneid_sms_account_id_id", "account_id", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    account_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("vneid_account.id"))
    phone: Mapped[str] = mapped_column(String(15))
    body: Mapped[str] = mapped_column(String(320))
    sent_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class OneTimeCode(Base):
    """An SMS one-time code: only its hash, bound to the login interaction it was sent for."""

    __tablename__ = "vneid_otp"
    __table_args__ = (Index("ix_vneid_otp_interaction_id", "interaction_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    account_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("vneid_account.id"))
    purpose: Mapped[str] = mapped_column(String(16))
    interaction_id: Mapped[str | None] = mapped_column(String(64))
    code_hash: Mapped[str] = mapped_column(String(64))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    consumed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
