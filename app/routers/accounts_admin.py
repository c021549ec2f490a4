"""``/v1/admin/accounts``: open, activate, upgrade, lock, unlock and close VNeID accounts;
credentials, the bound device, the sandbox SMS inbox and the test personas.

Protected by the admin token (``Authorization: Bearer <DANCU_ADMIN_TOKEN>``); problem+json errors.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request, status

from app.dependencies import NowDep, ReadSessionDep, RowIdPath, SessionDep, SettingsDep
from app.models.account import Account
from app.routers.login_sessions import SidPath, session_list, sessions_ended
from app.schemas import accounts as schemas
from app.security import require_admin
from app.services.population.citizens import checked_pin
from app.services.sharing import consent
from app.services.vneid import account_generation, accounts, otp

router = APIRouter(prefix="/v1/admin/accounts", tags=["admin: VNeID accounts"],
                   dependencies=[Depends(require_admin)])
_ACTOR = "admin"
_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "Missing or wrong admin token"},
    404: {"description": "No such citizen or account"},
    409: {"description": "account-state-conflict, account-not-eligible or account-exists"},
    422: {"description": "Invalid PIN, weak password or invalid passcode"},
}


def account_out(account: Account) -> schemas.AccountOut:
    device = None
    if account.device_id is not None and account.device_token_hash is not None:
        device = schemas.Device.model_validate(account)
    return schemas.AccountOut.model_validate({
        **{name: getattr(account, name) for name in schemas.AccountOut.model_fields
           if hasattr(account, name) and name != "device"},
        "has_password": account.password_hash is not None,
        "has_passcode": account.passcode_hash is not None, "device": device})


def _account(session: SessionDep | ReadSessionDep, pin: str) -> Account:
    return accounts.get(session, checked_pin(pin))


@router.post("", status_code=status.HTTP_201_CREATED, response_model=schemas.AccountOut,
             summary="Open an account (active, or pending verification)", responses=_ERRORS)
def create_account(body: schemas.AccountCreate, session: SessionDep, now: NowDep) -> Any:
    spec = accounts.NewAccount(pin=checked_pin(body.pin), level=body.level, phone=body.phone,
                               email=body.email, password=body.password, passcode=body.passcode,
                               activate=body.activate)
    return account_out(accounts.create(session, spec, now=now, actor=_ACTOR))


@router.get("/personas", response_model=schemas.PersonaList,
            summary="The test personas: one account in each state, with their sandbox secrets")
def list_personas(session: ReadSessionDep, settings: SettingsDep) -> Any:
    details = account_generation.persona_details(session, settings=settings)
    return schemas.PersonaList(personas=details)


@router.get("/{pin}", response_model=schemas.AccountOut, summary="One account", responses=_ERRORS)
def get_account(pin: str, session: SessionDep, now: NowDep) -> Any:
    return account_out(accounts.lapse_due_locks(session, _account(session, pin), now=now))


@router.get("/{pin}/events", response_model=schemas.AccountEvents,
            summary="The account's append-only event log, oldest first", responses=_ERRORS)
def account_events(pin: str, session: ReadSessionDep) -> Any:
    account = _account(session, pin)
    return schemas.AccountEvents(pin=account.pin, events=[
        schemas.AccountEventOut.model_validate(e) for e in accounts.events(session, account)])


@router.post("/{pin}/activate", response_model=schemas.AccountOut,
             summary="pending -> active (identity verified)", responses=_ERRORS)
def activate(pin: str, session: SessionDep, now: NowDep) -> Any:
    return account_out(accounts.activate(session, _account(session, pin), now=now, actor=_ACTOR))


@router.post("/{pin}/upgrade", response_model=schemas.AccountOut,
             summary="Level 1 -> level 2 (in-person verification)", responses=_ERRORS)
def upgrade(pin: str, session: SessionDep, now: NowDep) -> Any:
    return account_out(accounts.upgrade(session, _account(session, pin), now=now, actor=_ACTOR))


@router.post("/{pin}/lock", response_model=schemas.AccountOut, summary="Add a lock ground",
             responses=_ERRORS)
def lock(pin: str, body: schemas.LockRequest, session: SessionDep, now: NowDep) -> Any:
    """The account's login sessions end with the lock; relying parties registered for
    Back-Channel Logout are told once the answer has been sent."""
    return account_out(accounts.lock(session, _account(session, pin), reason=body.reason,
                                     now=now, actor=_ACTOR, until=body.until))


@router.post("/{pin}/unlock", response_model=schemas.AccountOut,
             summary="Lift a lock ground (default: every manual one)", responses=_ERRORS)
def unlock(pin: str, body: schemas.UnlockRequest, session: SessionDep, now: NowDep) -> Any:
    reasons = (body.reason,) if body.reason else accounts.MANUAL_LOCK_REASONS
    return account_out(accounts.unlock(session, _account(session, pin), now=now, actor=_ACTOR,
                                       reasons=reasons))


@router.post("/{pin}/close", response_model=schemas.AccountOut,
             summary="Close the account for good (it is kept, never deleted)", responses=_ERRORS)
def close(pin: str, body: schemas.CloseRequest, session: SessionDep, now: NowDep) -> Any:
    """The account's login sessions end with it; relying parties registered for Back-Channel
    Logout are told once the answer has been sent."""
    return account_out(accounts.close(session, _account(session, pin), reason=body.reason,
                                      now=now, actor=_ACTOR))


@router.put("/{pin}/password", status_code=status.HTTP_204_NO_CONTENT,
            summary="Set the password", responses=_ERRORS)
def set_password(pin: str, body: schemas.PasswordSet, session: SessionDep, now: NowDep) -> None:
    accounts.set_password(session, _account(session, pin), body.password, now=now, actor=_ACTOR)


@router.put("/{pin}/passcode", status_code=status.HTTP_204_NO_CONTENT,
            summary="Set the 6-digit passcode", responses=_ERRORS)
def set_passcode(pin: str, body: schemas.PasscodeSet, session: SessionDep, now: NowDep) -> None:
    accounts.set_passcode(session, _account(session, pin), body.passcode, now=now, actor=_ACTOR)


@router.post("/{pin}/device", response_model=schemas.DeviceBound,
             summary="Bind the app on a (new) device; the previous device stops working",
             responses=_ERRORS)
def bind_device(pin: str, body: schemas.DeviceBind, session: SessionDep, now: NowDep) -> Any:
    account = _account(session, pin)
    token = accounts.bind_device(session, account, name=body.name, now=now, actor=_ACTOR)
    return schemas.DeviceBound(device_id=str(account.device_id), device_token=token)


@router.get("/{pin}/sms", response_model=schemas.SmsInbox,
            summary="Sandbox SMS inbox of the account's phone (one-time codes), newest first",
            responses=_ERRORS)
def sms_inbox(pin: str, session: ReadSessionDep) -> Any:
    messages = otp.inbox(session, _account(session, pin))
    return schemas.SmsInbox(messages=[schemas.SmsOut.model_validate(m) for m in messages])


@router.get("/{pin}/consents", response_model=schemas.ConsentList,
            summary="The citizen's consents (every purpose and status), newest first",
            responses=_ERRORS)
def citizen_consents(pin: str, session: ReadSessionDep) -> Any:
    rows = consent.of_citizen(session, checked_pin(pin))
    return schemas.ConsentList(consents=[schemas.ConsentOut.model_validate(r) for r in rows])


@router.get("/{pin}/sessions", response_model=schemas.LoginSessionList,
            summary="The account's live login sessions and the relying parties each signed in "
                    "to, newest first", responses=_ERRORS)
def login_sessions(pin: str, session: ReadSessionDep, now: NowDep) -> Any:
    return session_list(session, _account(session, pin).id, now)


@router.post("/{pin}/sessions/{sid}/revoke", response_model=schemas.SessionsEnded,
             summary="End one login session: its tokens are revoked and its relying parties "
                     "told (Back-Channel Logout)",
             responses={**_ERRORS, 404: {"description": "No such citizen or account "
                                                         "(account-not-found), or no live "
                                                         "session with this id "
                                                         "(session-not-found)"}})
def revoke_session(pin: str, sid: SidPath, request: Request, session: SessionDep,
                   settings: SettingsDep, now: NowDep) -> Any:
    return sessions_ended(request, session, _account(session, pin).id, sid, settings=settings,
                          now=now)


@router.post("/{pin}/sessions/revoke", response_model=schemas.SessionsEnded,
             summary="End every login session of the account (the account stays as it is)",
             responses=_ERRORS)
def revoke_sessions(pin: str, request: Request, session: SessionDep, settings: SettingsDep,
                    now: NowDep) -> Any:
    return sessions_ended(request, session, _account(session, pin).id, None, settings=settings,
                          now=now)


consents_router = APIRouter(prefix="/v1/admin/consents", tags=["admin: VNeID accounts"],
                            dependencies=[Depends(require_admin)])


@consents_router.post("/{consent_id}/withdraw", response_model=schemas.ConsentOut,
                      summary="Withdraw a consent (its tokens are revoked at once)",
                      responses={404: {"description": "consent-not-found"},
                                 409: {"description": "consent-not-active"}})
def withdraw_consent(consent_id: RowIdPath, session: SessionDep, now: NowDep) -> Any:
    return schemas.ConsentOut.model_validate(
        consent.withdraw(session, consent_id, by="admin", now=now))
