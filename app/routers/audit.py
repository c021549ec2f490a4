"""``GET /v1/audit``: a client reads its own trail; the admin (or an ``audit.all`` client) reads
all."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from app.dependencies import ReadSessionDep
from app.errors import Forbidden
from app.models.audit import AuditRecord
from app.pin import mask
from app.schemas.audit import AuditPage, AuditRecordOut
from app.security import Caller, any_caller
from app.services.kit.keys import aware
from app.services.kit.pagination import decode_cursor, encode_cursor
from app.services.sharing import audit

router = APIRouter(prefix="/v1/audit", tags=["audit"])


class OtherClientsTrail(Forbidden):
    code, title = "audit-scope", "Reading other clients' audit trails needs the audit.all scope"


def _out(record: AuditRecord) -> AuditRecordOut:
    return AuditRecordOut(
        seq=record.seq,
        created_at=aware(record.created_at),
        client_id=record.client_id,
        purpose=record.purpose,
        action=record.action,
        pin=mask(record.pin) if record.pin else None,
        fields=record.fields.split(),
        result=record.result,
        request_id=record.request_id,
        prev_hash=record.prev_hash,
        hash=record.hash,
    )


def _trail_owner(caller: Caller, client_id: str | None) -> str | None:
    """Whose records the caller may read: its own, or anyone's (``None`` = all) with oversight."""
    if caller.has("audit.all"):
        return client_id
    if client_id not in (None, caller.client_id):
        raise OtherClientsTrail()
    return caller.client_id


@router.get(
    "",
    response_model=AuditPage,
    summary="Read the audit trail, newest first",
    responses={
        401: {"description": "Missing or invalid token"},
        403: {"description": "Another client's trail without audit.all"},
    },
)
def read_trail(
    caller: Annotated[Caller, Depends(any_caller)],
    session: ReadSessionDep,
    client_id: Annotated[str | None, Query(max_length=64)] = None,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> Any:
    before = decode_cursor(cursor, kind="audit", key_type=int) if cursor else None
    records = audit.trail(
        session, client_id=_trail_owner(caller, client_id), before_seq=before, limit=limit
    )
    next_cursor = encode_cursor("audit", records[-1].seq) if len(records) == limit else None
    return AuditPage(records=[_out(r) for r in records], next_cursor=next_cursor)
