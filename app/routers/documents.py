"""Integrated documents (docs/documents.md): the citizen's own view (``/v1/me/documents``), the
documents of a PIN for clients with the document's scope, and the sector checks (a hospital's
health-insurance check, a telecom's subscriber check, a bank's customer check), and the admin's
record of an authority's decision on a document (a stored override). Every answer to a client is
audited like a lookup, and a consent-based client needs the citizen's consent."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, status
from fastapi.responses import JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials
from pydantic_core import to_json

from app.dependencies import NowDep, ReadSessionDep, SessionDep
from app.errors import Forbidden, problem_response
from app.models.population import Citizen
from app.oidc.claims import VNEID_DOCUMENTS, VNEID_JUDICIAL_RECORD
from app.routers.citizens import _access, _audited, _consented, _problems
from app.schemas import documents as schemas
from app.security import (
    BearerDep,
    Caller,
    RequestNow,
    _insufficient,
    key_store,
    require_admin,
    require_any_scope,
    require_scope,
)
from app.services.cards.issuance import local_date
from app.services.documents import integrated as documents
from app.services.documents import judicial_records as judicial
from app.services.events import documents as document_events
from app.services.population import citizens
from app.services.population.reference import reference
from app.services.sharing.scopes import DOCUMENT_SCOPES
from app.services.vneid import access_history

router = APIRouter(prefix="/v1/citizens", tags=["integrated documents"])
admin_router = APIRouter(prefix="/v1/admin/documents", tags=["integrated documents"],
                         dependencies=[Depends(require_admin)])
sectors_router = APIRouter(prefix="/v1/sectors", tags=["integrated documents"])
me_router = APIRouter(prefix="/v1/me", tags=["integrated documents"])

DocumentCaller = Annotated[Caller, Depends(require_any_scope(*DOCUMENT_SCOPES))]
HealthCaller = Annotated[Caller, Depends(require_scope("document.health_insurance"))]
TelecomCaller = Annotated[Caller, Depends(require_scope("sector.telecom"))]
BankCaller = Annotated[Caller, Depends(require_scope("sector.bank"))]


class Level2Required(Forbidden):
    code, title = ("level-2-required",
                   "Integrated documents are shown to level-2 electronic identification accounts "
                   "only")


def _not_found(request: Request) -> JSONResponse:
    return problem_response(citizens.CitizenNotFound(), request)


async def _consent(request: Request, caller: Caller, pin: str, scope: str, now: datetime,
                   action: str) -> None:
    if caller.needs_consent:
        await _consented(request, caller, [pin], {scope}, now, action)


@router.get("/{pin}/documents/{kind}", response_model=schemas.CitizenDocuments,
            response_model_by_alias=True,
            summary="A citizen's integrated documents of one kind (scope document.<kind>)",
            responses=_problems(404))
async def citizen_documents(pin: str, kind: schemas.DocumentKind, caller: DocumentCaller,
                            now: RequestNow, request: Request) -> Any:
    number = citizens.checked_pin(pin)
    scope = f"document.{kind}"
    if not caller.has(scope):
        raise _insufficient([scope])
    await _consent(request, caller, number, scope, now, "documents")
    found = await _audited(request, documents.lookup, number, kind=kind, now=now,
                           prefetch=number, access=_access(caller, now))
    if found is None:
        return _not_found(request)
    if found["pin"] != number:
        found["superseded_pin"] = number
    return Response(to_json(found), media_type="application/json")


@sectors_router.post("/health/insurance-check", response_model=schemas.HealthInsuranceCheck,
                     response_model_exclude_none=True,
                     summary="A hospital's check: is this PIN insured today, at which benefit "
                             "level, registered where (scope document.health_insurance)",
                     responses=_problems(404))
async def health_insurance_check(body: schemas.HealthInsuranceCheckRequest, caller: HealthCaller,
                                 now: RequestNow, request: Request) -> Any:
    number = citizens.checked_pin(body.pin)
    await _consent(request, caller, number, "document.health_insurance", now,
                   "health_insurance_check")
    found = await _audited(request, documents.health_insurance_check, number,
                           facility_code=body.facility_code, now=now, prefetch=number,
                           access=_access(caller, now))
    return _not_found(request) if found is None else found


async def _identity(request: Request, caller: Caller, body: schemas.IdentityCheckRequest,
                    now: datetime, *, scope: str, action: str, with_card: bool) -> Any:
    number = citizens.checked_pin(body.pin)
    await _consent(request, caller, number, scope, now, action)
    claims = citizens.Claims(full_name=body.full_name, birth_date=body.birth_date)
    found = await _audited(request, documents.identity_check, number, claims, action=action,
                           now=now, with_card=with_card, prefetch=number,
                           access=_access(caller, now))
    return _not_found(request) if found["verdict"] == "pin_not_found" else found


@sectors_router.post("/telecom/subscriber-check", response_model=schemas.IdentityCheck,
                     response_model_exclude_none=True,
                     summary="A telecom's subscriber check: PIN, full name and birth date match "
                             "the population database (scope sector.telecom)",
                     responses=_problems(404))
async def subscriber_check(body: schemas.IdentityCheckRequest, caller: TelecomCaller,
                           now: RequestNow, request: Request) -> Any:
    return await _identity(request, caller, body, now, scope="sector.telecom",
                           action="subscriber_check", with_card=False)


@sectors_router.post("/bank/customer-check", response_model=schemas.IdentityCheck,
                     response_model_exclude_none=True,
                     summary="A bank's customer check: identity match, record status and a valid "
                             "chip card (scope sector.bank)",
                     responses=_problems(404))
async def customer_check(body: schemas.IdentityCheckRequest, caller: BankCaller,
                         now: RequestNow, request: Request) -> Any:
    return await _identity(request, caller, body, now, scope="sector.bank",
                           action="customer_check", with_card=True)


@admin_router.post("/{pin}/changes", status_code=status.HTTP_201_CREATED,
                   response_model=schemas.DocumentChanged, response_model_by_alias=True,
                   summary="Record an authority's decision on a citizen's document (suspend, "
                           "revoke, end, deduct licence points): the documents of that kind after, "
                           "and the <kind>.changed event emitted",
                   responses={401: {"description": "admin-token-required"},
                              404: {"description": "citizen-not-found"},
                              422: {"description": "invalid input"}})
def change_document(pin: str, body: schemas.DocumentChange, session: SessionDep,
                    now: NowDep) -> Any:
    citizen = session.get(Citizen, citizens.checked_pin(pin))
    if citizen is None:
        raise citizens.CitizenNotFound()
    change = document_events.Change(
        kind=body.kind, effective_on=body.effective_on or local_date(now), number=body.number,
        status=body.status, valid_to=body.valid_to, points_deducted=body.points_deducted,
        reason=body.reason)
    found, event = document_events.record_change(session, citizen, change, actor="admin",
                                                 now=now)
    answer = {"pin": citizen.pin, "status": citizen.status, "kind": body.kind, "documents": found,
              "event_id": event.seq}
    return Response(to_json(answer), media_type="application/json", status_code=201)


# --- the citizen's own view ----------------------------------------------------------------------


def documents_caller(request: Request, credentials: BearerDep, session: ReadSessionDep,
                     now: NowDep) -> access_history.CitizenCaller:
    token = credentials.credentials if isinstance(credentials, HTTPAuthorizationCredentials) \
        else None
    return access_history.citizen_caller(session, token, keys=key_store(request),
                                         settings=request.app.state.settings, now=now,
                                         scope=VNEID_DOCUMENTS)


@me_router.get("/documents", response_model=schemas.MyDocuments,
               response_model_by_alias=True,
               summary="My integrated documents, as the VNeID app shows them (level-2 account; "
                       "the app's device token or an access token with vneid.documents)",
               responses={401: {"description": "citizen-token-required"},
                          403: {"description": "documents-scope-required, level-2-required"}})
def my_documents(caller: Annotated[access_history.CitizenCaller, Depends(documents_caller)],
                 session: ReadSessionDep, now: NowDep) -> Any:
    account = caller.account
    if account.level < 2:
        raise Level2Required()
    citizen = session.get(Citizen, account.pin)
    found = documents.documents_of(session, reference(session), citizen, now=now)
    body: dict[str, Any] = {"pin": account.pin, "account_level": account.level,
                            "documents": found}
    # A relying party's token lists the certificates only if it may fetch them too, and only
    # those its own e-service requested (as /v1/me/judicial-records answers it).
    if caller.first_party or VNEID_JUDICIAL_RECORD in (caller.scopes or ()):
        body["judicial_records"] = judicial.shown_in_vneid(
            session, account.pin, now, first_party=caller.first_party, party=caller.party)
    return Response(to_json(body), media_type="application/json")
