"""BAC key seed (Doc 9303 Part 11 §9.7.1) and the constant-time check of a presented key."""

from __future__ import annotations

import hashlib

import pytest

from app.icao.bac import key_seed, key_seed_for, key_seed_matches, mrz_information
from app.icao.mrz import build_td1

from .support import HOLDER

# ICAO Doc 9303 Part 11, Appendix D.2 worked example.
ICAO_MRZ_INFORMATION = "L898902C<369080619406236"
ICAO_KEY_SEED = bytes.fromhex("239AB9CB282DAF66231DC5A4DF6BFBAE")


def test_key_seed_reproduces_the_icao_worked_example():
    assert key_seed_for(ICAO_MRZ_INFORMATION) == ICAO_KEY_SEED


def test_mrz_information_is_document_number_birth_and_expiry_with_check_digits():
    assert mrz_information(build_td1(HOLDER)) == "093047064" + "1" + "930105" + "4" + "330105" + "2"


def test_key_seed_is_the_first_16_bytes_of_sha1_of_the_mrz_information():
    expected = hashlib.sha1(b"0930470641" + b"9301054" + b"3301052").digest()[:16]
    assert key_seed(build_td1(HOLDER)) == expected


@pytest.mark.parametrize(
    ("presented", "accepted"),
    [
        (ICAO_KEY_SEED.hex(), True),
        (ICAO_KEY_SEED.hex().upper(), True),
        (ICAO_KEY_SEED.hex()[:-1] + "0", False),
        (ICAO_KEY_SEED.hex()[:-2], False),
        (ICAO_KEY_SEED.hex() + "00", False),
        ("zz" * 16, False),
        ("", False),
        (None, False),
        (ICAO_KEY_SEED, False),
    ],
)
def test_presented_key_seed_must_be_the_exact_hex(presented, accepted):
    assert key_seed_matches(ICAO_KEY_SEED, presented) is accepted
