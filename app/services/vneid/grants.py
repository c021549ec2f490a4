"""Token-endpoint grants of the OpenID provider: ``authorization_code`` and ``refresh_token``.

Registered on the shared token endpoint (``app.services.sharing.tokens.register_grant``) when this
module is imported; the client is already authenticated when a handler runs.

Single use is enforced by the database, not by a read: the code (or refresh token) is consumed with
``UPDATE ... SET consumed_at = :now WHERE code_hash = :h AND consumed_at IS NULL`` and only the
request whose update changed one row issues tokens. On PostgreSQL a concurrent update waits for
the winner to commit and then matches nothing; on SQLite writers are serialised (``BEGIN
IMMEDIATE``). A request that finds the code used -- before or at the update -- revokes every token
issued from it (RFC 6749 §4.1.2); a rotated refresh token presented again revokes its family.
A failed PKCE verification spends the code too (the same conditional update; RFC 9700 §4.5):
the right verifier afterwards finds it used.

Tokens: an RFC 9068 access token for the userinfo endpoint (``aud`` = its URL), an ID token with
``acr``, ``amr``, ``auth_time``, ``nonce``, ``sid`` and ``at_hash``, and -- with ``offline_access``
for a client allowed ``refresh_token`` -- a refresh token. Both JWTs are signed with the client's
algorithm (ES256 by default, RS256 per client); ``sub`` is the pairwise subject. The access token's
record (its ``jti``, for revocation) is written in the grant's transaction; the JWTs are signed
after it commits (:data:`app.services.sharing.tokens.TokenBody`).

Each handler checks on a read (the code or token, PKCE, the client, the account) and leaves its
writes -- the conditional update, the records, or a refusal's revocations -- as a ``Pending``
(:mod:`app.services.storage.phases`), so on SQLite the writer lock is held for those statements
only.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.orm import Session

from app.models.account import Account
from app.models.oidc import AuthorizationCode, IssuedAccessToken, RefreshToken
from app.oidc import claims_request
from app.oidc import errors as oauth
from app.oidc.claims import OFFLINE_ACCESS, userinfo_claims
from app.oidc.claims_request import ClaimsRequest
from app.oidc.clients import NONE, REFRESH_TOKEN
from app.oidc.codes import (
    AuthorizationCodeGrant,
    AuthorizationCodeReused,
    CodeVerifierFailed,
    RefreshTokenRecord,
    RefreshTokenReused,
    issue_refresh_token,
    opaque_hash,
    redeem_authorization_code,
    rotate_refresh_token,
)
from app.oidc.dpop import check_binding
from app.oidc.scopes import format_scope, parse_scope
from app.oidc.tokens import (
    AccessTokenContent,
    IdTokenContent,
    issue_access_token,
    issue_id_token,
    new_jti,
    token_expiry,
)
from app.prepared import Prepared
from app.services.kit.keys import aware
from app.services.sharing.tokens import GrantContext, TokenBody, register_grant, token_type
from app.services.storage.phases import Pending, failing, then
from app.services.vneid import revocation as oidc_revocation
from app.services.vneid import userinfo as oidc_userinfo
from app.services.vneid.credentials import ACCOUNT_COLUMNS, AccountRef, available, judged
from app.services.vneid.provider import (
    ACCESS_TOKEN_TTL,
    ID_TOKEN_TTL,
    subject,
    userinfo_audience,
    view_of,
)


@dataclass(frozen=True)
class Grant:
    """What the tokens of one issuance assert, whichever grant produced them."""

    account: AccountRef
    scope: tuple[str, ...]
    auth_time: datetime
    acr: str
    amr: tuple[str, ...]
    session_id: str | None
    code_hash: str | None
    nonce: str | None = None
    claims: ClaimsRequest | None = None


def _code_grant(row: Any) -> AuthorizationCodeGrant | None:
    if row is None:
        return None
    return AuthorizationCodeGrant(
        code_hash=row.code_hash, client_id=row.client_id, redirect_uri=row.redirect_uri,
        scope=tuple(row.scope), code_challenge=row.code_challenge, subject=str(row.account_id),
        auth_time=aware(row.auth_time) or row.auth_time, acr=row.acr,
        issued_at=aware(row.issued_at) or row.issued_at,
        expires_at=aware(row.expires_at) or row.expires_at, amr=tuple(row.amr), nonce=row.nonce,
        session_id=row.session_id, consumed_at=aware(row.consumed_at),
        claims=claims_request.from_json(row.claims), dpop_jkt=row.dpop_jkt)


# Statements compiled once per dialect and run on the driver's cursor (app.prepared).
# the code and the account it was issued for, with that account's latest card (one round trip)
_CODE = Prepared(select(AuthorizationCode.__table__, *ACCOUNT_COLUMNS)
                 .outerjoin(Account, Account.id == AuthorizationCode.account_id)
                 .where(AuthorizationCode.code_hash == bindparam("code_hash")))
_CONSUME_CODE = Prepared(update(AuthorizationCode)
                         .where(AuthorizationCode.code_hash == bindparam("hash"),
                                AuthorizationCode.consumed_at.is_(None))
                         .values(consumed_at=bindparam("at")))
_INSERT_ACCESS = Prepared(insert(IssuedAccessToken.__table__))
_INSERT_REFRESH = Prepared(insert(RefreshToken.__table__))
_ROTATE = Prepared(update(RefreshToken)
                   .where(RefreshToken.token_hash == bindparam("hash"),
                          RefreshToken.rotated_at.is_(None), RefreshToken.revoked_at.is_(None))
                   .values(rotated_at=bindparam("at")))


def _consume_code(session: Session, code_hash: str, now: datetime) -> bool:
    return _CONSUME_CODE.run(session.connection(), {"hash": code_hash, "at": now}) == 1


def _live_account(ctx: GrantContext, account_id: int,
                  row: Any | None = None) -> AccountRef | oauth.InvalidGrant:
    """The account if it may still log in (judged on ``row``, its columns read already, if
    given), else the grant's refusal."""
    account = available(ctx.session, account_id=account_id, now=ctx.now) if row is None \
        else judged(ctx.session, row, now=ctx.now)
    if not isinstance(account, AccountRef):
        return oauth.InvalidGrant("The account can no longer log in.")
    return account


def _revoking_code(code_hash: str, reused: AuthorizationCodeReused,
                   now: datetime) -> Pending[TokenBody]:
    """Revoke what the code produced, then refuse (the revocations are kept)."""
    return then(lambda session: oidc_revocation.revoke_from_code(session, code_hash, now=now),
                failing(reused))


def _spending_code(code_hash: str, failed: CodeVerifierFailed,
                   now: datetime) -> Pending[TokenBody]:
    """Spend the code, then refuse; if another request spent it first, revoke what it produced."""
    def write(session: Session) -> TokenBody:
        if not _consume_code(session, code_hash, now):
            oidc_revocation.revoke_from_code(session, code_hash, now=now)
        raise failed
    return Pending(write)


def authorization_code_grant(ctx: GrantContext) -> Pending[TokenBody]:
    """RFC 6749 §4.1.3 with PKCE (RFC 7636 §4.6): one code, one set of tokens. The code is
    consumed by the write phase's conditional update, which only one request can win."""
    params = ctx.request.params
    if not params.get("code"):
        raise oauth.InvalidRequest("The code parameter is required.")
    code_hash = opaque_hash(params["code"])
    row = _CODE.first(ctx.session.connection(), {"code_hash": code_hash})
    try:
        grant = redeem_authorization_code(
            _code_grant(row), client_id=ctx.client.client_id,
            redirect_uri=params.get("redirect_uri"), code_verifier=params.get("code_verifier"),
            now=ctx.now)
    except AuthorizationCodeReused as reused:
        return _revoking_code(code_hash, reused, ctx.now)
    except CodeVerifierFailed as failed:
        return _spending_code(code_hash, failed, ctx.now)
    assert row is not None
    check_binding(grant.dpop_jkt, ctx.dpop_proof, "authorization code")  # RFC 9449 §10
    account = _live_account(ctx, row.account_id, row)
    issue = None if isinstance(account, oauth.InvalidGrant) else _issue(ctx, Grant(
        account=account, scope=grant.scope, auth_time=grant.auth_time, acr=grant.acr,
        amr=grant.amr, session_id=grant.session_id, code_hash=code_hash, nonce=grant.nonce,
        claims=grant.claims), first_refresh=grant)

    def write(session: Session) -> TokenBody:
        if not _consume_code(session, code_hash, ctx.now):  # a concurrent request redeemed it
            return _revoking_code(code_hash, AuthorizationCodeReused(grant), ctx.now).write(session)
        if issue is None:
            raise account  # the code is spent all the same
        return issue.write(session)

    return Pending(write)


def _mark_rotated(session: Session, token_hash: str, now: datetime) -> bool:
    return _ROTATE.run(session.connection(), {"hash": token_hash, "at": now}) == 1


def _revoking_family(family_id: str, error: oauth.OAuthError,
                     now: datetime) -> Pending[TokenBody]:
    """Revoke the refresh token's family, then refuse (the revocations are kept)."""
    return then(lambda session: oidc_revocation.revoke_family(session, family_id, now=now),
                failing(error))


def refresh_token_grant(ctx: GrantContext) -> Pending[TokenBody]:
    """RFC 6749 §6 with rotation: the presented token is spent, a new one is returned."""
    params = ctx.request.params
    if not params.get("refresh_token"):
        raise oauth.InvalidRequest("The refresh_token parameter is required.")
    token_hash = opaque_hash(params["refresh_token"])
    row = ctx.session.get(RefreshToken, token_hash)
    requested = parse_scope(params["scope"]) if params.get("scope") else None
    try:
        rotation = rotate_refresh_token(oidc_revocation.record_of(row),
                                        client_id=ctx.client.client_id,
                                        requested_scope=requested, now=ctx.now)
    except RefreshTokenReused as reused:
        return _revoking_family(reused.family_id, reused, ctx.now)
    assert row is not None
    check_binding(row.jkt, ctx.dpop_proof, "refresh token")  # RFC 9449 §5: a public client's key
    family_id, account_id, amr, code_hash = row.family_id, row.account_id, tuple(row.amr), \
        row.code_hash
    account = _live_account(ctx, account_id)
    issue = None if isinstance(account, oauth.InvalidGrant) else _issue(ctx, Grant(
        account=account, scope=rotation.scope, auth_time=aware(row.auth_time) or row.auth_time,
        acr=row.acr, amr=amr, session_id=row.session_id, code_hash=code_hash,
        claims=claims_request.from_json(row.claims)),
        refresh=(rotation.token, rotation.new_record.family_id))

    def write(session: Session) -> TokenBody:
        oidc_revocation.lock_family(session, family_id)  # before the rotation locks the row
        if not _mark_rotated(session, token_hash, ctx.now):  # a concurrent request rotated it
            return _revoking_family(family_id, oauth.InvalidGrant(
                "The refresh token has already been used."), ctx.now).write(session)
        if issue is None:
            return _revoking_family(family_id, account, ctx.now).write(session)
        _store_refresh(session, rotation.new_record, account_id, amr, code_hash, row.claims,
                       jkt=row.jkt)
        return issue.write(session)

    return Pending(write)


def _store_refresh(session: Session, record: RefreshTokenRecord, account_id: int,
                   amr: tuple[str, ...], code_hash: str | None,
                   claims: dict[str, Any] | None, *, jkt: str | None) -> None:
    _INSERT_REFRESH.run(session.connection(), {
        "token_hash": record.token_hash, "family_id": record.family_id,
        "client_id": record.client_id, "account_id": account_id, "scope": list(record.scope),
        "auth_time": record.auth_time, "acr": record.acr, "amr": list(amr),
        "session_id": record.session_id, "code_hash": code_hash, "issued_at": record.issued_at,
        "expires_at": record.expires_at, "family_expires_at": record.family_expires_at,
        "claims": claims, "jkt": jkt})


def _refresh_binding(ctx: GrantContext) -> str | None:
    """RFC 9449 §5: a public client's refresh token is bound to the key of the proof it was
    issued with; a confidential client's is not (its authentication already binds it)."""
    return ctx.dpop_jkt if ctx.client.token_endpoint_auth_method == NONE else None


def _wants_refresh(ctx: GrantContext, scope: tuple[str, ...]) -> bool:
    return OFFLINE_ACCESS in scope and REFRESH_TOKEN in ctx.client.grant_types


def _id_token_claims(ctx: GrantContext, grant: Grant) -> dict[str, Any]:
    """The claims the ``claims`` parameter asked for in the ID token (OIDC Core §5.5), read
    from the population record; none in the common case, which reads nothing."""
    if grant.claims is None or not grant.claims.id_token:
        return {}
    source = oidc_userinfo.account_claim_source(ctx.session.connection(), grant.account.pin)
    if source is None:
        return {}
    released = userinfo_claims(source, scopes=(), subject="", claims=grant.claims.id_token)
    return {name: value for name, value in released.items() if name != "sub"}


def _issue(ctx: GrantContext, grant: Grant, *, first_refresh: AuthorizationCodeGrant | None = None,
           refresh: tuple[str, str] | None = None) -> Pending[TokenBody]:
    """The writes that record the access token (and a first refresh token); the body they return
    signs both JWTs, once they have committed."""
    first: RefreshTokenRecord | None = None
    if first_refresh is not None and _wants_refresh(ctx, grant.scope):
        token, first = issue_refresh_token(first_refresh, now=ctx.now)
        refresh = (token, first.family_id)
    jti = new_jti()
    claims_json = grant.claims.to_json() if grant.claims else None
    extra = _id_token_claims(ctx, grant)
    record = {"jti": jti, "client_id": ctx.client.client_id, "account_id": grant.account.id,
              "code_hash": grant.code_hash, "family_id": refresh[1] if refresh else None,
              "session_id": grant.session_id, "issued_at": ctx.now,
              "expires_at": token_expiry(ctx.now, ACCESS_TOKEN_TTL),
              "claims": claims_json}
    sub = subject(grant.account.pin, view_of(ctx.client), ctx.settings)
    key = ctx.keys.ring().signing_key(ctx.client.signing_alg, now=ctx.now)
    client_id, issuer, now = ctx.client.client_id, ctx.settings.issuer_url, ctx.now

    def body() -> dict[str, Any]:
        access = issue_access_token(
            AccessTokenContent(subject=sub, client_id=client_id,
                               audience=(userinfo_audience(ctx.settings),), scope=grant.scope,
                               auth_time=grant.auth_time, acr=grant.acr,
                               session_id=grant.session_id, jkt=ctx.dpop_jkt),
            key=key, issuer=issuer, now=now, ttl=ACCESS_TOKEN_TTL, jti=jti)
        id_token = issue_id_token(
            IdTokenContent(subject=sub, client_id=client_id, auth_time=grant.auth_time,
                           acr=grant.acr, amr=grant.amr, nonce=grant.nonce,
                           session_id=grant.session_id),
            key=key, issuer=issuer, now=now, ttl=ID_TOKEN_TTL, access_token=access.value,
            extra=extra)
        tokens = {"access_token": access.value,
                  "token_type": token_type(ctx),
                  "expires_in": int(ACCESS_TOKEN_TTL.total_seconds()),
                  "scope": format_scope(grant.scope), "id_token": id_token}
        return tokens | ({"refresh_token": refresh[0]} if refresh is not None else {})

    def write(session: Session) -> TokenBody:
        if first is not None:
            _store_refresh(session, first, grant.account.id, grant.amr, grant.code_hash,
                           claims_json, jkt=_refresh_binding(ctx))
        _INSERT_ACCESS.run(session.connection(), record)
        return body

    return Pending(write)


register_grant("authorization_code", authorization_code_grant)
register_grant("refresh_token", refresh_token_grant)
