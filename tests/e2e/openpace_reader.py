"""PACE and secure messaging done by OpenPACE (Debian's ``libeac3``, the library behind OpenSC's
``npa-tool``), called by ctypes: a PACE implementation the project did not write.

OpenPACE does the protocol: the MRZ password from the whole printed MRZ (it picks the document
number, birth date and expiry itself), the nonce's decryption, the generic mapping, the ephemeral
key agreement, the session keys, both authentication tokens, and then the secure messaging's
send-sequence counter, padding, encryption and MACs. This module only frames the APDUs (MSE:Set
AT, General Authenticate's dynamic authentication data, the DO87/DO97/DO99/DO8E objects) as
ICAO 9303-11 §4.4 and §9.8 lay them out, and reads files in pieces."""

from __future__ import annotations

import ctypes
from collections.abc import Callable

from asn1crypto import core

PACE_MRZ = 1  # enum s_type in eac/pace.h
EAC_ID_PACE = 0
AID = bytes.fromhex("A0000002471001")


class OpenPaceError(Exception):
    pass


class _BufMem(ctypes.Structure):  # OpenSSL's BUF_MEM
    _fields_ = [("length", ctypes.c_size_t), ("data", ctypes.c_void_p),
                ("max", ctypes.c_size_t), ("flags", ctypes.c_ulong)]


_Buf = ctypes.POINTER(_BufMem)
_P = ctypes.c_void_p


def _libraries() -> tuple[ctypes.CDLL, ctypes.CDLL]:
    eac, crypto = ctypes.CDLL("libeac.so.3"), ctypes.CDLL("libcrypto.so.3")
    crypto.BUF_MEM_new.restype = _Buf
    crypto.BUF_MEM_grow.argtypes = [_Buf, ctypes.c_size_t]
    crypto.BUF_MEM_free.argtypes = [_Buf]
    signatures: dict[str, tuple[object, list[object]]] = {
        "EAC_CTX_new": (_P, []),
        "EAC_CTX_clear_free": (None, [_P]),
        "PACE_SEC_new": (_P, [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_int]),
        "PACE_SEC_clear_free": (None, [_P]),
        "EAC_CTX_init_ef_cardaccess": (ctypes.c_int, [ctypes.c_char_p, ctypes.c_size_t, _P]),
        "PACE_STEP2_dec_nonce": (ctypes.c_int, [_P, _P, _Buf]),
        "PACE_STEP3A_generate_mapping_data": (_Buf, [_P]),
        "PACE_STEP3A_map_generator": (ctypes.c_int, [_P, _Buf]),
        "PACE_STEP3B_generate_ephemeral_key": (_Buf, [_P]),
        "PACE_STEP3B_compute_shared_secret": (ctypes.c_int, [_P, _Buf]),
        "PACE_STEP3C_derive_keys": (ctypes.c_int, [_P]),
        "PACE_STEP3D_compute_authentication_token": (_Buf, [_P, _Buf]),
        "PACE_STEP3D_verify_authentication_token": (ctypes.c_int, [_P, _Buf]),
        "EAC_CTX_set_encryption_ctx": (ctypes.c_int, [_P, ctypes.c_int]),
        "EAC_reset_ssc": (ctypes.c_int, [_P]),
        "EAC_increment_ssc": (ctypes.c_int, [_P]),
        "EAC_add_iso_pad": (_Buf, [_P, _Buf]),
        "EAC_remove_iso_pad": (_Buf, [_Buf]),
        "EAC_encrypt": (_Buf, [_P, _Buf]),
        "EAC_decrypt": (_Buf, [_P, _Buf]),
        "EAC_authenticate": (_Buf, [_P, _Buf]),
    }
    for name, (result, arguments) in signatures.items():
        function = getattr(eac, name)
        function.restype, function.argtypes = result, arguments
    eac.EAC_init()
    return eac, crypto


def _tlv(tag: int, value: bytes) -> bytes:
    n = len(value)
    size = (bytes([n]) if n < 0x80 else bytes([0x81, n]) if n < 0x100
            else b"\x82" + n.to_bytes(2, "big"))
    return bytes([tag]) + size + value


def _objects(data: bytes) -> dict[int, bytes]:
    """One-byte-tag BER-TLV objects, by tag."""
    found, at = {}, 0
    while at < len(data):
        tag, size = data[at], data[at + 1]
        at += 2
        if size & 0x80:
            count = size & 0x7F
            size, at = int.from_bytes(data[at:at + count], "big"), at + count
        found[tag], at = data[at:at + size], at + size
    return found


class OpenPaceReader:
    """A reader over ``transmit`` (command APDU to response APDU with its status word)."""

    def __init__(self, transmit: Callable[[bytes], bytes]) -> None:
        self.transmit = transmit
        self._eac, self._crypto = _libraries()
        self._ctx = self._eac.EAC_CTX_new()

    def close(self) -> None:
        self._eac.EAC_CTX_clear_free(self._ctx)

    def _buffer(self, data: bytes) -> ctypes._Pointer[_BufMem]:
        buffer = self._crypto.BUF_MEM_new()
        self._crypto.BUF_MEM_grow(buffer, len(data))
        ctypes.memmove(buffer.contents.data, data, len(data))
        return buffer

    def _call(self, name: str, *arguments: object) -> bytes:
        """An OpenPACE function returning a BUF_MEM, its bytes (the BUF_MEMs freed)."""
        buffers = [self._buffer(a) if isinstance(a, bytes) else a for a in arguments]
        result = getattr(self._eac, name)(*buffers)
        for buffer in buffers:
            if isinstance(buffer, ctypes._Pointer):
                self._crypto.BUF_MEM_free(buffer)
        if not result:
            raise OpenPaceError(name)
        data = ctypes.string_at(result.contents.data, result.contents.length)
        self._crypto.BUF_MEM_free(result)
        return data

    def _check(self, name: str, *arguments: object) -> None:
        buffers = [self._buffer(a) if isinstance(a, bytes) else a for a in arguments]
        ok = getattr(self._eac, name)(*buffers)
        for buffer in buffers:
            if isinstance(buffer, ctypes._Pointer):
                self._crypto.BUF_MEM_free(buffer)
        if ok != 1:
            raise OpenPaceError(name)

    def _plain(self, command: bytes) -> bytes:
        answer = self.transmit(command)
        if answer[-2:] != b"\x90\x00":
            raise OpenPaceError(f"status {answer[-2:].hex().upper()}")
        return answer[:-2]

    def read_card_access(self) -> bytes:
        """EF.CardAccess, read before access control (in the clear)."""
        self._plain(b"\x00\xA4\x02\x0C\x02\x01\x1C")
        head = self._plain(b"\x00\xB0\x00\x00\x02")
        return self._plain(b"\x00\xB0\x00\x00" + bytes([head[1] + 2]))

    def pace(self, mrz: str, card_access: bytes) -> None:
        """PACE with the MRZ password; ``mrz`` is the whole printed MRZ, its lines joined."""
        if self._eac.EAC_CTX_init_ef_cardaccess(card_access, len(card_access), self._ctx) != 1:
            raise OpenPaceError("EAC_CTX_init_ef_cardaccess")
        first_info = core.load(core.load(card_access).contents)  # SET OF SecurityInfo
        oid = core.load(first_info.contents).contents  # its protocol, an OBJECT IDENTIFIER
        secret = self._eac.PACE_SEC_new(mrz.encode(), len(mrz), PACE_MRZ)
        try:
            self._plain(b"\x00\x22\xC1\xA4" + bytes([len(oid) + 5]) + _tlv(0x80, oid)
                        + b"\x83\x01\x01")

            def general(tag: int, value: bytes, cla: int = 0x10) -> dict[int, bytes]:
                data = _tlv(0x7C, _tlv(tag, value) if tag else b"")
                answer = self._plain(bytes([cla, 0x86, 0, 0, len(data)]) + data + b"\x00")
                return _objects(_objects(answer)[0x7C])

            self._check("PACE_STEP2_dec_nonce", self._ctx, secret, general(0, b"")[0x80])
            mapping = self._call("PACE_STEP3A_generate_mapping_data", self._ctx)
            self._check("PACE_STEP3A_map_generator", self._ctx, general(0x81, mapping)[0x82])
            ephemeral = self._call("PACE_STEP3B_generate_ephemeral_key", self._ctx)
            chip_key = general(0x83, ephemeral)[0x84]
            self._check("PACE_STEP3B_compute_shared_secret", self._ctx, chip_key)
            self._check("PACE_STEP3C_derive_keys", self._ctx)
            token = self._call("PACE_STEP3D_compute_authentication_token", self._ctx, chip_key)
            self._check("PACE_STEP3D_verify_authentication_token", self._ctx,
                        general(0x85, token, 0x00)[0x86])
        finally:
            self._eac.PACE_SEC_clear_free(secret)
        self._check("EAC_CTX_set_encryption_ctx", self._ctx, EAC_ID_PACE)
        self._check("EAC_reset_ssc", self._ctx)

    def _pad(self, data: bytes) -> bytes:
        return self._call("EAC_add_iso_pad", self._ctx, data)

    def secure(self, header: bytes, data: bytes = b"", le: int | None = None) -> bytes:
        """A command under secure messaging; the response data (its MAC checked)."""
        header = bytes([header[0] | 0x0C]) + header[1:]
        self._check("EAC_increment_ssc", self._ctx)
        body = b""
        if data:
            body += _tlv(0x87, b"\x01" + self._call("EAC_encrypt", self._ctx, self._pad(data)))
        if le is not None:
            body += _tlv(0x97, bytes([le]))
        mac = self._call("EAC_authenticate", self._ctx, self._pad(self._pad(header) + body))
        protected = body + _tlv(0x8E, mac)
        answer = self.transmit(header + bytes([len(protected)]) + protected + b"\x00")
        self._check("EAC_increment_ssc", self._ctx)
        objects = _objects(answer[:-2])
        covered = b"".join(_tlv(tag, value) for tag, value in objects.items() if tag != 0x8E)
        if 0x8E not in objects or self._call(
                "EAC_authenticate", self._ctx, self._pad(covered)) != objects[0x8E]:
            raise OpenPaceError(f"response MAC (status {answer[-2:].hex().upper()})")
        if objects.get(0x99) != b"\x90\x00":
            raise OpenPaceError(f"status {objects.get(0x99, b'').hex().upper()}")
        if 0x87 not in objects:
            return b""
        return self._call("EAC_remove_iso_pad",
                          self._call("EAC_decrypt", self._ctx, objects[0x87][1:]))

    def select_application(self) -> None:
        self.secure(b"\x00\xA4\x04\x0C", AID)

    def read_file(self, fid: int) -> bytes:
        self.secure(b"\x00\xA4\x02\x0C", fid.to_bytes(2, "big"))
        head = self.secure(b"\x00\xB0\x00\x00", le=4)
        at = 2 if head[0] & 0x1F == 0x1F else 1
        count = head[at] & 0x7F if head[at] & 0x80 else 0
        total = at + 1 + count + (int.from_bytes(head[at + 1:at + 1 + count], "big") if count
                                  else head[at])
        data = b""
        while len(data) < total:
            data += self.secure(b"\x00\xB0" + len(data).to_bytes(2, "big"),
                                le=min(0xDF, total - len(data)))
        return data
