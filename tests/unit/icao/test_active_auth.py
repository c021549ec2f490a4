"""Active authentication (Doc 9303 Part 11 §6.1): plain ECDSA r‖s over an 8-byte challenge."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from app.icao.active_auth import aa_algorithm, sign_challenge, verify_response
from app.icao.errors import IcaoError, SignatureError, UnsupportedAlgorithmError
from app.icao.keys import derive_ec_private_key, generate_rsa_private_key

from .support import CHALLENGE, SEED

CHIP_KEY = derive_ec_private_key(SEED, "chip/card-1/aa")
CLONE_KEY = derive_ec_private_key(SEED, "chip/clone/aa")


def test_response_is_plain_r_and_s_that_cryptography_verifies():
    response = sign_challenge(CHIP_KEY, CHALLENGE)
    assert len(response) == 64
    der = encode_dss_signature(
        int.from_bytes(response[:32], "big"), int.from_bytes(response[32:], "big")
    )
    CHIP_KEY.public_key().verify(der, CHALLENGE, ec.ECDSA(hashes.SHA256()))


def test_response_verifies_with_the_chip_public_key():
    verify_response(CHIP_KEY.public_key(), CHALLENGE, sign_challenge(CHIP_KEY, CHALLENGE))


def test_p384_responses_are_96_bytes():
    key = derive_ec_private_key(SEED, "p384", curve=ec.SECP384R1())
    response = sign_challenge(key, CHALLENGE, hash_name="sha384")
    assert len(response) == 96
    verify_response(key.public_key(), CHALLENGE, response, hash_name="sha384")


@pytest.mark.parametrize(
    "response",
    [
        sign_challenge(CLONE_KEY, CHALLENGE),
        sign_challenge(CHIP_KEY, bytes(8)),
        sign_challenge(CHIP_KEY, CHALLENGE, hash_name="sha384"),
        bytes(64),
        sign_challenge(CHIP_KEY, CHALLENGE)[:63],
        sign_challenge(CHIP_KEY, CHALLENGE) + b"\x00",
    ],
    ids=["cloned-chip", "other-challenge", "other-hash", "zeros", "short", "long"],
)
def test_a_response_not_made_by_the_chip_key_for_this_challenge_fails(response):
    with pytest.raises(SignatureError):
        verify_response(CHIP_KEY.public_key(), CHALLENGE, response)


@pytest.mark.parametrize("challenge", [b"", bytes(7), bytes(9), bytes(16), "01234567"])
def test_challenges_must_be_exactly_8_bytes(challenge):
    with pytest.raises(IcaoError) as signing:
        sign_challenge(CHIP_KEY, challenge)
    with pytest.raises(IcaoError) as verifying:
        verify_response(CHIP_KEY.public_key(), challenge, bytes(64))
    assert signing.value.code == verifying.value.code == "aa.challenge"


def test_rsa_active_authentication_is_reported_as_unsupported():
    key = generate_rsa_private_key()
    with pytest.raises(UnsupportedAlgorithmError):
        sign_challenge(key, CHALLENGE)
    with pytest.raises(UnsupportedAlgorithmError):
        verify_response(key.public_key(), CHALLENGE, bytes(256))


@pytest.mark.parametrize(
    ("oid", "hash_name", "encoding"),
    [
        ("0.4.0.127.0.7.1.1.4.1.3", "sha256", "plain"),
        ("0.4.0.127.0.7.1.1.4.1.4", "sha384", "plain"),
        ("1.2.840.10045.4.3.2", "sha256", "der"),
        ("1.2.840.10045.4.3.4", "sha512", "der"),
    ],
)
def test_the_declared_algorithm_fixes_hash_and_encoding(oid, hash_name, encoding):
    assert aa_algorithm(oid) == (hash_name, encoding)
    response = sign_challenge(CHIP_KEY, CHALLENGE, hash_name=hash_name, encoding=encoding)
    verify_response(CHIP_KEY.public_key(), CHALLENGE, response, hash_name=hash_name,
                    encoding=encoding)


@pytest.mark.parametrize(("signed", "declared"), [("plain", "der"), ("der", "plain")])
def test_a_response_in_the_other_encoding_fails(signed, declared):
    response = sign_challenge(CHIP_KEY, CHALLENGE, encoding=signed)
    with pytest.raises(SignatureError):
        verify_response(CHIP_KEY.public_key(), CHALLENGE, response, encoding=declared)


def test_an_unknown_declared_algorithm_is_unsupported():
    with pytest.raises(UnsupportedAlgorithmError):
        aa_algorithm("1.2.840.113549.1.1.11")
