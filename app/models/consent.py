"""A citizen's consent to a party receiving their data for a purpose (Law 91/2025 Art. 9; Decree
13/2023 Art. 11-12): who, to whom, what for, which scopes, how it was given, until when, withdrawn.

One row per grant. A new grant for the same citizen, party and purpose supersedes the previous one
(``status = 'superseded'``); a withdrawal sets ``withdrawn_at``/``withdrawn_by``. The OpenID
provider records sign-in consent under the purpose ``login``; other features use their own purposes.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, CheckConstraint, DateTime, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, BigId, CodeString


class Consent(Base):
    __tablename__ = "consent"
    __table_args__ = (
        CheckConstraint("status IN ('granted', 'withdrawn', 'superseded')", name="status"),
        Index("ix_consent_pin_client_id_purpose", "pin", "client_id", "purpose"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    pin: Mapped[str] = mapped_column(CodeString(12))  # the data subject
    client_id: Mapped[str] = mapped_column(String(64))  # the party receiving the data
    purpose: Mapped[str] = mapped_column(String(64))
    scopes: Mapped[list[str]] = mapped_column(JSON)
    method: Mapped[str] = mapped_column(String(24))  # how it was given (web_form, qr_app, ...)
    status: Mapped[str] = mapped_column(String(10))
    granted_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    withdrawn_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    withdrawn_by: Mapped[str | None] = mapped_column(String(16))  # citizen | admin | system
