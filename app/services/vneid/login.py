"""The login steps of an interaction: PIN + password, then the SMS code; the sandbox persona
picker; QR login approved from the citizen's app. Each success ends in
:func:`app.services.vneid.authorize.after_login`.

QR login (as at sso.dancuquocgia.gov.vn): the login page shows a QR code holding
``{issuer}/oauth2/qr/{handle}``; a new handle is made each time the page is shown and lives two
minutes. The citizen's app -- authenticated by its bound-device token -- approves it with the
passcode (level-2 accounts only); the page polls ``GET /oauth2/qr/{handle}`` and then completes the
login in the browser that showed the code.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.errors import Forbidden, NotFound, Unauthorized
from app.models.account import Account
from app.models.client import Client
from app.models.oidc import LoginInteraction
from app.oidc import errors as oauth
from app.oidc.codes import new_opaque_value, opaque_hash
from app.services.kit.keys import aware
from app.services.population import persona_names
from app.services.vneid import accounts, otp, sessions
from app.services.vneid.authorize import Context, Redirect, after_login, sandbox_account
from app.services.vneid.credentials import (
    LoginRefused,
    passcode_check,
    password_login,
    require_available,
)
from app.services.vneid.provider import AMR_APP, AMR_PASSWORD_OTP

QR_TTL = timedelta(minutes=2)
TOO_MANY_CODES = "too_many_codes"
QR_PENDING, QR_APPROVED, QR_DENIED, QR_EXPIRED = "pending", "approved", "denied", "expired"


class QrSessionNotFound(NotFound):
    code, title = "qr-session-not-found", "No such QR login, or it has expired"


class DeviceTokenRequired(Unauthorized):
    code, title = "device-token-required", "The app's bound-device token is missing or invalid"


class QrNeedsLevel2(Forbidden):
    code, title = "qr-login-needs-level-2", "QR login is for level-2 accounts"


class AppLoginRefused(Forbidden):
    code, title = "app-login-refused", "The account cannot approve this login"


# --- PIN + password + SMS code --------------------------------------------------------------------


def password_step(session: Session, interaction: LoginInteraction, *, pin: str, password: str,
                  now: datetime) -> None:
    """Check PIN and password, then "send" the SMS code; raises ``LoginRefused``."""
    account = password_login(session, pin, password, now=now)
    _send_code(session, account, interaction, now)
    interaction.account_id, interaction.stage = account.id, sessions.OTP


def resend_code(session: Session, interaction: LoginInteraction, *, now: datetime) -> None:
    """Another code for this login; ``LoginRefused("too_many_codes")`` past the limits."""
    account = _otp_account(session, interaction)
    _send_code(session, account, interaction, now)


def _send_code(session: Session, account: Account, interaction: LoginInteraction,
               now: datetime) -> None:
    try:
        otp.send_login_code(session, account, interaction_id=interaction.id, now=now)
    except otp.TooManyCodes:
        raise LoginRefused(TOO_MANY_CODES) from None


def _otp_account(session: Session, interaction: LoginInteraction) -> Account:
    account = session.get(Account, interaction.account_id or 0)
    if account is None or interaction.stage != sessions.OTP:
        raise LoginRefused("invalid_credentials")
    return account


def otp_step(session: Session, interaction: LoginInteraction, *, code: str,
             ctx: Context) -> Redirect:
    """Check the SMS code; the login is then complete."""
    account = _otp_account(session, interaction)
    if not otp.check_login_code(session, interaction_id=interaction.id, code=code,
                                         now=ctx.now):
        raise LoginRefused("invalid_code")
    require_available(session, account, now=ctx.now)
    return after_login(session, interaction, account, amr=AMR_PASSWORD_OTP, ctx=ctx)


# --- sandbox persona picker -----------------------------------------------------------------------


def picker_allowed(session: Session, interaction: LoginInteraction, *, sandbox: bool) -> bool:
    client = session.get(Client, interaction.client_id)
    return sandbox and client is not None and client.sandbox


def persona_step(session: Session, interaction: LoginInteraction, *, key: str,
                 ctx: Context) -> Redirect:
    """Log in as a persona (sandbox clients only); the consent step still follows. Any persona
    key is accepted (:mod:`app.services.population.persona_names`)."""
    if not picker_allowed(session, interaction, sandbox=ctx.settings.sandbox):
        raise LoginRefused("not_sandbox")
    pin = persona_names.persona_pin(session, key)
    if pin is None:
        raise LoginRefused("unknown_persona")
    found = session.scalar(select(Account).where(Account.pin == pin))
    if found is None:
        raise LoginRefused("no_account")
    require_available(session, found, now=ctx.now)
    return after_login(session, interaction, found, amr=AMR_PASSWORD_OTP, ctx=ctx)


# --- QR login -------------------------------------------------------------------------------------


def qr_start(session: Session, interaction: LoginInteraction, *, now: datetime) -> str:
    """A fresh handle for the QR code shown now (the previous one stops working)."""
    handle = new_opaque_value()
    interaction.qr_handle_hash, interaction.qr_status = opaque_hash(handle), QR_PENDING
    interaction.qr_account_id, interaction.qr_expires_at = None, now + QR_TTL
    session.flush()
    return handle


def _by_handle(session: Session, handle: str) -> LoginInteraction | None:
    return session.scalar(select(LoginInteraction).where(
        LoginInteraction.qr_handle_hash == opaque_hash(handle)))


def qr_status(session: Session, handle: str, *, now: datetime) -> str:
    """pending, approved, denied or expired (an unknown handle reads as expired)."""
    interaction = _by_handle(session, handle)
    if interaction is None or interaction.stage == sessions.DONE:
        return QR_EXPIRED
    if interaction.qr_status == QR_PENDING and now >= (aware(interaction.qr_expires_at) or now):
        return QR_EXPIRED
    return interaction.qr_status or QR_EXPIRED


def _pending(session: Session, handle: str, now: datetime) -> LoginInteraction:
    interaction = _by_handle(session, handle)
    if interaction is None or qr_status(session, handle, now=now) != QR_PENDING:
        raise QrSessionNotFound()
    return interaction


def _approver(session: Session, account: Account, *, now: datetime) -> Account:
    try:
        require_available(session, account, now=now)
    except LoginRefused as refused:
        raise AppLoginRefused(f"The account is {refused.reason}.") from None
    if account.level < 2:
        raise QrNeedsLevel2()
    return account


def app_account(session: Session, device_token: str | None) -> Account:
    account = accounts.account_for_device(session, device_token) if device_token else None
    if account is None:
        error = DeviceTokenRequired()
        error.headers["WWW-Authenticate"] = 'Bearer realm="vneid-app"'
        raise error
    return account


def qr_approve(session: Session, handle: str, *, device_token: str | None, passcode: str,
               approve: bool, now: datetime) -> str:
    """The app's answer: approve (needs the passcode) or deny. Returns the new status."""
    account = _approver(session, app_account(session, device_token), now=now)
    interaction = _pending(session, handle, now)
    if approve:
        try:
            passcode_check(session, account, passcode, now=now)
        except LoginRefused as refused:
            raise AppLoginRefused(f"Passcode refused ({refused.reason}).") from None
    interaction.qr_status = QR_APPROVED if approve else QR_DENIED
    interaction.qr_account_id = account.id if approve else None
    session.flush()
    return interaction.qr_status


def qr_approve_as(session: Session, handle: str, *, pin: str, now: datetime) -> str:
    """Sandbox helper: approve as a citizen's app without a device (admin token)."""
    try:
        found = sandbox_account(session, pin, now=now)
    except oauth.AccessDenied as denied:
        raise AppLoginRefused(denied.description) from None
    account = session.get(Account, found.id)
    assert account is not None
    _approver(session, account, now=now)
    interaction = _pending(session, handle, now)
    interaction.qr_status, interaction.qr_account_id = QR_APPROVED, account.id
    session.flush()
    return QR_APPROVED


def qr_complete(session: Session, interaction: LoginInteraction, *, ctx: Context) -> Redirect:
    """The browser that showed the code finishes an approved QR login."""
    account = session.get(Account, interaction.qr_account_id or 0)
    if interaction.qr_status != QR_APPROVED or account is None:
        raise LoginRefused("qr_not_approved")
    interaction.qr_status = None
    interaction.qr_handle_hash = None
    require_available(session, account, now=ctx.now)
    return after_login(session, interaction, account, amr=AMR_APP, ctx=ctx)


@dataclass(frozen=True)
class QrView:
    handle: str
    content: str  # what the QR code encodes


def qr_view(session: Session, interaction: LoginInteraction, *, issuer: str,
            now: datetime) -> QrView:
    handle = qr_start(session, interaction, now=now)
    return QrView(handle=handle, content=f"{issuer}/oauth2/qr/{handle}")

