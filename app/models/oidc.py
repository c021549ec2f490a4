"""State of the OpenID Connect provider, all in the database so any server process can serve any
step of a flow: login interactions, browser sessions, authorization codes, refresh tokens and the
register of issued access tokens (for revocation).

Codes, refresh tokens, cookies and handles are random values of which only the SHA-256 is stored
(``app.oidc.codes.opaque_hash``). ``account_id`` is the internal account: never put in a token.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, DateTime, Index, Integer, SmallInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base


class LoginInteraction(Base):
    """One authorization request waiting for the user: login (password, OTP, QR) and consent.

    ``id`` appears in the login page URLs; the interaction only answers to the browser whose
    cookie hashes to ``browser_hash``, and its forms carry a CSRF token hashing to ``csrf_hash``.
    """

    __tablename__ = "oidc_interaction"
    __table_args__ = (
        Index("ix_oidc_interaction_qr_handle_hash", "qr_handle_hash", unique=True),
        Index("ix_oidc_interaction_expires_at", "expires_at"),  # the sweep (sessions.py)
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    browser_hash: Mapped[str] = mapped_column(String(64))
    csrf_hash: Mapped[str] = mapped_column(String(64))
    client_id: Mapped[str] = mapped_column(String(64))
    request: Mapped[dict[str, Any]] = mapped_column(JSON)  # the validated authorization request
    stage: Mapped[str] = mapped_column(String(8))  # login | otp | consent | done
    account_id: Mapped[int | None] = mapped_column(BigInteger)  # password checked, OTP pending
    session_id: Mapped[str | None] = mapped_column(String(64))  # after login
    qr_handle_hash: Mapped[str | None] = mapped_column(String(64))
    qr_status: Mapped[str | None] = mapped_column(String(8))  # pending | approved | denied
    qr_account_id: Mapped[int | None] = mapped_column(BigInteger)
    qr_expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class BrowserSession(Base):
    """A login at the provider (single sign-on): ``id`` is the public ``sid`` of tokens, the cookie
    value is only stored as ``cookie_hash``."""

    __tablename__ = "oidc_session"
    __table_args__ = (
        Index("ix_oidc_session_cookie_hash", "cookie_hash", unique=True),
        Index("ix_oidc_session_account_id", "account_id"),
        Index("ix_oidc_session_expires_at", "expires_at"),  # the sweep (sessions.py)
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    cookie_hash: Mapped[str] = mapped_column(String(64))
    account_id: Mapped[int] = mapped_column(BigInteger)
    auth_time: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    amr: Mapped[list[str]] = mapped_column(JSON)
    level: Mapped[int] = mapped_column(SmallInteger)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class AuthorizationCode(Base):
    """An issued code (``app.oidc.codes.AuthorizationCodeGrant``): single use, 60 s."""

    __tablename__ = "oidc_authorization_code"
    __table_args__ = (Index("ix_oidc_authorization_code_expires_at", "expires_at"),)  # the sweep

    code_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    client_id: Mapped[str] = mapped_column(String(64))
    redirect_uri: Mapped[str] = mapped_column(String(2000))
    scope: Mapped[list[str]] = mapped_column(JSON)
    code_challenge: Mapped[str | None] = mapped_column(String(64))  # None: no PKCE (policy)
    account_id: Mapped[int] = mapped_column(BigInteger)
    auth_time: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    acr: Mapped[str] = mapped_column(String(8))
    amr: Mapped[list[str]] = mapped_column(JSON)
    nonce: Mapped[str | None] = mapped_column(String(512))
    session_id: Mapped[str | None] = mapped_column(String(64))
    issued_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    consumed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    claims: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # OIDC Core §5.5 claims asked
    dpop_jkt: Mapped[str | None] = mapped_column(String(64))  # RFC 9449 §10


class RefreshToken(Base):
    """One refresh token of a rotation family (``app.oidc.codes.RefreshTokenRecord``)."""

    __tablename__ = "oidc_refresh_token"
    __table_args__ = (
        Index("ix_oidc_refresh_token_family_id", "family_id"),
        Index("ix_oidc_refresh_token_account_id_client_id", "account_id", "client_id"),
        Index("ix_oidc_refresh_token_code_hash", "code_hash"),
    )

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    family_id: Mapped[str] = mapped_column(String(64))
    client_id: Mapped[str] = mapped_column(String(64))
    account_id: Mapped[int] = mapped_column(BigInteger)
    scope: Mapped[list[str]] = mapped_column(JSON)
    auth_time: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    acr: Mapped[str] = mapped_column(String(8))
    amr: Mapped[list[str]] = mapped_column(JSON)
    session_id: Mapped[str | None] = mapped_column(String(64))
    code_hash: Mapped[str | None] = mapped_column(String(64))  # the code the family came from
    issued_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    family_expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    rotated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    claims: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # OIDC Core §5.5 claims asked
    # RFC 9449 §5: a public client's refresh token is bound to its DPoP key (RFC 7638 thumbprint)
    jkt: Mapped[str | None] = mapped_column(String(64))


class IssuedAccessToken(Base):
    """An access token issued to a user grant, by ``jti``: where it came from, so a reused code,
    a reused refresh token, a withdrawn consent or RFC 7009 revocation can revoke it."""

    __tablename__ = "oidc_access_token"
    __table_args__ = (
        Index("ix_oidc_access_token_code_hash", "code_hash"),
        Index("ix_oidc_access_token_family_id", "family_id"),
        Index("ix_oidc_access_token_account_id_client_id", "account_id", "client_id"),
    )

    jti: Mapped[str] = mapped_column(String(64), primary_key=True)
    client_id: Mapped[str] = mapped_column(String(64))
    account_id: Mapped[int | None] = mapped_column(BigInteger)
    code_hash: Mapped[str | None] = mapped_column(String(64))
    family_id: Mapped[str | None] = mapped_column(String(64))
    session_id: Mapped[str | None] = mapped_column(String(64))
    issued_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    claims: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # userinfo claims asked (§5.5)


class PushedRequest(Base):
    """A pushed authorization request (RFC 9126), by the hash of its ``request_uri``: the
    parameters it stands for, until it expires (60 s)."""

    __tablename__ = "oidc_pushed_request"
    __table_args__ = (Index("ix_oidc_pushed_request_expires_at", "expires_at"),)

    uri_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    client_id: Mapped[str] = mapped_column(String(64))
    pairs: Mapped[list[list[str]]] = mapped_column(JSON)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class BackchannelDelivery(Base):
    """One logout token POSTed to a client's ``backchannel_logout_uri`` (OIDC Back-Channel Logout
    1.0 §2.5) and what came of it: the receiver's status code, or one fixed error text."""

    __tablename__ = "oidc_backchannel_delivery"
    __table_args__ = (Index("ix_oidc_backchannel_delivery_client_id", "client_id", "attempted_at"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    client_id: Mapped[str] = mapped_column(String(64))
    session_id: Mapped[str | None] = mapped_column(String(64))
    status_code: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(String(120))
    attempted_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
