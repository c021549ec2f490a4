"""Test support: fixed values, and attacker-side JWT crafting.

The forge helpers build compact JWS strings by hand so that any header or payload (duplicate names,
odd types, embedded keys...) can be given a valid signature. Only the tests use them; the library
never parses JWTs itself.
"""

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from app.oidc.keys import SigningKey

T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
ISSUER = "https://id.dancu.sandbox"
USERINFO = f"{ISSUER}/userinfo"
SEED = bytes(range(32))
TTL = timedelta(minutes=5)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64json(value: Any) -> str:
    return b64(json.dumps(value, separators=(",", ":")).encode())


def raw_sign(signing_input: bytes, private_key: Any) -> bytes:
    """ES256 (raw r||s) or RS256 signature with the cryptography library."""
    if isinstance(private_key, ec.EllipticCurvePrivateKey):
        r, s = decode_dss_signature(private_key.sign(signing_input, ec.ECDSA(hashes.SHA256())))
        return r.to_bytes(32, "big") + s.to_bytes(32, "big")
    return private_key.sign(signing_input, padding.PKCS1v15(), hashes.SHA256())


def forge(
    header: dict[str, Any], payload: bytes | dict[str, Any], *, private_key: Any = None
) -> str:
    """``header.payload.signature``; unsigned (empty signature) when ``private_key`` is None."""
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    signing_input = f"{b64json(header)}.{b64(body)}".encode()
    signature = b"" if private_key is None else raw_sign(signing_input, private_key)
    return f"{signing_input.decode()}.{b64(signature)}"


def forge_with(
    key: SigningKey, header_extra: dict[str, Any], payload: bytes | dict[str, Any]
) -> str:
    """Signed by a provider key, with its alg/kid unless ``header_extra`` overrides them."""
    header = {"alg": key.alg, "kid": key.kid, "typ": "at+jwt", **header_extra}
    return forge(header, payload, private_key=key.jwk.private_key)


def forge_hs256(header: dict[str, Any], payload: dict[str, Any], secret: bytes) -> str:
    signing_input = f"{b64json(header)}.{b64json(payload)}".encode()
    return (
        f"{signing_input.decode()}.{b64(hmac.new(secret, signing_input, hashlib.sha256).digest())}"
    )


def split(token: str) -> list[str]:
    return token.split(".")


def decode_segment(segment: str) -> Any:
    return json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
