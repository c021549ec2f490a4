"""Life-event requests and results, the event feed, subscriptions and deliveries, the simulation,
and the citizen's access history and data-sharing consents (``/v1/life-events``, ``/v1/events``,
``/v1/subscriptions``, ``/v1/me``)."""

from __future__ import annotations

import unicodedata
from datetime import date
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from app.schemas.common import UtcDatetime
from app.schemas.examples import EXAMPLES

Pin = Annotated[str, Field(min_length=12, max_length=12, pattern=r"^[0-9]{12}$",
                           description="12-digit PIN")]
CommuneCode = Annotated[str, Field(pattern=r"^[0-9]{5}$", description="Commune (GSO) code")]
PlaceCode = Annotated[str, Field(pattern=r"^[0-9]{3}$")]


MAX_NAME_PART = 40


def _name_part(value: str) -> str:
    value = unicodedata.normalize("NFC", " ".join(value.split()))
    if any(unicodedata.category(ch)[0] in ("C", "N", "S") for ch in value):
        raise ValueError("names hold letters, spaces, apostrophes and hyphens only")
    if len(value) > MAX_NAME_PART:  # counted in NFC: the decomposed form of a name is longer
        raise ValueError(f"a name part has at most {MAX_NAME_PART} characters")
    return value


def _required(value: str) -> str:
    if not value:
        raise ValueError("must not be blank")
    return value


def _address_line(value: str) -> str:
    value = unicodedata.normalize("NFC", " ".join(value.split()))
    if not value or any(unicodedata.category(ch)[0] == "C" for ch in value):
        raise ValueError("an address line is printable text")
    return value


# The raw bound only stops absurd input early; the limit is checked after NFC (_name_part).
NamePart = Annotated[str, Field(max_length=4 * MAX_NAME_PART), AfterValidator(_name_part)]
RequiredName = Annotated[str, Field(min_length=1, max_length=4 * MAX_NAME_PART),
                         AfterValidator(_name_part), AfterValidator(_required)]
AddressLine = Annotated[str, Field(min_length=1, max_length=120), AfterValidator(_address_line)]
BirthDate = Annotated[date, Field(ge=date(1900, 1, 1), description="From 1900 (PIN rule R2)")]
RowId = Annotated[int, Field(ge=1, le=2**63 - 1)]


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid")


class BirthRequest(_Request):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "mother_pin": EXAMPLES["birth_mother_pin"], "father_pin": EXAMPLES["birth_father_pin"],
        "surname": EXAMPLES["birth_surname"],
        "middle_name": "Gia", "given_name": "Bảo", "sex": "M", "birth_date": "2026-11-20"}]})

    mother_pin: Pin | None = None
    father_pin: Pin | None = None
    surname: RequiredName
    middle_name: NamePart = ""
    given_name: RequiredName
    sex: Literal["M", "F"]
    birth_date: BirthDate
    birth_place_commune: CommuneCode | None = None
    registration_province: PlaceCode | None = Field(
        None, description="Province code of the registering authority; default: the province of "
                          "the household's address. From 2025-07-01 one of the 34 current codes.")
    registered_abroad_country: PlaceCode | None = Field(
        None, description="Foreign-registration country code (000, 101-295) for a birth "
                          "registered at a mission abroad; the PIN then starts with it.")
    household_id: RowId | None = Field(None, description="Default: the mother's household, "
                                                          "else the father's.")

    @model_validator(mode="after")
    def _one_parent_one_place(self) -> BirthRequest:
        if self.mother_pin is None and self.father_pin is None:
            raise ValueError("a birth names the mother, the father or both")
        if self.registration_province and self.registered_abroad_country:
            raise ValueError("registration_province and registered_abroad_country exclude "
                             "each other")
        return self


class DeathRequest(_Request):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "pin": EXAMPLES["death_pin"], "date_of_death": "2026-11-20"}]})

    pin: Pin
    date_of_death: date | None = Field(None, description="Default: the sandbox day")


class ResidenceChangeRequest(_Request):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "pin": EXAMPLES["residence_pin"], "kind": "temporary",
        "commune_code": EXAMPLES["residence_commune_code"],
        "address_line": "15 Nguyễn Trãi", "valid_until": "2028-11-19"}]})

    pin: Pin
    kind: Literal["permanent", "temporary", "current"]
    commune_code: CommuneCode | None = None
    address_line: AddressLine | None = None
    registered_on: date | None = Field(None, description="Default: the sandbox day")
    valid_until: date | None = Field(None, description="Temporary residence only: at most two "
                                                       "years (default two years)")
    household: Literal["new", "join", "move_household"] = Field(
        "new", description="Permanent residence only: head a new household at the address, join "
                           "household_id, or move the whole household (the citizen is its head)")
    household_id: RowId | None = None
    relationship_to_head: int | None = Field(None, ge=1, le=99)


class MarriageRequest(_Request):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "husband_pin": EXAMPLES["marriage_husband_pin"],
        "wife_pin": EXAMPLES["marriage_wife_pin"]}]})

    husband_pin: Pin
    wife_pin: Pin
    married_on: date | None = Field(None, description="Default: the sandbox day")


class DivorceRequest(_Request):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "pin": EXAMPLES["divorce_pin"], "spouse_pin": EXAMPLES["divorce_spouse_pin"]}]})
    pin: Pin
    spouse_pin: Pin
    divorced_on: date | None = Field(None, description="Default: the sandbox day")


class NameChangeRequest(_Request):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "pin": EXAMPLES["name_change_pin"], "given_name": "Minh",
        "reason": "civil_status_decision"}]})

    pin: Pin
    surname: RequiredName | None = None
    middle_name: NamePart | None = None
    given_name: RequiredName | None = None
    reason: Literal["civil_status_decision", "correction", "adoption", "other"] = "other"

    @model_validator(mode="after")
    def _changes_something(self) -> NameChangeRequest:
        if self.surname is None and self.middle_name is None and self.given_name is None:
            raise ValueError("give the new surname, middle name or given name")
        return self


class CardChangeRequest(_Request):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "pin": EXAMPLES["card_change_pin"], "action": "lost"}]})
    pin: Pin
    action: Literal["lost", "revoked", "renewed", "issued"]
    reason: str | None = Field(None, max_length=32, description="Card reason code "
                                                                "(docs/cards.md)")


class PinReestablishmentRequest(_Request):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "pin": EXAMPLES["pin_reestablishment_pin"], "reason": "birth_year_corrected",
        "birth_date": EXAMPLES["pin_reestablishment_birth_date"]}]})

    pin: Pin
    reason: Literal["sex_redetermined", "birth_year_corrected", "registration_place_corrected",
                    "data_entry_error"]
    sex: Literal["M", "F"] | None = None
    birth_date: BirthDate | None = None
    registration_place: PlaceCode | None = None


# --- results and the feed -------------------------------------------------------------------------

EventType = Literal["birth.registered", "health_insurance.enrolment", "death.registered",
                    "funeral_allowance.eligible", "residence.changed", "marriage.registered",
                    "divorce.registered", "marriage.ended_by_death", "name.changed",
                    "card.changed", "pin.reestablished", "health_insurance.changed",
                    "driving_licence.changed", "vehicle_registration.changed",
                    "tax_registration.changed", "social_insurance.changed", "vaccination.changed"]


class Event(BaseModel):
    id: int = Field(description="Position in the feed (seq)")
    type: str
    pin: str
    occurred_on: date
    recorded_at: str
    cause_id: int | None = Field(None, description="The event this one is linked to")
    data: dict[str, Any] = Field(description="Record fields your scopes allow, and metadata")


class LifeEventResult(BaseModel):
    pin: str = Field(description="The citizen the event is about (a birth's or a "
                                 "re-establishment's new PIN)")
    event: Event
    linked_events: list[Event]


class EventPage(BaseModel):
    items: list[Event]
    next_cursor: str = Field(description="Pass as ?cursor= to continue; poll it for new events")


# --- subscriptions and deliveries -----------------------------------------------------------------


class SubscriptionCreate(_Request):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "url": "https://rp.example/hooks/dancu", "event_types": ["death.registered"],
        "scopes": ["citizen.basic"]}]})

    url: str = Field(min_length=8, max_length=2000)
    event_types: list[str] = Field(min_length=1, max_length=20,
                                   description="Event types, or [\"*\"] for every type")
    scopes: list[str] | None = Field(None, max_length=10, description="What payloads may "
                                     "carry (default: every payload scope the client holds)")
    purpose: str | None = Field(None, max_length=64, description="Default: the token's purpose")


class SubscriptionUpdate(_Request):
    url: str | None = Field(None, min_length=8, max_length=2000)
    event_types: list[str] | None = Field(None, min_length=1, max_length=20)
    scopes: list[str] | None = Field(None, max_length=10)
    status: Literal["active", "paused"] | None = None


class SubscriptionOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    url: str
    event_types: list[str]
    scopes: list[str]
    purpose: str
    status: str
    created_at: UtcDatetime
    updated_at: UtcDatetime


class SubscriptionCreated(SubscriptionOut):
    secret: str = Field(description="Shown only now: verify the X-Dancu-Signature header with it")


class SubscriptionList(BaseModel):
    subscriptions: list[SubscriptionOut]


class AttemptOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    attempted_at: UtcDatetime
    status_code: int | None
    error: str | None
    duration_ms: int


class DeliveryOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    event_id: int
    status: Literal["pending", "delivered", "failed"]
    attempts: int
    next_attempt_at: UtcDatetime | None
    last_status_code: int | None
    last_error: str | None
    created_at: UtcDatetime
    delivered_at: UtcDatetime | None
    history: list[AttemptOut] = []


class DeliveryList(BaseModel):
    deliveries: list[DeliveryOut]


class ReplayResult(BaseModel):
    replayed: int


class DeliveryPass(BaseModel):
    attempted: int
    delivered: int
    failed: int
    retrying: int


# --- simulation -----------------------------------------------------------------------------------


class SimulationRequest(_Request):
    days: int = Field(ge=1, le=3660)
    seed: int | None = Field(None, ge=0, le=2**63 - 1, description="Default: the service seed")


class SimulationResult(BaseModel):
    days: int
    start: str
    end: str
    counts: dict[str, int]
    expected: dict[str, float]
    population: int


# --- the citizen's side ---------------------------------------------------------------------------


class AccessOut(BaseModel):
    at: str
    client_id: str
    client_name: str | None
    purpose: str
    action: str
    fields: list[str]
    result: str
    pin: str = Field(description="The number asked about (an old PIN after a re-establishment)")


class AccessHistory(BaseModel):
    items: list[AccessOut]
    next_cursor: str | None


class DataConsentCreate(_Request):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "client_id": "demo", "purpose": "sandbox-testing",
        "scopes": ["citizen.basic", "citizen.residence"], "expires_at": "2027-11-25T00:00:00Z"}]})

    client_id: str = Field(min_length=1, max_length=64)
    purpose: str = Field(min_length=1, max_length=64)
    scopes: list[str] = Field(min_length=1, max_length=10)
    expires_at: UtcDatetime | None = None


class AdminConsentCreate(DataConsentCreate):
    pin: Pin
    method: Literal["written", "admin"] = "written"


class DataConsentOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    client_id: str
    purpose: str
    scopes: list[str]
    method: str
    status: str
    in_force: bool = False
    granted_at: UtcDatetime
    expires_at: UtcDatetime | None
    withdrawn_at: UtcDatetime | None


class DataConsentList(BaseModel):
    consents: list[DataConsentOut]
