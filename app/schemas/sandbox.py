"""API contract of the sandbox controls: personas, faults, the clock, tenants, recent requests."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from app.schemas.common import UtcDatetime

PIN_EXAMPLE = "001186185248"


class Expected(BaseModel):
    """What a channel's response shows for a persona (the fields the tests compare)."""

    request: str
    http_status: int | None = None
    status: str | None = Field(None, description="lookup/verification: the record's status")
    verdict: str | None = Field(None, description="verification: match, no_match, ...; "
                                                  "chip: pass or fail")
    failing: list[str] | None = Field(None, description="chip: the failing steps, code:reason")
    problem: str | None = Field(None, description="the problem type's code")
    result: Literal["code", "error", "http"] | None = Field(
        None, description="login: a code, an error redirect, or a plain HTTP answer (a fault)")
    acr: str | None = None
    error: str | None = Field(None, description="login: the error of the redirect")
    delay_ms: int | None = Field(None, description="fault personas: the added latency")


class PersonaCard(BaseModel):
    sequence: int
    generation: str
    status: str
    expiry_date: date | None
    mrz: list[str]
    access_key: str = Field(description="X-Chip-Access-Key: hex K_seed from the MRZ")
    card_persona: str | None


class PersonaLogin(BaseModel):
    state: str
    level: int
    lock_reasons: list[str]
    password: str
    passcode: str
    device_token: str | None
    account_persona: str | None


class PersonaDocument(BaseModel):
    """A document persona's changed document (docs/personas.md, "Document personas")."""

    request: str
    kind: str
    status: str
    reason: str


class Persona(BaseModel):
    key: str
    title: str
    notes: str | None
    pin: str
    current_pin: str = Field(description="The PIN in force (differs after a re-establishment)")
    fault: str | None = Field(description="X-Sandbox-Fault every request naming it gets")
    same_as: str | None = Field(description="The card or account persona it is")
    full_name: str | None
    birth_date: date | None
    sex: str | None
    status: str | None
    card: PersonaCard | None
    vneid: PersonaLogin | None
    expected: dict[str, Expected]
    document: PersonaDocument | None = None


class PersonaCatalogue(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "tenant": None, "seed": 6, "personas": [{
            "key": "card-lost", "title": "Card reported lost: the chip fails, the VNeID login "
            "still works", "notes": None, "pin": "017200962606", "current_pin": "017200962606",
            "fault": None, "same_as": "card persona lost-card", "full_name": "Nguyễn Ngọc Phúc",
            "birth_date": "2000-12-18", "sex": "F", "status": "alive",
            "card": {"sequence": 1, "generation": "can_cuoc_2024", "status": "lost",
                     "expiry_date": "2025-12-18", "mrz": ["IDVNM…", "…", "…"],
                     "access_key": "5f0c…", "card_persona": "lost-card"},
            "vneid": {"state": "active", "level": 2, "lock_reasons": [],
                      "password": "Vneid@2025", "passcode": "123456", "device_token": None,
                      "account_persona": None},
            "expected": {
                "lookup": {"request": "GET /v1/citizens/{pin}", "http_status": 200,
                           "status": "alive"},
                "verification": {"request": "POST /v1/citizens/verify", "http_status": 200,
                                 "status": "alive", "verdict": "match"},
                "chip": {"request": "POST /v1/cards/verify", "http_status": 200,
                         "verdict": "fail", "failing": ["db.card_status:card_lost"]},
                "login": {"request": "GET /oauth2/authorize + X-Sandbox-Login",
                          "result": "code", "acr": "LoA2"}}}],
        "channel_personas": {"cards": "/v1/sandbox/personas/cards",
                             "accounts": "/v1/admin/accounts/personas"}}]})

    tenant: str | None = Field(description="The tenant these personas live in (None: the "
                                           "deployment)")
    seed: int
    personas: list[Persona]
    channel_personas: dict[str, str] = Field(
        description="The card and account personas these build on, with more failure cases")


# --- the clock ------------------------------------------------------------------------------------


class ClockState(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "now": "2030-01-01T00:00:00Z", "frozen": True, "offset_seconds": 0.0,
        "version": 3, "tenant": None}]})

    now: datetime
    frozen: bool
    offset_seconds: float = Field(description="Added to real time when not frozen")
    version: int = Field(description="Grows with every stored change")
    tenant: str | None


class ClockFreeze(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={
        "examples": [{}, {"at": "2030-01-01T00:00:00Z"}]})

    at: UtcDatetime | None = Field(None, description="The instant to stop at (default: now)")


class ClockAdvance(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={
        "examples": [{"seconds": 60}, {"days": 365}, {"seconds": 601}]})

    seconds: int = Field(0, ge=-10 * 366 * 86400, le=100 * 366 * 86400)
    days: int = Field(0, ge=-3660, le=36600)

    @model_validator(mode="after")
    def _something(self) -> ClockAdvance:
        if not self.seconds and not self.days:
            raise ValueError("give seconds or days")
        return self


# --- faults ---------------------------------------------------------------------------------------


class FaultRuleCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"fault": "fail-first=2; status=503", "method": "POST", "path": "/oauth2/token"},
        {"fault": "latency=800ms", "path": "/v1/citizens/*"}]})

    fault: str = Field(max_length=200, description="The X-Sandbox-Fault syntax")
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE"] | None = None
    path: str | None = Field(None, max_length=200, pattern=r"^/[\x21-\x7e]*$",
                             description="A route template, an exact path or a prefix*")
    client_id: str | None = Field(None, max_length=64,
                                  description="Admin token only: the client the rule is for")


class FaultRuleOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    client_id: str
    fault: str
    method: str | None
    path: str | None
    created_at: UtcDatetime


class FaultRuleList(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"rules": [{
        "id": "fr_3f2a9c1d0b7e4a55", "client_id": "demo", "fault": "fail-first=2; status=503",
        "method": "POST", "path": "/oauth2/token", "created_at": "2026-12-02T09:00:00Z"}]}]})

    rules: list[FaultRuleOut]


# --- tenants --------------------------------------------------------------------------------------


class TenantCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={
        "examples": [{"seed": 6, "size": 2000}]})

    seed: int | None = Field(None, ge=0, le=2**63 - 1, description="Default: the deployment's")
    size: int = Field(2000, ge=100, le=20_000, description="People generated")


class TenantOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "id": "t3c9a1f07d2e84b61", "seed": 6, "size": 2000, "status": "ready", "generation": 1,
        "owner": "demo", "created_at": "2026-12-02T09:00:00Z",
        "header": {"X-Sandbox-Tenant": "t3c9a1f07d2e84b61"}}]})

    id: str
    seed: int
    size: int
    status: str
    generation: int
    owner: str
    created_at: UtcDatetime
    header: dict[str, str] = Field(description="Send it with every request meant for the tenant")


class TenantList(BaseModel):
    tenants: list[TenantOut]


# --- recent requests ------------------------------------------------------------------------------


class RecentRequest(BaseModel):
    at: UtcDatetime
    request_id: str
    method: str
    path: str = Field(description="The route template, never the raw path")
    status: int
    duration_ms: float
    client_id: str | None
    client_authenticated: bool = Field(
        description="Whether the request proved it is client_id (false: the id is only claimed, "
                    "an unauthenticated token request's, shown to the admin only)")
    tenant: str | None
    fault: str | None


class RecentRequests(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"requests": [{
        "at": "2026-12-02T09:00:00Z", "request_id": "7f3c…", "method": "GET",
        "path": "/v1/citizens/{pin}", "status": 200, "duration_ms": 3.2, "client_id": "demo",
        "client_authenticated": True, "tenant": None, "fault": None}]}]})

    requests: list[RecentRequest]
