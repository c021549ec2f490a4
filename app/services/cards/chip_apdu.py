"""The chip over APDUs: a reader's session with a card's virtual chip (``app.icao.emulator``).

A session is opened on a card (the PIN's latest, or ``sequence``) by an authenticated client and
answers raw command APDUs in order, as the card in an NFC field would: SELECT, READ BINARY, BAC,
PACE, INTERNAL AUTHENTICATE under secure messaging. Its state (selected file, pending challenge,
session keys and counter) is a ``chip_session`` row, read ``FOR UPDATE`` on PostgreSQL for each
exchange: any worker of the service answers the next APDU, and two exchanges of one session never
interleave. A session lives :data:`IDLE` after its last exchange by the sandbox clock.

The card's files are the JSON chip read's (``chip.read_files``) plus EF.CardAccess announcing PACE
(``app.icao.pace.encode_card_access``: brainpoolP256r1), which the JSON read does not carry (it is
not in the SOD). The APDU-level personas change how the chip answers (:data:`APDU_PERSONAS`).

Audit: opening a session is ``chip_session``; an access control that succeeds (MUTUAL
AUTHENTICATE or PACE's last step) is ``chip_read`` ``disclosed``, one that fails ``chip_read``
``denied``, like the JSON chip read with a right or wrong key (:func:`_note_access_control`).

Throttle: a failed access control is a wrong MRZ key, counted against the JSON chip read's
counters (``cards_access.chip_checks``: per (client, card), per client) in the exchange's own
writing transaction (a second transaction would wait on SQLite for the writer lock this one
holds). While the client is locked out of the card (or of every card), opening a session and
sending APDUs are refused (429) whatever the key; a request that reaches the lockout stops before
its next authenticating APDU, so one request of many guesses gets no more of them than as many
requests would.
"""

from __future__ import annotations

import json
import os
import secrets
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from app.errors import NotFound, ValidationFailed
from app.icao import apdu, bac, pace
from app.icao.active_auth import PLAIN, aa_algorithm
from app.icao.dg14 import parse_dg14
from app.icao.emulator import CardProfile, CardState, Faults, files_by_id, process
from app.models.card import Card, ChipSession
from app.services.cards import chip
from app.services.cards import issuance as cards
from app.services.cards.access import CardAccess
from app.services.cards.holder import card_content
from app.services.cards.issuance import CardNotFound
from app.services.cards.pki import CardPki
from app.services.kit import throttle

IDLE = timedelta(minutes=5)
MAX_APDUS = 64
SLOW_DELAY_MS = 250
CARD_ACCESS_PARAMETER = 13  # brainpoolP256r1
ATR = bytes.fromhex("3B8880014D5254440000000006")  # PC/SC part 3: contactless, "MRTD"
APDU_PERSONAS: dict[str, Faults] = {
    "chip-slow": Faults(delay_ms=SLOW_DELAY_MS),
    "chip-torn-read": Faults(tear=True),
    "chip-broken-sm-mac": Faults(broken_mac=True),
}
BAC_ONLY, PACE_ONLY = "chip-bac-only", "chip-pace-only"
LIVE_PROFILES = 256  # chips kept built per process, one per open session
AUTHENTICATING = (0x82, 0x86)  # MUTUAL AUTHENTICATE, GENERAL AUTHENTICATE


class ChipSessionNotFound(NotFound):
    code, title = "chip-session-not-found", "No such chip session, or it has expired"


class InvalidApdu(ValidationFailed):
    code, title = "invalid-apdu", "An APDU must be hex of 4 to 65,544 bytes"


@dataclass(frozen=True)
class Opened:
    session_id: str
    sequence: int
    expires_at: datetime
    atr: bytes


@dataclass(frozen=True)
class Exchange:
    responses: list[bytes]
    delay_ms: int
    expires_at: datetime
    retry_after: int = 0  # locked out after wrong keys: the request is refused (429)


def decode_apdus(texts: Sequence[str]) -> list[bytes]:
    """The APDUs of a request (hex, spaces allowed); ``InvalidApdu`` otherwise."""
    decoded = []
    for text in texts:
        try:
            raw = bytes.fromhex(text.replace(" ", ""))
        except ValueError:
            raise InvalidApdu() from None
        if not 4 <= len(raw) <= 65544:
            raise InvalidApdu()
        decoded.append(raw)
    return decoded


def profile_of(session: Session, card: Card, *, seed: int, pki: CardPki) -> CardProfile:
    """What the card's chip is: its files, MRZ key seed, active-authentication key, personas."""
    content = card_content(session, card)
    files = dict(chip.read_files(chip.OpenedChip(card, content), seed=seed, pki=pki))
    if card.persona != BAC_ONLY:
        files["EF.CardAccess"] = pace.encode_card_access(CARD_ACCESS_PARAMETER)
    return CardProfile(files=files_by_id(files), mrz_hash=bac.mrz_hash(content.td1),
                       aa_key=chip.active_authentication_key(card, seed=seed),
                       aa_algorithm=_active_authentication_algorithm(files["DG14"]),
                       bac=card.persona != PACE_ONLY,
                       faults=APDU_PERSONAS.get(card.persona or "", Faults()))


def _active_authentication_algorithm(dg14: bytes) -> tuple[str, str]:
    """Hash and signature encoding DG14's ActiveAuthenticationInfo names (what a reader
    verifies with)."""
    oid = parse_dg14(dg14).active_authentication_algorithm
    return aa_algorithm(oid) if oid else ("sha256", PLAIN)


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)  # SQLite gives it back naive


def _refuse_if_locked(session: Session, checks: Sequence[throttle.Check], *, action: str,
                      pin: str, access: CardAccess) -> int:
    """Seconds the client stays locked out of the card (0: not locked; audited when it is)."""
    wait = throttle.locked(session, checks, now=access.now)
    if wait:
        access.record(action, pin, "locked")
    return wait


def open_session(session: Session, pin: str, *, sequence: int | None, access: CardAccess,
                 checks: Sequence[throttle.Check] = ()) -> Opened | None:
    """A new session on the card (``None``, audited, when the PIN has no such card);
    ``TooManyFailures`` while ``checks`` lock the client out of the card."""
    wait = _refuse_if_locked(session, checks, action="chip_session", pin=pin, access=access)
    if wait:
        raise throttle.too_many(wait)
    try:
        card = cards.find_card(session, pin, sequence)
    except CardNotFound:
        access.record("chip_session", pin, "not_found")
        return None
    session.execute(delete(ChipSession).where(ChipSession.expires_at < access.now))
    row = ChipSession(id=secrets.token_urlsafe(32), card_id=card.id, client_id=access.client_id,
                      state=json.dumps(CardState().to_dict()), created_at=access.now,
                      expires_at=access.now + IDLE)
    session.add(row)
    session.flush()
    access.record("chip_session", pin, "opened")
    return Opened(row.id, card.sequence, row.expires_at, ATR)


def _live_session(session: Session, pin: str, session_id: str,
                  access: CardAccess) -> tuple[ChipSession, Card]:
    row = session.scalar(select(ChipSession).where(ChipSession.id == session_id)
                         .with_for_update())
    card = None if row is None else session.get(Card, row.card_id)
    if (row is None or card is None or card.pin != pin or row.client_id != access.client_id
            or _aware(row.expires_at) <= access.now):
        raise ChipSessionNotFound()
    return row, card


def exchange(session: Session, pin: str, session_id: str, apdus: Sequence[bytes], *, seed: int,
             pki: CardPki, access: CardAccess, checks: Sequence[throttle.Check] = (),
             random: Callable[[int], bytes] = os.urandom) -> Exchange:
    """The chip's response APDU to each command APDU, in order; the state is saved. A wrong key
    counts one failure of each of ``checks`` in this transaction; while they lock the card or the
    client out, the exchange is refused (``retry_after``), the failures counted so far kept."""
    row, card = _live_session(session, pin, session_id, access)
    wait = _refuse_if_locked(session, checks, action="chip_read", pin=pin, access=access)
    if wait:
        return Exchange([], 0, _aware(row.expires_at), wait)
    profile = _SESSION_CHIPS.get(session_id, seed, lambda: profile_of(session, card, seed=seed,
                                                                          pki=pki))
    state = CardState.from_dict(json.loads(row.state))
    responses: list[bytes] = []
    failed = False
    for raw in apdus:
        if failed and _authenticating(raw):
            wait = _refuse_if_locked(session, checks, action="chip_read", pin=pin, access=access)
            if wait:
                break
        before = state.channel
        answer = process(profile, state, raw, random=random)
        opened = state.channel is not None and state.channel is not before
        if _note_access_control(access, pin, raw, answer, opened=opened):
            throttle.count_failure(session, checks, now=access.now)
            failed = True
        responses.append(answer)
    row.state = json.dumps(state.to_dict())
    row.expires_at = access.now + IDLE
    return Exchange(responses, profile.faults.delay_ms * len(responses), row.expires_at, wait)


class _SessionChips:
    """The chip of each open session, built once per process: building it (the card's content,
    its files and their signature) cost 30-50 times the APDUs of a request, and a chip's files do
    not change while it is in the field. Another process builds the same bytes again."""

    def __init__(self) -> None:
        self._built: OrderedDict[tuple[str, int], CardProfile] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, session_id: str, seed: int, build: Callable[[], CardProfile]) -> CardProfile:
        key = (session_id, seed)
        with self._lock:
            found = self._built.get(key)
            if found is not None:
                self._built.move_to_end(key)
                return found
        built = build()
        with self._lock:
            self._built[key] = built
            while len(self._built) > LIVE_PROFILES:
                self._built.popitem(last=False)
        return built


_SESSION_CHIPS = _SessionChips()


def _authenticating(raw: bytes) -> bool:
    return len(raw) >= 2 and raw[1] in AUTHENTICATING


def _note_access_control(access: CardAccess, pin: str, raw: bytes, answer: bytes, *,
                         opened: bool) -> bool:
    """Audit BAC and PACE outcomes like the JSON chip read's key check; ``True`` for a failure
    (a wrong MRZ key presented to the chip, which the chip-read throttle counts)."""
    if not _authenticating(raw):
        return False
    if opened:
        access.record("chip_read", pin, "disclosed", ("chip",))
    elif apdu.split_response(answer)[1] == apdu.SW_AUTH_FAILED:
        access.record("chip_read", pin, "denied")
        return True
    return False


def close_session(session: Session, pin: str, session_id: str, *, access: CardAccess) -> None:
    row, _ = _live_session(session, pin, session_id, access)
    session.delete(row)
    session.flush()
