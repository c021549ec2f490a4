"""The chip as a reader sees it: an ISO/IEC 7816-4 card running the eMRTD application (ICAO Doc 9303
Part 10 §3 and Part 11).

``process(profile, state, apdu)`` answers one command APDU. The :class:`CardProfile` is what the
card is (its files by file identifier, the SHA-1 of its MRZ information, its active-authentication
key, which protocols it offers and its failure personas); the :class:`CardState` is what the
conversation has done so far (selected application and file, the pending challenge, the secure
channel, PACE's progress). The state is plain data (``to_dict`` / ``from_dict``), so a transport
may keep it anywhere between two APDUs.

Commands: SELECT (``A4``: the application ``A0000002471001`` by name, the MF, an EF by file
identifier), READ BINARY (``B0`` with an offset or a short EF identifier; ``B1`` with DO'54
offsets), GET CHALLENGE (``84``), MUTUAL AUTHENTICATE (``82``, BAC), INTERNAL AUTHENTICATE (``88``,
active authentication), MSE:Set AT (``22``) and GENERAL AUTHENTICATE (``86``, PACE). Before access
control only EF.CardAccess (``011C``) and EF.ATR/INFO (``2F01``) may be read.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from app.icao import apdu, bac, pace, sm
from app.icao.active_auth import PLAIN, sign_challenge
from app.icao.algorithms import PrivateKey
from app.icao.apdu import Command
from app.icao.errors import IcaoError
from app.icao.tlv import encode_tlv

EMRTD_AID = bytes.fromhex("A0000002471001")
MF = 0x3F00
EF_CARD_ACCESS, EF_ATR_INFO, EF_COM, EF_SOD = 0x011C, 0x2F01, 0x011E, 0x011D
OPEN_FILES = frozenset({EF_CARD_ACCESS, EF_ATR_INFO})  # readable before access control
MF_FILES = OPEN_FILES
Random = Callable[[int], bytes]


def file_id(name: str) -> int:
    """FID of an LDS file name: ``EF.COM`` 011E, ``EF.SOD`` 011D, ``DGn`` 01nn,
    ``EF.CardAccess`` 011C."""
    named = {"EF.COM": EF_COM, "EF.SOD": EF_SOD, "EF.CardAccess": EF_CARD_ACCESS,
             "EF.ATR/INFO": EF_ATR_INFO}
    if name in named:
        return named[name]
    if name.startswith("DG") and name[2:].isdigit() and 1 <= int(name[2:]) <= 16:
        return 0x0100 + int(name[2:])
    raise IcaoError("emulator.file", "not an LDS file name")


@dataclass(frozen=True)
class Faults:
    """Failure personas of the chip (all off by default).

    ``delay_ms``: how long the chip takes per answer (reported, the transport waits);
    ``tear``: the first protected READ BINARY at a non-zero offset returns half the bytes asked;
    ``broken_mac``: every protected response carries a wrong DO'8E."""

    delay_ms: int = 0
    tear: bool = False
    broken_mac: bool = False


@dataclass(frozen=True)
class CardProfile:
    """``mrz_hash``: SHA-1 of the MRZ information, PACE's password π; BAC's ``K_seed`` is its
    first 16 bytes."""

    files: Mapping[int, bytes]
    mrz_hash: bytes
    aa_key: PrivateKey | None = None
    aa_algorithm: tuple[str, str] = ("sha256", PLAIN)  # hash, response encoding (DG14)
    bac: bool = True
    faults: Faults = Faults()

    @property
    def key_seed(self) -> bytes:
        return self.mrz_hash[:bac.KEY_SEED_LENGTH]

    @property
    def pace_infos(self) -> tuple[pace.PaceInfo, ...]:
        access = self.files.get(EF_CARD_ACCESS)
        return pace.parse_card_access(access) if access else ()


@dataclass
class CardState:
    applet: bool = False
    selected: int | None = None
    rnd_icc: bytes | None = None
    channel: sm.SecureChannel | None = None
    pace: dict[str, Any] | None = None
    torn: bool = False

    def to_dict(self) -> dict[str, Any]:
        channel = None if self.channel is None else {
            "suite": self.channel.suite, "k_enc": self.channel.k_enc.hex(),
            "k_mac": self.channel.k_mac.hex(), "ssc": self.channel.ssc}
        return {"applet": self.applet, "selected": self.selected,
                "rnd_icc": self.rnd_icc.hex() if self.rnd_icc else None, "channel": channel,
                "pace": self.pace, "torn": self.torn}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CardState:
        raw = data.get("channel")
        channel = None if raw is None else sm.SecureChannel(
            suite=raw["suite"], k_enc=bytes.fromhex(raw["k_enc"]),
            k_mac=bytes.fromhex(raw["k_mac"]), ssc=int(raw["ssc"]))
        rnd = data.get("rnd_icc")
        return cls(applet=bool(data.get("applet")), selected=data.get("selected"),
                   rnd_icc=bytes.fromhex(rnd) if rnd else None, channel=channel,
                   pace=data.get("pace"), torn=bool(data.get("torn")))


@dataclass
class _Context:
    profile: CardProfile
    state: CardState
    random: Random
    secured: bool
    odd_response: bool = field(default=False)


class _Status(Exception):
    def __init__(self, sw: int) -> None:
        super().__init__(f"{sw:04X}")
        self.sw = sw


def process(profile: CardProfile, state: CardState, raw: bytes, *,
            random: Random = os.urandom) -> bytes:
    """The response APDU of the card to ``raw`` (``state`` is updated in place)."""
    try:
        command = apdu.parse_command(raw)
    except apdu.ApduError:
        return apdu.response(sw=apdu.SW_WRONG_LENGTH)
    if command.cla & 0x0C == 0x0C:
        return _protected(profile, state, command, random)
    state.channel = None  # a plain command ends secure messaging (Part 11 §9.8.1)
    context = _Context(profile, state, random, secured=False)
    data, sw = _answer(context, command)
    return apdu.response(data, sw)


def _protected(profile: CardProfile, state: CardState, command: Command, random: Random) -> bytes:
    channel = state.channel
    if channel is None:
        return apdu.response(sw=apdu.SW_SECURITY_STATUS)
    try:
        plain = channel.unwrap_command(command)
    except sm.SmError as error:
        state.channel = None
        sw = apdu.SW_SM_MISSING if error.code == "sm.missing" else apdu.SW_SM_INCORRECT
        return apdu.response(sw=sw)
    context = _Context(profile, state, random, secured=True)
    data, sw = _answer(context, plain)
    if state.channel is not channel:  # the command replaced or ended the channel
        return apdu.response(data, sw)
    body = channel.wrap_response(data, sw, odd=context.odd_response,
                                 corrupt_mac=profile.faults.broken_mac)
    return apdu.response(body, apdu.SW_OK)


def _answer(context: _Context, command: Command) -> tuple[bytes, int]:
    handlers: dict[int, Callable[[_Context, Command], bytes]] = {
        0xA4: _select, 0xB0: _read_binary, 0xB1: _read_binary_odd, 0x84: _get_challenge,
        0x82: _mutual_authenticate, 0x88: _internal_authenticate, 0x22: _mse_set_at,
        0x86: _general_authenticate}
    if command.cla != 0x00 and not (command.cla == 0x10 and command.ins == 0x86):
        return b"", apdu.SW_CLA_NOT_SUPPORTED
    handler = handlers.get(command.ins)
    if handler is None:
        return b"", apdu.SW_INS_NOT_SUPPORTED
    try:
        return handler(context, command), apdu.SW_OK
    except _Status as status:
        return b"", status.sw
    except _Partial as partial:
        return partial.data, partial.sw


# --- files ----------------------------------------------------------------------------------------


def _accessible(context: _Context, fid: int) -> bytes:
    profile, state = context.profile, context.state
    if fid not in profile.files or (fid not in MF_FILES and not state.applet):
        raise _Status(apdu.SW_FILE_NOT_FOUND)
    if fid not in OPEN_FILES and not context.secured:
        raise _Status(apdu.SW_SECURITY_STATUS)
    return profile.files[fid]


def _select(context: _Context, command: Command) -> bytes:
    if command.p2 not in (0x0C, 0x00, 0x04):
        raise _Status(apdu.SW_WRONG_P1P2)
    state = context.state
    if command.p1 == 0x04:
        if command.data != EMRTD_AID:
            raise _Status(apdu.SW_FILE_NOT_FOUND)
        state.applet, state.selected = True, None
        return b""
    if command.p1 not in (0x00, 0x02) or len(command.data) not in (0, 2):
        raise _Status(apdu.SW_WRONG_P1P2 if command.p1 not in (0x00, 0x02)
                      else apdu.SW_WRONG_LENGTH)
    fid = int.from_bytes(command.data, "big") if command.data else MF
    if fid == MF:
        state.applet, state.selected = False, None
        return b""
    _accessible(context, fid)
    state.selected = fid
    return b""


def _short_file(context: _Context, sfi: int) -> int:
    matches = [fid for fid in context.profile.files if fid & 0x1F == sfi and fid != EF_ATR_INFO]
    if not matches:
        raise _Status(apdu.SW_FILE_NOT_FOUND)
    fid = min(matches)
    _accessible(context, fid)
    context.state.selected = fid
    return fid


def _current(context: _Context) -> bytes:
    fid = context.state.selected
    if fid is None:
        raise _Status(apdu.SW_NO_CURRENT_EF)
    return _accessible(context, fid)


def _read_binary(context: _Context, command: Command) -> bytes:
    if command.data or command.le is None:
        raise _Status(apdu.SW_WRONG_LENGTH)
    if command.p1 & 0x80:
        if command.p1 & 0x60:
            raise _Status(apdu.SW_WRONG_P1P2)
        _short_file(context, command.p1 & 0x1F)
        offset = command.p2
    else:
        offset = (command.p1 << 8) | command.p2
    return _chunk(context, _current(context), offset, command.le)


class _Partial(Exception):
    def __init__(self, data: bytes, sw: int) -> None:
        super().__init__(f"{sw:04X}")
        self.data, self.sw = data, sw


def _chunk(context: _Context, content: bytes, offset: int, le: int) -> bytes:
    if offset >= len(content):
        raise _Status(apdu.SW_WRONG_OFFSET)
    state = context.state
    tearing = context.profile.faults.tear and context.secured and offset and not state.torn
    if tearing:
        state.torn = True
        le = max(1, le // 2)
    data = content[offset:offset + le]
    if len(data) < le and not tearing:
        raise _Partial(data, apdu.SW_END_OF_FILE)
    return data


def _read_binary_odd(context: _Context, command: Command) -> bytes:
    if command.le is None:
        raise _Status(apdu.SW_WRONG_LENGTH)
    fid_bytes = (command.p1 << 8) | command.p2
    if command.p1 == 0 and command.p2 and not command.p2 & 0xE0:
        _short_file(context, command.p2)
    elif fid_bytes:
        context.state.selected = fid_bytes
    data = command.data
    if len(data) < 3 or data[0] != 0x54 or data[1] != len(data) - 2 or data[1] > 3:
        raise _Status(apdu.SW_WRONG_DATA)
    offset = int.from_bytes(data[2:], "big")
    content = _current(context)
    context.odd_response = True
    chunk = _chunk(context, content, offset, max(1, command.le - 4))
    return _do53(chunk)


def _do53(data: bytes) -> bytes:
    return encode_tlv(0x53, data)


# --- access control and authentication ------------------------------------------------------------


def _get_challenge(context: _Context, command: Command) -> bytes:
    if command.data or command.le != bac.RANDOM_LENGTH:
        raise _Status(apdu.SW_WRONG_LENGTH)
    context.state.rnd_icc = context.random(bac.RANDOM_LENGTH)
    return context.state.rnd_icc


def _mutual_authenticate(context: _Context, command: Command) -> bytes:
    state = context.state
    if not context.profile.bac:
        raise _Status(apdu.SW_INS_NOT_SUPPORTED)
    if state.rnd_icc is None:
        raise _Status(apdu.SW_CONDITIONS)
    if len(command.data) != bac.CRYPTOGRAM_LENGTH:
        raise _Status(apdu.SW_WRONG_LENGTH)
    rnd_icc, state.rnd_icc = state.rnd_icc, None
    keys = bac.document_keys(context.profile.key_seed)
    answer = bac.chip_authenticate(keys, command.data, rnd_icc=rnd_icc,
                                   k_icc=context.random(bac.KEY_MATERIAL_LENGTH))
    if answer is None:
        state.channel = None
        raise _Status(apdu.SW_AUTH_FAILED)
    data, state.channel = answer
    return data


def _internal_authenticate(context: _Context, command: Command) -> bytes:
    if not context.secured:
        raise _Status(apdu.SW_SECURITY_STATUS)
    if context.profile.aa_key is None:
        raise _Status(apdu.SW_INS_NOT_SUPPORTED)
    if len(command.data) != 8:
        raise _Status(apdu.SW_WRONG_LENGTH)
    hash_name, encoding = context.profile.aa_algorithm
    return sign_challenge(context.profile.aa_key, command.data, hash_name=hash_name,
                          encoding=encoding)


def _mse_set_at(context: _Context, command: Command) -> bytes:
    if (command.p1, command.p2) != (0xC1, 0xA4):
        raise _Status(apdu.SW_WRONG_P1P2)
    try:
        context.state.pace = pace.chip_start(context.profile.pace_infos, command.data)
    except pace.PaceRefused as refused:
        raise _Status(refused.sw) from None
    return b""


def _general_authenticate(context: _Context, command: Command) -> bytes:
    state = context.state
    if state.pace is None:
        raise _Status(apdu.SW_CONDITIONS)
    try:
        data, channel = pace.chip_step(state.pace, command.data, mrz_hash=context.profile.mrz_hash,
                                       random=context.random)
    except pace.PaceRefused as refused:
        state.pace = None
        raise _Status(refused.sw) from None
    if channel is not None:
        state.pace, state.channel = None, channel
    return data


def files_by_id(files: Mapping[str, bytes]) -> dict[int, bytes]:
    """The card's files (``EF.COM``, ``DG1``, ``EF.CardAccess`` ...) keyed by file identifier."""
    return {file_id(name): data for name, data in files.items()}
