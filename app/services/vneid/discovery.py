"""The OpenID Provider / authorization-server metadata, built by ``app.oidc.discovery`` from the
settings. The data-sharing scopes are listed after the OpenID Connect ones; the endpoints other than
the token endpoint and JWKS are served by the VNeID provider."""

from __future__ import annotations

from typing import Any

from app.errors import ServiceUnavailable
from app.oidc.discovery import authorization_server_metadata, openid_configuration
from app.services.sharing.scopes import NON_ADMIN_SCOPES
from app.settings import Settings


class IssuerMisconfigured(ServiceUnavailable):
    code, title = "issuer-misconfigured", "The issuer is not an https URL (or http on loopback)"


def metadata(settings: Settings) -> dict[str, Any]:
    try:
        return openid_configuration(issuer=settings.issuer_url, extra_scopes=NON_ADMIN_SCOPES,
                                    backchannel_logout=True)
    except ValueError:  # e.g. listening on 0.0.0.0 without DANCU_ISSUER
        raise IssuerMisconfigured("Set DANCU_ISSUER to the public https URL.") from None


def oauth_metadata(settings: Settings) -> dict[str, Any]:
    """RFC 8414 authorization-server metadata: the members of :func:`metadata` it defines."""
    return authorization_server_metadata(metadata(settings))
