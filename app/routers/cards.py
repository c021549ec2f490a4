"""``/v1/cards``: the printed card, its images, the virtual chip, verification for relying parties;
``/v1/admin/cards``: issue, renew, report lost, revoke, hold, release; the persona listing."""

from __future__ import annotations

import base64
from collections.abc import Callable
from functools import lru_cache
from typing import Annotated, Any, Literal, TypeVar

from cryptography import x509
from fastapi import APIRouter, Depends, Header, Query, Request, status
from fastapi.responses import JSONResponse, Response
from pydantic_core import to_json
from sqlalchemy.orm import Session

from app.dependencies import NowDep, SessionDep, SettingsDep
from app.errors import NotFound, problem_response
from app.schemas import cards as schemas
from app.security import (
    Caller,
    RequestNow,
    any_caller,
    bearer,
    off_loop,
    request_now,
    require_admin,
    require_scope,
    runtime,
)
from app.services.cards import access as cards_access
from app.services.cards import chip
from app.services.cards import issuance as cards
from app.services.cards.access import CARD_SCOPES, CardAccess
from app.services.cards.issuance import CardNotFound, Change
from app.services.cards.pki import CardPki, card_pki
from app.services.cards.verification import ChipRead, Verification
from app.services.kit import throttle
from app.services.population.citizens import AuditFailed, checked_pin
from app.services.sharing.audit_writer import AuditUnavailable
from app.services.vneid import access_history

T = TypeVar("T")

router = APIRouter(prefix="/v1/cards", tags=["cards"])
admin_router = APIRouter(prefix="/v1/admin/cards", tags=["admin"],
                         dependencies=[Depends(require_admin)])
sandbox_router = APIRouter(prefix="/v1/sandbox/personas", tags=["sandbox"])

ReadCaller = Annotated[Caller, Depends(require_scope("card.read"))]
_verify_caller = require_scope("card.verify")
VerifyCaller = Annotated[Caller, Depends(_verify_caller)]
AccessKey = Annotated[str | None, Header(alias="X-Chip-Access-Key",
                                         description="Hex of the BAC key seed K_seed of the MRZ")]
Sequence = Annotated[int | None, Query(ge=1, le=99, description="A card other than the latest")]
SVG = "image/svg+xml"
ZIP = "application/zip"


async def get_card_pki(request: Request) -> CardPki:
    """The process's test PKI (built once, on first use: a few hundred ms for EC keys)."""
    settings, clock = request.app.state.settings, request.app.state.clock
    return card_pki(request.app.state.database, seed=settings.seed,
                    key_type=settings.pki_key_type, now=clock.now())


async def get_seed(request: Request) -> int:
    return int(request.app.state.settings.seed)


SeedDep = Annotated[int, Depends(get_seed)]


PkiDep = Annotated[CardPki, Depends(get_card_pki)]


def _problems(*codes: int) -> dict[int | str, dict[str, Any]]:
    text = {
        401: "Missing or invalid access token; for the chip: missing or wrong X-Chip-Access-Key",
        429: "Too many wrong access keys for this card or from this client: too-many-failures "
             "with Retry-After",
        403: "The token lacks the scope, the purpose is not registered, or (a consent-based "
             "client) the citizen has not consented to every scope the card shows",
        404: "No card is recorded for this number",
        409: "The card's status does not allow this change",
        413: "Request body too large",
        422: "Invalid input (a PIN rule, a field rule): names the rule, never the value",
    }
    return {code: {"description": text[code], "content": {"application/problem+json": {}}}
            for code in codes}


def _client_access(caller: Caller, now: Any) -> CardAccess:
    return CardAccess(client_id=caller.client_id, purpose=caller.purpose,
                      request_id=caller.request_id, now=now)


async def _audited(request: Request, access: CardAccess, work: Callable[[Session], T]) -> T:
    """Run ``work`` in a read transaction, then wait until the audit entries it noted are
    committed (the process's group-commit writer): no answer leaves without its record."""
    shared = runtime(request)

    def read() -> T:
        with shared.database.read() as session:
            return work(session)

    return await _recorded(shared, access, await shared.run_blocking(read))


async def _recorded(shared: Any, access: CardAccess, result: T) -> T:
    """``result`` once the audit entries ``access`` noted are committed."""
    try:
        await shared.audit.append(access.entries, now=access.now)
    except AuditUnavailable:
        raise AuditFailed() from None
    return result


async def _consented(request: Request, caller: Caller, pin: str, action: str,
                     now: Any) -> None:
    """A consent-based client sees a card only with the citizen's consent to every scope the card
    shows (the lookup's check, access_history.require_consent; the refusal is audited)."""
    if caller.needs_consent:
        asker = access_history.Asker(caller.client_id, caller.purpose, caller.request_id, action)
        await access_history.require_consent(runtime(request), asker, [pin], CARD_SCOPES,
                                             now=now, every=True)


def _card_not_found(request: Request) -> JSONResponse:
    # Returned, not raised: the attempt is audited like any other access.
    return problem_response(CardNotFound(), request)


def _count_wrong_key(request: Request, checks: list[throttle.Check], now: Any) -> None:
    with runtime(request).database.write() as session:
        throttle.count_failure(session, checks, now=now)


async def _chip(request: Request, caller: Caller, pin: str, now: Any, action: str,
                work: Callable[[Session, str, CardAccess], T | None]) -> T | JSONResponse:
    """A chip operation behind the access key: refused while the client is locked out of the
    card; a wrong key counted (per (client, card), per client); every attempt audited under the
    client."""
    number, access = checked_pin(pin), _client_access(caller, now)
    checks = cards_access.chip_checks(request.app.state.settings, pin=number,
                                      client_id=caller.client_id)
    done = await _audited(request, access, lambda session: cards_access.unless_locked(
        session, checks, action=action, pin=number, access=access,
        work=lambda reading: work(reading, number, access)))
    if isinstance(done, cards_access.ChipLocked):
        return problem_response(throttle.too_many(done.retry_after), request)
    if done is None:
        await off_loop(lambda: _count_wrong_key(request, checks, now))
        return problem_response(chip.ChipAccessDenied(), request)
    return done


@router.get("/{pin}", response_model=schemas.Card, responses=_problems(401, 403, 404, 422),
            summary="The printed card: fields of its generation, MRZ, QR payload, status, history")
async def get_card(pin: str, caller: ReadCaller, now: RequestNow, request: Request,
                   sequence: Sequence = None) -> Any:
    number, access = checked_pin(pin), _client_access(caller, now)
    await _consented(request, caller, number, "card_read", now)
    view = await _audited(request, access, lambda session: cards_access.card_view(
        session, number, sequence=sequence, access=access))
    return _card_not_found(request) if view is None else view


@router.get("/{pin}/image/{side}.svg", response_class=Response,
            responses={200: {"content": {SVG: {}}}, **_problems(401, 403, 404, 422)},
            summary="Front or back of the card as SVG (QR code, MRZ, synthetic photo)")
async def get_image(pin: str, side: Literal["front", "back"], caller: ReadCaller, now: RequestNow,
                    seed: SeedDep, request: Request, sequence: Sequence = None) -> Any:
    number, access = checked_pin(pin), _client_access(caller, now)
    await _consented(request, caller, number, "card_image", now)
    svg = await _audited(request, access, lambda session: cards_access.card_image(
        session, number, side, sequence=sequence, seed=seed, access=access))
    return _card_not_found(request) if svg is None else Response(svg, media_type=SVG)


@router.get("/{pin}/chip", response_model=schemas.ChipFiles,
            responses={200: {"content": {ZIP: {}}}, **_problems(401, 403, 422, 429)},
            summary="The chip's files (JSON of base64, or a zip with Accept: application/zip); "
                    "needs a token with card.read and X-Chip-Access-Key")
async def get_chip(pin: str, caller: ReadCaller, now: RequestNow, seed: SeedDep, pki: PkiDep,
                   request: Request, key: AccessKey = None) -> Any:
    files = await _chip(request, caller, pin, now, "chip_read", lambda session, number, access:
                        cards_access.read_chip(session, number, key, seed=seed, pki=pki,
                                               access=access))
    if not isinstance(files, dict):
        return files
    if ZIP in request.headers.get("accept", ""):
        return Response(chip.zipped(files), media_type=ZIP, headers={
            "Content-Disposition": 'attachment; filename="chip.zip"'})
    return {"files": {name: base64.b64encode(data).decode("ascii") for name, data in files.items()}}


@router.post("/{pin}/chip/internal-authenticate", response_model=schemas.ChallengeResponse,
             responses=_problems(401, 403, 422, 429),
             summary="Active authentication: the chip signs an 8-byte challenge (needs a token "
                     "with card.read and X-Chip-Access-Key)")
async def internal_authenticate(pin: str, body: schemas.ChallengeRequest, caller: ReadCaller,
                                now: RequestNow, seed: SeedDep, request: Request,
                                key: AccessKey = None) -> Any:
    challenge = cards_access.checked_challenge(body.challenge)
    signature = await _chip(request, caller, pin, now, "chip_authenticate",
                            lambda session, number, access: cards_access.internal_authenticate(
                                session, number, key, challenge, seed=seed, access=access))
    if not isinstance(signature, bytes):
        return signature
    return schemas.ChallengeResponse(challenge=challenge.hex(),
                                     response=base64.b64encode(signature).decode("ascii"),
                                     response_hex=signature.hex(), algorithm="ecdsa-plain-sha256")


def _signer(result: Verification) -> schemas.Signer | None:
    certificate = result.report.document_signer
    return None if certificate is None else _signer_of(certificate)


# By the document signer's certificate (equal certificates: the same DER): one signs many cards,
# and its RFC 4514 subject costs ~40 us to write.
@lru_cache(maxsize=64)
def _signer_of(certificate: x509.Certificate) -> schemas.Signer:
    return schemas.Signer(subject=certificate.subject.rfc4514_string(),
                          serial_number=format(certificate.serial_number, "x"),
                          not_before=certificate.not_valid_before_utc,
                          not_after=certificate.not_valid_after_utc)


@router.post("/verify", response_model=schemas.VerifyResponse,
             responses=_problems(401, 403, 413, 422),
             summary="Verify a chip read: every step with a stable code, then the population "
                     "database cross-check")
async def verify(body: schemas.VerifyRequest, caller: VerifyCaller, now: RequestNow, pki: PkiDep,
                 request: Request) -> Any:
    exchange = body.active_authentication
    read = ChipRead(files=body.files, challenge=exchange.challenge if exchange else None,
                    response=exchange.response if exchange else None)
    access, shared = _client_access(caller, now), runtime(request)
    # The verification's queries are Core statements: a connection's transaction, no ORM session.
    if shared.database.is_sqlite:
        # inline on the event loop's kept reading connection (Database.reading_connection), its
        # transaction rolled back after: no pool checkout per verification either
        connection = shared.database.reading_connection()
        try:
            verified = cards_access.verify(connection, read, pki=pki, access=access)
        finally:
            connection.rollback()
    else:
        def on_connection() -> Verification:
            # a worker thread (Runtime.run_blocking), a pooled connection of the read engine
            with shared.database.reader.kw["bind"].connect() as pooled:
                return cards_access.verify(pooled, read, pki=pki, access=access)

        verified = await shared.run_blocking(on_connection)
    result = await _recorded(shared, access, verified)
    request.state.verdicts = {result.verdict: 1}  # the metric's count (app.edge.observe)
    return Response(verify_answer(result), media_type="application/json")


def verify_answer(result: Verification) -> bytes:
    """The JSON of ``schemas.VerifyResponse`` for ``result``, written by pydantic-core from the
    service's own frozen records (its steps are dataclasses with the fields of ``schemas.Step``,
    in their order) without building and validating a model per step; the response_model
    documents it, and ``test_the_answer_is_the_documented_model_written_as_pydantic_writes_it``
    checks that reading it as the model and writing it again gives the same bytes."""
    return to_json({
        "verdict": "pass" if result.verdict == "pass" else "fail", "reasons": result.reasons,
        "warnings": result.warnings, "steps": result.steps, "pin": result.pin,
        "document_signer": _signer(result), "signing_time": result.report.signing_time})


async def verify_first(request: Request, body: schemas.VerifyRequest) -> Any:
    """:func:`verify` as :mod:`app.routers.hot` serves it once the JSON body has validated: the
    same dependencies, called here instead of solved by FastAPI."""
    caller = await _verify_caller(request, await bearer(request))
    return await verify(body, caller, await request_now(request), await get_card_pki(request),
                        request)


# --- admin ----------------------------------------------------------------------------------------

AdminAction = Literal["issue", "renew", "lost", "revoke", "hold", "release"]
_ADMIN_PROBLEMS = {
    401: {"description": "Missing or wrong admin token",
          "content": {"application/problem+json": {}}},
    403: {"description": "A client access token was used",
          "content": {"application/problem+json": {}}},
    **_problems(404, 409, 422),
}


def _change(session: Any, pin: str, action: str, change: Change, pki: CardPki) -> Any:
    if action == "issue":
        return cards.issue(session, pin, change=change, pki=pki)
    if action == "renew":
        return cards.renew(session, pin, change=change, pki=pki)
    handlers = {"lost": cards.report_lost, "revoke": cards.revoke, "hold": cards.hold,
                "release": cards.release}
    return handlers[action](session, pin, change=change)


@admin_router.post("/{pin}/{action}", response_model=schemas.CardChanged,
                   status_code=status.HTTP_200_OK, responses=_ADMIN_PROBLEMS,
                   summary="Issue, renew, report lost, revoke, hold or release a citizen's card")
def change_card(pin: str, action: AdminAction, session: SessionDep, now: NowDep, pki: PkiDep,
                body: schemas.CardChange | None = None) -> Any:
    change = Change(now=now, actor="admin", reason=body.reason if body else None)
    card = _change(session, checked_pin(pin), action, change, pki)
    return {"pin": card.pin, "sequence": card.sequence, "generation": card.generation,
            "issue_date": card.issue_date, "expiry_date": card.expiry_date,
            "status": cards.effective_status(card, cards.local_date(now)),
            "status_reason": card.status_reason}


# --- sandbox --------------------------------------------------------------------------------------


@sandbox_router.get("/cards", response_model=schemas.PersonaList,
                    responses=_problems(401, 404),
                    summary="Test cards that fail verification on purpose, and chips that "
                            "verify but answer APDUs as difficult chips do, with what each must "
                            "produce (sandbox deployments; any client token or the admin token)")
def list_personas(_: Annotated[Caller, Depends(any_caller)], settings: SettingsDep, now: NowDep,
                  request: Request) -> Any:
    if not settings.sandbox:
        raise NotFound("Personas exist only in a sandbox deployment.")
    with runtime(request).database.read() as session:
        return {"personas": cards_access.personas(session, now=now)}
