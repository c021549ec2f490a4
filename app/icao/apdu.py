"""ISO/IEC 7816-4 command and response APDUs (§5.1): short and extended length, all four cases.

``parse_command`` reads the header and the body into a :class:`Command`; a body that fits none of
the cases raises ``ApduError`` (``apdu.length``), which a card answers with ``SW_WRONG_LENGTH``.
``Le`` is the number of bytes the reader accepts: ``00`` means 256 (short) and ``0000`` 65,536
(extended); ``None`` when the command expects no data back.
"""

from __future__ import annotations

from dataclasses import dataclass

from app.icao.errors import IcaoError

SW_OK = 0x9000
SW_END_OF_FILE = 0x6282  # fewer bytes than Le: the end of the file was reached
SW_AUTH_FAILED = 0x6300
SW_WRONG_LENGTH = 0x6700
SW_SECURITY_STATUS = 0x6982
SW_CONDITIONS = 0x6985
SW_NO_CURRENT_EF = 0x6986
SW_SM_MISSING = 0x6987
SW_SM_INCORRECT = 0x6988
SW_WRONG_DATA = 0x6A80
SW_FILE_NOT_FOUND = 0x6A82
SW_WRONG_P1P2 = 0x6A86
SW_REFERENCE_NOT_FOUND = 0x6A88
SW_WRONG_OFFSET = 0x6B00
SW_INS_NOT_SUPPORTED = 0x6D00
SW_CLA_NOT_SUPPORTED = 0x6E00
SW_UNKNOWN = 0x6F00

SHORT_MAX = 256
EXTENDED_MAX = 65536


class ApduError(IcaoError):
    """A byte string that is not a command APDU (``apdu.length``)."""


@dataclass(frozen=True)
class Command:
    cla: int
    ins: int
    p1: int
    p2: int
    data: bytes = b""
    le: int | None = None
    extended: bool = False

    @property
    def header(self) -> bytes:
        return bytes([self.cla, self.ins, self.p1, self.p2])


def _short(header: tuple[int, int, int, int], body: bytes) -> Command:
    if len(body) == 1:
        return Command(*header, le=body[0] or SHORT_MAX)
    length = body[0]
    if len(body) == 1 + length:
        return Command(*header, data=body[1:])
    if len(body) == 2 + length:
        return Command(*header, data=body[1:-1], le=body[-1] or SHORT_MAX)
    raise ApduError("apdu.length", "the body fits no short-length case")


def _extended(header: tuple[int, int, int, int], body: bytes) -> Command:
    if len(body) == 3:
        return Command(*header, le=int.from_bytes(body[1:3], "big") or EXTENDED_MAX,
                       extended=True)
    length = int.from_bytes(body[1:3], "big")
    if length == 0 or len(body) not in (3 + length, 5 + length):
        raise ApduError("apdu.length", "the body fits no extended-length case")
    data = body[3:3 + length]
    if len(body) == 3 + length:
        return Command(*header, data=data, extended=True)
    return Command(*header, data=data, le=int.from_bytes(body[-2:], "big") or EXTENDED_MAX,
                   extended=True)


def parse_command(raw: bytes) -> Command:
    """The command APDU in ``raw`` (``ApduError`` when its lengths do not add up)."""
    if len(raw) < 4:
        raise ApduError("apdu.length", "a command APDU has at least 4 header bytes")
    header = (raw[0], raw[1], raw[2], raw[3])
    body = raw[4:]
    if not body:
        return Command(*header)
    if body[0] != 0 or len(body) == 1:
        return _short(header, body)
    return _extended(header, body)


def _le_bytes(le: int, *, extended: bool) -> bytes:
    if extended:
        return (le % EXTENDED_MAX).to_bytes(2, "big")
    return bytes([le % SHORT_MAX])


def encode_command(command: Command) -> bytes:
    """The bytes of ``command`` (extended length when it says so or when a length needs it)."""
    extended = (command.extended or len(command.data) > 255
                or (command.le or 0) > SHORT_MAX)
    out = command.header
    if command.data:
        lc = len(command.data)
        out += (b"\x00" + lc.to_bytes(2, "big") if extended else bytes([lc])) + command.data
    if command.le is not None:
        prefix = b"\x00" if extended and not command.data else b""
        out += prefix + _le_bytes(command.le, extended=extended)
    return out


def response(data: bytes = b"", sw: int = SW_OK) -> bytes:
    """A response APDU: data then SW1 SW2."""
    return data + sw.to_bytes(2, "big")


def split_response(raw: bytes) -> tuple[bytes, int]:
    """Data and status word of a response APDU."""
    if len(raw) < 2:
        raise ApduError("apdu.length", "a response APDU ends with two status bytes")
    return raw[:-2], int.from_bytes(raw[-2:], "big")
