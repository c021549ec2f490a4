"""Registered relying parties (OAuth clients) and their per-client request counters."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    DateTime,
    Index,
    Integer,
    String,
    Text,
    false,
    true,
)
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base


class Client(Base):
    """An agency, bank, telecom or e-service registered to use the API under an agreement.

    The secret is stored only as a hash; ``private_key_jwt`` clients register a public JWK Set
    instead. Clients are never deleted (the audit trail refers to them): they are disabled.
    """

    __tablename__ = "client"
    __table_args__ = (
        CheckConstraint("status IN ('active', 'disabled')", name="status"),
        CheckConstraint("signing_alg IN ('ES256', 'RS256')", name="signing_alg"),
        CheckConstraint("token_endpoint_auth_method IN "
                        "('client_secret_basic', 'client_secret_post', 'client_secret_jwt', "
                        "'private_key_jwt', 'none')",
                        name="auth_method"),
        CheckConstraint("application_type IN ('web', 'native')", name="application_type"),
        CheckConstraint("rate_limit > 0", name="rate_limit"),
    )

    client_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    secret_hash: Mapped[str | None] = mapped_column(String(200))
    jwks: Mapped[dict[str, object] | None] = mapped_column(JSON)
    token_endpoint_auth_method: Mapped[str] = mapped_column(String(32))
    scopes: Mapped[list[str]] = mapped_column(JSON)
    purposes: Mapped[list[str]] = mapped_column(JSON)
    legal_basis: Mapped[str | None] = mapped_column(Text)  # required for citizen.sensitive
    # statutory_task (a state agency's task, Law 91/2025 Art. 19) or consent (a bank, a telecom:
    # each citizen's data needs their consent in force; docs/life-events.md)
    data_basis: Mapped[str] = mapped_column(String(16), default="statutory_task",
                                            server_default="statutory_task")
    redirect_uris: Mapped[list[str]] = mapped_column(JSON)
    grant_types: Mapped[list[str]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(8), default="active")
    sandbox: Mapped[bool] = mapped_column(default=False)
    signing_alg: Mapped[str] = mapped_column(String(5), default="ES256")
    rate_limit: Mapped[int] = mapped_column(Integer, default=600)  # requests per minute
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    secret_rotated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Per-client policy (docs/vneid.md "Client policy"). PKCE may be switched off only for a
    # confidential client (e.g. one registered for OpenID certification); a public client
    # ("none") always needs it.
    require_pkce: Mapped[bool] = mapped_column(default=True, server_default=true())
    # OIDC Registration §2: "native" clients get RFC 8252 §7.3 (any port on a loopback IP literal).
    application_type: Mapped[str] = mapped_column(String(8), default="web", server_default="web")
    # RP-Initiated Logout §3.1; empty: the client's redirect URIs (clients registered before).
    post_logout_redirect_uris: Mapped[list[str]] = mapped_column(JSON, default=list,
                                                                 server_default="[]")
    # OIDC Core §8.1 / Registration §2: its host is the sector of the client's pairwise subjects.
    sector_identifier_uri: Mapped[str | None] = mapped_column(String(2000))
    # client_secret_jwt (RFC 7523 HS256) needs the secret itself: AES-GCM under a key derived
    # from the deployment secret (app.services.sharing.client_secrets); other clients keep only
    # the hash.
    secret_encrypted: Mapped[str | None] = mapped_column(Text)
    # OIDC Registration §2: userinfo answered as a signed JWT (application/jwt) when set.
    userinfo_signed_response_alg: Mapped[str | None] = mapped_column(String(5))
    # RFC 7592: the hash of the registration access token of a dynamically registered client.
    registration_token_hash: Mapped[str | None] = mapped_column(String(64))
    # RFC 7591 §3.2.1: the end of an open registration (one made without an initial access
    # token; DANCU_OPEN_REGISTRATION_LIFETIME_SECONDS); from then on the client is as if
    # disabled. None: no end (registered with a token or by an administrator).
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # RFC 9449 §5.2: the client must send a DPoP proof for every token request.
    dpop_bound_access_tokens: Mapped[bool] = mapped_column(default=False, server_default=false())
    # RFC 9449 §8, §9: the client's DPoP proofs must carry the server's nonce.
    require_dpop_nonce: Mapped[bool] = mapped_column(default=False, server_default=false())
    # "fapi2": registered under the FAPI 2.0 Security Profile (its flags are set above; this
    # keeps the assertion rules that have no flag: PS256/ES256, the issuer as a string audience).
    security_profile: Mapped[str | None] = mapped_column(String(8))
    # RFC 9126 §6: authorization requests only through PAR (a FAPI 2.0 client, docs/vneid.md).
    require_pushed_authorization_requests: Mapped[bool] = mapped_column(
        default=False, server_default=false())
    # OIDC Back-Channel Logout 1.0 §2.2: where logout tokens are POSTed when a session ends, and
    # whether the client needs ``sid`` in them.
    backchannel_logout_uri: Mapped[str | None] = mapped_column(String(2000))
    backchannel_logout_session_required: Mapped[bool] = mapped_column(
        default=False, server_default=false())


class RateWindow(Base):
    """Requests a client made in one fixed window (shared by every server process)."""

    __tablename__ = "rate_window"

    client_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    window_start: Mapped[int] = mapped_column(BigInteger, primary_key=True)  # epoch seconds
    count: Mapped[int] = mapped_column(Integer)


class UsedClientAssertion(Base):
    """``jti`` of a ``private_key_jwt`` assertion already accepted, kept until it expires
    (RFC 7523 §3: an assertion is single-use); and of a DPoP proof already accepted (RFC 9449
    §11.1), keyed ``dpop:<key thumbprint>`` and the hash of its ``jti``, until its ``iat`` falls
    out of the acceptance window."""

    __tablename__ = "used_client_assertion"
    __table_args__ = (Index("ix_used_client_assertion_expires_at", "expires_at"),)

    client_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    jti: Mapped[str] = mapped_column(String(200), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
