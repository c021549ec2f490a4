"""Authorization codes and refresh tokens: opaque values, stored hashes, redemption decisions.

* Values are 256-bit random, base64url (RFC 6749 §10.10; FAPI 2.0 asks >= 128 bits). Only their
  SHA-256 is stored (:func:`opaque_hash`): a database leak yields no usable code or token, and a
  fast hash is enough because the values are random, not chosen by people.
* Authorization code (RFC 6749 §4.1.2, §4.1.3; RFC 9700 §2.1.1, §4.5; FAPI 2.0 5.3.2.1-11):
  lifetime 60 s, single use, bound to the client, the redirect URI and the PKCE challenge.
  A second redemption raises :class:`AuthorizationCodeReused` (an ``invalid_grant``): the caller
  SHOULD then revoke every token issued from that code (§4.1.2; conformance
  ``oidcc-codereuse-30seconds``).
  A failed PKCE verification raises :class:`CodeVerifierFailed`: the caller spends the code all
  the same (whoever holds a code without its verifier may be an attacker who intercepted it;
  RFC 9700 §2.1.1, §4.5), so a later request with the right verifier gets ``invalid_grant``.
* Refresh token (RFC 6749 §6, RFC 9700 §4.14.2): bound to the client; rotated on every use (the new
  token keeps the original scope; the access token may ask for less); presenting a rotated token
  again raises :class:`RefreshTokenReused`: the caller revokes the whole family. Each token has an
  idle expiry and the family an absolute one.

The functions decide; the caller persists. Single use is only safe if the caller consumes
atomically (``UPDATE ... SET consumed_at = :now WHERE code_hash = :h AND consumed_at IS NULL``,
likewise ``rotated_at`` for refresh tokens) and treats "no row updated" as reuse: a read-then-write
issued 14-15 tokens for one code under 16 concurrent requests (reliability catalogue §0.4).
"""

from __future__ import annotations

import dataclasses
import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from app.oidc import pkce
from app.oidc._util import b64url
from app.oidc.authorize import AuthorizationRequest
from app.oidc.claims_request import ClaimsRequest
from app.oidc.errors import InvalidGrant
from app.oidc.scopes import require_subset

CODE_TTL = timedelta(seconds=60)
REFRESH_TOKEN_TTL = timedelta(hours=12)
REFRESH_FAMILY_LIFETIME = timedelta(days=30)
OPAQUE_BYTES = 32


def new_opaque_value() -> str:
    """A fresh code / refresh token / handle: 256 random bits, base64url."""
    return secrets.token_urlsafe(OPAQUE_BYTES)


def opaque_hash(value: str) -> str:
    """What is stored and looked up instead of the value: base64url(SHA-256(value))."""
    return b64url(hashlib.sha256(value.encode("utf-8")).digest())


@dataclass(frozen=True)
class AuthorizationCodeGrant:
    """The stored side of an authorization code.

    ``subject`` is the internal account identifier (possibly the PIN): never put it in a token or a
    response; derive the pairwise ``sub`` from it (:func:`app.oidc.claims.pairwise_subject`).
    """

    code_hash: str
    client_id: str
    redirect_uri: str
    scope: tuple[str, ...]
    code_challenge: str | None  # None: the client's policy let it omit PKCE
    subject: str
    auth_time: datetime
    acr: str
    issued_at: datetime
    expires_at: datetime
    amr: tuple[str, ...] = ()
    nonce: str | None = None
    session_id: str | None = None
    consumed_at: datetime | None = None
    claims: ClaimsRequest | None = None  # OIDC Core §5.5, for the tokens issued from the code
    dpop_jkt: str | None = None  # RFC 9449 §10: redeemed only with a proof by this key


class AuthorizationCodeReused(InvalidGrant):
    """The code was already redeemed: answer ``invalid_grant`` and revoke what it produced."""

    def __init__(self, grant: AuthorizationCodeGrant) -> None:
        super().__init__("The authorization code has already been used.")
        self.grant = grant


class CodeVerifierFailed(InvalidGrant):
    """PKCE verification failed: answer ``invalid_grant`` and spend the code."""


def issue_authorization_code(
    request: AuthorizationRequest,
    *,
    subject: str,
    auth_time: datetime,
    acr: str,
    now: datetime,
    amr: tuple[str, ...] = (),
    session_id: str | None = None,
    ttl: timedelta = CODE_TTL,
) -> tuple[str, AuthorizationCodeGrant]:
    """A code for a validated, consented request: ``(code for the redirect, grant to store)``."""
    code = new_opaque_value()
    grant = AuthorizationCodeGrant(
        code_hash=opaque_hash(code),
        client_id=request.client_id,
        redirect_uri=request.redirect_uri,
        scope=request.scope,
        code_challenge=request.code_challenge,
        subject=subject,
        auth_time=auth_time,
        acr=acr,
        issued_at=now,
        expires_at=now + ttl,
        amr=amr,
        nonce=request.nonce,
        dpop_jkt=request.dpop_jkt,
        session_id=session_id,
        claims=request.claims,
    )
    return code, grant


def redeem_authorization_code(
    grant: AuthorizationCodeGrant | None,
    *,
    client_id: str,
    redirect_uri: str | None,
    code_verifier: str | None,
    now: datetime,
) -> AuthorizationCodeGrant:
    """Check a token request against the stored grant; returns the grant marked consumed."""
    if grant is None:
        raise InvalidGrant()
    if grant.consumed_at is not None:
        raise AuthorizationCodeReused(grant)
    if grant.client_id != client_id:
        raise InvalidGrant("The authorization code was issued to another client.")
    if now >= grant.expires_at:
        raise InvalidGrant("The authorization code has expired.")
    if redirect_uri != grant.redirect_uri:
        raise InvalidGrant("The redirect_uri does not match the authorization request.")
    try:
        pkce.check_verifier(code_verifier, challenge=grant.code_challenge)
    except InvalidGrant as failed:
        raise CodeVerifierFailed(failed.description) from None
    return dataclasses.replace(grant, consumed_at=now)


@dataclass(frozen=True)
class RefreshTokenRecord:
    """The stored side of a refresh token; all tokens rotated from one grant share ``family_id``."""

    token_hash: str
    family_id: str
    client_id: str
    subject: str
    scope: tuple[str, ...]
    auth_time: datetime
    acr: str
    issued_at: datetime
    expires_at: datetime
    family_expires_at: datetime
    session_id: str | None = None
    rotated_at: datetime | None = None
    revoked_at: datetime | None = None


class RefreshTokenReused(InvalidGrant):
    """A rotated refresh token came back: answer ``invalid_grant`` and revoke the family."""

    def __init__(self, record: RefreshTokenRecord) -> None:
        super().__init__("The refresh token has already been used.")
        self.family_id = record.family_id


@dataclass(frozen=True)
class RefreshRotation:
    """Result of a refresh: the new token value, the records to store, the access-token scope."""

    token: str
    new_record: RefreshTokenRecord
    rotated_record: RefreshTokenRecord
    scope: tuple[str, ...]


def issue_refresh_token(
    grant: AuthorizationCodeGrant,
    *,
    now: datetime,
    ttl: timedelta = REFRESH_TOKEN_TTL,
    family_lifetime: timedelta = REFRESH_FAMILY_LIFETIME,
) -> tuple[str, RefreshTokenRecord]:
    """The first refresh token of a new family, for a redeemed code (``offline_access`` only)."""
    token = new_opaque_value()
    family_expires_at = now + family_lifetime
    record = RefreshTokenRecord(
        token_hash=opaque_hash(token),
        family_id=new_opaque_value(),
        client_id=grant.client_id,
        subject=grant.subject,
        scope=grant.scope,
        auth_time=grant.auth_time,
        acr=grant.acr,
        issued_at=now,
        expires_at=min(now + ttl, family_expires_at),
        family_expires_at=family_expires_at,
        session_id=grant.session_id,
    )
    return token, record


def rotate_refresh_token(
    record: RefreshTokenRecord | None,
    *,
    client_id: str,
    requested_scope: tuple[str, ...] | None,
    now: datetime,
    ttl: timedelta = REFRESH_TOKEN_TTL,
) -> RefreshRotation:
    """Check a refresh request (RFC 6749 §6) and rotate the token."""
    live = _usable_refresh_token(record, client_id=client_id, now=now)
    scope = (
        live.scope
        if requested_scope is None
        else require_subset(requested_scope, granted=live.scope)
    )
    token = new_opaque_value()
    new_record = dataclasses.replace(
        live,
        token_hash=opaque_hash(token),
        issued_at=now,
        expires_at=min(now + ttl, live.family_expires_at),
    )
    rotated = dataclasses.replace(live, rotated_at=now)
    return RefreshRotation(token=token, new_record=new_record, rotated_record=rotated, scope=scope)


def _usable_refresh_token(
    record: RefreshTokenRecord | None, *, client_id: str, now: datetime
) -> RefreshTokenRecord:
    if record is None or record.revoked_at is not None:
        raise InvalidGrant()
    if record.rotated_at is not None:
        raise RefreshTokenReused(record)
    if record.client_id != client_id:
        raise InvalidGrant("The refresh token was issued to another client.")
    if now >= record.expires_at or now >= record.family_expires_at:
        raise InvalidGrant("The refresh token has expired.")
    return record
