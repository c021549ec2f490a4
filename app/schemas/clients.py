"""Admin API models for registered clients (``/v1/admin/clients``)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from app.schemas.common import UtcDatetime

AuthMethod = Literal["client_secret_basic", "client_secret_post", "client_secret_jwt",
                     "private_key_jwt", "none"]
ApplicationType = Literal["web", "native"]
GrantType = Literal["client_credentials", "authorization_code", "refresh_token"]
DataBasis = Literal["statutory_task", "consent"]


class ClientCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "client_id": "bank-a", "name": "Bank A eKYC", "scopes": ["citizen.basic", "citizen.verify"],
        "purposes": ["account-opening"], "rate_limit": 1200}]})

    client_id: str | None = Field(None, max_length=64, description="Generated when absent.")
    name: str = Field(min_length=1, max_length=120)
    scopes: list[str] = Field(min_length=1, max_length=32)
    purposes: list[str] = Field(min_length=1, max_length=16)
    legal_basis: str | None = Field(
        None, max_length=500, description="Required for citizen.sensitive."
    )
    data_basis: DataBasis = Field(
        "statutory_task", description="statutory_task (a state agency: no consent needed) or "
        "consent (each citizen's consent is required; docs/life-events.md)."
    )
    token_endpoint_auth_method: AuthMethod = Field(
        "client_secret_basic", description="none: a public client (a native app or a "
        "single-page application): no secret, PKCE always required, no client_credentials.")
    grant_types: list[GrantType] = Field(["client_credentials"], min_length=1, max_length=3)
    redirect_uris: list[str] = Field([], max_length=16)
    post_logout_redirect_uris: list[str] = Field(
        [], max_length=16, description="Where RP-initiated logout may return; empty: the "
        "redirect_uris.")
    application_type: ApplicationType = Field(
        "web", description="native: a loopback redirect URI (http://127.0.0.1 or [::1]) matches "
        "on any port (RFC 8252 §7.3); web: every redirect URI matches exactly.")
    require_pkce: bool = Field(
        True, description="false only for a confidential client that cannot send PKCE (e.g. "
        "one registered for OpenID certification); a sent challenge is still checked.")
    jwks: dict[str, Any] | None = Field(None, description="Public JWK Set, for private_key_jwt.")
    sector_identifier_uri: str | None = Field(
        None, max_length=2000, description="https URL serving a JSON array of the client's "
        "redirect URIs (OIDC Registration §5); its host is the sector of the pairwise sub "
        "(OIDC Core §8.1), so clients of one sector see the same sub. Fetched at registration "
        "(the webhooks' address rules, a short timeout) unless sector_redirect_uris is given.")
    security_profile: Literal["fapi2"] | None = Field(
        None, description="fapi2: the FAPI 2.0 Security Profile's client policy -- "
        "private_key_jwt, and PKCE, PAR and DPoP-bound access tokens required.")
    require_pushed_authorization_requests: bool = Field(
        False, description="true: authorization requests only through POST /oauth2/par "
        "(RFC 9126 §6).")
    dpop_bound_access_tokens: bool = Field(
        False, description="true: every token request must carry a DPoP proof (RFC 9449 §5.2); "
        "the user's access tokens are then bound to its key.")
    require_dpop_nonce: bool = Field(
        False, description="true: the client's DPoP proofs must carry the server's nonce (RFC "
        "9449 §8, §9; use_dpop_nonce and the DPoP-Nonce header tell it which).")
    userinfo_signed_response_alg: Literal["ES256", "RS256"] | None = Field(
        None, description="Answer userinfo as a JWT signed with this algorithm "
        "(application/jwt, OIDC Core §5.3.2); absent: plain JSON.")
    sector_redirect_uris: list[str] | None = Field(
        None, max_length=64, description="Sandbox clients only: the JSON array the "
        "sector_identifier_uri serves, given instead of fetched (a sandbox often runs offline).")
    backchannel_logout_uri: str | None = Field(
        None, max_length=2000, description="OpenID Connect Back-Channel Logout 1.0: where a "
        "logout token is POSTed when a session in which the client received tokens ends "
        "(https, http only to loopback; the webhooks' address rules).")
    backchannel_logout_session_required: bool = Field(
        False, description="true: the client needs sid in logout tokens (always sent here).")
    sandbox: bool = False
    signing_alg: Literal["ES256", "RS256"] = "ES256"
    rate_limit: int = Field(600, ge=1, le=10_000_000, description="Requests per minute.")


class ClientOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    client_id: str
    name: str
    scopes: list[str]
    purposes: list[str]
    legal_basis: str | None
    data_basis: DataBasis
    token_endpoint_auth_method: AuthMethod
    grant_types: list[str]
    redirect_uris: list[str]
    post_logout_redirect_uris: list[str]
    application_type: ApplicationType
    require_pkce: bool
    sector_identifier_uri: str | None = None
    userinfo_signed_response_alg: Literal["ES256", "RS256"] | None = None
    dpop_bound_access_tokens: bool = False
    require_dpop_nonce: bool = False
    require_pushed_authorization_requests: bool = False
    backchannel_logout_uri: str | None = None
    backchannel_logout_session_required: bool = False
    security_profile: Literal["fapi2"] | None = None
    status: Literal["active", "disabled"]
    sandbox: bool
    signing_alg: Literal["ES256", "RS256"]
    rate_limit: int
    created_at: UtcDatetime
    secret_rotated_at: UtcDatetime | None


class ClientCreated(ClientOut):
    client_secret: str | None = Field(
        description="Shown only now; null for private_key_jwt and public (none) clients."
    )


class ClientList(BaseModel):
    clients: list[ClientOut]


class SecretRotated(BaseModel):
    client_id: str
    client_secret: str = Field(description="Shown only now; the previous secret no longer works.")


class KeyRotated(BaseModel):
    alg: Literal["ES256", "RS256"]
    kid: str


class InitialAccessTokenRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    expires_in: int = Field(86_400, ge=60, le=30 * 86_400,
                            description="Seconds the token stays valid (at most 30 days).")


class InitialAccessToken(BaseModel):
    initial_access_token: str = Field(
        description="Bearer token for POST /oauth2/register: any number of registrations until "
        "it expires, in this deployment (or tenant) only.")
    expires_at: UtcDatetime
