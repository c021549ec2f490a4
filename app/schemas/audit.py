"""Audit-trail models (``/v1/audit``)."""

from __future__ import annotations

from pydantic import BaseModel, Field

from app.schemas.common import UtcDatetime


class AuditRecordOut(BaseModel):
    seq: int
    created_at: UtcDatetime
    client_id: str
    purpose: str
    action: str
    pin: str | None = Field(
        description="Masked (0790****5440); the full PIN stays in the database."
    )
    fields: list[str]
    result: str
    request_id: str
    prev_hash: str
    hash: str


class AuditPage(BaseModel):
    records: list[AuditRecordOut]
    next_cursor: str | None
