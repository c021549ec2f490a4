"""The authorization endpoint's decisions: validate, then log in, ask consent, or issue a code.

``authorize`` takes the request parameters and the browser's cookies and returns an outcome for the
router: a redirect (to the relying party with a code or an error, or to a login/consent page) or an
error page (the client or redirect URI cannot be trusted: RFC 6749 §4.1.2.1, never a redirect).

Rules live in ``app.oidc`` (request validation, prompt/max_age/acr decisions, codes); this module
loads the client, the session, the consent and the account, and persists codes and sessions.

Sandbox login (``X-Sandbox-Login: <PIN>``, sandbox clients of a sandbox deployment only): logs the
citizen in and records consent at once, then issues the code -- after the same checks as any
request (client, exact redirect URI, PKCE S256, scopes, account state, requested LoA).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import insert
from sqlalchemy.orm import Session

from app.models.account import Account
from app.models.oidc import AuthorizationCode, BrowserSession, LoginInteraction
from app.oidc import errors as oauth
from app.oidc.authorize import (
    AuthorizationErrorRedirect,
    AuthorizationRejected,
    AuthorizationRequest,
    error_redirect_url,
    requested_client_id,
    resolve_request,
    success_redirect_url,
    validate_authorization_request,
)
from app.oidc.clients import ClientView
from app.oidc.codes import issue_authorization_code
from app.oidc.interaction import ConsentView, Interaction, required_interaction, select_acr
from app.oidc.jwt_policy import TokenRejected
from app.oidc.tokens import verify_id_token_hint
from app.prepared import Prepared
from app.services.kit.keys import KeyStore, aware
from app.services.population import persona_names
from app.services.sharing import consent
from app.services.storage.phases import Pending
from app.services.vneid import par
from app.services.vneid import sessions as oidc_sessions
from app.services.vneid.credentials import AccountRef, available
from app.services.vneid.provider import AMR_PASSWORD_OTP, LOGIN_PURPOSE, login_client, subject
from app.settings import Settings


@dataclass(frozen=True)
class Redirect:
    """303 to ``location``; ``session_cookie`` is a new login session to set on the browser."""

    location: str
    session_cookie: str | None = None


@dataclass(frozen=True)
class ErrorPage:
    """The request cannot be answered by redirect: show ``error`` on an error page."""

    error: oauth.OAuthError


Outcome = Redirect | ErrorPage


@dataclass(frozen=True)
class Context:
    """What every step needs besides the database session."""

    settings: Settings
    keys: KeyStore
    now: datetime


@dataclass(frozen=True)
class Cookies:
    browser: str
    session: str | None = None


_UNAVAILABLE = {"pending": "The account is not yet activated.", "locked": "The account is locked.",
                "closed": "The account is closed."}


def authorize(session: Session, pairs: Sequence[tuple[str, str]], *, cookies: Cookies,
              sandbox_pin: str | None, ctx: Context) -> Outcome | Pending[Outcome]:
    """Handle one authorization request (GET query or POST form, as ordered pairs): decide on
    ``session`` (reads only), leaving the writes -- session, consent, code, interaction -- as a
    :class:`Pending` (``app.services.storage.phases``). A refused request writes nothing."""
    try:
        found = login_client(session, requested_client_id(pairs), now=ctx.now)
        view = found[1] if found else None
        pushed = par.pushed_record(session, pairs)
        uri_hash = par.pushed_uri_hash(pairs, pushed)
        pairs = resolve_request(pairs, client=view, issuer=ctx.settings.issuer_url, now=ctx.now,
                                pushed=pushed)
        request = validate_authorization_request(
            pairs, client=view, issuer=ctx.settings.issuer_url, now=ctx.now)
        if uri_hash is not None:
            request = replace(request, pushed_uri_hash=uri_hash)
    except AuthorizationRejected as rejected:
        return ErrorPage(rejected.error)
    except AuthorizationErrorRedirect as redirect:
        return Redirect(redirect.location)
    assert found is not None
    client, view = found
    try:
        if sandbox_pin is not None:
            return _redirecting_errors(
                request, ctx, _sandbox_login(session, request, client, view, sandbox_pin, ctx))
    except oauth.OAuthError as error:
        return error_redirect(request, error, ctx)
    return _redirecting_errors(
        request, ctx, Pending(lambda writing: _next(writing, request, view, cookies, ctx)))


def _redirecting_errors(request: AuthorizationRequest, ctx: Context,
                        step: Pending[Redirect]) -> Pending[Outcome]:
    """``step``'s writes; a protocol error they raise becomes the error redirect (what was written
    before it is kept, as when a locked account's session is ended)."""
    def write(session: Session) -> Outcome:
        try:
            return step.write(session)
        except oauth.OAuthError as error:
            return error_redirect(request, error, ctx)
    return Pending(write)


def error_redirect(request: AuthorizationRequest, error: oauth.OAuthError,
                   ctx: Context) -> Redirect:
    return Redirect(error_redirect_url(request.redirect_uri, error, state=request.state,
                                       issuer=ctx.settings.issuer_url))


# --- the session, the consent, and what is needed next --------------------------------------------


def _live_account(session: Session, row: BrowserSession | None,
                  now: datetime) -> AccountRef | None:
    """The session's account if it may still log in; a session of a locked account ends."""
    if row is None:
        return None
    account = available(session, account_id=row.account_id, now=now)
    if not isinstance(account, AccountRef):
        oidc_sessions.end(session, row, now=now)
        return None
    return account


def _consent_view(session: Session, account: Account | AccountRef, client_id: str,
                  now: datetime) -> ConsentView | None:
    found = consent.in_force(session, pin=account.pin, client_id=client_id,
                             purpose=LOGIN_PURPOSE, now=now)
    if found is None:
        return None
    return ConsentView(scopes=frozenset(found.scopes), granted_at=aware(found.granted_at) or now)


def _hint_matches(request: AuthorizationRequest, view: ClientView,
                  account: Account | AccountRef | None,
                  ctx: Context) -> bool:
    """False when ``id_token_hint`` names someone else than the session's citizen at this client."""
    if request.id_token_hint is None:
        return True
    try:
        hint = verify_id_token_hint(request.id_token_hint,
                                    keys=ctx.keys.ring_for(request.id_token_hint),
                                    issuer=ctx.settings.issuer_url, now=ctx.now)
    except TokenRejected:
        raise oauth.InvalidRequest(
            "The id_token_hint is not a valid ID token of this provider.") from None
    if hint.content.client_id != view.client_id:
        raise oauth.InvalidRequest("The id_token_hint was issued to another client.")
    return account is not None and hint.content.subject == subject(account.pin, view, ctx.settings)


def _next(session: Session, request: AuthorizationRequest, view: ClientView, cookies: Cookies,
          ctx: Context) -> Redirect:
    row = oidc_sessions.current(session, cookies.session, now=ctx.now)
    account = _live_account(session, row, ctx.now)
    if not _hint_matches(request, view, account, ctx):
        row = account = None
    if row is None or account is None:
        step = required_interaction(request, session=None, consent=None, now=ctx.now)
    else:
        step = required_interaction(request, session=oidc_sessions.view(row),
                                    consent=_consent_view(session, account, view.client_id,
                                                          ctx.now), now=ctx.now)
    if step is Interaction.NONE:
        assert row is not None
        assert account is not None
        return Redirect(issue_code(session, request, account=account, login=row, ctx=ctx))
    stage = oidc_sessions.CONSENT if step is Interaction.CONSENT else oidc_sessions.LOGIN
    interaction = oidc_sessions.open_interaction(session, request, browser=cookies.browser,
                                                 stage=stage, now=ctx.now)
    if row is not None and stage == oidc_sessions.CONSENT:
        interaction.session_id = row.id
    return Redirect(f"/oauth2/{stage}/{interaction.id}")


_INSERT_CODE = Prepared(insert(AuthorizationCode.__table__))  # no unit-of-work flush


def issue_code(session: Session, request: AuthorizationRequest, *,
               account: Account | AccountRef,
               login: BrowserSession | oidc_sessions.Started, ctx: Context) -> str:
    """Store a code for this login and return the relying party's success redirect."""
    oidc_sessions.sweep_now_and_then(session, now=ctx.now)
    code, grant = issue_authorization_code(
        request, subject=str(account.id), auth_time=aware(login.auth_time) or login.auth_time,
        acr=select_acr(request.acr_values, level=login.level), now=ctx.now,
        amr=tuple(login.amr), session_id=login.id)
    _INSERT_CODE.run(session.connection(), {
        "code_hash": grant.code_hash, "client_id": grant.client_id,
        "redirect_uri": grant.redirect_uri, "scope": list(grant.scope),
        "code_challenge": grant.code_challenge, "account_id": account.id,
        "auth_time": grant.auth_time, "acr": grant.acr, "amr": list(grant.amr),
        "nonce": grant.nonce, "session_id": grant.session_id, "issued_at": grant.issued_at,
        "expires_at": grant.expires_at, "dpop_jkt": grant.dpop_jkt,
        "claims": grant.claims.to_json() if grant.claims else None})
    if request.pushed_uri_hash is not None:
        par.spend(session, request.pushed_uri_hash)
    return success_redirect_url(request, code=code, issuer=ctx.settings.issuer_url)


# --- after a login, and the consent decision -----------------------------------------------------


def after_login(session: Session, interaction: LoginInteraction,
                account: Account | AccountRef, *,
                amr: tuple[str, ...], ctx: Context) -> Redirect:
    """The citizen just authenticated in ``interaction``: start their session, then consent or
    code (or the error a fresh login still earns, such as an unmet LoA)."""
    request = oidc_sessions.request_from_json(interaction.request)
    row, cookie = oidc_sessions.start(session, account, amr=amr, now=ctx.now)
    interaction.session_id, interaction.account_id = row.id, account.id
    try:
        step = required_interaction(
            request, session=oidc_sessions.view(row),
            consent=_consent_view(session, account, request.client_id, ctx.now), now=ctx.now)
        if step is Interaction.CONSENT:
            interaction.stage = oidc_sessions.CONSENT
            return Redirect(f"/oauth2/consent/{interaction.id}", session_cookie=cookie)
        interaction.stage = oidc_sessions.DONE
        return Redirect(issue_code(session, request, account=account, login=row, ctx=ctx),
                        session_cookie=cookie)
    except oauth.OAuthError as error:
        interaction.stage = oidc_sessions.DONE
        return Redirect(error_redirect(request, error, ctx).location, session_cookie=cookie)


def consent_decision(session: Session, interaction: LoginInteraction, *, approve: bool,
                     ctx: Context) -> Redirect:
    """The citizen approved or declined the scopes on the consent page."""
    request = oidc_sessions.request_from_json(interaction.request)
    interaction.stage = oidc_sessions.DONE
    row = session.get(BrowserSession, interaction.session_id or "")
    account = _live_account(session, row, ctx.now)
    if row is None or account is None:
        return error_redirect(request, oauth.LoginRequired("The login session has ended."), ctx)
    if not approve:
        return error_redirect(request, oauth.AccessDenied("The citizen declined the request."),
                              ctx)
    consent.grant(session, pin=account.pin, client_id=request.client_id, purpose=LOGIN_PURPOSE,
                  scopes=request.consent_scopes, method="web_form", now=ctx.now)
    try:
        return Redirect(issue_code(session, request, account=account, login=row, ctx=ctx))
    except oauth.OAuthError as error:
        return error_redirect(request, error, ctx)


# --- sandbox login --------------------------------------------------------------------------------


UNKNOWN_PERSONA = ("No persona has this key (GET /v1/sandbox/personas lists them), "
                   "and it is not a PIN.")


def sandbox_account(session: Session, pin: str, *, now: datetime) -> AccountRef:
    """The account a sandbox shortcut logs in as (``pin``: a PIN or a persona key), or
    ``access_denied`` saying why not."""
    if not (len(pin) == 12 and pin.isdigit()):
        pin = persona_names.persona_pin(session, pin) or ""
        if not pin:
            raise oauth.AccessDenied(UNKNOWN_PERSONA)
    found = available(session, pin=pin, now=now)
    if found is None:
        raise oauth.AccessDenied("No VNeID account has this PIN.")
    if isinstance(found, str):
        raise oauth.AccessDenied(_UNAVAILABLE[found])
    return found


def _sandbox_login(session: Session, request: AuthorizationRequest, client: Any,
                   view: ClientView, pin: str, ctx: Context) -> Pending[Redirect]:
    """Checks on ``session``; the login session, any consent it adds and the code are left as
    writes."""
    if not (ctx.settings.sandbox and client.sandbox):
        raise oauth.AccessDenied("X-Sandbox-Login is accepted only from sandbox clients.")
    account = sandbox_account(session, pin.strip(), now=ctx.now)
    select_acr(request.acr_values, level=account.level)  # LoA2 from a level-1 account: refused
    given = _consent_view(session, account, view.client_id, ctx.now)
    consented = given is not None and set(request.consent_scopes) <= given.scopes

    def write(writing: Session) -> Redirect:
        row, cookie = oidc_sessions.start(writing, account, amr=AMR_PASSWORD_OTP, now=ctx.now)
        if not consented:
            consent.ensure(writing, pin=account.pin, client_id=view.client_id,
                           purpose=LOGIN_PURPOSE, scopes=request.consent_scopes,
                           method="sandbox_header", now=ctx.now)
        location = issue_code(writing, request, account=account, login=row, ctx=ctx)
        return Redirect(location, session_cookie=cookie)

    return Pending(write)
