"""API contract of the criminal-record certificate service (docs/documents.md)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from app.schemas.common import ClaimText
from app.schemas.examples import EXAMPLES

CertificateType = Literal[1, 2]
Status = Literal["submitted", "checking", "issued", "rejected", "delivered"]
RejectionCode = Literal["outside-competence", "not-entitled", "forged-documents"]
_DECLARATION = {
    "certificate_type": 1, "pin": EXAMPLES["pin"], "full_name": EXAMPLES["full_name"],
    "sex": EXAMPLES["sex"], "birth_date": EXAMPLES["birth_date"], "birth_date_precision": "day",
    "place_of_birth": "Phường Ba Đình, Thành phố Hà Nội", "nationality": "VN",
    "permanent_residence": "Số 12 ngõ 34, Phường Ba Đình, Thành phố Hà Nội",
    "current_residence": None}
_REQUEST = {
    "id": 5, "certificate_type": 1, "title": "PHIẾU LÝ LỊCH TƯ PHÁP SỐ 1", "status": "delivered",
    "purpose": "Bổ sung hồ sơ xin việc", "copies": 1, "fee_vnd": 200000,
    "submitted_at": "2026-11-20T02:00:00Z", "decision_due_at": "2026-11-30T02:00:00Z",
    "timeline": [{"status": "submitted", "at": "2026-11-20T02:00:00Z"},
                 {"status": "checking", "at": "2026-11-21T02:00:00Z"},
                 {"status": "issued", "at": "2026-11-30T02:00:00Z"},
                 {"status": "delivered", "at": "2026-11-30T03:00:00Z"}],
    "rejection": None, "certificate_number": "000005/2026/LLTP-SANDBOX",
    "certificate_url": "/v1/me/judicial-records/5/certificate",
    "declaration": {**_DECLARATION, "purpose": "Bổ sung hồ sơ xin việc", "copies": 1,
                    "request_position_ban": False}}


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("The purpose must not be blank.")
    return value


Purpose = Annotated[ClaimText, AfterValidator(_not_blank)]


class JudicialRequestCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "certificate_type": 1, "purpose": "Bổ sung hồ sơ xin việc", "copies": 1}]})

    certificate_type: CertificateType = Field(
        description="1: current convictions only (jobs, business registration); 2: every "
                    "conviction and the parents and spouse (the person's own use)")
    purpose: Purpose = Field(description="What the certificate is for (mục đích sử dụng)")
    copies: int = Field(1, ge=1, le=10, description="Paper copies (from the third: 5,000 VND "
                                                    "each)")
    request_position_ban: bool = Field(
        False, description="No. 1: also state whether the person is banned from holding posts "
                           "or managing enterprises (No. 2 always states it)")


class Rejection(BaseModel):
    code: RejectionCode
    reason: str


class Step(BaseModel):
    status: Status
    at: datetime


class JudicialRequestOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [_REQUEST]})

    id: int
    certificate_type: CertificateType
    title: str
    status: Status
    purpose: str
    copies: int
    fee_vnd: int = Field(description="The fee the real service charges (the sandbox charges "
                                     "nothing)")
    submitted_at: datetime
    decision_due_at: datetime | None = Field(
        description="When the decision is planned (null: on hold, awaiting a verification)")
    timeline: list[Step] = Field(description="The steps reached, oldest first")
    rejection: Rejection | None = None
    certificate_number: str | None = None
    certificate_url: str | None = Field(None, description="Where the signed certificate is "
                                                          "fetched, once issued")
    declaration: dict[str, Any] = Field(description="The declaration (tờ khai) as submitted, "
                                                    "pre-filled from the population database")


class JudicialRequestList(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"requests": [_REQUEST]}]})

    requests: list[JudicialRequestOut]


class Declaration(BaseModel):
    """The pre-filled declaration: the population database's data, which the citizen confirms."""

    model_config = ConfigDict(extra="allow", json_schema_extra={"examples": [_DECLARATION]})

    certificate_type: CertificateType
    pin: str
    full_name: str
    sex: Literal["M", "F"]
    birth_date: str
    birth_date_precision: str
    place_of_birth: str | None
    nationality: str
    permanent_residence: str | None
    current_residence: str | None
    father: str | None = Field(None, description="No. 2 only")
    mother: str | None = Field(None, description="No. 2 only")
    spouse: str | None = Field(None, description="No. 2 only")


class CertificateOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "request_id": 5, "certificate_type": 1, "number": "000005/2026/LLTP-SANDBOX",
        "media_type": "lltp+jwt",
        "jws": "eyJhbGciOiJFUzI1NiIsInR5cCI6ImxsdHArand0Iiwia2lkIjoiLi4uIiwieDVjIjpbIi4uLiJdfQ"
               ".eyJqdGkiOiIwMDAwMDUvMjAyNi9MTFRQLVNBTkRCT1gifQ.c2lnbmF0dXJl",
        "jwks_uri": "/v1/judicial-records/authority/jwks.json",
        "root_certificate": "/v1/judicial-records/authority/root.pem"}]})

    request_id: int
    certificate_type: CertificateType
    number: str
    media_type: str = Field(description="The JWS typ header")
    jws: str = Field(description="Compact JWS (ES256) signed by the test judicial-records "
                                 "authority; its x5c header carries the authority's "
                                 "certificate, which chains to the published test root")
    jwks_uri: str
    root_certificate: str


class AdvanceRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {}, {"outcome": "reject", "rejection_code": "not-entitled"}]})

    outcome: Literal["issue", "reject"] | None = Field(
        None, description="When the step forced is the decision: issue or reject it (default: "
                          "the planned outcome)")
    rejection_code: RejectionCode | None = None


class AuthorityOut(BaseModel):
    issuer: str
    kid: str
    alg: str
    jws_type: str
    authority_subject: str
    root_subject: str
    not_before: datetime
    not_after: datetime
    downloads: list[str]
