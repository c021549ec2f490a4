"""The criminal-record certificate (phiếu lý lịch tư pháp) as the national portal's e-service
calls it: ``/v1/me/judicial-records`` (a VNeID access token with ``vneid.judicial_record``, or
the VNeID app's device token), the signing authority's published keys
(``/v1/judicial-records/authority``, public) and the sandbox control that forces a step
(``/v1/sandbox/judicial-records/{id}/advance``). docs/documents.md describes the flow.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request, Response, status
from fastapi.security import HTTPAuthorizationCredentials

from app.dependencies import NowDep, ReadSessionDep, SessionDep, SettingsDep
from app.icao.pki import certificate_pem
from app.models.judicial import JudicialRecordRequest
from app.oidc.claims import VNEID_JUDICIAL_RECORD
from app.routers.sandbox import SandboxCaller
from app.schemas import judicial as schemas
from app.security import BearerDep, key_store
from app.security import request_id as request_id_of
from app.services.documents import judicial_lifecycle as lifecycle
from app.services.documents import judicial_pki
from app.services.documents import judicial_records as service
from app.services.kit.keys import aware
from app.services.vneid import access_history

router = APIRouter(prefix="/v1/me/judicial-records",
                   tags=["citizen: criminal-record certificate"])
authority_router = APIRouter(prefix="/v1/judicial-records/authority",
                             tags=["criminal-record certificate: verification"])
sandbox_router = APIRouter(prefix="/v1/sandbox/judicial-records", tags=["sandbox"])
_PROBLEM = {"content": {"application/problem+json": {}}}
_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "citizen-token-required", **_PROBLEM},
    403: {"description": "judicial-record-scope-required: the access token lacks "
                         "vneid.judicial_record; certificate-first-party-only: a No. 2 "
                         "certificate asked for with a relying party's token", **_PROBLEM},
    404: {"description": "judicial-request-not-found", **_PROBLEM},
    409: {"description": "certificate-not-issued", **_PROBLEM},
}
RequestId = Annotated[int, Path(ge=1, le=2**63 - 1)]
PEM = "application/x-pem-file"


def citizen_caller(request: Request, credentials: BearerDep, session: ReadSessionDep,
                    now: NowDep) -> access_history.CitizenCaller:
    token = credentials.credentials if isinstance(credentials, HTTPAuthorizationCredentials) \
        else None
    return access_history.citizen_caller(
        session, token, keys=key_store(request), settings=request.app.state.settings, now=now,
        scope=VNEID_JUDICIAL_RECORD, missing=service.JudicialScopeRequired)


CallerDep = Annotated[access_history.CitizenCaller, Depends(citizen_caller)]


def _out(row: JudicialRecordRequest, now: datetime) -> schemas.JudicialRequestOut:
    plan = service.plan_of(row)
    current = lifecycle.status_at(plan, now)
    issued = current in (lifecycle.ISSUED, lifecycle.DELIVERED)
    rejected = current == lifecycle.REJECTED and row.rejection_code
    return schemas.JudicialRequestOut(
        id=row.id, certificate_type=row.certificate_type,
        title=service.TITLES[row.certificate_type], status=current, purpose=row.purpose,
        copies=row.copies, fee_vnd=row.fee_vnd, submitted_at=aware(row.submitted_at),
        decision_due_at=aware(row.decided_at),
        timeline=[schemas.Step.model_validate(step) for step in lifecycle.timeline(plan, now)],
        rejection=schemas.Rejection(code=row.rejection_code,
                                    reason=service.REJECTION_REASONS[row.rejection_code])
        if rejected else None,
        certificate_number=service.certificate_number(row) if issued else None,
        certificate_url=f"/v1/me/judicial-records/{row.id}/certificate" if issued else None,
        declaration=row.declaration)


@router.get("/prefill", response_model=schemas.Declaration, responses=_ERRORS,
            summary="The declaration pre-filled from the population database (to confirm)")
def prefill(caller: CallerDep, session: ReadSessionDep,
            certificate_type: Annotated[int, Query(ge=1, le=2)] = 1) -> Any:
    return service.prefill(session, caller.account.pin, certificate_type)


@router.post("", status_code=status.HTTP_201_CREATED, response_model=schemas.JudicialRequestOut,
             responses=_ERRORS, summary="Request a criminal-record certificate (pre-filled "
                                        "declaration, delivered to VNeID)")
def submit(body: schemas.JudicialRequestCreate, caller: CallerDep, session: SessionDep,
           now: NowDep, response: Response) -> Any:
    row = service.submit(session, pin=caller.account.pin, now=now, client_id=caller.client_id,
                         request=service.NewRequest(body.certificate_type, body.purpose,
                                                    body.copies, body.request_position_ban))
    response.headers["Location"] = f"/v1/me/judicial-records/{row.id}"
    return _out(row, now)


@router.get("", response_model=schemas.JudicialRequestList, responses=_ERRORS,
            summary="My criminal-record certificate requests, newest first")
def my_requests(caller: CallerDep, session: ReadSessionDep, now: NowDep) -> Any:
    rows = service.requests_of(session, caller.account.pin, party=caller.party)
    return schemas.JudicialRequestList(requests=[_out(row, now) for row in rows])


@router.get("/{request_id}", response_model=schemas.JudicialRequestOut, responses=_ERRORS,
            summary="A request's status and timeline")
def one_request(request_id: RequestId, caller: CallerDep, session: ReadSessionDep,
                now: NowDep) -> Any:
    return _out(service.own_request(session, request_id, caller.account.pin,
                                    party=caller.party), now)


@router.get("/{request_id}/certificate", response_model=schemas.CertificateOut,
            responses=_ERRORS, summary="The issued certificate, signed (compact JWS)")
def certificate(request_id: RequestId, caller: CallerDep, session: SessionDep, now: NowDep,
                settings: SettingsDep, request: Request) -> Any:
    row = service.own_request(session, request_id, caller.account.pin,
                                    party=caller.party)
    signed = service.certificate(session, row, settings=settings, now=now,
                                 first_party=caller.first_party)
    if caller.client_id is not None:
        service.audit_disclosure(session, row, client_id=caller.client_id,
                                 request_id=request_id_of(request), now=now)
    return schemas.CertificateOut(
        request_id=row.id, certificate_type=row.certificate_type,
        number=service.certificate_number(row), media_type=judicial_pki.JWS_TYPE, jws=signed,
        jwks_uri="/v1/judicial-records/authority/jwks.json",
        root_certificate="/v1/judicial-records/authority/root.pem")


# --- the authority's published keys ---------------------------------------------------------------


@authority_router.get("", response_model=schemas.AuthorityOut,
                      summary="The test judicial-records authority: issuer, key id, downloads")
def authority(settings: SettingsDep) -> Any:
    signer = judicial_pki.authority(settings)
    certificate_ = signer.signer.certificate
    return schemas.AuthorityOut(
        issuer=service.authority_issuer(settings), kid=signer.kid, alg=judicial_pki.ALG,
        jws_type=judicial_pki.JWS_TYPE, authority_subject=certificate_.subject.rfc4514_string(),
        root_subject=signer.root.certificate.subject.rfc4514_string(),
        not_before=certificate_.not_valid_before_utc, not_after=certificate_.not_valid_after_utc,
        downloads=[f"/v1/judicial-records/authority/{name}" for name in
                   ("jwks.json", "root.pem", "root.der", "certificate.pem")])


@authority_router.get("/jwks.json", summary="The authority's JWK Set (with x5c)")
def jwks(settings: SettingsDep) -> Any:
    return judicial_pki.authority(settings).public_jwks()


def _download(body: bytes, media_type: str, filename: str) -> Response:
    return Response(body, media_type=media_type,
                    headers={"Content-Disposition": f'attachment; filename="{filename}"',
                             "Cache-Control": "public, max-age=3600"})


@authority_router.get("/root.pem", response_class=Response,
                      responses={200: {"content": {PEM: {}}}},
                      summary="The test root certificate (the relying party's trust anchor), PEM")
def root_pem(settings: SettingsDep) -> Response:
    return _download(judicial_pki.authority(settings).root_pem, PEM,
                     "dancu-sandbox-documents-root.pem")


@authority_router.get("/root.der", response_class=Response,
                      responses={200: {"content": {"application/pkix-cert": {}}}},
                      summary="The test root certificate, DER")
def root_der(settings: SettingsDep) -> Response:
    return _download(judicial_pki.authority(settings).root_der, "application/pkix-cert",
                     "dancu-sandbox-documents-root.der")


@authority_router.get("/certificate.pem", response_class=Response,
                      responses={200: {"content": {PEM: {}}}},
                      summary="The authority's certificate (issued by the root), PEM")
def authority_pem(settings: SettingsDep) -> Response:
    signer = judicial_pki.authority(settings).signer.certificate
    return _download(certificate_pem(signer), PEM,
                     "dancu-sandbox-judicial-records-authority.pem")


# --- sandbox control ------------------------------------------------------------------------------


@sandbox_router.post("/{request_id}/advance", response_model=schemas.JudicialRequestOut,
                     responses={**_ERRORS, 409: {"description": "judicial-request-final",
                                                 **_PROBLEM}},
                     summary="Force a request's next step now (checking, the decision, "
                             "delivery to VNeID)")
def advance(request_id: RequestId, caller: SandboxCaller, request: Request, session: SessionDep,
            now: NowDep, body: schemas.AdvanceRequest | None = None) -> Any:
    body = body or schemas.AdvanceRequest()
    # The deployment's requests are shared by every organisation, like its clock: a sandbox
    # client forces only the requests its own e-service submitted (others answer 404, as an
    # unknown id); the admin forces any, and in a tenant so does any sandbox client of it.
    shared = caller.admin or getattr(request.app.state, "tenant", None) is not None
    row = service.advance(session, request_id, now=now, outcome=body.outcome,
                          rejection_code=body.rejection_code,
                          submitted_by=None if shared else caller.client_id)
    return _out(row, now)
