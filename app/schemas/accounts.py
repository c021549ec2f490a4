"""Admin API models for VNeID accounts (``/v1/admin/accounts``) and consents."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from app.schemas.common import UtcDatetime
from app.schemas.examples import EXAMPLES

State = Literal["pending", "active", "locked", "closed"]
LockReason = Literal["self_request", "tos_violation", "authority", "pin_reestablished",
                     "card_expired", "card_revoked", "card_held"]
CloseReason = Literal["death", "pin_cancelled", "authority"]
Pin = str  # checked by app.services.population.citizens.checked_pin (never echoed)


class AccountCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "pin": EXAMPLES["account_pin"], "level": 2, "password": "Vneid@2025",
        "passcode": "123456"}]})

    pin: Pin = Field(max_length=32)
    level: Literal[1, 2] = 1
    phone: str | None = Field(None, pattern=r"^0[0-9]{9}$", description="Defaults to the "
                              "population record's mobile number.")
    email: str | None = Field(None, max_length=80)
    password: str | None = Field(None, max_length=64, description="8-20 characters: upper, lower, "
                                 "digit and special.")
    passcode: str | None = Field(None, pattern=r"^[0-9]{6}$")
    activate: bool = Field(True, description="false leaves the account pending verification.")


class LockRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: LockReason
    until: datetime | None = Field(None, description="Manual grounds lapse at this time.")


class UnlockRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: LockReason | None = Field(None, description="Default: every manual ground.")


class CloseRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: CloseReason


class PasswordSet(BaseModel):
    model_config = ConfigDict(extra="forbid")

    password: str = Field(max_length=64)


class PasscodeSet(BaseModel):
    model_config = ConfigDict(extra="forbid")

    passcode: str = Field(pattern=r"^[0-9]{6}$")


class DeviceBind(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field("Sandbox phone", min_length=1, max_length=80)


class DeviceBound(BaseModel):
    device_id: str
    device_token: str = Field(description="Shown only now: the app authenticates with it "
                              "(Authorization: Bearer) to approve QR logins.")


class Device(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    device_id: str
    device_name: str | None
    device_bound_at: UtcDatetime | None


class AccountOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    pin: str
    state: State
    level: Literal[1, 2]
    lock_reasons: list[str]
    locked_by: str | None
    locked_at: UtcDatetime | None
    unlock_due: UtcDatetime | None
    closed_reason: str | None
    closed_at: UtcDatetime | None
    phone: str
    email: str | None
    has_password: bool
    has_passcode: bool
    device: Device | None
    login_locked_until: UtcDatetime | None
    persona: str | None
    created_at: UtcDatetime
    updated_at: UtcDatetime


class AccountEventOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    at: UtcDatetime
    kind: str
    reason: str | None
    actor: str
    state: State
    level: int


class AccountEvents(BaseModel):
    pin: str
    events: list[AccountEventOut]


class SmsOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    phone: str
    body: str
    sent_at: UtcDatetime


class SmsInbox(BaseModel):
    messages: list[SmsOut] = Field(description="Newest first.")


class ConsentOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    client_id: str
    purpose: str
    scopes: list[str]
    method: str
    status: Literal["granted", "withdrawn", "superseded"]
    granted_at: UtcDatetime
    expires_at: UtcDatetime | None
    withdrawn_at: UtcDatetime | None
    withdrawn_by: str | None


class ConsentList(BaseModel):
    consents: list[ConsentOut] = Field(description="Newest first.")


class RelyingPartyOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    client_id: str
    name: str


class LoginSessionOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    sid: str = Field(description="The session's id: the `sid` of the ID and logout tokens.")
    started_at: UtcDatetime
    auth_time: UtcDatetime
    expires_at: UtcDatetime
    level: int = Field(description="The level of assurance the login reached (1 or 2).")
    amr: list[str] = Field(description="How the citizen authenticated (`pwd`, `otp`, ...).")
    relying_parties: list[RelyingPartyOut] = Field(
        description="The relying parties that received tokens in this session.")


class LoginSessionList(BaseModel):
    sessions: list[LoginSessionOut] = Field(description="The live sessions, newest first.")


class SessionsEnded(BaseModel):
    ended: list[str] = Field(description="The `sid` of every session ended.")
    notified: list[str] = Field(description="The relying parties (client ids) a logout token is "
                                            "sent to, after the answer (Back-Channel Logout).")


class PersonaOut(BaseModel):
    key: str
    title: str
    title_vi: str
    pin: str
    full_name: str
    birth_date: str
    state: State
    level: int
    lock_reasons: list[str]
    password: str = Field(description="The shared sandbox password.")
    passcode: str
    device_token: str | None = Field(description="Token of the persona's bound device (QR login "
                                     "approvals), when it has one.")


class PersonaList(BaseModel):
    personas: list[PersonaOut]
