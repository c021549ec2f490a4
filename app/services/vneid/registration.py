"""Dynamic Client Registration (RFC 7591) and its management protocol (RFC 7592).

* **Who may register.** In a sandbox deployment, anyone (RFC 7591 §3's open registration: each
  test run registers its own clients), up to ``DANCU_OPEN_REGISTRATIONS_PER_SOURCE`` a minute from
  one address (:func:`open_to_all`) while fewer than ``DANCU_OPEN_REGISTRATIONS_TOTAL``
  dynamically registered clients are active (:func:`check_open_room`) and the address holds fewer
  than ``DANCU_OPEN_REGISTRATIONS_LIVE_PER_SOURCE`` open registrations that have not ended
  (:func:`check_source_room`); such an open registration
  ends ``DANCU_OPEN_REGISTRATION_LIFETIME_SECONDS`` after it was made (``client_secret_expires_at``,
  the client's ``expires_at``): the client is then refused as a disabled one is, and no longer
  counted, so the places come back without anyone deleting them. Otherwise, and beyond
  that, a caller with an *initial access token* (RFC 7591 §3): the admin token itself, or a
  token the administrator minted (``POST /v1/admin/registration-tokens``): ``iat1.`` + expiry
  + an HMAC under a key derived from the deployment secret (``oidc/initial-access-token``), so
  it is valid only in the deployment -- or the tenant, whose secret is its own -- that minted it,
  until it expires. Anyone holding one may register any number of clients until then (a test run
  gets one and registers the clients it needs).
* **What is registered.** A relying party (``authorization_code``, optionally ``refresh_token``),
  limited to the login scopes, a sandbox client in a sandbox deployment; the metadata rules are
  :mod:`app.oidc.registration` and the registry's (:mod:`app.services.sharing.clients`, the same
  checks as an administrator's registration). Its purpose is ``login``.
* **Management.** The response carries a ``registration_access_token`` (256 random bits, only its
  hash stored) and ``registration_client_uri`` (``/oauth2/register/{client_id}``), where the
  client reads (GET), replaces (PUT) or deletes (DELETE: disabled, as clients are never deleted)
  its registration. A client registered by an administrator has no registration token and cannot
  be managed this way.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete as sql_delete
from sqlalchemy import func, or_, select, text
from sqlalchemy.orm import Session

from app.models.client import Client, RateWindow
from app.oidc import errors as oauth
from app.oidc.codes import new_opaque_value, opaque_hash
from app.oidc.registration import ClientMetadata, parse_metadata
from app.services.kit import secret
from app.services.kit.keys import aware
from app.services.sharing import client_secrets, clients, outbound
from app.services.sharing.scopes import LOGIN_SCOPES
from app.settings import Settings

REGISTRATION_PATH = "/oauth2/register"
INITIAL_TOKEN_LABEL = "oidc/initial-access-token"
INITIAL_TOKEN_PREFIX = "iat1."
MAX_INITIAL_TOKEN_TTL = timedelta(days=30)
PURPOSE = "login"


def _mac(settings: Settings, expires: int) -> str:
    key = secret.derive(settings, INITIAL_TOKEN_LABEL)
    digest = hmac.new(key, f"{INITIAL_TOKEN_PREFIX}{expires}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def mint_initial_token(settings: Settings, *, now: datetime,
                       ttl: timedelta) -> tuple[str, datetime]:
    """An initial access token valid until ``now + ttl``; returns it and its expiry."""
    expires = int((now + min(ttl, MAX_INITIAL_TOKEN_TTL)).timestamp())
    token = f"{INITIAL_TOKEN_PREFIX}{expires}.{_mac(settings, expires)}"
    return token, datetime.fromtimestamp(expires, tz=now.tzinfo)


def open_to_all(settings: Settings) -> bool:
    """Whether a registration without an initial access token is taken (a sandbox deployment with
    open registrations; a presented token is always checked)."""
    return (settings.sandbox and settings.open_registrations_per_source > 0
            and settings.open_registrations_total > 0)


OPEN_REGISTRATION_FULL = ("Open registration is full (DANCU_OPEN_REGISTRATIONS_TOTAL): register "
                          "with an initial access token, or delete a registration (RFC 7592).")


def active_registrations(session: Session, *, now: datetime) -> int:
    """Dynamically registered clients active at ``now``: not deleted, and not an open
    registration past its end."""
    return session.scalar(select(func.count()).select_from(Client).where(
        Client.registration_token_hash.is_not(None), Client.status == "active",
        or_(Client.expires_at.is_(None), Client.expires_at > now))) or 0


def check_open_room(session: Session, settings: Settings, *, now: datetime) -> None:
    """``access_denied`` (RFC 7591 §3.2.2's format) while ``open_registrations_total``
    dynamically registered clients are active: per source alone, many addresses could add
    clients without end."""
    if active_registrations(session, now=now) >= settings.open_registrations_total:
        raise oauth.AccessDenied(OPEN_REGISTRATION_FULL)


def check_open_room_kept(session: Session, settings: Settings, *, now: datetime) -> None:
    """After an open registration's insert, in its transaction: still within the total? The
    check before (:func:`check_open_room`) runs in an earlier transaction, so registrations
    sent at once all passed it; counted again here, one at a time (a transaction-scoped lock on
    PostgreSQL, SQLite's one writer), those past the total are refused and rolled back."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": _OPEN_ROOM_LOCK})
    if active_registrations(session, now=now) > settings.open_registrations_total:
        raise oauth.AccessDenied(OPEN_REGISTRATION_FULL)


_OPEN_ROOM_LOCK = int.from_bytes(hashlib.sha256(b"dancu/open-registration-total").digest()[:7])


# --- live open registrations per source --------------------------------------------------------
#
# The per-minute limit bounds how fast one address registers, the lifetime how long a registration
# holds its place; without a cap on the registrations one address holds at once, one address
# could still take every place of the total within minutes and take them again as they end. The
# cap's accounting is kept where the rate limits are (``rate_window``, no column of its own): one
# row per (source, second at which its registrations end), the count the registrations made then,
# so the live ones are the rows whose second is still to come. The source is keyed by an HMAC of
# its address under a key derived from the deployment secret: the address is never stored in
# clear, and the key cannot be computed from public data (the seed, the source).

SOURCE_LABEL = "oidc/open-registration-source"
SOURCE_KIND = "reg-live"
SOURCE_FULL = ("This address already holds DANCU_OPEN_REGISTRATIONS_LIVE_PER_SOURCE open "
               "registrations that have not ended: delete one (RFC 7592), wait for one to end "
               "(client_secret_expires_at), or register with an initial access token.")


def source_key(settings: Settings, source: str) -> str:
    """The ``rate_window`` key of a source's live registrations: an HMAC of the address (an IPv6
    address by its /64, the block one host is given) under a key derived from the deployment
    secret."""
    try:
        address = ipaddress.ip_address(source)
        if address.version == 6:
            source = str(ipaddress.ip_network(f"{address}/64", strict=False))
    except ValueError:
        pass
    key = secret.derive(settings, SOURCE_LABEL)
    digest = hmac.new(key, source.encode("utf-8", "replace"), hashlib.sha256).hexdigest()
    return f"{SOURCE_KIND}#{digest[:40]}"


def _epoch(moment: datetime) -> int:
    return int(aware(moment).timestamp())


def live_from_source(session: Session, settings: Settings, source: str, *, now: datetime) -> int:
    """The open registrations made from ``source`` that have not ended at ``now``."""
    return session.scalar(select(func.coalesce(func.sum(RateWindow.count), 0)).where(
        RateWindow.client_id == source_key(settings, source),
        RateWindow.window_start > _epoch(now))) or 0


def check_source_room(session: Session, settings: Settings, source: str, *,
                      now: datetime) -> None:
    """``access_denied`` while ``source`` holds ``open_registrations_live_per_source`` open
    registrations that have not ended (0: no cap)."""
    cap = settings.open_registrations_live_per_source
    if cap and live_from_source(session, settings, source, now=now) >= cap:
        raise oauth.AccessDenied(SOURCE_FULL)


def count_for_source(session: Session, settings: Settings, source: str, client_id: str, *,
                     now: datetime) -> None:
    """In the open registration's transaction, after :func:`check_open_room_kept` (whose lock
    makes registrations one at a time): counted again, refused past the cap (the transaction
    rolls back), else the new client counted for its source until it ends. The source's ended
    rows are forgotten here."""
    cap, client = settings.open_registrations_live_per_source, session.get(Client, client_id)
    if not cap or client is None or client.expires_at is None:
        return
    key = source_key(settings, source)
    session.execute(sql_delete(RateWindow).where(RateWindow.client_id == key,
                                                 RateWindow.window_start <= _epoch(now)))
    check_source_room(session, settings, source, now=now)
    row = session.get(RateWindow, (key, _epoch(client.expires_at)))
    if row is None:
        session.add(RateWindow(client_id=key, window_start=_epoch(client.expires_at), count=1))
    else:
        row.count += 1
    session.flush()


def release_for_source(session: Session, settings: Settings, source: str, client: Client) -> None:
    """An open registration deleted (RFC 7592) from the address that made it frees its place in
    that address's count; deleted from elsewhere, the place is free when the registration would
    have ended (which address made it is not stored)."""
    if client.expires_at is None:
        return
    row = session.get(RateWindow, (source_key(settings, source), _epoch(client.expires_at)))
    if row is not None and row.count > 0:
        row.count -= 1
        session.flush()


def initial_token_valid(settings: Settings, token: str, *, now: datetime) -> bool:
    """A minted initial access token, unexpired (the admin token is checked by the caller)."""
    if not token.startswith(INITIAL_TOKEN_PREFIX):
        return False
    expires, _, mac = token[len(INITIAL_TOKEN_PREFIX):].partition(".")
    if not expires.isdigit() or len(expires) > 12:
        return False
    return hmac.compare_digest(mac.encode(), _mac(settings, int(expires)).encode()) and \
        int(expires) > now.timestamp()


def _spec(metadata: ClientMetadata, settings: Settings) -> clients.ClientSpec:
    scopes = [s for s in (metadata.scope or LOGIN_SCOPES) if s in LOGIN_SCOPES]
    return clients.ClientSpec(
        name=metadata.client_name, scopes=tuple(dict.fromkeys(["openid", *scopes])),
        purposes=(PURPOSE,), token_endpoint_auth_method=metadata.token_endpoint_auth_method,
        grant_types=metadata.grant_types, redirect_uris=metadata.redirect_uris,
        jwks=dict(metadata.jwks) if metadata.jwks is not None else None,
        sandbox=settings.sandbox, signing_alg=metadata.id_token_signed_response_alg,
        post_logout_redirect_uris=metadata.post_logout_redirect_uris,
        application_type=metadata.application_type, require_pkce=metadata.require_pkce,
        sector_identifier_uri=metadata.sector_identifier_uri,
        userinfo_signed_response_alg=metadata.userinfo_signed_response_alg,
        dpop_bound_access_tokens=metadata.dpop_bound_access_tokens,
        require_pushed_authorization_requests=metadata.require_pushed_authorization_requests,
        backchannel_logout_uri=metadata.backchannel_logout_uri,
        backchannel_logout_session_required=metadata.backchannel_logout_session_required)


def _as_oauth_error(refused: clients.InvalidClientRegistration) -> oauth.OAuthError:
    """RFC 7591 §3.2.2: the registry's problems (fixed texts naming fields, never input)."""
    problems = list(refused.extensions.get("problems", []))
    text = "; ".join(str(p) for p in problems)[:300] or "The client metadata is invalid."
    text = "".join(c for c in text if c.isascii() and c.isprintable() and c not in '"\\')
    if problems and all(str(p).startswith("redirect_uris") for p in problems):
        return oauth.InvalidRedirectUri(text)
    return oauth.InvalidClientMetadata(text)


def _registry_call(work: Any) -> Any:
    try:
        return work()
    except clients.InvalidClientRegistration as refused:
        raise _as_oauth_error(refused) from None


def register(session: Session, document: Any, *, settings: Settings, now: datetime,
             opened: bool = False) -> dict[str, Any]:
    """RFC 7591 §3.1-3.2.1: register, and answer with the client's metadata and credentials.
    ``opened``: an open registration (no initial access token), which ends after
    ``open_registration_lifetime_seconds``."""
    metadata = parse_metadata(document)
    client, client_secret = _registry_call(lambda: clients.register(
        session, _spec(metadata, settings), now=now,
        fetch_sector=lambda url: outbound.get_json(url, settings=settings),
        seal=client_secrets.sealer(settings), targets=outbound.targets(settings)))
    token = new_opaque_value()
    client.registration_token_hash = opaque_hash(token)
    if opened:
        client.expires_at = now + timedelta(seconds=settings.open_registration_lifetime_seconds)
    session.flush()
    body = client_metadata(client, settings=settings)
    body |= {"registration_access_token": token, "client_id_issued_at": int(now.timestamp())}
    if client_secret is not None:
        body |= {"client_secret": client_secret}
    return body


def _secret_expires_at(client: Client) -> int:
    """RFC 7591 §3.2.1 ``client_secret_expires_at``: the registration's end, 0 for none."""
    return int(aware(client.expires_at).timestamp()) if client.expires_at is not None else 0


def expired(client: Any, *, now: datetime) -> bool:
    """An open registration past its end (``client`` a row or a model of ``client``)."""
    return client.expires_at is not None and aware(client.expires_at) <= now


_SECRET_METHODS = ("client_secret_basic", "client_secret_post", "client_secret_jwt")


def client_metadata(client: Client, *, settings: Settings) -> dict[str, Any]:
    """The registered metadata (RFC 7591 §3.2.1, RFC 7592 §3)."""
    body: dict[str, Any] = {
        "client_id": client.client_id, "client_name": client.name,
        "redirect_uris": list(client.redirect_uris),
        "token_endpoint_auth_method": client.token_endpoint_auth_method,
        "grant_types": list(client.grant_types), "response_types": ["code"],
        "scope": " ".join(client.scopes), "application_type": client.application_type,
        "id_token_signed_response_alg": client.signing_alg, "subject_type": "pairwise",
        "post_logout_redirect_uris": list(client.post_logout_redirect_uris),
        "require_pkce": client.require_pkce,
        "dpop_bound_access_tokens": client.dpop_bound_access_tokens,
        "require_pushed_authorization_requests": client.require_pushed_authorization_requests,
        "backchannel_logout_session_required": client.backchannel_logout_session_required,
        "registration_client_uri": f"{settings.issuer_url}{REGISTRATION_PATH}/{client.client_id}",
    }
    if client.token_endpoint_auth_method in _SECRET_METHODS:  # it was issued a secret
        body["client_secret_expires_at"] = _secret_expires_at(client)
    optional = {"jwks": client.jwks, "sector_identifier_uri": client.sector_identifier_uri,
                "userinfo_signed_response_alg": client.userinfo_signed_response_alg,
                "backchannel_logout_uri": client.backchannel_logout_uri}
    return body | {name: value for name, value in optional.items() if value is not None}


def managed_client(session: Session, client_id: str, token: str | None, *,
                   now: datetime) -> Client:
    """The dynamically registered, active client whose registration access token this is; else
    ``invalid_token`` (RFC 7592 §3: 401, whether the client exists or not; an open registration
    past its end is no longer active)."""
    client = session.get(Client, client_id)
    stored = client.registration_token_hash if client is not None else None
    presented = opaque_hash(token or "")
    if client is None or stored is None or client.status != "active" or \
            expired(client, now=now) or \
            not hmac.compare_digest(presented.encode(), stored.encode()):
        raise oauth.InvalidToken("The registration access token is not valid for this client.")
    return client


def update(session: Session, client: Client, document: Any, *, settings: Settings) -> Client:
    """RFC 7592 §2.2: replace the client's metadata with ``document`` (which names the same
    ``client_id``; a ``client_secret`` in it must be the client's own)."""
    if not isinstance(document, dict) or document.get("client_id") != client.client_id:
        raise oauth.InvalidClientMetadata("client_id must be the registered client's.")
    metadata = parse_metadata(document)
    if metadata.token_endpoint_auth_method != client.token_endpoint_auth_method:
        raise oauth.InvalidClientMetadata("token_endpoint_auth_method cannot change.")
    spec = _spec(metadata, settings)
    _registry_call(lambda: clients.check_spec(
        spec, fetch_sector=lambda url: outbound.get_json(url, settings=settings),
        targets=outbound.targets(settings)))
    for name in ("redirect_uris", "post_logout_redirect_uris", "grant_types"):
        setattr(client, name, list(getattr(spec, name)))
    client.name, client.scopes, client.jwks = spec.name, list(spec.scopes), spec.jwks
    client.signing_alg, client.application_type = spec.signing_alg, spec.application_type
    client.require_pkce, client.sector_identifier_uri = spec.require_pkce, \
        spec.sector_identifier_uri
    client.userinfo_signed_response_alg = spec.userinfo_signed_response_alg
    client.dpop_bound_access_tokens = spec.dpop_bound_access_tokens
    client.require_pushed_authorization_requests = spec.require_pushed_authorization_requests
    client.backchannel_logout_uri = spec.backchannel_logout_uri
    client.backchannel_logout_session_required = spec.backchannel_logout_session_required
    session.flush()
    return client


def delete(session: Session, client: Client) -> None:
    """RFC 7592 §2.3: the client stops working at once (disabled; clients are never deleted)."""
    client.status, client.registration_token_hash = "disabled", None
    session.flush()
