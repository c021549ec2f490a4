"""Request and response models of the chip over APDUs (``/v1/cards/{pin}/chip/sessions``,
``/v1/cards/{pin}/chip/apdu``)."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from app.schemas.common import UtcDatetime

ApduText = Annotated[str, StringConstraints(max_length=140_000)]
SessionId = Annotated[str, StringConstraints(min_length=1, max_length=64)]


class SessionRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{}]})

    sequence: int | None = Field(None, ge=1, le=99,
                                 description="A card other than the PIN's latest")


class SessionOpened(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "session_id": "q3Zy0eXQk1hVw8m2lYQv7H0mD9bq0E9e7Sx4bR5cT1U", "sequence": 1,
        "expires_at": "2026-12-07T08:05:00Z", "atr": "3B8880014D5254440000000006"}]})

    session_id: str = Field(description="Send it with each APDU exchange")
    sequence: int = Field(description="Which of the PIN's cards is in the field")
    expires_at: UtcDatetime = Field(description="5 minutes after the last exchange (sandbox "
                                                "clock)")
    atr: str = Field(description="Answer to reset, hex, as a PC/SC reader reports it")


class ApduRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "session_id": "q3Zy0eXQk1hVw8m2lYQv7H0mD9bq0E9e7Sx4bR5cT1U",
        "apdus": ["00A4040C07A0000002471001", "0084000008"]}]})

    session_id: SessionId
    apdus: list[ApduText] = Field(min_length=1, max_length=64,
                                  description="Command APDUs, hex (spaces allowed), in order")


class ApduResponse(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "responses": ["9000", "4608F919887022129000"], "delay_ms": 0,
        "expires_at": "2026-12-07T08:05:00Z"}]})

    responses: list[str] = Field(description="The chip's response APDUs, hex: data then SW1 SW2")
    delay_ms: int = Field(description="How long the chip took (the chip-slow persona); the "
                                      "answer was held that long")
    expires_at: UtcDatetime
