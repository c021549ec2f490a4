"""RFC 7636 PKCE, S256 only."""

import base64
import hashlib

import pytest

from app.oidc import pkce
from app.oidc.errors import InvalidGrant, InvalidRequest

RFC7636_VERIFIER = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
# RFC 7636 Appendix B. (A copy of this vector circulating in our brief, "...FrEXGv4ZrHp0y1wd...", is
# 45 characters long and cannot be an S256 challenge; the RFC's own octets below settle it.)
RFC7636_CHALLENGE = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
RFC7636_SHA256_OCTETS = bytes(
    [
        19,
        211,
        30,
        150,
        26,
        26,
        216,
        236,
        47,
        22,
        177,
        12,
        76,
        152,
        46,
        8,
        118,
        168,
        120,
        173,
        109,
        241,
        68,
        86,
        110,
        225,
        137,
        74,
        203,
        112,
        249,
        195,
    ]
)


def test_s256_matches_rfc7636_appendix_b_vector():
    assert pkce.s256_challenge(RFC7636_VERIFIER) == RFC7636_CHALLENGE


def test_appendix_b_challenge_is_the_base64url_of_the_rfc_octets():
    assert base64.urlsafe_b64decode(RFC7636_CHALLENGE + "=") == RFC7636_SHA256_OCTETS


def test_s256_agrees_with_an_independent_computation():
    verifier = "a" * 43 + "-._~" + "Z" * 81
    expected = (
        base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
    )
    assert pkce.s256_challenge(verifier) == expected


@pytest.mark.parametrize(
    ("verifier", "valid"),
    [
        ("a" * 43, True),
        ("a" * 128, True),
        ("A1-._~" * 10, True),
        ("a" * 42, False),
        ("a" * 129, False),
        ("a" * 42 + "=", False),
        ("a" * 42 + "+", False),
        ("a" * 42 + " ", False),
        ("a" * 43 + "\n", False),
        ("á" * 43, False),
        ("", False),
    ],
)
def test_verifier_abnf_is_43_to_128_unreserved_characters(verifier, valid):
    assert pkce.is_valid_verifier(verifier) is valid


def test_valid_s256_challenge_is_accepted():
    assert pkce.validate_challenge(RFC7636_CHALLENGE, "S256") == RFC7636_CHALLENGE


@pytest.mark.parametrize(
    ("challenge", "method", "message"),
    [
        (None, "S256", "required"),
        ("", "S256", "required"),
        (RFC7636_CHALLENGE, "plain", "S256"),
        (RFC7636_CHALLENGE, None, "S256"),
        (RFC7636_CHALLENGE, "s256", "S256"),
        (RFC7636_CHALLENGE[:42], "S256", "not a valid"),
        (RFC7636_CHALLENGE + "A", "S256", "not a valid"),
        (RFC7636_CHALLENGE[:42] + "=", "S256", "not a valid"),
        (RFC7636_CHALLENGE[:42] + "~", "S256", "not a valid"),
        ("a" * 128, "S256", "not a valid"),
    ],
)
def test_bad_challenge_is_invalid_request(challenge, method, message):
    with pytest.raises(InvalidRequest, match=message):
        pkce.validate_challenge(challenge, method)


def test_matching_verifier_is_accepted():
    pkce.verify_code_verifier(RFC7636_VERIFIER, challenge=RFC7636_CHALLENGE)


@pytest.mark.parametrize(
    ("verifier", "message"),
    [
        (None, "required"),
        ("", "required"),
        ("a" * 42, "malformed"),
        ("a" * 129, "malformed"),
        (RFC7636_VERIFIER[:-1] + "l", "failed"),
        (RFC7636_CHALLENGE, "failed"),
    ],
)
def test_missing_malformed_or_wrong_verifier_is_invalid_grant(verifier, message):
    with pytest.raises(InvalidGrant, match=message):
        pkce.verify_code_verifier(verifier, challenge=RFC7636_CHALLENGE)


@pytest.mark.parametrize(
    ("verifier", "challenge", "refused"),
    [
        (None, None, False),
        ("", None, False),
        (RFC7636_VERIFIER, None, True),  # a downgrade: no challenge was sent (RFC 9700 §2.1.1)
        (RFC7636_VERIFIER, RFC7636_CHALLENGE, False),
        (None, RFC7636_CHALLENGE, True),
    ],
)
def test_a_verifier_is_needed_exactly_when_the_code_has_a_challenge(verifier, challenge, refused):
    if refused:
        with pytest.raises(InvalidGrant):
            pkce.check_verifier(verifier, challenge=challenge)
    else:
        pkce.check_verifier(verifier, challenge=challenge)
