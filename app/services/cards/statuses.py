"""A card's status by the sandbox clock, and the status of each citizen's card in use: what other
packages ask of cards (a VNeID account stands on its holder's card) without the lifecycle of
:mod:`app.services.cards.issuance`."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, timedelta, timezone
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models.card import Card

VIETNAM_TIME = timezone(timedelta(hours=7))


def local_date(now: datetime) -> date:
    """The sandbox clock's day in Vietnam (UTC+7): cards expire by the local calendar."""
    return now.astimezone(VIETNAM_TIME).date()


class CardState(Protocol):
    status: str
    expiry_date: date | None


def effective_status(card: CardState, today: date) -> str:
    """The stored status, or ``expired`` for an active card past its expiry date."""
    if card.status == "active" and card.expiry_date is not None and card.expiry_date < today:
        return "expired"
    return card.status


def latest_statuses(session: Session, pins: Iterable[str], *, now: datetime) -> dict[str, str]:
    """The effective status at ``now`` of each citizen's latest card (the one in use), by PIN;
    citizens without a card are left out."""
    wanted, today = list(dict.fromkeys(pins)), local_date(now)
    latest: dict[str, tuple[int, str]] = {}
    for start in range(0, len(wanted), 900):
        query = select(Card.pin, Card.sequence, Card.status, Card.expiry_date).where(
            Card.pin.in_(wanted[start:start + 900]))
        for row in session.execute(query):
            if row.pin not in latest or row.sequence > latest[row.pin][0]:
                latest[row.pin] = (row.sequence, effective_status(row, today))
    return {pin: status for pin, (_, status) in latest.items()}
