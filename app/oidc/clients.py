"""The client (relying party) as the protocol rules see it, and redirect-URI rules.

:class:`ClientView` is built by the client registry from its storage; these modules never load it.

Redirect URIs (RFC 6749 §3.1.2, RFC 9700 §2.1, §2.6, RFC 8252 §7.3, §8.3):

* registration: absolute ``https`` URI, no fragment, no user-info, no wildcard. ``http`` only for
  loopback IP literals (native apps) and, for sandbox clients, ``localhost``;
* at the authorization endpoint: **exact string match** with a registered URI (scheme and host
  case included, no trailing ``?``, no percent-decoding, no dropped tabs). The one exception is
  RFC 8252 §7.3: for a registered ``http`` loopback IP literal (``http://127.0.0.1``,
  ``http://[::1]``), any port is accepted; everything after the port is still compared exactly.
  Clients have no ``application_type`` yet, so the rule keys on the registered URI: only a native
  app can receive on a loopback IP, and ``http`` is registrable only for loopback.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from app.oidc.keys import SIGNING_ALGORITHMS

CLIENT_SECRET_BASIC = "client_secret_basic"
CLIENT_SECRET_POST = "client_secret_post"
PRIVATE_KEY_JWT = "private_key_jwt"
NONE = "none"
TOKEN_ENDPOINT_AUTH_METHODS = (CLIENT_SECRET_BASIC, CLIENT_SECRET_POST, PRIVATE_KEY_JWT)

AUTHORIZATION_CODE = "authorization_code"
REFRESH_TOKEN = "refresh_token"
CLIENT_CREDENTIALS = "client_credentials"
GRANT_TYPES = (AUTHORIZATION_CODE, REFRESH_TOKEN, CLIENT_CREDENTIALS)

_LOOPBACK_IPS = ("127.0.0.1", "::1")


@dataclass(frozen=True)
class ClientView:
    """A registered client: what the authorization and token rules need to know."""

    client_id: str
    redirect_uris: tuple[str, ...] = ()
    scopes: frozenset[str] = frozenset()
    grant_types: frozenset[str] = frozenset({AUTHORIZATION_CODE})
    token_endpoint_auth_method: str = CLIENT_SECRET_BASIC
    secret_hash: str | None = None
    jwks: Mapping[str, Any] | None = field(default=None, hash=False)
    sandbox: bool = False
    id_token_signed_response_alg: str = "ES256"
    sector_identifier: str | None = None
    post_logout_redirect_uris: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.token_endpoint_auth_method not in (*TOKEN_ENDPOINT_AUTH_METHODS, NONE):
            raise ValueError("unknown token_endpoint_auth_method")
        if self.id_token_signed_response_alg not in SIGNING_ALGORITHMS:
            raise ValueError("id_token_signed_response_alg must be ES256 or RS256")
        if not set(self.grant_types) <= set(GRANT_TYPES):
            raise ValueError("unknown grant type")

    @property
    def is_public(self) -> bool:
        """A client without credentials (RFC 6749 §2.1); PKCE is its only protection."""
        return self.token_endpoint_auth_method == NONE

    @property
    def sector(self) -> str:
        """The pairwise-subject sector (OIDC Core §8.1): ``sector_identifier`` or the client id."""
        return self.sector_identifier or self.client_id


def _is_loopback_ip(host: str | None) -> bool:
    return host in _LOOPBACK_IPS


def redirect_uri_problem(uri: str, *, sandbox: bool) -> str | None:
    """Why ``uri`` cannot be registered, or ``None`` (RFC 6749 §3.1.2, RFC 9700 §2.6)."""
    parts = urlsplit(uri)
    if not parts.scheme or not parts.netloc:
        return "must be an absolute URI"
    if parts.fragment or "#" in uri:
        return "must not contain a fragment"
    if "@" in parts.netloc:
        return "must not contain user information"
    if "*" in uri:
        return "must not contain wildcards"
    if parts.scheme == "https":
        return None
    if parts.scheme == "http" and (
        _is_loopback_ip(parts.hostname) or (sandbox and parts.hostname == "localhost")
    ):
        return None
    return "must use https (http only for loopback)"


_LOOPBACK_PREFIXES = ("http://127.0.0.1", "http://[::1]")
_PORT = re.compile(r":([0-9]{1,5})")


def _loopback_parts(uri: str) -> tuple[str, str] | None:
    """``(scheme and host, what follows the port)`` of an ``http`` loopback IP literal URI, as
    written (no parsing that would lower-case, decode or drop characters); else ``None``."""
    for prefix in _LOOPBACK_PREFIXES:
        if uri.startswith(prefix):
            rest = uri[len(prefix):]
            port = _PORT.match(rest)
            if port is not None:
                if not 0 < int(port.group(1)) <= 65535:
                    return None
                rest = rest[port.end():]
            return (prefix, rest) if rest[:1] in ("", "/", "?") else None
    return None


def redirect_uri_matches(requested: str, registered: str) -> bool:
    """Exact string match; any port for an ``http`` loopback IP literal (RFC 8252 §7.3), the rest
    of the URI still compared character for character."""
    if requested == registered:
        return True
    loopback = _loopback_parts(registered)
    return loopback is not None and _loopback_parts(requested) == loopback


def is_registered_redirect_uri(client: ClientView, requested: str) -> bool:
    return any(redirect_uri_matches(requested, registered) for registered in client.redirect_uris)
