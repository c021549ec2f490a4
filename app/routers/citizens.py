"""``/v1/citizens``: lookup, residence confirmation, verification, CMND resolution, search."""

from __future__ import annotations

import functools
import re
from collections import Counter
from datetime import date, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic_core import to_json

from app import errors
from app.errors import Forbidden, problem_response
from app.schemas import citizens as schemas
from app.schemas.common import ClaimText
from app.security import (
    Caller,
    RequestNow,
    charge_more,
    presented_bearer,
    request_now,
    require_any_scope,
    require_scope,
    runtime,
)
from app.services.kit.pagination import decode_cursor, encode_cursor
from app.services.population import citizens
from app.services.sharing.scopes import RECORD_SCOPES, disclosed_fields
from app.services.vneid import access_history

router = APIRouter(prefix="/v1/citizens", tags=["citizens"])

_lookup_caller = require_any_scope(*RECORD_SCOPES)
LookupCaller = Annotated[Caller, Depends(_lookup_caller)]
ResidenceCaller = Annotated[Caller, Depends(require_scope("citizen.residence"))]
VerifyCaller = Annotated[Caller, Depends(require_scope("citizen.verify"))]
ResolveCaller = Annotated[Caller, Depends(require_scope("citizen.resolve"))]
SearchCaller = Annotated[Caller, Depends(require_scope("citizen.search", allow_admin=True))]


class SandboxOnly(Forbidden):
    code, title = "sandbox-only", "Only sandbox clients and the admin may search"


class UnknownSearchParameter(errors.DomainError):
    """A search filter the route does not know (``surname=``): ignoring it would answer the
    unfiltered population as if it matched."""

    code, status, title = ("unknown-search-parameter", 400,
                           "The search has a query parameter it does not know")


_SEARCH_PARAMETERS = frozenset({"name", "birth_date", "province", "status", "cursor", "limit"})
# An unknown parameter is named back only when it looks like one (``surname``, ``sex``): a name
# can be anything the caller typed (a PIN, a person's name, kilobytes), never echoed.
_PLAIN_PARAMETER = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-\[\]]{0,39}\Z")
_NAMED_AT_MOST = 5


def _problems(*codes: int) -> dict[int | str, dict[str, Any]]:
    text = {
        401: "Missing, invalid or expired access token (WWW-Authenticate: Bearer)",
        403: "The token lacks the scope, the purpose is not registered, or (a consent-based "
             "client) the citizen has not consented",
        404: "No citizen has this number",
        413: "Request body too large",
        422: "Invalid input (a PIN rule, an unknown field, ...): names the rule, never the value",
        429: "Over the client's quota (Retry-After)",
    }
    return {
        code: {"description": text[code], "content": {"application/problem+json": {}}}
        for code in (401, 403, 422, 429, *codes)
    }


def _access(caller: Caller, now: datetime) -> citizens.Access:
    return citizens.Access(
        client_id=caller.client_id, purpose=caller.purpose, request_id=caller.request_id, now=now
    )


async def _audited(request: Request, work: Any, *args: Any, **kwargs: Any) -> Any:
    """Run a reading service function and commit its audit records (see citizens.audited)."""
    return await citizens.audited(runtime(request), work, *args, **kwargs)


def _asker(caller: Caller, action: str) -> access_history.Asker:
    return access_history.Asker(caller.client_id, caller.purpose, caller.request_id, action)


async def _consented(request: Request, caller: Caller, pins: list[str | None], needed: Any,
                     now: datetime, action: str) -> list[frozenset[str]]:
    """For a consent-based client: per PIN, the ``needed`` scopes the citizen consented to; 403
    ``consent-required`` (audited) without one (docs/life-events.md)."""
    return await access_history.require_consent(runtime(request), _asker(caller, action), pins,
                                                needed, now=now)


def _not_found(request: Request) -> JSONResponse:
    # Returned, not raised: the failed lookup is audited like any other.
    return problem_response(citizens.CitizenNotFound(), request)


@router.get(
    "/{pin}",
    response_model=schemas.CitizenRecord,
    response_model_exclude_unset=True,
    summary="Look up a citizen by PIN (fields filtered by the token's scopes)",
    responses=_problems(404),
)
async def get_citizen(pin: str, caller: LookupCaller, now: RequestNow, request: Request) -> Any:
    answer = await _record_or_problem(pin, caller, now, request)
    return answer if isinstance(answer, Response) else _json(answer)


# The fields each set of scopes discloses, worked out once per set (a client's scopes, or those a
# consent-based client's citizen consented to), not on every lookup.
_disclosed = functools.lru_cache(maxsize=256)(disclosed_fields)


def _json(body: bytes) -> Response:
    return Response(body, media_type="application/json")


async def _record_or_problem(pin: str, caller: Caller, now: datetime,
                             request: Request) -> bytes | Response:
    number = citizens.checked_pin(pin)
    scopes: frozenset[str] = caller.scopes
    if caller.needs_consent:
        needed = scopes & frozenset(RECORD_SCOPES)
        scopes = (await _consented(request, caller, [number], needed, now, "lookup"))[0]
    record = await _audited(request, citizens.lookup, number, prefetch=number,
                            fields=_disclosed(scopes), access=_access(caller, now))
    if record is None:
        return _not_found(request)
    # Serialised straight from the record (which holds exactly the allowed fields, see
    # docs/scopes.md); the response model documents it. Skipping its validation saves a third of
    # the lookup's own time.
    return to_json(record)


async def get_citizen_first(request: Request) -> Response:
    """:func:`get_citizen` as :mod:`app.routers.hot` serves it: the same dependencies, called
    here instead of solved by FastAPI (whose routing and dependency solving were two fifths of
    the lookup's CPU)."""
    answer = await lookup_answer(request)
    return answer if isinstance(answer, Response) else _json(answer)


async def lookup_answer(request: Request) -> bytes | Response:
    """The lookup's JSON body, or a problem answer (app.routers.hot serves it express)."""
    caller = await _lookup_caller(request, presented_bearer(request))
    return await _record_or_problem(request.path_params["pin"], caller,
                                    await request_now(request), request)


@router.get(
    "/{pin}/residence",
    response_model=schemas.ResidenceConfirmation,
    summary="Residence confirmation: residences in force and household members",
    responses=_problems(404),
)
async def get_residence(
    pin: str, caller: ResidenceCaller, now: RequestNow, request: Request
) -> Any:
    number = citizens.checked_pin(pin)
    if caller.needs_consent:
        await _consented(request, caller, [number], {"citizen.residence"}, now, "residence")
    view = await _audited(request, citizens.residence_confirmation, number,
                          access=_access(caller, now))
    return _not_found(request) if view is None else view


def _claims(attributes: schemas.Attributes) -> citizens.Claims:
    return citizens.Claims(
        full_name=attributes.full_name,
        birth_date=attributes.birth_date,
        sex=attributes.sex,
        old_id_number=attributes.old_id_number,
        phone=attributes.phone,
    )


def _fields(result: citizens.Verification) -> dict[str, schemas.FieldResult]:
    return {
        name: schemas.FieldResult(result=r.result, level=r.level)  # type: ignore[arg-type]
        for name, r in result.fields.items()
    }


def _mode(accent_insensitive: bool) -> schemas.NameMatching:
    return schemas.NameMatching(mode="accent_insensitive" if accent_insensitive else "canonical")


@router.post(
    "/verify",
    response_model=schemas.CitizenVerifyResponse,
    response_model_exclude_none=True,
    summary="Verify claimed attributes without disclosing the stored values",
    responses=_problems(404, 413),
)
async def verify(
    body: schemas.CitizenVerifyRequest, caller: VerifyCaller, now: RequestNow, request: Request
) -> Any:
    number = citizens.checked_pin(body.pin)
    if caller.needs_consent:
        await _consented(request, caller, [number], {"citizen.verify"}, now, "verify")
    result = await _audited(
        request,
        citizens.verify,
        number,
        _claims(body),
        prefetch=number,
        accent_insensitive=body.accent_insensitive,
        access=_access(caller, now),
    )
    if result.verdict == "pin_not_found":
        return _not_found(request)
    return schemas.CitizenVerifyResponse(
        pin=number,
        verdict=result.verdict,  # type: ignore[arg-type]
        status=result.status,  # type: ignore[arg-type]
        name_matching=_mode(body.accent_insensitive),
        fields=_fields(result),
    )


def _batch_result(
    index: int, item: schemas.BatchItem, result: citizens.Verification
) -> schemas.BatchResult:
    rule = citizens.pin_rule_broken(item.pin) if result.verdict == "invalid_pin" else None
    return schemas.BatchResult(
        index=index,
        pin=None if rule else result.pin,
        verdict=result.verdict,
        rule=rule,  # type: ignore[arg-type]
        status=result.status,
        fields=_fields(result),
    )  # type: ignore[arg-type]


@router.post(
    "/verify/batch",
    response_model=schemas.BatchResponse,
    response_model_exclude_none=True,
    summary="Verify up to 1,000 PINs with claimed attributes in one request",
    responses=_problems(413),
)
async def verify_batch(
    body: schemas.BatchRequest, caller: VerifyCaller, now: RequestNow, request: Request
) -> Any:
    await charge_more(request, caller, cost=len(body.items) - 1)  # every item counts
    items = [
        (None if citizens.pin_rule_broken(item.pin) else item.pin, _claims(item))
        for item in body.items
    ]
    if caller.needs_consent:
        await _consented(request, caller, [pin for pin, _ in items], {"citizen.verify"}, now,
                         "verify_batch")
    results = await _audited(request, citizens.verify_batch, items,
                             accent_insensitive=body.accent_insensitive,
                             access=_access(caller, now))
    return schemas.BatchResponse(
        name_matching=_mode(body.accent_insensitive),
        summary=dict(Counter(r.verdict for r in results)),
        results=[
            _batch_result(i, item, r)
            for i, (item, r) in enumerate(zip(body.items, results, strict=True))
        ],
    )


@router.post(
    "/resolve-cmnd",
    response_model=schemas.ResolvedPin,
    summary="Resolve an old 9-digit CMND number to the PIN (number kept out of URLs)",
    responses=_problems(404),
)
async def resolve_cmnd(
    body: schemas.ResolveCmndRequest, caller: ResolveCaller, now: RequestNow, request: Request
) -> Any:
    if caller.needs_consent:  # consent is given per PIN: nothing to check it against here
        await access_history.refuse(runtime(request), _asker(caller, "resolve_cmnd"), [None],
                                    now=now)
    found = await _audited(request, citizens.resolve_cmnd, body.old_id_number,
                           access=_access(caller, now))
    if found is None:
        return _not_found(request)
    return schemas.ResolvedPin(pin=found[0], status=found[1])  # type: ignore[arg-type]


@router.get(
    "",
    response_model=schemas.SearchPage,
    summary="Search test data (sandbox clients and admin only), keyset-paginated by PIN",
    responses={**_problems(), 400: {
        "description": "unknown-search-parameter: a query parameter other than name, "
                       "birth_date, province, status, cursor and limit",
        "content": {"application/problem+json": {}}}},
)
async def search(
    caller: SearchCaller,
    now: RequestNow,
    request: Request,
    name: Annotated[
        ClaimText | None,
        Query(description="Prefix of the full name, surname first, accent-insensitive"),
    ] = None,
    birth_date: date | None = None,
    province: Annotated[
        str | None,
        Query(pattern=r"^[0-9]{3}$", description="Province code of the permanent residence"),
    ] = None,
    status: Literal["alive", "deceased", "missing"] | None = None,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> Any:
    if not (caller.admin or caller.sandbox):
        raise SandboxOnly()
    unknown = sorted(set(request.query_params) - _SEARCH_PARAMETERS)
    if unknown:
        raise UnknownSearchParameter(
            "Filter with name (the full name's prefix, surname first), birth_date, province or "
            "status; page with cursor and limit.",
            parameters=[n for n in unknown if _PLAIN_PARAMETER.match(n)][:_NAMED_AT_MOST],
            unknown_count=len(unknown), known=sorted(_SEARCH_PARAMETERS))
    after = decode_cursor(cursor, kind="citizen", key_type=str) if cursor else None
    flt = citizens.SearchFilter(name=name, birth_date=birth_date, province=province, status=status)
    hits = await _audited(request, citizens.search, flt, after_pin=after, limit=limit,
                          access=_access(caller, now))
    next_cursor = encode_cursor("citizen", hits[-1]["pin"]) if len(hits) == limit else None
    return schemas.SearchPage(
        items=[schemas.SearchHit(**hit) for hit in hits], next_cursor=next_cursor
    )
