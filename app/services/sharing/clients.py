"""The client registry: register relying parties, rotate secrets, enable/disable, the demo client.

Client secrets are generated (256 random bits), shown once and stored as a SHA-256 digest, with the
rules of ``app.oidc.client_auth`` (which explains why no slow password hash). The one exception is
the demo client's configured secret (``DANCU_DEMO_CLIENT_SECRET``, default
``demo-secret-for-the-sandbox-only``): known, so that curl examples work, at least 32 characters
like every secret, and only ever registered in a sandbox deployment.
"""

from __future__ import annotations

import dataclasses
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.errors import Conflict, NotFound, ValidationFailed
from app.models.client import Client
from app.oidc import client_auth as rules
from app.oidc.clients import (
    native_redirect_uri_problem,
    redirect_uri_problem,
    web_redirect_uri_problem,
)
from app.services.sharing import scopes as scope_catalogue
from app.services.sharing.client_secrets import Sealer
from app.services.sharing.outbound import OutboundRefused
from app.settings import Settings
from app.webhook_address import TargetPolicy, host_refusal, url_text_problem

SECRET_METHODS = ("client_secret_basic", "client_secret_post", "client_secret_jwt")
SEALED_METHODS = ("client_secret_jwt",)  # the secret is kept encrypted too (client_secrets)
AUTH_METHODS = (*SECRET_METHODS, "private_key_jwt", "none")
APPLICATION_TYPES = ("web", "native")
GRANT_TYPES = ("client_credentials", "authorization_code", "refresh_token")
SIGNING_ALGS = ("ES256", "RS256")
DEMO_REDIRECT_URIS = ("http://127.0.0.1:8765/callback", "http://localhost:8765/callback")
DEMO_PURPOSES = ("sandbox-testing",)
DEMO_LEGAL_BASIS = "Sandbox deployment: synthetic population only, no real personal data."
CLIENT_ID_SHAPE = re.compile(r"[A-Za-z0-9._-]{1,64}")  # also what the request log records
_PURPOSE = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")


class ClientNotFound(NotFound):
    code, title = "client-not-found", "No such client"


class ClientExists(Conflict):
    code, title = "client-exists", "A client with this id already exists"


class InvalidClientRegistration(ValidationFailed):
    code, title = "invalid-client-registration", "The client registration is not valid"


@dataclass(frozen=True)
class ClientSpec:
    """What an administrator registers; ``client_id`` is generated when absent."""

    name: str
    scopes: tuple[str, ...]
    purposes: tuple[str, ...]
    client_id: str | None = None
    token_endpoint_auth_method: str = "client_secret_basic"
    grant_types: tuple[str, ...] = ("client_credentials",)
    redirect_uris: tuple[str, ...] = ()
    jwks: dict[str, Any] | None = None
    sandbox: bool = False
    signing_alg: str = "ES256"
    rate_limit: int = 600
    legal_basis: str | None = None
    data_basis: str = "statutory_task"  # or "consent" (docs/life-events.md)
    post_logout_redirect_uris: tuple[str, ...] = ()
    application_type: str = "web"
    require_pkce: bool = True
    sector_identifier_uri: str | None = None
    # Sandbox clients only: the JSON array the sector_identifier_uri serves, given instead of
    # fetched (a sandbox often runs offline).
    sector_redirect_uris: tuple[str, ...] | None = None
    userinfo_signed_response_alg: str | None = None  # ES256 / RS256: userinfo as a signed JWT
    dpop_bound_access_tokens: bool = False  # RFC 9449 §5.2: a DPoP proof at every token request
    require_dpop_nonce: bool = False  # RFC 9449 §8, §9: its proofs carry the server nonce
    require_pushed_authorization_requests: bool = False  # RFC 9126 §6
    # "fapi2": the FAPI 2.0 Security Profile's client policy (docs/vneid.md): private_key_jwt,
    # and PKCE, PAR and DPoP-bound access tokens required whatever the other fields say.
    security_profile: str | None = None
    # OIDC Back-Channel Logout 1.0 §2.2: where logout tokens are POSTed (the webhooks' address
    # rules, app.webhook_address), and whether they must carry sid.
    backchannel_logout_uri: str | None = None
    backchannel_logout_session_required: bool = False


def backchannel_uri_problem(uri: str, *, sandbox: bool, targets: TargetPolicy) -> str | None:
    """Why ``uri`` cannot be a ``backchannel_logout_uri`` (Back-Channel Logout §2.2: absolute, no
    fragment; https, http only to loopback; a host the webhooks could reach), or ``None``."""
    try:
        parts = urlsplit(uri)
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        return "must be an absolute URI"
    reason = url_text_problem(uri) or redirect_uri_problem(uri, sandbox=sandbox)
    if reason is None and (refused := host_refusal(parts.hostname or "", port, targets)):
        reason = f"{refused} is not allowed"
    return reason


def _jwks_problem(jwks: dict[str, Any] | None) -> str | None:
    if jwks is None:
        return None
    try:
        keys = KeySet.import_key_set(jwks)  # type: ignore[arg-type]
    except (JoseError, ValueError, KeyError, TypeError):
        return "jwks: not a valid JWK Set"
    if not keys.keys or any(key.is_private for key in keys.keys):
        return "jwks: public keys only, at least one"
    return None


def _problems(spec: ClientSpec, targets: TargetPolicy) -> list[str]:
    problems = [f"scope {name}: {reason}" for name in spec.scopes
                if (reason := scope_catalogue.refusal(name, sandbox=spec.sandbox,
                                                      has_legal_basis=bool(spec.legal_basis)))]
    if spec.client_id is not None and not CLIENT_ID_SHAPE.fullmatch(spec.client_id):
        problems.append("client_id: 1-64 of A-Z a-z 0-9 . _ -")
    if not spec.purposes or not all(_PURPOSE.fullmatch(p) for p in spec.purposes):
        problems.append("purposes: at least one code of a-z 0-9 . _ - (up to 64 characters)")
    if spec.token_endpoint_auth_method not in AUTH_METHODS:
        problems.append("token_endpoint_auth_method: unknown")
    if not spec.grant_types or not set(spec.grant_types) <= set(GRANT_TYPES):
        problems.append("grant_types: unknown grant type")
    if "authorization_code" in spec.grant_types and not spec.redirect_uris:
        problems.append("redirect_uris: required for authorization_code")
    if spec.signing_alg not in SIGNING_ALGS:
        problems.append("signing_alg: ES256 or RS256")
    if spec.userinfo_signed_response_alg not in (None, *SIGNING_ALGS):
        problems.append("userinfo_signed_response_alg: ES256 or RS256")
    if spec.data_basis not in ("statutory_task", "consent"):
        problems.append("data_basis: statutory_task or consent")
    if spec.token_endpoint_auth_method == "private_key_jwt" and spec.jwks is None:
        problems.append("jwks: required for private_key_jwt")
    check = native_redirect_uri_problem if spec.application_type == "native" else \
        web_redirect_uri_problem
    problems += [f"{field}: {reason}" for field in ("redirect_uris", "post_logout_redirect_uris")
                 for uri in getattr(spec, field)
                 if (reason := check(uri, sandbox=spec.sandbox))]
    problems += _policy_problems(spec)
    if spec.backchannel_logout_uri is not None and (reason := backchannel_uri_problem(
            spec.backchannel_logout_uri, sandbox=spec.sandbox, targets=targets)):
        problems.append(f"backchannel_logout_uri: {reason}")
    if (jwks_problem := _jwks_problem(spec.jwks)) is not None:
        problems.append(jwks_problem)
    return problems


def _policy_problems(spec: ClientSpec) -> list[str]:
    problems = []
    if spec.security_profile not in (None, FAPI2):
        problems.append("security_profile: fapi2 or none")
    if spec.security_profile == FAPI2 and spec.token_endpoint_auth_method != "private_key_jwt":
        problems.append("security_profile: fapi2 needs token_endpoint_auth_method "
                        "private_key_jwt")
    if spec.application_type not in APPLICATION_TYPES:
        problems.append("application_type: web or native")
    if spec.token_endpoint_auth_method == "none":
        if not spec.require_pkce:
            problems.append("require_pkce: always true for a public client (none)")
        if "client_credentials" in spec.grant_types:
            problems.append("grant_types: client_credentials needs client authentication")
    if not spec.require_pkce and "authorization_code" not in spec.grant_types:
        problems.append("require_pkce: false only makes sense with authorization_code")
    return problems


FAPI2 = "fapi2"


def with_profile(spec: ClientSpec) -> ClientSpec:
    """The spec with its security profile's requirements switched on (FAPI 2.0 Security Profile
    §5.3.2: PAR, PKCE S256; sender-constrained tokens by DPoP, as no mTLS is offered here)."""
    if spec.security_profile != FAPI2:
        return spec
    return dataclasses.replace(spec, require_pkce=True, require_pushed_authorization_requests=True,
                               dpop_bound_access_tokens=True)


def _validate(spec: ClientSpec, fetch: SectorFetch | None, targets: TargetPolicy | None) -> None:
    problems = _problems(spec, targets if targets is not None else TargetPolicy())
    if not problems and spec.sector_identifier_uri is not None:
        problems = _sector_problems(spec, fetch)
    if problems:
        raise InvalidClientRegistration(problems=problems)


SectorFetch = Callable[[str], Any]


def check_spec(spec: ClientSpec, *, fetch_sector: SectorFetch | None = None,
               targets: TargetPolicy | None = None) -> None:
    """The registration rules alone (a dynamically registered client's update, RFC 7592)."""
    _validate(spec, fetch_sector, targets)


def _sector_problems(spec: ClientSpec, fetch: SectorFetch | None) -> list[str]:
    """OIDC Registration §5: the ``sector_identifier_uri`` (https; http to loopback as for
    redirect URIs) serves a JSON array listing every redirect URI of the client."""
    uri = spec.sector_identifier_uri or ""
    if (reason := redirect_uri_problem(uri, sandbox=spec.sandbox)) is not None:
        return [f"sector_identifier_uri: {reason}"]
    if spec.sector_redirect_uris is not None:
        if not spec.sandbox:
            return ["sector_redirect_uris: only for sandbox clients (others are fetched)"]
        document: Any = list(spec.sector_redirect_uris)
    elif fetch is None:
        return ["sector_identifier_uri: cannot be fetched here; give sector_redirect_uris"]
    else:
        try:
            document = fetch(uri)
        except OutboundRefused as refused:
            return [f"sector_identifier_uri: not fetched ({refused})"]
    if not isinstance(document, list) or not all(isinstance(u, str) for u in document):
        return ["sector_identifier_uri: the document must be a JSON array of URIs"]
    if not set(spec.redirect_uris) <= set(document):
        return ["sector_identifier_uri: the document does not list every redirect URI"]
    return []


def register(session: Session, spec: ClientSpec, *, now: datetime,
             secret: str | None = None, fetch_sector: SectorFetch | None = None,
             seal: Sealer | None = None,
             targets: TargetPolicy | None = None) -> tuple[Client, str | None]:
    """Create a client; returns it and its secret in clear (shown once; ``None`` for key auth).
    ``fetch_sector(url)``: the parsed JSON a ``sector_identifier_uri`` serves;
    ``seal(client_id, secret)``: the encrypted copy a ``client_secret_jwt`` client needs
    (:func:`app.services.sharing.client_secrets.sealer`); ``targets``: the deployment's webhook
    address policy a ``backchannel_logout_uri`` must meet (absent: public addresses only)."""
    spec = with_profile(spec)
    _validate(spec, fetch_sector, targets)
    if spec.token_endpoint_auth_method in SEALED_METHODS and seal is None:
        raise InvalidClientRegistration(
            problems=["token_endpoint_auth_method: client_secret_jwt is registered through the "
                      "admin API"])
    client_id = spec.client_id or f"client-{secrets.token_hex(8)}"
    if session.get(Client, client_id) is not None:
        raise ClientExists()
    secret_hash, secret = _initial_secret(spec, configured=secret)
    sealed = seal(client_id, secret) if seal is not None and secret is not None and \
        spec.token_endpoint_auth_method in SEALED_METHODS else None
    client = Client(
        client_id=client_id,
        name=spec.name,
        secret_hash=secret_hash,
        secret_encrypted=sealed,
        jwks=spec.jwks,
        token_endpoint_auth_method=spec.token_endpoint_auth_method,
        scopes=sorted(set(spec.scopes)),
        purposes=list(dict.fromkeys(spec.purposes)),
        legal_basis=spec.legal_basis,
        redirect_uris=list(spec.redirect_uris),
        post_logout_redirect_uris=list(spec.post_logout_redirect_uris),
        application_type=spec.application_type,
        require_pkce=spec.require_pkce,
        sector_identifier_uri=spec.sector_identifier_uri,
        userinfo_signed_response_alg=spec.userinfo_signed_response_alg,
        dpop_bound_access_tokens=spec.dpop_bound_access_tokens,
        require_dpop_nonce=spec.require_dpop_nonce,
        security_profile=spec.security_profile,
        require_pushed_authorization_requests=spec.require_pushed_authorization_requests,
        backchannel_logout_uri=spec.backchannel_logout_uri,
        backchannel_logout_session_required=spec.backchannel_logout_session_required,
        grant_types=list(spec.grant_types),
        status="active",
        sandbox=spec.sandbox,
        signing_alg=spec.signing_alg,
        rate_limit=spec.rate_limit,
        data_basis=spec.data_basis,
        created_at=now,
    )
    session.add(client)
    session.flush()
    return client, secret


def _initial_secret(spec: ClientSpec, *, configured: str | None) -> tuple[str | None, str | None]:
    if spec.token_endpoint_auth_method not in SECRET_METHODS:
        return None, None
    if configured is not None:
        return rules.hash_client_secret(configured), configured
    secret = rules.new_client_secret()
    return rules.hash_client_secret(secret), secret


def get(session: Session, client_id: str) -> Client:
    client = session.get(Client, client_id)
    if client is None:
        raise ClientNotFound()
    return client


def list_all(session: Session) -> list[Client]:
    return list(session.scalars(select(Client).order_by(Client.created_at, Client.client_id)))


def rotate_secret(session: Session, client_id: str, *, now: datetime,
                  seal: Sealer | None = None) -> str:
    """Replace the secret (the old one stops working at once); returns the new one, shown once."""
    client = get(session, client_id)
    if client.token_endpoint_auth_method not in SECRET_METHODS:
        raise InvalidClientRegistration(
            problems=["this client authenticates with a key, not a secret"]
        )
    sealed = client.token_endpoint_auth_method in SEALED_METHODS
    if sealed and seal is None:
        raise InvalidClientRegistration(
            problems=["a client_secret_jwt client's secret is rotated through the admin API"])
    secret = rules.new_client_secret()
    client.secret_hash, client.secret_rotated_at = rules.hash_client_secret(secret), now
    client.secret_encrypted = seal(client_id, secret) if sealed and seal is not None else None
    session.flush()
    return secret


def set_status(session: Session, client_id: str, *, active: bool) -> Client:
    """Disable (every token of the client stops working at once) or re-enable a client."""
    client = get(session, client_id)
    client.status = "active" if active else "disabled"
    session.flush()
    return client


def demo_spec(settings: Settings) -> ClientSpec:
    return ClientSpec(
        name="Demo relying party (sandbox)",
        client_id=settings.demo_client_id,
        scopes=(*scope_catalogue.NON_ADMIN_SCOPES, *scope_catalogue.LOGIN_SCOPES),
        purposes=DEMO_PURPOSES,
        token_endpoint_auth_method="client_secret_basic",
        grant_types=GRANT_TYPES,
        redirect_uris=DEMO_REDIRECT_URIS,
        sandbox=True,
        rate_limit=6000,
        legal_basis=DEMO_LEGAL_BASIS,
    )


def ensure_demo_client(session: Session, *, settings: Settings, now: datetime) -> str:
    """Create the demo client when absent (sandbox only); outside a sandbox, disable it if present.

    Returns what happened: ``created``, ``present``, ``disabled`` or ``absent``.
    """
    existing = session.get(Client, settings.demo_client_id)
    if not settings.sandbox:
        if existing is not None and existing.status == "active":
            existing.status = "disabled"
            session.flush()
            return "disabled"
        return "absent"
    if existing is not None:
        changed = _follow_configured_secret(existing, settings.demo_client_secret)
        changed = _add_new_demo_grants(existing, demo_spec(settings)) or changed
        return "updated" if changed else "present"
    register(session, demo_spec(settings), now=now, secret=settings.demo_client_secret)
    return "created"


def _follow_configured_secret(client: Client, secret: str) -> bool:
    """A demo client whose secret was never rotated through the API takes the configured one (a
    database made when the default was the short ``demo-secret`` gets the new default)."""
    if client.secret_rotated_at is not None or client.token_endpoint_auth_method not in \
            SECRET_METHODS or rules.verify_client_secret(secret, client.secret_hash):
        return False
    client.secret_hash = rules.hash_client_secret(secret)
    return True


def _add_new_demo_grants(client: Client, spec: ClientSpec) -> bool:
    """A database made by an earlier version keeps its demo client: give it the scopes, purposes,
    grant types and redirect URIs added since (never removing what an admin changed)."""
    changed = False
    for field in ("scopes", "purposes", "grant_types", "redirect_uris"):
        current, wanted = list(getattr(client, field)), list(getattr(spec, field))
        missing = [value for value in wanted if value not in current]
        if missing:
            setattr(client, field, current + missing)
            changed = True
    return changed
