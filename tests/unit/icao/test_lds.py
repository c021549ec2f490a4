"""LDS 1.7 files: EF.COM, DG1, DG2 (ISO/IEC 19794-5), DG13 (documented layout), DG14, DG15."""

from __future__ import annotations

import hashlib
import io
import struct
from dataclasses import replace
from datetime import date

import pytest
from asn1crypto import core, keys, parser
from cryptography.hazmat.primitives.asymmetric import ec
from PIL import Image

from app.icao.dg2 import FacialImage, encode_dg2, encode_facial_record, parse_dg2
from app.icao.dg13 import encode_dg13, parse_dg13
from app.icao.dg14 import encode_dg14, parse_dg14
from app.icao.errors import ChipFormatError, IcaoError
from app.icao.face import synthetic_face
from app.icao.keys import derive_ec_private_key, generate_rsa_private_key, public_key_der
from app.icao.lds import (
    data_group_hash,
    data_group_number,
    encode_com,
    encode_dg1,
    encode_dg15,
    parse_com,
    parse_dg1,
    parse_dg15,
)
from app.icao.mrz import build_td1
from app.icao.tlv import encode_tlv

from .support import DETAILS, HOLDER, SEED


def test_ef_com_lists_versions_and_data_group_tags_as_in_the_spec():
    expected = (
        "6017" + "5f0104" + b"0107".hex() + "5f3606" + b"040000".hex() + "5c05" + "61756d6e6f"
    )
    assert encode_com([1, 2, 13, 14, 15]).hex() == expected


def test_ef_com_parses_back():
    com = parse_com(encode_com([1, 2, 13, 14, 15]))
    assert (com.lds_version, com.unicode_version, com.data_groups) == (
        "0107",
        "040000",
        (1, 2, 13, 14, 15),
    )


def test_ef_com_with_an_unknown_tag_is_rejected():
    bad = encode_tlv(
        0x60,
        encode_tlv(0x5F01, b"0107") + encode_tlv(0x5F36, b"040000") + encode_tlv(0x5C, b"\x99"),
    )
    with pytest.raises(ChipFormatError) as error:
        parse_com(bad)
    assert error.value.code == "lds.com"


def test_dg1_holds_the_90_mrz_characters_under_5f1f():
    td1 = build_td1(HOLDER)
    assert encode_dg1(td1) == bytes.fromhex("615d5f1f5a") + td1.text.encode("ascii")
    assert parse_dg1(encode_dg1(td1)) == td1


def test_dg1_with_a_broken_mrz_raises_an_mrz_error():
    text = build_td1(HOLDER).text.replace("<<2", "<<3", 1).encode("ascii")
    with pytest.raises(IcaoError) as error:
        parse_dg1(encode_tlv(0x61, encode_tlv(0x5F1F, text)))
    assert error.value.code == "mrz.check_digit"


@pytest.mark.parametrize(
    ("key", "number"), [(1, 1), (16, 16), ("1", 1), ("DG2", 2), ("dg13", 13), ("Dg15", 15)]
)
def test_data_group_keys_accept_numbers_and_names(key, number):
    assert data_group_number(key) == number


@pytest.mark.parametrize("key", [0, 17, -1, "DG0", "DG17", "COM", "SOD", "", 1.0, True, None])
def test_other_data_group_keys_are_rejected(key):
    with pytest.raises(ChipFormatError):
        data_group_number(key)


def test_data_group_hash_covers_the_whole_file_including_tag_and_length():
    dg1 = encode_dg1(build_td1(HOLDER))
    assert data_group_hash(dg1, hash_name="sha256") == hashlib.sha256(dg1).digest()
    assert data_group_hash(dg1, hash_name="sha384") == hashlib.sha384(dg1).digest()


# --- DG2 ---------------------------------------------------------------------------------------


def test_synthetic_face_is_a_small_deterministic_jpeg():
    face = synthetic_face(b"card-1")
    assert face == synthetic_face(b"card-1")
    assert face.image != synthetic_face(b"card-2").image
    assert face.image.startswith(b"\xff\xd8")
    assert 1_000 < len(face.image) < 10_000
    with Image.open(io.BytesIO(face.image)) as image:
        assert (image.format, image.size) == ("JPEG", (face.width, face.height))


def test_facial_record_follows_iso_19794_5_header_layout():
    face = synthetic_face(b"card-1", gender="female")
    record = encode_facial_record(face)
    magic, version, length, count = struct.unpack_from(">4s4sIH", record)
    assert (magic, version, length, count) == (b"FAC\0", b"010\0", len(record), 1)
    block_length, points, gender = struct.unpack_from(">IHB", record, 14)
    assert (block_length, points, gender) == (len(record) - 14, 0, 2)
    assert record[14 + 20 + 12 :] == face.image


def test_dg2_wraps_the_record_in_the_biometric_templates():
    dg2 = encode_dg2(synthetic_face(b"card-1"))
    assert dg2[:1] == b"\x75"
    assert b"\x7f\x61" in dg2[:8]
    assert bytes.fromhex("a10c" + "80020101" + "87020101" + "88020008") in dg2


def test_dg2_round_trips():
    face = synthetic_face(b"card-1", gender="male")
    assert parse_dg2(encode_dg2(face)) == face


@pytest.mark.parametrize(
    "corrupt",
    [
        lambda record: record[:20],
        lambda record: b"FAD\0" + record[4:],
        lambda record: record[:8] + struct.pack(">I", len(record) + 1) + record[12:],
        lambda record: record[:14] + struct.pack(">I", 10**6) + record[18:],
        lambda record: record[:35] + b"\x07" + record[36:],
    ],
    ids=["truncated", "magic", "record-length", "block-length", "image-type"],
)
def test_dg2_with_a_corrupt_facial_record_is_rejected(corrupt):
    record = corrupt(encode_facial_record(synthetic_face(b"card-1")))
    header = encode_tlv(0xA1, encode_tlv(0x87, b"\x01\x01") + encode_tlv(0x88, b"\x00\x08"))
    instance = encode_tlv(0x7F60, header + encode_tlv(0x5F2E, record))
    dg2 = encode_tlv(0x75, encode_tlv(0x7F61, encode_tlv(0x02, b"\x01") + instance))
    with pytest.raises(ChipFormatError) as error:
        parse_dg2(dg2)
    assert error.value.code == "lds.dg2"


def test_dg2_instance_count_must_match():
    dg2 = encode_dg2(synthetic_face(b"card-1"))
    with pytest.raises(ChipFormatError):
        parse_dg2(dg2.replace(b"\x02\x01\x01", b"\x02\x01\x02", 1))


# --- DG13 --------------------------------------------------------------------------------------


class _Field(core.Sequence):
    _fields = [("index", core.Integer), ("value", core.UTF8String)]


class _Fields(core.SequenceOf):
    _child_spec = _Field


def _dg13_fields(dg13: bytes) -> list[tuple[int, str]]:
    """Independent reading of the layout documented in app.icao.dg13."""
    class_, constructed, tag, _, content, _ = parser.parse(dg13, strict=True)
    assert (class_, constructed, tag) == (1, 1, 13)  # 0x6D: application, constructed, 13
    return [(item["index"].native, item["value"].native) for item in _Fields.load(content)]


def test_dg13_holds_the_16_fields_in_the_documented_order_and_formats():
    fields = _dg13_fields(encode_dg13(DETAILS))
    assert [index for index, _ in fields] == list(range(1, 17))
    assert fields[:4] == [(1, "001093047064"), (2, "Ứng Hoàng Hiệp"), (3, "05/01/1993"), (4, "Nam")]
    assert fields[10:12] == [(11, "01/04/2021"), (12, "05/01/2033")]
    assert fields[12:] == [(13, "Ứng Văn Hùng"), (14, "Lê Thị Hoa"), (15, ""), (16, "")]


def test_dg13_writes_no_expiry_as_khong_thoi_han_and_female_as_nu():
    fields = _dg13_fields(encode_dg13(replace(DETAILS, expiry_date=None, sex="F")))
    assert (fields[3][1], fields[11][1]) == ("Nữ", "Không thời hạn")


@pytest.mark.parametrize(
    "details", [DETAILS, replace(DETAILS, expiry_date=None, sex="F", spouse_name="Mai Thị Đào")]
)
def test_dg13_round_trips(details):
    assert parse_dg13(encode_dg13(details)) == details


def test_dg13_normalises_text_to_nfc():
    decomposed = replace(DETAILS, full_name="U\u031b\u0301ng Hoa\u0300ng Hie\u0323\u0302p")
    assert parse_dg13(encode_dg13(decomposed)).full_name == "Ứng Hoàng Hiệp"


def _dg13_with(items: list[tuple[int, str]]) -> bytes:
    sequence = core.Sequence(
        contents=b"".join(
            core.Sequence(contents=core.Integer(index).dump() + core.UTF8String(text).dump()).dump()
            for index, text in items
        )
    )
    return encode_tlv(0x6D, sequence.dump())


@pytest.mark.parametrize(
    "mutate",
    [
        lambda items: items[:15],
        lambda items: [items[1], items[0], *items[2:]],
        lambda items: [*items[:2], (3, "1993-01-05"), *items[3:]],
        lambda items: [*items[:3], (4, "M"), *items[4:]],
    ],
    ids=["missing-field", "order", "date-format", "sex-label"],
)
def test_dg13_outside_the_documented_layout_is_rejected(mutate):
    items = _dg13_fields(encode_dg13(DETAILS))
    with pytest.raises(ChipFormatError) as error:
        parse_dg13(_dg13_with(mutate(items)))
    assert error.value.code == "lds.dg13"


# --- DG14 and DG15 -----------------------------------------------------------------------------


def test_dg14_announces_chip_and_active_authentication():
    key = derive_ec_private_key(SEED, "chip/x/ca").public_key()
    content = parser.parse(encode_dg14(chip_authentication_key=key), strict=True)[4]
    infos = core.SetOf.load(content)
    protocols = {core.Sequence.load(info.dump())[0].dotted for info in infos}
    assert protocols == {"0.4.0.127.0.7.2.2.1.2", "0.4.0.127.0.7.2.2.3.2.2", "2.23.136.1.1.5"}


def test_dg14_round_trips_the_key_and_the_active_authentication_algorithm():
    key = derive_ec_private_key(SEED, "chip/x/ca").public_key()
    infos = parse_dg14(
        encode_dg14(chip_authentication_key=key, active_authentication_hash="sha384")
    )
    assert infos.chip_authentication_public_key == public_key_der(key)
    assert keys.PublicKeyInfo.load(infos.chip_authentication_public_key).algorithm == "ec"
    assert infos.active_authentication_algorithm == "0.4.0.127.0.7.1.1.4.1.4"  # ecdsa-plain-SHA384


def test_dg14_without_chip_authentication_still_names_the_aa_algorithm():
    infos = parse_dg14(encode_dg14(chip_authentication_key=None))
    assert infos.chip_authentication_public_key is None
    assert infos.active_authentication_algorithm == "0.4.0.127.0.7.1.1.4.1.3"


@pytest.mark.parametrize(
    ("encoding", "oid"),
    [("plain", "0.4.0.127.0.7.1.1.4.1.3"), ("der", "1.2.840.10045.4.3.2")],
    ids=["ecdsa-plain-SHA256", "ecdsa-with-SHA256"],
)
def test_dg14_declares_the_encoding_of_the_active_authentication_response(encoding, oid):
    """The chip answers r‖s, which BSI TR-03111 calls ecdsa-plain; ecdsa-with-SHA256 means DER."""
    infos = parse_dg14(encode_dg14(chip_authentication_key=None,
                                   active_authentication_encoding=encoding))
    assert infos.active_authentication_algorithm == oid


@pytest.mark.parametrize(
    "content", [b"\x31\x03\x02\x01\x01", b"\x30\x00", b"\x31\x05\x30\x03\x06\x01\x00"]
)
def test_malformed_dg14_is_rejected(content):
    with pytest.raises(ChipFormatError):
        parse_dg14(encode_tlv(0x6E, content))


@pytest.mark.parametrize(
    "key",
    [
        derive_ec_private_key(SEED, "dg15"),
        derive_ec_private_key(SEED, "dg15", curve=ec.SECP384R1()),
    ],
)
def test_dg15_round_trips_the_active_authentication_key(key):
    assert parse_dg15(encode_dg15(key.public_key())) == key.public_key()


def test_dg15_carries_an_rsa_key_too():
    key = generate_rsa_private_key()
    assert parse_dg15(encode_dg15(key.public_key())) == key.public_key()


def test_dg15_with_garbage_inside_is_rejected():
    with pytest.raises(ChipFormatError):
        parse_dg15(encode_tlv(0x6F, b"\x30\x03\x02\x01\x01"))


def test_facial_image_dataclass_is_frozen():
    face = FacialImage(b"x", "jpeg", 1, 1)
    with pytest.raises(AttributeError):
        face.width = 2  # type: ignore[misc]


@pytest.mark.parametrize(("born", "precision", "text"), [
    (date(1950, 1, 1), "year", "1950"),
    (date(1950, 3, 1), "month", "03/1950"),
    (date(1950, 3, 7), "day", "07/03/1950"),
])
def test_dg13_writes_a_partial_birth_date_as_printed_and_reads_it_back(born, precision, text):
    details = replace(DETAILS, date_of_birth=born, birth_precision=precision)
    assert _dg13_fields(encode_dg13(details))[2] == (3, text)
    assert parse_dg13(encode_dg13(details)) == details


@pytest.mark.parametrize("text", ["1950/03", "13/1950", "195", "00/03/1950"])
def test_dg13_refuses_a_birth_date_in_no_printed_form(text):
    items = _dg13_fields(encode_dg13(DETAILS))
    items[2] = (3, text)
    with pytest.raises(ChipFormatError, match="birth date"):
        parse_dg13(_dg13_with(items))
