"""A PC/SC client over ``libpcsclite`` (pcsc-lite's client library, Debian ``libpcsclite1``) by
ctypes: the calls every PC/SC application makes (establish a context, connect to the reader,
transmit APDUs, reconnect with the card powered down, disconnect), so the tests' reader talks to
``pcscd`` as a reading app does, with no PC/SC binding to build (pyscard has no wheel here).

pcsc-lite on Linux: ``DWORD`` and ``LONG`` are C ``unsigned long``/``long`` (8 bytes on x86-64)."""

from __future__ import annotations

import ctypes
import ctypes.util
from ctypes import POINTER, byref, c_char_p, c_long, c_ulong, c_void_p

SCOPE_SYSTEM, SHARE_SHARED = 2, 2
PROTOCOL_T0, PROTOCOL_T1 = 1, 2
LEAVE_CARD, UNPOWER_CARD = 0, 2


class PcscError(Exception):
    def __init__(self, call: str, code: int) -> None:
        super().__init__(f"{call} failed: 0x{code & 0xFFFFFFFF:08X}")
        self.code = code & 0xFFFFFFFF


class _IoRequest(ctypes.Structure):
    _fields_ = [("protocol", c_ulong), ("length", c_ulong)]


def _library() -> ctypes.CDLL:
    name = ctypes.util.find_library("pcsclite") or "libpcsclite.so.1"
    library = ctypes.CDLL(name)
    library.SCardEstablishContext.argtypes = [c_ulong, c_void_p, c_void_p, POINTER(c_long)]
    library.SCardListReaders.argtypes = [c_long, c_char_p, c_char_p, POINTER(c_ulong)]
    library.SCardConnect.argtypes = [c_long, c_char_p, c_ulong, c_ulong, POINTER(c_long),
                                     POINTER(c_ulong)]
    library.SCardReconnect.argtypes = [c_long, c_ulong, c_ulong, c_ulong, POINTER(c_ulong)]
    library.SCardTransmit.argtypes = [c_long, POINTER(_IoRequest), c_char_p, c_ulong,
                                      POINTER(_IoRequest), c_char_p, POINTER(c_ulong)]
    library.SCardDisconnect.argtypes = [c_long, c_ulong]
    library.SCardReleaseContext.argtypes = [c_long]
    for function in ("SCardEstablishContext", "SCardListReaders", "SCardConnect",
                     "SCardReconnect", "SCardTransmit", "SCardDisconnect", "SCardReleaseContext"):
        getattr(library, function).restype = c_long
    return library


def _check(call: str, code: int) -> None:
    if code:
        raise PcscError(call, code)


class PcscClient:
    """One reader of the running pcscd, connected to the card in it."""

    def __init__(self, reader: str | None = None) -> None:
        self._lib = _library()
        self._context = c_long()
        _check("SCardEstablishContext", self._lib.SCardEstablishContext(
            SCOPE_SYSTEM, None, None, byref(self._context)))
        self.reader = reader or self.readers()[0]
        self._card, self._protocol = c_long(), c_ulong()

    def readers(self) -> list[str]:
        size = c_ulong()
        _check("SCardListReaders", self._lib.SCardListReaders(self._context, None, None,
                                                               byref(size)))
        names = ctypes.create_string_buffer(size.value)
        _check("SCardListReaders", self._lib.SCardListReaders(self._context, None, names,
                                                               byref(size)))
        return [name.decode() for name in names.raw[:size.value].split(b"\0") if name]

    def connect(self) -> None:
        _check("SCardConnect", self._lib.SCardConnect(
            self._context, self.reader.encode(), SHARE_SHARED, PROTOCOL_T0 | PROTOCOL_T1,
            byref(self._card), byref(self._protocol)))

    def power_cycle(self) -> None:
        """Power the card down and up again: a new conversation with the chip in the reader."""
        _check("SCardReconnect", self._lib.SCardReconnect(
            self._card, SHARE_SHARED, PROTOCOL_T0 | PROTOCOL_T1, UNPOWER_CARD,
            byref(self._protocol)))

    def transmit(self, command: bytes) -> bytes:
        send = _IoRequest(self._protocol.value, ctypes.sizeof(_IoRequest))
        answer = ctypes.create_string_buffer(65538)
        length = c_ulong(len(answer))
        _check("SCardTransmit", self._lib.SCardTransmit(
            self._card, byref(send), command, len(command), None, answer, byref(length)))
        return answer.raw[:length.value]

    def close(self) -> None:
        self._lib.SCardDisconnect(self._card, LEAVE_CARD)
        self._lib.SCardReleaseContext(self._context)
