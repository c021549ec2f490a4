"""Issue and verify the provider's JWTs: ID tokens, access tokens and logout tokens.

Each kind has its own ``typ`` and required claims, so one can never pass for another
(RFC 8725 §3.11-3.12; conformance "token substitution"):

=============  ==============  ==========================================================
kind           ``typ``         claims (always ``iss``, ``exp``, ``iat``; header ``kid``)
=============  ==============  ==========================================================
ID token       ``JWT``         OIDC Core §2: sub, aud (= client_id), auth_time, acr, azp,
                               nonce (when requested), amr, sid, at_hash (§3.1.3.6, when an
                               access token is issued alongside)
access token   ``at+jwt``      RFC 9068 §2.2: sub, aud, client_id, scope, jti, auth_time/acr
                               (user grants), sid; client credentials: sub = client_id
logout token   ``logout+jwt``  OIDC Back-Channel Logout §2.4: aud, jti, events, sub and/or sid,
                               never nonce
=============  ==============  ==========================================================

ID tokens carry no profile data: claims for scopes are served by the UserInfo endpoint (OIDC Core
§5.4), which keeps personal data out of tokens that relying parties tend to log.

Signing uses a :class:`app.oidc.keys.SigningKey` (ES256 by default, RS256 per client); verification
goes through :mod:`app.oidc.jwt_policy` with the keys a :class:`~app.oidc.keys.KeyRing` still
publishes at ``now``.
"""

from __future__ import annotations

import functools
import hashlib
import secrets
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from joserfc import jwt
from joserfc.jws import JWSRegistry

from app.oidc._util import b64url, epoch_seconds, from_epoch
from app.oidc.jwt_policy import (
    DEFAULT_LEEWAY,
    RejectReason,
    TokenRejected,
    VerifiedJwt,
    verify_jwt,
)
from app.oidc.keys import SIGNING_ALGORITHMS, KeyRing, SigningKey

ID_TOKEN_TYP = "JWT"
ACCESS_TOKEN_TYP = "at+jwt"
LOGOUT_TOKEN_TYP = "logout+jwt"
BACKCHANNEL_LOGOUT_EVENT = "http://schemas.openid.net/event/backchannel-logout"

_ID_TOKEN_REQUIRED = ("iss", "sub", "aud", "exp", "iat", "auth_time")
_ACCESS_TOKEN_REQUIRED = ("iss", "sub", "aud", "exp", "iat", "jti", "client_id")
_LOGOUT_TOKEN_REQUIRED = ("iss", "aud", "iat", "exp", "jti", "events")


@dataclass(frozen=True)
class IdTokenContent:
    """What the provider asserts about an authentication (OIDC Core §2)."""

    subject: str
    client_id: str
    auth_time: datetime
    acr: str
    amr: tuple[str, ...] = ()
    nonce: str | None = None
    session_id: str | None = None


@dataclass(frozen=True)
class AccessTokenContent:
    """The grant an access token represents (RFC 9068 §2.2)."""

    subject: str
    client_id: str
    audience: tuple[str, ...]
    scope: tuple[str, ...]
    auth_time: datetime | None = None
    acr: str | None = None
    session_id: str | None = None
    jkt: str | None = None  # RFC 9449 §6.1: bound to this DPoP key (``cnf.jkt``)

    @property
    def is_client_credentials(self) -> bool:
        """RFC 9068 §2.2: a token the client obtained for itself has ``sub`` = ``client_id``."""
        return self.subject == self.client_id


@dataclass(frozen=True)
class IssuedToken:
    value: str
    jti: str
    expires_at: datetime


@dataclass(frozen=True)
class IdTokenClaims:
    """A verified ID token."""

    content: IdTokenContent
    issued_at: datetime
    expires_at: datetime


@dataclass(frozen=True)
class AccessTokenClaims:
    """A verified access token."""

    content: AccessTokenContent
    jti: str
    issued_at: datetime
    expires_at: datetime


def new_jti() -> str:
    """128+ bits of randomness, base64url (RFC 7519 §4.1.7)."""
    return secrets.token_urlsafe(24)


def token_expiry(now: datetime, ttl: timedelta) -> datetime:
    """When a token issued at ``now`` for ``ttl`` expires (its ``exp``, whole seconds)."""
    return from_epoch(epoch_seconds(now) + int(ttl.total_seconds()))


def token_hash(value: str, *, alg: str) -> str:
    """``at_hash`` / ``c_hash``: left half of the SHA-256 of the ASCII value (OIDC Core §3.1.3.6).

    All algorithms we sign with (ES256, RS256) use SHA-256.
    """
    if alg not in SIGNING_ALGORITHMS:
        raise ValueError(f"no hash defined for {alg}")
    digest = hashlib.sha256(value.encode("ascii")).digest()
    return b64url(digest[: len(digest) // 2])


@functools.cache
def _signing_registry(alg: str) -> JWSRegistry:
    """What ``jwt.encode(..., algorithms=[alg])`` builds for each token, built once per
    algorithm (a registry holds only its configuration)."""
    return JWSRegistry(algorithms=[alg])


def _sign(claims: Mapping[str, Any], *, key: SigningKey, typ: str) -> str:
    header = {"alg": key.alg, "kid": key.kid, "typ": typ}
    return jwt.encode(header, dict(claims), key.jwk, registry=_signing_registry(key.alg))


def _drop_none(claims: Mapping[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in claims.items() if value not in (None, (), [])}


def _check_can_sign(key: SigningKey, now: datetime) -> None:
    if not key.can_sign(now=now):
        raise ValueError("this key is retired or not yet active")


def issue_id_token(
    content: IdTokenContent,
    *,
    key: SigningKey,
    issuer: str,
    now: datetime,
    ttl: timedelta,
    access_token: str | None = None,
    extra: Mapping[str, Any] | None = None,
) -> str:
    """Sign an ID token (OIDC Core §2, §3.1.3.6); ``extra``: claims the ``claims`` request
    parameter asked for in the ID token (§5.5), never one of the token's own."""
    _check_can_sign(key, now)
    iat = epoch_seconds(now)
    claims = {
        "iss": issuer,
        "sub": content.subject,
        "aud": content.client_id,
        "azp": content.client_id,
        "exp": iat + int(ttl.total_seconds()),
        "iat": iat,
        "auth_time": epoch_seconds(content.auth_time),
        "nonce": content.nonce,
        "acr": content.acr,
        "amr": list(content.amr),
        "sid": content.session_id,
        "at_hash": token_hash(access_token, alg=key.alg) if access_token else None,
    }
    own = _drop_none(claims)
    return _sign({**{k: v for k, v in (extra or {}).items() if k not in claims}, **own}, key=key,
                 typ=ID_TOKEN_TYP)


def issue_access_token(
    content: AccessTokenContent,
    *,
    key: SigningKey,
    issuer: str,
    now: datetime,
    ttl: timedelta,
    jti: str | None = None,
) -> IssuedToken:
    """Sign an RFC 9068 JWT access token."""
    _check_can_sign(key, now)
    if not content.audience:
        raise ValueError("an access token needs an audience (RFC 9068 §3)")
    token_id = jti or new_jti()
    iat = epoch_seconds(now)
    exp = epoch_seconds(token_expiry(now, ttl))
    auth_time = epoch_seconds(content.auth_time) if content.auth_time else None
    claims = {
        "iss": issuer,
        "sub": content.subject,
        "aud": list(content.audience) if len(content.audience) > 1 else content.audience[0],
        "client_id": content.client_id,
        "scope": " ".join(content.scope),
        "jti": token_id,
        "exp": exp,
        "iat": iat,
        "auth_time": auth_time,
        "acr": content.acr,
        "sid": content.session_id,
        "cnf": {"jkt": content.jkt} if content.jkt else None,
    }
    value = _sign(_drop_none(claims), key=key, typ=ACCESS_TOKEN_TYP)
    return IssuedToken(value=value, jti=token_id, expires_at=from_epoch(exp))


def issue_userinfo_response(
    claims: Mapping[str, Any], *, client_id: str, key: SigningKey, issuer: str, now: datetime
) -> str:
    """A signed UserInfo response (OIDC Core §5.3.2, ``userinfo_signed_response_alg``): the
    claims with ``iss`` and ``aud`` (= client_id) and ``iat``. No ``exp``, so it can never pass
    for an ID token or an access token, which require one."""
    _check_can_sign(key, now)
    body = {**claims, "iss": issuer, "aud": client_id, "iat": epoch_seconds(now)}
    return _sign(body, key=key, typ=ID_TOKEN_TYP)


def client_credentials_content(
    client_id: str, *, audience: tuple[str, ...], scope: tuple[str, ...], jkt: str | None = None
) -> AccessTokenContent:
    """A client-credentials access token: ``sub`` is the client itself (RFC 9068 §2.2); bound to
    a DPoP key when ``jkt`` is given (RFC 9449 §6.1)."""
    return AccessTokenContent(
        subject=client_id, client_id=client_id, audience=audience, scope=scope, jkt=jkt
    )


def issue_logout_token(
    *,
    client_id: str,
    subject: str | None,
    session_id: str | None,
    key: SigningKey,
    issuer: str,
    now: datetime,
    ttl: timedelta = timedelta(minutes=2),
) -> str:
    """OIDC Back-Channel Logout 1.0 §2.4 logout token (needs ``sub`` or ``sid``)."""
    if subject is None and session_id is None:
        raise ValueError("a logout token needs sub or sid")
    _check_can_sign(key, now)
    iat = epoch_seconds(now)
    claims = {
        "iss": issuer,
        "aud": client_id,
        "iat": iat,
        "exp": iat + int(ttl.total_seconds()),
        "jti": new_jti(),
        "sub": subject,
        "sid": session_id,
        "events": {BACKCHANNEL_LOGOUT_EVENT: {}},
    }
    return _sign(_drop_none(claims), key=key, typ=LOGOUT_TOKEN_TYP)


def _typed_str(claims: Mapping[str, Any], name: str) -> str | None:
    value = claims.get(name)
    if value is not None and not isinstance(value, str):
        raise TokenRejected(RejectReason.INVALID_CLAIM)
    return value


def _typed_time(claims: Mapping[str, Any], name: str) -> datetime | None:
    value = claims.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TokenRejected(RejectReason.INVALID_CLAIM)
    return from_epoch(value)


def _str_list(value: Any) -> tuple[str, ...]:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not all(isinstance(item, str) for item in items):
        raise TokenRejected(RejectReason.INVALID_CLAIM)
    return tuple(items)


def _id_token_claims(verified: VerifiedJwt) -> IdTokenClaims:
    claims = verified.claims
    audience = _str_list(claims["aud"])
    client_id = _typed_str(claims, "azp") or audience[0]
    if len(audience) != 1 or client_id != audience[0]:
        raise TokenRejected(RejectReason.WRONG_AUDIENCE)
    content = IdTokenContent(
        subject=str(_typed_str(claims, "sub")),
        client_id=client_id,
        auth_time=_typed_time(claims, "auth_time") or from_epoch(0),
        acr=_typed_str(claims, "acr") or "",
        amr=_str_list(claims.get("amr", [])),
        nonce=_typed_str(claims, "nonce"),
        session_id=_typed_str(claims, "sid"),
    )
    return IdTokenClaims(
        content, issued_at=from_epoch(claims["iat"]), expires_at=from_epoch(claims["exp"])
    )


def verify_id_token(
    token: str,
    *,
    keys: KeyRing,
    issuer: str,
    client_id: str,
    now: datetime,
    nonce: str | None = None,
    leeway: timedelta = DEFAULT_LEEWAY,
    algorithms: Collection[str] = SIGNING_ALGORITHMS,
) -> IdTokenClaims:
    """Verify an ID token issued by us for ``client_id`` (OIDC Core §3.1.3.7)."""
    verified = verify_jwt(
        token,
        keys=keys.verification_keys(now=now),
        algorithms=algorithms,
        typ=(ID_TOKEN_TYP,),
        issuer=issuer,
        audience=client_id,
        required=_ID_TOKEN_REQUIRED,
        now=now,
        leeway=leeway,
    )
    result = _id_token_claims(verified)
    if nonce is not None and result.content.nonce != nonce:
        raise TokenRejected(RejectReason.INVALID_CLAIM)
    return result


def verify_id_token_hint(
    token: str,
    *,
    keys: KeyRing,
    issuer: str,
    now: datetime,
    algorithms: Collection[str] = SIGNING_ALGORITHMS,
) -> IdTokenClaims:
    """An ``id_token_hint`` (OIDC Core §3.1.2.1, RP-Initiated Logout §2): our signature and issuer
    are required, but an expired token is accepted (the hint names a past session)."""
    verified = verify_jwt(
        token,
        keys=keys.verification_keys(now=now),
        algorithms=algorithms,
        typ=(ID_TOKEN_TYP,),
        issuer=issuer,
        audience=None,
        required=_ID_TOKEN_REQUIRED,
        now=now,
        check_expiry=False,
    )
    return _id_token_claims(verified)


def _confirmation(claims: Mapping[str, Any]) -> str | None:
    cnf = claims.get("cnf")
    if cnf is None:
        return None
    if not isinstance(cnf, dict) or not isinstance(cnf.get("jkt"), str):
        raise TokenRejected(RejectReason.INVALID_CLAIM)
    return str(cnf["jkt"])


def _access_token_claims(verified: VerifiedJwt) -> AccessTokenClaims:
    claims = verified.claims
    scope = _typed_str(claims, "scope") or ""
    content = AccessTokenContent(
        subject=str(_typed_str(claims, "sub")),
        client_id=str(_typed_str(claims, "client_id")),
        audience=_str_list(claims["aud"]),
        scope=tuple(scope.split()),
        auth_time=_typed_time(claims, "auth_time"),
        acr=_typed_str(claims, "acr"),
        session_id=_typed_str(claims, "sid"),
        jkt=_confirmation(claims),
    )
    return AccessTokenClaims(
        content,
        jti=str(_typed_str(claims, "jti")),
        issued_at=from_epoch(claims["iat"]),
        expires_at=from_epoch(claims["exp"]),
    )


def verify_access_token(
    token: str,
    *,
    keys: KeyRing,
    issuer: str,
    audience: str,
    now: datetime,
    leeway: timedelta = DEFAULT_LEEWAY,
    algorithms: Collection[str] = SIGNING_ALGORITHMS,
    header: Mapping[str, Any] | None = None,
) -> AccessTokenClaims:
    """Verify an RFC 9068 access token at a resource server identified by ``audience`` (§4);
    ``header``: as :func:`~app.oidc.jwt_policy.header_of` read it (see ``verify_jwt``)."""
    verified = verify_jwt(
        token,
        keys=keys.verification_keys(now=now),
        algorithms=algorithms,
        typ=(ACCESS_TOKEN_TYP,),
        issuer=issuer,
        audience=audience,
        required=_ACCESS_TOKEN_REQUIRED,
        now=now,
        leeway=leeway,
        header=header,
    )
    return _access_token_claims(verified)


def inspect_access_token(
    token: str,
    *,
    keys: KeyRing,
    issuer: str,
    now: datetime,
    leeway: timedelta = DEFAULT_LEEWAY,
    algorithms: Collection[str] = SIGNING_ALGORITHMS,
) -> AccessTokenClaims:
    """Like :func:`verify_access_token` without the audience check: for the introspection endpoint,
    which checks instead that the caller may see the token (:mod:`app.oidc.introspection`)."""
    verified = verify_jwt(
        token,
        keys=keys.verification_keys(now=now),
        algorithms=algorithms,
        typ=(ACCESS_TOKEN_TYP,),
        issuer=issuer,
        audience=None,
        required=_ACCESS_TOKEN_REQUIRED,
        now=now,
        leeway=leeway,
    )
    return _access_token_claims(verified)


def verify_logout_token(
    token: str,
    *,
    keys: KeyRing,
    issuer: str,
    client_id: str,
    now: datetime,
    leeway: timedelta = DEFAULT_LEEWAY,
    algorithms: Collection[str] = SIGNING_ALGORITHMS,
) -> VerifiedJwt:
    """Verify a logout token as an RP would (Back-Channel Logout §2.6): for tests, demo RPs."""
    verified = verify_jwt(
        token,
        keys=keys.verification_keys(now=now),
        algorithms=algorithms,
        typ=(LOGOUT_TOKEN_TYP,),
        issuer=issuer,
        audience=client_id,
        required=_LOGOUT_TOKEN_REQUIRED,
        now=now,
        leeway=leeway,
    )
    events = verified.claims.get("events")
    if not isinstance(events, dict) or BACKCHANNEL_LOGOUT_EVENT not in events:
        raise TokenRejected(RejectReason.INVALID_CLAIM)
    if "nonce" in verified.claims or not ({"sub", "sid"} & verified.claims.keys()):
        raise TokenRejected(RejectReason.INVALID_CLAIM)
    return verified
