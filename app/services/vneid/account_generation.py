"""Generated VNeID accounts for the synthetic population, and the test personas.

:func:`seed_accounts` gives a realistic share of citizens an account, by age band (table
:data:`AGE_BANDS`; eligibility per Decree 69 Art. 7 through :func:`accounts.valid_card_holders`):
most holders are at level 2, a few are still pending or locked at their own request; a deceased
citizen's account is closed, a missing person's locked by the authority. Every choice is a hash of
``(seed, PIN)``, so the same population and seed always give the same accounts. It is fast: one
argon2 hash for the whole run -- in a sandbox deployment every generated account has the
password :data:`SANDBOX_PASSWORD` and the passcode :data:`SANDBOX_PASSCODE` (stored as the same
hash), which the docs state. Outside a sandbox (``DANCU_SANDBOX=false``) generated accounts have no
password and no passcode (nobody can log in as them until an admin sets them), there are no
personas, and :func:`withdraw_sandbox_credentials` removes the documented ones a database made
as a sandbox still holds.

:func:`ensure_personas` then fixes one account in each state (:data:`PERSONAS`), picked
deterministically from the population, so tests and the login page's persona picker always find a
level-2 citizen, a level-1 citizen, a pending, locked and closed account.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from app.db import Database
from app.models.account import Account, AccountEvent, OneTimeCode, SmsMessage
from app.models.card import Card
from app.models.consent import Consent
from app.models.oidc import (
    AuthorizationCode,
    BrowserSession,
    IssuedAccessToken,
    LoginInteraction,
    RefreshToken,
)
from app.models.population import Citizen, Residence
from app.models.sandbox import SandboxPersona
from app.services.kit import secret
from app.services.vneid import accounts
from app.services.vneid.accounts import age_on
from app.services.vneid.provider import LOGIN_PURPOSE
from app.settings import Settings

log = logging.getLogger("dancu.accounts")
SANDBOX_PASSWORD = "Vneid@2025"
SANDBOX_PASSCODE = "123456"
BATCH = 5000
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


def has_accounts(session: Session) -> bool:
    return session.scalar(select(Account.id).limit(1)) is not None


def seed_accounts(database: Database, *, seed: int, now: datetime, sandbox: bool = True) -> int:
    """Generate the population's accounts (once: does nothing if any account exists); outside a
    sandbox without password or passcode.

    Call it after the population exists; returns the number of accounts created.
    """
    with database.write() as session:
        return seed_accounts_in(session, seed=seed, now=now, sandbox=sandbox)


def seed_accounts_in(session: Session, *, seed: int, now: datetime, sandbox: bool = True) -> int:
    """:func:`seed_accounts` in the caller's session (``dancu seed``: with the population)."""
    if has_accounts(session):
        return 0
    from app.services.vneid import account_bulk

    session.flush()
    created = account_bulk.generate(
        session.connection(), seed=seed, now=now,
        password_hash=accounts.hash_password(SANDBOX_PASSWORD) if sandbox else None,
        passcode_hash=accounts.hash_passcode(SANDBOX_PASSCODE) if sandbox else None)
    log.info("generated %d VNeID accounts", created)
    return created


# --- personas -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Persona:
    """A test account in a known state (``key`` is what tests and the picker use)."""

    key: str
    title_en: str
    title_vi: str
    state: str
    level: int
    min_age: int = 25
    max_age: int = 55
    lock_reason: str | None = None
    close_reason: str | None = None
    device: bool = False

    @property
    def citizen_status(self) -> str:
        return "deceased" if self.close_reason == "death" else "alive"


PERSONAS: tuple[Persona, ...] = (
    Persona("citizen-l2", "Active level-2 account, app on a bound device",
            "Tài khoản mức 2 đang hoạt động, đã gắn thiết bị", accounts.ACTIVE, 2, device=True),
    Persona("citizen-l1", "Active level-1 account", "Tài khoản mức 1 đang hoạt động",
            accounts.ACTIVE, 1, min_age=18, max_age=40),
    Persona("senior-l2", "Active level-2 account of a citizen over 60",
            "Tài khoản mức 2 của người trên 60 tuổi", accounts.ACTIVE, 2, min_age=60, max_age=85),
    Persona("pending", "Registered, identity not yet verified (cannot log in)",
            "Đã đăng ký, chưa được xác thực", accounts.PENDING, 1),
    Persona("locked-self", "Locked at the citizen's request", "Bị khóa theo yêu cầu của công dân",
            accounts.LOCKED, 2, lock_reason="self_request"),
    Persona("locked-card-expired", "Locked automatically: the card has expired",
            "Bị khóa tự động: thẻ căn cước hết hạn", accounts.LOCKED, 2,
            lock_reason="card_expired"),
    Persona("closed-deceased", "Closed: the citizen has died", "Đã đóng: công dân đã mất",
            accounts.CLOSED, 2, min_age=30, max_age=110, close_reason="death"),
)
PERSONA_KEYS = tuple(p.key for p in PERSONAS)


def persona(key: str) -> Persona | None:
    return next((p for p in PERSONAS if p.key == key), None)


def persona_device_token(settings: Settings, key: str) -> str:
    """The bound-device token of a persona: derived from the deployment secret, never from the
    public seed (``GET /v1/admin/accounts/personas`` and the persona catalogue show it)."""
    return secret.token(settings, f"vneid/persona-device/{key}")


def _lives_where_the_card_says() -> Any:
    """No permanent residence in force registered after the latest card's issue date: a persona
    who moved since would get a ``residence_changed`` warning from every chip verification, which
    the account personas (a clean level-2 login, a locked account, ...) do not stand for."""
    latest_issue = select(func.max(Card.issue_date)).where(Card.pin == Residence.pin)
    return ~select(Residence.id).where(
        Residence.pin == Citizen.pin, Residence.kind == "permanent",
        Residence.deregistered_on.is_(None),
        Residence.registered_on > latest_issue.scalar_subquery()).exists()


def _candidate(session: Session, spec: Persona, *, seed: int, now: datetime) -> str | None:
    today = now.date()
    youngest = date(today.year - spec.min_age, today.month, min(today.day, 28))
    oldest = date(today.year - spec.max_age - 1, today.month, min(today.day, 28))
    # Not a citizen another persona stands for: in a small population the level-2 persona was
    # the cloned chip's holder, whose active authentication fails by design.
    taken = select(Account.pin).where(Account.persona.is_not(None)).union(
        select(Card.pin).where(Card.persona.is_not(None)))
    query = (select(Citizen.pin).where(Citizen.status == spec.citizen_status,
                                       Citizen.birth_date <= youngest,
                                       Citizen.birth_date > oldest, Citizen.pin.not_in(taken))
             .order_by(Citizen.pin).limit(500))
    if spec.citizen_status == "alive":
        query = query.where(_lives_where_the_card_says())
    pins = list(session.scalars(query))
    if spec.citizen_status == "alive":
        pins = sorted(accounts.valid_card_holders(session, pins, now=now))
    return min(pins, key=lambda pin: draw(seed, spec.key, pin), default=None)


def _fresh_account(session: Session, pin: str, spec: Persona, *, now: datetime) -> Account:
    citizen = session.get(Citizen, pin)
    assert citizen is not None
    account = accounts.find(session, pin) or Account(
        pin=pin, phone=citizen.phone or accounts.derived_phone(pin), email=citizen.email,
        created_at=now)
    account.state, account.level, account.lock_reasons = accounts.ACTIVE, spec.level, []
    account.failed_logins, account.persona, account.updated_at = 0, spec.key, now
    account.locked_by = account.locked_at = account.unlock_due = account.login_locked_until = None
    account.closed_reason, account.closed_at = None, None
    account.password_hash = accounts.hash_password(SANDBOX_PASSWORD)
    account.passcode_hash = accounts.hash_passcode(SANDBOX_PASSCODE)
    session.add(account)
    session.flush()
    accounts.record_event(session, account, "persona", now=now, actor="generator")
    return account


def _apply(session: Session, account: Account, spec: Persona, *, settings: Settings,
           now: datetime) -> None:
    if spec.device:
        accounts.bind_device(session, account, name="Sandbox phone", now=now, actor="generator",
                             token=persona_device_token(settings, spec.key))
    if spec.state == accounts.PENDING:
        account.state = accounts.PENDING
        accounts.record_event(session, account, "created", now=now, actor="generator")
    elif spec.lock_reason:
        accounts.lock(session, account, reason=spec.lock_reason, now=now, actor="generator")
    elif spec.close_reason:
        accounts.close(session, account, reason=spec.close_reason, now=now, actor="generator")


def ensure_personas(session: Session, *, settings: Settings, now: datetime) -> list[str]:
    """Make sure each persona exists (idempotent); returns the keys created now."""
    seed = settings.seed
    present = set(session.scalars(select(Account.persona).where(Account.persona.is_not(None))))
    created = []
    for spec in PERSONAS:
        if spec.key in present:
            continue
        pin = _candidate(session, spec, seed=seed, now=now)
        if pin is None:
            log.warning("no citizen fits persona %s", spec.key)
            continue
        _apply(session, _fresh_account(session, pin, spec, now=now), spec, settings=settings,
               now=now)
        created.append(spec.key)
    return created


def rebind_persona_devices(session: Session, *, settings: Settings) -> int:
    """Bind the device personas' phones again with the tokens of ``settings``' secret (a copy of
    a tenant template: its personas were bound with the template's throw-away secret)."""
    bound = session.scalars(select(Account).where(Account.persona.in_(
        [spec.key for spec in PERSONAS if spec.device]), Account.device_token_hash.is_not(None)))
    count = 0
    for account in bound:
        account.device_token_hash = accounts.device_token_hash(
            persona_device_token(settings, str(account.persona)))
        count += 1
    session.flush()
    return count


def personas(session: Session) -> list[Account]:
    order = {key: i for i, key in enumerate(PERSONA_KEYS)}
    found = session.scalars(select(Account).where(Account.persona.is_not(None)))
    return sorted(found, key=lambda a: order.get(a.persona or "", len(order)))


def account_count(session: Session) -> int:
    return int(session.scalar(select(func.count()).select_from(Account)) or 0)


def population_replaced(session: Session) -> bool:
    """True when accounts exist for citizens that no longer do (``dancu seed --replace``)."""
    orphan = select(Account.id).where(Account.persona.is_not(None),
                                      Account.pin.not_in(select(Citizen.pin))).limit(1)
    return session.scalar(orphan) is not None


def forget_accounts(session: Session) -> None:
    """Delete every VNeID account and the provider state that refers to accounts (sessions,
    interactions, codes, tokens, sign-in consents): they belonged to a replaced population."""
    for model in (AccountEvent, SmsMessage, OneTimeCode, LoginInteraction, BrowserSession,
                  AuthorizationCode, RefreshToken, IssuedAccessToken, Account):
        session.execute(delete(model))
    session.execute(delete(Consent).where(Consent.purpose == LOGIN_PURPOSE))


def ensure_accounts(database: Database, *, settings: Settings, now: datetime) -> None:
    """Start-up step, after the population: generated accounts once, then the personas (sandbox
    only). After the population was replaced, the old accounts are dropped and generated again."""
    with database.read() as session:
        if session.scalar(select(Citizen.pin).limit(1)) is None:
            return
        replaced = population_replaced(session)
    if replaced:
        log.warning("the population was replaced: VNeID accounts are generated again")
        with database.write() as session:
            forget_accounts(session)
    seed_accounts(database, seed=settings.seed, now=now, sandbox=settings.sandbox)
    if not settings.sandbox:
        with database.write() as session:
            withdraw_sandbox_credentials(session, now=now)
        return
    with database.write() as session:
        created = ensure_personas(session, settings=settings, now=now)
    if created:
        log.info("created test personas: %s", ", ".join(created))


def persona_details(session: Session, *, settings: Settings) -> list[dict[str, Any]]:
    """The personas with what a tester needs to log in as them (sandbox secrets included); none
    outside a sandbox, where their documented secrets no longer work."""
    details: list[dict[str, Any]] = []
    if not settings.sandbox:
        return details
    for account in personas(session):
        spec = persona(account.persona or "")
        citizen = session.get(Citizen, account.pin)
        if spec is None or citizen is None:
            continue
        details.append({
            "key": spec.key, "title": spec.title_en, "title_vi": spec.title_vi, "pin": account.pin,
            "full_name": " ".join(p for p in (citizen.surname, citizen.middle_name,
                                             citizen.given_name) if p),
            "birth_date": citizen.birth_date.isoformat(), "state": account.state,
            "level": account.level, "lock_reasons": list(account.lock_reasons),
            "password": SANDBOX_PASSWORD, "passcode": SANDBOX_PASSCODE,
            "device_token": persona_device_token(settings, spec.key) if spec.device else None})
    return details


def _documented(stored_hash: str | None, value: str) -> bool:
    return stored_hash is not None and accounts.verify_secret(stored_hash, value)


def withdraw_sandbox_credentials(session: Session, *, now: datetime) -> int:
    """Outside a sandbox: remove the documented password, passcode and persona devices from the
    accounts of a database made as a sandbox (generated accounts share one hash; personas have
    theirs). Returns the number of accounts changed."""
    shared = select(Account.password_hash).group_by(Account.password_hash).having(
        func.count() > 1)
    suspects = session.scalars(select(Account).where(
        Account.persona.is_not(None) | Account.password_hash.in_(shared) |
        Account.pin.in_(select(SandboxPersona.pin))))
    checked: dict[tuple[str | None, str], bool] = {}
    changed = 0
    for account in suspects:
        password = checked.setdefault((account.password_hash, SANDBOX_PASSWORD), _documented(
            account.password_hash, SANDBOX_PASSWORD))
        passcode = checked.setdefault((account.passcode_hash, SANDBOX_PASSCODE), _documented(
            account.passcode_hash, SANDBOX_PASSCODE))
        device = account.persona is not None and account.device_token_hash is not None
        if password or passcode or device:
            _withdraw(account, password=password, passcode=passcode, device=device, now=now)
            changed += 1
    session.flush()
    if changed:
        log.warning("not a sandbox: documented credentials removed from %d accounts", changed)
    return changed


def _withdraw(account: Account, *, password: bool, passcode: bool, device: bool,
              now: datetime) -> None:
    if password:
        account.password_hash = None
    if passcode:
        account.passcode_hash = None
    if device:
        account.device_id = account.device_token_hash = None
        account.device_name = account.device_bound_at = None
    account.updated_at = now
