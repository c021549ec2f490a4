"""The quick readings of app.icao.der (SOD, LDSSecurityObject, DG13, DG14) give what the typed
asn1crypto parse gives, and accept nothing it would refuse: compared on genuine files and on every
one-byte alteration and truncation of them."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from app.icao import der, dg13, dg14, signed_data, sod
from app.icao.chip import derive_chip_keys, issue_chip
from app.icao.face import synthetic_face
from app.icao.lds import SOD_TAG
from app.icao.mrz import build_td1
from app.icao.tlv import decode_tlv

from .support import DETAILS, HOLDER, SEED, genuine_chip, issue, pki, rsa_pki

_QUICK_MISSES = (der.Unexpected, ValueError, TypeError, KeyError, IndexError, OverflowError)


def _signed_data(sod_bytes: bytes) -> bytes:
    return decode_tlv(sod_bytes, expected_tag=SOD_TAG).value


def _readers() -> dict[str, tuple[Callable[[bytes], Any], Callable[[bytes], Any]]]:
    return {
        "SignedData": (signed_data._known, signed_data._parse),
        "LDSSecurityObject": (sod._known_security_object, sod._security_object),
        "DG13": (dg13._known_texts, dg13._typed_texts),
        "DG14": (dg14._known_infos, dg14._parse_infos),
    }


def _inputs(chip: Any) -> dict[str, bytes]:
    body = _signed_data(chip.sod)
    return {
        "SignedData": body,
        "LDSSecurityObject": signed_data._parse(body).econtent,
        "DG13": decode_tlv(chip.data_groups[13], expected_tag=0x6D).value,
        "DG14": decode_tlv(chip.data_groups[14], expected_tag=0x6E).value,
    }


def _chips() -> list[Any]:
    rsa = rsa_pki()
    return [
        genuine_chip(),
        issue(signing_time=None),
        issue(signing_time=datetime(2051, 1, 1, tzinfo=UTC)),  # a GeneralizedTime signingTime
        issue(rsa.signer_at(datetime(2021, 4, 1, tzinfo=UTC))),
        issue_chip(td1=build_td1(HOLDER), details=DETAILS, face=synthetic_face(b"x", gender="male"),
                   keys=derive_chip_keys(SEED, "card-2"), signer=pki().signer_at(
                       datetime(2021, 4, 1, tzinfo=UTC)), signing_time=None, hash_name="sha1"),
    ]


@pytest.mark.parametrize("name", ["SignedData", "LDSSecurityObject", "DG13", "DG14"])
def test_the_quick_reading_of_genuine_files_equals_the_typed_parse(name: str) -> None:
    quick, typed = _readers()[name]
    for chip in _chips():
        data = _inputs(chip)[name]
        assert quick(data) == typed(data)


def _altered(data: bytes) -> list[bytes]:
    versions = [data[:cut] for cut in range(0, len(data), 7)] + [data + b"\x00"]
    for position in range(len(data)):
        for change in (0x01, 0x80, 0xFF):
            versions.append(data[:position] + bytes([data[position] ^ change]) +
                            data[position + 1:])
    return versions


@pytest.mark.parametrize("name", ["SignedData", "LDSSecurityObject", "DG13", "DG14"])
def test_an_altered_file_is_read_quickly_only_as_the_typed_parse_reads_it(name: str) -> None:
    quick, typed = _readers()[name]
    read_quickly = 0
    for data in _altered(_inputs(genuine_chip())[name]):
        try:
            answer = quick(data)
        except _QUICK_MISSES:
            continue
        read_quickly += 1
        assert typed(data) == answer, data.hex()
    assert read_quickly > 0  # some alterations keep the layout (a byte of a hash, of a name)
