"""A test reader: drives a card through APDUs the way ICAO Doc 9303 Part 11's worked examples
do (BAC, PACE generic mapping, secure messaging, chunked READ BINARY that resumes at the offset).

``transmit`` is any function from a command APDU to a response APDU: the pure emulator, the HTTP
endpoint or a PC/SC reader.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from app.icao import apdu, bac, pace, sm
from app.icao.apdu import Command

Transmit = Callable[[bytes], bytes]
EMRTD_AID = bytes.fromhex("A0000002471001")
CHUNK = 0xDF  # a common reader's READ BINARY size (fits a short protected response)


class CardError(Exception):
    def __init__(self, sw: int) -> None:
        super().__init__(f"{sw:04X}")
        self.sw = sw


class Reader:
    def __init__(self, transmit: Transmit, *, random: Callable[[int], bytes] = os.urandom) -> None:
        self.transmit, self.random = transmit, random
        self.channel: sm.SecureChannel | None = None

    def send(self, command: Command, *, allow: tuple[int, ...] = (apdu.SW_OK,)) -> bytes:
        if self.channel is None:
            data, sw = apdu.split_response(self.transmit(apdu.encode_command(command)))
        else:
            raw = self.transmit(apdu.encode_command(self.channel.wrap_command(command)))
            body, outer = apdu.split_response(raw)
            if outer != apdu.SW_OK:
                self.channel = None
                raise CardError(outer)
            data, sw = self.channel.unwrap_response(body)
        if sw not in allow:
            raise CardError(sw)
        return data

    def select_application(self) -> None:
        self.send(Command(0x00, 0xA4, 0x04, 0x0C, EMRTD_AID))

    def select_file(self, fid: int) -> None:
        self.send(Command(0x00, 0xA4, 0x02, 0x0C, fid.to_bytes(2, "big")))

    def read_binary(self, offset: int, length: int) -> bytes:
        return self.send(Command(0x00, 0xB0, offset >> 8, offset & 0xFF, le=length),
                         allow=(apdu.SW_OK, apdu.SW_END_OF_FILE))

    def read_file(self, fid: int) -> bytes:
        """The whole file: its TLV header first, then chunks; a short answer resumes at the
        offset reached."""
        self.select_file(fid)
        head = self.read_binary(0, 4)
        total = _tlv_total(head)
        content = head
        while len(content) < total:
            content += self.read_binary(len(content), min(CHUNK, total - len(content)))
        return content

    def bac(self, key_seed: bytes) -> None:
        keys = bac.document_keys(key_seed)
        rnd_icc = self.send(Command(0x00, 0x84, 0x00, 0x00, le=8))
        rnd_ifd, k_ifd = self.random(8), self.random(16)
        answer = self.send(Command(0x00, 0x82, 0x00, 0x00,
                                   bac.cryptogram(keys, rnd_ifd + rnd_icc + k_ifd), le=40))
        plain = bac.open_cryptogram(keys, answer)
        if plain is None or plain[:8] != rnd_icc or plain[8:16] != rnd_ifd:
            raise CardError(apdu.SW_AUTH_FAILED)
        self.channel = bac.session_channel(k_ifd=k_ifd, k_icc=plain[16:32], rnd_icc=rnd_icc,
                                           rnd_ifd=rnd_ifd)

    def pace(self, mrz_hash: bytes, card_access: bytes) -> None:
        info = pace.parse_card_access(card_access)[0]
        curve = pace.CURVES[info.parameter_id]
        oid = pace._der_oid(info.protocol)[2:]
        self.send(Command(0x00, 0x22, 0xC1, 0xA4, bytes([0x80, len(oid)]) + oid + b"\x83\x01\x01"))
        general = lambda tag, value, cla=0x10: self.send(  # noqa: E731
            Command(cla, 0x86, 0x00, 0x00, pace.dynamic_data(tag, value), le=256))
        encrypted = pace.parse_dynamic(general(0, b""), 0x80)
        nonce = sm.aes_decrypt(pace.password_key(mrz_hash), encrypted)
        map_secret = pace.private_scalar(curve, self.random)
        answer = general(0x81, pace.encode_point(
            curve, pace.multiply(curve, map_secret, pace.generator(curve))))
        chip_map = pace.decode_point(curve, pace.parse_dynamic(answer, 0x82))
        mapped = pace.mapped_generator(curve, nonce, pace.multiply(curve, map_secret, chip_map))
        secret = pace.private_scalar(curve, self.random)
        reader_key = pace.encode_point(curve, pace.multiply(curve, secret, mapped))
        chip_key = pace.parse_dynamic(general(0x83, reader_key), 0x84)
        shared = pace.multiply(curve, secret, pace.decode_point(curve, chip_key))
        assert shared is not None
        channel = pace.session(shared[0].to_bytes(curve.size, "big"))
        token = pace.authentication_token(channel.k_mac, info.protocol, chip_key)
        chip_token = pace.parse_dynamic(general(0x85, token, 0x00), 0x86)
        if chip_token != pace.authentication_token(channel.k_mac, info.protocol, reader_key):
            raise CardError(apdu.SW_AUTH_FAILED)
        self.channel = channel

    def internal_authenticate(self, challenge: bytes) -> bytes:
        return self.send(Command(0x00, 0x88, 0x00, 0x00, challenge, le=256))


def _tlv_total(head: bytes) -> int:
    """Total length of a BER-TLV file from its first bytes (1- or 2-byte tag)."""
    at = 2 if head[0] & 0x1F == 0x1F else 1
    first = head[at]
    if first < 0x80:
        return at + 1 + first
    count = first & 0x7F
    return at + 1 + count + int.from_bytes(head[at + 1:at + 1 + count], "big")
