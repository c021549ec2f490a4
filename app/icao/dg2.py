"""DG2: the encoded face (ICAO Doc 9303 Part 10 §4.7.2, ISO/IEC 7816-11 templates, ISO/IEC
19794-5:2005 record).

File layout::

    75 { 7F61 { 02 <count = 1>,
                7F60 { A1 { 80 0101 (header version), 87 0101 (format owner),
                            88 0008 (format type: face) },
                       5F2E <ISO/IEC 19794-5 facial record> } } }

The facial record: header ``FAC\\0`` ``010\\0`` + record length (4) + number of images (2); one
facial information block of 20 bytes (block length 4, feature points 2, gender 1, eye colour 1, hair
colour 1, feature mask 3, expression 2, pose angle 3, pose uncertainty 3); no feature points; image
information of 12 bytes (face image type 1, image data type 1 (0 JPEG, 1 JPEG 2000), width 2, height
2, colour space 1, source type 1, device type 2, quality 2); then the image bytes. Big-endian
throughout.

Error codes: ``lds.dg2`` plus the ``tlv.*`` codes.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from app.icao.errors import ChipFormatError
from app.icao.tlv import child_value, decode_children, decode_tlv, encode_children, encode_tlv

DG2_TAG = 0x75
ImageType = Literal["jpeg", "jpeg2000"]
Gender = Literal["unspecified", "male", "female"]
_IMAGE_TYPES: dict[ImageType, int] = {"jpeg": 0, "jpeg2000": 1}
_GENDERS: dict[Gender, int] = {"unspecified": 0, "male": 1, "female": 2}
_IMAGE_TYPE_NAMES: dict[int, ImageType] = {code: name for name, code in _IMAGE_TYPES.items()}
_GENDER_NAMES: dict[int, Gender] = {code: name for name, code in _GENDERS.items()}
_HEADER = struct.Struct(">4s4sIH")
_FACIAL_INFORMATION = struct.Struct(">IHBBB3sH3s3s")
_IMAGE_INFORMATION = struct.Struct(">BBHHBBHH")
_FULL_FRONTAL, _RGB24, _DIGITAL_CAMERA = 1, 1, 2
_BIOMETRIC_HEADER = ((0x80, b"\x01\x01"), (0x87, b"\x01\x01"), (0x88, b"\x00\x08"))


@dataclass(frozen=True)
class FacialImage:
    """One face image and the record fields the sandbox fills in."""

    image: bytes
    image_type: ImageType
    width: int
    height: int
    gender: Gender = "unspecified"


def encode_facial_record(face: FacialImage) -> bytes:
    """ISO/IEC 19794-5 facial record with one image."""
    block_length = _FACIAL_INFORMATION.size + _IMAGE_INFORMATION.size + len(face.image)
    information = _FACIAL_INFORMATION.pack(
        block_length, 0, _GENDERS[face.gender], 0, 0, b"\0\0\0", 0, b"\0\0\0", b"\0\0\0"
    )
    image_info = _IMAGE_INFORMATION.pack(
        _FULL_FRONTAL,
        _IMAGE_TYPES[face.image_type],
        face.width,
        face.height,
        _RGB24,
        _DIGITAL_CAMERA,
        0,
        0,
    )
    header = _HEADER.pack(b"FAC\0", b"010\0", _HEADER.size + block_length, 1)
    return header + information + image_info + face.image


def encode_dg2(face: FacialImage) -> bytes:
    """DG2 holding one facial record."""
    header = encode_tlv(0xA1, encode_children(_BIOMETRIC_HEADER))
    instance = encode_tlv(0x7F60, header + encode_tlv(0x5F2E, encode_facial_record(face)))
    group = encode_tlv(0x7F61, encode_tlv(0x02, b"\x01") + instance)
    return encode_tlv(DG2_TAG, group)


def _unpack(layout: struct.Struct, record: bytes, offset: int) -> tuple[Any, ...]:
    if len(record) < offset + layout.size:
        raise ChipFormatError("lds.dg2", "facial record is truncated")
    return layout.unpack_from(record, offset)


def _lookup(table: Mapping[int, str], value: int, what: str) -> str:
    if value not in table:
        raise ChipFormatError("lds.dg2", f"unsupported {what} {value}")
    return table[value]


def parse_facial_record(record: bytes) -> FacialImage:
    """The first image of an ISO/IEC 19794-5 facial record."""
    magic, version, length, count = _unpack(_HEADER, record, 0)
    if (magic, version) != (b"FAC\0", b"010\0") or length != len(record) or count < 1:
        raise ChipFormatError("lds.dg2", "not an ISO/IEC 19794-5 facial record")
    block_length, points, gender, *_ = _unpack(_FACIAL_INFORMATION, record, _HEADER.size)
    image_offset = _HEADER.size + _FACIAL_INFORMATION.size + 8 * int(points)
    _, image_type, width, height, *_ = _unpack(_IMAGE_INFORMATION, record, image_offset)
    _lookup(_IMAGE_TYPE_NAMES, int(image_type), "image data type")
    _lookup(_GENDER_NAMES, int(gender), "gender")
    image_start = image_offset + _IMAGE_INFORMATION.size
    image_end = _HEADER.size + int(block_length)
    if image_end > len(record) or image_end <= image_start:
        raise ChipFormatError("lds.dg2", "facial record lengths are inconsistent")
    return FacialImage(
        image=record[image_start:image_end],
        image_type=_IMAGE_TYPE_NAMES[int(image_type)],
        width=int(width),
        height=int(height),
        gender=_GENDER_NAMES[int(gender)],
    )


def _instances(group_value: bytes) -> tuple[bytes, ...]:
    children = decode_children(group_value)
    instances = tuple(child.value for child in children if child.tag == 0x7F60)
    if not instances or int.from_bytes(child_value(children, 0x02), "big") != len(instances):
        raise ChipFormatError(
            "lds.dg2", "DG2 instance count does not match its biometric instances"
        )
    return instances


def parse_dg2(data: bytes) -> FacialImage:
    """The face in DG2 (the first biometric instance)."""
    group = decode_tlv(decode_tlv(data, expected_tag=DG2_TAG).value, expected_tag=0x7F61)
    instance = decode_children(_instances(group.value)[0])
    header = decode_children(child_value(instance, 0xA1))
    if child_value(header, 0x87) != b"\x01\x01" or child_value(header, 0x88) != b"\x00\x08":
        raise ChipFormatError("lds.dg2", "DG2 biometric header is not an ISO/IEC 19794-5 face")
    return parse_facial_record(child_value(instance, 0x5F2E))
