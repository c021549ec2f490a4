"""VNeID accounts: who may hold which level, the state machine, credentials and the hooks that lock,
unlock and close accounts when something happens to the citizen or their card.

Levels (Decree 69/2024 Art. 7, for citizens): a living citizen with a valid card may hold level 1
and level 2 from age 6 (under 14 on request), level 1 only under 6. Level 1 is self-registered in
the app, level 2 is verified in person (face and fingerprints against the population database).

States (Decree 69 Art. 15, 29, 30; Law on Identification 2023 Art. 34)::

    pending --activate--> active(level) --upgrade--> active(2)
    active <--lock(reason) / unlock(reason)--> locked(reasons)   (several grounds at once)
    pending | active | locked --close(reason)--> closed             (terminal; the record is kept)

Lock grounds: ``self_request``, ``tos_violation``, ``authority``, ``pin_reestablished`` (manual: an
administrator or the citizen lifts them, or they lapse at ``unlock_due``) and ``card_expired``,
``card_revoked``, ``card_held`` (automatic: lifted by :func:`unlock_for_card` when the citizen
holds a valid card again). The account is active again when no ground is left. Every change
appends an :class:`~app.models.account.AccountEvent`.

Hooks for other features (each a no-op when the citizen has no account):

* card expired / revoked / held -> :func:`lock_for_card`;
  a valid card again -> :func:`unlock_for_card`
* death -> :func:`close_for_death`
* the citizen's own request -> :func:`lock_on_request` / :func:`unlock_on_request`
* card validity for eligibility -> :func:`card_is_valid` / :func:`valid_card_holders` (seam)

Whatever locks or closes an account notes it on the session (:func:`unusable_in`,
:func:`take_unusable`): a route's write session ends the account's login sessions before it
commits and tells the relying parties after (:mod:`app.services.vneid.backchannel`).

Credentials (as the app has them): password (8-20 printable ASCII characters with an upper-case
and a lower-case letter, a digit and a special character) and 6-digit passcode, both hashed with
argon2id;
SMS one-time codes (:mod:`app.services.vneid.otp`); one bound device with a random token. Five
wrong passwords or passcodes in a row block logins for 15 minutes of sandbox time.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from app.errors import Conflict, NotFound, ValidationFailed
from app.models.account import Account, AccountEvent
from app.models.population import Citizen
from app.services.cards.statuses import latest_statuses
from app.services.kit.keys import aware
from app.services.vneid.lock_reasons import (
    CARD_LOCK_REASONS,
    CLOSE_REASONS,
    LOCK_REASONS,
    MANUAL_LOCK_REASONS,
    UNUSABLE_KEY,
)

PENDING, ACTIVE, LOCKED, CLOSED = "pending", "active", "locked", "closed"
STATES = (PENDING, ACTIVE, LOCKED, CLOSED)
ACTORS = ("admin", "citizen", "card", "population", "system", "generator")
MAX_FAILED_LOGINS = 5
LOGIN_BLOCK = timedelta(minutes=15)
MIN_PASSWORD, MAX_PASSWORD = 8, 20

# OWASP's argon2id minimum (19 MiB, 2 passes, 1 lane): memory-hard, ~20 ms per check.
_HASHER = PasswordHasher(time_cost=2, memory_cost=19456, parallelism=1)
_PASSCODE = re.compile(r"[0-9]{6}")


class AccountNotFound(NotFound):
    code, title = "account-not-found", "This citizen has no VNeID account"


class AccountExists(Conflict):
    code, title = "account-exists", "This citizen already has a VNeID account"


class AccountNotEligible(Conflict):
    code, title = "account-not-eligible", "The citizen cannot hold an account of this level"


class AccountStateConflict(Conflict):
    code, title = "account-state-conflict", "The account's state does not allow this change"


class WeakPassword(ValidationFailed):
    code, title = "weak-password", "The password does not meet the VNeID password rules"


class InvalidPasscode(ValidationFailed):
    code, title = "invalid-passcode", "The passcode must be exactly 6 digits"


# --- eligibility ---------------------------------------------------------------------------------


def age_on(birth_date: date, day: date) -> int:
    """Completed years on ``day``."""
    return day.year - birth_date.year - ((day.month, day.day) < (birth_date.month, birth_date.day))


def allowed_levels(*, age: int, alive: bool, has_valid_card: bool) -> tuple[int, ...]:
    """Decree 69 Art. 7 for citizens: none without a valid card; level 1 only under 6."""
    if not alive or not has_valid_card:
        return ()
    return (1,) if age < 6 else (1, 2)


# The latest card's statuses an account stands on: the rules lock the account while the card is
# expired, revoked or held (Law 2023 Art. 34(1), Decree 69 Art. 15), not after a loss is reported.
ACCOUNT_CARD_STATUSES = ("active", "lost")


def valid_card_holders(session: Session, pins: Iterable[str], *, now: datetime) -> set[str]:
    """The living citizens among ``pins`` whose latest card carries an account at ``now``: active
    and not past its expiry date by the sandbox clock, or reported lost (see
    :data:`ACCOUNT_CARD_STATUSES`). Nobody without a card."""
    latest = latest_statuses(session, pins, now=now)
    bearing = [pin for pin, status in latest.items() if status in ACCOUNT_CARD_STATUSES]
    alive: set[str] = set()
    for start in range(0, len(bearing), 900):
        alive.update(session.scalars(select(Citizen.pin).where(
            Citizen.pin.in_(bearing[start:start + 900]), Citizen.status == "alive")))
    return alive


def card_is_valid(session: Session, pin: str, now: datetime) -> bool:
    """Does the citizen hold a valid card at ``now``? (see :func:`valid_card_holders`)"""
    return pin in valid_card_holders(session, [pin], now=now)


def eligible_levels(session: Session, citizen: Citizen, *, now: datetime) -> tuple[int, ...]:
    return allowed_levels(age=age_on(citizen.birth_date, now.date()),
                          alive=citizen.status == "alive",
                          has_valid_card=card_is_valid(session, citizen.pin, now))


# --- lookups and the event log --------------------------------------------------------------------


_BY_PIN = select(Account).where(Account.pin == bindparam("pin"))  # built once: every login


def find(session: Session, pin: str) -> Account | None:
    return session.scalar(_BY_PIN, {"pin": pin})


def get(session: Session, pin: str) -> Account:
    account = find(session, pin)
    if account is None:
        raise AccountNotFound()
    return account


def events(session: Session, account: Account, *, limit: int = 200) -> list[AccountEvent]:
    query = (select(AccountEvent).where(AccountEvent.account_id == account.id)
             .order_by(AccountEvent.id).limit(limit))
    return list(session.scalars(query))


def record_event(session: Session, account: Account, kind: str, *, now: datetime, actor: str,
            reason: str | None = None) -> None:
    account.updated_at = now
    session.add(AccountEvent(account_id=account.id, at=now, kind=kind, reason=reason, actor=actor,
                             state=account.state, level=account.level))
    session.flush()


# session.info[UNUSABLE_KEY]: the accounts that became unusable in the transaction,
# {id: (pin, when)}.
_UNUSABLE = UNUSABLE_KEY


def _note_unusable(session: Session, account: Account, now: datetime) -> None:
    """Remember that the account can no longer log in (locked or closed), with the PIN relying
    parties know it by: its login sessions end with the transaction
    (:func:`app.services.vneid.backchannel.end_unusable_accounts`). The first note wins."""
    session.info.setdefault(_UNUSABLE, {}).setdefault(account.id, (account.pin, now))


def unusable_in(session: Session) -> bool:
    """Whether an account became unusable in this transaction (one dictionary look-up)."""
    return bool(session.info.get(_UNUSABLE))


def take_unusable(session: Session) -> dict[int, tuple[str, datetime]]:
    """The accounts noted by :func:`_note_unusable`, forgotten once taken."""
    return session.info.pop(_UNUSABLE, None) or {}


def _conflict(account: Account, action: str) -> AccountStateConflict:
    return AccountStateConflict(f"Cannot {action} an account that is {account.state}.",
                                state=account.state)


# --- life cycle -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class NewAccount:
    """What an administrator (or the registration flow) provides to open an account."""

    pin: str
    level: int = 1
    phone: str | None = None
    email: str | None = None
    password: str | None = None
    passcode: str | None = None
    activate: bool = True


def _citizen(session: Session, pin: str) -> Citizen:
    from app.services.population.citizens import CitizenNotFound

    citizen = session.get(Citizen, pin)
    if citizen is None:
        raise CitizenNotFound()
    return citizen


def _require_level(session: Session, citizen: Citizen, level: int, *, now: datetime) -> None:
    if level not in eligible_levels(session, citizen, now=now):
        raise AccountNotEligible(
            "Level 1 and 2 need a living citizen with a valid card; level 2 needs age 6 or more.",
            level=level)


def create(session: Session, spec: NewAccount, *, now: datetime, actor: str = "admin") -> Account:
    """Open an account (``pending``, or ``active`` when ``spec.activate``)."""
    citizen = _citizen(session, spec.pin)
    if find(session, spec.pin) is not None:
        raise AccountExists()
    _require_level(session, citizen, spec.level, now=now)
    account = Account(pin=citizen.pin, state=PENDING, level=spec.level, lock_reasons=[],
                      phone=spec.phone or citizen.phone or derived_phone(citizen.pin),
                      email=spec.email or citizen.email, failed_logins=0,
                      created_at=now, updated_at=now)
    if spec.password is not None:
        account.password_hash = hash_password(spec.password)
    if spec.passcode is not None:
        account.passcode_hash = hash_passcode(spec.passcode)
    session.add(account)
    session.flush()
    record_event(session, account, "created", now=now, actor=actor)
    if spec.activate:
        activate(session, account, now=now, actor=actor)
    return account


def derived_phone(pin: str) -> str:
    """A stable sandbox mobile number for a citizen the population lists without one."""
    digits = int.from_bytes(hashlib.sha256(f"dancu-sandbox/phone/{pin}".encode()).digest()[:8])
    return f"09{digits % 10**8:08d}"


def activate(session: Session, account: Account, *, now: datetime, actor: str) -> Account:
    """``pending`` -> ``active``: the registration data matched the population database."""
    if account.state != PENDING:
        raise _conflict(account, "activate")
    account.state = ACTIVE
    record_event(session, account, "activated", now=now, actor=actor)
    return account


def upgrade(session: Session, account: Account, *, now: datetime, actor: str) -> Account:
    """Level 1 -> 2 after in-person verification (the account must be active)."""
    if account.state != ACTIVE or account.level == 2:
        raise _conflict(account, "upgrade")
    _require_level(session, _citizen(session, account.pin), 2, now=now)
    account.level = 2
    record_event(session, account, "upgraded", now=now, actor=actor)
    return account


def lock(session: Session, account: Account, *, reason: str, now: datetime, actor: str,
         until: datetime | None = None) -> Account:
    """Add a lock ground (idempotent for a ground already present)."""
    if reason not in LOCK_REASONS:
        raise ValueError("unknown lock reason")
    if account.state not in (ACTIVE, LOCKED):
        raise _conflict(account, "lock")
    if reason in account.lock_reasons:
        return account
    _note_unusable(session, account, now)
    account.lock_reasons = [*account.lock_reasons, reason]
    if account.state == ACTIVE:
        account.locked_at = now
    account.state, account.locked_by = LOCKED, actor
    if reason in MANUAL_LOCK_REASONS:
        account.unlock_due = until
    record_event(session, account, "locked", now=now, actor=actor, reason=reason)
    return account


def unlock(session: Session, account: Account, *, now: datetime, actor: str,
           reasons: Iterable[str] = MANUAL_LOCK_REASONS) -> Account:
    """Remove lock grounds (by default every manual one); active again when none is left."""
    lifted = [r for r in account.lock_reasons if r in set(reasons)]
    if account.state != LOCKED or not lifted:
        raise _conflict(account, "unlock")
    account.lock_reasons = [r for r in account.lock_reasons if r not in lifted]
    if not any(r in MANUAL_LOCK_REASONS for r in account.lock_reasons):
        account.unlock_due = None
    if not account.lock_reasons:
        account.state, account.locked_at, account.locked_by = ACTIVE, None, None
    for reason in lifted:  # one event per ground, as locking records them (a joined list
        # overflowed the 32-character reason column on PostgreSQL: a 500)
        record_event(session, account, "unlocked", now=now, actor=actor, reason=reason)
    return account


def close(session: Session, account: Account, *, reason: str, now: datetime,
          actor: str) -> Account:
    """Terminal: the account can never log in again; its record and events are kept."""
    if reason not in CLOSE_REASONS:
        raise ValueError("unknown close reason")
    if account.state == CLOSED:
        raise _conflict(account, "close")
    _note_unusable(session, account, now)
    account.state, account.closed_reason, account.closed_at = CLOSED, reason, now
    account.device_token_hash = None
    record_event(session, account, "closed", now=now, actor=actor, reason=reason)
    return account


def lapse_due_locks(session: Session, account: Account, *, now: datetime) -> Account:
    """Lift the manual grounds of a lock whose ``unlock_due`` has passed (checked on use)."""
    due = aware(account.unlock_due)
    if account.state == LOCKED and due is not None and now >= due:
        unlock(session, account, now=now, actor="system")
    return account


# --- hooks for other features ---------------------------------------------------------------------


def lock_for_card(session: Session, pin: str, *, reason: str, now: datetime) -> Account | None:
    """The card expired, was revoked or is held: lock the account (if any, and not closed)."""
    if reason not in CARD_LOCK_REASONS:
        raise ValueError("reason must be card_expired, card_revoked or card_held")
    account = find(session, pin)
    if account is None or account.state not in (ACTIVE, LOCKED):
        return account
    return lock(session, account, reason=reason, now=now, actor="card")


def unlock_for_card(session: Session, pin: str, *, now: datetime) -> Account | None:
    """The citizen holds a valid card again: lift the card grounds (others stay)."""
    account = find(session, pin)
    if account is None or not set(account.lock_reasons) & set(CARD_LOCK_REASONS):
        return account
    return unlock(session, account, now=now, actor="card", reasons=CARD_LOCK_REASONS)


def close_for_death(session: Session, pin: str, *, now: datetime) -> Account | None:
    """The citizen died (population database): close the account for good."""
    account = find(session, pin)
    if account is None or account.state == CLOSED:
        return account
    return close(session, account, reason="death", now=now, actor="population")


def lock_on_request(session: Session, pin: str, *, now: datetime) -> Account:
    return lock(session, get(session, pin), reason="self_request", now=now, actor="citizen")


def unlock_on_request(session: Session, pin: str, *, now: datetime) -> Account:
    return unlock(session, get(session, pin), now=now, actor="citizen", reasons=("self_request",))


# --- credentials ----------------------------------------------------------------------------------


def password_problems(password: str) -> list[str]:
    """The VNeID password rules ``password`` breaks (empty when it is acceptable)."""
    checks = (
        (MIN_PASSWORD <= len(password) <= MAX_PASSWORD, "8 to 20 characters"),
        (all("\x21" <= ch <= "\x7e" for ch in password), "printable ASCII only, no spaces"),
        (any(ch.isascii() and ch.isupper() for ch in password), "an upper-case letter"),
        (any(ch.isascii() and ch.islower() for ch in password), "a lower-case letter"),
        (any(ch.isascii() and ch.isdigit() for ch in password), "a digit"),
        (any(ch.isascii() and not ch.isalnum() for ch in password), "a special character"),
    )
    return [rule for ok, rule in checks if not ok]


def hash_password(password: str) -> str:
    problems = password_problems(password)
    if problems:
        raise WeakPassword(rules=problems)
    return _HASHER.hash(password)


def hash_passcode(passcode: str) -> str:
    if not _PASSCODE.fullmatch(passcode):
        raise InvalidPasscode()
    return _HASHER.hash(passcode)


def verify_secret(stored_hash: str | None, candidate: str) -> bool:
    """argon2id check; an absent hash costs the same work and fails."""
    try:
        return _HASHER.verify(stored_hash or _dummy_hash(), candidate) and stored_hash is not None
    except (VerificationError, InvalidHashError):
        return False


_DUMMY: list[str] = []


def _dummy_hash() -> str:
    if not _DUMMY:
        _DUMMY.append(_HASHER.hash(secrets.token_urlsafe(16)))
    return _DUMMY[0]


def set_password(session: Session, account: Account, password: str, *, now: datetime,
                 actor: str) -> None:
    account.password_hash = hash_password(password)
    record_event(session, account, "password_set", now=now, actor=actor)


def set_passcode(session: Session, account: Account, passcode: str, *, now: datetime,
                 actor: str) -> None:
    account.passcode_hash = hash_passcode(passcode)
    record_event(session, account, "passcode_set", now=now, actor=actor)


def device_token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def bind_device(session: Session, account: Account, *, name: str, now: datetime, actor: str,
                token: str | None = None) -> str:
    """Bind the one device (replacing any other); returns its token, shown once."""
    if account.state == CLOSED:
        raise _conflict(account, "bind a device to")
    token = token or secrets.token_urlsafe(32)
    account.device_id = secrets.token_hex(8)
    account.device_name, account.device_bound_at = name, now
    account.device_token_hash = device_token_hash(token)
    record_event(session, account, "device_bound", now=now, actor=actor)
    return token


def account_for_device(session: Session, token: str) -> Account | None:
    return session.scalar(select(Account).where(
        Account.device_token_hash == device_token_hash(token)))
