"""Proof Key for Code Exchange, RFC 7636, restricted to ``S256``.

* §4.1 ``code-verifier = 43*128unreserved``,
  ``unreserved = ALPHA / DIGIT / "-" / "." / "_" / "~"``.
* §4.2 ``code_challenge = BASE64URL-ENCODE(SHA256(ASCII(code_verifier)))`` for S256. The S256
  challenge is therefore always exactly 43 base64url characters; anything else can never match a
  verifier, so it is refused at the authorization endpoint rather than at redemption.
* ``plain`` is refused (RFC 9700 §2.1.1: use S256; FAPI 2.0 §5.3.2.2-5), and so is a challenge
  without ``code_challenge_method`` (RFC 7636 §4.3 would default it to ``plain``).
* §4.6 the comparison is constant-time (``hmac.compare_digest``).

A code issued without a challenge (a client whose policy does not require PKCE) refuses any
``code_verifier`` (RFC 9700 §2.1.1: otherwise a PKCE downgrade goes unnoticed).

Errors: problems with the challenge are ``invalid_request`` (authorization endpoint, §4.4.1);
problems with the verifier are ``invalid_grant`` (token endpoint, §4.6).

Appendix B vector: verifier ``dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk``
-> challenge ``E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM``.

>>> s256_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk")
'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM'
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re

from app.oidc.errors import InvalidGrant, InvalidRequest

S256 = "S256"
SUPPORTED_METHODS = (S256,)

_VERIFIER = re.compile(r"[A-Za-z0-9\-._~]{43,128}")
_S256_CHALLENGE = re.compile(r"[A-Za-z0-9\-_]{43}")


def is_valid_verifier(verifier: str) -> bool:
    """True when ``verifier`` matches the RFC 7636 §4.1 ABNF (43-128 unreserved characters)."""
    return _VERIFIER.fullmatch(verifier) is not None


def s256_challenge(verifier: str) -> str:
    """``BASE64URL(SHA256(ASCII(verifier)))`` without padding (RFC 7636 §4.2)."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def validate_challenge(challenge: str | None, method: str | None) -> str:
    """Check the authorization-request PKCE parameters (RFC 7636 §4.3, §4.4.1)."""
    if not challenge:
        raise InvalidRequest("code_challenge is required (PKCE S256).")
    if method != S256:
        raise InvalidRequest("code_challenge_method must be S256.")
    if _S256_CHALLENGE.fullmatch(challenge) is None:
        raise InvalidRequest("code_challenge is not a valid S256 challenge.")
    return challenge


def check_verifier(verifier: str | None, *, challenge: str | None) -> None:
    """:func:`verify_code_verifier`, or for a code issued without a challenge, no verifier."""
    if challenge is not None:
        verify_code_verifier(verifier, challenge=challenge)
    elif verifier:  # an empty parameter counts as omitted (RFC 6749 §3.2)
        raise InvalidGrant("code_verifier sent, but the authorization request had no "
                           "code_challenge.")


def verify_code_verifier(verifier: str | None, *, challenge: str) -> None:
    """Check the token-request verifier against the stored S256 challenge (RFC 7636 §4.6)."""
    if not verifier:
        raise InvalidGrant("code_verifier is required.")
    if not is_valid_verifier(verifier):
        raise InvalidGrant("code_verifier is malformed.")
    if not hmac.compare_digest(s256_challenge(verifier), challenge):
        raise InvalidGrant("PKCE verification failed.")
