"""Revoking what the provider issued, and the introspection (RFC 7662) and revocation (RFC 7009)
endpoints' logic.

Revocation is recorded, never inferred: every access token issued to a relying party has a row
(``oidc_access_token``) keyed by ``jti``, every refresh token a row keyed by its hash; userinfo and
introspection look the row up, so a revocation takes effect at once in every server process.

What revokes what:

* a reused authorization code -> every token issued from it (RFC 6749 §4.1.2);
* a reused (already rotated) refresh token -> its whole family and the access tokens it produced
  (RFC 9700 §4.14.2);
* a withdrawn login consent -> every token of that citizen at that client;
* ``POST /oauth2/revoke`` -> the access token, or the refresh token's family (RFC 7009 §2.1).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select, text, update
from sqlalchemy.orm import Session

from app.models.account import Account
from app.models.consent import Consent
from app.models.oidc import IssuedAccessToken, RefreshToken
from app.oidc import errors as oauth
from app.oidc import introspection as rules
from app.oidc.codes import RefreshTokenRecord, opaque_hash
from app.oidc.jwt_policy import TokenRejected
from app.oidc.tokens import AccessTokenClaims, inspect_access_token
from app.services.kit.keys import KeyStore, aware
from app.services.sharing import consent
from app.services.vneid import accounts
from app.services.vneid.credentials import card_ground
from app.services.vneid.provider import LOGIN_PURPOSE
from app.settings import Settings


def _revoke_access_tokens(session: Session, condition: Any, now: datetime) -> None:
    session.execute(update(IssuedAccessToken)
                    .where(condition, IssuedAccessToken.revoked_at.is_(None))
                    .values(revoked_at=now))


def lock_family(session: Session, family_id: str) -> None:
    """Take the refresh token family's lock until the transaction ends (PostgreSQL; SQLite has
    one writer at a time). Every write to a family's rows takes it first: concurrent refreshes
    with one token each try to rotate it, and a rotation that finds the token already rotated
    still keeps its row locked (PostgreSQL locks the newest version before re-checking the
    condition), then revokes the family, whose other rows a neighbour holds: they deadlocked
    (a 500 for one of them). Taken again in one transaction, the lock stacks."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(hashtextextended(:family, 0))"),
                        {"family": f"refresh-family:{family_id}"})


def _lock_families(session: Session, condition: Any) -> None:
    """The locks of the families with unrevoked tokens under ``condition``, in one order (a
    revocation by account or session updates rows of several families: without their locks, it
    took one family's rows while a rotation that had found its token rotated held another of
    them and waited for the first to revoke the family: a deadlock, a 500 for one)."""
    if session.get_bind().dialect.name != "postgresql":
        return
    for family_id in sorted(set(session.scalars(
            select(RefreshToken.family_id).where(condition, RefreshToken.revoked_at.is_(None))))):
        lock_family(session, family_id)


def _revoke_locked_family(session: Session, family_id: str, *, now: datetime) -> None:
    """Revoke the family's rows; the caller holds its lock."""
    session.execute(update(RefreshToken)
                    .where(RefreshToken.family_id == family_id, RefreshToken.revoked_at.is_(None))
                    .values(revoked_at=now))
    _revoke_access_tokens(session, IssuedAccessToken.family_id == family_id, now)


def revoke_family(session: Session, family_id: str, *, now: datetime) -> None:
    """Revoke the family's refresh tokens and the access tokens they produced."""
    lock_family(session, family_id)
    _revoke_locked_family(session, family_id, now=now)


def revoke_from_code(session: Session, code_hash: str, *, now: datetime) -> None:
    """Every token issued from the code: each family's lock is taken once, all of them first and
    in one order (a stacked second take was one more round trip per family)."""
    families = sorted(set(session.scalars(select(RefreshToken.family_id)
                                          .where(RefreshToken.code_hash == code_hash))))
    for family_id in families:
        lock_family(session, family_id)
    _revoke_access_tokens(session, IssuedAccessToken.code_hash == code_hash, now)
    for family_id in families:
        _revoke_locked_family(session, family_id, now=now)


def revoke_grants(session: Session, *, account_id: int, client_id: str, now: datetime) -> None:
    """Everything the client holds for this account (consent withdrawn)."""
    _lock_families(session, (RefreshToken.account_id == account_id)
                   & (RefreshToken.client_id == client_id))
    session.execute(update(RefreshToken)
                    .where(RefreshToken.account_id == account_id,
                           RefreshToken.client_id == client_id, RefreshToken.revoked_at.is_(None))
                    .values(revoked_at=now))
    _revoke_access_tokens(session, (IssuedAccessToken.account_id == account_id)
                          & (IssuedAccessToken.client_id == client_id), now)


def revoke_session_grants(session: Session, *, account_id: int, session_ids: list[str],
                          now: datetime) -> None:
    """Every token issued in these login sessions of the account (the sessions were ended)."""
    _lock_families(session, (RefreshToken.account_id == account_id)
                   & RefreshToken.session_id.in_(session_ids))
    session.execute(update(RefreshToken)
                    .where(RefreshToken.account_id == account_id,
                           RefreshToken.session_id.in_(session_ids),
                           RefreshToken.revoked_at.is_(None))
                    .values(revoked_at=now))
    _revoke_access_tokens(session, (IssuedAccessToken.account_id == account_id)
                          & IssuedAccessToken.session_id.in_(session_ids), now)


def _on_login_consent_withdrawn(session: Session, withdrawn: Consent, now: datetime) -> None:
    account = accounts.find(session, withdrawn.pin)
    if account is not None:
        revoke_grants(session, account_id=account.id, client_id=withdrawn.client_id, now=now)


consent.on_withdraw(LOGIN_PURPOSE, _on_login_consent_withdrawn)


# --- introspection and revocation endpoints -------------------------------------------------------


def _access_claims(token: str, *, keys: KeyStore, settings: Settings,
                   now: datetime) -> AccessTokenClaims | None:
    if token.count(".") != 2:
        return None
    try:
        return inspect_access_token(token, keys=keys.ring_for(token), issuer=settings.issuer_url,
                                    now=now)
    except TokenRejected:
        return None


def access_token_revoked(session: Session, claims: AccessTokenClaims, *, now: datetime) -> bool:
    """A user token is live only while its record is unrevoked and its account may log in (active,
    and its card not expired by the sandbox clock, as at login and userinfo); a
    client-credentials token (data API) has no record and lives until it expires."""
    if claims.content.is_client_credentials:
        return False
    record = session.get(IssuedAccessToken, claims.jti)
    if record is None or record.revoked_at is not None or record.account_id is None:
        return True
    account = session.get(Account, record.account_id)
    return account is None or account.state != accounts.ACTIVE or \
        card_ground(session, account.pin, now=now) is not None


def record_of(row: RefreshToken | None) -> RefreshTokenRecord | None:
    if row is None:
        return None
    return RefreshTokenRecord(
        token_hash=row.token_hash, family_id=row.family_id, client_id=row.client_id,
        subject=str(row.account_id), scope=tuple(row.scope), auth_time=aware(row.auth_time)
        or row.auth_time, acr=row.acr, issued_at=aware(row.issued_at) or row.issued_at,
        expires_at=aware(row.expires_at) or row.expires_at,
        family_expires_at=aware(row.family_expires_at) or row.family_expires_at,
        session_id=row.session_id, rotated_at=aware(row.rotated_at),
        revoked_at=aware(row.revoked_at))


def refresh_record(session: Session, token: str) -> RefreshTokenRecord | None:
    return record_of(session.get(RefreshToken, opaque_hash(token)))


def introspect(session: Session, token: str, *, requester: str, hint: str | None,
               keys: KeyStore, settings: Settings, now: datetime) -> dict[str, Any]:
    """RFC 7662 §2.2 answer for ``token`` as seen by the authenticated client ``requester``."""
    order = ("refresh_token", "access_token") if hint == "refresh_token" else (
        "access_token", "refresh_token")
    for kind in order:
        if kind == "access_token":
            claims = _access_claims(token, keys=keys, settings=settings, now=now)
            if claims is not None:
                return rules.access_token_introspection(
                    claims, revoked=access_token_revoked(session, claims, now=now),
                    requester=requester, issuer=settings.issuer_url)
        else:
            record = refresh_record(session, token)
            if record is not None:
                return rules.refresh_token_introspection(record, requester=requester,
                                                         issuer=settings.issuer_url, now=now)
    return dict(rules.INACTIVE)


def revoke(session: Session, token: str, *, requester: str, keys: KeyStore, settings: Settings,
           now: datetime) -> None:
    """RFC 7009: revoke a token of ``requester``; unknown or foreign tokens are ignored (§2.2)."""
    record = refresh_record(session, token)
    if record is not None:
        if record.client_id == requester:
            revoke_family(session, record.family_id, now=now)
        return
    claims = _access_claims(token, keys=keys, settings=settings, now=now)
    if claims is None or claims.content.client_id != requester:
        return
    if claims.content.is_client_credentials:
        raise oauth.UnsupportedTokenType(
            "Client-credentials access tokens are not revocable; they expire in 10 minutes.")
    _revoke_access_tokens(session, IssuedAccessToken.jti == claims.jti, now)
