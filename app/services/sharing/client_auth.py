"""Client authentication at the token endpoint, against the client registry.

The protocol rules are ``app.oidc.client_auth`` (one method per request, constant-time secret
check, ``private_key_jwt`` assertion rules); this module supplies what they need from storage: the
registered client as a ``ClientView``, and the single-use record of assertion ``jti`` values
(RFC 7523 §3), inserted atomically so a replay in a concurrent request fails too. DPoP proofs
(RFC 9449 §11.1) are recorded in the same table by :func:`remember_proof`: one
``INSERT ... ON CONFLICT DO NOTHING`` (no savepoint), every process of a deployment sees it.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import bindparam, delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.models.client import Client, UsedClientAssertion
from app.oidc import client_auth as rules
from app.oidc import dpop
from app.oidc import errors as oauth
from app.oidc.clients import CLIENT_SECRET_JWT, ClientView
from app.oidc.discovery import Endpoints, endpoint_url
from app.prepared import Prepared
from app.services.kit.keys import aware
from app.services.sharing import client_secrets
from app.settings import Settings


@dataclass(frozen=True)
class TokenRequest:
    """A token request as received: form parameters (each at most once) and the raw
    ``Authorization`` header."""

    params: Mapping[str, str]
    authorization: str | None = None
    dpop: str | None = None  # the DPoP header (RFC 9449)

    @property
    def used_basic(self) -> bool:
        return (self.authorization or "").lower().startswith("basic ")


log = logging.getLogger("dancu.client_auth")


def client_view(client: Client | Any, *,
                post_logout_redirect_uris: tuple[str, ...] = ()) -> ClientView:
    """The registry row (an ORM object or a Core row of the ``client`` table) as the protocol
    rules see it."""
    return ClientView(
        client_id=client.client_id, redirect_uris=tuple(client.redirect_uris),
        scopes=frozenset(client.scopes), grant_types=frozenset(client.grant_types),
        token_endpoint_auth_method=client.token_endpoint_auth_method,
        secret_hash=client.secret_hash, jwks=client.jwks, sandbox=client.sandbox,
        id_token_signed_response_alg=client.signing_alg, require_pkce=client.require_pkce,
        application_type=client.application_type,
        require_pushed_authorization_requests=client.require_pushed_authorization_requests,
        sector_identifier=sector_identifier(client.sector_identifier_uri),
        security_profile=client.security_profile,
        post_logout_redirect_uris=post_logout_redirect_uris)


def sector_identifier(uri: str | None) -> str | None:
    """OIDC Core §8.1: the host of the ``sector_identifier_uri`` is the pairwise sector."""
    return urlsplit(uri).hostname if uri else None


_CLIENT = Prepared(select(Client.__table__).where(Client.client_id == bindparam("client_id")))


def active_client(session: Session, client_id: str, *, now: datetime) -> Any | None:
    """The client's row (a named tuple of the ``client`` columns) if registered and active: not
    disabled, and not an open registration past its end (``expires_at``, RFC 7591 §3.2.1's
    ``client_secret_expires_at``). Every authorization and token request reads it: a prepared
    statement, not the ORM."""
    client = _CLIENT.first(session.connection(), {"client_id": client_id})
    if client is None or client.status != "active":
        return None
    ends = aware(client.expires_at)
    return client if ends is None or ends > now else None


def _remember_assertion(
    session: Session, authenticated: rules.AuthenticatedClient, now: datetime
) -> None:
    """Store the assertion's ``jti`` until it expires; a second use is ``invalid_client``."""
    session.execute(delete(UsedClientAssertion).where(UsedClientAssertion.expires_at < now))
    used = UsedClientAssertion(
        client_id=authenticated.client_id,
        jti=authenticated.assertion_jti,
        expires_at=aware(authenticated.assertion_expires_at),
    )
    try:
        with session.begin_nested():
            session.add(used)
    except IntegrityError:
        log.info("client assertion replayed")
        raise oauth.InvalidClient() from None


_SEEN_PROOF = {
    name: Prepared(dialect.insert(UsedClientAssertion.__table__).values(
        client_id=bindparam("key"), jti=bindparam("jti"), expires_at=bindparam("until"))
        .on_conflict_do_nothing())
    for name, dialect in (("postgresql", postgresql), ("sqlite", sqlite))}
_SWEEP = Prepared(delete(UsedClientAssertion).where(
    UsedClientAssertion.expires_at < bindparam("now")))


def remember_proof(session: Session, proof: dpop.DpopProof, now: datetime) -> None:
    """Record a DPoP proof's use until it would be refused anyway; a second use (here or in any
    other process, at any endpoint) is ``invalid_dpop_proof``. Expired records are swept on about
    one proof in sixteen (by the jti hash), so storage stays bounded without a delete per use."""
    key, jti = proof.replay_key
    conn = session.connection()
    if jti[0] in "ABCD":
        _SWEEP.run(conn, {"now": now})
    if _SEEN_PROOF[conn.dialect.name].run(
            conn, {"key": key, "jti": jti, "until": proof.accepted_until}) != 1:
        log.info("DPoP proof replayed")
        raise dpop.InvalidDpopProof("This DPoP proof was already used.")


def authenticate(
    session: Session,
    request: TokenRequest,
    *,
    settings: Settings,
    now: datetime,
    token_endpoint: str,
) -> Any:
    """The registered, active client (a row of the ``client`` table) that proved its identity;
    else ``invalid_client`` (``invalid_request`` when several methods were used). A
    ``private_key_jwt`` assertion is spent on ``session``."""
    client, spend = identify(session, request, settings=settings, now=now,
                             token_endpoint=token_endpoint)
    if spend is not None:
        spend(session)
    return client


def _view_for(client: Any | None, credentials: rules.ClientCredentials,
              settings: Settings) -> ClientView | None:
    """The client's view; with its secret decrypted only for a ``client_secret_jwt`` assertion
    from a client registered for it."""
    if client is None:
        return None
    view = client_view(client)
    if credentials.method != CLIENT_SECRET_JWT or view.token_endpoint_auth_method != \
            CLIENT_SECRET_JWT:
        return view
    return dataclasses.replace(view, secret=client_secrets.unseal(
        settings, client_id=client.client_id, sealed=client.secret_encrypted))


def identify(
    session: Session,
    request: TokenRequest,
    *,
    settings: Settings,
    now: datetime,
    token_endpoint: str,
) -> tuple[Any, Callable[[Session], None] | None]:
    """:func:`authenticate` with reads only: the client, and the write that spends its
    ``private_key_jwt`` assertion (``None`` for a secret), to be made before anything is issued.
    ``token_endpoint`` is the URL the request was sent to (token, introspection or revocation
    endpoint); an assertion may name it, the issuer or the token endpoint as its audience."""
    credentials = rules.parse_client_credentials(
        authorization=request.authorization, form=request.params
    )
    client = active_client(session, credentials.client_id, now=now)
    try:
        authenticated = rules.authenticate_client(
            credentials,
            client=_view_for(client, credentials, settings),
            issuer=settings.issuer_url,
            token_endpoint=endpoint_url(settings.issuer_url, Endpoints.token),
            endpoint=token_endpoint,
            now=now,
        )
    except oauth.InvalidClient:
        log.info("client authentication failed (method %s)", credentials.method)
        raise
    assert client is not None
    if authenticated.assertion_jti is None:
        return client, None
    return client, lambda writing: _remember_assertion(writing, authenticated, now)
