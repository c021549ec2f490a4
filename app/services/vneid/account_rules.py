"""The rules of the generated VNeID accounts: who holds one, in which state, opened when
(:mod:`app.services.vneid.account_generation` tells the whole story). Pure decisions on a person,
shared by the start-up path (:mod:`~app.services.vneid.account_bulk`) and the seed's worker
(``seed/extras.py``), which apply them to the same draws."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from app.services.vneid import accounts
from app.services.vneid.accounts import age_on

SANDBOX_PASSWORD = "Vneid@2025"
SANDBOX_PASSCODE = "123456"
# The first accounts: "Đến cuối tháng 7 [2022] ... cấp hơn 7.800 tài khoản định danh điện tử"
# (the identification system went live in July 2022, before Decree 59/2022 of 2022-10-20).
FIRST_ACCOUNT_DAY = date(2022, 7, 1)
# Share of the generated accounts opened by each day, from the national milestones scaled to the
# population (seed/timeline.py, docs/population.md): nearly 2.6 M activated by 2022-12-25, the
# 40 M goal for mid-2023, more than 75.7 M by 2024-07-11; the rest until the clock's day.
OPENED_BY: tuple[tuple[date, float], ...] = (
    (date(2022, 12, 25), 0.032),
    (date(2023, 6, 30), 0.50),
    (date(2024, 7, 11), 0.975),
)


@dataclass(frozen=True)
class AgeBand:
    """Citizens aged ``low`` to ``high`` (inclusive): share holding an account, share at level 2."""

    low: int
    high: int
    with_account: float
    level2: float


# Under 14 the share is of the children holding a card (issued on request, seed/cards.py
# UNDER_14_SHARE) whose guardian has an active level-2 account: the guardian registers them.
AGE_BANDS: tuple[AgeBand, ...] = (
    AgeBand(0, 5, 0.60, 0.0),
    AgeBand(6, 13, 0.60, 0.30),
    AgeBand(14, 17, 0.90, 0.80),
    AgeBand(18, 24, 0.98, 0.90),
    AgeBand(25, 59, 0.98, 0.90),
    AgeBand(60, 74, 0.92, 0.85),
    AgeBand(75, 200, 0.70, 0.80),
)
ADULT_AGE = 14  # younger: registered by a parent or guardian with their own level-2 account
GUARDIAN_KINDS = ("mother", "father", "legal_representative")  # the first one with an account
PENDING_SHARE = 0.015  # of account holders: registered in the app, not yet matched
SELF_LOCKED_SHARE = 0.003  # of active holders: locked at their own request


def draw(seed: int, label: str, pin: str) -> float:
    """A uniform number in [0, 1) fixed by the seed, a purpose label and the PIN."""
    digest = hashlib.sha256(f"dancu-sandbox/{seed}/{label}/{pin}".encode()).digest()
    return int.from_bytes(digest[:8]) / 2**64


def band(age: int) -> AgeBand:
    """The band of ``age`` (a birth after the clock's day counts as age 0)."""
    return next(b for b in AGE_BANDS if b.low <= max(age, 0) <= b.high)


@dataclass(frozen=True)
class _Person:
    pin: str
    birth_date: date
    status: str
    status_date: date | None
    phone: str | None
    email: str | None


def opening_day(u: float, today: date) -> date:
    """The day an account opened, for a uniform ``u``: the inverse of :data:`OPENED_BY`
    (linear between its days, then evenly to ``today``), never after ``today``."""
    knots = [*((d, share) for d, share in OPENED_BY if d < today), (today, 1.0)]
    previous_day, previous_share = FIRST_ACCOUNT_DAY, 0.0
    for day, share in knots:
        if u < share or day == today:
            span = share - previous_share
            part = (u - previous_share) / span if span > 0 else 0.0
            moved = previous_day + timedelta(days=int(part * (day - previous_day).days))
            return min(max(moved, previous_day), today)
        previous_day, previous_share = day, share
    return today


# The account locks with the card (Law 2023 Art. 34(1), Decree 69 Art. 15): the latest card's
# status at the clock's time -> the lock ground of a generated account.
CARD_GROUNDS = {"expired": "card_expired", "revoked": "card_revoked", "held": "card_held"}


def _state(person: _Person, seed: int, *, card: str | None, today: date) -> dict[str, Any] | None:
    """The generated account of ``person`` (state, level, grounds), or ``None``. ``card`` is the
    effective status of the person's latest card (``None``: never had one). An account needs a
    card (Decree 69 Art. 7): none without one, and locked while the card is expired, revoked or
    held (a lost card does not lock it)."""
    on_day = person.status_date if person.status != "alive" and person.status_date else today
    age = age_on(person.birth_date, on_day)
    holds = band(age)
    if draw(seed, "account", person.pin) >= holds.with_account:
        return None
    level = 2 if age >= 6 and draw(seed, "level", person.pin) < holds.level2 else 1
    if person.status == "deceased":  # an account only if they lived to see VNeID
        opened = person.status_date is None or person.status_date >= FIRST_ACCOUNT_DAY
        return {"state": accounts.CLOSED, "level": level, "closed_reason": "death"} \
            if card is not None and opened else None
    if card is None:
        return None
    if person.status == "missing":
        return {"state": accounts.LOCKED, "level": level, "lock_reasons": ["authority"]}
    if card in CARD_GROUNDS:
        return {"state": accounts.LOCKED, "level": level, "lock_reasons": [CARD_GROUNDS[card]]}
    if level not in accounts.allowed_levels(age=age, alive=True, has_valid_card=True):
        return None
    status = draw(seed, "state", person.pin)
    if status < PENDING_SHARE:
        return {"state": accounts.PENDING, "level": 1}
    if status < PENDING_SHARE + SELF_LOCKED_SHARE:
        return {"state": accounts.LOCKED, "level": level, "lock_reasons": ["self_request"]}
    return {"state": accounts.ACTIVE, "level": level}
