"""Service settings, read from the environment (prefix ``DANCU_``) and validated at start-up."""

from __future__ import annotations

from functools import lru_cache
from ipaddress import ip_address
from typing import Literal, Self

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_DATABASE_URL = "sqlite:///./dancu.db"
_SANDBOX_DEFAULT_SECRETS = {"admin_token": "admin-secret",
                            "demo_client_secret": "demo-secret-for-the-sandbox-only"}


class SettingsError(RuntimeError):
    """A setting is invalid; the message names the variable and the rule, in one line."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="DANCU_", extra="ignore", frozen=True)

    database_url: str = DEFAULT_DATABASE_URL
    # A read replica for the data-sharing API's lookups by PIN (docs/scale.md); unset: the primary.
    read_database_url: str | None = None
    seed: int = Field(default=6, ge=0, le=2**63 - 1)
    population_size: int = Field(default=10_000, ge=100, le=120_000_000)
    # Tenant templates kept (docs/sandbox.md, "Templates"): past it the least recently used one is
    # dropped, so a client looping over new seeds cannot fill the disk with them.
    tenant_templates_kept: int = Field(default=4, ge=1, le=1000)
    # Tenants one client may own (the admin: up to the deployment's 20), so that one organisation
    # cannot take every slot of a shared deployment; 0: only the admin creates tenants.
    tenants_per_client: int = Field(default=5, ge=0, le=20)
    auto_seed: bool = True
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    issuer: str | None = None
    sandbox: bool = True
    admin_token: str = _SANDBOX_DEFAULT_SECRETS["admin_token"]
    demo_client_id: str = "demo"
    # At least 32 characters, like every client secret (libraries such as idpyoidc refuse shorter
    # HMAC keys).
    demo_client_secret: str = Field(default=_SANDBOX_DEFAULT_SECRETS["demo_client_secret"],
                                    min_length=32)
    # Every secret of the deployment (token-signing keys, pairwise subjects, persona device
    # tokens, tenant keys) is derived from it; unset: a random one made on first start and kept
    # in the database (app.services.kit.secret). Never derived from the public seed.
    secret_key: SecretStr | None = Field(default=None, min_length=16)
    # RFC 9449 §8, §9: every DPoP proof (token endpoint, userinfo, /v1) must carry a server
    # nonce; off: only clients registered with require_dpop_nonce (docs/vneid.md).
    dpop_nonce_required: bool = False
    log_level: str = "info"
    max_body_bytes: int = Field(default=1_048_576, ge=1024)
    # Keys of the chip-card test PKI: "ec" (P-256, derived from the seed) or "rsa" (2048-bit,
    # generated once and kept in the pki_key table). See docs/cards.md.
    pki_key_type: Literal["ec", "rsa"] = "ec"
    # Background thread of `dancu serve`: webhook deliveries every second and the stored sandbox
    # clock every five (docs/life-events.md). Off: run `dancu events deliver` instead.
    delivery_worker: bool = True
    # Webhooks to loopback addresses (a receiver on the developer's own machine); unset: allowed
    # only in a sandbox deployment. Every other non-public address is always refused.
    webhook_allow_loopback: bool | None = None
    # Total time of one delivery attempt: resolve, connect, send, read the status (not per read).
    # At most 30 s: a pass lasts about two deadlines and must end within a delivery's 2 min lease.
    webhook_deadline_seconds: float = Field(default=10.0, gt=0, le=30)
    # Failure throttles (docs/reliability.md, "Authorisation and throttles"; 0 turns one off):
    # wrong client credentials, admin or console tokens per source address and per client in a
    # minute; wrong chip access keys per (client, card) and per client in 15 minutes.
    failures_per_source: int = Field(default=10, ge=0)
    failures_per_client: int = Field(default=20, ge=0)
    chip_failures_per_card: int = Field(default=5, ge=0)
    chip_failures_per_client: int = Field(default=20, ge=0)
    # Dynamic client registration without an initial access token ("open registration", RFC 7591
    # §3), in a sandbox deployment only: registrations per source address in a minute (0: closed).
    open_registrations_per_source: int = Field(default=60, ge=0)
    # ... and in all: open registration is refused (403 access_denied) while this many dynamically
    # registered clients are active (registered by anyone, with a token or without; one deleted
    # through RFC 7592, or an open registration past its end, frees its place); 0 closes it too.
    # Per source alone, many addresses could fill the database without end.
    open_registrations_total: int = Field(default=1000, ge=0)
    # ... and each open registration ends this long after it was made (RFC 7591 §3.2.1's
    # client_secret_expires_at): the client no longer authenticates, its registration access
    # token no longer works, and its place in the total is free again, so that one source cannot
    # keep the total full for everyone else. Registrations with a token do not expire.
    open_registration_lifetime_seconds: int = Field(default=86_400, ge=60, le=30 * 86_400)
    # ... and one source address (an IPv6 one by its /64) may hold at most this many open
    # registrations that have not ended (0: no cap): without it, one address could take every
    # place of the total within minutes and take them again as they end. Deleting one (RFC 7592)
    # from the same address frees its place.
    open_registrations_live_per_source: int = Field(default=100, ge=0)

    @field_validator("database_url", "read_database_url")
    @classmethod
    def _known_database(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not value.startswith(("sqlite://", "postgresql")):
            raise ValueError("must start with sqlite:/// or postgresql+psycopg://")
        if value.startswith("postgresql://") or value.startswith("postgresql+psycopg2"):
            value = "postgresql+psycopg://" + value.split("://", 1)[1]
        return value

    @field_validator("host")
    @classmethod
    def _host(cls, value: str) -> str:
        if value != "localhost":
            ip_address(value)
        return value

    @field_validator("issuer")
    @classmethod
    def _issuer(cls, value: str | None) -> str | None:
        if value is not None:
            if not value.startswith(("https://", "http://")) or "?" in value or "#" in value:
                raise ValueError("must be an http(s) URL without query or fragment")
            value = value.rstrip("/")
        return value

    @model_validator(mode="after")
    def _no_default_secrets_outside_sandbox(self) -> Self:
        if not self.sandbox:
            for name, default in _SANDBOX_DEFAULT_SECRETS.items():
                if getattr(self, name) == default:
                    raise ValueError(
                        f"DANCU_{name.upper()} must be changed when DANCU_SANDBOX=false")
        return self

    @property
    def public_defaults_exposed(self) -> list[str]:
        """The settings still at their published defaults (the admin token, the demo client's
        secret) while the service listens beyond this machine: whoever reaches it is then the
        admin. Empty on a loopback address or outside the sandbox (where they stop the start)."""
        if not self.sandbox or self.host.strip("[]").lower() in ("127.0.0.1", "::1", "localhost"):
            return []
        return [f"DANCU_{name.upper()}" for name, default in _SANDBOX_DEFAULT_SECRETS.items()
                if getattr(self, name) == default]

    @property
    def issuer_url(self) -> str:
        """The OIDC issuer: the setting, or the address ``dancu serve`` listens on."""
        return self.issuer or f"http://{self.host}:{self.port}"

    @property
    def webhook_loopback_allowed(self) -> bool:
        return self.sandbox if self.webhook_allow_loopback is None else self.webhook_allow_loopback

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


def load_settings(**overrides: object) -> Settings:
    """Build settings or raise :class:`SettingsError` with one readable line."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or "settings"
        name = f"DANCU_{field.upper()}" if first["loc"] else "settings"
        raise SettingsError(f"invalid setting {name}: {first['msg']}") from None


@lru_cache
def get_settings() -> Settings:
    return load_settings()
