"""Client metadata of Dynamic Client Registration (RFC 7591 §2, OIDC Registration 1.0 §2).

:func:`parse_metadata` checks a registration request's JSON document and returns
:class:`ClientMetadata`, or raises ``invalid_client_metadata`` / ``invalid_redirect_uri``
(RFC 7591 §3.2.2). Decisions:

* ``grant_types`` default ``["authorization_code"]``; ``authorization_code`` and ``refresh_token``
  only (a dynamically registered client is a relying party: the data API's ``client_credentials``
  needs an agreement, i.e. an administrator). ``response_types`` default ``["code"]``, and must be
  exactly that with ``authorization_code`` (RFC 7591 §2.1).
* ``token_endpoint_auth_method`` default ``client_secret_basic``; ``private_key_jwt`` needs
  ``jwks`` (``jwks_uri`` is not supported: the keys are given by value). Any client may register
  ``jwks`` (OIDC Registration §2: its request-object keys; the conformance suite's registration
  always sends one); they never authenticate a client registered for another method.
* ``id_token_signed_response_alg`` default ``RS256`` (OIDC Registration §2), or ``ES256``;
  ``userinfo_signed_response_alg`` ``RS256`` or ``ES256`` (absent: plain JSON); ``none`` never.
* ``subject_type`` ``pairwise`` only (the provider has no public subjects).
* ``scope`` is narrowed by the caller to the login scopes; ``contacts``, ``logo_uri``,
  ``client_uri``, ``policy_uri``, ``tos_uri`` are checked for type and not kept (RFC 7591 §2: the
  server may ignore them); other members not understood are ignored.
* ``backchannel_logout_uri`` (Back-Channel Logout 1.0 §2.2, a string; the registry checks the
  address) and ``backchannel_logout_session_required`` (boolean, default ``false``).
* ``require_pkce`` (an extension, boolean): absent means ``false`` for a confidential client (as
  relying parties and the certification suite register, without any PKCE member; a challenge that
  is sent is still checked) and always ``true`` for a public client (``none``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from app.oidc.clients import (
    APPLICATION_TYPES,
    AUTHORIZATION_CODE,
    NONE,
    PRIVATE_KEY_JWT,
    REFRESH_TOKEN,
    TOKEN_ENDPOINT_AUTH_METHODS,
    WEB,
)
from app.oidc.errors import InvalidClientMetadata, InvalidRedirectUri
from app.oidc.keys import SIGNING_ALGORITHMS

DYNAMIC_GRANT_TYPES = (AUTHORIZATION_CODE, REFRESH_TOKEN)
DEFAULT_CLIENT_NAME = "Dynamically registered client"
MAX_URIS = 16
MAX_STRING = 2000  # characters of a metadata string (a URI, a name)
_IGNORED_STRINGS = ("logo_uri", "client_uri", "policy_uri", "tos_uri")


@dataclass(frozen=True)
class ClientMetadata:
    """A checked registration request."""

    redirect_uris: tuple[str, ...]
    client_name: str = DEFAULT_CLIENT_NAME
    token_endpoint_auth_method: str = "client_secret_basic"
    grant_types: tuple[str, ...] = (AUTHORIZATION_CODE,)
    scope: tuple[str, ...] | None = None
    jwks: Mapping[str, Any] | None = None
    application_type: str = WEB
    id_token_signed_response_alg: str = "RS256"
    userinfo_signed_response_alg: str | None = None
    sector_identifier_uri: str | None = None
    post_logout_redirect_uris: tuple[str, ...] = ()
    require_pkce: bool = False
    dpop_bound_access_tokens: bool = False
    require_pushed_authorization_requests: bool = False
    backchannel_logout_uri: str | None = None
    backchannel_logout_session_required: bool = False


def _strings(document: Mapping[str, Any], name: str, *, limit: int = MAX_URIS) -> tuple[str, ...]:
    value = document.get(name, [])
    if not isinstance(value, list) or len(value) > limit or \
            not all(isinstance(item, str) and item for item in value):
        raise InvalidClientMetadata(f"{name} must be an array of at most {limit} non-empty "
                                    "strings.")
    return tuple(value)


def _string(document: Mapping[str, Any], name: str, default: str | None = None) -> str | None:
    value = document.get(name, default)
    if value is not None and (not isinstance(value, str) or not value
                              or len(value) > MAX_STRING):
        raise InvalidClientMetadata(f"{name} must be a string of 1 to {MAX_STRING} characters.")
    return value


def _choice(document: Mapping[str, Any], name: str, allowed: tuple[str, ...],
            default: str | None) -> str | None:
    value = _string(document, name, default)
    if value is not None and value not in allowed:
        raise InvalidClientMetadata(f"{name} must be one of: {', '.join(allowed)}.")
    return value


def _grant_types(document: Mapping[str, Any]) -> tuple[str, ...]:
    grants = _strings(document, "grant_types") if "grant_types" in document \
        else (AUTHORIZATION_CODE,)
    if not grants or not set(grants) <= set(DYNAMIC_GRANT_TYPES):
        raise InvalidClientMetadata("grant_types: authorization_code and refresh_token only.")
    responses = _strings(document, "response_types") if "response_types" in document \
        else ("code",)
    if set(responses) != {"code"} or AUTHORIZATION_CODE not in grants:
        raise InvalidClientMetadata("response_types: code only, with authorization_code.")
    return tuple(dict.fromkeys(grants))


def _keys(document: Mapping[str, Any], method: str) -> Mapping[str, Any] | None:
    if "jwks_uri" in document:
        raise InvalidClientMetadata("jwks_uri is not supported: register the keys as jwks.")
    jwks = document.get("jwks")
    if jwks is not None and not isinstance(jwks, dict):
        raise InvalidClientMetadata("jwks must be a JWK Set object.")
    if method == PRIVATE_KEY_JWT and jwks is None:
        raise InvalidClientMetadata("jwks is required for private_key_jwt.")
    return jwks


def _checked_extras(document: Mapping[str, Any]) -> None:
    for name in _IGNORED_STRINGS:
        _string(document, name)
    _strings(document, "contacts")
    if document.get("subject_type", "pairwise") != "pairwise":
        raise InvalidClientMetadata("subject_type: pairwise only.")


def _flag(document: Mapping[str, Any], name: str) -> bool:
    value = document.get(name, False)
    if not isinstance(value, bool):
        raise InvalidClientMetadata(f"{name} must be true or false.")
    return value


def parse_metadata(document: Any) -> ClientMetadata:
    """The registration request, checked (RFC 7591 §2, §3.1)."""
    if not isinstance(document, dict):
        raise InvalidClientMetadata("The registration request must be a JSON object.")
    redirect_uris = _strings(document, "redirect_uris")
    if not redirect_uris:
        raise InvalidRedirectUri("redirect_uris is required.")
    method = _choice(document, "token_endpoint_auth_method", (*TOKEN_ENDPOINT_AUTH_METHODS, NONE),
                     "client_secret_basic")
    assert method is not None
    require_pkce = document.get("require_pkce", method == NONE)
    if not isinstance(require_pkce, bool):
        raise InvalidClientMetadata("require_pkce must be true or false.")
    dpop_bound = _flag(document, "dpop_bound_access_tokens")
    require_par = _flag(document, "require_pushed_authorization_requests")
    scope = _string(document, "scope")
    _checked_extras(document)
    return ClientMetadata(
        redirect_uris=redirect_uris,
        client_name=_string(document, "client_name", DEFAULT_CLIENT_NAME)[:120],  # type: ignore[index]
        token_endpoint_auth_method=method,
        grant_types=_grant_types(document),
        scope=tuple(scope.split()) if scope is not None else None,
        jwks=_keys(document, method),
        application_type=_choice(document, "application_type", APPLICATION_TYPES, WEB) or WEB,
        id_token_signed_response_alg=_choice(document, "id_token_signed_response_alg",
                                             SIGNING_ALGORITHMS, "RS256") or "RS256",
        userinfo_signed_response_alg=_choice(document, "userinfo_signed_response_alg",
                                             SIGNING_ALGORITHMS, None),
        sector_identifier_uri=_string(document, "sector_identifier_uri"),
        post_logout_redirect_uris=_strings(document, "post_logout_redirect_uris"),
        require_pkce=require_pkce or method == NONE,
        dpop_bound_access_tokens=dpop_bound,
        require_pushed_authorization_requests=require_par,
        backchannel_logout_uri=_string(document, "backchannel_logout_uri"),
        backchannel_logout_session_required=_flag(document, "backchannel_logout_session_required"),
    )
