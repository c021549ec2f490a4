"""Secure messaging (ICAO Doc 9303 Part 11 §9.8) and the key derivation it starts from (§9.7.1).

Two cipher suites: 3DES (BAC: two-key 3DES-CBC with a zero IV, retail MAC = ISO/IEC 9797-1 MAC
algorithm 3 with DES, 8-byte send sequence counter) and AES-128 (PACE: AES-CBC with the IV
``E(KSenc, SSC)``, AES-CMAC truncated to 8 bytes, 16-byte counter). Both pad with ISO/IEC 9797-1
padding method 2 (``80 00 ..``).

A protected command carries ``DO'87`` (encrypted data, padding-content indicator ``01``),
``DO'97`` (Le) and ``DO'8E`` (MAC over SSC ‖ padded header ‖ DOs); a protected response carries
``DO'87``, ``DO'99`` (the status word) and ``DO'8E``. The counter is incremented before each
command and each response is MACed. The same :class:`SecureChannel` serves the card
(``unwrap_command`` / ``wrap_response``) and a reader (``wrap_command`` / ``unwrap_response``).

Errors: ``SmError`` with ``sm.missing`` (a required data object is absent or malformed, the card
answers 6987) or ``sm.mac`` (the MAC or the padding does not check, 6988).
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
from cryptography.hazmat.primitives import cmac
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from app.icao.apdu import SHORT_MAX, Command
from app.icao.errors import IcaoError
from app.icao.tlv import encode_tlv

ENC, MAC, PACE_PASSWORD = 1, 2, 3  # key derivation counters (§9.7.1)
DES3, AES128 = "3des", "aes128"


class SmError(IcaoError):
    """A protected APDU that does not check (``sm.missing``, ``sm.mac``)."""


# --- primitives -----------------------------------------------------------------------------------


def adjust_parity(key: bytes) -> bytes:
    """Each byte with odd parity (DES keys, as ICAO's worked examples print them)."""
    return bytes((b & 0xFE) | (bin(b >> 1).count("1") + 1) % 2 for b in key)


def derive_key(seed: bytes, counter: int, *, suite: str = DES3) -> bytes:
    """``KDF(K, c)``: SHA-1 of seed ‖ counter, 16 bytes (parity-adjusted for 3DES)."""
    digest = hashlib.sha1(seed + counter.to_bytes(4, "big")).digest()[:16]
    return adjust_parity(digest) if suite == DES3 else digest


def pad(data: bytes, block: int = 8) -> bytes:
    """ISO/IEC 9797-1 padding method 2."""
    padded = data + b"\x80"
    return padded + b"\x00" * (-len(padded) % block)


def unpad(data: bytes) -> bytes:
    stripped = data.rstrip(b"\x00")
    if not stripped.endswith(b"\x80"):
        raise SmError("sm.mac", "the decrypted data is not padded with method 2")
    return stripped[:-1]


def _cbc(algorithm: object, iv: bytes) -> Cipher:  # type: ignore[type-arg]
    return Cipher(algorithm, modes.CBC(iv))  # type: ignore[arg-type]


def _des_key(key: bytes) -> TripleDES:
    """Single DES (8 bytes) or two-key 3DES (16) as the three-key form ``cryptography`` keeps."""
    return TripleDES(key * 3 if len(key) == 8 else key + key[:8])


def des3_encrypt(key: bytes, data: bytes) -> bytes:
    encryptor = _cbc(_des_key(key), bytes(8)).encryptor()
    return encryptor.update(data) + encryptor.finalize()


def des3_decrypt(key: bytes, data: bytes) -> bytes:
    decryptor = _cbc(_des_key(key), bytes(8)).decryptor()
    return decryptor.update(data) + decryptor.finalize()


def retail_mac(key: bytes, data: bytes) -> bytes:
    """ISO/IEC 9797-1 MAC algorithm 3 (DES, then 3DES on the last block) over padded ``data``."""
    blocks = pad(data)
    chained = des3_encrypt(key[:8], blocks[:-8])[-8:] if len(blocks) > 8 else bytes(8)
    last = bytes(a ^ b for a, b in zip(chained, blocks[-8:], strict=True))
    return des3_encrypt(key[:16], last)


def aes_encrypt(key: bytes, data: bytes, iv: bytes = bytes(16)) -> bytes:
    encryptor = _cbc(algorithms.AES(key), iv).encryptor()
    return encryptor.update(data) + encryptor.finalize()


def aes_decrypt(key: bytes, data: bytes, iv: bytes = bytes(16)) -> bytes:
    decryptor = _cbc(algorithms.AES(key), iv).decryptor()
    return decryptor.update(data) + decryptor.finalize()


def aes_cmac(key: bytes, data: bytes) -> bytes:
    """AES-CMAC truncated to 8 bytes (§9.8.6.2)."""
    mac = cmac.CMAC(algorithms.AES(key))
    mac.update(data)
    return mac.finalize()[:8]


# --- data objects ---------------------------------------------------------------------------------


def _parse_dos(data: bytes) -> list[tuple[int, bytes, bytes]]:
    """The data objects of an SM body: (tag, value, encoded)."""
    objects, at = [], 0
    while at < len(data):
        if at + 2 > len(data):
            raise SmError("sm.missing", "a data object is truncated")
        tag, length, head = data[at], data[at + 1], 2
        if length & 0x80:
            count = length & 0x7F
            if count not in (1, 2, 3) or at + 2 + count > len(data):
                raise SmError("sm.missing", "a data object length is malformed")
            length = int.from_bytes(data[at + 2:at + 2 + count], "big")
            head += count
        end = at + head + length
        if end > len(data):
            raise SmError("sm.missing", "a data object is truncated")
        objects.append((tag, data[at + head:end], data[at:end]))
        at = end
    return objects


def _by_tag(objects: list[tuple[int, bytes, bytes]]) -> dict[int, tuple[bytes, bytes]]:
    found: dict[int, tuple[bytes, bytes]] = {}
    for tag, value, encoded in objects:
        if tag in found or tag not in (0x85, 0x87, 0x97, 0x99, 0x8E):
            raise SmError("sm.missing", "an unexpected or repeated data object")
        found[tag] = (value, encoded)
    return found


# --- the channel ----------------------------------------------------------------------------------


@dataclass
class SecureChannel:
    """Session keys, the suite and the send sequence counter (mutable: it counts)."""

    suite: str
    k_enc: bytes
    k_mac: bytes
    ssc: int

    @property
    def block(self) -> int:
        return 8 if self.suite == DES3 else 16

    def _counter(self) -> bytes:
        return self.ssc.to_bytes(self.block, "big")

    def mac(self, data: bytes) -> bytes:
        """MAC over SSC ‖ ``data`` (padded here)."""
        message = self._counter() + data
        if self.suite == DES3:
            return retail_mac(self.k_mac, message)
        return aes_cmac(self.k_mac, pad(message, 16))

    def encrypt(self, data: bytes) -> bytes:
        if self.suite == DES3:
            return des3_encrypt(self.k_enc, pad(data))
        iv = aes_encrypt(self.k_enc, self._counter())
        return aes_encrypt(self.k_enc, pad(data, 16), iv)

    def decrypt(self, data: bytes) -> bytes:
        if not data or len(data) % self.block:
            raise SmError("sm.mac", "the cryptogram is not whole cipher blocks")
        if self.suite == DES3:
            return unpad(des3_decrypt(self.k_enc, data))
        iv = aes_encrypt(self.k_enc, self._counter())
        return unpad(aes_decrypt(self.k_enc, data, iv))

    def _data_object(self, data: bytes, *, odd: bool) -> bytes:
        if not data:
            return b""
        if odd:
            return encode_tlv(0x85, self.encrypt(data))
        return encode_tlv(0x87, b"\x01" + self.encrypt(data))

    # reader side

    def wrap_command(self, command: Command) -> Command:
        """The protected form of ``command`` (increments the counter)."""
        self.ssc += 1
        cla = command.cla | 0x0C
        header = bytes([cla, command.ins, command.p1, command.p2])
        body = self._data_object(command.data, odd=bool(command.ins & 1))
        if command.le is not None:
            wide = command.le > SHORT_MAX or command.extended
            modulus = 65536 if wide else SHORT_MAX
            body += encode_tlv(0x97, (command.le % modulus).to_bytes(2 if wide else 1, "big"))
        body += encode_tlv(0x8E, self.mac(pad(header, self.block) + body))
        return Command(cla, command.ins, command.p1, command.p2, body,
                       le=65536 if command.extended else SHORT_MAX, extended=command.extended)

    def unwrap_response(self, data: bytes) -> tuple[bytes, int]:
        """Plain data and status word of a protected response (increments the counter)."""
        self.ssc += 1
        found = _by_tag(_parse_dos(data))
        if 0x8E not in found or 0x99 not in found:
            raise SmError("sm.missing", "the response lacks DO'99 or DO'8E")
        covered = b"".join(found[t][1] for t in (0x85, 0x87, 0x99) if t in found)
        if not hmac.compare_digest(self.mac(covered), found[0x8E][0]):
            raise SmError("sm.mac", "the response MAC does not check")
        return self._plain(found), int.from_bytes(found[0x99][0], "big")

    # card side

    def unwrap_command(self, command: Command) -> Command:
        """The plain command inside a protected one (increments the counter)."""
        self.ssc += 1
        found = _by_tag(_parse_dos(command.data))
        if 0x8E not in found:
            raise SmError("sm.missing", "the command lacks DO'8E")
        covered = b"".join(found[t][1] for t in (0x85, 0x87, 0x97) if t in found)
        expected = self.mac(pad(command.header, self.block) + covered)
        if not hmac.compare_digest(expected, found[0x8E][0]):
            raise SmError("sm.mac", "the command MAC does not check")
        le = None
        if 0x97 in found:
            le = int.from_bytes(found[0x97][0], "big") or (
                65536 if len(found[0x97][0]) == 2 else SHORT_MAX)
        return Command(command.cla & ~0x0C & 0xFF, command.ins, command.p1, command.p2,
                       self._plain(found), le=le, extended=len(found.get(0x97, (b"",))[0]) == 2)

    def _plain(self, found: dict[int, tuple[bytes, bytes]]) -> bytes:
        if 0x87 in found:
            value = found[0x87][0]
            if not value or value[0] != 0x01:
                raise SmError("sm.missing", "DO'87 lacks the padding-content indicator 01")
            return self.decrypt(value[1:])
        return self.decrypt(found[0x85][0]) if 0x85 in found else b""

    def wrap_response(self, data: bytes, sw: int, *, odd: bool = False,
                      corrupt_mac: bool = False) -> bytes:
        """The protected response body (without the trailing status word)."""
        self.ssc += 1
        body = self._data_object(data, odd=odd) + encode_tlv(0x99, sw.to_bytes(2, "big"))
        mac = self.mac(body)
        if corrupt_mac:
            mac = bytes([mac[0] ^ 0xFF]) + mac[1:]
        return body + encode_tlv(0x8E, mac)
