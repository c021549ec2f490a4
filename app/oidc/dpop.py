"""DPoP proofs (RFC 9449): sender-constrained access tokens.

A proof is a JWT in the ``DPoP`` header: ``typ`` ``dpop+jwt``, ``alg`` ES256, RS256 or PS256, the
public key in the ``jwk`` header (no private members), claims ``jti``, ``htm`` (the request's
method), ``htu`` (the endpoint's URL, compared without query and fragment), ``iat`` within
:data:`PROOF_WINDOW` of now, and at a resource ``ath`` = base64url(SHA-256(access token)). The key's
RFC 7638 thumbprint (``jkt``) is what an access token is bound to (``cnf.jkt``, §6.1).

Replay (§11.1): :func:`verify_proof` returns the proof's :func:`replay_key` and the instant until
which it would be accepted (``iat`` + :data:`PROOF_WINDOW`); the caller records the pair once
(a second use is refused) and forgets it after that instant.

Server nonces (§8, §9) are stateless: :func:`issue_nonce` is an HMAC of the current
:data:`NONCE_WINDOW` under a key the caller derives from the deployment secret; a nonce of the
current or the previous window is accepted (:func:`nonce_is_valid`). When nonces are required, a
proof without a valid ``nonce`` claim raises :class:`UseDpopNonce` (400 at the token endpoint,
401 at a resource, with a fresh nonce in the ``DPoP-Nonce`` header).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from joserfc.errors import JoseError
from joserfc.jwk import JWKRegistry, Key
from joserfc.jws import JWSRegistry

from app.oidc._util import b64url, epoch_seconds, from_epoch
from app.oidc.errors import ErrorResponse, InvalidToken, OAuthError, _quoted
from app.oidc.jwt_policy import TokenRejected, _check_time_types, _verify_signature, read_unverified

DPOP_TYP = "dpop+jwt"
DPOP_ALGORITHMS = ("ES256", "RS256", "PS256")
FAPI2_DPOP_ALGORITHMS = ("ES256", "PS256")  # FAPI 2.0 Security Profile §5.4: no RS256
PROOF_WINDOW = timedelta(seconds=60)
NONCE_WINDOW = timedelta(minutes=5)
NONCE_HEADER = "DPoP-Nonce"
REPLAY_PREFIX = "dpop:"  # replay records share the assertion-jti table, keyed "dpop:<jkt>"
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


class BoundTokenAsBearer(InvalidToken):
    """RFC 9449 §7.2: a DPoP-bound access token presented without the ``DPoP`` scheme (answered
    with a ``DPoP`` challenge)."""

    default_description = "This access token is DPoP-bound: send it as DPoP with a proof."


class UseDpopNonce(OAuthError):
    """RFC 9449 §8, §9: the proof must carry the server's current ``nonce`` (the answer carries
    one in ``DPoP-Nonce``)."""

    error = "use_dpop_nonce"
    status = 400
    default_description = "Resend the request with the nonce of the DPoP-Nonce header."

    def __init__(self, nonce: str, description: str | None = None) -> None:
        super().__init__(description)
        self.nonce = nonce


@dataclass(frozen=True)
class DpopProof:
    jkt: str  # RFC 7638 thumbprint of the proof's key
    jti: str
    accepted_until: datetime  # after this the proof is refused anyway: its replay record can go

    @property
    def replay_key(self) -> tuple[str, str]:
        """(key, jti) under which a use of this proof is recorded: the key's thumbprint and a
        hash of the ``jti`` (a client picks the jti, of any length; the hash has a fixed one)."""
        return REPLAY_PREFIX + self.jkt, b64url(hashlib.sha256(self.jti.encode()).digest())


def _window(now: datetime) -> int:
    return int(epoch_seconds(now) // NONCE_WINDOW.total_seconds())


def _nonce_of(key: bytes, window: int) -> str:
    return b64url(hmac.new(key, b"dpop-nonce/%d" % window, hashlib.sha256).digest()[:18])


def issue_nonce(key: bytes, *, now: datetime) -> str:
    """The server's DPoP nonce for ``now`` (the same for every request of a window)."""
    return _nonce_of(key, _window(now))


def nonce_is_valid(nonce: object, key: bytes, *, now: datetime) -> bool:
    """A nonce of the current window or of the one before (so a nonce is good for at least one
    window's length)."""
    if not isinstance(nonce, str):
        return False
    window = _window(now)
    return any(hmac.compare_digest(nonce, _nonce_of(key, w)) for w in (window, window - 1))


def access_token_hash(access_token: str) -> str:
    """``ath`` (RFC 9449 §4.2)."""
    return b64url(hashlib.sha256(access_token.encode("ascii")).digest())


_DEFAULT_PORTS = {"https": 443, "http": 80}


def _target(url: str) -> str:
    """The URL compared (§4.3): without query and fragment, scheme and host in lower case and
    the scheme's default port left out (RFC 3986 §6.2.2, §6.2.3)."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        port = parts.port
    except ValueError:
        return ""
    host = (parts.hostname or "").lower()
    netloc = host if port in (None, _DEFAULT_PORTS.get(scheme)) else f"{host}:{port}"
    return urlunsplit((scheme, netloc, parts.path, "", ""))


def request_header(values: list[str]) -> str | None:
    """The request's ``DPoP`` header; several are joined as HTTP joins them (RFC 9110 §5.3),
    which no proof survives (§4.3: exactly one)."""
    return ", ".join(values) if values else None


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
            not _target(claims["htu"]) or _target(claims["htu"]) != _target(url):
        raise InvalidDpopProof("The proof's htm and htu must be this request's.")
    issued = claims.get("iat")
    if issued is None or abs(issued - epoch_seconds(now)) > PROOF_WINDOW.total_seconds():
        raise InvalidDpopProof("The proof's iat is too far from now.")
    if access_token is not None and claims.get("ath") != access_token_hash(access_token):
        raise InvalidDpopProof("The proof's ath does not match the access token.")


def algorithms_for(security_profile: str | None) -> tuple[str, ...]:
    """The proof algorithms a client may use: FAPI 2.0 clients (``fapi2``) not RS256."""
    return FAPI2_DPOP_ALGORITHMS if security_profile == "fapi2" else DPOP_ALGORITHMS


def verify_proof(proof: str, *, method: str, url: str, now: datetime,
                 access_token: str | None = None, nonce_key: bytes | None = None,
                 algorithms: tuple[str, ...] = DPOP_ALGORITHMS) -> DpopProof:
    """Check a DPoP proof for a request (``access_token``: the token it is presented with, at a
    resource; ``nonce_key``: nonces are required, under this key; ``algorithms``: the client's,
    :func:`algorithms_for`); returns its key's thumbprint and what its replay record needs."""
    if "," in proof:
        raise InvalidDpopProof("Send exactly one DPoP header.")
    try:
        header, _ = read_unverified(proof, registry=_registry())
    except TokenRejected:
        raise InvalidDpopProof() from None
    alg = header.get("alg")
    if header.get("typ") != DPOP_TYP or alg not in algorithms:
        raise InvalidDpopProof("The proof must be a dpop+jwt signed with {}.".format(
            ", ".join(algorithms)))
    key = _public_key(header, alg)
    try:
        claims = _verify_signature(proof, key, alg, registry=_registry())
    except TokenRejected:
        raise InvalidDpopProof("The proof's signature does not verify.") from None
    _check_claims(claims, method=method, url=url, now=now, access_token=access_token)
    if nonce_key is not None and not nonce_is_valid(claims.get("nonce"), nonce_key, now=now):
        raise UseDpopNonce(issue_nonce(nonce_key, now=now))
    issued = from_epoch(claims["iat"])
    return DpopProof(jkt=key.thumbprint(), jti=claims["jti"],
                     accepted_until=issued + PROOF_WINDOW)


def check_binding(bound_jkt: str | None, proof: DpopProof | None, what: str) -> None:
    """A grant bound to a key -- a public client's refresh token (§5), an authorization code
    requested with ``dpop_jkt`` or through a pushed request with a proof (§10) -- is usable only
    with a proof by that key."""
    if bound_jkt is None:
        return
    if proof is None:
        raise InvalidDpopProof(f"This {what} is DPoP-bound: send a proof by its key.")
    if proof.jkt != bound_jkt:
        raise InvalidDpopProof(f"The DPoP proof is not signed by the {what}'s key.")


def check_pushed_binding(dpop_jkt: str | None, proof: DpopProof | None) -> str | None:
    """§10.1: a pushed request with a proof binds its code to the proof's key; ``dpop_jkt``
    sent as well must name that key. The key the code will be bound to."""
    if proof is None:
        return dpop_jkt
    if dpop_jkt is not None and dpop_jkt != proof.jkt:
        raise InvalidDpopProof("dpop_jkt does not match the DPoP proof's key.")
    return proof.jkt


def challenge(error: OAuthError | None, *, realm: str) -> str:
    """``WWW-Authenticate: DPoP ...`` (RFC 9449 §7.1): the realm, the error and the ``algs``."""
    params = [f"realm={_quoted(realm)}"]
    if error is not None:
        params.append(f"error={_quoted(error.error)}")
        if error.description:
            params.append(f"error_description={_quoted(error.description)}")
    params.append(f"algs={_quoted(' '.join(DPOP_ALGORITHMS))}")
    return DPOP_SCHEME + " " + ", ".join(params)


def resource_error_response(error: OAuthError, *, realm: str) -> ErrorResponse:
    """A resource's refusal of a request under the ``DPoP`` scheme (RFC 9449 §7.1): a ``DPoP``
    challenge; a bad proof and a missing nonce are 401 (with the nonce to use in ``DPoP-Nonce``)."""
    headers = {"WWW-Authenticate": challenge(error, realm=realm)}
    if isinstance(error, UseDpopNonce):
        headers[NONCE_HEADER] = error.nonce
    status = 401 if isinstance(error, (InvalidDpopProof, UseDpopNonce)) else error.status
    return ErrorResponse(status=status, body=error.as_dict(), headers=headers)
