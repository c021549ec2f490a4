"""``/v1/admin``: register clients, rotate secrets, disable/enable, rotate signing keys.

Protected by the admin token (``Authorization: Bearer <DANCU_ADMIN_TOKEN>``)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Literal

from fastapi import APIRouter, Depends, Request, status

from app.dependencies import NowDep, ReadSessionDep, SessionDep, SettingsDep
from app.schemas import clients as schemas
from app.security import key_store, require_admin, runtime
from app.services.kit import keys
from app.services.sharing import client_secrets, clients, outbound
from app.services.vneid import registration as oidc_registration

router = APIRouter(prefix="/v1/admin", tags=["admin"], dependencies=[Depends(require_admin)])

_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {
        "description": "Missing or wrong admin token",
        "content": {"application/problem+json": {}},
    },
    403: {
        "description": "A client access token was used",
        "content": {"application/problem+json": {}},
    },
}
_NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"description": "No such client", "content": {"application/problem+json": {}}}
}


def _spec(body: schemas.ClientCreate) -> clients.ClientSpec:
    return clients.ClientSpec(
        name=body.name,
        client_id=body.client_id,
        scopes=tuple(body.scopes),
        purposes=tuple(body.purposes),
        legal_basis=body.legal_basis,
        data_basis=body.data_basis,
        token_endpoint_auth_method=body.token_endpoint_auth_method,
        grant_types=tuple(body.grant_types),
        redirect_uris=tuple(body.redirect_uris),
        post_logout_redirect_uris=tuple(body.post_logout_redirect_uris),
        application_type=body.application_type,
        require_pkce=body.require_pkce,
        jwks=body.jwks,
        sandbox=body.sandbox,
        signing_alg=body.signing_alg,
        rate_limit=body.rate_limit,
        sector_identifier_uri=body.sector_identifier_uri,
        userinfo_signed_response_alg=body.userinfo_signed_response_alg,
        dpop_bound_access_tokens=body.dpop_bound_access_tokens,
        require_dpop_nonce=body.require_dpop_nonce,
        require_pushed_authorization_requests=body.require_pushed_authorization_requests,
        security_profile=body.security_profile,
        backchannel_logout_uri=body.backchannel_logout_uri,
        backchannel_logout_session_required=body.backchannel_logout_session_required,
        sector_redirect_uris=None if body.sector_redirect_uris is None else tuple(
            body.sector_redirect_uris),
    )


@router.post(
    "/clients",
    status_code=status.HTTP_201_CREATED,
    response_model=schemas.ClientCreated,
    summary="Register a client (its secret is shown only in this response)",
    responses={
        **_ERRORS,
        409: {"description": "client_id taken"},
        422: {"description": "Invalid registration (the problems are listed)"},
    },
)
def add_client(body: schemas.ClientCreate, session: SessionDep, now: NowDep,
               settings: SettingsDep) -> Any:
    client, secret = clients.register(
        session, _spec(body), now=now,
        fetch_sector=lambda url: outbound.get_json(url, settings=settings),
        seal=client_secrets.sealer(settings), targets=outbound.targets(settings))
    return schemas.ClientCreated.model_validate(
        {**schemas.ClientOut.model_validate(client).model_dump(), "client_secret": secret}
    )


@router.get(
    "/clients", response_model=schemas.ClientList, summary="List clients", responses=_ERRORS
)
def list_clients(session: ReadSessionDep) -> Any:
    return schemas.ClientList(
        clients=[schemas.ClientOut.model_validate(c) for c in clients.list_all(session)]
    )


@router.get(
    "/clients/{client_id}",
    response_model=schemas.ClientOut,
    summary="One client",
    responses={**_ERRORS, **_NOT_FOUND},
)
def get_client(client_id: str, session: ReadSessionDep) -> Any:
    return schemas.ClientOut.model_validate(clients.get(session, client_id))


@router.post(
    "/clients/{client_id}/rotate-secret",
    response_model=schemas.SecretRotated,
    summary="Replace the client's secret (the old one stops working at once)",
    responses={**_ERRORS, **_NOT_FOUND},
)
def rotate_secret(client_id: str, session: SessionDep, now: NowDep,
                  settings: SettingsDep) -> Any:
    return schemas.SecretRotated(
        client_id=client_id, client_secret=clients.rotate_secret(
            session, client_id, now=now, seal=client_secrets.sealer(settings)))


@router.post(
    "/clients/{client_id}/disable",
    response_model=schemas.ClientOut,
    summary="Disable a client: its tokens stop working at once",
    responses={**_ERRORS, **_NOT_FOUND},
)
def disable_client(client_id: str, session: SessionDep, request: Request) -> Any:
    client = clients.set_status(session, client_id, active=False)
    runtime(request).client_changed(client_id)  # other processes follow within two seconds
    return schemas.ClientOut.model_validate(client)


@router.post(
    "/clients/{client_id}/enable",
    response_model=schemas.ClientOut,
    summary="Re-enable a disabled client",
    responses={**_ERRORS, **_NOT_FOUND},
)
def enable_client(client_id: str, session: SessionDep, request: Request) -> Any:
    client = clients.set_status(session, client_id, active=True)
    runtime(request).client_changed(client_id)
    return schemas.ClientOut.model_validate(client)


@router.post(
    "/keys/{alg}/rotate",
    response_model=schemas.KeyRotated,
    summary="Rotate the signing key for ES256 or RS256 (the old key stays in the JWKS "
    "until its tokens have expired)",
    responses=_ERRORS,
)
def rotate_key(
    alg: Literal["ES256", "RS256"],
    session: SessionDep,
    settings: SettingsDep,
    now: NowDep,
    request: Request,
) -> Any:
    kid = keys.rotate(session, alg, settings=settings, now=now)
    key_store(request).invalidate()
    return schemas.KeyRotated(alg=alg, kid=kid)


@router.post(
    "/registration-tokens",
    status_code=status.HTTP_201_CREATED,
    response_model=schemas.InitialAccessToken,
    summary="Mint an initial access token for dynamic client registration (RFC 7591 §3)",
    responses=_ERRORS,
)
def mint_registration_token(body: schemas.InitialAccessTokenRequest, settings: SettingsDep,
                            now: NowDep) -> Any:
    token, expires_at = oidc_registration.mint_initial_token(
        settings, now=now, ttl=timedelta(seconds=body.expires_in))
    return schemas.InitialAccessToken(initial_access_token=token, expires_at=expires_at)
