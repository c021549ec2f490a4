"""Hash and signature algorithms accepted on the chip (ICAO Doc 9303 Part 12 §4.4 and Part 11 §6.1).

Hashes: SHA-1, SHA-224, SHA-256, SHA-384, SHA-512 (LDSSecurityObject and CMS digest algorithms).
Signatures: ecdsa-with-SHA224/256/384/512, sha224/256/384/512WithRSAEncryption, rsaEncryption (RFC
5754: the hash is the SignerInfo digest algorithm) and RSASSA-PSS with MGF1 over the same hash.
Anything else raises ``UnsupportedAlgorithmError`` (code ``algorithm.hash``, ``algorithm.signature``
or ``algorithm.key``). All signing and verification goes through ``cryptography``; ECDSA signs
deterministically (RFC 6979) so the same inputs give the same bytes.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Literal, TypeAlias

from asn1crypto import algos, core
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from app.icao.errors import SignatureError, UnsupportedAlgorithmError

PrivateKey: TypeAlias = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey
PublicKey: TypeAlias = ec.EllipticCurvePublicKey | rsa.RSAPublicKey
Scheme = Literal["ecdsa", "pkcs1v15", "pss"]

HASH_OIDS: dict[str, str] = {
    "1.3.14.3.2.26": "sha1",
    "2.16.840.1.101.3.4.2.4": "sha224",
    "2.16.840.1.101.3.4.2.1": "sha256",
    "2.16.840.1.101.3.4.2.2": "sha384",
    "2.16.840.1.101.3.4.2.3": "sha512",
}
_HASH_CLASSES: dict[str, type[hashes.HashAlgorithm]] = {
    "sha1": hashes.SHA1,
    "sha224": hashes.SHA224,
    "sha256": hashes.SHA256,
    "sha384": hashes.SHA384,
    "sha512": hashes.SHA512,
}
_FIXED_SIGNATURES: dict[str, tuple[str, str, Scheme]] = {
    "1.2.840.10045.4.3.1": ("ecdsa-with-SHA224", "sha224", "ecdsa"),
    "1.2.840.10045.4.3.2": ("ecdsa-with-SHA256", "sha256", "ecdsa"),
    "1.2.840.10045.4.3.3": ("ecdsa-with-SHA384", "sha384", "ecdsa"),
    "1.2.840.10045.4.3.4": ("ecdsa-with-SHA512", "sha512", "ecdsa"),
    "1.2.840.113549.1.1.14": ("sha224WithRSAEncryption", "sha224", "pkcs1v15"),
    "1.2.840.113549.1.1.11": ("sha256WithRSAEncryption", "sha256", "pkcs1v15"),
    "1.2.840.113549.1.1.12": ("sha384WithRSAEncryption", "sha384", "pkcs1v15"),
    "1.2.840.113549.1.1.13": ("sha512WithRSAEncryption", "sha512", "pkcs1v15"),
}
RSA_ENCRYPTION = "1.2.840.113549.1.1.1"
RSASSA_PSS = "1.2.840.113549.1.1.10"
_MGF1 = "1.2.840.113549.1.1.8"


@dataclass(frozen=True)
class SignatureAlgorithm:
    """A resolved signature algorithm: the OID as written, the hash and the scheme."""

    name: str
    oid: str
    hash_name: str
    scheme: Scheme
    salt_length: int | None = None


MAX_NAMED_OID = 64  # characters of an unsupported OID an error repeats (real ones: under 40)


def named_oid(oid: str) -> str:
    """An OID read from the caller's data, as an error may repeat it: in full when it is as short
    as real ones are, else only its length (an OID may have thousands of arcs, and an error
    must not echo what it was sent)."""
    if len(oid) <= MAX_NAMED_OID:
        return oid
    return f"(an OID of {len(oid)} characters)"


def hash_name(oid: str) -> str:
    """``sha256`` etc. for a digest algorithm OID."""
    try:
        return HASH_OIDS[oid]
    except KeyError:
        raise UnsupportedAlgorithmError(
            "algorithm.hash", f"unsupported hash algorithm {named_oid(oid)}"
        ) from None


def hash_oid(name: str) -> str:
    """The OID of a hash name (inverse of ``hash_name``)."""
    for oid, known in HASH_OIDS.items():
        if known == name:
            return oid
    raise UnsupportedAlgorithmError("algorithm.hash", f"unsupported hash algorithm {name}")


def digest(name: str, data: bytes) -> bytes:
    """Hash ``data`` with a supported hash (``name`` as returned by ``hash_name``)."""
    if name not in _HASH_CLASSES:
        raise UnsupportedAlgorithmError("algorithm.hash", f"unsupported hash algorithm {name}")
    return hashlib.new(name, data).digest()


def hash_class(name: str) -> hashes.HashAlgorithm:
    """A ``cryptography`` hash instance for ``name``."""
    if name not in _HASH_CLASSES:
        raise UnsupportedAlgorithmError("algorithm.hash", f"unsupported hash algorithm {name}")
    return _HASH_CLASSES[name]()


def _pss(parameters_der: bytes | None) -> SignatureAlgorithm:
    if not parameters_der:
        raise UnsupportedAlgorithmError("algorithm.signature", "RSASSA-PSS without parameters")
    params = algos.RSASSAPSSParams.load(parameters_der, strict=True)
    name = hash_name(params["hash_algorithm"]["algorithm"].dotted)
    mgf = params["mask_gen_algorithm"]
    mgf_hash = hash_name(mgf["parameters"]["algorithm"].dotted)
    if (
        mgf["algorithm"].dotted != _MGF1
        or mgf_hash != name
        or params["trailer_field"].native != "trailer_field_bc"
    ):
        raise UnsupportedAlgorithmError(
            "algorithm.signature", "RSASSA-PSS parameters not supported"
        )
    return SignatureAlgorithm("rsassa-pss", RSASSA_PSS, name, "pss", params["salt_length"].native)


def resolve_signature_algorithm(
    oid: str, parameters_der: bytes | None = None, *, digest_oid: str | None = None
) -> SignatureAlgorithm:
    """Resolve a signature AlgorithmIdentifier (``digest_oid``: the hash of bare rsaEncryption)."""
    if oid in _FIXED_SIGNATURES:
        name, hash_, scheme = _FIXED_SIGNATURES[oid]
        return SignatureAlgorithm(name, oid, hash_, scheme)
    if oid == RSA_ENCRYPTION and digest_oid is not None:
        return SignatureAlgorithm("rsaEncryption", oid, hash_name(digest_oid), "pkcs1v15")
    if oid == RSASSA_PSS:
        try:
            return _pss(parameters_der)
        except (ValueError, TypeError, KeyError) as exc:
            raise UnsupportedAlgorithmError(
                "algorithm.signature", "unreadable RSASSA-PSS parameters"
            ) from exc
    raise UnsupportedAlgorithmError("algorithm.signature",
                                    f"unsupported signature algorithm {named_oid(oid)}")


def signature_algorithm_for(scheme: Scheme, *, hash_name: str = "sha256") -> SignatureAlgorithm:
    """``scheme`` over ``hash_name``; PSS uses MGF1 with the same hash and a hash-sized salt."""
    if scheme == "pss":
        salt_length = hash_class(hash_name).digest_size
        return SignatureAlgorithm("rsassa-pss", RSASSA_PSS, hash_name, "pss", salt_length)
    for oid, (name, known_hash, known_scheme) in _FIXED_SIGNATURES.items():
        if known_hash == hash_name and known_scheme == scheme:
            return SignatureAlgorithm(name, oid, known_hash, scheme)
    raise UnsupportedAlgorithmError("algorithm.hash", f"no {scheme} signature with {hash_name}")


def default_signature_algorithm(
    key: PrivateKey | PublicKey, *, hash_name: str = "sha256"
) -> SignatureAlgorithm:
    """ecdsa-with-SHAxxx for EC keys, shaxxxWithRSAEncryption for RSA keys."""
    is_ec = isinstance(key, ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey)
    return signature_algorithm_for("ecdsa" if is_ec else "pkcs1v15", hash_name=hash_name)


def algorithm_identifier(algorithm: SignatureAlgorithm) -> algos.SignedDigestAlgorithm:
    """The asn1crypto AlgorithmIdentifier for ``algorithm`` (PSS parameters included)."""
    if algorithm.scheme != "pss":
        return algos.SignedDigestAlgorithm({"algorithm": algorithm.oid})
    digest_id = {"algorithm": hash_oid(algorithm.hash_name)}
    params = {
        "hash_algorithm": digest_id,
        "mask_gen_algorithm": {"algorithm": _MGF1, "parameters": digest_id},
        "salt_length": algorithm.salt_length,
    }
    return algos.SignedDigestAlgorithm({"algorithm": RSASSA_PSS, "parameters": params})


def _rsa_padding(algorithm: SignatureAlgorithm) -> padding.AsymmetricPadding:
    if algorithm.scheme == "pss":
        mgf = padding.MGF1(hash_class(algorithm.hash_name))
        return padding.PSS(mgf=mgf, salt_length=algorithm.salt_length or 0)
    return padding.PKCS1v15()


def sign(private_key: PrivateKey, data: bytes, algorithm: SignatureAlgorithm) -> bytes:
    """Sign ``data`` (DER ECDSA signature or RSA signature); ECDSA is deterministic."""
    hash_ = hash_class(algorithm.hash_name)
    if isinstance(private_key, ec.EllipticCurvePrivateKey) and algorithm.scheme == "ecdsa":
        return private_key.sign(data, ec.ECDSA(hash_, deterministic_signing=True))
    if isinstance(private_key, rsa.RSAPrivateKey) and algorithm.scheme != "ecdsa":
        return private_key.sign(data, _rsa_padding(algorithm), hash_)
    raise UnsupportedAlgorithmError("algorithm.key", f"{algorithm.name} does not fit the key type")


def verify(
    public_key: object, signature: bytes, data: bytes, algorithm: SignatureAlgorithm
) -> None:
    """Raise ``SignatureError`` unless ``signature`` over ``data`` verifies with ``public_key``."""
    hash_ = hash_class(algorithm.hash_name)
    try:
        if isinstance(public_key, ec.EllipticCurvePublicKey) and algorithm.scheme == "ecdsa":
            public_key.verify(signature, data, ec.ECDSA(hash_))
            return
        if isinstance(public_key, rsa.RSAPublicKey) and algorithm.scheme != "ecdsa":
            public_key.verify(signature, data, _rsa_padding(algorithm), hash_)
            return
    except InvalidSignature:
        raise SignatureError("signature.invalid", "the signature does not verify") from None
    raise UnsupportedAlgorithmError("algorithm.key", f"{algorithm.name} does not fit the key type")


_DOTTED: dict[bytes, str] = {}


def dotted(oid: core.ObjectIdentifier) -> str:
    """``oid.dotted``, remembered by its encoding: asn1crypto decodes the text anew for every
    parsed value, ~3 us, and a chip read names the same few dozen OIDs ~25 times."""
    text = _DOTTED.get(oid.contents)
    if text is None:
        text = oid.dotted
        if len(_DOTTED) < 256:
            _DOTTED[oid.contents] = text
    return text


def dotted_contents(contents: bytes) -> str:
    """:func:`dotted` of the OID whose contents octets are ``contents`` (asn1crypto decodes it)."""
    text = _DOTTED.get(contents)
    return text if text is not None else dotted(core.ObjectIdentifier(contents=contents))
