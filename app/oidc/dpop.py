"""DPoP proofs (RFC 9449): sender-constrained access tokens.

A proof is a JWT in the ``DPoP`` header: ``typ`` ``dpop+jwt``, ``alg`` ES256, RS256 or PS256, the
public key in the ``jwk`` header (no private members), claims ``jti``, ``htm`` (the request's
method), ``htu`` (the endpoint's URL, compared without query and fragment), ``iat`` within
:data:`PROOF_WINDOW` of now, and at a resource ``ath`` = base64url(SHA-256(access token)). The key's
RFC 7638 thumbprint (``jkt``) is what an access token is bound to (``cnf.jkt``, §6.1).

Not done: proof ``jti`` values are not remembered (a proof can be replayed within its window,
§11.1 says SHOULD), and no ``DPoP-Nonce`` is issued (§8, optional).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from joserfc.errors import JoseError
from joserfc.jwk import JWKRegistry, Key
from joserfc.jws import JWSRegistry

from app.oidc._util import b64url, epoch_seconds
from app.oidc.errors import OAuthError
from app.oidc.jwt_policy import TokenRejected, _check_time_types, _verify_signature, read_unverified

DPOP_TYP = "dpop+jwt"
DPOP_ALGORITHMS = ("ES256", "RS256", "PS256")
PROOF_WINDOW = timedelta(seconds=60)
DPOP_SCHEME = "DPoP"
_KEY_TYPES = {"ES256": "EC", "RS256": "RSA", "PS256": "RSA"}


class _ProofRegistry(JWSRegistry):
    """joserfc's limits, but room in the header for a 4096-bit RSA public key."""

    max_header_length = 2048


def _registry() -> JWSRegistry:
    return _ProofRegistry(algorithms=list(DPOP_ALGORITHMS), strict_check_header=False)


class InvalidDpopProof(OAuthError):
    """RFC 9449 §5.2, §7.1: the DPoP proof is missing, malformed or does not fit the request."""

    error = "invalid_dpop_proof"
    status = 400
    default_description = "The DPoP proof is invalid."


@dataclass(frozen=True)
class DpopProof:
    jkt: str  # RFC 7638 thumbprint of the proof's key
    jti: str


def access_token_hash(access_token: str) -> str:
    """``ath`` (RFC 9449 §4.2)."""
    return b64url(hashlib.sha256(access_token.encode("ascii")).digest())


def _target(url: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme.lower(), parts.netloc.lower(), parts.path, "", ""))


def _public_key(header: Mapping[str, Any], alg: str) -> Key:
    jwk = header.get("jwk")
    if not isinstance(jwk, dict) or jwk.get("kty") != _KEY_TYPES[alg] or \
            {"d", "p", "q", "dp", "dq", "qi", "k"} & jwk.keys():
        raise InvalidDpopProof("The proof's jwk must be the public key of its alg.")
    try:
        return JWKRegistry.import_key(jwk)
    except (JoseError, ValueError, TypeError, KeyError):
        raise InvalidDpopProof("The proof's jwk is not a valid key.") from None


def _check_claims(claims: Mapping[str, Any], *, method: str, url: str, now: datetime,
                  access_token: str | None) -> None:
    try:
        _check_time_types(claims)
    except TokenRejected:
        raise InvalidDpopProof() from None
    if not isinstance(claims.get("jti"), str) or not claims["jti"]:
        raise InvalidDpopProof("The proof needs a jti.")
    if claims.get("htm") != method or not isinstance(claims.get("htu"), str) or \
            _target(claims["htu"]) != _target(url):
        raise InvalidDpopProof("The proof's htm and htu must be this request's.")
    issued = claims.get("iat")
    if issued is None or abs(issued - epoch_seconds(now)) > PROOF_WINDOW.total_seconds():
        raise InvalidDpopProof("The proof's iat is too far from now.")
    if access_token is not None and claims.get("ath") != access_token_hash(access_token):
        raise InvalidDpopProof("The proof's ath does not match the access token.")


def verify_proof(proof: str, *, method: str, url: str, now: datetime,
                 access_token: str | None = None) -> DpopProof:
    """Check a DPoP proof for a request (``access_token``: the token it is presented with, at a
    resource); returns its key's thumbprint."""
    try:
        header, _ = read_unverified(proof, registry=_registry())
    except TokenRejected:
        raise InvalidDpopProof() from None
    alg = header.get("alg")
    if header.get("typ") != DPOP_TYP or alg not in DPOP_ALGORITHMS:
        raise InvalidDpopProof("The proof must be a dpop+jwt signed with ES256, RS256 or PS256.")
    key = _public_key(header, alg)
    try:
        claims = _verify_signature(proof, key, alg, registry=_registry())
    except TokenRejected:
        raise InvalidDpopProof("The proof's signature does not verify.") from None
    _check_claims(claims, method=method, url=url, now=now, access_token=access_token)
    return DpopProof(jkt=key.thumbprint(), jti=claims["jti"])
