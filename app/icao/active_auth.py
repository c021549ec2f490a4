"""Active authentication: the chip proves it holds the private key of DG15 (ICAO Doc 9303 Part 11
§6.1).

The reader sends an 8-byte random challenge (INTERNAL AUTHENTICATE); the chip signs it. For ECDSA
the response is the plain signature ``r ‖ s`` (each integer big-endian, padded to the curve's byte
length, BSI TR-03111 §5.2.1) over the challenge with the hash named by the ActiveAuthenticationInfo
in DG14 (SHA-256 by default). A copied chip (genuine DGs and SOD, no private key) passes passive
authentication but fails here: the "cloned chip" persona.

RSA active authentication uses ISO/IEC 9796-2 scheme 1 with message recovery, which ``cryptography``
does not offer; this project does not hand-roll it, so RSA keys raise ``UnsupportedAlgorithmError``
(``algorithm.key``). Other errors: ``IcaoError`` ``aa.challenge`` (challenge not 8 bytes),
``SignatureError`` ``signature.invalid``.
"""

from __future__ import annotations

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)

from app.icao.algorithms import PrivateKey, PublicKey, hash_class
from app.icao.errors import IcaoError, SignatureError, UnsupportedAlgorithmError

CHALLENGE_LENGTH = 8


def _check_challenge(challenge: bytes) -> None:
    if not isinstance(challenge, bytes) or len(challenge) != CHALLENGE_LENGTH:
        raise IcaoError("aa.challenge", f"the challenge must be {CHALLENGE_LENGTH} bytes")


def _coordinate_length(key: ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey) -> int:
    return (key.curve.key_size + 7) // 8


def _unsupported() -> UnsupportedAlgorithmError:
    return UnsupportedAlgorithmError(
        "algorithm.key", "only ECDSA active authentication is implemented"
    )


def sign_challenge(
    private_key: PrivateKey, challenge: bytes, *, hash_name: str = "sha256"
) -> bytes:
    """The chip's response: plain ``r ‖ s`` ECDSA over ``challenge`` (deterministic, RFC 6979)."""
    _check_challenge(challenge)
    if not isinstance(private_key, ec.EllipticCurvePrivateKey):
        raise _unsupported()
    der = private_key.sign(challenge, ec.ECDSA(hash_class(hash_name), deterministic_signing=True))
    r, s = decode_dss_signature(der)
    size = _coordinate_length(private_key)
    return r.to_bytes(size, "big") + s.to_bytes(size, "big")


def verify_response(
    public_key: PublicKey, challenge: bytes, response: bytes, *, hash_name: str = "sha256"
) -> None:
    """Raise unless ``response`` is the DG15 key's signature over ``challenge``."""
    _check_challenge(challenge)
    if not isinstance(public_key, ec.EllipticCurvePublicKey):
        raise _unsupported()
    size = _coordinate_length(public_key)
    if not isinstance(response, bytes) or len(response) != 2 * size:
        raise SignatureError(
            "signature.invalid", "the response is not a plain ECDSA signature for this curve"
        )
    der = encode_dss_signature(
        int.from_bytes(response[:size], "big"), int.from_bytes(response[size:], "big")
    )
    try:
        public_key.verify(der, challenge, ec.ECDSA(hash_class(hash_name)))
    except InvalidSignature:
        raise SignatureError(
            "signature.invalid", "the active-authentication signature does not verify"
        ) from None
