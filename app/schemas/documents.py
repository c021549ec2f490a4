"""Models of the integrated documents (docs/documents.md) and the sector checks."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from app.schemas.citizens import FieldResult, Status
from app.schemas.common import ClaimText
from app.schemas.examples import EXAMPLES

DocumentKind = Literal["health_insurance", "driving_licence", "vehicle_registration",
                       "tax_registration", "social_insurance", "vaccination"]


class Facility(BaseModel):
    code: str = Field(description="5 digits: province (2) and facility (3).")
    name: str


class _Document(BaseModel):
    number: str
    status: str | None = None
    status_reason: str | None = None


class HealthInsuranceCard(_Document):
    """BHYT card: ``number`` is the PIN since 2025-08-01, the 10-digit social-insurance code
    (``legacy_number``) before; ``card_code`` the 15-character code (group, benefit level,
    province, legacy number)."""

    kind: Literal["health_insurance"]
    legacy_number: str
    card_code: str
    pin: str
    group: str = Field(description="Participant group (Decision 1351/QĐ-BHXH): DN, HC, TE, ...")
    benefit_level: int = Field(ge=1, le=5)
    benefit_rate: int = Field(description="Share of covered costs the fund pays, in %.")
    registered_facility: Facility
    valid_from: date
    valid_to: date
    five_years_continuous_from: date
    status: Literal["valid", "expired", "ended", "suspended"]


class DrivingLicence(_Document):
    kind: Literal["driving_licence"]
    class_: str = Field(alias="class", description="A1, A, B, C (Law 36/2024) or A1, A2, B2, C "
                                                    "(issued before 2025-01-01)")
    class_system: Literal["2008", "2024"]
    vehicles: str
    first_issued_on: date
    issued_on: date
    valid_to: date | None = Field(description="null: no expiry (A1, A, A2)")
    issuing_province: str | None
    points: int = Field(ge=0, le=12)
    last_deduction_on: date | None
    knowledge_test_from: date | None
    status: Literal["valid", "expired", "suspended", "revoked", "void"]

    model_config = ConfigDict(populate_by_name=True)


class VehicleRegistration(_Document):
    kind: Literal["vehicle_registration"]
    plate: str
    vehicle_kind: Literal["motorcycle", "car"]
    brand: str
    registered_on: date
    status: Literal["registered", "owner_deceased"]


class TaxRegistration(_Document):
    kind: Literal["tax_registration"]
    tax_id: str | None = Field(description="The PIN since 2025-07-01")
    legacy_tax_code: str | None = Field(description="10-digit code issued before 2025-07-01")
    registered_on: date
    tax_office: str | None
    status: Literal["active", "closed"]


class SocialInsuranceBook(_Document):
    kind: Literal["social_insurance"]
    legacy_number: str
    scheme: Literal["compulsory", "voluntary"]
    started_on: date
    contribution_months: int
    status: Literal["participating", "pension", "ended", "suspended"]


class Vaccination(_Document):
    kind: Literal["vaccination"]
    antigen: str
    vaccine: str
    dose: int
    date: date
    place: Facility


Document = Annotated[HealthInsuranceCard | DrivingLicence | VehicleRegistration |
                     TaxRegistration | SocialInsuranceBook | Vaccination,
                     Field(discriminator="kind")]


class JudicialCertificateShown(BaseModel):
    """A criminal-record certificate request as the VNeID app lists it among the documents:
    delivered ones, and those still pending (rejected ones are only in
    ``/v1/me/judicial-records``)."""

    request_id: int
    certificate_type: Literal[1, 2] = Field(description="No. 1 (Art. 42) or No. 2 (Art. 43)")
    title: str = Field(examples=["PHIẾU LÝ LỊCH TƯ PHÁP SỐ 1"])
    status: Literal["submitted", "checking", "issued", "delivered"]
    submitted_at: datetime
    issued_on: date | None = Field(None, description="Vietnamese date of issue, once issued")
    certificate_number: str | None = None
    certificate_url: str | None = Field(
        None, description="The signed certificate (GET, same token), once issued")
    request_url: str = Field(description="The request's status and timeline")


class MyDocuments(BaseModel):
    """What the VNeID app shows under "Giấy tờ tích hợp" (integrated documents)."""

    pin: str
    account_level: Literal[2]
    documents: dict[DocumentKind, list[Document]]
    judicial_records: list[JudicialCertificateShown] | None = Field(
        None, description="Criminal-record certificates, newest first: for the citizen's own "
                          "app, or a token that also carries vneid.judicial_record (absent "
                          "otherwise)")


class CitizenDocuments(BaseModel):
    pin: str
    status: Status
    kind: DocumentKind
    documents: list[Document]
    superseded_pin: str | None = None


class DocumentChanged(CitizenDocuments):
    event_id: int = Field(description="The <kind>.changed event in the feed (GET /v1/events)")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DocumentChange(_Strict):
    """An authority's decision on a generated document, stored as an override: a suspension or
    revocation, a new end date, points deducted from a driving licence."""

    kind: DocumentKind = Field(examples=["driving_licence"])
    number: str | None = Field(None, max_length=24, pattern=r"^[0-9A-Za-z-]+$",
                               description="One document of the kind (none: all of them)")
    status: Literal["suspended", "revoked"] | None = None
    valid_to: date | None = Field(None, description="A new end date (earlier: expired)")
    points_deducted: int | None = Field(None, ge=1, le=12, examples=[2],
                                        description="Driving licences (Law 36/2024 Art. 58)")
    reason: str | None = Field(None, max_length=40, pattern=r"^[a-z0-9_]+$",
                               examples=["speeding"])
    effective_on: date | None = Field(None, description="Default: today (sandbox clock)")

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"kind": "driving_licence", "points_deducted": 2, "reason": "speeding"}]})

    @model_validator(mode="after")
    def _changes_something(self) -> DocumentChange:
        if self.status is None and self.valid_to is None and self.points_deducted is None:
            raise ValueError("give status, valid_to or points_deducted")
        if self.points_deducted is not None and self.kind != "driving_licence":
            raise ValueError("points_deducted applies to driving licences only")
        return self


class HealthInsuranceCheckRequest(_Strict):
    pin: str = Field(max_length=64, examples=[EXAMPLES["pin"]])
    facility_code: str | None = Field(None, pattern=r"^[0-9]{5}$",
                                      description="The checking facility: the answer says "
                                                  "whether the citizen is registered there.")


class HealthInsuranceCheck(BaseModel):
    pin: str
    citizen_status: Status
    insured: bool
    valid: bool = Field(description="A card in force today (not expired, ended or suspended)")
    status: str | None = None
    status_reason: str | None = None
    number: str | None = None
    legacy_number: str | None = None
    card_code: str | None = None
    benefit_level: int | None = None
    benefit_rate: int | None = None
    registered_facility: Facility | None = None
    valid_from: date | None = None
    valid_to: date | None = None
    five_years_continuous_from: date | None = None
    at_registered_facility: bool | None = None


class IdentityCheckRequest(_Strict):
    pin: str = Field(max_length=64, examples=[EXAMPLES["pin"]])
    full_name: ClaimText = Field(examples=[EXAMPLES["full_name"]])
    birth_date: date = Field(examples=[EXAMPLES["birth_date"]])


class IdentityCheck(BaseModel):
    pin: str
    verdict: Literal["match", "no_match", "inconclusive"]
    status: Status
    fields: dict[str, FieldResult]
    card_valid: bool | None = Field(None, description="Bank check only: a valid chip card")
