"""PACE with the generic mapping on elliptic curves (ICAO Doc 9303 Part 11 §4.4, §9.2.1 and
§9.5; BSI TR-03110-2 §3.2): EF.CardAccess, the chip's side of MSE:Set AT and the four GENERAL
AUTHENTICATE steps, and the arithmetic a reader shares with it.

One protocol is offered: ``id-PACE-ECDH-GM-AES-CBC-CMAC-128`` (``0.4.0.127.0.7.2.2.4.2.2``),
version 2, on the standardized domain parameters 12 (NIST P-256) or 13 (brainpoolP256r1), with the
MRZ as password (``K_π = KDF(SHA-1(MRZ information), 3)``). The generic mapping needs scalar
multiplication on a generator other than the curve's (``G' = s·G + H``), which ``cryptography``
does not offer, so the curve arithmetic is done here in affine coordinates (public values only ever
leave this module as points checked to lie on the curve).

The chip's progress between two commands is a plain dict (JSON-safe), kept by the emulator's state.
``PaceRefused(sw)`` carries the status word a refused command gets.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from asn1crypto import core
from ecdsa import curves as ecdsa_curves
from ecdsa.ellipticcurve import INFINITY, PointJacobi
from ecdsa.errors import MalformedPointError

from app.icao import sm
from app.icao.dg14 import _SecurityInfo, _SecurityInfos  # EF.CardAccess: the same SET
from app.icao.errors import IcaoError
from app.icao.tlv import encode_tlv

ID_PACE_ECDH_GM_AES_128 = "0.4.0.127.0.7.2.2.4.2.2"
PACE_PREFIX = "0.4.0.127.0.7.2.2.4."
PASSWORD_MRZ = 0x01
NONCE_LENGTH = 16
TOKEN_LENGTH = 8
SW_WRONG_DATA, SW_REFERENCE, SW_AUTH_FAILED, SW_CONDITIONS = 0x6A80, 0x6A88, 0x6300, 0x6985


class PaceRefused(IcaoError):
    def __init__(self, sw: int, message: str) -> None:
        super().__init__("pace.refused", message)
        self.sw = sw


@dataclass(frozen=True)
class Curve:
    """A standardized domain parameter set (ICAO 9303-11 §9.5.1) and its python-ecdsa curve."""

    name: str
    parameters: ecdsa_curves.Curve

    @property
    def size(self) -> int:
        return self.parameters.baselen

    @property
    def n(self) -> int:
        return self.parameters.order


CURVES = {12: Curve("secp256r1", ecdsa_curves.NIST256p),
          13: Curve("brainpoolP256r1", ecdsa_curves.BRAINPOOLP256r1)}
Point = tuple[int, int] | None  # None: the point at infinity


# --- curve arithmetic: python-ecdsa (cryptography has no point addition on a mapped generator) ---


def _jacobi(curve: Curve, point: Point) -> PointJacobi:
    if point is None:
        return INFINITY
    return PointJacobi(curve.parameters.curve, point[0], point[1], 1, curve.n)


def _affine(point: PointJacobi) -> Point:
    return None if point == INFINITY else (point.x(), point.y())


def add(curve: Curve, first: Point, second: Point) -> Point:
    return _affine(_jacobi(curve, first) + _jacobi(curve, second))


def multiply(curve: Curve, scalar: int, point: Point) -> Point:
    """``scalar · point``."""
    return _affine(_jacobi(curve, point) * scalar)


def generator(curve: Curve) -> Point:
    return _affine(curve.parameters.generator)


def encode_point(curve: Curve, point: Point) -> bytes:
    if point is None:
        raise IcaoError("pace.point", "the point at infinity has no encoding")
    return _jacobi(curve, point).to_bytes("uncompressed")


def decode_point(curve: Curve, data: bytes) -> tuple[int, int]:
    """An uncompressed point on ``curve`` (``PaceRefused`` 6A80 otherwise)."""
    if len(data) != 1 + 2 * curve.size or data[0] != 0x04:
        raise PaceRefused(SW_WRONG_DATA, "not an uncompressed point of the curve")
    try:
        point = PointJacobi.from_bytes(curve.parameters.curve, data, validate_encoding=True,
                                       valid_encodings=("uncompressed",), order=curve.n)
    except (MalformedPointError, AssertionError):
        raise PaceRefused(SW_WRONG_DATA, "the point is not on the curve") from None
    found = _affine(point)
    assert found is not None  # an uncompressed encoding is never the point at infinity
    return found


def private_scalar(curve: Curve, random: Callable[[int], bytes]) -> int:
    return int.from_bytes(random(curve.size + 8), "big") % (curve.n - 1) + 1


def mapped_generator(curve: Curve, nonce: bytes, shared: Point) -> Point:
    """Generic mapping: ``G' = s·G + H``."""
    return add(curve, multiply(curve, int.from_bytes(nonce, "big"), generator(curve)), shared)


# --- keys and tokens ------------------------------------------------------------------------------


def password_key(mrz_hash: bytes) -> bytes:
    """``K_π = KDF_π(π)`` for AES-128; with the MRZ, π is the whole SHA-1 of the MRZ information
    (20 bytes, not BAC's 16-byte ``K_seed``: Part 11 §9.7.3)."""
    return sm.derive_key(mrz_hash, sm.PACE_PASSWORD, suite=sm.AES128)


def session(shared_x: bytes) -> sm.SecureChannel:
    return sm.SecureChannel(suite=sm.AES128, k_enc=sm.derive_key(shared_x, sm.ENC, suite=sm.AES128),
                            k_mac=sm.derive_key(shared_x, sm.MAC, suite=sm.AES128), ssc=0)


def _der_oid(oid: str) -> bytes:
    return core.ObjectIdentifier(oid).dump()


def authentication_token(k_mac: bytes, oid: str, public_key: bytes) -> bytes:
    """``T = MAC(KS_mac, 7F49 { 06 oid, 86 public point })`` (§4.4.3.4)."""
    return sm.aes_cmac(k_mac, encode_tlv(0x7F49, _der_oid(oid) + encode_tlv(0x86, public_key)))


def dynamic_data(tag: int, value: bytes) -> bytes:
    """A GENERAL AUTHENTICATE data field: ``7C { tag value }``."""
    return encode_tlv(0x7C, encode_tlv(tag, value) if tag else b"")


def parse_dynamic(data: bytes, tag: int | None) -> bytes:
    """The value of ``tag`` inside ``7C`` (empty template when ``tag`` is None)."""
    if len(data) < 2 or data[0] != 0x7C:
        raise PaceRefused(SW_WRONG_DATA, "not a dynamic authentication data template")
    inner, _ = _value(data, 1)
    if tag is None:
        if inner:
            raise PaceRefused(SW_WRONG_DATA, "the first step carries an empty template")
        return b""
    if len(inner) < 2 or inner[0] != tag:
        raise PaceRefused(SW_WRONG_DATA, "the template lacks the expected data object")
    value, end = _value(inner, 1)
    if end != len(inner):
        raise PaceRefused(SW_WRONG_DATA, "trailing data in the template")
    return value


def _value(data: bytes, at: int) -> tuple[bytes, int]:
    """The value whose length field starts at ``at`` and the index after it."""
    if at >= len(data):
        raise PaceRefused(SW_WRONG_DATA, "a data object is truncated")
    length, at = data[at], at + 1
    if length & 0x80:
        count = length & 0x7F
        if count not in (1, 2) or at + count > len(data):
            raise PaceRefused(SW_WRONG_DATA, "a data object length is malformed")
        length, at = int.from_bytes(data[at:at + count], "big"), at + count
    if at + length > len(data):
        raise PaceRefused(SW_WRONG_DATA, "a data object is truncated")
    return data[at:at + length], at + length


# --- EF.CardAccess --------------------------------------------------------------------------------


@dataclass(frozen=True)
class PaceInfo:
    protocol: str
    version: int
    parameter_id: int | None


def encode_card_access(parameter_id: int = 13) -> bytes:
    """EF.CardAccess with one PACEInfo (version 2) on ``parameter_id``."""
    info = _SecurityInfo({"protocol": ID_PACE_ECDH_GM_AES_128, "required_data": core.Integer(2),
                          "optional_data": core.Integer(parameter_id)})
    return _SecurityInfos([info]).dump()


def parse_card_access(data: bytes) -> tuple[PaceInfo, ...]:
    """The PACEInfos of EF.CardAccess (other SecurityInfos are skipped)."""
    try:
        infos = _SecurityInfos.load(data, strict=True)
        return tuple(
            PaceInfo(info["protocol"].dotted,
                     core.Integer.load(info["required_data"].dump()).native,
                     None if isinstance(info["optional_data"], core.Void)
                     else core.Integer.load(info["optional_data"].dump()).native)
            for info in infos if info["protocol"].dotted.startswith(PACE_PREFIX)
            and info["protocol"].dotted.count(".") == 10)
    except (ValueError, TypeError) as exc:
        raise IcaoError("pace.card_access", "EF.CardAccess is not a SecurityInfos set") from exc


# --- the chip's side ------------------------------------------------------------------------------


def _mse_objects(data: bytes) -> dict[int, bytes]:
    found, at = {}, 0
    while at < len(data):
        tag = data[at]
        value, at = _value(data, at + 1)
        found[tag] = value
    return found


def _oid(content: bytes) -> str | None:
    try:
        return core.ObjectIdentifier.load(encode_tlv(0x06, content)).dotted
    except ValueError:
        return None


def chip_start(infos: tuple[PaceInfo, ...], data: bytes) -> dict[str, Any]:
    """MSE:Set AT: the protocol and password the reader chose, checked against EF.CardAccess."""
    objects = _mse_objects(data)
    protocol = _oid(objects.get(0x80, b""))
    offered = [info for info in infos if info.protocol == protocol]
    if not offered:
        raise PaceRefused(SW_WRONG_DATA, "the protocol is not offered in EF.CardAccess")
    if objects.get(0x83) != bytes([PASSWORD_MRZ]):
        raise PaceRefused(SW_REFERENCE, "only the MRZ password is available")
    parameter = int.from_bytes(objects[0x84], "big") if 0x84 in objects else \
        offered[0].parameter_id
    if parameter not in CURVES or parameter not in {info.parameter_id for info in offered}:
        raise PaceRefused(SW_REFERENCE, "the domain parameters are not offered")
    return {"protocol": protocol, "parameter": parameter, "step": 1}


def _curve(progress: dict[str, Any]) -> Curve:
    return CURVES[int(progress["parameter"])]


def _point_hex(point: Point) -> list[str]:
    assert point is not None
    return [format(point[0], "x"), format(point[1], "x")]


def _point_of(values: list[str]) -> tuple[int, int]:
    return int(values[0], 16), int(values[1], 16)


def chip_step(progress: dict[str, Any], data: bytes, *, mrz_hash: bytes,
              random: Callable[[int], bytes]) -> tuple[bytes, sm.SecureChannel | None]:
    """One GENERAL AUTHENTICATE step; the last one returns the AES secure channel."""
    step = progress["step"]
    steps = {1: _encrypted_nonce, 2: _map_nonce, 3: _key_agreement}
    if step in steps:
        answer = steps[step](progress, data, mrz_hash=mrz_hash, random=random)
        progress["step"] = step + 1
        return answer, None
    return _mutual_authentication(progress, data)


def _encrypted_nonce(progress: dict[str, Any], data: bytes, *, mrz_hash: bytes,
                     random: Callable[[int], bytes]) -> bytes:
    parse_dynamic(data, None)
    nonce = random(NONCE_LENGTH)
    progress["nonce"] = nonce.hex()
    return dynamic_data(0x80, sm.aes_encrypt(password_key(mrz_hash), nonce))


def _map_nonce(progress: dict[str, Any], data: bytes, *, mrz_hash: bytes,
               random: Callable[[int], bytes]) -> bytes:
    curve = _curve(progress)
    reader_key = decode_point(curve, parse_dynamic(data, 0x81))
    secret = private_scalar(curve, random)
    shared = multiply(curve, secret, reader_key)
    progress["generator"] = _point_hex(
        mapped_generator(curve, bytes.fromhex(progress["nonce"]), shared))
    progress["mapping_key"] = encode_point(curve, reader_key).hex()
    return dynamic_data(0x82, encode_point(curve, multiply(curve, secret, generator(curve))))


def _key_agreement(progress: dict[str, Any], data: bytes, *, mrz_hash: bytes,
                   random: Callable[[int], bytes]) -> bytes:
    curve = _curve(progress)
    raw = parse_dynamic(data, 0x83)
    if raw.hex() == progress["mapping_key"]:
        raise PaceRefused(SW_WRONG_DATA, "the ephemeral key repeats the mapping key")
    reader_key = decode_point(curve, raw)
    secret = private_scalar(curve, random)
    mapped = _point_of(progress["generator"])
    chip_key = encode_point(curve, multiply(curve, secret, mapped))
    shared = multiply(curve, secret, reader_key)
    if shared is None:
        raise PaceRefused(SW_WRONG_DATA, "the shared point is the point at infinity")
    progress.update(reader_key=raw.hex(), chip_key=chip_key.hex(),
                    shared=shared[0].to_bytes(curve.size, "big").hex())
    return dynamic_data(0x84, chip_key)


def _mutual_authentication(progress: dict[str, Any], data: bytes) -> tuple[bytes, sm.SecureChannel]:
    if progress["step"] != 4:
        raise PaceRefused(SW_CONDITIONS, "PACE is already complete")
    channel = session(bytes.fromhex(progress["shared"]))
    expected = authentication_token(channel.k_mac, progress["protocol"],
                                    bytes.fromhex(progress["chip_key"]))
    if not hmac.compare_digest(expected, parse_dynamic(data, 0x85)):
        raise PaceRefused(SW_AUTH_FAILED, "the reader's authentication token does not check")
    token = authentication_token(channel.k_mac, progress["protocol"],
                                 bytes.fromhex(progress["reader_key"]))
    return dynamic_data(0x86, token), channel
