"""Token-signing keys, shared by every server process through the database."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, DateTime, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base


class SigningKey(Base):
    """One private key. The newest unretired key per ``alg`` signs; a retired key stays in the JWKS
    until ``not_after`` (when every token it signed has expired)."""

    __tablename__ = "signing_key"
    __table_args__ = (
        CheckConstraint("alg IN ('ES256', 'RS256')", name="alg"),
        Index("ix_signing_key_alg_created_at", "alg", "created_at"),
    )

    kid: Mapped[str] = mapped_column(String(64), primary_key=True)
    alg: Mapped[str] = mapped_column(String(8))
    private_pem: Mapped[str] = mapped_column(
        Text
    )  # PKCS#8; alg is stored apart, kid rebuilt on load
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    retired_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    not_after: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class DeploymentSecret(Base):
    """The random deployment secret made on first start when ``DANCU_SECRET_KEY`` is unset (one
    row, ``id`` 1): every secret of the deployment is derived from it
    (``app.services.kit.secret``)."""

    __tablename__ = "deployment_secret"
    __table_args__ = (CheckConstraint("id = 1", name="single_row"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    secret: Mapped[str] = mapped_column(String(64))  # 32 random bytes, hex
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
