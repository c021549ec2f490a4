"""``/.well-known``: the JWK Set, the OpenID Provider metadata and the RFC 8414
authorization-server metadata."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from app.dependencies import NowDep, SettingsDep
from app.security import key_store
from app.services.vneid import discovery

router = APIRouter(prefix="/.well-known", tags=["discovery"])
_CACHE = {"Cache-Control": "public, max-age=300"}


@router.get(
    "/jwks.json", summary="Public signing keys (RFC 7517), retired keys until their tokens expire"
)
def jwks(now: NowDep, request: Request) -> Any:
    return JSONResponse(
        key_store(request).ring().jwks(now=now),
        headers=_CACHE,
        media_type="application/jwk-set+json",
    )


@router.get("/openid-configuration", summary="OpenID Provider / authorization-server metadata")
def openid_configuration(settings: SettingsDep) -> Any:
    return JSONResponse(discovery.metadata(settings), headers=_CACHE)


@router.get("/oauth-authorization-server",
            summary="OAuth 2.0 authorization-server metadata (RFC 8414): the members of the "
            "OpenID configuration that RFC 8414 defines")
def oauth_authorization_server(settings: SettingsDep) -> Any:
    return JSONResponse(discovery.oauth_metadata(settings), headers=_CACHE)
