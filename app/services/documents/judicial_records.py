"""The criminal-record certificate (phiếu lý lịch tư pháp) as an interlinked public service:
a citizen signed in with VNeID (or an e-service holding their token) requests a certificate
with the form pre-filled from the population database, follows its status, and receives it
signed by the test judicial-records authority (:mod:`app.services.documents.judicial_pki`).

Rules (Law on Judicial Records No. 28/2009/QH12 as amended by Law 107/2025/QH15, in force from
2026-07-01; docs/documents.md):

* Certificate No. 1 (Art. 42): the person's identity and their *current* convictions (expunged
  ones are not shown: "Không có án tích"); for personnel management, business registration,
  jobs. Certificate No. 2 (Art. 43): also the parents and spouse, and *every* conviction,
  expunged ones included; issued to the person alone (it cannot be asked for on their behalf),
  so a relying party's token never receives one: only the citizen's own VNeID app does.
* Processing: 10 days, 15 when a conviction's expungement must be verified
  (:mod:`app.services.documents.judicial_lifecycle`).
* Fee: 200,000 VND, exempt under 16 and from 60, +5,000 VND per paper copy beyond two
  (Circular 244/2016/TT-BTC figures; the sandbox charges nothing).
* Refusal (Art. 49): the sandbox refuses the rejected persona's requests, or any request the
  sandbox admin decides so (``POST /v1/sandbox/judicial-records/{id}/advance``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.errors import Conflict, Forbidden, NotFound
from app.models.judicial import JudicialConviction, JudicialRecordRequest
from app.models.population import Citizen, FamilyRelation
from app.models.sandbox import SandboxPersona
from app.services.cards.issuance import local_date
from app.services.documents import judicial_lifecycle as lifecycle
from app.services.documents import judicial_pki
from app.services.kit.keys import aware
from app.services.population.citizens import CitizenNotFound, address, current_residences, full_name
from app.services.population.reference import reference
from app.services.sharing import audit
from app.settings import Settings

PENDING_PERSONA = "judicial-record-pending"
REJECTED_PERSONA = "judicial-record-rejected"
CLEAN_PERSONA = "judicial-record-clean"
CONVICTIONS_PERSONA = "judicial-record-convictions"
AUDIT_PURPOSE = "judicial-record"
BASE_FEE_VND = 200_000
COPY_FEE_VND = 5_000
FREE_COPIES = 2
TITLES = {1: "PHIẾU LÝ LỊCH TƯ PHÁP SỐ 1", 2: "PHIẾU LÝ LỊCH TƯ PHÁP SỐ 2"}
NO_CONVICTION = "Không có án tích"
HAS_CONVICTION = "Có án tích"
NO_BAN = "Không bị cấm đảm nhiệm chức vụ, thành lập, quản lý doanh nghiệp, hợp tác xã"
REJECTION_REASONS = {  # Law on Judicial Records, Art. 49
    "outside-competence": "The request is outside the competence of the issuing agency "
                          "(Art. 49(1))",
    "not-entitled": "The requester is neither the person concerned nor entitled to request "
                    "this certificate (Art. 49(2))",
    "forged-documents": "The documents attached to the declaration are forged (Art. 49(3))",
}
PERSONA_REJECTION = "outside-competence"
SANDBOX_NOTICE = ("SANDBOX TEST DOCUMENT: synthetic data signed by a test authority; not a "
                  "criminal-record certificate")


class JudicialRequestNotFound(NotFound):
    code, title = "judicial-request-not-found", "No such criminal-record certificate request"


class CertificateNotIssued(Conflict):
    code, title = ("certificate-not-issued",
                   "The certificate has not been issued (the request is pending or rejected)")


class JudicialRequestFinal(Conflict):
    code, title = ("judicial-request-final",
                   "The request is final (delivered or rejected): no step is left to force")


class CertificateFirstPartyOnly(Forbidden):
    code, title = ("certificate-first-party-only",
                   "A criminal-record certificate No. 2 is given to the person alone: only "
                   "their own VNeID app receives it, never a relying party")


class JudicialScopeRequired(Forbidden):
    code, title = ("judicial-record-scope-required",
                   "The access token does not carry the vneid.judicial_record scope")


@dataclass(frozen=True)
class NewRequest:
    certificate_type: int
    purpose: str
    copies: int = 1
    request_position_ban: bool = False


# --- the pre-filled declaration (tờ khai) ---------------------------------------------------------


def _relatives(session: Session, pin: str) -> dict[str, str]:
    query = (select(FamilyRelation.kind, Citizen)
             .join(Citizen, Citizen.pin == FamilyRelation.relative_pin)
             .where(FamilyRelation.pin == pin, FamilyRelation.ended_on.is_(None),
                    FamilyRelation.kind.in_(("father", "mother", "spouse"))))
    return {kind: full_name(relative) for kind, relative in session.execute(query)}


def _residence_text(session: Session, pin: str) -> dict[str, str | None]:
    ref, rows = reference(session), current_residences(session, pin)
    shown = {kind: address(ref, commune_code=row.commune_code, line=row.address_line)["text"]
             for kind, row in rows.items()}
    return {"permanent_residence": shown.get("permanent"),
            "current_residence": shown.get("current") or shown.get("temporary")}


def _birth_place(session: Session, citizen: Citizen) -> str | None:
    code = citizen.birth_place_commune
    return None if code is None else address(reference(session), commune_code=code,
                                             line=None)["text"]


def prefill(session: Session, pin: str, certificate_type: int) -> dict[str, Any]:
    """The declaration as the e-service pre-fills it from the population database."""
    citizen = session.get(Citizen, pin)
    if citizen is None:  # an account's citizen always exists; a stale token's may not
        raise CitizenNotFound()
    form: dict[str, Any] = {
        "certificate_type": certificate_type, "pin": citizen.pin, "full_name": full_name(citizen),
        "sex": citizen.sex, "birth_date": citizen.birth_date.isoformat(),
        "birth_date_precision": citizen.birth_date_precision,
        "place_of_birth": _birth_place(session, citizen), "nationality": citizen.nationality,
        **_residence_text(session, pin)}
    if certificate_type == 2:
        relatives = _relatives(session, pin)
        form |= {kind: relatives.get(kind) for kind in ("father", "mother", "spouse")}
    return form


# --- submitting and following ---------------------------------------------------------------------


def age_on(birth: date, day: date) -> int:
    return day.year - birth.year - ((day.month, day.day) < (birth.month, birth.day))


def fee(birth: date, *, copies: int, on: date) -> int:
    """The fee in VND: exempt for children (under 16) and the elderly (60 and over)."""
    age = age_on(birth, on)
    base = 0 if age < 16 or age >= 60 else BASE_FEE_VND
    return base + COPY_FEE_VND * max(0, copies - FREE_COPIES)


def convictions_of(session: Session, pin: str) -> list[JudicialConviction]:
    query = select(JudicialConviction).where(JudicialConviction.pin == pin)
    return list(session.scalars(query.order_by(JudicialConviction.judgment_date)))


def _persona_of(session: Session, pin: str) -> str | None:
    return session.scalar(select(SandboxPersona.key).where(SandboxPersona.pin == pin))


def plan_for(session: Session, pin: str, submitted_at: datetime) -> lifecycle.Plan:
    persona = _persona_of(session, pin)
    outcome = lifecycle.REJECT if persona == REJECTED_PERSONA else lifecycle.ISSUE
    return lifecycle.planned(submitted_at, outcome=outcome,
                             verification=bool(convictions_of(session, pin)),
                             hold=persona == PENDING_PERSONA)


def submit(session: Session, *, pin: str, request: NewRequest, client_id: str | None,
           now: datetime, plan: lifecycle.Plan | None = None) -> JudicialRecordRequest:
    """Record a request with the pre-filled declaration, its steps planned from ``now``."""
    declaration = prefill(session, pin, request.certificate_type)
    declaration |= {"purpose": request.purpose, "copies": request.copies,
                    "request_position_ban": request.request_position_ban}
    birth = date.fromisoformat(declaration["birth_date"])
    row = _row(pin, request, client_id=client_id, declaration=declaration,
               fee_vnd=fee(birth, copies=request.copies, on=local_date(now)),
               plan=plan or plan_for(session, pin, now))
    session.add(row)
    session.flush()
    return row


def _row(pin: str, request: NewRequest, *, client_id: str | None, declaration: dict[str, Any],
         fee_vnd: int, plan: lifecycle.Plan) -> JudicialRecordRequest:
    row = JudicialRecordRequest(pin=pin, certificate_type=request.certificate_type,
                                purpose=request.purpose, copies=request.copies, fee_vnd=fee_vnd,
                                client_id=client_id, declaration=declaration, certificate_jws=None)
    set_plan(row, plan)
    return row


def plan_of(row: JudicialRecordRequest) -> lifecycle.Plan:
    return lifecycle.Plan(aware(row.submitted_at), aware(row.checking_at),
                          aware(row.decided_at), aware(row.delivered_at), row.outcome)


def set_plan(row: JudicialRecordRequest, plan: lifecycle.Plan) -> None:
    row.submitted_at, row.checking_at = plan.submitted_at, plan.checking_at
    row.decided_at, row.delivered_at, row.outcome = plan.decided_at, plan.delivered_at, plan.outcome
    if plan.outcome == lifecycle.REJECT and row.rejection_code is None:
        row.rejection_code = PERSONA_REJECTION


def requests_of(session: Session, pin: str, *,
                party: str | None = None) -> list[JudicialRecordRequest]:
    """The citizen's requests, newest first. With ``party`` (a relying party's client id), only
    the requests that party's e-service submitted: the citizen's requests through VNeID or
    another e-service, their purpose and outcome, are none of its business."""
    query = select(JudicialRecordRequest).where(JudicialRecordRequest.pin == pin)
    if party is not None:
        query = query.where(JudicialRecordRequest.client_id == party)
    return list(session.scalars(query.order_by(JudicialRecordRequest.id.desc())))


SHOWN_IN_VNEID = (lifecycle.SUBMITTED, lifecycle.CHECKING, lifecycle.ISSUED, lifecycle.DELIVERED)


def shown_in_vneid(session: Session, pin: str, now: datetime, *, first_party: bool,
                   party: str | None = None) -> list[dict[str, Any]]:
    """The citizen's certificates as VNeID lists them among the integrated documents, newest
    first: delivered ones and pending requests (not the rejected ones), each with a link to the
    request and, once issued, to the signed certificate. A relying party (``first_party``
    false) is shown only the requests its own e-service submitted (``party``), and never the
    No. 2 ones: that certificate is the person's alone (Art. 43)."""
    shown = []
    for row in requests_of(session, pin, party=party):
        current = status_of(row, now)
        if current not in SHOWN_IN_VNEID or (row.certificate_type == 2 and not first_party):
            continue
        issued = current in (lifecycle.ISSUED, lifecycle.DELIVERED)
        decided = aware(row.decided_at)
        url = f"/v1/me/judicial-records/{row.id}"
        shown.append({
            "request_id": row.id, "certificate_type": row.certificate_type,
            "title": TITLES[row.certificate_type], "status": current,
            "submitted_at": aware(row.submitted_at),
            "issued_on": local_date(decided) if issued and decided else None,
            "certificate_number": certificate_number(row) if issued else None,
            "certificate_url": f"{url}/certificate" if issued else None, "request_url": url})
    return shown


def own_request(session: Session, request_id: int, pin: str, *,
                party: str | None = None) -> JudicialRecordRequest:
    """The citizen's request (another citizen's answers 404, as an unknown one does); with
    ``party``, only one that relying party's e-service submitted (any other answers 404 too). The
    read names the PIN, so on Citus it stays on one shard (docs/scale.md)."""
    row = session.scalar(select(JudicialRecordRequest).where(
        JudicialRecordRequest.id == request_id, JudicialRecordRequest.pin == pin))
    if row is None or (party is not None and row.client_id != party):
        raise JudicialRequestNotFound()
    return row


def status_of(row: JudicialRecordRequest, now: datetime) -> str:
    return lifecycle.status_at(plan_of(row), now)


def advance(session: Session, request_id: int, *, now: datetime, outcome: str | None = None,
            rejection_code: str | None = None,
            submitted_by: str | None = None) -> JudicialRecordRequest:
    """Force the next step of a request now (sandbox control). With ``submitted_by``, only a
    request that client's e-service submitted: any other is unknown to it."""
    row = session.get(JudicialRecordRequest, request_id)
    if row is None or (submitted_by is not None and row.client_id != submitted_by):
        raise JudicialRequestNotFound()
    plan = plan_of(row)
    if lifecycle.status_at(plan, now) in lifecycle.FINAL:
        raise JudicialRequestFinal()
    if outcome == lifecycle.REJECT:
        row.rejection_code = rejection_code or PERSONA_REJECTION
    set_plan(row, lifecycle.forced(plan, now, outcome=outcome))
    session.flush()
    return row


# --- the certificate ------------------------------------------------------------------------------


def certificate_number(row: JudicialRecordRequest) -> str:
    decided = aware(row.decided_at)
    return f"{row.id:06d}/{decided.year if decided else 0}/LLTP-SANDBOX"


def _conviction(item: JudicialConviction) -> dict[str, Any]:
    return {"judgment_number": item.judgment_number, "judgment_date": item.judgment_date,
            "court": item.court, "offence": item.offence,
            "penal_code_article": item.penal_code_article,
            "principal_penalty": item.principal_penalty,
            "additional_penalty": item.additional_penalty,
            "sentence_completed_on": item.sentence_completed_on, "expunged_on": item.expunged_on}


def shown_convictions(items: Iterable[JudicialConviction], *, certificate_type: int,
                      on: date) -> list[JudicialConviction]:
    """No. 2 shows every conviction; No. 1 only those not expunged by ``on``."""
    return [item for item in items if certificate_type == 2
            or item.expunged_on is None or item.expunged_on > on]


def _record(session: Session, row: JudicialRecordRequest, on: date) -> dict[str, Any]:
    shown = shown_convictions(convictions_of(session, row.pin),
                              certificate_type=row.certificate_type, on=on)
    record: dict[str, Any] = {"status": "has_conviction" if shown else "no_conviction",
                              "text": HAS_CONVICTION if shown else NO_CONVICTION,
                              "convictions": [_conviction(item) for item in shown]}
    return record


def certificate_claims(session: Session, row: JudicialRecordRequest, *,
                       settings: Settings) -> dict[str, Any]:
    decided = aware(row.decided_at)
    person = {k: v for k, v in row.declaration.items()
              if k not in ("purpose", "copies", "request_position_ban", "certificate_type")}
    body: dict[str, Any] = {
        "type": row.certificate_type, "title": TITLES[row.certificate_type],
        "number": certificate_number(row), "request_id": row.id,
        "issued_at": decided.isoformat(), "issued_on": local_date(decided).isoformat(),
        "issuing_authority": "SANDBOX Judicial Records Authority (Ministry of Public Security)",
        "purpose": row.purpose, "person": person,
        "criminal_record": _record(session, row, local_date(decided)),
        "sandbox_notice": SANDBOX_NOTICE}
    if row.certificate_type == 2 or row.declaration.get("request_position_ban"):
        body["position_ban"] = {"status": "none", "text": NO_BAN}
    return {"iss": authority_issuer(settings), "jti": certificate_number(row),
            "iat": int(decided.timestamp()), "nbf": int(decided.timestamp()), "lltp": body}


def authority_issuer(settings: Settings) -> str:
    return settings.issuer_url.rstrip("/") + "/v1/judicial-records/authority"


def certificate(session: Session, row: JudicialRecordRequest, *, settings: Settings,
                now: datetime, first_party: bool) -> str:
    """The signed certificate (compact JWS), signed on first fetch and kept."""
    if status_of(row, now) not in (lifecycle.ISSUED, lifecycle.DELIVERED):
        raise CertificateNotIssued()
    if row.certificate_type == 2 and not first_party:
        raise CertificateFirstPartyOnly()
    if row.certificate_jws is None:
        claims = certificate_claims(session, row, settings=settings)
        row.certificate_jws = judicial_pki.authority(settings).sign(claims)
        session.flush()
    return row.certificate_jws


def audit_disclosure(session: Session, row: JudicialRecordRequest, *, client_id: str,
                     request_id: str, now: datetime) -> None:
    """A relying party received the citizen's certificate: in the citizen's access history."""
    entry = audit.AuditEntry(client_id=client_id, purpose=AUDIT_PURPOSE,
                             action="judicial_certificate", pin=row.pin,
                             fields=(f"certificate_no{row.certificate_type}",),
                             result="disclosed", request_id=request_id)
    audit.append(session, [entry], now=now)


# --- personas -------------------------------------------------------------------------------------

PERSONA_CONVICTIONS = (  # synthetic and fictional: the court and judgment numbers say SANDBOX
    {"judgment_number": "12/2014/HS-ST-SANDBOX", "judgment_date": date(2014, 3, 18),
     "court": "Tòa án nhân dân thử nghiệm khu vực 1 (SANDBOX)",
     "offence": "Trộm cắp tài sản (synthetic)",
     "penal_code_article": "Khoản 1 Điều 138 Bộ luật Hình sự 1999",
     "principal_penalty": "09 tháng tù cho hưởng án treo", "additional_penalty": None,
     "sentence_completed_on": date(2015, 12, 18), "expunged_on": date(2016, 12, 18)},
    {"judgment_number": "45/2024/HS-ST-SANDBOX", "judgment_date": date(2024, 1, 9),
     "court": "Tòa án nhân dân thử nghiệm khu vực 2 (SANDBOX)",
     "offence": "Cố ý gây thương tích (synthetic)",
     "penal_code_article": "Khoản 1 Điều 134 Bộ luật Hình sự 2015",
     "principal_penalty": "18 tháng tù",
     "additional_penalty": "Bồi thường thiệt hại 20.000.000 đồng",
     "sentence_completed_on": date(2025, 7, 9), "expunged_on": None},
)
PERSONA_PURPOSE = "Bổ sung hồ sơ xin việc (sandbox persona)"


def _persona_request(session: Session, pin: str, *, certificate_type: int,
                     plan: lifecycle.Plan) -> str:
    submit(session, pin=pin, request=NewRequest(certificate_type, PERSONA_PURPOSE),
           client_id=None, now=plan.submitted_at, plan=plan)
    return pin


def shape_pending(session: Session, citizen: Citizen, ctx: Any) -> str:
    """A No. 1 request submitted two days ago, held in checking until the sandbox forces it."""
    plan = lifecycle.planned(ctx.now - timedelta(days=2), hold=True)
    return _persona_request(session, citizen.pin, certificate_type=1, plan=plan)


def shape_rejected(session: Session, citizen: Citizen, ctx: Any) -> str:
    """A No. 1 request refused yesterday (Art. 49(1)); the persona's next requests are too."""
    plan = lifecycle.planned(ctx.now - timedelta(days=11), outcome=lifecycle.REJECT)
    return _persona_request(session, citizen.pin, certificate_type=1, plan=plan)


def shape_clean(session: Session, citizen: Citizen, ctx: Any) -> str:
    """No conviction; a No. 1 certificate issued and delivered to VNeID two days ago."""
    plan = lifecycle.planned(ctx.now - timedelta(days=12))
    return _persona_request(session, citizen.pin, certificate_type=1, plan=plan)


def shape_convictions(session: Session, citizen: Citizen, ctx: Any) -> str:
    """An expunged and a current conviction; a No. 2 (both shown) delivered five days ago."""
    for values in PERSONA_CONVICTIONS:
        session.add(JudicialConviction(pin=citizen.pin, **values))
    session.flush()
    plan = lifecycle.planned(ctx.now - timedelta(days=20), verification=True)
    return _persona_request(session, citizen.pin, certificate_type=2, plan=plan)
