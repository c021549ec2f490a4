"""The citizen's side of personal-data protection: who accessed my data (``/v1/me/access-history``),
my data-sharing consents (``/v1/me/data-consents``: list, give, withdraw), the same history as a
page of the VNeID account pages (``/oauth2/account/history``), and consents recorded by an
administrator (``POST /v1/admin/consents``: given in writing at a counter).

A citizen authenticates with a VNeID access token carrying ``vneid.history`` (OpenID flow of a
relying party the citizen signed in to) or with the VNeID app's bound-device token. Reading and
withdrawing (narrowing) accept both, a relying party's token only for that party's own records
(its accesses, the consents given to it); giving a consent accepts only the device token: a relying
party holds the access token, and consent must be the citizen's own act (on the VNeID consent
page or in the app), never something a party grants itself. The history shows the PIN in full
only to the app or to a token that carries ``vneid.identity`` (masked otherwise).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request, Response, status
from fastapi.security import HTTPAuthorizationCredentials

from app.dependencies import NowDep, ReadSessionDep, SessionDep
from app.models.account import Account
from app.models.consent import Consent
from app.routers import html
from app.schemas import events as schemas
from app.security import BearerDep, key_store, require_admin
from app.services.kit.pagination import decode_cursor, encode_cursor
from app.services.population.citizens import checked_pin
from app.services.sharing import audit
from app.services.sharing import consent as consents
from app.services.vneid import access_history, sessions

router = APIRouter(prefix="/v1/me", tags=["citizen: data protection"])
admin_router = APIRouter(prefix="/v1/admin/consents", tags=["admin: VNeID accounts"],
                         dependencies=[Depends(require_admin)])
pages_router = APIRouter(include_in_schema=False)
_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "citizen-token-required (WWW-Authenticate: Bearer realm=\"vneid\")"},
    403: {"description": "history-scope-required: the access token lacks vneid.history; "
                         "citizen-interaction-required: giving consent with a relying party's "
                         "token"},
    404: {"description": "consent-not-found"},
    409: {"description": "consent-not-active"},
    422: {"description": "invalid-consent, invalid-cursor"},
}


def citizen_caller(request: Request, credentials: BearerDep, session: ReadSessionDep,
                   now: NowDep) -> access_history.CitizenCaller:
    token = credentials.credentials if isinstance(credentials, HTTPAuthorizationCredentials) \
        else None
    return access_history.citizen_caller(session, token, keys=key_store(request),
                                         settings=request.app.state.settings, now=now)


CallerDep = Annotated[access_history.CitizenCaller, Depends(citizen_caller)]


def first_party_citizen(caller: CallerDep) -> Account:
    return access_history.require_first_party(caller)


FirstPartyDep = Annotated[Account, Depends(first_party_citizen)]
ConsentId = Annotated[int, Path(ge=1, le=2**63 - 1)]


def _access(item: access_history.Access, shown_pin: Callable[[str], str]) -> schemas.AccessOut:
    record = item.record
    return schemas.AccessOut(at=audit.utc_text(record.created_at), client_id=record.client_id,
                             client_name=item.client_name, purpose=record.purpose,
                             action=record.action, fields=record.fields.split(),
                             result=record.result, pin=shown_pin(record.pin or ""))


def _history(session: Any, pin: str, cursor: str | None, limit: int,
             shown_pin: Callable[[str], str], party: str | None = None) -> schemas.AccessHistory:
    before = decode_cursor(cursor, kind="access", key_type=int) if cursor else None
    rows = access_history.history(session, access_history.numbers_of(session, pin),
                                  before_seq=before, limit=limit, client_id=party)
    next_cursor = encode_cursor("access", rows[-1].record.seq) if len(rows) == limit else None
    return schemas.AccessHistory(items=[_access(r, shown_pin) for r in rows],
                                 next_cursor=next_cursor)


@router.get("/access-history", response_model=schemas.AccessHistory,
            summary="Who accessed which of my data, when and for what purpose (newest first)",
            responses=_ERRORS)
def access_history_api(caller: CallerDep, session: ReadSessionDep,
                       cursor: Annotated[str | None, Query(max_length=200)] = None,
                       limit: Annotated[int, Query(ge=1, le=200)] = 50) -> Any:
    return _history(session, caller.account.pin, cursor, limit, caller.shown_pin, caller.party)


def _consent(row: Consent, now: datetime) -> schemas.DataConsentOut:
    out = schemas.DataConsentOut.model_validate(row)
    out.in_force = access_history.in_force(row, now)
    return out


@router.get("/data-consents", response_model=schemas.DataConsentList,
            summary="My data-sharing consents (every status), newest first", responses=_ERRORS)
def my_consents(caller: CallerDep, session: ReadSessionDep, now: NowDep) -> Any:
    rows = access_history.sharing_consents(session, caller.account.pin)
    return schemas.DataConsentList(consents=[_consent(r, now) for r in rows
                                             if caller.party in (None, r.client_id)])


@router.post("/data-consents", status_code=status.HTTP_201_CREATED,
             response_model=schemas.DataConsentOut,
             summary="Consent to a client receiving my data for one of its purposes (the VNeID "
                     "app's device token only: never a relying party's token)",
             responses=_ERRORS)
def give_consent(body: schemas.DataConsentCreate, account: FirstPartyDep, session: SessionDep,
                 now: NowDep) -> Any:
    row = access_history.give(session, pin=account.pin, client_id=body.client_id,
                              purpose=body.purpose, scopes=body.scopes, method="api", now=now,
                              expires_at=body.expires_at)
    return _consent(row, now)


@router.post("/data-consents/{consent_id}/withdraw", response_model=schemas.DataConsentOut,
             summary="Withdraw a consent: the client's next request about me is refused",
             responses=_ERRORS)
def withdraw_consent(consent_id: ConsentId, caller: CallerDep, session: SessionDep,
                     now: NowDep) -> Any:
    row = consents.withdraw(session, consent_id, by="citizen", now=now, pin=caller.account.pin,
                            client_id=caller.party)
    return _consent(row, now)


@admin_router.post("", status_code=status.HTTP_201_CREATED,
                   response_model=schemas.DataConsentOut,
                   summary="Record a data-sharing consent given in writing (or by the admin)",
                   responses={401: {"description": "admin-token-required"},
                              422: {"description": "invalid-consent"}})
def record_consent(body: schemas.AdminConsentCreate, session: SessionDep, now: NowDep) -> Any:
    row = access_history.give(session, pin=checked_pin(body.pin), client_id=body.client_id,
                              purpose=body.purpose, scopes=body.scopes, method=body.method,
                              now=now, expires_at=body.expires_at)
    return _consent(row, now)


# --- the page -------------------------------------------------------------------------------------


@pages_router.get("/oauth2/account/history")
def history_page(request: Request, session: ReadSessionDep, now: NowDep,
                 cursor: Annotated[str | None, Query(max_length=200)] = None) -> Response:
    lang = html.language(request.query_params.get("lang"))
    cookie = request.cookies.get(sessions.SESSION_COOKIE)
    row = sessions.current(session, cookie, now=now)
    account = session.get(Account, row.account_id) if row is not None else None
    if account is None:
        return html.error_page(request, lang=lang, status=401,
                               message=html.text(lang, "login_required_for_page"))
    history = _history(session, account.pin, cursor, 50, str)  # the citizen's own session
    listed = [_consent(r, now) for r in access_history.sharing_consents(session, account.pin)]
    return html.render(request, "access_history.html", lang=lang, items=history.items,
                       next_cursor=history.next_cursor,
                       consents=[c for c in listed if c.in_force])
