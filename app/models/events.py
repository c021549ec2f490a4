"""Life events and what follows them: the ordered event feed, idempotency records of the life-event
API, webhook subscriptions with their delivery outbox and attempts, and the persisted sandbox clock.

The feed's order is the order of commits: every life-event transaction locks the single
``life_event_head`` row first and takes the next ``seq`` from it, so a reader that saw ``seq = n``
never later finds a committed event below ``n`` (the pull feed's cursor is safe).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    Date,
    DateTime,
    Index,
    Integer,
    SmallInteger,
    String,
)
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, BigId, CodeString


class LifeEvent(Base):
    """One fact recorded in the population database (birth, death, move, ...), or a linked event it
    caused (``cause_seq``): a health-insurance enrolment after a birth, a funeral allowance after a
    death. ``data`` holds record fields under their data-sharing names (filtered per reader)."""

    __tablename__ = "life_event"
    __table_args__ = (Index("ix_life_event_pin", "pin"),)

    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    type: Mapped[str] = mapped_column(String(48))
    pin: Mapped[str] = mapped_column(CodeString(12))  # the citizen the event is about
    occurred_on: Mapped[date] = mapped_column(Date)
    recorded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    recorded_by: Mapped[str] = mapped_column(String(64))  # client id, admin, cli or simulation
    cause_seq: Mapped[int | None] = mapped_column(BigInteger)


class LifeEventHead(Base):
    """The single row (``id = 1``) holding the last ``seq``; locked by every event transaction."""

    __tablename__ = "life_event_head"

    id: Mapped[int] = mapped_column(SmallInteger, primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(BigInteger)


class IdempotencyRecord(Base):
    """The answer given to a client's ``Idempotency-Key`` (kept with the hash of its request)."""

    __tablename__ = "idempotency_record"

    client_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    request_hash: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int] = mapped_column(SmallInteger)
    response: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Subscription(Base):
    """A client's webhook: which event types, which scopes the payloads may carry, for which
    purpose, where to, and the secret deliveries are signed with (HMAC needs it in clear)."""

    __tablename__ = "event_subscription"
    __table_args__ = (
        CheckConstraint("status IN ('active', 'paused', 'deleted')", name="status"),
        Index("ix_event_subscription_client_id", "client_id"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    client_id: Mapped[str] = mapped_column(String(64))
    url: Mapped[str] = mapped_column(String(2000))
    event_types: Mapped[list[str]] = mapped_column(JSON)
    scopes: Mapped[list[str]] = mapped_column(JSON)
    purpose: Mapped[str] = mapped_column(String(64))
    secret: Mapped[str] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(8))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Delivery(Base):
    """The outbox: one row per (subscription, event), written in the event's transaction, so an
    event never waits for a subscriber; the delivery worker sends it later and retries."""

    __tablename__ = "event_delivery"
    __table_args__ = (
        CheckConstraint("status IN ('pending', 'delivered', 'failed')", name="status"),
        Index("ix_event_delivery_status_next_attempt_at", "status", "next_attempt_at"),
        Index("ix_event_delivery_subscription_id_event_seq", "subscription_id", "event_seq",
              unique=True),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    subscription_id: Mapped[str] = mapped_column(String(40))
    event_seq: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(9))
    attempts: Mapped[int] = mapped_column(Integer, default=0)  # in the current round
    next_attempt_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_status_code: Mapped[int | None] = mapped_column(SmallInteger)
    last_error: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class DeliveryAttempt(Base):
    """Every attempt to deliver, kept: when, the HTTP status (or the network error), how long."""

    __tablename__ = "event_delivery_attempt"
    __table_args__ = (Index("ix_event_delivery_attempt_delivery_id", "delivery_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    delivery_id: Mapped[int] = mapped_column(BigInteger)
    attempted_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    status_code: Mapped[int | None] = mapped_column(SmallInteger)
    error: Mapped[str | None] = mapped_column(String(200))
    duration_ms: Mapped[int] = mapped_column(Integer)


class SandboxClockState(Base):
    """The sandbox clock shared by every process (``id = 1``: the deployment's clock; per-tenant
    clocks can add rows later). ``version`` grows with each change so processes notice it."""

    __tablename__ = "sandbox_clock"

    id: Mapped[int] = mapped_column(SmallInteger, primary_key=True, autoincrement=False)
    offset_us: Mapped[int] = mapped_column(BigInteger)  # added to real time, in microseconds
    frozen_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    version: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
