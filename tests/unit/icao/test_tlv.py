"""Strict BER-TLV for the LDS: exact encodings, specific errors, nothing else on hostile input."""

from __future__ import annotations

import random

import pytest

from app.icao.errors import ChipFormatError
from app.icao.tlv import (
    MAX_ENCODED_SIZE,
    child_value,
    decode_children,
    decode_tlv,
    encode_children,
    encode_tlv,
)


@pytest.mark.parametrize(
    ("tag", "length", "header"),
    [
        (0x61, 0, "6100"),
        (0x61, 127, "617f"),
        (0x61, 128, "618180"),
        (0x61, 255, "6181ff"),
        (0x61, 256, "61820100"),
        (0x5F01, 4, "5f0104"),
        (0x5F1F, 90, "5f1f5a"),
        (0x7F61, 65536, "7f6183010000"),
    ],
)
def test_encoding_uses_the_minimal_definite_length(tag, length, header):
    encoded = encode_tlv(tag, b"\xab" * length)
    assert encoded.hex().startswith(header)
    assert len(encoded) == len(header) // 2 + length


@pytest.mark.parametrize(
    "tag", [0x60, 0x61, 0x75, 0x77, 0x5C, 0x5F01, 0x5F36, 0x7F60, 0x7F61, 0xA1]
)
@pytest.mark.parametrize("length", [0, 1, 200, 70000])
def test_decoding_inverts_encoding(tag, length):
    value = bytes(range(256)) * (length // 256) + bytes(length % 256)
    decoded = decode_tlv(encode_tlv(tag, value), expected_tag=tag)
    assert (decoded.tag, decoded.value) == (tag, value)


def test_children_decode_in_order_and_child_value_finds_one():
    children = decode_children(encode_children([(0x5F01, b"0107"), (0x5C, b"\x61\x75")]))
    assert [child.tag for child in children] == [0x5F01, 0x5C]
    assert child_value(children, 0x5C) == b"\x61\x75"


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (b"", "tlv.empty"),
        (b"\x61", "tlv.truncated"),
        (b"\x61\x05ab", "tlv.truncated"),
        (b"\x61\x82\x01", "tlv.truncated"),
        (b"\x61\x84\x7f\xff\xff\xff" + b"a" * 8, "tlv.too_large"),
        (b"\x61\x83\x10\x00\x01" + b"a" * 8, "tlv.too_large"),
        (b"\x61\x80abc\x00\x00", "tlv.bad_length"),
        (b"\x61\x85\x00\x00\x00\x00\x01a", "tlv.bad_length"),
        (b"\x61\x81\x05abcde", "tlv.non_minimal_length"),
        (b"\x61\x82\x00\x90" + b"a" * 0x90, "tlv.non_minimal_length"),
        (b"\x5f", "tlv.bad_tag"),
        (b"\x7f\xff\xff\xff\x01\x00", "tlv.bad_tag"),
        (b"\x00\x00", "tlv.bad_tag"),
        (b"\xff\x01a", "tlv.bad_tag"),
        (b"\x61\x01a\x00", "tlv.trailing_data"),
        (b"\x62\x01a", "tlv.unexpected_tag"),
    ],
)
def test_malformed_input_raises_a_specific_chip_format_error(data, code):
    with pytest.raises(ChipFormatError) as error:
        decode_tlv(data, expected_tag=0x61)
    assert error.value.code == code


def test_input_above_the_bound_is_refused_before_parsing():
    with pytest.raises(ChipFormatError) as error:
        decode_tlv(b"\x61" + b"\x00" * MAX_ENCODED_SIZE)
    assert error.value.code == "tlv.too_large"


@pytest.mark.parametrize(
    ("children", "code"), [([], "tlv.missing_tag"), ([0x5C, 0x5C], "tlv.duplicate_tag")]
)
def test_child_value_requires_exactly_one_child_with_the_tag(children, code):
    decoded = decode_children(encode_children([(tag, b"x") for tag in children]))
    with pytest.raises(ChipFormatError) as error:
        child_value(decoded, 0x5C)
    assert error.value.code == code


def test_random_bytes_only_ever_raise_chip_format_errors():
    generator = random.Random(9303)
    for _ in range(3000):
        data = bytes(generator.randrange(256) for _ in range(generator.randrange(1, 24)))
        try:
            decode_children(data)
            decode_tlv(data)
        except ChipFormatError:
            pass
