"""The JWT attack corpus of the reliability catalogue (§4, RFC 8725), built from a genuine token of
the running service: each case is a string a resource server must refuse.

The cases are made from the genuine token's own header and claims, re-signed where a case needs
a valid signature (with the provider's own keys when the point is a claim, with an attacker's key
when the point is the key), so every case differs from a valid token by exactly one defect.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from app.oidc.keys import SigningKey
from tests.unit.oidc.support import b64, b64json, forge, forge_hs256


@dataclass(frozen=True)
class Material:
    """What an attacker (or the test) has: a genuine token and the provider's signing keys."""

    token: str
    other_token: str  # another genuine token (its signature is transplanted)
    id_token: str  # an ID token of the same provider (type confusion)
    ec_key: SigningKey
    rsa_key: SigningKey
    issuer: str

    @property
    def header(self) -> dict[str, Any]:
        return _decode(self.token.split(".")[0])

    @property
    def claims(self) -> dict[str, Any]:
        return _decode(self.token.split(".")[1])


def _decode(part: str) -> dict[str, Any]:
    return dict(json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))))


_ATTACKER = ec.generate_private_key(ec.SECP256R1())


def _attacker_jwk() -> dict[str, str]:
    numbers = _ATTACKER.public_key().public_numbers()
    return {"kty": "EC", "crv": "P-256", "x": b64(numbers.x.to_bytes(32, "big")),
            "y": b64(numbers.y.to_bytes(32, "big"))}


def _signed(m: Material, header: dict[str, Any] | None = None, **claims: Any) -> str:
    """Re-signed by the provider's key of the token's algorithm, with changed header/claims."""
    key = m.ec_key if m.header["alg"] == "ES256" else m.rsa_key
    merged = {k: v for k, v in {**m.claims, **claims}.items() if v is not None}
    head = {"alg": key.alg, "kid": key.kid, "typ": m.header.get("typ", "at+jwt"), **(header or {})}
    return forge(head, merged, private_key=key.jwk.private_key)


def _by_attacker(m: Material, **header: Any) -> str:
    head = {"alg": "ES256", "kid": m.header.get("kid"), "typ": "at+jwt", **header}
    return forge(head, m.claims, private_key=_ATTACKER)


def _public(key: SigningKey, encoding: serialization.Encoding) -> bytes:
    return bytes(key.jwk.public_key.public_bytes(
        encoding, serialization.PublicFormat.SubjectPublicKeyInfo))


def _hs256(m: Material, secret: bytes, kid: str) -> str:
    return forge_hs256({"alg": "HS256", "kid": kid, "typ": "at+jwt"}, m.claims, secret)


def _parts(m: Material) -> tuple[str, str, str]:
    head, payload, signature = m.token.split(".")
    return head, payload, signature


def _zero_signature(m: Material) -> str:
    """ES256 with r = s = 0 (CVE-2022-21449, "psychic signatures")."""
    head, payload, _ = _parts(m)
    return f"{head}.{payload}.{b64(bytes(64))}"


def _hmac_kid(m: Material) -> str:
    """``kid`` pointing at an empty file, HMAC keyed with the empty string."""
    header = {"alg": "HS256", "kid": "../../../../dev/null", "typ": "at+jwt"}
    signing_input = f"{b64json(header)}.{b64json(m.claims)}".encode()
    return f"{signing_input.decode()}.{b64(hmac.new(b'', signing_input, hashlib.sha256).digest())}"


CASES: dict[str, Callable[[Material], str]] = {
    "alg_none": lambda m: forge({**m.header, "alg": "none"}, m.claims),
    "alg_None_capitalised": lambda m: forge({**m.header, "alg": "None"}, m.claims),
    "alg_none_keeping_signature": lambda m: (
        f"{b64json({**m.header, 'alg': 'none'})}.{_parts(m)[1]}.{_parts(m)[2]}"),
    "signature_stripped": lambda m: f"{_parts(m)[0]}.{_parts(m)[1]}.",
    "signature_of_another_token": lambda m: (
        f"{_parts(m)[0]}.{_parts(m)[1]}.{m.other_token.split('.')[2]}"),
    "hs256_with_rsa_public_pem": lambda m: _hs256(
        m, _public(m.rsa_key, serialization.Encoding.PEM), m.rsa_key.kid),
    "hs256_with_rsa_public_der": lambda m: _hs256(
        m, _public(m.rsa_key, serialization.Encoding.DER), m.rsa_key.kid),
    "hs256_with_ec_public_pem": lambda m: _hs256(
        m, _public(m.ec_key, serialization.Encoding.PEM), m.ec_key.kid),
    "unknown_signing_key": lambda m: _by_attacker(m),
    "embedded_jwk": lambda m: _by_attacker(m, jwk=_attacker_jwk(), kid=None),
    "jku_to_attacker": lambda m: _by_attacker(m, jku="http://127.0.0.1:9/jwks.json"),
    "x5u_to_attacker": lambda m: _by_attacker(m, x5u="http://127.0.0.1:9/cert.pem"),
    "kid_path_traversal_hmac_empty_key": _hmac_kid,
    "kid_sql_injection": lambda m: _by_attacker(m, kid="' OR '1'='1"),
    "expired": lambda m: _signed(m, iat=m.claims["iat"] - 7200, exp=m.claims["iat"] - 3600),
    "not_yet_valid_nbf_plus_1h": lambda m: _signed(m, nbf=m.claims["iat"] + 3600),
    "issued_in_the_future_iat_plus_1h": lambda m: _signed(m, iat=m.claims["iat"] + 3600),
    "no_exp": lambda m: _signed(m, exp=None),
    "exp_as_string": lambda m: _signed(m, exp=str(m.claims["exp"])),
    "wrong_audience": lambda m: _signed(m, aud=m.issuer + "/elsewhere"),
    "audience_array_without_us": lambda m: _signed(m, aud=["https://rp.example", "other"]),
    "issuer_suffix": lambda m: _signed(m, iss=m.issuer + ".evil"),
    "issuer_prefix": lambda m: _signed(m, iss=m.issuer[:-1]),
    "unknown_crit_header": lambda m: _signed(m, {"crit": ["x-dancu"], "x-dancu": 1}),
    "b64_false": lambda m: _signed(m, {"b64": False, "crit": ["b64"]}),
    "tampered_payload": lambda m: (
        f"{_parts(m)[0]}.{b64json({**m.claims, 'scope': m.claims.get('scope', '') + ' admin'})}"
        f".{_parts(m)[2]}"),
    "signature_with_padding": lambda m: m.token + "==",
    "psychic_signature_r_s_zero": _zero_signature,
    "huge_kid_200kB": lambda m: _by_attacker(m, kid="k" * 200_000),
    "two_parts_only": lambda m: ".".join(_parts(m)[:2]),
    "payload_not_json": lambda m: f"{_parts(m)[0]}.{b64(b'not json')}.{_parts(m)[2]}",
    "id_token_as_access_token": lambda m: m.id_token,
    "wrong_typ_jwt": lambda m: _signed(m, {"typ": "JWT"}),
}


def attack(name: str, material: Material) -> str:
    return CASES[name](material)
