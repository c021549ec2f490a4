"""The OpenID Provider metadata document (``/.well-known/openid-configuration``).

Sources: OpenID Connect Discovery 1.0 §3, RFC 8414 §2 (OAuth metadata), RFC 9207 §3
(``authorization_response_iss_parameter_supported``), RFC 7636 §6.2
(``code_challenge_methods_supported``), RFC 7662 / RFC 7009 (introspection and revocation),
OIDC RP-Initiated Logout 1.0 §2.1, Back-Channel Logout 1.0 §2.1, Initiating User Registration via
OIDC §4.2 (``prompt_values_supported``).

The document only advertises what the pure rules implement: every list is taken from the module
that enforces it, so the two cannot drift apart. ``issuer`` must be byte-identical to the ``iss`` of
every token; it is an ``https`` URL without query or fragment (``http`` is tolerated for loopback
hosts, for local sandbox runs).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from app.oidc.authorize import ACR_VALUES_SUPPORTED, PROMPT_VALUES, UI_LOCALES_SUPPORTED
from app.oidc.claims import CLAIMS_SUPPORTED, SUPPORTED_SCOPES
from app.oidc.client_auth import CLIENT_ASSERTION_ALGORITHMS
from app.oidc.clients import GRANT_TYPES, NONE, TOKEN_ENDPOINT_AUTH_METHODS
from app.oidc.dpop import DPOP_ALGORITHMS
from app.oidc.jwt_policy import HMAC_ALGORITHMS
from app.oidc.keys import SIGNING_ALGORITHMS
from app.oidc.pkce import SUPPORTED_METHODS
from app.oidc.request_objects import REQUEST_OBJECT_ALGORITHMS

_LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "::1")


@dataclass(frozen=True)
class Endpoints:
    """Endpoint paths under the issuer (or absolute URLs)."""

    authorization: str = "/oauth2/authorize"
    token: str = "/oauth2/token"
    userinfo: str = "/oauth2/userinfo"
    jwks: str = "/.well-known/jwks.json"
    introspection: str = "/oauth2/introspect"
    revocation: str = "/oauth2/revoke"
    end_session: str = "/oauth2/logout"
    registration: str = "/oauth2/register"
    pushed_authorization_request: str = "/oauth2/par"


#: RFC 8414 §2 metadata (and RFC 9207 §3, registered for authorization servers too).
RFC8414_FIELDS = (
    "issuer", "authorization_endpoint", "token_endpoint", "jwks_uri", "registration_endpoint",
    "scopes_supported", "response_types_supported", "response_modes_supported",
    "grant_types_supported", "token_endpoint_auth_methods_supported",
    "token_endpoint_auth_signing_alg_values_supported", "service_documentation",
    "ui_locales_supported", "op_policy_uri", "op_tos_uri", "revocation_endpoint",
    "revocation_endpoint_auth_methods_supported",
    "revocation_endpoint_auth_signing_alg_values_supported", "introspection_endpoint",
    "introspection_endpoint_auth_methods_supported",
    "introspection_endpoint_auth_signing_alg_values_supported",
    "code_challenge_methods_supported", "authorization_response_iss_parameter_supported",
    "pushed_authorization_request_endpoint", "require_pushed_authorization_requests",
    "dpop_signing_alg_values_supported",
)


def authorization_server_metadata(openid_document: dict[str, Any]) -> dict[str, Any]:
    """``/.well-known/oauth-authorization-server`` (RFC 8414 §3): the OpenID Provider metadata
    restricted to the members RFC 8414 §2 defines, with the same values."""
    return {name: openid_document[name] for name in RFC8414_FIELDS if name in openid_document}


def check_issuer(issuer: str) -> None:
    """RFC 8414 §2 / OIDC Discovery §3: https, a host, no query, no fragment."""
    parts = urlsplit(issuer)
    if parts.query or parts.fragment or "?" in issuer or "#" in issuer or not parts.hostname:
        raise ValueError("issuer must be a URL with a host and without query or fragment")
    if parts.scheme != "https" and not (
        parts.scheme == "http" and parts.hostname in _LOOPBACK_HOSTS
    ):
        raise ValueError("issuer must use https")


def endpoint_url(issuer: str, path: str) -> str:
    if path.startswith(("https://", "http://")):
        return path
    return issuer.rstrip("/") + "/" + path.lstrip("/")


def _endpoint_urls(issuer: str, endpoints: Endpoints) -> dict[str, str]:
    return {
        "authorization_endpoint": endpoint_url(issuer, endpoints.authorization),
        "token_endpoint": endpoint_url(issuer, endpoints.token),
        "userinfo_endpoint": endpoint_url(issuer, endpoints.userinfo),
        "jwks_uri": endpoint_url(issuer, endpoints.jwks),
        "introspection_endpoint": endpoint_url(issuer, endpoints.introspection),
        "revocation_endpoint": endpoint_url(issuer, endpoints.revocation),
        "end_session_endpoint": endpoint_url(issuer, endpoints.end_session),
        "registration_endpoint": endpoint_url(issuer, endpoints.registration),
        "pushed_authorization_request_endpoint": endpoint_url(
            issuer, endpoints.pushed_authorization_request),
    }


def _client_auth_metadata() -> dict[str, list[str]]:
    """Public clients (``none``) at the token and revocation endpoints (RFC 7009 §2.1), not at
    introspection (it is for clients that authenticate)."""
    methods = list(TOKEN_ENDPOINT_AUTH_METHODS)
    algorithms = [*CLIENT_ASSERTION_ALGORITHMS, *sorted(HMAC_ALGORITHMS)]  # HS256: secret_jwt
    return {
        "token_endpoint_auth_methods_supported": [*methods, NONE],
        "token_endpoint_auth_signing_alg_values_supported": algorithms,
        "introspection_endpoint_auth_methods_supported": methods,
        "introspection_endpoint_auth_signing_alg_values_supported": algorithms,
        "revocation_endpoint_auth_methods_supported": [*methods, NONE],
        "revocation_endpoint_auth_signing_alg_values_supported": algorithms,
    }


def openid_configuration(
    *,
    issuer: str,
    endpoints: Endpoints = Endpoints(),
    extra_scopes: Sequence[str] = (),
    backchannel_logout: bool = False,
) -> dict[str, Any]:
    """The metadata document as a JSON-ready dict.

    ``extra_scopes``: scopes served outside OpenID Connect (the data-sharing API's catalogue),
    listed after the OIDC ones.
    """
    check_issuer(issuer)
    document: dict[str, Any] = {
        "issuer": issuer,
        **_endpoint_urls(issuer, endpoints),
        "scopes_supported": list(dict.fromkeys([*SUPPORTED_SCOPES, *extra_scopes])),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": list(GRANT_TYPES),
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": list(SIGNING_ALGORITHMS),
        "userinfo_signing_alg_values_supported": list(SIGNING_ALGORITHMS),
        **_client_auth_metadata(),
        "code_challenge_methods_supported": list(SUPPORTED_METHODS),
        "dpop_signing_alg_values_supported": list(DPOP_ALGORITHMS),
        "claims_supported": list(CLAIMS_SUPPORTED),
        "claim_types_supported": ["normal"],
        "acr_values_supported": list(ACR_VALUES_SUPPORTED),
        "prompt_values_supported": list(PROMPT_VALUES),
        "ui_locales_supported": list(UI_LOCALES_SUPPORTED),
        "claims_parameter_supported": True,
        "request_parameter_supported": True,
        "request_object_signing_alg_values_supported": list(REQUEST_OBJECT_ALGORITHMS),
        "request_uri_parameter_supported": False,  # only the request_uri of a pushed request
        "require_request_uri_registration": False,
        "require_pushed_authorization_requests": False,
        "authorization_response_iss_parameter_supported": True,
    }
    if backchannel_logout:
        document["backchannel_logout_supported"] = True
        document["backchannel_logout_session_supported"] = True
    return document
