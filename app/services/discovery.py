"""The OpenID Provider / authorization-server metadata document, from the settings.

Interim: announces what the data-sharing API provides (issuer, token endpoint, JWKS, scopes,
grants, client authentication); the VNeID work adds the authorization, userinfo and other endpoints.
"""

from __future__ import annotations

from typing import Any

from app.oidc.client_auth import CLIENT_ASSERTION_ALGORITHMS
from app.oidc.clients import TOKEN_ENDPOINT_AUTH_METHODS
from app.oidc.keys import SIGNING_ALGORITHMS
from app.services.scopes import NON_ADMIN_SCOPES
from app.services.tokens import token_endpoint
from app.settings import Settings


def metadata(settings: Settings) -> dict[str, Any]:
    issuer = settings.issuer_url
    return {
        "issuer": issuer,
        "token_endpoint": token_endpoint(settings),
        "jwks_uri": issuer + "/.well-known/jwks.json",
        "grant_types_supported": ["client_credentials"],
        "token_endpoint_auth_methods_supported": list(TOKEN_ENDPOINT_AUTH_METHODS),
        "token_endpoint_auth_signing_alg_values_supported": list(CLIENT_ASSERTION_ALGORITHMS),
        "scopes_supported": list(NON_ADMIN_SCOPES),
        "response_types_supported": ["code"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": list(SIGNING_ALGORITHMS),
    }
