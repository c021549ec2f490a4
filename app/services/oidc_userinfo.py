"""The UserInfo endpoint (OIDC Core §5.3): claims by scope for a valid, unrevoked access token.

The token must be one of ours for the userinfo audience (RFC 9068: ``typ`` ``at+jwt``, signature,
``iss``, ``aud``, ``exp``), issued to a relying party for a citizen (never a client-credentials
token), carry ``openid``, still be recorded unrevoked, and its account must still be able to log
in. Any failure is ``invalid_token`` (or ``insufficient_scope``) with the RFC 6750 challenge.

Claims come from the population record and the account (``app.oidc.claims``): the registered phone
of the account (verified: it received the login codes), the population record's e-mail, and the
current residence (current, else temporary, else permanent) as the OIDC ``address``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from app.models.account import Account
from app.models.oidc import IssuedAccessToken
from app.models.population import Citizen, Residence
from app.oidc import errors as oauth
from app.oidc.claims import OPENID, ClaimSource, PostalAddress, userinfo_claims
from app.oidc.jwt_policy import TokenRejected, read_unverified
from app.oidc.tokens import AccessTokenClaims, verify_access_token
from app.services import accounts
from app.services.citizens import current_residences
from app.services.keys import KeyStore
from app.services.oidc_provider import userinfo_audience
from app.services.reference import reference
from app.settings import Settings

RESIDENCE_PREFERENCE = ("current", "temporary", "permanent")


def verify(token: str, *, keys: KeyStore, settings: Settings, now: datetime) -> AccessTokenClaims:
    """A relying party's access token for userinfo, else ``invalid_token``."""
    try:
        header, _ = read_unverified(token)
        kid = header.get("kid")
        ring = keys.ring(kid=kid if isinstance(kid, str) else None)
        claims = verify_access_token(token, keys=ring, issuer=settings.issuer_url,
                                     audience=userinfo_audience(settings), now=now)
    except TokenRejected:
        raise oauth.InvalidToken() from None
    if claims.content.is_client_credentials:
        raise oauth.InvalidToken()
    return claims


def _address(session: Session, pin: str) -> PostalAddress | None:
    residences = current_residences(session, pin)
    row: Residence | None = next((residences[k] for k in RESIDENCE_PREFERENCE if k in residences),
                                 None)
    if row is None:
        return None
    ref = reference(session)
    commune = ref.commune(row.commune_code)
    province = ref.province(commune.province_code) if commune else None
    parts = [row.address_line, commune.name if commune else None,
             province.name if province else None]
    return PostalAddress(formatted=", ".join(p for p in parts if p),
                         street_address=row.address_line,
                         locality=commune.name if commune else None,
                         region=province.name if province else None)


def claim_source(session: Session, account: Account, citizen: Citizen) -> ClaimSource:
    return ClaimSource(
        pin=citizen.pin, surname=citizen.surname, middle_name=citizen.middle_name,
        given_name=citizen.given_name, birth_date=citizen.birth_date,
        birth_date_precision=citizen.birth_date_precision,  # type: ignore[arg-type]
        sex=citizen.sex,  # type: ignore[arg-type]
        email=citizen.email, email_verified=False, phone=account.phone, phone_verified=True,
        address=_address(session, citizen.pin))


def userinfo(session: Session, token: str, *, keys: KeyStore, settings: Settings,
             now: datetime) -> dict[str, Any]:
    claims = verify(token, keys=keys, settings=settings, now=now)
    if OPENID not in claims.content.scope:
        raise oauth.InsufficientScope()
    record = session.get(IssuedAccessToken, claims.jti)
    if record is None or record.revoked_at is not None or record.account_id is None:
        raise oauth.InvalidToken()
    account = session.get(Account, record.account_id)
    citizen = session.get(Citizen, account.pin) if account is not None else None
    if account is None or citizen is None or account.state != accounts.ACTIVE:
        raise oauth.InvalidToken()
    return userinfo_claims(claim_source(session, account, citizen), scopes=claims.content.scope,
                           subject=claims.content.subject)
