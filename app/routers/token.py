"""``POST /oauth2/token`` (RFC 6749 §3.2): form-encoded in, RFC 6749 §5.1/§5.2 JSON out."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy.orm import Session

from app.oidc import client_auth, dpop
from app.oidc import errors as oauth
from app.security import key_store, runtime, source_address
from app.services.kit import throttle
from app.services.sharing import tokens
from app.services.storage.phases import Pending
from app.services.storage.units import run_phases

router = APIRouter(tags=["oauth2"])
FORM_MEDIA_TYPE = "application/x-www-form-urlencoded"
BASIC_REALM = "dancu"
_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


class ParsedForm:
    """The request's parameters, or the protocol error that parsing them raised."""

    def __init__(self, request: tokens.TokenRequest | None, error: oauth.OAuthError | None) -> None:
        self.request, self.error = request, error


def parameters(body: bytes) -> dict[str, str]:
    """RFC 6749 §3.2: no parameter more than once; an empty value counts as omitted."""
    pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False)
    names = [name for name, _ in pairs]
    if len(names) != len(set(names)):
        raise oauth.InvalidRequest("A parameter was repeated.")
    return {name: value for name, value in pairs if value}


async def read_form(request: Request) -> ParsedForm:
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type != FORM_MEDIA_TYPE:
        return ParsedForm(None, oauth.InvalidRequest("Send application/x-www-form-urlencoded."))
    try:
        params = parameters(await request.body())
    except UnicodeDecodeError:
        return ParsedForm(None, oauth.InvalidRequest("The body is not UTF-8."))
    except oauth.OAuthError as error:
        return ParsedForm(None, error)
    return ParsedForm(tokens.TokenRequest(params, request.headers.get("authorization"),
                                          dpop.request_header(request.headers.getlist("dpop"))),
                      None)


def error_response(error: oauth.OAuthError, *, used_basic: bool,
                   nonce: str | None = None) -> JSONResponse:
    """RFC 6749 §5.2; ``nonce``: a fresh ``DPoP-Nonce`` for a client that sent a proof (RFC 9449
    §8: ``use_dpop_nonce`` carries the one to use)."""
    rendered = oauth.token_error_response(error, basic_realm=BASIC_REALM if used_basic else None)
    headers = dict(rendered.headers)
    if isinstance(error, dpop.UseDpopNonce):
        nonce = error.nonce
    if nonce is not None:
        headers[dpop.NONCE_HEADER] = nonce
    return JSONResponse(dict(rendered.body), status_code=rendered.status, headers=headers)


Answer = tokens.TokenBody | oauth.OAuthError


def _refusal_commits(step: Pending[tokens.TokenBody]) -> Callable[[Session], Answer]:
    """A refusal commits too: a reused code's revocations and a spent assertion must persist."""
    def write(session: Session) -> Answer:
        try:
            return step.write(session)
        except oauth.OAuthError as error:
            return error
    return write


def failure_checks(request: Request, asked: tokens.TokenRequest) -> list[throttle.Check]:
    """Failed client authentication (here, at introspection and revocation) is counted per
    source address and per client named."""
    per_source, per_client = throttle.credential_limits(request.app.state.settings)
    claimed = client_auth.claimed_client_id(authorization=asked.authorization, form=asked.params)
    return [(per_source, source_address(request)), (per_client, claimed or "")]


def _counted(checks: list[throttle.Check], now: datetime,
             error: oauth.OAuthError) -> Callable[[Session], Answer]:
    def write(session: Session) -> Answer:
        throttle.count_failure(session, checks, now=now)
        return error
    return write


_DOC = {
    200: {
        "description": "Access token (RFC 6749 §5.1)",
        "content": {
            "application/json": {
                "example": {
                    "access_token": "eyJhbGciOiJFUzI1NiIsImtpZCI6Ii4uLiIsInR5cCI6ImF0K2p3dCJ9...",
                    "token_type": "Bearer",
                    "expires_in": 600,
                    "scope": "citizen.basic citizen.verify",
                }
            }
        },
    },
    400: {
        "description": "invalid_request, invalid_grant, invalid_scope, unauthorized_client, "
        "unsupported_grant_type (RFC 6749 §5.2)"
    },
    401: {
        "description": "invalid_client (with WWW-Authenticate: Basic when the Authorization "
        "header was used)"
    },
    429: {
        "description": "slow_down with Retry-After: the source or the client failed client "
        "authentication too often, or the client is over its quota of client-credentials tokens"
    },
}


@router.post(
    "/oauth2/token",
    summary="Token endpoint (client_credentials; form-encoded)",
    responses=_DOC,
    response_class=JSONResponse,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                FORM_MEDIA_TYPE: {
                    "schema": {
                        "type": "object",
                        "required": ["grant_type"],
                        "properties": {
                            "grant_type": {"type": "string", "example": "client_credentials"},
                            "scope": {"type": "string", "example": "citizen.basic citizen.verify"},
                            "client_id": {"type": "string"},
                            "client_secret": {"type": "string"},
                            "client_assertion_type": {"type": "string"},
                            "client_assertion": {"type": "string"},
                        },
                    }
                }
            },
        }
    },
)
async def token(request: Request) -> Any:
    # No FastAPI dependencies on this hot path (their resolution costs more than the reads).
    form = await read_form(request)
    if form.request is None:
        assert form.error is not None
        return error_response(form.error, used_basic=False)
    outcome, headers = await exchange(request, form.request)
    if isinstance(outcome, Response):
        return outcome
    return JSONResponse(outcome, headers=headers)  # signed now, the writer lock released


async def exchange(request: Request, token_request: tokens.TokenRequest,
                   ) -> tuple[Response | dict[str, Any], dict[str, str]]:
    """The token request answered: an error ``Response``, or the token body and the headers to
    send it with (rendered by the route, or as bytes by the express handler,
    app.routers.express_login)."""
    now, settings, shared = request.app.state.clock.now(), request.app.state.settings, \
        runtime(request)
    # for the edge's token metric, which would otherwise parse the body again (app.edge.observe)
    request.scope.setdefault("state", {})["grant_type"] = token_request.params.get("grant_type")
    checks = failure_checks(request, token_request)

    def admit(client: Any) -> Callable[[Session], None] | None:
        # Data-API tokens a client mints at will count against its quota; a login's tokens
        # follow a citizen's sign-in (and cost the login's hot path nothing more).
        if token_request.params.get("grant_type") != "client_credentials":
            return None
        return throttle.token_quota(shared.quotas, client_id=client.client_id,
                                    limit=client.rate_limit, now=now)

    def identified(client: Any) -> None:
        # for the request log: the client this request proved it is (a client id it only
        # names is recorded as claimed, never in that client's list; app.edge.observe)
        request.scope["state"]["client_id"] = client.client_id

    def decide(session: Session) -> Answer | Pending[Answer]:
        wait = throttle.locked(session, checks, now=now)  # one read; a failure writes, not this
        if wait:
            return oauth.SlowDown(retry_after=wait)
        try:
            step = tokens.prepare_token(session, token_request, settings=settings,
                                        keys=key_store(request), now=now, admit=admit,
                                        identified=identified)
        except oauth.InvalidClient as error:
            return Pending(_counted(checks, now, error))
        except oauth.OAuthError as error:
            return error
        return step if not isinstance(step, Pending) else Pending(_refusal_commits(step))

    # SQLite: checks on a reader inline, the writes queued with other processes' writers on a
    # lock file; PostgreSQL: one transaction in a worker thread (app.services.storage.units).
    outcome = await run_phases(shared, decide)
    # RFC 9449 §8.2: a client that sends proofs gets the current nonce with every answer.
    nonce = None if token_request.dpop is None else tokens.current_nonce(settings, now)
    if isinstance(outcome, oauth.OAuthError):
        return error_response(outcome, used_basic=token_request.used_basic, nonce=nonce), {}
    return outcome(), _NO_STORE if nonce is None else {**_NO_STORE, dpop.NONCE_HEADER: nonce}
