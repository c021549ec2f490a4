"""Verification of a chip read for relying parties: passive and active authentication
(``app.icao.passive_auth``) against the test PKI, then a cross-check with the population database.

The read comes as base64 text (the files of ``GET /v1/cards/{pin}/chip``). Nothing in it can make
the service fail: undecodable text is an ``input.decode`` step, bad ASN.1 or algorithms are failed
library steps. The database steps only run on data the SOD vouches for: when the SOD, its
signature, the DSC chain and the hashes of the data groups they read (DG1, and DG13 when given)
passed; otherwise they are skipped with ``untrusted_data``.

Database steps (status ``pass``, ``fail``, ``warn`` or ``skipped``):

``db.card_status``
    the card the chip belongs to (PIN, expiry and issue date) is on record and valid:
    ``unknown_card``, ``card_lost``, ``card_revoked``, ``card_replaced``, ``card_held``,
    ``card_expired``.
``db.holder_alive``
    the holder is alive: ``unknown_holder``, ``holder_deceased``, ``holder_missing``.
``db.data_current``
    the identity on the chip is still the recorded one: ``data_changed`` (name, date of birth or
    sex differ: a fail) or ``residence_changed`` (moved since issue: a warning, the card stays
    valid).
"""

from __future__ import annotations

import base64
import binascii
import re
from collections import namedtuple
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import Connection, bindparam, select
from sqlalchemy.orm import Session

from app.icao.chip import derive_active_authentication_key
from app.icao.dg13 import PersonalDetails, parse_dg13
from app.icao.errors import IcaoError
from app.icao.keys import public_key_der
from app.icao.lds import parse_dg1, parse_dg15
from app.icao.mrz import Td1, name_line
from app.icao.passive_auth import StepResult, VerificationReport, verify
from app.models.card import Card
from app.models.population import Citizen, Residence
from app.prepared import Prepared
from app.services.cards.holder import in_force
from app.services.cards.issuance import effective_status, local_date
from app.services.cards.pki import CardPki, pki_seed
from app.services.population.citizens import full_name

SOD_NAME = "EF.SOD"
IGNORED_FILES = ("EF.COM",)  # not hashed into the SOD: nothing to verify
_URL_SAFE = str.maketrans("-_", "+/")  # URL-safe base64 read as standard
_HEX_CHALLENGE = re.compile(r"[0-9a-fA-F]{16}")
_TRUSTED_FIRST = ("sod.parse", "sod.signed_attrs", "sod.signature", "dsc.chain")


@dataclass(frozen=True)
class Step:
    """One reported step (``warn`` exists only for database steps)."""

    code: str
    status: str
    reason: str | None = None
    detail: str = ""
    subject: str | None = None

    @classmethod
    def of(cls, step: StepResult) -> Step:
        return cls(step.code, step.status, step.reason, step.detail, step.subject)


@dataclass(frozen=True)
class ChipRead:
    """A chip read as sent: base64 files by name, optional active-authentication exchange."""

    files: Mapping[str, str]
    challenge: str | None = None
    response: str | None = None


@dataclass(frozen=True)
class Verification:
    steps: tuple[Step, ...]
    report: VerificationReport
    pin: str | None = None

    @property
    def verdict(self) -> str:
        return "fail" if any(step.status == "fail" for step in self.steps) else "pass"

    def _reasons(self, status: str) -> list[str]:
        found = (s.reason for s in self.steps if s.status == status and s.reason)
        return list(dict.fromkeys(found))

    @property
    def reasons(self) -> list[str]:
        return self._reasons("fail")

    @property
    def warnings(self) -> list[str]:
        return self._reasons("warn")


# --- decoding -------------------------------------------------------------------------------------


def decode_base64(text: str) -> bytes | None:
    """Standard or URL-safe base64, padding optional; ``None`` when it is not base64."""
    compact = text.strip()
    padded = compact + "=" * (-len(compact) % 4)
    if "-" in padded or "_" in padded:  # translating costs more than looking
        padded = padded.translate(_URL_SAFE)
    try:
        return base64.b64decode(padded, validate=True)
    except (binascii.Error, ValueError):
        return None


def decode_challenge(text: str) -> bytes | None:
    """16 hex digits, else base64."""
    return bytes.fromhex(text) if _HEX_CHALLENGE.fullmatch(text.strip()) else decode_base64(text)


def _bad(subject: str, reason: str, detail: str) -> Step:
    return Step("input.decode", "fail", reason, detail, subject)


@dataclass
class _Decoded:
    sod: bytes = b""
    groups: dict[str, bytes] = field(default_factory=dict)
    challenge: bytes | None = None
    response: bytes | None = None
    problems: list[Step] = field(default_factory=list)


def _decode_files(read: ChipRead, out: _Decoded) -> None:
    if SOD_NAME not in read.files:
        out.problems.append(_bad(SOD_NAME, "missing", "EF.SOD was not supplied"))
    for name, text in read.files.items():
        if name in IGNORED_FILES:
            continue
        data = decode_base64(text)
        if data is None:
            out.problems.append(_bad(name, "bad_base64", "the file is not base64"))
        elif name == SOD_NAME:
            out.sod = data
        else:
            out.groups[name] = data


def _decode_exchange(read: ChipRead, out: _Decoded) -> None:
    for subject, text in (("aa.challenge", read.challenge), ("aa.response", read.response)):
        if text is None:
            continue
        data = decode_challenge(text) if subject == "aa.challenge" else decode_base64(text)
        if data is None:
            out.problems.append(_bad(subject, "bad_encoding", "neither hex nor base64"))
        elif subject == "aa.challenge":
            out.challenge = data
        else:
            out.response = data


def decode(read: ChipRead) -> _Decoded:
    out = _Decoded()
    _decode_files(read, out)
    _decode_exchange(read, out)
    return out


# --- database cross-check -------------------------------------------------------------------------


def _passed(report: VerificationReport, code: str, subject: str | None = None) -> bool:
    step = report.step(code, subject)
    return step is not None and step.status == "pass"


def _trusted(report: VerificationReport, groups: Mapping[str, bytes]) -> bool:
    needed = [("dg.hash", "DG1")] + ([("dg.hash", "DG13")] if _has(groups, 13) else [])
    return all(_passed(report, code) for code in _TRUSTED_FIRST) and all(
        _passed(report, code, subject) for code, subject in needed)


def _has(groups: Mapping[str, bytes], number: int) -> bool:
    return any(name.upper().removeprefix("DG") == str(number) for name in groups)


def _group(groups: Mapping[str, bytes], number: int) -> bytes | None:
    return next((data for name, data in groups.items()
                 if name.upper().removeprefix("DG") == str(number)), None)


@dataclass(frozen=True)
class _ReadIdentity:
    td1: Td1
    details: PersonalDetails | None


def _identity(groups: Mapping[str, bytes]) -> _ReadIdentity | None:
    dg1, dg13 = _group(groups, 1), _group(groups, 13)
    try:
        td1 = parse_dg1(dg1) if dg1 is not None else None
        details = parse_dg13(dg13) if dg13 is not None else None
    except IcaoError:
        return None
    return _ReadIdentity(td1, details) if td1 is not None else None


def _skipped_db(reason: str, detail: str) -> list[Step]:
    return [Step(code, "skipped", reason, detail)
            for code in ("db.card_status", "db.holder_alive", "db.data_current")]


@dataclass(frozen=True)
class _ReadChip:
    """What identifies the physical card a read came from, beyond its printed data."""

    identity: _ReadIdentity
    active_auth_key: bytes | None  # DER of the DG15 key, when DG15 was read and vouched for
    signing_time: datetime | None


@lru_cache(maxsize=256)
def _chip_key(seed: int, chip_key_ref: str) -> bytes:
    """DER of the DG15 key of the chip ``chip_key_ref``: a derivation, cached for the cards
    verified last (a relying party verifying the same card again in one session), not for a
    population: bench/edge.py cycles through more cards than this holds."""
    return public_key_der(derive_active_authentication_key(pki_seed(seed), chip_key_ref))


# Only the columns the steps need (no ORM objects: this runs for every verification).
_CARD_COLUMNS = (Card.sequence, Card.status, Card.expiry_date, Card.issue_date, Card.signed_at,
                 Card.chip_key_ref)
_HOLDER_COLUMNS = (Citizen.status, Citizen.surname, Citizen.middle_name, Citizen.given_name,
                   Citizen.ethnicity_code, Citizen.birth_date, Citizen.birth_date_precision,
                   Citizen.sex)
_RESIDENCE_COLUMNS = (Residence.id, Residence.kind, Residence.registered_on,
                      Residence.deregistered_on)


# Compiled once per dialect and run on the driver's cursor (app.prepared: SQLAlchemy's
# Connection.execute cost ~40 us of machinery per query, for ~10 us of SQLite's own work).
_CARDS = Prepared(select(*_CARD_COLUMNS).where(Card.pin == bindparam("pin"))
                  .order_by(Card.sequence.desc()))
_HOLDER = Prepared(select(*_HOLDER_COLUMNS).where(Citizen.pin == bindparam("pin")))
_RESIDENCES = Prepared(select(*_RESIDENCE_COLUMNS).where(Residence.pin == bindparam("pin"))
                       .order_by(Residence.registered_on.desc()))
# The holder and their cards in one statement: a row per card (one row with no card columns when
# the citizen has none); none at all when no citizen has the PIN.
_HOLDER_AND_CARDS = Prepared(
    select(*(column.label(f"holder_{column.key}") for column in _HOLDER_COLUMNS), *_CARD_COLUMNS)
    .select_from(Citizen).outerjoin(Card, Card.pin == Citizen.pin)
    .where(Citizen.pin == bindparam("pin")).order_by(Card.sequence.desc()))
_HolderRow = namedtuple("_HolderRow", [column.key for column in _HOLDER_COLUMNS])  # type: ignore[misc]
_CardRow = namedtuple("_CardRow", [column.key for column in _CARD_COLUMNS])  # type: ignore[misc]


Reader = Session | Connection
"""Where the database steps read: an ORM session's transaction or a connection's."""

# Rows of the column-only queries (attribute access by column name).
CardRow = Any
HolderRow = Any


# Prepared statements on the session's connection: the ORM session's execute() costs twice the
# query, and Connection.execute's machinery as much again.
def _cards(connection: Connection, pin: str) -> Sequence[CardRow]:
    return _CARDS.all(connection, {"pin": pin})


def _holder(connection: Connection, pin: str) -> HolderRow | None:
    return _HOLDER.first(connection, {"pin": pin})


def _holder_and_cards(connection: Connection, pin: str) -> tuple[HolderRow | None,
                                                                 Sequence[CardRow]]:
    """What :func:`_holder` and :func:`_cards` answer, in one query (the cards newest first); when
    no citizen has the PIN, the cards are looked up on their own, as before."""
    rows = _HOLDER_AND_CARDS.all(connection, {"pin": pin})
    if not rows:
        return None, _cards(connection, pin)
    width = len(_HOLDER_COLUMNS)
    return _HolderRow(*rows[0][:width]), [_CardRow(*row[width:]) for row in rows
                                         if row[width] is not None]


def _matching_card(cards: Sequence[CardRow], read: _ReadChip, seed: int) -> CardRow | None:
    """The card the chip belongs to: by its DG15 key when read (two cards of one day share
    their printed data), else by expiry, issue date and signing time."""
    issued = read.identity.details.issue_date if read.identity.details else None
    signed = read.signing_time.replace(microsecond=0) if read.signing_time else None
    for card in cards:
        if read.active_auth_key is not None:
            if _chip_key(seed, card.chip_key_ref) == read.active_auth_key:
                return card
            continue
        card_signed = _utc(card.signed_at).replace(microsecond=0)
        if (card.expiry_date == read.identity.td1.expiry and issued in (None, card.issue_date)
                and signed in (None, card_signed)):
            return card
    return None


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _read_chip(report: VerificationReport, groups: Mapping[str, bytes],
               identity: _ReadIdentity) -> _ReadChip:
    dg15 = _group(groups, 15)
    key = None
    if dg15 is not None and _passed(report, "dg.hash", "DG15"):
        try:
            key = public_key_der(parse_dg15(dg15))
        except IcaoError:
            key = None
    return _ReadChip(identity, key, report.signing_time)


def _card_step(card: CardRow | None, now: datetime) -> Step:
    code = "db.card_status"
    if card is None:
        return Step(code, "fail", "unknown_card", "no card on record matches this chip")
    status = effective_status(card, local_date(now))
    if status == "active":
        return Step(code, "pass", None, f"card {card.sequence} of this number is active")
    return Step(code, "fail", f"card_{status}", f"the card is {status}")


def _holder_step(citizen: HolderRow | None) -> Step:
    code = "db.holder_alive"
    if citizen is None:
        return Step(code, "fail", "unknown_holder", "no citizen has this number")
    if citizen.status == "alive":
        return Step(code, "pass")
    return Step(code, "fail", f"holder_{citizen.status}", f"the holder is {citizen.status}")


def _changed_identity(identity: _ReadIdentity, citizen: HolderRow) -> list[str]:
    changed = []
    if identity.details is not None:
        if identity.details.full_name != full_name(citizen):
            changed.append("full_name")
    elif identity.td1.lines[2] != _name_line_of(citizen):
        changed.append("full_name")
    if (identity.td1.date_of_birth, identity.td1.birth_precision) != \
            (citizen.birth_date, citizen.birth_date_precision):
        changed.append("date_of_birth")
    if identity.td1.sex != citizen.sex:
        changed.append("sex")
    return changed


def _name_line_of(citizen: HolderRow) -> str:
    return name_line(surname=citizen.surname, middle_name=citizen.middle_name or "",
                     given_name=citizen.given_name)


def _moved(connection: Connection, card: CardRow | None, pin: str, now: datetime) -> bool:
    if card is None:
        return False
    rows = _RESIDENCES.all(connection, {"pin": pin})
    then, current = in_force(rows, card.issue_date), in_force(rows, local_date(now))
    return (then.id if then else None) != (current.id if current else None)


def _data_step(connection: Connection, identity: _ReadIdentity, card: CardRow | None,
               citizen: HolderRow | None, now: datetime) -> Step:
    code = "db.data_current"
    if citizen is None:
        return Step(code, "skipped", "previous_step_failed", "no citizen has this number")
    changed = _changed_identity(identity, citizen)
    if changed:
        return Step(code, "fail", "data_changed", "differs from the record: " + ", ".join(changed))
    if identity.details is not None and _moved(connection, card, identity.td1.pin, now):
        return Step(code, "warn", "residence_changed", "the holder has moved since the issue")
    return Step(code, "pass")


def _database_steps(reader: Reader, report: VerificationReport, groups: Mapping[str, bytes],
                    *, seed: int, now: datetime) -> tuple[list[Step], str | None]:
    if not _trusted(report, groups):
        return _skipped_db("untrusted_data", "the chip data is not vouched for by the SOD"), None
    identity = _identity(groups)
    if identity is None:
        return _skipped_db("not_read", "DG1 could not be read"), None
    connection = reader.connection() if isinstance(reader, Session) else reader
    citizen, cards = _holder_and_cards(connection, identity.td1.pin)
    card = _matching_card(cards, _read_chip(report, groups, identity), seed)
    steps = [_card_step(card, now), _holder_step(citizen),
             _data_step(connection, identity, card, citizen, now)]
    return steps, identity.td1.pin


def verify_read(reader: Reader, read: ChipRead, *, pki: CardPki, now: datetime) -> Verification:
    """Every step of verifying ``read`` at ``now`` (trust anchor: the test CSCA, CRL of the day),
    reading the database in ``reader``'s transaction (a session, or a connection: the queries are
    Core statements)."""
    decoded = decode(read)
    report = verify(decoded.sod, decoded.groups, trust_anchors=pki.trust_anchors,
                    crl=pki.crl_der(now), now=now, aa_challenge=decoded.challenge,
                    aa_response=decoded.response)
    database_steps, pin = _database_steps(reader, report, decoded.groups, seed=pki.seed, now=now)
    steps = (*decoded.problems, *(Step.of(s) for s in report.steps), *database_steps)
    return Verification(steps=steps, report=report, pin=pin)

