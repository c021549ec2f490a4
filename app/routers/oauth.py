"""OpenID Connect endpoints: authorization, userinfo, introspection, revocation, RP-initiated
logout, and the QR-login API of the citizen's app.

OAuth endpoints answer in their RFC formats (RFC 6749 §4.1.2.1 redirects or an HTML error page at
the authorization endpoint, RFC 6750 §3 at userinfo, RFC 6749 §5.2 JSON at introspection and
revocation). The QR-login API is ours and answers problem+json. The token endpoint is
``app.routers.token``; importing :mod:`app.services.vneid.grants` adds its grants.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from app import security
from app.dependencies import (
    NowDep,
    ReadSessionDep,
    RowIdPath,
    SessionDep,
    SettingsDep,
    get_database,
)
from app.errors import NotFound
from app.oidc import dpop
from app.oidc import errors as oauth
from app.oidc.authorize import UI_LOCALES_SUPPORTED
from app.oidc.clients import NONE
from app.oidc.codes import new_opaque_value
from app.routers import html
from app.routers.login_sessions import SidPath, session_list, sessions_ended
from app.routers.token import ParsedForm, error_response, failure_checks, read_form
from app.schemas.accounts import (
    ConsentList,
    ConsentOut,
    LoginSessionList,
    SessionsEnded,
)
from app.security import key_store, require_admin, runtime, send_logouts
from app.services.kit import throttle
from app.services.population import persona_names
from app.services.sharing import client_auth, consent, tokens
from app.services.storage.phases import Pending
from app.services.storage.units import run_phases, run_read
from app.services.vneid import authorize as oidc_authorize
from app.services.vneid import (
    backchannel,
    grants,  # noqa: F401  (registers the code and refresh grants)
    login,
    sessions,
)
from app.services.vneid import logout as oidc_logout
from app.services.vneid import par as oidc_par
from app.services.vneid import registration as oidc_registration
from app.services.vneid import revocation as oidc_revocation
from app.services.vneid import userinfo as oidc_userinfo
from app.services.vneid.provider import SESSION_TTL
from app.settings import Settings

router = APIRouter(tags=["OpenID Connect"])
sandbox_router = APIRouter(prefix="/v1/sandbox", tags=["sandbox"],
                           dependencies=[Depends(require_admin)])
REALM = "dancu"
SANDBOX_LOGIN_HEADER = "x-sandbox-login"
BROWSER_MAX_AGE = 365 * 24 * 3600
FORM_TYPE = "application/x-www-form-urlencoded"


async def read_pairs(request: Request) -> list[tuple[str, str]]:
    """The request's parameters in order, repeats kept: the query (GET) or the form (POST)."""
    if request.method == "GET":
        return list(request.query_params.multi_items())
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type != FORM_TYPE:
        return []
    form = await request.form()
    return [(name, value) for name, value in form.multi_items() if isinstance(value, str)]


PairsDep = Annotated[list[tuple[str, str]], Depends(read_pairs)]


def _ctx(request: Request, settings: Settings, now: Any) -> oidc_authorize.Context:
    return oidc_authorize.Context(settings=settings, keys=key_store(request), now=now)


def _first(pairs: list[tuple[str, str]], name: str) -> str | None:
    return next((value for key, value in pairs if key == name and value), None)


def _page_language(pairs: list[tuple[str, str]]) -> str:
    for tag in (_first(pairs, "ui_locales") or "").split():
        if tag.split("-")[0].lower() in UI_LOCALES_SUPPORTED:
            return tag.split("-")[0].lower()
    return html.language(_first(pairs, "lang"))


_AUTHORIZE_DOC = {
    303: {"description": "To the client's redirect URI (code, state, iss; or error, "
                         "error_description, state, iss), or to the login / consent page"},
    400: {"description": "HTML error page: unknown client, missing or unregistered redirect URI "
                         "(never redirected, RFC 6749 §4.1.2.1)", "content": {"text/html": {}}},
}


_AUTHORIZE = {"response_class": HTMLResponse, "responses": _AUTHORIZE_DOC, "status_code": 303}


@router.get("/oauth2/authorize", operation_id="authorize_get", **_AUTHORIZE,
            summary="Authorization endpoint (code flow, PKCE S256 required)")
@router.post("/oauth2/authorize", operation_id="authorize_post", **_AUTHORIZE,
             summary="Authorization endpoint, parameters as a form (OIDC Core §3.1.2.1)")
async def authorize(request: Request) -> Response:
    """Send ``X-Sandbox-Login: <PIN>`` from a sandbox client to log in and consent at once."""
    # No dependencies on this hot path: parameters, settings and clock are read directly.
    pairs = await read_pairs(request)
    browser = request.cookies.get(sessions.BROWSER_COOKIE)
    outcome, cookies = await authorized(request, pairs, browser=browser,
                                        session=request.cookies.get(sessions.SESSION_COOKIE),
                                        sandbox_pin=request.headers.get(SANDBOX_LOGIN_HEADER))
    return authorize_response(request, pairs, outcome, cookies, had_browser=browser is not None)


async def authorized(request: Request, pairs: list[tuple[str, str]], *, browser: str | None,
                     session: str | None, sandbox_pin: str | None,
                     ) -> tuple[oidc_authorize.Outcome, oidc_authorize.Cookies]:
    """The authorization request decided (and its writes done), with the cookies it ran with
    (also called by the express handler, app.routers.express_login)."""
    now, settings = request.app.state.clock.now(), request.app.state.settings
    cookies = oidc_authorize.Cookies(browser=browser or new_opaque_value(), session=session)
    ctx = _ctx(request, settings, now)

    def decide(db: Session) -> oidc_authorize.Outcome | Pending[oidc_authorize.Outcome]:
        return oidc_authorize.authorize(db, pairs, cookies=cookies, ctx=ctx,
                                        sandbox_pin=sandbox_pin)

    return await run_phases(runtime(request), decide), cookies


def authorize_response(request: Request, pairs: list[tuple[str, str]],
                       outcome: oidc_authorize.Outcome, cookies: oidc_authorize.Cookies, *,
                       had_browser: bool) -> Response:
    settings: Settings = request.app.state.settings
    if isinstance(outcome, oidc_authorize.ErrorPage):
        lang = _page_language(pairs)
        return html.error_page(request, lang=lang, message=html.text(lang, "error_title"),
                               error_code=outcome.error.error,
                               description=outcome.error.description)
    response = html.see_other(outcome.location)
    if starts_interaction(outcome, had_browser=had_browser):
        html.set_cookie(response, sessions.BROWSER_COOKIE, cookies.browser,
                        settings=settings, max_age=BROWSER_MAX_AGE)
    if outcome.session_cookie:
        html.set_cookie(response, sessions.SESSION_COOKIE, outcome.session_cookie,
                        settings=settings, max_age=SESSION_MAX_AGE)
    return response


SESSION_MAX_AGE = int(SESSION_TTL.total_seconds())


def starts_interaction(outcome: oidc_authorize.Redirect, *, had_browser: bool) -> bool:
    """A login or consent page comes next: the browser cookie is set if it was not sent."""
    return not had_browser and outcome.location.startswith("/oauth2/")


# --- userinfo -------------------------------------------------------------------------------------


def _bearer_error(error: oauth.OAuthError | None, *, dpop_scheme: bool = False) -> Response:
    """RFC 6750 §3, or RFC 9449 §7.1 (a ``DPoP`` challenge) for a DPoP request or error. A
    request without a token is told only the challenge (§3.1: no error code), with an empty
    body -- not the JSON ``null`` a client library would try to read as an error object."""
    if error is not None and (dpop_scheme or isinstance(
            error, (dpop.InvalidDpopProof, dpop.UseDpopNonce, dpop.BoundTokenAsBearer))):
        rendered = dpop.resource_error_response(error, realm=REALM)
    else:
        rendered = oauth.bearer_error_response(error, realm=REALM)
    if not rendered.body:
        return Response(status_code=rendered.status, headers=dict(rendered.headers))
    return JSONResponse(dict(rendered.body), status_code=rendered.status,
                        headers=dict(rendered.headers))


def _bearer_token(pairs: list[tuple[str, str]], *, in_query: bool, header: str | None,
                  method: str) -> str | None:
    """RFC 6750 §2.1 header or §2.2 form body, never both; §2.3 query is refused."""
    if in_query:
        raise oauth.InvalidRequest("Send the access token in the Authorization header.")
    body = [value for name, value in pairs if name == "access_token"] if method == "POST" else []
    if (header is not None) + len(body) > 1:
        raise oauth.InvalidRequest("Send the access token only once.")
    if body:
        return body[0]
    if header is None:
        return None
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() not in ("bearer", "dpop") or not token.strip():
        raise oauth.InvalidToken()
    return token.strip()


def dpop_presentation(authorization: str | None, proofs: list[str],
                      method: str) -> oidc_userinfo.DpopPresentation:
    scheme = (authorization or "").strip().partition(" ")[0]
    return oidc_userinfo.DpopPresentation(scheme_is_dpop=scheme.lower() == "dpop",
                                          proof=dpop.request_header(proofs), method=method)


_USERINFO = {"responses": {401: {"description": "invalid_token (RFC 6750 challenge)"},
                          403: {"description": "insufficient_scope"}}}


@router.get("/oauth2/userinfo", operation_id="userinfo_get", **_USERINFO,
            summary="UserInfo endpoint (OIDC Core §5.3): claims by scope")
@router.post("/oauth2/userinfo", operation_id="userinfo_post", **_USERINFO,
             summary="UserInfo endpoint; the token in the header or the form body (RFC 6750 §2.2)")
async def userinfo(request: Request) -> Any:
    pairs, authorization = await read_pairs(request), request.headers.get("authorization")
    answer = await userinfo_answer(
        request, pairs, in_query="access_token" in request.query_params,
        authorization=authorization,
        presented=dpop_presentation(authorization, request.headers.getlist("dpop"),
                                    request.method))
    if isinstance(answer, Response):
        return answer
    return JSONResponse(answer[0], headers=answer[1])


async def userinfo_answer(request: Request, pairs: list[tuple[str, str]], *, in_query: bool,
                          authorization: str | None, presented: oidc_userinfo.DpopPresentation,
                          ) -> Response | tuple[dict[str, Any], dict[str, str]]:
    """The userinfo answer: a ``Response``, or the JSON claims and the headers to send them
    with (rendered by the route, or as bytes by the express handler,
    app.routers.express_login)."""
    now, settings = request.app.state.clock.now(), request.app.state.settings

    def read(token: str) -> oidc_userinfo.Claims:
        with oidc_userinfo.read_connection(get_database(request)) as conn:
            return oidc_userinfo.userinfo(
                conn, token, keys=key_store(request), settings=settings, now=now,
                dpop=presented,
                nonce_key=lambda client_requires: security.nonce_key_for(request,
                                                                         client_requires))

    try:
        token = _bearer_token(pairs, in_query=in_query, header=authorization,
                              method=request.method)
        if token is None:
            return _bearer_error(None)
        claims = await run_read(runtime(request), lambda: read(token))
        if claims.proof is not None:  # RFC 9449 §11.1: each proof once (only DPoP pays this)
            await security.spend_proof(request, claims.proof, now)
    except oauth.OAuthError as error:
        return _bearer_error(error, dpop_scheme=presented.scheme_is_dpop)
    headers = {"Cache-Control": "no-store"}
    if presented.scheme_is_dpop:  # RFC 9449 §8.2: the current nonce with each DPoP answer
        headers[dpop.NONCE_HEADER] = tokens.current_nonce(settings, now)
    if isinstance(claims.body, oidc_userinfo.SignedUserinfo):
        return Response(claims.body.jwt, media_type="application/jwt", headers=headers)
    return claims.body, headers


# --- introspection and revocation -----------------------------------------------------------------


def _authenticated(request: Request, form: ParsedForm, session: SessionDep, settings: Settings,
                   now: Any, path: str, *, public: bool = True) -> str:
    """The client, authenticated as at the token endpoint and throttled alike (a failure is
    counted in this request's transaction, which commits with the error answer); a public client
    (``none``) only where ``public`` (RFC 7009 §2.1 lets it revoke its tokens; introspection is
    for clients that can authenticate)."""
    if form.request is None:
        assert form.error is not None
        raise form.error
    checks = failure_checks(request, form.request)
    wait = throttle.locked(session, checks, now=now)
    if wait:
        raise oauth.SlowDown(retry_after=wait)
    try:
        client = client_auth.authenticate(session, form.request, settings=settings, now=now,
                                          token_endpoint=settings.issuer_url + path)
    except oauth.InvalidClient:
        throttle.count_failure(session, checks, now=now)
        raise
    if not public and client.token_endpoint_auth_method == NONE:
        raise oauth.InvalidClient()
    return str(client.client_id)


def _token_param(form: ParsedForm) -> str:
    token = form.request.params.get("token") if form.request else None
    if not token:
        raise oauth.InvalidRequest("The token parameter is required.")
    return token


@router.post("/oauth2/introspect", summary="Token introspection (RFC 7662), client-authenticated")
def introspect(request: Request, form: Annotated[ParsedForm, Depends(read_form)],
               session: SessionDep, settings: SettingsDep, now: NowDep) -> Any:
    try:
        requester = _authenticated(request, form, session, settings, now, "/oauth2/introspect",
                                   public=False)
        body = oidc_revocation.introspect(
            session, _token_param(form), requester=requester, keys=key_store(request),
            hint=form.request.params.get("token_type_hint") if form.request else None,
            settings=settings, now=now)
    except oauth.OAuthError as error:
        return error_response(error, used_basic=bool(form.request and form.request.used_basic))
    return JSONResponse(body, headers={"Cache-Control": "no-store"})


@router.post("/oauth2/revoke", summary="Token revocation (RFC 7009), client-authenticated")
def revoke(request: Request, form: Annotated[ParsedForm, Depends(read_form)],
           session: SessionDep, settings: SettingsDep, now: NowDep) -> Any:
    try:
        requester = _authenticated(request, form, session, settings, now, "/oauth2/revoke")
        oidc_revocation.revoke(session, _token_param(form), requester=requester,
                               keys=key_store(request), settings=settings, now=now)
    except oauth.OAuthError as error:
        return error_response(error, used_basic=bool(form.request and form.request.used_basic))
    return Response(status_code=200, headers={"Cache-Control": "no-store"})


@router.post("/oauth2/par", status_code=201,
             summary="Pushed authorization request (RFC 9126), client-authenticated",
             responses={400: {"description": "The authorization endpoint's errors, as JSON"},
                        401: {"description": "invalid_client"}})
def pushed_authorization_request(request: Request, form: Annotated[ParsedForm, Depends(read_form)],
                                 session: SessionDep, settings: SettingsDep, now: NowDep) -> Any:
    try:
        requester = _authenticated(request, form, session, settings, now, "/oauth2/par")
        assert form.request is not None
        body = oidc_par.push(session, dict(form.request.params), client_id=requester,
                             settings=settings, now=now, dpop_proof=form.request.dpop)
    except oauth.OAuthError as error:
        return error_response(error, used_basic=bool(form.request and form.request.used_basic))
    return JSONResponse(body, status_code=201, headers={"Cache-Control": "no-store"})


# --- RP-initiated logout --------------------------------------------------------------------------

_CARRIED = ("id_token_hint", "client_id", "post_logout_redirect_uri", "state")


@router.get("/oauth2/logout", operation_id="logout_get", response_class=HTMLResponse,
            summary="End-session endpoint (OpenID Connect RP-Initiated Logout 1.0)")
@router.post("/oauth2/logout", operation_id="logout_post", response_class=HTMLResponse,
             summary="End-session endpoint, parameters as a form")
def logout(request: Request, pairs: PairsDep, session: SessionDep, settings: SettingsDep,
           now: NowDep) -> Response:
    lang = _page_language(pairs)
    params = {name: value for name in _CARRIED if (value := _first(pairs, name))}
    try:
        checked = oidc_logout.validate(session, params, keys=key_store(request),
                                       settings=settings, now=now)
    except oidc_logout.LogoutRejected as rejected:
        return html.error_page(request, lang=lang, message=rejected.message)
    cookie = request.cookies.get(sessions.SESSION_COOKIE)
    live = sessions.current(session, cookie, now=now)
    if checked.hint is None and live is not None and not oidc_logout.confirmed(
            cookie, _first(pairs, "confirm") if request.method == "POST" else None):
        return html.render(request, "logout.html", lang=lang, done=False,
                           confirm=oidc_logout.confirmation_token(cookie or ""),
                           carried=sorted(params.items()))
    done = oidc_logout.perform(session, checked, session_cookie=cookie, now=now)
    notices = backchannel.session_ended(session, done.ended, keys=key_store(request),
                                        settings=settings, now=now)
    response: Response = (html.see_other(done.target) if done.target else
                          html.render(request, "logout.html", lang=lang, done=True))
    html.clear_cookie(response, sessions.SESSION_COOKIE, settings=settings)  # type: ignore[arg-type]
    send_logouts(request, session, notices)  # Back-Channel Logout 1.0, after the commit
    return response


# --- QR login: the citizen's app ------------------------------------------------------------------


class QrApproval(BaseModel):
    model_config = ConfigDict(extra="forbid")

    passcode: str = Field(pattern=r"^[0-9]{6}$", description="The app's 6-digit passcode.")


class QrStatus(BaseModel):
    status: str = Field(description="pending, approved, denied or expired")


class SandboxQrApproval(BaseModel):
    model_config = ConfigDict(extra="forbid")

    pin: str | None = Field(None, max_length=12)
    persona: str | None = Field(None, max_length=32)


def _device_token(request: Request) -> str | None:
    scheme, _, token = (request.headers.get("authorization") or "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


@router.get("/oauth2/qr/{handle}", response_model=QrStatus,
            summary="Status of a QR login (the login page polls it)")
def qr_status(handle: str, session: ReadSessionDep, now: NowDep) -> Any:
    return QrStatus(status=login.qr_status(session, handle, now=now))


@router.post("/oauth2/qr/{handle}/approve", response_model=QrStatus,
             summary="The citizen's app approves a QR login (bound-device token + passcode)",
             responses={401: {"description": "device-token-required"},
                        403: {"description": "qr-login-needs-level-2, app-login-refused"},
                        404: {"description": "qr-session-not-found"}})
def qr_approve(handle: str, body: QrApproval, request: Request, session: SessionDep,
               now: NowDep) -> Any:
    return QrStatus(status=login.qr_approve(session, handle, device_token=_device_token(request),
                                            passcode=body.passcode, approve=True, now=now))


@router.post("/oauth2/qr/{handle}/deny", response_model=QrStatus,
             summary="The citizen's app declines a QR login",
             responses={401: {"description": "device-token-required"},
                        404: {"description": "qr-session-not-found"}})
def qr_deny(handle: str, request: Request, session: SessionDep, now: NowDep) -> Any:
    return QrStatus(status=login.qr_approve(session, handle, device_token=_device_token(request),
                                            passcode="", approve=False, now=now))


@sandbox_router.post("/qr/{handle}/approve", response_model=QrStatus,
                     summary="Sandbox: approve a QR login as a citizen (PIN) or persona, "
                             "without a device (admin token)")
def sandbox_qr_approve(handle: str, body: SandboxQrApproval, session: SessionDep,
                       settings: SettingsDep, now: NowDep) -> Any:
    if not settings.sandbox:
        raise NotFound("Sandbox helpers are off (DANCU_SANDBOX=false).")
    pin = body.pin or persona_names.require_persona_pin(session, body.persona or "")
    return QrStatus(status=login.qr_approve_as(session, handle, pin=pin or "", now=now))


# --- the citizen's app: consents ------------------------------------------------------------------

app_router = APIRouter(prefix="/v1/me", tags=["VNeID app"])


def _app_account(request: Request, session: SessionDep) -> Any:
    return login.app_account(session, _device_token(request))


@app_router.get("/consents", response_model=ConsentList,
                summary="The citizen's consents in force (bound-device token)",
                responses={401: {"description": "device-token-required"}})
def my_consents(request: Request, session: SessionDep, now: NowDep) -> Any:
    account = _app_account(request, session)
    rows = consent.of_citizen(session, account.pin, in_force_at=now)
    return ConsentList(consents=[ConsentOut.model_validate(r) for r in rows])


@app_router.post("/consents/{consent_id}/withdraw", response_model=ConsentOut,
                 summary="Withdraw one of the citizen's consents (its tokens are revoked)",
                 responses={401: {"description": "device-token-required"},
                            404: {"description": "consent-not-found"}})
def withdraw_my_consent(consent_id: RowIdPath, request: Request, session: SessionDep,
                        now: NowDep) -> Any:
    account = _app_account(request, session)
    return ConsentOut.model_validate(
        consent.withdraw(session, consent_id, by="citizen", now=now, pin=account.pin))


# --- the citizen's app: login sessions ------------------------------------------------------------

_SESSION_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "device-token-required"},
    404: {"description": "session-not-found: no live session of the citizen with this id"}}


@app_router.get("/sessions", response_model=LoginSessionList,
                summary="The citizen's live VNeID login sessions and the relying parties each "
                        "signed in to (bound-device token)",
                responses={401: {"description": "device-token-required"}})
def my_sessions(request: Request, session: SessionDep, now: NowDep) -> Any:
    return session_list(session, _app_account(request, session).id, now)


@app_router.post("/sessions/{sid}/revoke", response_model=SessionsEnded,
                 summary="End one of the citizen's login sessions: its tokens are revoked and "
                         "its relying parties told (Back-Channel Logout)",
                 responses=_SESSION_ERRORS)
def revoke_my_session(sid: SidPath, request: Request, session: SessionDep,
                      settings: SettingsDep, now: NowDep) -> Any:
    account = _app_account(request, session)
    return sessions_ended(request, session, account.id, sid, settings=settings, now=now)


@app_router.post("/sessions/revoke", response_model=SessionsEnded,
                 summary="End every login session of the citizen (sign out everywhere)",
                 responses={401: {"description": "device-token-required"}})
def revoke_my_sessions(request: Request, session: SessionDep, settings: SettingsDep,
                       now: NowDep) -> Any:
    account = _app_account(request, session)
    return sessions_ended(request, session, account.id, None, settings=settings, now=now)


# --- dynamic client registration (RFC 7591, RFC 7592) ---------------------------------------------

_REGISTRATION_ERRORS = {400: {"description": "invalid_client_metadata, invalid_redirect_uri "
                                             "(RFC 7591 §3.2.2)"},
                        401: {"description": "invalid_token: no or a wrong access token"},
                        403: {"description": "access_denied: open registration is full "
                                             "(DANCU_OPEN_REGISTRATIONS_TOTAL)"}}


def _registration_error(error: oauth.OAuthError) -> JSONResponse:
    if isinstance(error, oauth.InvalidToken):
        return _bearer_error(error)
    return JSONResponse(error.as_dict(), status_code=error.status,
                        headers={"Cache-Control": "no-store"})


async def _json_document(request: Request) -> Any:
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type != "application/json":
        raise oauth.InvalidClientMetadata("Send the metadata as application/json.")
    try:
        return await request.json()
    except ValueError:
        raise oauth.InvalidClientMetadata("The body is not JSON.") from None


def _open_registration(request: Request, settings: Settings, now: Any) -> bool:
    """A registration without a token, in a sandbox: counted per source address, 429 with
    ``Retry-After`` beyond the limit."""
    if not oidc_registration.open_to_all(settings):
        return False
    checks = [(throttle.open_registration_limit(settings), security.source_address(request))]
    with get_database(request).write() as session:
        wait = throttle.locked(session, checks, now=now)
        if wait:
            raise throttle.too_many(wait)
        oidc_registration.check_open_room(session, settings, now=now)  # full: access_denied
        oidc_registration.check_source_room(session, settings, security.source_address(request),
                                            now=now)
        throttle.count_failure(session, checks, now=now)  # counts the registration
    return True


def _initial_token_ok(request: Request, settings: Settings, now: Any) -> bool:
    token = _device_token(request)
    if token is None:
        return _open_registration(request, settings, now)
    if oidc_registration.initial_token_valid(settings, token, now=now):
        return True
    return security.checked_secret(request, matches=security.is_admin_token(request, token))


@router.post("/oauth2/register", status_code=201, responses=_REGISTRATION_ERRORS,
             summary="Dynamic client registration (RFC 7591): open in a sandbox deployment, "
                     "else with an initial access token")
async def register_client(request: Request) -> Any:
    settings: Settings = request.app.state.settings
    now = request.app.state.clock.now()
    try:
        if not await security.off_loop(lambda: _initial_token_ok(request, settings, now)):
            raise oauth.InvalidToken("An initial access token is required (docs/vneid.md).")
        document = await _json_document(request)
        opened = _device_token(request) is None  # an open registration (_initial_token_ok)
        source = security.source_address(request)

        def work() -> dict[str, Any]:
            with get_database(request).write() as session:
                body = oidc_registration.register(session, document, settings=settings, now=now,
                                                  opened=opened)
                if opened:  # counted again with the new client, in its transaction
                    oidc_registration.check_open_room_kept(session, settings, now=now)
                    oidc_registration.count_for_source(session, settings, source,
                                                       body["client_id"], now=now)
                return body

        body = await security.off_loop(work)  # may fetch a sector document: off the loop
    except oauth.OAuthError as error:
        return _registration_error(error)
    return JSONResponse(body, status_code=201, headers={"Cache-Control": "no-store"})


_MANAGE = {"responses": {code: doc for code, doc in _REGISTRATION_ERRORS.items() if code != 403}}


@router.get("/oauth2/register/{client_id}", summary="Read a registration (RFC 7592 §2.1)",
            **_MANAGE)
def read_registration(client_id: str, request: Request, session: SessionDep,
                      settings: SettingsDep, now: NowDep) -> Any:
    try:
        found = oidc_registration.managed_client(session, client_id, _device_token(request),
                                                 now=now)
    except oauth.OAuthError as error:
        return _registration_error(error)
    return JSONResponse(oidc_registration.client_metadata(found, settings=settings),
                        headers={"Cache-Control": "no-store"})


@router.put("/oauth2/register/{client_id}", summary="Replace a registration (RFC 7592 §2.2)",
            **_MANAGE)
async def update_registration(client_id: str, request: Request) -> Any:
    settings: Settings = request.app.state.settings
    token = _device_token(request)
    now = request.app.state.clock.now()
    try:
        try:
            document = await _json_document(request)
        except oauth.InvalidClientMetadata:
            document = None  # refused after the token is checked (RFC 7592 §3)

        def work() -> dict[str, Any]:
            with get_database(request).write() as session:
                found = oidc_registration.managed_client(session, client_id, token, now=now)
                updated = oidc_registration.update(session, found, document, settings=settings)
                return oidc_registration.client_metadata(updated, settings=settings)

        body = await security.off_loop(work)  # may fetch a sector document: off the loop
    except oauth.OAuthError as error:
        return _registration_error(error)
    return JSONResponse(body, headers={"Cache-Control": "no-store"})


@router.delete("/oauth2/register/{client_id}", status_code=204, response_model=None,
               summary="Delete a registration (RFC 7592 §2.3): the client is disabled", **_MANAGE)
def delete_registration(client_id: str, request: Request, session: SessionDep,
                        settings: SettingsDep, now: NowDep) -> Response:
    try:
        found = oidc_registration.managed_client(session, client_id, _device_token(request),
                                                 now=now)
    except oauth.OAuthError as error:
        return _registration_error(error)
    oidc_registration.release_for_source(session, settings, security.source_address(request),
                                         found)
    oidc_registration.delete(session, found)
    return Response(status_code=204)
