"""The persona catalogue: one test citizen per case an integrator meets, the same on every channel.

Each persona is a citizen of the generated population with a self-describing key
(``card-lost``, ``minor-under-14``, ...) and the outcome it must produce on each channel: the
data-sharing lookup, attribute verification, the chip (read + ``POST /v1/cards/verify``) and the
VNeID login (``X-Sandbox-Login``). Cases the card and account personas already cover are those
personas (:mod:`app.services.cards.failure_cards`, :mod:`app.services.vneid.account_generation`):
their PIN is taken from there. The others are picked here the same way (a hash of the seed, the key
and the PIN among the citizens that fit), recorded in ``sandbox_persona``, and then *shaped* so
every channel agrees with the catalogue: an account opened, activated or locked, a name given, a PIN
re-established. :func:`ensure_personas` is a start-up step after the card and account personas;
it is idempotent, so the same seed and size always give the same personas.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session, aliased

from app import pin as pin_rules
from app.errors import DomainError
from app.matching import accent_fold
from app.models.account import Account
from app.models.card import Card
from app.models.population import Citizen, Residence
from app.models.sandbox import SandboxPersona
from app.services.cards import failure_cards
from app.services.cards import issuance as cards
from app.services.cards.issuance import local_date
from app.services.cards.pki import CardPki
from app.services.documents import judicial_records
from app.services.population.citizens import full_name
from app.services.sandbox import faults
from app.services.vneid import account_generation, accounts
from app.settings import Settings

log = logging.getLogger("dancu.personas")
CANDIDATES = 400
EDE_NAMING = (12, 20, 16, 22, 28, 36, 32)  # Ê-đê and kin: clan name, Y/H' opening the given name
MINORITY_NAMING = (*EDE_NAMING, 8, 5, 3, 9)  # then Mông, Khơ-me, Thái, Dao


# --- what a persona produces ----------------------------------------------------------------------


@dataclass(frozen=True)
class Outcomes:
    """The expected result per channel (checked through HTTP by the tests).

    ``lookup``: the ``status`` of the record ``GET /v1/citizens/{pin}`` answers.
    ``verification``: the ``verdict`` of ``POST /v1/citizens/verify`` claiming the recorded full
    name and birth date. ``chip``: ``pass``, ``no-card`` (404 ``card-not-found``) or the failing
    steps ``code:reason`` of ``POST /v1/cards/verify``. ``login``: ``LoA2``/``LoA1`` (a code,
    the ID token's ``acr``) or the ``error`` the authorization endpoint redirects with.
    """

    lookup: str = "alive"
    verification: str = "match"
    chip: tuple[str, ...] = ("pass",)
    login: str = "LoA2"
    fault: str | None = None  # every channel answers this fault instead (fault personas)


@dataclass(frozen=True)
class Want:
    """Which citizens may become the persona (a picked persona only)."""

    status: str = "alive"
    min_age: int = 25
    max_age: int = 55
    card: str = "valid"  # valid | for-life | none | any
    account: str = "any"  # any | none
    where: tuple[Callable[[], ColumnElement[bool]], ...] = ()


@dataclass(frozen=True)
class Spec:
    key: str
    title: str
    outcomes: Outcomes
    card_persona: str | None = None  # the card persona it is
    account_persona: str | None = None  # the account persona it is
    wants: tuple[Want, ...] = (Want(),)  # tried in order
    lock_reason: str | None = None  # login refused: lock an active account on this ground
    shape: Callable[[Session, Citizen, Context], str] | None = None  # returns the persona PIN
    notes: str = ""
    document: tuple[str, str, str] | None = None  # (kind, status, reason) of a document persona


@dataclass(frozen=True)
class Context:
    seed: int
    now: datetime
    pki: Callable[[], CardPki]
    issue_at: datetime | None = None  # cards a persona needs are issued then (the population's day)

    @property
    def today(self) -> date:
        return local_date(self.now)


# --- shaping a picked citizen ---------------------------------------------------------------------

RARE_NAMES = {"F": ("Thị Ỷ", "Lan"), "M": ("Văn Dữ", "Khẩn")}


def _rename(session: Session, citizen: Citizen, ctx: Context) -> str:
    """Two middle names and letters outside every legacy code page (Ỷ, ữ, ẩ)."""
    middle, given = RARE_NAMES[citizen.sex]
    citizen.middle_name, citizen.given_name = middle, given
    citizen.name_folded = accent_fold(full_name(citizen))
    session.flush()
    return citizen.pin


def _declare_missing(session: Session, citizen: Citizen, ctx: Context) -> str:
    if citizen.status != "missing":  # no missing card holder in this population: declare one
        citizen.status, citizen.status_date = "missing", ctx.today
        account = accounts.find(session, citizen.pin)
        if account is not None and account.state in (accounts.ACTIVE, accounts.LOCKED):
            accounts.lock(session, account, reason="authority", now=ctx.now, actor="generator")
        session.flush()
    return citizen.pin


def _reestablish(session: Session, citizen: Citizen, ctx: Context) -> str:
    """Cancel the PIN and establish a new one (the birth year was mis-recorded): a life event."""
    from app.schemas.events import PinReestablishmentRequest
    from app.services.events import life_events
    from app.services.events.kinds import KINDS

    year = citizen.birth_date.year + (1 if citizen.birth_date.year < 1999 else -1)
    corrected = date(year, citizen.birth_date.month, min(citizen.birth_date.day, 28))
    body = PinReestablishmentRequest(pin=citizen.pin, reason="birth_year_corrected",
                                     birth_date=corrected)
    tools = life_events.Tools(rng=random.Random(f"{ctx.seed}/pin-reestablished"), pki=ctx.pki)
    life_events.record(session, "pin-reestablishments", body, actor="generator", tools=tools,
                       handler=KINDS["pin-reestablishments"].handler, now=ctx.now)
    return citizen.pin


def _document_shape(key: str) -> Callable[[Session, Citizen, Context], str]:
    """Pick, among the citizens the persona wants, one holding the document, and change it."""
    def shape(session: Session, citizen: Citizen, ctx: Context) -> str:
        from app.services.documents import personas as documents_personas

        taken = _taken(session)
        candidates = [pin for pin in _candidates(session, Want(), ctx.today) if pin not in taken]
        return documents_personas.shape(session, citizen, ctx, key=key, candidates=candidates)
    return shape


def _born_abroad() -> ColumnElement[bool]:
    return Citizen.birth_registration_place.in_(sorted(pin_rules.FOREIGN_CODES - {"000"}))


def _kinh() -> ColumnElement[bool]:
    return Citizen.ethnicity_code == 1


def _ede() -> ColumnElement[bool]:
    return Citizen.ethnicity_code.in_(EDE_NAMING)


def _minority() -> ColumnElement[bool]:
    return Citizen.ethnicity_code.in_(MINORITY_NAMING)


# --- the catalogue --------------------------------------------------------------------------------

ACCESS_DENIED = "access_denied"
SPECS: tuple[Spec, ...] = (
    Spec("valid-adult-level2", "Adult with a valid card and an active level-2 VNeID account",
         Outcomes(), account_persona="citizen-l2"),
    Spec("level1-only", "Active level-1 account only: LoA2 is refused",
         Outcomes(login="LoA1"), account_persona="citizen-l1",
         notes="acr_values=LoA2 → unmet_authentication_requirements"),
    Spec("minor-under-14", "Child aged 6 to 13 holding a card (issued on request), no account",
         Outcomes(login=ACCESS_DENIED), wants=(Want(min_age=6, max_age=13, account="none"),),
         notes="ages follow the sandbox clock: the record's birth date makes them under 14"),
    Spec("child-under-6-no-photo", "Child under 6 with a card that has no photo (no DG2)",
         Outcomes(login=ACCESS_DENIED), wants=(Want(min_age=0, max_age=5, account="none"),),
         notes="the card images and the chip carry no portrait"),
    Spec("elderly-card-for-life", "Citizen over 60 whose card never expires (issued at 58+)",
         Outcomes(), wants=(Want(min_age=62, max_age=85, card="for-life"),),
         notes="expiry printed 'Không thời hạn', MRZ 991231"),
    Spec("deceased", "Deceased citizen: cards revoked at death, account closed",
         Outcomes(lookup="deceased", chip=("db.card_status:card_revoked",
                                           "db.holder_alive:holder_deceased"),
                  login=ACCESS_DENIED), card_persona="deceased-holder"),
    Spec("missing", "Citizen declared missing: card still active, account locked",
         Outcomes(lookup="missing", chip=("db.holder_alive:holder_missing",), login=ACCESS_DENIED),
         wants=(Want(status="missing", min_age=18, max_age=90, card="any"),
                Want(min_age=30, max_age=70, where=(_kinh,))),
         lock_reason="authority", shape=_declare_missing),
    Spec("card-expired", "Card past its expiry date, not renewed; account locked (card expired)",
         Outcomes(chip=("card.expiry:document_expired", "db.card_status:card_expired"),
                  login=ACCESS_DENIED), card_persona="expired-card", lock_reason="card_expired"),
    Spec("card-lost", "Card reported lost: the chip fails, the VNeID login still works",
         Outcomes(chip=("db.card_status:card_lost",)), card_persona="lost-card"),
    Spec("card-revoked", "Card revoked by an authority; account locked (card revoked)",
         Outcomes(chip=("db.card_status:card_revoked",), login=ACCESS_DENIED),
         card_persona="revoked-card", lock_reason="card_revoked"),
    Spec("cloned-chip", "Cloned chip: genuine data, active authentication fails",
         Outcomes(chip=("chip.active_auth:bad_signature",)), card_persona="cloned-chip",
         notes="send an active-authentication challenge: without one the read passes"),
    Spec("account-locked", "VNeID account locked at the citizen's request",
         Outcomes(login=ACCESS_DENIED), account_persona="locked-self"),
    Spec("no-account", "Adult with a valid card who never opened a VNeID account",
         Outcomes(login=ACCESS_DENIED), wants=(Want(account="none"),)),
    Spec("born-abroad", "Born abroad: the PIN starts with a foreign-registration code (101-295)",
         Outcomes(), wants=(Want(min_age=14, max_age=80, where=(_born_abroad,)),
                     Want(min_age=14, max_age=80, card="any", where=(_born_abroad,)))),
    Spec("rare-diacritics-two-middle-names",
         "Two middle names and rare letters (Ỷ, ữ, ẩ): NFC everywhere, MRZ transliterated",
         Outcomes(), wants=(Want(where=(_kinh,)),), shape=_rename),
    Spec("ethnic-minority-name", "Ethnic-minority naming (Ê-đê where the population has one: "
         "the clan is the family name, H'/Y opens the given name)", Outcomes(),
         wants=(Want(min_age=18, max_age=70, where=(_ede,)),
                Want(min_age=18, max_age=70, where=(_minority,)))),
    Spec("pin-reestablished", "PIN cancelled and re-established: the old PIN answers the new "
         "record, the old card is revoked, the account locked",
         Outcomes(chip=("db.card_status:card_revoked", "db.holder_alive:holder_replaced"),
                  login=ACCESS_DENIED),
         wants=(Want(min_age=25, max_age=50, where=(_kinh,)),), shape=_reestablish,
         notes="pin is the cancelled number, current_pin the new one"),
    # Fault personas: any channel's request naming them answers the fault (sandbox clients).
    Spec("fault-slow", "Every request about this citizen is delayed by 2 s (sandbox clients)",
         Outcomes(fault="latency=2s"), wants=(Want(where=(_kinh,)),)),
    Spec("fault-timeout", "Every request about this citizen times out (504 after 30 s)",
         Outcomes(fault="timeout"), wants=(Want(where=(_kinh,)),)),
    Spec("fault-unavailable", "Every request about this citizen answers 503 service-unavailable",
         Outcomes(fault="status=503"), wants=(Want(where=(_kinh,)),)),
    Spec("fault-rate-limited", "Every request about this citizen answers 429 with Retry-After",
         Outcomes(fault="status=429"), wants=(Want(where=(_kinh,)),)),
    # Chip personas, picked last (adding them moved no other persona): every channel passes;
    # the chip over APDUs answers as a difficult chip does.
    Spec("chip-slow", "Chip answering each APDU 250 ms late (over APDUs; the JSON read is "
         "not delayed)", Outcomes(), card_persona="chip-slow",
         notes="POST /v1/cards/{pin}/chip/apdu reports delay_ms 250 per APDU and waits that long"),
    Spec("chip-torn-read", "Chip tearing once: the first protected READ BINARY at an offset "
         "returns half the bytes asked", Outcomes(), card_persona="chip-torn-read",
         notes="a reader must resume at the offset it reached"),
    Spec("chip-broken-sm-mac", "Chip whose secure-messaging responses carry a wrong MAC (DO'8E)",
         Outcomes(), card_persona="chip-broken-sm-mac",
         notes="a reader must reject every protected response"),
    Spec("chip-bac-only", "Chip without EF.CardAccess: BAC only, PACE refused", Outcomes(),
         card_persona="chip-bac-only", notes="SELECT 011C answers 6A82, MSE:Set AT 6A80"),
    Spec("chip-pace-only", "Chip refusing BAC (MUTUAL AUTHENTICATE answers 6D00): PACE only",
         Outcomes(), card_persona="chip-pace-only"),
    # Document personas, picked after the others (adding them moved no other persona): every
    # channel passes; one integrated document is in the state the key names (docs/documents.md).
    Spec("licence-expired", "Driving licence past its expiry date, not renewed (documents: "
         "driving_licence expired)", Outcomes(), shape=_document_shape("licence-expired"),
         document=("driving_licence", "expired", "not_renewed"),
         notes="valid_to 45 days before the population's day"),
    Spec("licence-no-points", "Driving licence with all 12 points deducted: suspended until the "
         "knowledge test (documents: driving_licence suspended)", Outcomes(),
         shape=_document_shape("licence-no-points"),
         document=("driving_licence", "suspended", "no_points_left"),
         notes="knowledge_test_from is 6 months after the deduction (Law 36/2024 Art. 58)"),
    Spec("health-insurance-suspended", "Health-insurance card suspended for contribution arrears "
         "(documents: health_insurance suspended)", Outcomes(),
         shape=_document_shape("health-insurance-suspended"),
         document=("health_insurance", "suspended", "contribution_arrears"),
         notes="the hospital check answers valid false"),
    # Criminal-record certificate personas (docs/documents.md), picked after the chip ones.
    Spec(judicial_records.PENDING_PERSONA, "Criminal-record certificate request held in "
         "checking (a verification that never answers)", Outcomes(),
         shape=judicial_records.shape_pending,
         notes="every request stays checking until POST /v1/sandbox/judicial-records/{id}/advance"),
    Spec(judicial_records.REJECTED_PERSONA, "Criminal-record certificate request rejected "
         "(outside-competence, Law on Judicial Records Art. 49)", Outcomes(),
         shape=judicial_records.shape_rejected, notes="every request of theirs is rejected"),
    Spec(judicial_records.CLEAN_PERSONA, "Clean judicial record: certificate No. 1 delivered "
         "to VNeID ('Không có án tích')", Outcomes(), shape=judicial_records.shape_clean),
    Spec(judicial_records.CONVICTIONS_PERSONA, "Judicial record with two synthetic convictions "
         "(one expunged): No. 2 shows both, No. 1 the current one", Outcomes(),
         wants=(Want(min_age=35, max_age=55),), shape=judicial_records.shape_convictions,
         notes="requests take 15 days (expungement verified)"),
)
KEYS = tuple(spec.key for spec in SPECS)
CHIP_PERSONA_KEYS = frozenset(p.key for p in failure_cards.CHIP_PERSONAS)
FAULT_KEYS = tuple(spec.key for spec in SPECS if spec.outcomes.fault)


def spec_of(key: str) -> Spec | None:
    return next((spec for spec in SPECS if spec.key == key), None)


# --- picking --------------------------------------------------------------------------------------


def _latest_card() -> Any:
    other = aliased(Card)
    return ~select(other.id).where(other.pin == Card.pin, other.sequence > Card.sequence).exists()


def _lives_where_the_card_says() -> ColumnElement[bool]:
    """No permanent residence in force registered after the card's issue date: a card of a
    citizen who moved since prints the old address, and the chip verification warns
    ``residence_changed`` (a persona of its own, not a clean one)."""
    return ~select(Residence.id).where(
        Residence.pin == Card.pin, Residence.kind == "permanent",
        Residence.deregistered_on.is_(None), Residence.registered_on > Card.issue_date).exists()


def _card_condition(kind: str, today: date) -> list[ColumnElement[bool]]:
    holders = select(Card.pin).where(_latest_card(), Card.persona.is_(None),
                                     _lives_where_the_card_says())
    valid = [Card.status == "active"]
    if kind == "none":
        return [Citizen.pin.not_in(select(Card.pin))]
    if kind == "for-life":
        return [Citizen.pin.in_(holders.where(*valid, Card.expiry_date.is_(None)))]
    if kind == "valid":
        far = date(today.year + 3, 1, 1)  # still valid when the clock is moved a little
        return [Citizen.pin.in_(holders.where(*valid, (Card.expiry_date.is_(None))
                                              | (Card.expiry_date >= far)))]
    return []


def _taken(session: Session) -> set[str]:
    marked = [select(Card.pin).where(Card.persona.is_not(None)),
              select(Account.pin).where(Account.persona.is_not(None)),
              select(SandboxPersona.pin)]
    return {pin for query in marked for pin in session.scalars(query)}


def _candidates(session: Session, want: Want, today: date) -> list[str]:
    youngest = date(today.year - want.min_age, today.month, min(today.day, 28))
    oldest = date(today.year - want.max_age - 1, today.month, min(today.day, 28))
    query = select(Citizen.pin).where(Citizen.status == want.status,
                                      Citizen.birth_date <= youngest, Citizen.birth_date > oldest,
                                      *_card_condition(want.card, today),
                                      *(condition() for condition in want.where))
    if want.account == "none":
        query = query.where(Citizen.pin.not_in(select(Account.pin)))
    return list(session.scalars(query.order_by(Citizen.pin).limit(CANDIDATES)))


def _pick(session: Session, spec: Spec, ctx: Context) -> Citizen | None:
    taken = _taken(session)
    for want in spec.wants:
        found = [pin for pin in _candidates(session, want, ctx.today) if pin not in taken]
        if found:
            best = min(found, key=lambda pin: failure_cards.draw(ctx.seed, spec.key, pin))
            return session.get(Citizen, best)
    return None


def _alias_pin(session: Session, spec: Spec, ctx: Context) -> str | None:
    if spec.card_persona in CHIP_PERSONA_KEYS:
        return failure_cards.ensure_chip_persona(session, spec.card_persona, seed=ctx.seed,
                                                  now=ctx.now, taken=frozenset(_taken(session)))
    if spec.card_persona:
        return session.scalar(select(Card.pin).where(Card.persona == spec.card_persona))
    return session.scalar(select(Account.pin).where(Account.persona == spec.account_persona))


# --- making every channel agree -------------------------------------------------------------------


def _open_login(session: Session, pin: str, ctx: Context) -> None:
    """An active level-2 account with the sandbox secrets (opened, activated or unlocked)."""
    account = accounts.find(session, pin)
    if account is None:
        account = accounts.create(session, accounts.NewAccount(
            pin=pin, level=2, password=account_generation.SANDBOX_PASSWORD,
            passcode=account_generation.SANDBOX_PASSCODE), now=ctx.now, actor="generator")
    if account.state == accounts.PENDING:
        accounts.activate(session, account, now=ctx.now, actor="generator")
    if account.state == accounts.LOCKED:
        accounts.unlock(session, account, now=ctx.now, actor="generator",
                        reasons=account.lock_reasons)
    if account.level < 2:
        accounts.upgrade(session, account, now=ctx.now, actor="generator")


def _refuse_login(session: Session, pin: str, reason: str | None, ctx: Context) -> None:
    account = accounts.find(session, pin)
    if account is not None and account.state == accounts.ACTIVE:
        accounts.lock(session, account, reason=reason or "authority", now=ctx.now,
                      actor="generator")


def _valid_card(session: Session, pin: str, ctx: Context) -> None:
    """A card that reads and verifies: issued (or renewed) when the citizen has none."""
    if cards.card_is_valid(session, pin, ctx.now):
        return
    latest = next(iter(cards.cards_of(session, pin)), None)
    at = min(ctx.issue_at or ctx.now, ctx.now)  # like the generated cards: by the population's day
    try:
        if latest is not None and cards.effective_status(latest, ctx.today) == "expired":
            cards.renew(session, pin, pki=ctx.pki(), change=cards.Change(
                now=at, actor="generator", reason="renewal_age"))
        else:
            cards.issue(session, pin, pki=ctx.pki(), change=cards.Change(
                now=at, actor="generator", reason="first_issue"))
    except DomainError as refused:
        log.warning("no card could be issued for a persona: %s", refused.code)


def _agree(session: Session, spec: Spec, pin: str, ctx: Context) -> None:
    login, chip_outcome = spec.outcomes.login, spec.outcomes.chip
    if chip_outcome == ("pass",):
        _valid_card(session, pin, ctx)
    if login == "LoA2":
        _open_login(session, pin, ctx)
    elif login == ACCESS_DENIED and spec.shape is None:
        _refuse_login(session, pin, spec.lock_reason, ctx)
    session.flush()


def _make(session: Session, spec: Spec, ctx: Context) -> str | None:
    if spec.card_persona or spec.account_persona:
        pin = _alias_pin(session, spec, ctx)
    else:
        citizen = _pick(session, spec, ctx)
        pin = None if citizen is None else (
            spec.shape(session, citizen, ctx) if spec.shape else citizen.pin)
    if pin is not None:
        _agree(session, spec, pin, ctx)
    return pin


def ensure_personas(session: Session, ctx: Context) -> list[str]:
    """Record (and shape) every persona not recorded yet; the keys made now."""
    present = set(session.scalars(select(SandboxPersona.key)))
    made = []
    for spec in SPECS:
        if spec.key in present:
            continue
        pin = _make(session, spec, ctx)
        if pin is None:
            log.warning("no citizen fits the %s persona in this population", spec.key)
            continue
        session.add(SandboxPersona(key=spec.key, pin=pin, created_at=ctx.now))
        session.flush()
        made.append(spec.key)
    return made


def recorded(session: Session) -> dict[str, str]:
    """Persona key -> PIN, in catalogue order."""
    found = dict(session.execute(select(SandboxPersona.key, SandboxPersona.pin)).all())
    return {key: found[key] for key in KEYS if key in found}


def fault_pins(session: Session) -> dict[str, str]:
    """PIN -> fault, and persona key -> fault (a key named in ``X-Sandbox-Login``), for the
    fault personas (what the fault middleware watches for)."""
    pins = recorded(session)
    faults_of = {key: spec.outcomes.fault for key in FAULT_KEYS
                 if key in pins and (spec := spec_of(key)) and spec.outcomes.fault}
    return {**{pins[key]: fault for key, fault in faults_of.items()}, **faults_of}


# --- the catalogue as the API gives it ------------------------------------------------------------

REQUESTS = {
    "lookup": "GET /v1/citizens/{pin} (scope citizen.basic)",
    "verification": "POST /v1/citizens/verify {pin, full_name, birth_date} (scope citizen.verify)",
    "chip": "GET /v1/cards/{pin}, GET /v1/cards/{pin}/chip (X-Chip-Access-Key), "
            "POST /v1/cards/verify (scopes card.read, card.verify)",
    "login": "GET /oauth2/authorize with X-Sandbox-Login: {pin} (a sandbox client)",
}
FAULT_ANSWERS = {  # what a fault persona's requests answer, per channel (see faults.py)
    "status=503": {"http_status": 503, "problem": "service-unavailable"},
    "status=429": {"http_status": 429, "problem": "rate-limited"},
    "timeout": {"http_status": 504, "problem": "timeout"},
}


def _chip_expectation(chip_outcome: tuple[str, ...]) -> dict[str, Any]:
    if chip_outcome == ("pass",):
        return {"http_status": 200, "verdict": "pass"}
    if chip_outcome == ("no-card",):
        return {"http_status": 404, "problem": "card-not-found"}
    return {"http_status": 200, "verdict": "fail", "failing": list(chip_outcome)}


def expectations(outcomes: Outcomes) -> dict[str, dict[str, Any]]:
    """Per channel: what the response must show (the tests compare these fields)."""
    if outcomes.fault in FAULT_ANSWERS:
        answer = FAULT_ANSWERS[outcomes.fault]
        login = {"result": "http", "http_status": answer["http_status"]}
        return {"lookup": answer, "verification": answer, "chip": answer, "login": login}
    login = ({"result": "code", "acr": outcomes.login} if outcomes.login.startswith("LoA")
             else {"result": "error", "error": outcomes.login})
    found = {"http_status": 200, "status": outcomes.lookup}
    channels = {"lookup": found, "verification": {**found, "verdict": outcomes.verification},
                "chip": _chip_expectation(outcomes.chip), "login": login}
    if outcomes.fault and outcomes.fault.startswith("latency="):
        delay = {"delay_ms": faults.parse(outcomes.fault).latency_ms}
        channels = {channel: {**expected, **delay} for channel, expected in channels.items()}
    return channels


def _card_details(session: Session, pin: str, today: date) -> dict[str, Any] | None:
    from app.services.cards import chip
    from app.services.cards.holder import card_content

    card = next(iter(cards.cards_of(session, pin)), None)
    if card is None:
        return None
    content = card_content(session, card)
    return {"sequence": card.sequence, "generation": card.generation,
            "status": cards.effective_status(card, today), "expiry_date": card.expiry_date,
            "mrz": list(content.td1.lines), "access_key": chip.access_key(content),
            "card_persona": card.persona}


def _login_details(session: Session, pin: str, settings: Settings) -> dict[str, Any] | None:
    account = accounts.find(session, pin)
    if account is None:
        return None
    device = (account_generation.persona_device_token(settings, account.persona)
              if account.persona and (spec := account_generation.persona(account.persona))
              and spec.device else None)
    return {"state": account.state, "level": account.level, "lock_reasons": account.lock_reasons,
            "password": account_generation.SANDBOX_PASSWORD,
            "passcode": account_generation.SANDBOX_PASSCODE, "device_token": device,
            "account_persona": account.persona}


def describe(session: Session, spec: Spec, pin: str, *, now: datetime,
             settings: Settings) -> dict[str, Any]:
    """One persona as ``GET /v1/sandbox/personas`` lists it."""
    from app.services.events.identity import successor

    current = successor(session, pin) or pin
    citizen = session.get(Citizen, current)
    today = local_date(now)
    return {
        "key": spec.key, "title": spec.title, "notes": spec.notes or None, "pin": pin,
        "current_pin": current, "fault": spec.outcomes.fault,
        "same_as": spec.card_persona and f"card persona {spec.card_persona}"
        or spec.account_persona and f"account persona {spec.account_persona}" or None,
        "full_name": citizen and " ".join(p for p in (citizen.surname, citizen.middle_name,
                                                      citizen.given_name) if p),
        "birth_date": citizen and citizen.birth_date, "sex": citizen and citizen.sex,
        "status": citizen and citizen.status,
        "card": _card_details(session, pin, today),
        "vneid": _login_details(session, current, settings),
        "expected": {channel: {"request": REQUESTS[channel], **expected}
                     for channel, expected in expectations(spec.outcomes).items()},
        "document": spec.document and {
            "request": f"GET /v1/citizens/{{pin}}/documents/{spec.document[0]} (scope "
                       f"document.{spec.document[0]}) or GET /v1/me/documents",
            "kind": spec.document[0], "status": spec.document[1], "reason": spec.document[2]},
    }


def catalogue(session: Session, *, now: datetime, settings: Settings) -> list[dict[str, Any]]:
    return [describe(session, spec, pin, now=now, settings=settings)
            for key, pin in recorded(session).items() if (spec := spec_of(key))]


def context(database: Any, settings: Any, *, now: datetime) -> Context:
    """The :class:`Context` of a deployment: its seed, the card PKI (built only if needed) and the
    population's reference day, when the cards a persona needs are issued."""
    from app.services.cards.pki import card_pki
    from seed.reference import reference_date_of

    day = reference_date_of(database, local_date(now))
    issue_at = datetime(day.year, day.month, day.day, 3, tzinfo=UTC)  # 10:00 in Vietnam
    return Context(seed=settings.seed, now=now, issue_at=issue_at, pki=lambda: card_pki(
        database, seed=settings.seed, key_type=settings.pki_key_type, now=now))


def outcome_text(channel: str, expected: dict[str, Any], *, markdown: bool = False) -> str:
    """One channel's expected outcome in words: plain for the CLI and the console, with code
    spans (``markdown=True``) as docs/personas.md prints it."""
    def code(name: object) -> str:
        return f"`{name}`" if markdown else str(name)

    if "problem" in expected:
        text = f"{expected['http_status']} {code(expected['problem'])}"
    elif channel == "login":
        text = {"code": f"code, acr {code(expected.get('acr'))}",
                "error": code(expected.get("error")),
                "http": f"HTTP {expected.get('http_status')}"}[expected["result"]]
    elif channel == "chip":
        text = "pass" if expected["verdict"] == "pass" else "fail: " + ", ".join(
            code(step) for step in expected["failing"])
    elif channel == "verification":
        text = f"{code(expected['verdict'])} ({expected['status']})"
    else:
        text = f"200 {code(expected['status'])}"
    return text + (f" after {expected['delay_ms']} ms" if expected.get("delay_ms") else "")


def document_table() -> str:
    """The document-persona table of docs/personas.md (the tests check the page against it)."""
    lines = ["| document | persona | status | status_reason |", "|---|---|---|---|"]
    lines += [f"| `{spec.document[0]}` | `{spec.key}` | `{spec.document[1]}` | "
              f"`{spec.document[2]}` |" for spec in SPECS if spec.document]
    return "\n".join(lines)


def markdown_table() -> str:
    """The persona table of docs/personas.md (the tests check the page against it)."""
    lines = ["| persona | case | lookup | verification | chip | login |",
             "|---|---|---|---|---|---|"]
    for spec in SPECS:
        cells = [outcome_text(channel, expected, markdown=True)
                 for channel, expected in expectations(spec.outcomes).items()]
        lines.append(f"| `{spec.key}` | {spec.title} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
