"""Strict verification of compact JWS/JWT values, shared by every token kind.

joserfc does the JWS work; this module decides what is acceptable, following RFC 8725 (JWT BCP):

1. size first: longer than :data:`MAX_TOKEN_LENGTH` is refused before any parsing;
2. the protected header (read through joserfc ``jws.extract_compact``, nothing verified yet):
   * ``alg`` must be in the caller's explicit allow-list (§3.1). The allow-list itself may only
     hold asymmetric algorithms: ``none`` and ``HS*`` can never be allowed (§3.2, and no HS/RS key
     confusion);
   * ``jwk``, ``jku``, ``x5u`` and ``x5c`` are refused: keys come only from the caller's key set,
     never from the token (§3.10, no SSRF / self-signed tokens);
   * ``crit`` (and ``b64``, RFC 7797) are refused: we implement no extension (RFC 7515 §4.1.11);
   * ``typ`` must be one of the expected values (§3.11 explicit typing; compared without an
     ``application/`` prefix, case-insensitively, RFC 7515 §4.1.9); other unknown parameters are
     ignored (RFC 7515 §4);
   * ``kid`` is required (unless the caller waives it) and must name a key of the set; that key's
     own ``alg`` (when it has one) must equal the header ``alg`` (§3.1: one algorithm per key).
     Without ``kid`` (waived), the candidates are the set's signing keys that fit the ``alg``
     (key type and curve, and the key's own ``alg`` when it has one);
3. the signature, with joserfc and exactly that algorithm: with the named key, or with each
   candidate in turn until one verifies;
4. the payload must be a JSON object without duplicate names or NaN/Infinity (RFC 7519 §4,
   RFC 8259 §6); the registered claims are checked with joserfc's ``JWTClaimsRegistry`` at the
   caller's ``now`` with ``leeway``: ``iss`` exact (§3.8), ``aud`` contains the audience (§3.9),
   ``exp`` in the future, ``nbf``/``iat`` not in the future, required claims present.

Every refusal raises :class:`TokenRejected` with a :class:`RejectReason` -- for logs and tests only:
callers answer with a generic error so the reason does not leak.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from joserfc import jws, jwt
from joserfc.errors import (
    BadSignatureError,
    ExpiredTokenError,
    InvalidClaimError,
    InvalidKeyIdError,
    JoseError,
    MissingClaimError,
)
from joserfc.jwk import Key, KeySet, OctKey
from joserfc.jws import JWSRegistry

from app.oidc._util import epoch_seconds

#: Asymmetric algorithms this module can ever accept (RFC 7518 §3.3-3.5).
ASYMMETRIC_ALGORITHMS = frozenset({"ES256", "ES384", "ES512", "RS256", "PS256", "EdDSA"})
#: Tokens longer than this are refused unparsed (ours are well under 2 kB).
MAX_TOKEN_LENGTH = 8192
DEFAULT_LEEWAY = timedelta(seconds=30)

_KEY_CARRYING_HEADERS = frozenset({"jwk", "jku", "x5u", "x5c"})
_EXTENSION_HEADERS = frozenset({"crit", "b64"})
_TIME_CLAIMS = ("exp", "nbf", "iat")


class RejectReason(StrEnum):
    MALFORMED = "malformed"
    TOO_LARGE = "too_large"
    ALG_NOT_ALLOWED = "alg_not_allowed"
    UNTRUSTED_KEY_HEADER = "untrusted_key_header"
    CRITICAL_HEADER = "critical_header"
    WRONG_TYP = "wrong_typ"
    MISSING_KID = "missing_kid"
    UNKNOWN_KID = "unknown_kid"
    KEY_ALG_MISMATCH = "key_alg_mismatch"
    BAD_SIGNATURE = "bad_signature"
    MISSING_CLAIM = "missing_claim"
    INVALID_CLAIM = "invalid_claim"
    EXPIRED = "expired"
    NOT_YET_VALID = "not_yet_valid"
    ISSUED_IN_FUTURE = "issued_in_future"
    WRONG_ISSUER = "wrong_issuer"
    WRONG_AUDIENCE = "wrong_audience"
    REPLAYED = "replayed"


class TokenRejected(Exception):
    """A JWT failed verification; ``reason`` says which rule (never shown to the caller)."""

    def __init__(self, reason: RejectReason) -> None:
        super().__init__(reason.value)
        self.reason = reason


@dataclass(frozen=True)
class VerifiedJwt:
    header: Mapping[str, Any]
    claims: Mapping[str, Any]


def normalize_typ(value: str) -> str:
    """RFC 7515 §4.1.9: case-insensitive, ``application/`` prefix optional."""
    lowered = value.lower()
    return lowered.removeprefix("application/")


def check_allow_list(algorithms: Collection[str]) -> None:
    """A programming-error guard: refuse allow-lists that are empty or contain none/HS*."""
    if not algorithms or not set(algorithms) <= ASYMMETRIC_ALGORITHMS:
        raise ValueError(
            f"algorithm allow-list must be a non-empty subset of {sorted(ASYMMETRIC_ALGORITHMS)}"
        )


def read_unverified(token: str, *,
                    registry: JWSRegistry | None = None) -> tuple[Mapping[str, Any], bytes]:
    """Header and raw payload WITHOUT verification -- only to find which key/client to use.
    ``registry``: joserfc's limits when they are not the default (a DPoP proof's header carries
    a whole public key, over joserfc's 512 bytes for an RSA key)."""
    if len(token) > MAX_TOKEN_LENGTH:
        raise TokenRejected(RejectReason.TOO_LARGE)
    try:
        obj = jws.extract_compact(token.encode("ascii"), registry=registry)
    except (JoseError, UnicodeError, ValueError, TypeError) as error:
        raise TokenRejected(RejectReason.MALFORMED) from error
    header = obj.headers()
    if not isinstance(header, dict):
        raise TokenRejected(RejectReason.MALFORMED)
    return header, obj.payload


def header_of(token: str) -> Mapping[str, Any] | None:
    """:func:`read_unverified`'s header, or ``None`` when ``token`` is not even a JWS (the
    verification then rejects it with its reason)."""
    try:
        return read_unverified(token)[0]
    except TokenRejected:
        return None


def _check_header(
    header: Mapping[str, Any],
    *,
    algorithms: Collection[str],
    typ: Collection[str | None],
    require_kid: bool,
) -> tuple[str, str | None]:
    """Apply the header rules; returns ``(alg, kid)``."""
    alg = header.get("alg")
    if not isinstance(alg, str) or alg not in algorithms:
        raise TokenRejected(RejectReason.ALG_NOT_ALLOWED)
    if _KEY_CARRYING_HEADERS & header.keys():
        raise TokenRejected(RejectReason.UNTRUSTED_KEY_HEADER)
    if _EXTENSION_HEADERS & header.keys():
        raise TokenRejected(RejectReason.CRITICAL_HEADER)
    _check_typ(header.get("typ"), typ)
    kid = header.get("kid")
    if kid is None and not require_kid:
        return alg, None
    if not isinstance(kid, str) or not kid:
        raise TokenRejected(RejectReason.MISSING_KID)
    return alg, kid


def _check_typ(value: Any, accepted: Collection[str | None]) -> None:
    if value is None:
        found: str | None = None
    elif isinstance(value, str):
        found = normalize_typ(value)
    else:
        raise TokenRejected(RejectReason.WRONG_TYP)
    if found not in {None if t is None else normalize_typ(t) for t in accepted}:
        raise TokenRejected(RejectReason.WRONG_TYP)


_KEY_TYPES = {"ES256": ("EC", "P-256"), "ES384": ("EC", "P-384"), "ES512": ("EC", "P-521"),
              "RS256": ("RSA", None), "PS256": ("RSA", None), "EdDSA": ("OKP", None)}


def _fits(key: Key, alg: str) -> bool:
    kty, crv = _KEY_TYPES[alg]
    return (key.key_type == kty and (crv is None or key.get("crv") == crv)
            and key.alg in (None, alg) and key.get("use") in (None, "sig"))


def _candidate_keys(keys: KeySet, *, kid: str | None, alg: str) -> list[Key]:
    """The named key, or without ``kid`` every signing key of the set that fits ``alg``."""
    if kid is not None:
        return [_select_key(keys, kid=kid, alg=alg)]
    fitting = [key for key in keys.keys if _fits(key, alg)]
    if not fitting:
        raise TokenRejected(RejectReason.MISSING_KID)
    return fitting


def _select_key(keys: KeySet, *, kid: str, alg: str) -> Key:
    try:
        key = keys.get_by_kid(kid)
    except InvalidKeyIdError as error:
        raise TokenRejected(RejectReason.UNKNOWN_KID) from error
    if key.alg is not None and key.alg != alg:
        raise TokenRejected(RejectReason.KEY_ALG_MISMATCH)
    if key.get("use") not in (None, "sig"):
        raise TokenRejected(RejectReason.KEY_ALG_MISMATCH)
    return key


def _reject_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    names = [name for name, _ in pairs]
    if len(names) != len(set(names)):
        raise ValueError("duplicate member name")
    return dict(pairs)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


class _StrictJSONDecoder(json.JSONDecoder):
    def __init__(self, **kwargs: Any) -> None:
        kwargs.update(object_pairs_hook=_reject_duplicates, parse_constant=_reject_constant)
        super().__init__(**kwargs)


@functools.cache
def _verifying_registry(alg: str) -> JWSRegistry:
    """joserfc's registry allowing ``alg`` alone, built once per algorithm: it holds only that
    configuration, and building one per verification was ~0.5 % of a login flow."""
    return JWSRegistry(algorithms=[alg], strict_check_header=False)


def _verify_signature(token: str, key: Key, alg: str,
                      registry: JWSRegistry | None = None) -> dict[str, Any]:
    registry = registry or _verifying_registry(alg)
    try:
        decoded = jwt.decode(
            token, key, algorithms=[alg], registry=registry, decoder_cls=_StrictJSONDecoder
        )
    except BadSignatureError as error:
        raise TokenRejected(RejectReason.BAD_SIGNATURE) from error
    except (JoseError, ValueError, TypeError) as error:
        raise TokenRejected(RejectReason.MALFORMED) from error
    return dict(decoded.claims)


def _verify_with_any(token: str, candidates: list[Key], alg: str) -> dict[str, Any]:
    for key in candidates[:-1]:
        try:
            return _verify_signature(token, key, alg)
        except TokenRejected as rejected:
            if rejected.reason is not RejectReason.BAD_SIGNATURE:
                raise
    return _verify_signature(token, candidates[-1], alg)


def _check_time_types(claims: Mapping[str, Any]) -> None:
    for name in _TIME_CLAIMS:
        value = claims.get(name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
            raise TokenRejected(RejectReason.INVALID_CLAIM)


_CLAIM_REASONS = {
    "nbf": RejectReason.NOT_YET_VALID,
    "iat": RejectReason.ISSUED_IN_FUTURE,
    "iss": RejectReason.WRONG_ISSUER,
    "aud": RejectReason.WRONG_AUDIENCE,
}


def check_claims(
    claims: Mapping[str, Any],
    *,
    issuer: str,
    audience: str | None,
    required: Collection[str],
    now: datetime,
    leeway: timedelta,
) -> None:
    """Registered-claim rules (RFC 7519 §4.1) via joserfc; ``audience=None`` skips the aud check."""
    _check_time_types(claims)
    options: dict[str, Any] = {name: {"essential": True} for name in required}
    options["iss"] = {"essential": True, "value": issuer}
    if audience is not None:
        options["aud"] = {"essential": True, "value": audience}
    registry = jwt.JWTClaimsRegistry(
        now=epoch_seconds(now), leeway=int(leeway.total_seconds()), **options
    )
    try:
        registry.validate(dict(claims))
    except MissingClaimError as error:
        raise TokenRejected(RejectReason.MISSING_CLAIM) from error
    except ExpiredTokenError as error:
        raise TokenRejected(RejectReason.EXPIRED) from error
    except InvalidClaimError as error:
        reason = _CLAIM_REASONS.get(error.claim, RejectReason.INVALID_CLAIM)
        raise TokenRejected(reason) from error


def verify_jwt(
    token: str,
    *,
    keys: KeySet,
    algorithms: Collection[str],
    typ: Collection[str | None],
    issuer: str,
    audience: str | None,
    required: Collection[str],
    now: datetime,
    leeway: timedelta = DEFAULT_LEEWAY,
    check_expiry: bool = True,
    require_kid: bool = True,
    header: Mapping[str, Any] | None = None,
) -> VerifiedJwt:
    """Verify ``token`` against every rule in the module docstring.

    ``typ`` lists the accepted header values (``None`` = header absent). ``check_expiry=False``
    still requires ``exp`` but accepts it in the past (OIDC ``id_token_hint`` only).
    ``require_kid=False`` lets a token without ``kid`` be verified with the set's keys that fit
    its ``alg`` (client assertions: RFC 7523 does not require ``kid``). ``header``: the token's
    header as :func:`header_of` read it already (to choose the key ring), not read again.
    """
    check_allow_list(algorithms)
    if header is None:
        header, _ = read_unverified(token)
    alg, kid = _check_header(header, algorithms=algorithms, typ=typ, require_kid=require_kid)
    claims = _verify_with_any(token, _candidate_keys(keys, kid=kid, alg=alg), alg)
    _check_payload(claims, issuer=issuer, audience=audience, required=required, now=now,
                   leeway=leeway, check_expiry=check_expiry)
    return VerifiedJwt(header=header, claims=claims)


def _check_payload(claims: Mapping[str, Any], *, issuer: str, audience: str | None,
                   required: Collection[str], now: datetime, leeway: timedelta,
                   check_expiry: bool = True) -> None:
    _check_time_types(claims)
    if "exp" not in claims:
        raise TokenRejected(RejectReason.MISSING_CLAIM)
    ignored = set() if check_expiry else {"exp"}
    checked = {name: value for name, value in claims.items() if name not in ignored}
    needed = set(required) - ignored
    check_claims(checked, issuer=issuer, audience=audience, required=needed, now=now, leeway=leeway)


#: The one symmetric algorithm, for ``client_secret_jwt`` alone (OIDC Core §9, RFC 7523).
HMAC_ALGORITHMS = frozenset({"HS256"})
MIN_HMAC_SECRET_BYTES = 32


def verify_hmac_jwt(
    token: str,
    *,
    secret: bytes,
    typ: Collection[str | None],
    issuer: str,
    required: Collection[str],
    now: datetime,
    leeway: timedelta = DEFAULT_LEEWAY,
) -> VerifiedJwt:
    """A JWT MACed with a client's secret (``client_secret_jwt``): HS256 only, the same header and
    claim rules as :func:`verify_jwt` (``kid`` ignored: the client has one secret; the audience is
    the caller's to check). Never for tokens this provider issues, which are all asymmetric."""
    if len(secret) < MIN_HMAC_SECRET_BYTES:
        raise ValueError(f"an HMAC secret must be at least {MIN_HMAC_SECRET_BYTES} bytes")
    header, _ = read_unverified(token)
    alg, _ = _check_header(header, algorithms=HMAC_ALGORITHMS, typ=typ, require_kid=False)
    claims = _verify_signature(token, OctKey.import_key(secret), alg)
    _check_payload(claims, issuer=issuer, audience=None, required=required, now=now,
                   leeway=leeway)
    return VerifiedJwt(header=header, claims=claims)
