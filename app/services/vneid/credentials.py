"""Checking what a citizen presents at login: PIN + password, the app's passcode, account state.

Failures say as little as possible: an unknown PIN and a wrong password are the same
``invalid_credentials`` (and cost the same argon2 work). Only after the right password does the
answer tell that the account is pending, locked or closed. Five wrong passwords or passcodes in a
row block the account's logins for :data:`app.services.vneid.accounts.LOGIN_BLOCK` (sandbox clock).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, NamedTuple

from sqlalchemy import bindparam, or_, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from app.models.account import Account
from app.models.card import Card
from app.prepared import Prepared
from app.services.cards.issuance import effective_status, local_date
from app.services.kit.keys import aware
from app.services.storage.phases import MustWrite, reading_only
from app.services.vneid import accounts

INVALID = "invalid_credentials"
THROTTLED = "throttled"


class LoginRefused(Exception):
    """``reason``: invalid_credentials, throttled, pending, locked or closed (for the page text)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class AccountRef:
    """What a login needs of an account that may log in (read without loading the ORM row)."""

    id: int
    pin: str
    level: int


def _latest_card(column: Any, pin: Any) -> Any:
    """``column`` of the citizen's latest card (the highest sequence: the card in use)."""
    return select(column).where(Card.pin == pin).order_by(Card.sequence.desc()).limit(1)


_LATEST_CARD = Prepared(select(Card.status, Card.expiry_date).where(Card.pin == bindparam("pin"))
                        .order_by(Card.sequence.desc()).limit(1))
# The account and its latest card in one statement: every authorization and token request asks
# both (a second round trip to the database was ~3 % of a login flow's instructions). A statement
# that finds the account through another row (the token endpoint's code) selects these columns
# too and hands its row to :func:`judged`.
LATEST_CARD_COLUMNS = (
    _latest_card(Card.status, Account.pin).scalar_subquery().label("card_status"),
    _latest_card(Card.expiry_date, Account.pin).scalar_subquery().label("card_expiry"))
ACCOUNT_COLUMNS = (Account.id, Account.pin, Account.level, Account.state, Account.unlock_due,
                   *LATEST_CARD_COLUMNS)
_BY_PIN = Prepared(select(*ACCOUNT_COLUMNS).where(Account.pin == bindparam("pin")))
_BY_ID = Prepared(select(*ACCOUNT_COLUMNS).where(Account.id == bindparam("id")))
# Law 2023 Art. 34(1), Decree 69 Art. 15: the account locks with the card (revoked, held, expired).
_CARD_GROUNDS = {"expired": "card_expired", "revoked": "card_revoked", "held": "card_held"}


def card_ground(session: Session, pin: str, *, now: datetime) -> str | None:
    """Why the citizen's latest card locks the account at ``now`` (``card_expired``,
    ``card_revoked``, ``card_held``), or ``None``. Expiry is read against the sandbox clock, so
    moving the clock past the expiry date locks the account without any write. One indexed read."""
    row = _LATEST_CARD.first(session.connection(), {"pin": pin})
    return None if row is None else _ground(row, now)


def card_ground_in(row: Any, now: datetime) -> str | None:
    """:func:`card_ground` for a row that selected :data:`LATEST_CARD_COLUMNS` (no card: None)."""
    if row.card_status is None:
        return None
    return _ground(_Seen(row.card_status, row.card_expiry), now)


class _Seen(NamedTuple):
    status: str
    expiry_date: date | None


def _ground(card: _Seen | Any, now: datetime) -> str | None:
    return _CARD_GROUNDS.get(effective_status(card, local_date(now)))


def available(session: Session, *, now: datetime, pin: str | None = None,
              account_id: int | None = None) -> AccountRef | str | None:
    """The account if it may log in now, else why not (``pending``, ``locked``, ``closed``);
    ``None`` when there is no such account. One indexed read on the usual (active) path."""
    query, params = (_BY_PIN, {"pin": pin}) if pin is not None else (_BY_ID, {"id": account_id})
    return judged(session, query.first(session.connection(), params), now=now)


def judged(session: Session, row: Any | None, *, now: datetime) -> AccountRef | str | None:
    """:func:`available` for an account's :data:`ACCOUNT_COLUMNS` read in this transaction
    (``row`` or its ``id`` ``None``: no such account)."""
    if row is None or row.id is None:
        return None
    if row.state == accounts.LOCKED and row.unlock_due is not None:  # a lock may have lapsed
        if reading_only(session) and now >= (aware(row.unlock_due) or now):
            raise MustWrite()  # lifting it is a write
        account = session.get(Account, row.id)
        assert account is not None
        reason = unavailable_reason(session, account, now=now)
        return AccountRef(account.id, account.pin, account.level) if reason is None else reason
    if row.state != accounts.ACTIVE:
        return str(row.state)
    if card_ground_in(row, now) is not None:
        return accounts.LOCKED
    return AccountRef(row.id, row.pin, row.level)


def unavailable_reason(session: Session, account: Account, *, now: datetime) -> str | None:
    """Why the account cannot log in now (``pending``, ``locked``, ``closed``), or ``None``.
    An active account whose card is expired, revoked or held counts as locked (the rules lock
    the account with the card: no login at LoA1 or LoA2)."""
    accounts.lapse_due_locks(session, account, now=now)
    if account.state != accounts.ACTIVE:
        return account.state
    return accounts.LOCKED if card_ground(session, account.pin, now=now) is not None else None


def require_available(session: Session, account: Account, *, now: datetime) -> Account:
    reason = unavailable_reason(session, account, now=now)
    if reason is not None:
        raise LoginRefused(reason)
    return account


def _blocked(account: Account, now: datetime) -> bool:
    until = aware(account.login_locked_until)
    return until is not None and now < until


_ACCOUNTS = Account.__table__
# Counted only while the account is not blocked: a blocked account's failures change nothing.
_COUNT_FAILURE = (update(_ACCOUNTS)
                  .where(_ACCOUNTS.c.id == bindparam("account_id"),
                         or_(_ACCOUNTS.c.login_locked_until.is_(None),
                             _ACCOUNTS.c.login_locked_until <= bindparam("now")))
                  .values(failed_logins=_ACCOUNTS.c.failed_logins + 1)
                  .returning(_ACCOUNTS.c.failed_logins))
_BLOCK = (update(_ACCOUNTS)
          .where(_ACCOUNTS.c.id == bindparam("account_id"),
                 _ACCOUNTS.c.failed_logins >= accounts.MAX_FAILED_LOGINS)
          .values(failed_logins=0, login_locked_until=bindparam("until")))


def _failed(session: Session, account: Account, now: datetime) -> str:
    """Count one failure in the database; the refusal reason (``throttled`` once blocked)."""
    session.flush()  # the statements below must not be overwritten by pending ORM changes
    count = session.execute(_COUNT_FAILURE, {"account_id": account.id, "now": now}).scalar()
    if count is None:  # blocked meanwhile, by a concurrent failure
        return THROTTLED
    set_committed_value(account, "failed_logins", count)
    if count < accounts.MAX_FAILED_LOGINS:
        return INVALID
    until = now + accounts.LOGIN_BLOCK
    if session.execute(_BLOCK, {"account_id": account.id, "until": until}).rowcount == 1:
        set_committed_value(account, "failed_logins", 0)
        set_committed_value(account, "login_locked_until", until)
        accounts.record_event(session, account, "login_blocked", now=now, actor="system")
        session.flush()
    return INVALID


def _check(session: Session, account: Account, stored_hash: str | None, candidate: str,
           now: datetime) -> None:
    if _blocked(account, now):
        raise LoginRefused(THROTTLED)
    if not accounts.verify_secret(stored_hash, candidate):
        raise LoginRefused(_failed(session, account, now))
    account.failed_logins = 0


def password_login(session: Session, pin: str, password: str, *, now: datetime) -> Account:
    """The active account whose password this is; raises :class:`LoginRefused`."""
    account = accounts.find(session, pin) if len(pin) == 12 and pin.isdigit() else None
    if account is None:
        accounts.verify_secret(None, password)
        raise LoginRefused(INVALID)
    _check(session, account, account.password_hash, password, now)
    return require_available(session, account, now=now)


def passcode_check(session: Session, account: Account, passcode: str, *, now: datetime) -> None:
    """The app's 6-digit passcode, before a sensitive action (approving a QR login)."""
    _check(session, account, account.passcode_hash, passcode, now)
