"""The provider's HTML pages: login (PIN + password, then SMS code; QR; sandbox persona picker),
consent, and the citizen's list of consents with withdrawal.

Every form carries the interaction's CSRF token and works only in the browser that started the
interaction (``dancu_browser`` cookie). PINs and passwords travel only in POST bodies, never in a
URL, and are never logged. Successful steps answer 303.
"""

from __future__ import annotations

import hmac
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select

from app import pin as pin_rules
from app.dependencies import NowDep, RowIdPath, SessionDep, SettingsDep
from app.models.account import Account
from app.models.client import Client
from app.models.oidc import LoginInteraction
from app.oidc.interaction import ACR_LEVEL
from app.routers import html
from app.security import key_store
from app.services.sharing import consent
from app.services.vneid import account_generation, login, sessions
from app.services.vneid.authorize import Context, Redirect, consent_decision
from app.services.vneid.credentials import LoginRefused
from app.services.vneid.provider import LOGIN_PURPOSE, SESSION_TTL
from app.settings import Settings

router = APIRouter(tags=["VNeID login pages"], include_in_schema=False)


async def read_fields(request: Request) -> dict[str, str]:
    """Form fields (first value of each; files ignored)."""
    form = await request.form()
    fields: dict[str, str] = {}
    for name, value in form.multi_items():
        if isinstance(value, str):
            fields.setdefault(name, value)
    return fields


FieldsDep = Annotated[dict[str, str], Depends(read_fields)]


def _ctx(request: Request, settings: Settings, now: Any) -> Context:
    return Context(settings=settings, keys=key_store(request), now=now)


def _interaction(request: Request, session: SessionDep, interaction_id: str,
                 now: Any) -> LoginInteraction | None:
    return sessions.find_interaction(
        session, interaction_id, browser=request.cookies.get(sessions.BROWSER_COOKIE),
        now=now)


def _lang(request: Request, interaction: LoginInteraction | None,
          fields: dict[str, str] | None = None) -> str:
    chosen = (fields or {}).get("lang") or request.query_params.get("lang")
    default = interaction.request.get("ui_locale", "vi") if interaction else "vi"
    return html.language(chosen, default=html.language(default))


def _expired(request: Request, lang: str) -> HTMLResponse:
    return html.error_page(request, lang=lang, message=html.text(lang, "expired"))


def _csrf_failed(request: Request, lang: str) -> HTMLResponse:
    return html.error_page(request, lang=lang, message=html.text(lang, "csrf"), status=403)


def _redirect(outcome: Redirect, settings: Settings) -> Response:
    response = html.see_other(outcome.location)
    if outcome.session_cookie:
        html.set_cookie(response, sessions.SESSION_COOKIE, outcome.session_cookie,
                        settings=settings, max_age=int(SESSION_TTL.total_seconds()))
    return response


def _csrf(request: Request, interaction: LoginInteraction) -> str:
    return sessions.csrf_token(interaction.id,
                                    request.cookies.get(sessions.BROWSER_COOKIE) or "")


# --- login page -----------------------------------------------------------------------------------


def _personas(session: SessionDep, interaction: LoginInteraction,
              settings: Settings) -> list[dict[str, Any]]:
    if not login.picker_allowed(session, interaction, sandbox=settings.sandbox):
        return []
    return [{**p, "masked_pin": pin_rules.mask(p["pin"])}
            for p in account_generation.persona_details(session, settings=settings)]


def _level_required(interaction: LoginInteraction) -> int | None:
    levels = [ACR_LEVEL[acr] for acr in interaction.request.get("acr_values", [])]
    return min(levels) if levels else None


def _login_page(request: Request, session: SessionDep, interaction: LoginInteraction, *,
                lang: str, settings: Settings, now: Any, error: str | None = None) -> Response:
    qr = login.qr_view(session, interaction, issuer=settings.issuer_url, now=now)
    client = session.get(Client, interaction.client_id)
    hint = interaction.request.get("login_hint") or ""
    import segno  # loaded by the first login page, not at start (issue 20, fast start)

    return html.render(
        request, "login.html", lang=lang, page=f"/oauth2/login/{interaction.id}",
        interaction_id=interaction.id, csrf=_csrf(request, interaction),
        client_name=client.name if client else interaction.client_id,
        level_required=_level_required(interaction), error=html.text(lang, error) if error
        else None, qr_handle=qr.handle, qr_image=segno.make(qr.content, error="m")
        .svg_data_uri(scale=4), personas=_personas(session, interaction, settings),
        login_hint=hint if len(hint) == 12 and hint.isdigit() else "")


@router.get("/oauth2/login/{interaction_id}")
def login_page(interaction_id: str, request: Request, session: SessionDep, settings: SettingsDep,
               now: NowDep) -> Response:
    interaction = _interaction(request, session, interaction_id, now)
    lang = _lang(request, interaction)
    if interaction is None:
        return _expired(request, lang)
    if interaction.stage != sessions.LOGIN:
        return html.see_other(f"/oauth2/{interaction.stage}/{interaction.id}")
    return _login_page(request, session, interaction, lang=lang, settings=settings, now=now)


def _form_step(request: Request, session: SessionDep, interaction_id: str, fields: dict[str, str],
               now: Any) -> tuple[LoginInteraction | None, str, Response | None]:
    """The interaction of a POST, its language, and the error page to show instead (if any)."""
    interaction = _interaction(request, session, interaction_id, now)
    lang = _lang(request, interaction, fields)
    if interaction is None:
        return None, lang, _expired(request, lang)
    if not sessions.csrf_ok(interaction, fields.get("csrf")):
        return None, lang, _csrf_failed(request, lang)
    return interaction, lang, None


@router.post("/oauth2/login/{interaction_id}/password")
def password(interaction_id: str, request: Request, fields: FieldsDep, session: SessionDep,
             settings: SettingsDep, now: NowDep) -> Response:
    interaction, lang, failed = _form_step(request, session, interaction_id, fields, now)
    if failed is not None or interaction is None:
        return failed or _expired(request, lang)
    try:
        login.password_step(session, interaction, pin=fields.get("pin", "").strip(),
                            password=fields.get("password", ""), now=now)
    except LoginRefused as refused:
        return _login_page(request, session, interaction, lang=lang, settings=settings, now=now,
                           error=refused.reason)
    return html.see_other(f"/oauth2/otp/{interaction.id}?lang={lang}")


@router.post("/oauth2/login/{interaction_id}/persona")
def persona(interaction_id: str, request: Request, fields: FieldsDep, session: SessionDep,
            settings: SettingsDep, now: NowDep) -> Response:
    interaction, lang, failed = _form_step(request, session, interaction_id, fields, now)
    if failed is not None or interaction is None:
        return failed or _expired(request, lang)
    try:
        outcome = login.persona_step(session, interaction, key=fields.get("persona", ""),
                                     ctx=_ctx(request, settings, now))
    except LoginRefused as refused:
        return _login_page(request, session, interaction, lang=lang, settings=settings, now=now,
                           error=refused.reason)
    return _redirect(outcome, settings)


@router.post("/oauth2/login/{interaction_id}/qr")
def qr_done(interaction_id: str, request: Request, fields: FieldsDep, session: SessionDep,
            settings: SettingsDep, now: NowDep) -> Response:
    interaction, lang, failed = _form_step(request, session, interaction_id, fields, now)
    if failed is not None or interaction is None:
        return failed or _expired(request, lang)
    try:
        outcome = login.qr_complete(session, interaction, ctx=_ctx(request, settings, now))
    except LoginRefused as refused:
        return _login_page(request, session, interaction, lang=lang, settings=settings, now=now,
                           error=refused.reason)
    return _redirect(outcome, settings)


# --- SMS code -------------------------------------------------------------------------------------


def _otp_page(request: Request, session: SessionDep, interaction: LoginInteraction, *,
              lang: str, error: str | None = None) -> Response:
    account = session.get(Account, interaction.account_id or 0)
    phone = account.phone if account else ""
    return html.render(request, "otp.html", lang=lang, page=f"/oauth2/otp/{interaction.id}",
                       interaction_id=interaction.id, csrf=_csrf(request, interaction),
                       masked_phone=f"{phone[:3]}*****{phone[-2:]}" if phone else "",
                       error=html.text(lang, error) if error else None)


@router.get("/oauth2/otp/{interaction_id}")
def otp_page(interaction_id: str, request: Request, session: SessionDep, now: NowDep) -> Response:
    interaction = _interaction(request, session, interaction_id, now)
    lang = _lang(request, interaction)
    if interaction is None:
        return _expired(request, lang)
    if interaction.stage != sessions.OTP:
        return html.see_other(f"/oauth2/{interaction.stage}/{interaction.id}")
    return _otp_page(request, session, interaction, lang=lang)


@router.post("/oauth2/login/{interaction_id}/otp")
def otp(interaction_id: str, request: Request, fields: FieldsDep, session: SessionDep,
        settings: SettingsDep, now: NowDep) -> Response:
    interaction, lang, failed = _form_step(request, session, interaction_id, fields, now)
    if failed is not None or interaction is None:
        return failed or _expired(request, lang)
    try:
        outcome = login.otp_step(session, interaction, code=fields.get("code", ""),
                                 ctx=_ctx(request, settings, now))
    except LoginRefused as refused:
        return _otp_page(request, session, interaction, lang=lang, error=refused.reason)
    return _redirect(outcome, settings)


@router.post("/oauth2/login/{interaction_id}/otp/resend")
def otp_resend(interaction_id: str, request: Request, fields: FieldsDep, session: SessionDep,
               now: NowDep) -> Response:
    interaction, lang, failed = _form_step(request, session, interaction_id, fields, now)
    if failed is not None or interaction is None:
        return failed or _expired(request, lang)
    try:
        login.resend_code(session, interaction, now=now)
    except LoginRefused as refused:
        if refused.reason != login.TOO_MANY_CODES:
            return _expired(request, lang)
        return _otp_page(request, session, interaction, lang=lang, error=refused.reason)
    return html.see_other(f"/oauth2/otp/{interaction.id}?lang={lang}")


# --- consent --------------------------------------------------------------------------------------


@router.get("/oauth2/consent/{interaction_id}")
def consent_page(interaction_id: str, request: Request, session: SessionDep,
                 now: NowDep) -> Response:
    interaction = _interaction(request, session, interaction_id, now)
    lang = _lang(request, interaction)
    if interaction is None:
        return _expired(request, lang)
    if interaction.stage != sessions.CONSENT:
        return html.see_other(f"/oauth2/{interaction.stage}/{interaction.id}")
    client = session.get(Client, interaction.client_id)
    asked = sessions.request_from_json(interaction.request).consent_scopes
    scopes = [(s, html.text(lang, f"scope_{s}")) for s in asked]
    return html.render(request, "consent.html", lang=lang,
                       page=f"/oauth2/consent/{interaction.id}", interaction_id=interaction.id,
                       csrf=_csrf(request, interaction), scopes=scopes,
                       client_name=client.name if client else interaction.client_id)


@router.post("/oauth2/consent/{interaction_id}")
def consent_submit(interaction_id: str, request: Request, fields: FieldsDep, session: SessionDep,
                   settings: SettingsDep, now: NowDep) -> Response:
    interaction, lang, failed = _form_step(request, session, interaction_id, fields, now)
    if failed is not None or interaction is None:
        return failed or _expired(request, lang)
    if interaction.stage != sessions.CONSENT:
        return _expired(request, lang)
    outcome = consent_decision(session, interaction, approve=fields.get("decision") == "approve",
                               ctx=_ctx(request, settings, now))
    return _redirect(outcome, settings)


# --- the citizen's consents -----------------------------------------------------------------------


def _citizen(request: Request, session: SessionDep, now: Any) -> tuple[Account, str] | None:
    cookie = request.cookies.get(sessions.SESSION_COOKIE)
    row = sessions.current(session, cookie, now=now)
    account = session.get(Account, row.account_id) if row is not None else None
    return (account, cookie or "") if account is not None else None


def _account_csrf(cookie: str) -> str:
    return sessions.csrf_token("account", cookie)


@router.get("/oauth2/account/consents")
def my_consents(request: Request, session: SessionDep, now: NowDep) -> Response:
    lang = html.language(request.query_params.get("lang"))
    found = _citizen(request, session, now)
    if found is None:
        return html.error_page(request, lang=lang, status=401,
                               message=html.text(lang, "login_required_for_page"))
    account, cookie = found
    rows = consent.of_citizen(session, account.pin, in_force_at=now)
    names = dict(session.execute(select(Client.client_id, Client.name).where(
        Client.client_id.in_([r.client_id for r in rows]))).all())
    listed = [{"id": r.id, "client_name": names.get(r.client_id, r.client_id),
               "scopes": r.scopes, "granted_at": f"{r.granted_at:%Y-%m-%d %H:%M}",
               "method": r.method} for r in rows if r.purpose == LOGIN_PURPOSE]
    return html.render(request, "consents.html", lang=lang, consents=listed,
                       csrf=_account_csrf(cookie))


@router.post("/oauth2/account/consents/{consent_id}/withdraw")
def withdraw_consent(consent_id: RowIdPath, request: Request, fields: FieldsDep,
                     session: SessionDep, now: NowDep) -> Response:
    lang = html.language(fields.get("lang"))
    found = _citizen(request, session, now)
    if found is None:
        return html.error_page(request, lang=lang, status=401,
                               message=html.text(lang, "login_required_for_page"))
    account, cookie = found
    if not hmac.compare_digest(fields.get("csrf", ""), _account_csrf(cookie)):
        return _csrf_failed(request, lang)
    consent.withdraw(session, consent_id, by="citizen", now=now, pin=account.pin)
    return html.see_other(f"/oauth2/account/consents?lang={lang}")
