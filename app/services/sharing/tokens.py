"""The one token service: the token endpoint's grants and the data API's access-token check.

``POST /oauth2/token`` -> :func:`token_response`: the parameters are parsed once, the client is
authenticated (``client_secret_basic``, ``client_secret_post``, ``private_key_jwt``), then the
request is dispatched by ``grant_type`` to a handler in :data:`GRANTS`. A handler takes a
:class:`GrantContext` whose session it only reads, checks the grant (or raises an
``app.oidc.errors.OAuthError``) and returns a :data:`TokenBody` -- the function that signs the
tokens and gives the RFC 6749 §5.1 JSON body, called once every write has committed, so the
signatures are made outside the transaction -- or, when the grant must write (a code consumed, a
token recorded, a refusal's revocations), a :class:`~app.services.storage.phases.Pending` that
makes the writes and returns the body (:func:`prepare_token`; on SQLite only those writes hold the
one writer's lock that every login's writes queue for). To add a grant (``authorization_code``,
``refresh_token``), write ``def my_grant(ctx: GrantContext) -> TokenBody | Pending[TokenBody]``
in its own service module and register it with :func:`register_grant` (or add it to
:data:`GRANTS`); the client must also list the grant type.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from app.oidc import dpop
from app.oidc import errors as oauth
from app.oidc import tokens as oidc_tokens
from app.oidc.jwt_policy import RejectReason, TokenRejected, header_of
from app.oidc.scopes import format_scope, parse_scope
from app.services.kit import secret
from app.services.kit.keys import KeyStore
from app.services.sharing import client_auth
from app.services.sharing.client_auth import TokenRequest
from app.services.sharing.scopes import LOGIN_SCOPES, client_credentials_scopes
from app.services.storage.phases import Pending, failing, settle, then
from app.settings import Settings

ACCESS_TOKEN_TTL = timedelta(minutes=10)
DATA_API_PATH = "/v1"


def api_audience(settings: Settings) -> str:
    """The data API's identifier (``aud`` of its access tokens, RFC 9068 §3)."""
    return settings.issuer_url + DATA_API_PATH


def token_endpoint(settings: Settings) -> str:
    return settings.issuer_url + "/oauth2/token"


@dataclass(frozen=True)
class GrantContext:
    """What a grant handler receives: the authenticated client and the request; ``session`` is
    for reads (writes go in the handler's ``Pending``)."""

    session: Session
    client: Any  # the authenticated client's row of the ``client`` table
    request: TokenRequest
    settings: Settings
    keys: KeyStore
    now: datetime
    dpop_proof: dpop.DpopProof | None = None  # the checked DPoP proof: bind the tokens to its key

    @property
    def dpop_jkt(self) -> str | None:
        return self.dpop_proof.jkt if self.dpop_proof is not None else None


TokenBody = Callable[[], dict[str, Any]]
GrantHandler = Callable[[GrantContext], TokenBody | Pending[TokenBody]]


def token_type(ctx: GrantContext) -> str:
    """RFC 9449 §5: ``DPoP`` for an access token bound to the proof's key."""
    return dpop.DPOP_SCHEME if ctx.dpop_proof is not None else "Bearer"


NONCE_LABEL = "oidc/dpop-nonce"


def nonce_key(settings: Settings) -> bytes:
    """The key of this deployment's DPoP nonces (from its secret, never the seed)."""
    return secret.derive(settings, NONCE_LABEL)


def current_nonce(settings: Settings, now: datetime) -> str:
    """The nonce to hand out in a ``DPoP-Nonce`` header (RFC 9449 §8.2)."""
    return dpop.issue_nonce(nonce_key(settings), now=now)


def nonce_required(settings: Settings, client: Any) -> bool:
    """Nonces for every client of the deployment, or for this client (``require_dpop_nonce``)."""
    return settings.dpop_nonce_required or bool(getattr(client, "require_dpop_nonce", False))


def _signing_key(ctx: GrantContext) -> Any:
    return ctx.keys.ring().signing_key(ctx.client.signing_alg, now=ctx.now)


def client_credentials_grant(ctx: GrantContext) -> TokenBody:
    """RFC 6749 §4.4: an access token for the client itself, for scopes it is allowed."""
    requested = parse_scope(ctx.request.params.get("scope"))
    api_scopes = tuple(s for s in ctx.client.scopes if s not in LOGIN_SCOPES)  # not sign-in ones
    scopes = client_credentials_scopes(requested, registered=api_scopes)
    content = oidc_tokens.client_credentials_content(
        ctx.client.client_id, audience=(api_audience(ctx.settings),), scope=scopes,
        jkt=ctx.dpop_jkt)
    key, issuer, now = _signing_key(ctx), ctx.settings.issuer_url, ctx.now

    def body() -> dict[str, Any]:
        issued = oidc_tokens.issue_access_token(
            content, key=key, issuer=issuer, now=now, ttl=ACCESS_TOKEN_TTL)
        return {
            "access_token": issued.value,
            "token_type": token_type(ctx),
            "expires_in": int(ACCESS_TOKEN_TTL.total_seconds()),
            "scope": format_scope(scopes),
        }

    return body


GRANTS: dict[str, GrantHandler] = {"client_credentials": client_credentials_grant}


def register_grant(grant_type: str, handler: GrantHandler) -> None:
    GRANTS[grant_type] = handler


def _dpop_proof(request: TokenRequest, client: Any, *, settings: Settings,
                now: datetime) -> dpop.DpopProof | None:
    """The DPoP proof (RFC 9449 §5), checked (with the server nonce when the client or the
    deployment requires it); a client registered with ``dpop_bound_access_tokens`` must send
    one."""
    if request.dpop is None:
        if client.dpop_bound_access_tokens:
            raise dpop.InvalidDpopProof("This client must send a DPoP proof.")
        return None
    key = nonce_key(settings) if nonce_required(settings, client) else None
    return dpop.verify_proof(request.dpop, method="POST", url=token_endpoint(settings),
                             now=now, nonce_key=key,
                             algorithms=dpop.algorithms_for(client.security_profile))


Admission = Callable[[Any], Callable[[Session], None] | None]


def prepare_token(
    session: Session, request: TokenRequest, *, settings: Settings, keys: KeyStore, now: datetime,
    admit: Admission | None = None, identified: Callable[[Any], None] | None = None,
) -> TokenBody | Pending[TokenBody]:
    """Authenticate the client and check the grant, reading ``session`` only; raises
    ``OAuthError`` (RFC 6749 §5.2), or leaves the writes as a ``Pending`` (whose ``write`` may
    raise one too, after writing what a refusal must keep). A spent ``private_key_jwt`` assertion
    is recorded first, whatever the grant says. ``admit(client)``, after a grant checks out, may
    add a write made before the grant's (a quota lease that may refuse); ``identified(client)``
    is told the client once it authenticated, whatever the grant then says."""
    grant_type = request.params.get("grant_type")
    if not grant_type:
        raise oauth.InvalidRequest("grant_type is required.")
    client, spend = client_auth.identify(
        session, request, settings=settings, now=now, token_endpoint=token_endpoint(settings)
    )
    if identified is not None:
        identified(client)
    try:
        handler = GRANTS.get(grant_type)
        if handler is None:
            raise oauth.UnsupportedGrantType()
        if grant_type not in client.grant_types:
            raise oauth.UnauthorizedClient()
        proof = _dpop_proof(request, client, settings=settings, now=now)
        step = handler(GrantContext(session, client, request, settings, keys, now, proof))
    except oauth.OAuthError as error:
        if spend is None:
            raise
        return then(spend, failing(error))
    lease = admit(client) if admit is not None else None
    step = step if lease is None else then(lease, step)
    if proof is not None:  # RFC 9449 §11.1: the proof is single-use, recorded with the grant
        step = then(lambda writing: client_auth.remember_proof(writing, proof, now), step)
    return step if spend is None else then(spend, step)


def token_response(
    session: Session, request: TokenRequest, *, settings: Settings, keys: KeyStore, now: datetime
) -> TokenBody:
    """:func:`prepare_token` and its writes in ``session``'s one transaction. Call the returned
    function for the body once that transaction has committed."""
    return settle(prepare_token(session, request, settings=settings, keys=keys, now=now), session)


def verify_api_token(
    token: str, *, store: KeyStore, settings: Settings, now: datetime
) -> oidc_tokens.AccessTokenClaims:
    """A data-API access token: RFC 9068, our issuer and keys, ``aud`` = the data API, and issued
    to a client for itself (client credentials). Raises ``TokenRejected``. A DPoP-bound one
    (``content.jkt``) is then checked against the request's proof (:func:`check_api_proof`)."""
    header = header_of(token)  # read once: for the key ring and for the verification
    claims = oidc_tokens.verify_access_token(
        token, keys=store.ring_for_header(header), issuer=settings.issuer_url,
        audience=api_audience(settings), now=now, header=header
    )
    if not claims.content.is_client_credentials:
        raise TokenRejected(RejectReason.INVALID_CLAIM)
    return claims
