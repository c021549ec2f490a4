"""Sandbox controls: the persona registry, fault rules and their counters, isolated tenants, web
console sign-ins."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, DateTime, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, CodeString


class SandboxPersona(Base):
    """A persona picked by the sandbox itself (cases no card or account persona covers).

    Card and account personas stay marked where they live (``card.persona``,
    ``account.persona``); this table only holds the others, by key.
    """

    __tablename__ = "sandbox_persona"

    key: Mapped[str] = mapped_column(String(48), primary_key=True)
    pin: Mapped[str] = mapped_column(CodeString(12))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class FaultRule(Base):
    """A fault a sandbox client asked for on its own requests (``/v1/sandbox/faults``)."""

    __tablename__ = "sandbox_fault_rule"

    id: Mapped[str] = mapped_column(String(24), primary_key=True)
    client_id: Mapped[str] = mapped_column(String(64), index=True)
    fault: Mapped[str] = mapped_column(String(200))  # the X-Sandbox-Fault syntax
    method: Mapped[str | None] = mapped_column(String(8))
    path: Mapped[str | None] = mapped_column(String(200))  # a route template or a prefix*
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class FaultCounter(Base):
    """How many requests a ``fail-first=N`` fault has seen: shared by every server process."""

    __tablename__ = "sandbox_fault_counter"

    client_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    count: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Tenant(Base):
    """An isolated copy of the sandbox: its own database generated from ``seed``.

    ``generation`` grows at each reset, so every process drops what it cached of the old one.
    """

    __tablename__ = "sandbox_tenant"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    seed: Mapped[int] = mapped_column(BigInteger)
    size: Mapped[int] = mapped_column(Integer)
    owner: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(12))  # creating | ready | failed
    generation: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class ConsoleSession(Base):
    """A sign-in to the web console: the cookie value is only stored as ``cookie_hash``; the
    session is bound to the admin token it was opened with (``token_mark``), lives until
    ``expires_at`` (sandbox clock) and ends at sign-out (``ended_at``)."""

    __tablename__ = "console_session"

    cookie_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    token_mark: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
