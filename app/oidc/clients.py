"""The client (relying party) as the protocol rules see it, and redirect-URI rules.

:class:`ClientView` is built by the client registry from its storage; these modules never load it.

Redirect URIs (RFC 6749 §3.1.2, RFC 9700 §2.1, §2.6, RFC 8252 §7.3, §8.3):

* registration: absolute ``https`` URI, no fragment, no user-info, no wildcard. ``http`` only for
  loopback IP literals (native apps) and, for sandbox clients, ``localhost``; a ``native`` client
  may also register a private-use scheme in reverse domain-name form (RFC 8252 §7.1);
* at the authorization endpoint: **exact string match** with a registered URI (scheme and host
  case included, no trailing ``?``, no percent-decoding, no dropped tabs). The one exception is
  RFC 8252 §7.3: for a ``native`` client's registered ``http`` loopback IP literal
  (``http://127.0.0.1``, ``http://[::1]``), any port is accepted, everything after the port still
  compared exactly (a ``web`` client's URIs always match exactly).
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
CLIENT_SECRET_JWT = "client_secret_jwt"
NONE = "none"
TOKEN_ENDPOINT_AUTH_METHODS = (CLIENT_SECRET_BASIC, CLIENT_SECRET_POST, CLIENT_SECRET_JWT,
                               PRIVATE_KEY_JWT)
WEB = "web"
NATIVE = "native"
APPLICATION_TYPES = (WEB, NATIVE)

AUTHORIZATION_CODE = "authorization_code"
REFRESH_TOKEN = "refresh_token"
CLIENT_CREDENTIALS = "client_credentials"
GRANT_TYPES = (AUTHORIZATION_CODE, REFRESH_TOKEN, CLIENT_CREDENTIALS)

_LOOPBACK_IPS = ("127.0.0.1", "::1")
_PRIVATE_USE_SCHEME = re.compile(r"[a-z][a-z0-9-]*(\.[a-z0-9-]+)+")


@dataclass(frozen=True)
class ClientView:
    """A registered client: what the authorization and token rules need to know."""

    client_id: str
    redirect_uris: tuple[str, ...] = ()
    scopes: frozenset[str] = frozenset()
    grant_types: frozenset[str] = frozenset({AUTHORIZATION_CODE})
    token_endpoint_auth_method: str = CLIENT_SECRET_BASIC
    secret_hash: str | None = None
    # The secret itself, for client_secret_jwt only (decrypted by the registry when needed).
    secret: str | None = field(default=None, repr=False)
    jwks: Mapping[str, Any] | None = field(default=None, hash=False)
    sandbox: bool = False
    id_token_signed_response_alg: str = "ES256"
    sector_identifier: str | None = None
    post_logout_redirect_uris: tuple[str, ...] = ()
    require_pkce: bool = True
    application_type: str = WEB
    require_pushed_authorization_requests: bool = False  # RFC 9126 §6
    security_profile: str | None = None  # "fapi2": FAPI 2.0's narrower assertion rules

    def __post_init__(self) -> None:
        if self.token_endpoint_auth_method not in (*TOKEN_ENDPOINT_AUTH_METHODS, NONE):
            raise ValueError("unknown token_endpoint_auth_method")
        if self.id_token_signed_response_alg not in SIGNING_ALGORITHMS:
            raise ValueError("id_token_signed_response_alg must be ES256 or RS256")
        if not set(self.grant_types) <= set(GRANT_TYPES):
            raise ValueError("unknown grant type")
        if self.is_public and not self.require_pkce:
            raise ValueError("a public client always needs PKCE")
        if self.application_type not in APPLICATION_TYPES:
            raise ValueError("application_type must be web or native")

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


def web_redirect_uri_problem(uri: str, *, sandbox: bool) -> str | None:
    """:func:`redirect_uri_problem` for a ``web`` client, which says so when the URI is a
    private-use scheme a ``native`` client could register (``com.example.app:/cb``), rather than
    calling it not absolute."""
    parts = urlsplit(uri)
    if _PRIVATE_USE_SCHEME.fullmatch(parts.scheme) and not parts.netloc \
            and native_redirect_uri_problem(uri, sandbox=sandbox) is None:
        return ("a private-use URI scheme (RFC 8252 §7.1) is for native apps: register the "
                "client with application_type native")
    return redirect_uri_problem(uri, sandbox=sandbox)


def native_redirect_uri_problem(uri: str, *, sandbox: bool) -> str | None:
    """:func:`redirect_uri_problem` for a ``native`` client, which may also register a
    private-use URI scheme in reverse domain-name form (RFC 8252 §7.1, §8.4:
    ``com.example.app:/cb``; a scheme without a dot could be claimed by any app)."""
    parts = urlsplit(uri)
    if "." not in parts.scheme or parts.scheme in ("http", "https"):
        return redirect_uri_problem(uri, sandbox=sandbox)
    if not _PRIVATE_USE_SCHEME.fullmatch(parts.scheme) or parts.netloc or not parts.path:
        return "a private-use scheme needs reverse domain-name form and a path (com.app:/cb)"
    if parts.fragment or "#" in uri or "*" in uri:
        return "must not contain a fragment or wildcards"
    return None


def redirect_uri_matches(requested: str, registered: str) -> bool:
    """Exact string match; any port for an ``http`` loopback IP literal (RFC 8252 §7.3), the rest
    of the URI still compared character for character."""
    if requested == registered:
        return True
    loopback = _loopback_parts(registered)
    return loopback is not None and _loopback_parts(requested) == loopback


def is_registered_redirect_uri(client: ClientView, requested: str) -> bool:
    """Exact match; the RFC 8252 §7.3 loopback port rule only for ``native`` clients."""
    if client.application_type != NATIVE:
        return requested in client.redirect_uris
    return any(redirect_uri_matches(requested, registered) for registered in client.redirect_uris)
