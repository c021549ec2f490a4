"""LDS 1.7 elementary files: EF.COM, DG1 (MRZ), DG15 (active-authentication key) and file hashing.

ICAO Doc 9303 Part 10 §4.6 (EF.COM), §4.7.1 (DG1), §4.7.15 (DG15); the chip-verification spec §1
lists the tags. Every file is one BER-TLV whose outer tag identifies it; the SOD hashes the whole
file, outer tag and length included (Part 10 §4.6.2, ``data_group_hash``). DG2, DG13 and DG14 live
in ``dg2``, ``dg13`` and ``dg14``.

Error codes: ``lds.data_group`` (not a DG number 1–16), ``lds.com``, ``lds.dg1``, ``lds.dg15``, plus
the ``tlv.*`` codes of ``app.icao.tlv``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import load_der_public_key

from app.icao.algorithms import PublicKey, digest
from app.icao.errors import ChipFormatError, UnsupportedAlgorithmError
from app.icao.keys import public_key_der
from app.icao.mrz import Td1, parse_td1
from app.icao.tlv import child_value, decode_children, decode_tlv, encode_children, encode_tlv

COM_TAG = 0x60
SOD_TAG = 0x77
DG_TAGS: dict[int, int] = {
    1: 0x61, 2: 0x75, 3: 0x63, 4: 0x76, 5: 0x65, 6: 0x66, 7: 0x67, 8: 0x68,
    9: 0x69, 10: 0x6A, 11: 0x6B, 12: 0x6C, 13: 0x6D, 14: 0x6E, 15: 0x6F, 16: 0x70,
}  # fmt: skip
LDS_VERSION = "0107"
UNICODE_VERSION = "040000"
DataGroupFiles = Mapping[int, bytes] | Mapping[str, bytes] | Mapping[int | str, bytes]
"""DG files keyed by number (``1``) or name (``"DG1"``, ``"1"``)."""
_DG_NAME = re.compile(r"(?:dg)?(\d{1,2})", re.IGNORECASE)


@dataclass(frozen=True)
class Com:
    """EF.COM: LDS and Unicode versions and the data groups present."""

    lds_version: str
    unicode_version: str
    data_groups: tuple[int, ...]


def data_group_number(key: int | str) -> int:
    """1–16 from ``1``, ``"1"``, ``"DG1"`` or ``"dg1"``."""
    match = _DG_NAME.fullmatch(key) if isinstance(key, str) else None
    number = int(match.group(1)) if match else key
    if isinstance(number, bool) or not isinstance(number, int) or number not in DG_TAGS:
        raise ChipFormatError("lds.data_group", "not a data group number 1-16")
    return number


def data_group_hash(file_bytes: bytes, *, hash_name: str) -> bytes:
    """Hash of a whole LDS file, outer tag and length included."""
    return digest(hash_name, file_bytes)


def encode_com(data_groups: Iterable[int], *, lds_version: str = LDS_VERSION) -> bytes:
    """EF.COM listing ``data_groups`` (tag list ``5C`` in the given order)."""
    tags = bytes(DG_TAGS[data_group_number(number)] for number in data_groups)
    children = (
        (0x5F01, lds_version.encode("ascii")),
        (0x5F36, UNICODE_VERSION.encode("ascii")),
        (0x5C, tags),
    )
    return encode_tlv(COM_TAG, encode_children(children))


def _numbers_from_tags(tags: bytes) -> tuple[int, ...]:
    by_tag = {tag: number for number, tag in DG_TAGS.items()}
    if any(tag not in by_tag for tag in tags):
        raise ChipFormatError("lds.com", "EF.COM lists an unknown data group tag")
    return tuple(by_tag[tag] for tag in tags)


def parse_com(data: bytes) -> Com:
    """Parse EF.COM (tag 60)."""
    children = decode_children(decode_tlv(data, expected_tag=COM_TAG).value)
    try:
        versions = (
            child_value(children, 0x5F01).decode("ascii"),
            child_value(children, 0x5F36).decode("ascii"),
        )
    except UnicodeDecodeError as exc:
        raise ChipFormatError("lds.com", "EF.COM versions must be ASCII digits") from exc
    return Com(*versions, _numbers_from_tags(child_value(children, 0x5C)))


def encode_dg1(td1: Td1) -> bytes:
    """DG1: ``61 { 5F1F <90 MRZ characters> }``."""
    return encode_tlv(DG_TAGS[1], encode_tlv(0x5F1F, td1.text.encode("ascii")))


# Memoised for the few files read last: a verification reads DG1 and DG15 in two of its steps.
@lru_cache(maxsize=16)
def parse_dg1(data: bytes) -> Td1:
    """The MRZ held in DG1, validated (``MrzError`` if it does not validate)."""
    children = decode_children(decode_tlv(data, expected_tag=DG_TAGS[1]).value)
    try:
        text = child_value(children, 0x5F1F).decode("ascii")
    except UnicodeDecodeError as exc:
        raise ChipFormatError("lds.dg1", "the MRZ in DG1 must be ASCII") from exc
    return parse_td1(text)


def encode_dg15(public_key: PublicKey) -> bytes:
    """DG15: ``6F { SubjectPublicKeyInfo }`` of the active-authentication key."""
    return encode_tlv(DG_TAGS[15], public_key_der(public_key))


@lru_cache(maxsize=16)
def parse_dg15(data: bytes) -> PublicKey:
    """The active-authentication public key in DG15 (EC or RSA)."""
    spki = decode_tlv(decode_tlv(data, expected_tag=DG_TAGS[15]).value, expected_tag=0x30)
    try:
        key = load_der_public_key(spki.encoded)
    except UnsupportedAlgorithm as exc:
        raise UnsupportedAlgorithmError("algorithm.key", "DG15 key type is not supported") from exc
    except ValueError as exc:
        raise ChipFormatError("lds.dg15", "DG15 does not hold a readable public key") from exc
    if not isinstance(key, ec.EllipticCurvePublicKey | rsa.RSAPublicKey):
        raise UnsupportedAlgorithmError("algorithm.key", "DG15 key must be EC or RSA")
    return key
