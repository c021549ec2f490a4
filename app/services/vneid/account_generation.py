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

import logging
from dataclasses import dataclass
from datetime import date, datetime
from functools import cache
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
from app.services.vneid import accounts, backchannel
from app.services.vneid.account_rules import (  # noqa: F401 (the rules, as before)
    ADULT_AGE,
    AGE_BANDS,
    CARD_GROUNDS,
    FIRST_ACCOUNT_DAY,
    GUARDIAN_KINDS,
    OPENED_BY,
    PENDING_SHARE,
    SANDBOX_PASSCODE,
    SANDBOX_PASSWORD,
    SELF_LOCKED_SHARE,
    AgeBand,
    _Person,
    _state,
    band,
    draw,
    opening_day,
)
from app.services.vneid.provider import LOGIN_PURPOSE
from app.settings import Settings

log = logging.getLogger("dancu.accounts")


@cache
def sandbox_hashes() -> tuple[str, str]:
    """The argon2 hashes of the documented password and passcode, made once per process: every
    generated account and persona stores the same ones (an argon2 hash is ~70 ms of CPU; the
    personas' fourteen were a second of the first start)."""
    return (accounts.hash_password(SANDBOX_PASSWORD), accounts.hash_passcode(SANDBOX_PASSCODE))


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
    """:func:`seed_accounts` in the caller's session, through :mod:`account_bulk` (``dancu seed``
    and the first start of an empty database make them with the people: ``seed/extras.py``)."""
    if has_accounts(session):
        return 0
    from app.services.vneid import account_bulk

    session.flush()
    created = account_bulk.generate(
        session.connection(), seed=seed, now=now,
        password_hash=sandbox_hashes()[0] if sandbox else None,
        passcode_hash=sandbox_hashes()[1] if sandbox else None)
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
    account.password_hash, account.passcode_hash = sandbox_hashes()
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
    interactions, codes, tokens, sign-in consents): they belonged to a replaced population. The
    persona catalogue's records name citizens of that population too: forgotten with them, the
    next start picks and shapes the personas again among the new people."""
    for model in (AccountEvent, SmsMessage, OneTimeCode, LoginInteraction, BrowserSession,
                  AuthorizationCode, RefreshToken, IssuedAccessToken, Account, SandboxPersona):
        session.execute(delete(model))
    session.execute(delete(Consent).where(Consent.purpose == LOGIN_PURPOSE))


def ensure_accounts(database: Database, *, settings: Settings, now: datetime,
                    logouts: backchannel.Logouts) -> None:
    """Start-up step, after the population: generated accounts once, then the personas (sandbox
    only). After the population was replaced, the old accounts are dropped and generated again.
    A persona shaped again (locked, closed) has its login sessions ended through ``logouts``."""
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
    with logouts.write(database) as session:
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
