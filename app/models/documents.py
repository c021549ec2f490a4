"""Stored changes to the integrated documents (``app.documents``): the documents themselves are
computed from the population; only what an authority, an event or a persona changed is a row."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import CheckConstraint, Date, DateTime, Index, SmallInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, BigId, CodeString
from app.models.population import one_of


class DocumentOverride(Base):
    """One change to a citizen's document of ``kind`` (``number``: one document, ``None``: all
    of that kind) from ``effective_on``: a suspension or revocation (``status``), a new end
    date (``valid_to``) or points deducted from a driving licence."""

    __tablename__ = "document_override"
    __table_args__ = (
        CheckConstraint(one_of("kind", "health_insurance", "driving_licence",
                               "vehicle_registration", "tax_registration", "social_insurance",
                               "vaccination"), name="kind"),
        Index("ix_document_override_pin", "pin"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    pin: Mapped[str] = mapped_column(CodeString(12))
    kind: Mapped[str] = mapped_column(String(24))
    number: Mapped[str | None] = mapped_column(String(24))
    status: Mapped[str | None] = mapped_column(String(16))
    valid_to: Mapped[date | None] = mapped_column(Date)
    points_deducted: Mapped[int | None] = mapped_column(SmallInteger)
    reason: Mapped[str | None] = mapped_column(String(40))
    effective_on: Mapped[date] = mapped_column(Date)
    actor: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
