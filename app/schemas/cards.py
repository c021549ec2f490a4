"""Request and response models of the chip-card API (``/v1/cards``, ``/v1/pki``, personas)."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from app.schemas.common import UtcDatetime

CardStatus = Literal["active", "expired", "lost", "revoked", "replaced", "held"]
Generation = Literal["cccd_2021", "can_cuoc_2024"]
# Base64 of one chip file: a real SOD is a few KB, a DG2 tens of KB; the body limit bounds the rest.
FileText = Annotated[str, StringConstraints(max_length=400_000)]
FileName = Annotated[str, StringConstraints(max_length=8, pattern=r"^[A-Za-z0-9.]+$")]
EncodedBytes = Annotated[str, StringConstraints(max_length=200)]


class PrintedField(BaseModel):
    field: str = Field(description="Element of the card side, in layout order")
    label: str | None = Field(description="The printed label (Vietnamese / English)")
    value: str | None = Field(description="The printed text; null for a graphic element")


class CardEvent(BaseModel):
    at: UtcDatetime
    action: str = Field(description="issued, reported_lost, revoked, held, released, replaced, "
                                    "or expired (derived from the sandbox clock)")
    status: CardStatus = Field(description="The card's status after the event")
    reason: str | None
    actor: str


class CardSummary(BaseModel):
    sequence: int = Field(description="The citizen's cards are numbered from 1; the highest is "
                                      "the one in use")
    generation: Generation
    issue_date: date
    expiry_date: date | None = Field(description="null: no expiry (Không thời hạn)")
    status: CardStatus


class Card(CardSummary):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "pin": "001093047064", "sequence": 1, "generation": "cccd_2021",
        "issue_date": "2021-04-01", "expiry_date": "2033-01-05", "status": "active",
        "status_reason": None, "title": "CĂN CƯỚC CÔNG DÂN / Citizen Identity Card",
        "legal_specimen": "Circular 06/2021/TT-BCA",
        "issuing_authority": "CỤC TRƯỞNG CỤC CẢNH SÁT QUẢN LÝ HÀNH CHÍNH VỀ TRẬT TỰ XÃ HỘI / …",
        "mrz": ["IDVNM0930470641001093047064<<2", "9301054M3301052VNM<<<<<<<<<<<8",
                "UNG<<HOANG<HIEP<<<<<<<<<<<<<<<"],
        "qr_payload": "001093047064||Ứng Hoàng Hiệp|05011993|Nam|Số 12 Hàng Bạc, …|01042021",
        "front": [{"field": "pin", "label": "Số / No.", "value": "001093047064"}],
        "back": [{"field": "issue_date", "label": "Ngày, tháng, năm / Date, month, year",
                  "value": "01/04/2021"}],
        "document_signer": "dsc/0",
        "history": [{"at": "2021-04-01T02:00:00Z", "action": "issued", "status": "active",
                     "reason": "first_issue", "actor": "generator"}],
        "cards": [{"sequence": 1, "generation": "cccd_2021", "issue_date": "2021-04-01",
                   "expiry_date": "2033-01-05", "status": "active"}]}]})

    pin: str
    status_reason: str | None
    title: str
    legal_specimen: str
    issuing_authority: str
    mrz: list[str] = Field(description="The three 30-character TD1 lines, as printed and in DG1")
    qr_payload: str = Field(description="PIN|old CMND|full name|ddmmyyyy|Nam/Nữ|address|issue "
                                        "ddmmyyyy")
    front: list[PrintedField]
    back: list[PrintedField]
    document_signer: str = Field(description="Label of the DSC that signed the chip (dsc/<n>: the "
                                             "n-th half year since 2021-01)")
    history: list[CardEvent]
    cards: list[CardSummary] = Field(description="All the citizen's cards, latest first")


class ChipFiles(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"files": {
        "EF.COM": "YBZfAQQwMTA3XzYGMDQwMDAwXAVhdW1ubw==", "EF.SOD": "d4IFdDCC…",
        "DG1": "YVtfH1hJRFZOTTA5…"}}]})

    files: dict[str, str] = Field(description="Base64 of each file as the chip returns it: "
                                              "EF.COM, EF.SOD, DG1, DG2, DG13, DG14, DG15")


class ChallengeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid",
                              json_schema_extra={"examples": [{"challenge": "0011223344556677"}]})

    challenge: EncodedBytes = Field(description="8 bytes: 16 hex digits, or base64")


class ChallengeResponse(BaseModel):
    challenge: str = Field(description="The challenge, hex")
    response: str = Field(description="The chip's signature, base64")
    response_hex: str
    algorithm: Literal["ecdsa-plain-sha256"] = Field(
        description="Plain r‖s ECDSA (BSI TR-03111) with SHA-256, key in DG15")


class ActiveAuthentication(BaseModel):
    model_config = ConfigDict(extra="forbid")

    challenge: EncodedBytes = Field(description="The 8-byte challenge sent: hex or base64")
    response: EncodedBytes = Field(description="The chip's answer: base64 (or hex)")


class VerifyRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "files": {"EF.SOD": "d4IFdDCC…", "DG1": "YVtfH1hJRFZOTTA5…", "DG13": "bYIBaTCC…"},
        "active_authentication": {"challenge": "0011223344556677", "response": "q83v…"}}]})

    files: dict[FileName, FileText] = Field(
        max_length=20, description="Base64 files as read: EF.SOD and the data groups (DG1, DG2, "
                                   "...); EF.COM is accepted and ignored")
    active_authentication: ActiveAuthentication | None = None


class Step(BaseModel):
    code: str = Field(description="Stable step code (docs/cards.md)")
    status: Literal["pass", "fail", "warn", "skipped"]
    reason: str | None = Field(description="Stable reason code unless the step passed")
    detail: str
    subject: str | None = Field(description="The data group (dg.hash) or input field concerned")


class Signer(BaseModel):
    subject: str
    serial_number: str = Field(description="Hex")
    not_before: UtcDatetime
    not_after: UtcDatetime


class VerifyResponse(BaseModel):
    verdict: Literal["pass", "fail"] = Field(description="fail when any step failed")
    reasons: list[str] = Field(description="Reasons of the failed steps, each once, in order")
    warnings: list[str] = Field(description="Reasons of the steps that warn (verdict unchanged)")
    steps: list[Step]
    pin: str | None = Field(description="The PIN in DG1, when the SOD vouches for it")
    document_signer: Signer | None
    signing_time: UtcDatetime | None


class CardChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str | None = Field(default=None, max_length=32, pattern=r"^[a-z0-9_]+$",
                               description="Why (issue: first_issue, reissue_after_loss, "
                                           "under_14_on_request; renew: renewal_age, "
                                           "data_changed, damaged, admin_unit_change, on_request; "
                                           "revoke: authority, death, fraud, ...)")


class CardChanged(CardSummary):
    pin: str
    status_reason: str | None


class ExpectedResult(BaseModel):
    verdict: Literal["pass", "fail"]
    failing: list[dict[str, str]] = Field(description="Steps that must fail: code and reason")


class Persona(BaseModel):
    key: str
    title: str
    pin: str
    sequence: int
    status: CardStatus
    mrz: list[str]
    access_key: str = Field(description="X-Chip-Access-Key for GET /v1/cards/{pin}/chip")
    needs_active_authentication: bool = Field(
        description="The failure shows only when the read includes active authentication")
    expected: ExpectedResult


class PersonaList(BaseModel):
    personas: list[Persona]
