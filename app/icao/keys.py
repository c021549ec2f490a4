"""Reproducible key material for the sandbox PKI and the chips (CONTRIBUTING: "everything derived
from the seed").

EC keys are derived, not generated: HKDF-SHA256 (RFC 5869) over the seed with a label as ``info``
gives ``len(order) + 8`` bytes, reduced into ``[1, order - 1]`` (the 64 extra bits make the bias
negligible) and turned into a key by ``cryptography``'s ``ec.derive_private_key``. The same (seed,
label) always gives the same key.

RSA keys cannot be derived: ``cryptography`` has no seeded RSA generation and this project does not
hand-roll prime generation. ``generate_rsa_private_key`` makes a random key; a caller that wants RSA
and reproducibility generates once and persists the PEM (``private_key_to_pem`` /
``load_private_key_pem``).
"""

from __future__ import annotations

from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from app.icao.algorithms import PrivateKey, PublicKey
from app.icao.errors import UnsupportedAlgorithmError

_CURVE_ORDERS: dict[str, int] = {
    "secp256r1": 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551,
    "secp384r1": int(
        "FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFC7634D81F4372DDF581A0DB248B0A77AECEC196ACCC52973",
        16,
    ),
}


def _hkdf(seed: bytes, *, salt: bytes, label: str, length: int) -> bytes:
    kdf = HKDF(algorithm=hashes.SHA256(), length=length, salt=salt, info=label.encode("utf-8"))
    return kdf.derive(seed)


def derive_ec_private_key(
    seed: bytes, label: str, *, curve: ec.EllipticCurve | None = None
) -> ec.EllipticCurvePrivateKey:
    """The EC private key for ``label`` under ``seed`` (P-256 unless ``curve`` is P-384)."""
    curve = curve or ec.SECP256R1()
    order = _CURVE_ORDERS.get(curve.name)
    if order is None:
        raise UnsupportedAlgorithmError("algorithm.key", f"curve {curve.name} is not supported")
    okm = _hkdf(
        seed, salt=b"dancu-sandbox/ec-key", label=label, length=(order.bit_length() + 7) // 8 + 8
    )
    return ec.derive_private_key(int.from_bytes(okm, "big") % (order - 1) + 1, curve)


def derive_serial_number(seed: bytes, label: str) -> int:
    """A positive, non-zero 127-bit certificate serial number (RFC 5280 §4.1.2.2: ≤ 20 octets)."""
    okm = _hkdf(seed, salt=b"dancu-sandbox/serial", label=label, length=16)
    return (int.from_bytes(okm, "big") >> 1) | 1


def generate_rsa_private_key(*, key_size: int = 2048) -> rsa.RSAPrivateKey:
    """A random RSA key (not reproducible: persist it with ``private_key_to_pem``)."""
    return rsa.generate_private_key(public_exponent=65537, key_size=key_size)


def private_key_to_pem(key: PrivateKey) -> bytes:
    """Unencrypted PKCS#8 PEM (sandbox keys only)."""
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def load_private_key_pem(pem: bytes) -> PrivateKey:
    """Load a PEM written by ``private_key_to_pem``; only EC and RSA keys are accepted."""
    key = serialization.load_pem_private_key(pem, password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
        raise UnsupportedAlgorithmError("algorithm.key", "only EC and RSA keys are supported")
    return key


def public_key_der(key: PrivateKey | PublicKey) -> bytes:
    """DER SubjectPublicKeyInfo of a key (the content of DG15)."""
    public = (
        key.public_key() if isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey) else key
    )
    return public.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


@dataclass(frozen=True)
class KeyedCertificate:
    """A certificate with its private key: a CSCA, a document signer or a master-list signer."""

    certificate: x509.Certificate
    private_key: PrivateKey
