"""Request and response models of the citizen endpoints (``/v1/citizens``)."""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from app.schemas.common import ClaimText

# The persona valid-adult-level2 of the default deployment (seed 6, 10,000 people): examples
# that work as given (tests/test_docs_collection.py sends them).
PIN_EXAMPLE = "001099992012"
Status = Literal["alive", "deceased", "missing"]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Unit(BaseModel):
    commune_code: str
    commune: str | None
    province_code: str | None
    province: str | None


class Address(Unit):
    address_line: str | None
    text: str = Field(
        description="Rendered: line, commune, province (two-level units since 2025-07-01)."
    )


class ResidenceAddress(Address):
    registered_on: date
    valid_until: date | None


class Coded(BaseModel):
    code: int
    name: str | None
    name_en: str | None


class Relative(BaseModel):
    pin: str
    full_name: str
    nationality: str


class RegistrationPlace(BaseModel):
    code: str
    name: str | None
    abroad: bool


class HouseholdRef(BaseModel):
    household_id: int
    residence_file_number: str | None
    is_head: bool
    relationship_to_head: Coded | None


class CitizenRecord(BaseModel):
    """A citizen's record, restricted to the fields the token's scopes allow (see docs/scopes.md).

    ``pin`` and ``status`` are always present; every other key appears only with its scope."""

    pin: str
    status: Status
    superseded_pin: str | None = Field(
        None, description="Present when the PIN asked about was cancelled and re-established: "
                          "the record answered is the new PIN's (docs/life-events.md)")
    full_name: str | None = None
    surname: str | None = None
    middle_name: str | None = None
    given_name: str | None = None
    birth_date: date | None = None
    birth_date_precision: Literal["day", "month", "year"] | None = None
    sex: Literal["M", "F"] | None = None
    nationality: str | None = None
    status_date: date | None = None
    other_names: str | None = None
    place_of_birth: Address | None = None
    birth_registration_place: RegistrationPlace | None = None
    place_of_origin: Address | None = None
    old_id_number: str | None = None
    identifying_marks: str | None = None
    permanent_residence: ResidenceAddress | None = None
    temporary_residence: ResidenceAddress | None = None
    current_residence: ResidenceAddress | None = None
    household: HouseholdRef | None = None
    marital_status: Coded | None = None
    father: Relative | None = None
    mother: Relative | None = None
    spouse: Relative | None = None
    children: list[Relative] | None = None
    legal_representative: Relative | None = None
    phone: str | None = None
    email: str | None = None
    ethnicity: Coded | None = None
    religion: Coded | None = None
    blood_group: str | None = None

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "pin": PIN_EXAMPLE,
                    "status": "alive",
                    "full_name": "Trương Ngọc Hoàng",
                    "surname": "Trương",
                    "middle_name": "Ngọc",
                    "given_name": "Hoàng",
                    "birth_date": "1999-04-14",
                    "birth_date_precision": "day",
                    "sex": "M",
                    "nationality": "VN",
                    "status_date": None,
                }
            ]
        }
    )


class HouseholdMember(BaseModel):
    pin: str
    full_name: str
    is_head: bool
    relationship_to_head: Coded | None


class ResidenceConfirmation(BaseModel):
    pin: str
    status: Status
    superseded_pin: str | None = Field(
        None, description="The PIN asked about, when it was cancelled and re-established")
    permanent_residence: ResidenceAddress | None
    temporary_residence: ResidenceAddress | None
    current_residence: ResidenceAddress | None
    household: HouseholdRef | None
    household_members: list[HouseholdMember]


class Attributes(Strict):
    """Claimed attributes; give at least one. Values are compared, never returned."""

    full_name: ClaimText | None = Field(None, examples=["Trương Ngọc Hoàng"])
    birth_date: date | None = Field(None, examples=["1999-04-14"])
    sex: Literal["M", "F"] | None = None
    old_id_number: str | None = Field(None, pattern=r"^[0-9]{9}$", description="Old 9-digit CMND.")
    phone: ClaimText | None = Field(None, examples=["0332736392"])

    @model_validator(mode="after")
    def _something_claimed(self) -> Attributes:
        if not self.model_fields_set - {"pin", "accent_insensitive"}:
            raise ValueError("claim at least one attribute")
        return self


class CitizenVerifyRequest(Attributes):
    pin: str = Field(max_length=64, examples=[PIN_EXAMPLE])
    accent_insensitive: bool = Field(
        False,
        description="Also accept names that differ only in "
        "diacritics; a match found that way is reported as such.",
    )

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "pin": PIN_EXAMPLE,
                    "full_name": "Truong Ngoc Hoang",
                    "birth_date": "1999-04-14",
                    "accent_insensitive": True,
                }
            ]
        },
    )


class FieldResult(BaseModel):
    result: Literal["match", "no_match", "not_on_record"]
    level: Literal["canonical", "accent_insensitive"] | None = None


class NameMatching(BaseModel):
    mode: Literal["canonical", "accent_insensitive"]


Verdict = Literal["match", "no_match", "inconclusive"]


class CitizenVerifyResponse(BaseModel):
    pin: str
    verdict: Verdict
    status: Status = Field(
        description="The record's status: a deceased or missing citizen is reported, never hidden."
    )
    name_matching: NameMatching
    fields: dict[str, FieldResult]


class BatchItem(Attributes):
    pin: str = Field(max_length=64)


class BatchRequest(Strict):
    items: list[BatchItem] = Field(min_length=1, max_length=1000)
    accent_insensitive: bool = False

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "items": [{"pin": PIN_EXAMPLE, "full_name": "Trương Ngọc Hoàng",
                   "birth_date": "1999-04-14"}], "accent_insensitive": False}]})


class BatchResult(BaseModel):
    index: int
    pin: str | None = Field(None,
                            description="The PIN of the item; omitted when it broke a PIN rule.")
    verdict: Literal["match", "no_match", "inconclusive", "pin_not_found", "invalid_pin"]
    rule: str | None = Field(None, description="For invalid_pin: the PIN rule broken.")
    status: Status | None = None
    fields: dict[str, FieldResult] = {}


class BatchResponse(BaseModel):
    name_matching: NameMatching
    summary: dict[str, int]
    results: list[BatchResult]


class ResolveCmndRequest(Strict):
    old_id_number: str = Field(
        pattern=r"^[0-9]{9}$", examples=["012282977"], description="The old 9-digit CMND number."
    )


class ResolvedPin(BaseModel):
    pin: str
    status: Status


class SearchHit(BaseModel):
    pin: str
    full_name: str
    birth_date: date
    sex: Literal["M", "F"]
    status: Status


class SearchPage(BaseModel):
    items: list[SearchHit]
    next_cursor: str | None = Field(
        description="Pass as ?cursor= for the next page; null at the end."
    )
