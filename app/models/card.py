"""Chip identity cards (CCCD gắn chip 2021, thẻ căn cước 2024), their history and the test PKI keys.

A card row holds what is needed to rebuild its chip byte for byte (``app.services.cards.chip``): the
holder's PIN, the card's dates, the document signer label and signing time, and the chip key
reference (the label its keys are derived from with the seed). The data groups are derived on
demand from the population database (residence and spouse as of the issue date), never stored.

``status`` is the administrative state (``active``, ``lost``, ``revoked``, ``replaced``,
``held``); "expired" is not stored but read from ``expiry_date`` against the sandbox clock, so
advancing the clock expires cards without touching a row. ``card_event`` is append-only.
``card.pin`` references the citizen, so replacing the population clears the cards with it.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Index,
    SmallInteger,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, BigId, CodeString


class Card(Base):
    """One physical card issued to a citizen; ``sequence`` counts the citizen's cards from 1."""

    __tablename__ = "card"
    __table_args__ = (
        CheckConstraint("generation IN ('cccd_2021', 'can_cuoc_2024')", name="generation"),
        CheckConstraint(
            "status IN ('active', 'lost', 'revoked', 'replaced', 'held')", name="status"
        ),
        Index("ix_card_pin_sequence", "pin", "sequence", unique=True),
        Index("ix_card_persona", "persona", unique=True),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    # the card number is the PIN
    pin: Mapped[str] = mapped_column(CodeString(12), ForeignKey("citizen.pin"))
    sequence: Mapped[int] = mapped_column(SmallInteger)
    generation: Mapped[str] = mapped_column(String(16))
    issue_date: Mapped[date] = mapped_column(Date)
    expiry_date: Mapped[date | None] = mapped_column(Date)  # None: "Không thời hạn"
    status: Mapped[str] = mapped_column(String(10))
    status_reason: Mapped[str | None] = mapped_column(String(32))
    status_changed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    signed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))  # SOD signingTime
    document_signer: Mapped[str] = mapped_column(String(32))  # PKI label, e.g. "dsc/3"
    chip_key_ref: Mapped[str] = mapped_column(String(24))  # chip keys: derived from seed + ref
    persona: Mapped[str | None] = mapped_column(String(24))  # a test card failing on purpose


class CardEvent(Base):
    """One change of a card's status (append-only): issued, reported lost, revoked, ..."""

    __tablename__ = "card_event"
    __table_args__ = (Index("ix_card_event_card_id_id", "card_id", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    card_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("card.id"))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    action: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(10))  # the status after this event
    reason: Mapped[str | None] = mapped_column(String(32))
    actor: Mapped[str] = mapped_column(String(16))


class PkiKey(Base):
    """A persisted private key of the test PKI: RSA only (EC keys are derived from the seed)."""

    __tablename__ = "pki_key"

    label: Mapped[str] = mapped_column(String(40), primary_key=True)  # "csca", "dsc/3", ...
    key_type: Mapped[str] = mapped_column(String(8))
    private_pem: Mapped[str] = mapped_column(Text)  # PKCS#8, unencrypted (sandbox keys)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class ChipSession(Base):
    """A reader's conversation with a card's chip over APDUs (``/v1/cards/{pin}/chip/sessions``).

    ``state`` is the emulator's :class:`app.icao.emulator.CardState` as JSON (selected file,
    pending challenge, session keys and counter); kept in the database so that any worker of the
    service answers the next APDU. It expires ``expires_at`` by the sandbox clock, renewed by
    each exchange."""

    __tablename__ = "chip_session"
    __table_args__ = (Index("ix_chip_session_expires_at", "expires_at"),)

    id: Mapped[str] = mapped_column(String(43), primary_key=True)
    card_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("card.id", ondelete="CASCADE"))
    client_id: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
