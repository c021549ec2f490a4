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
"""

from __future__ import annotations

import json
import os
import secrets
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
from app.services import cards, chip
from app.services.cards import CardNotFound
from app.services.cards_access import CardAccess
from app.services.cards_holder import card_content
from app.services.pki import CardPki

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


def open_session(session: Session, pin: str, *, sequence: int | None,
                 access: CardAccess) -> Opened | None:
    """A new session on the card (``None``, audited, when the PIN has no such card)."""
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
             pki: CardPki, access: CardAccess,
             random: Callable[[int], bytes] = os.urandom) -> Exchange:
    """The chip's response APDU to each command APDU, in order; the state is saved."""
    row, card = _live_session(session, pin, session_id, access)
    profile = profile_of(session, card, seed=seed, pki=pki)
    state = CardState.from_dict(json.loads(row.state))
    responses = []
    for raw in apdus:
        before = state.channel
        answer = process(profile, state, raw, random=random)
        opened = state.channel is not None and state.channel is not before
        _note_access_control(access, pin, raw, answer, opened=opened)
        responses.append(answer)
    row.state = json.dumps(state.to_dict())
    row.expires_at = access.now + IDLE
    return Exchange(responses, profile.faults.delay_ms * len(apdus), row.expires_at)


def _note_access_control(access: CardAccess, pin: str, raw: bytes, answer: bytes, *,
                         opened: bool) -> None:
    """Audit BAC and PACE outcomes like the JSON chip read's key check. The failed-key throttle
    of the chip reads belongs here too: a ``denied`` is a wrong MRZ key presented to the chip."""
    if len(raw) < 2 or raw[1] not in AUTHENTICATING:
        return
    if opened:
        access.record("chip_read", pin, "disclosed", ("chip",))
    elif apdu.split_response(answer)[1] == apdu.SW_AUTH_FAILED:
        access.record("chip_read", pin, "denied")


def close_session(session: Session, pin: str, session_id: str, *, access: CardAccess) -> None:
    row, _ = _live_session(session, pin, session_id, access)
    session.delete(row)
    session.flush()
