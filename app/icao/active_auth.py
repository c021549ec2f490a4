"""Active authentication: the chip proves it holds the private key of DG15 (ICAO Doc 9303 Part 11
§6.1).

The reader sends an 8-byte random challenge (INTERNAL AUTHENTICATE); the chip signs it. The
ActiveAuthenticationInfo in DG14 names the signature algorithm, which fixes both the hash and the
encoding of the response:

* ecdsa-plain-SHAxxx (BSI TR-03111 §4.2.1, ``0.4.0.127.0.7.1.1.4.1.{2,3,4,5}``): the plain signature
  ``r ‖ s``, each integer big-endian, padded to the curve's byte length (§5.2.1). The sandbox's
  chips declare and return this (ecdsa-plain-SHA256).
* ecdsa-with-SHAxxx (``1.2.840.10045.4.3.{1,2,3,4}``): a DER ``ECDSA-Sig-Value``.

A verifier reads the response in the declared encoding only. A copied chip (genuine DGs and SOD,
no private key) passes passive authentication but fails here: the "cloned chip" persona.

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

from app.icao.algorithms import PrivateKey, PublicKey, hash_class, named_oid
from app.icao.errors import IcaoError, SignatureError, UnsupportedAlgorithmError

CHALLENGE_LENGTH = 8
PLAIN, DER = "plain", "der"
# signatureAlgorithm OID of the ActiveAuthenticationInfo -> (hash, response encoding)
AA_ALGORITHMS: dict[str, tuple[str, str]] = {
    "0.4.0.127.0.7.1.1.4.1.2": ("sha224", PLAIN),  # ecdsa-plain-SHA224
    "0.4.0.127.0.7.1.1.4.1.3": ("sha256", PLAIN),  # ecdsa-plain-SHA256
    "0.4.0.127.0.7.1.1.4.1.4": ("sha384", PLAIN),  # ecdsa-plain-SHA384
    "0.4.0.127.0.7.1.1.4.1.5": ("sha512", PLAIN),  # ecdsa-plain-SHA512
    "1.2.840.10045.4.3.1": ("sha224", DER),  # ecdsa-with-SHA224
    "1.2.840.10045.4.3.2": ("sha256", DER),  # ecdsa-with-SHA256
    "1.2.840.10045.4.3.3": ("sha384", DER),  # ecdsa-with-SHA384
    "1.2.840.10045.4.3.4": ("sha512", DER),  # ecdsa-with-SHA512
}


def aa_algorithm(oid: str) -> tuple[str, str]:
    """(hash name, ``plain`` or ``der``) of an ActiveAuthenticationInfo signature algorithm."""
    try:
        return AA_ALGORITHMS[oid]
    except KeyError:
        raise UnsupportedAlgorithmError(
            "algorithm.signature",
            f"unsupported active-authentication algorithm {named_oid(oid)}"
        ) from None


def aa_algorithm_oid(hash_name: str, *, encoding: str = PLAIN) -> str:
    """The OID declaring ECDSA over ``hash_name`` with responses in ``encoding``."""
    for oid, known in AA_ALGORITHMS.items():
        if known == (hash_name, encoding):
            return oid
    raise UnsupportedAlgorithmError("algorithm.hash", f"no {encoding} ECDSA with {hash_name}")


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
    private_key: PrivateKey, challenge: bytes, *, hash_name: str = "sha256", encoding: str = PLAIN
) -> bytes:
    """The chip's response: ECDSA over ``challenge`` (deterministic, RFC 6979), plain ``r ‖ s``
    or DER as ``encoding`` says."""
    _check_challenge(challenge)
    if not isinstance(private_key, ec.EllipticCurvePrivateKey):
        raise _unsupported()
    der = private_key.sign(challenge, ec.ECDSA(hash_class(hash_name), deterministic_signing=True))
    if encoding == DER:
        return der
    r, s = decode_dss_signature(der)
    size = _coordinate_length(private_key)
    return r.to_bytes(size, "big") + s.to_bytes(size, "big")


def _as_der(public_key: ec.EllipticCurvePublicKey, response: bytes, encoding: str) -> bytes:
    if not isinstance(response, bytes):
        raise SignatureError("signature.invalid", "the response is not a byte string")
    if encoding == DER:
        try:
            r, s = decode_dss_signature(response)
        except ValueError:
            raise SignatureError(
                "signature.invalid", "the response is not a DER ECDSA signature"
            ) from None
        if encode_dss_signature(r, s) != response:
            raise SignatureError("signature.invalid", "the response is not a DER ECDSA signature")
        return response
    size = _coordinate_length(public_key)
    if len(response) != 2 * size:
        raise SignatureError(
            "signature.invalid", "the response is not a plain ECDSA signature for this curve"
        )
    return encode_dss_signature(
        int.from_bytes(response[:size], "big"), int.from_bytes(response[size:], "big")
    )


def verify_response(
    public_key: PublicKey,
    challenge: bytes,
    response: bytes,
    *,
    hash_name: str = "sha256",
    encoding: str = PLAIN,
) -> None:
    """Raise unless ``response`` is the DG15 key's signature over ``challenge``, encoded as
    ``encoding`` (the encoding DG14 declares)."""
    _check_challenge(challenge)
    if not isinstance(public_key, ec.EllipticCurvePublicKey):
        raise _unsupported()
    der = _as_der(public_key, response, encoding)
    try:
        public_key.verify(der, challenge, ec.ECDSA(hash_class(hash_name)))
    except InvalidSignature:
        raise SignatureError(
            "signature.invalid", "the active-authentication signature does not verify"
        ) from None
