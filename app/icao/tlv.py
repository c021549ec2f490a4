"""Strict BER-TLV for the LDS files (ISO/IEC 7816-4 §5.2, ICAO Doc 9303 Part 10 §4; tags as in its
tables).

The LDS uses ISO/IEC 7816 BER-TLV rather than ASN.1 DER: EF.COM's ``5F01`` writes tag number 1 in
the long form, which ASN.1 parsers (asn1crypto included) reject as a non-minimal identifier. So this
thin layer reads tags as opaque 1–3 byte identifiers itself; every ASN.1 structure inside the files
(CMS, LDSSecurityObject, DG13 and DG14 contents) is parsed with asn1crypto.

Strict and bounded: definite lengths only, minimal length encoding, at most 4 length octets,
declared lengths checked against the input and against ``MAX_ENCODED_SIZE`` before any slicing.
Violations raise ``ChipFormatError`` with one of these codes, never ``IndexError`` or a bare
``ValueError``:

``tlv.empty``, ``tlv.too_large`` (input or declared length above the bound), ``tlv.truncated``
(declared length beyond the input), ``tlv.bad_tag``, ``tlv.bad_length`` (indefinite or over-long
length field), ``tlv.non_minimal_length``, ``tlv.trailing_data``, ``tlv.unexpected_tag``,
``tlv.missing_tag``, ``tlv.duplicate_tag``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from app.icao.errors import ChipFormatError

MAX_ENCODED_SIZE = 1 << 20  # 1 MiB: far above any LDS 1.7 file a card of this sandbox carries
_MAX_TAG_OCTETS = 3
_MAX_LENGTH_OCTETS = 4


@dataclass(frozen=True)
class Tlv:
    """One decoded data object: ``tag`` as the identifier octets read as an integer (``0x5F1F``)."""

    tag: int
    value: bytes
    encoded: bytes


def _tag_octets(tag: int) -> bytes:
    octets = tag.to_bytes(max(1, (tag.bit_length() + 7) // 8), "big")
    if len(octets) > _MAX_TAG_OCTETS or _tag_length(octets, 0) != len(octets):
        raise ChipFormatError("tlv.bad_tag", f"not a BER-TLV tag: {tag:#x}")
    return octets


def _length_octets(length: int) -> bytes:
    if length < 0x80:
        return bytes([length])
    octets = length.to_bytes((length.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(octets)]) + octets


def encode_tlv(tag: int, value: bytes) -> bytes:
    """Encode one data object with a minimal definite length."""
    if len(value) > MAX_ENCODED_SIZE:
        raise ChipFormatError("tlv.too_large", f"value larger than {MAX_ENCODED_SIZE} bytes")
    return _tag_octets(tag) + _length_octets(len(value)) + value


def encode_children(children: Iterable[tuple[int, bytes]]) -> bytes:
    """Concatenate ``(tag, value)`` pairs, in order."""
    return b"".join(encode_tlv(tag, value) for tag, value in children)


def _tag_length(data: bytes, offset: int) -> int:
    """Number of identifier octets at ``offset`` (ISO/IEC 7816-4: 1–3; not ``00`` or ``FF``)."""
    if offset >= len(data):
        raise ChipFormatError("tlv.truncated", "the data object has no tag")
    if data[offset] in (0x00, 0xFF):
        raise ChipFormatError("tlv.bad_tag", "00 and FF are not tags")
    count = 1
    if data[offset] & 0x1F == 0x1F:
        while (
            offset + count < len(data) and data[offset + count] & 0x80 and count < _MAX_TAG_OCTETS
        ):
            count += 1
        count += 1
    if count > _MAX_TAG_OCTETS or offset + count > len(data):
        raise ChipFormatError("tlv.bad_tag", "the tag is truncated or longer than 3 octets")
    return count


def _length(data: bytes, offset: int) -> tuple[int, int]:
    """(declared length, number of length octets) at ``offset``."""
    if offset >= len(data):
        raise ChipFormatError("tlv.truncated", "the data object has no length")
    first = data[offset]
    if first < 0x80:
        return first, 1
    count = first & 0x7F
    if count == 0 or count > _MAX_LENGTH_OCTETS:
        raise ChipFormatError("tlv.bad_length", "indefinite or over-long length field")
    if offset + 1 + count > len(data):
        raise ChipFormatError("tlv.truncated", "the length field is truncated")
    length = int.from_bytes(data[offset + 1 : offset + 1 + count], "big")
    if length < 0x80 or length < 1 << (8 * (count - 1)):
        raise ChipFormatError("tlv.non_minimal_length", "the length is not minimally encoded")
    return length, 1 + count


def _check_size(data: bytes) -> None:
    if not data:
        raise ChipFormatError("tlv.empty", "no data")
    if len(data) > MAX_ENCODED_SIZE:
        raise ChipFormatError("tlv.too_large", f"input larger than {MAX_ENCODED_SIZE} bytes")


def _decode_at(data: bytes, offset: int) -> Tlv:
    tag_length = _tag_length(data, offset)
    length, length_octets = _length(data, offset + tag_length)
    if length > MAX_ENCODED_SIZE:
        raise ChipFormatError("tlv.too_large", f"declared length above {MAX_ENCODED_SIZE} bytes")
    start = offset + tag_length + length_octets
    if start + length > len(data):
        raise ChipFormatError("tlv.truncated", "the value is shorter than its declared length")
    tag = int.from_bytes(data[offset : offset + tag_length], "big")
    return Tlv(tag, data[start : start + length], data[offset : start + length])


def decode_tlv(data: bytes, *, expected_tag: int | None = None) -> Tlv:
    """Decode exactly one data object; with ``expected_tag`` any other tag is rejected."""
    _check_size(data)
    tlv = _decode_at(data, 0)
    if expected_tag is not None and tlv.tag != expected_tag:
        raise ChipFormatError(
            "tlv.unexpected_tag", f"expected tag {expected_tag:#x}, found {tlv.tag:#x}"
        )
    if len(tlv.encoded) != len(data):
        raise ChipFormatError(
            "tlv.trailing_data", f"{len(data) - len(tlv.encoded)} bytes after the data object"
        )
    return tlv


def decode_children(data: bytes) -> tuple[Tlv, ...]:
    """Decode concatenated data objects (a constructed value); empty input gives ()."""
    if data:
        _check_size(data)
    children: list[Tlv] = []
    offset = 0
    while offset < len(data):
        child = _decode_at(data, offset)
        children.append(child)
        offset += len(child.encoded)
    return tuple(children)


def child_value(children: tuple[Tlv, ...], tag: int) -> bytes:
    """The value of the single child carrying ``tag``."""
    matches = [child.value for child in children if child.tag == tag]
    if not matches:
        raise ChipFormatError("tlv.missing_tag", f"tag {tag:#x} is missing")
    if len(matches) > 1:
        raise ChipFormatError("tlv.duplicate_tag", f"tag {tag:#x} appears more than once")
    return matches[0]
