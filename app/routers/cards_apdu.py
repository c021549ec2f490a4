"""``/v1/cards/{pin}/chip/sessions`` and ``/v1/cards/{pin}/chip/apdu``: the card's chip as a reader
sees it, raw command APDUs in, response APDUs out (``app.services.cards.chip_apdu``)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Depends, Request, Response, status
from sqlalchemy.orm import Session

from app.errors import problem_response
from app.routers.cards import PkiDep, SeedDep, _client_access, _problems
from app.schemas import chip_apdu as schemas
from app.security import Caller, RequestNow, require_scope, runtime
from app.services.cards import access as cards_access
from app.services.cards import chip_apdu
from app.services.cards.access import CardAccess
from app.services.cards.issuance import CardNotFound
from app.services.kit import throttle
from app.services.population.citizens import AuditFailed, checked_pin
from app.services.sharing.audit_writer import AuditUnavailable

T = TypeVar("T")
router = APIRouter(prefix="/v1/cards", tags=["cards"])
ReadCaller = Annotated[Caller, Depends(require_scope("card.read"))]
pause = asyncio.sleep  # the chip-slow persona's delay (tests replace it)


def _access(caller: Caller, now: Any, request: Request) -> CardAccess:
    """Audited under the client and its purpose, as the JSON chip read is."""
    return _client_access(caller, now)


def _checks(request: Request, pin: str, caller: Caller) -> list[throttle.Check]:
    """The JSON chip read's failure counters (per (client, card), per client): one lockout for
    both."""
    return cards_access.chip_checks(request.app.state.settings, pin=pin,
                                    client_id=caller.client_id)


async def _audited_write(request: Request, access: CardAccess,
                         work: Callable[[Session], T]) -> T:
    """Run ``work`` in a writing transaction, then commit the audit entries it noted (also when
    it raised a problem) before answering."""
    shared = runtime(request)

    def write() -> T:
        with shared.database.write() as session:
            return work(session)

    try:
        return await shared.run_blocking(write)
    finally:
        try:
            await shared.audit.append(access.entries, now=access.now)
        except AuditUnavailable:
            raise AuditFailed() from None


def _session_problems() -> dict[int | str, dict[str, Any]]:
    return {**_problems(401, 403, 422, 429),
            404: {"description": "No card for this number, or no such live chip session",
                  "content": {"application/problem+json": {}}}}


@router.post("/{pin}/chip/sessions", response_model=schemas.SessionOpened,
             status_code=status.HTTP_201_CREATED, responses=_session_problems(),
             summary="Put the card in a reader's field: a chip session that answers APDUs "
                     "(scope card.read)")
async def open_session(pin: str, caller: ReadCaller, now: RequestNow, request: Request,
                       body: schemas.SessionRequest | None = None) -> Any:
    number, access = checked_pin(pin), _access(caller, now, request)
    sequence = body.sequence if body else None
    checks = _checks(request, number, caller)
    opened = await _audited_write(request, access, lambda session: chip_apdu.open_session(
        session, number, sequence=sequence, access=access, checks=checks))
    if opened is None:
        return problem_response(CardNotFound(), request)
    return schemas.SessionOpened(session_id=opened.session_id, sequence=opened.sequence,
                                 expires_at=opened.expires_at, atr=opened.atr.hex().upper())


@router.post("/{pin}/chip/apdu", response_model=schemas.ApduResponse,
             responses=_session_problems(),
             summary="Send command APDUs to the chip of a session; the response APDUs in order "
                     "(scope card.read)")
async def send_apdus(pin: str, body: schemas.ApduRequest, caller: ReadCaller, now: RequestNow,
                     seed: SeedDep, pki: PkiDep, request: Request) -> Any:
    number, access = checked_pin(pin), _access(caller, now, request)
    apdus = chip_apdu.decode_apdus(body.apdus)
    checks = _checks(request, number, caller)
    result = await _audited_write(request, access, lambda session: chip_apdu.exchange(
        session, number, body.session_id, apdus, seed=seed, pki=pki, access=access,
        checks=checks))
    if result.retry_after:
        return problem_response(throttle.too_many(result.retry_after), request)
    if result.delay_ms:
        await pause(result.delay_ms / 1000)
    return schemas.ApduResponse(responses=[r.hex().upper() for r in result.responses],
                                delay_ms=result.delay_ms, expires_at=result.expires_at)


@router.delete("/{pin}/chip/sessions/{session_id}", status_code=status.HTTP_204_NO_CONTENT,
               response_class=Response, responses=_session_problems(),
               summary="Take the card out of the field: end the chip session")
async def close_session(pin: str, session_id: str, caller: ReadCaller, now: RequestNow,
                        request: Request) -> Response:
    number, access = checked_pin(pin), _access(caller, now, request)
    await _audited_write(request, access, lambda session: chip_apdu.close_session(
        session, number, session_id, access=access))
    return Response(status_code=status.HTTP_204_NO_CONTENT)
