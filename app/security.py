"""Who is calling the data-sharing API: access tokens, scopes, purposes, quotas and the admin token.

Routes declare what they need and receive a :class:`Caller`::

    caller: Annotated[Caller, Depends(require_scope("citizen.verify"))]
    caller: Annotated[Caller, Depends(require_any_scope(*RECORD_SCOPES))]
    caller: Annotated[Caller, Depends(require_scope("citizen.search", allow_admin=True))]
    admin: Annotated[Caller, Depends(require_admin)]

A client's access token (RFC 9068, client credentials) is verified with ``app.oidc.tokens``:
signature with a published key, ``alg``, ``typ`` = ``at+jwt``, ``iss``, ``aud`` = the data API,
``exp``. Then the client must still exist and be active, the request is counted against the
client's quota, and the purpose (header ``X-Purpose``, default the client's first) must be one the
client registered. Verified tokens, clients (two seconds) and leased quota are cached per process
(:mod:`app.services.storage.runtime`), so a request usually needs no database round trip here; the
dependencies are ``async`` and reach the database only on a cache miss.

Failures are problem+json with the RFC 6750 challenge: 401 ``invalid-token``
(``WWW-Authenticate: Bearer realm="dancu", error="invalid_token"``; no error code when the request
carried no token, RFC 6750 §3.1), 403 ``insufficient-scope``, 403 ``purpose-not-registered``,
429 ``rate-limited`` with ``Retry-After``; wrong admin tokens are throttled per source address
(429 ``too-many-failures``, :func:`checked_secret`).

DPoP (RFC 9449 §7): a token bound to a key (``cnf.jkt``, from a client-credentials request with a
proof) is accepted only as ``Authorization: DPoP <token>`` with a proof by that key for this
request (``htm``, ``htu``, ``ath``; the server nonce when required), each proof once; failures are
401 ``invalid-token`` with a ``DPoP`` challenge (``error="invalid_dpop_proof"`` or
``"use_dpop_nonce"`` and the ``DPoP-Nonce`` header). A Bearer token pays nothing for this.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, NamedTuple, Protocol, TypeVar

import anyio
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from app.db import Database
from app.dependencies import after_commit, get_clock, get_database, get_settings_dep
from app.errors import Forbidden, RateLimited, Unauthorized
from app.models.client import Client
from app.oidc import dpop
from app.oidc import errors as oauth
from app.oidc.jwt_policy import TokenRejected
from app.oidc.tokens import AccessTokenClaims
from app.services.kit import rate_limit, throttle
from app.services.kit.keys import KeyStore
from app.services.population.reading import AsyncPostgresCitizens, citizen_reader
from app.services.sharing import client_auth, tokens
from app.services.sharing.audit_writer import AuditWriter
from app.services.storage import units
from app.services.storage.runtime import ClientSnapshot, Runtime

if TYPE_CHECKING:
    from app.services.vneid.backchannel import Logouts, Notice

T = TypeVar("T")
log = logging.getLogger("dancu.security")
REALM = "dancu"
ADMIN_REALM = "dancu-admin"
ADMIN_CLIENT_ID = "admin"
PURPOSE_HEADER = "X-Purpose"

class _BearerOrDpop(HTTPBearer):
    """``Authorization: Bearer <token>``, or ``DPoP <token>`` for a DPoP-bound one (RFC 9449 §7);
    the credentials keep the scheme."""

    async def __call__(self, request: Request) -> HTTPAuthorizationCredentials | None:
        found = await super().__call__(request)
        if found is not None:
            return found
        scheme, _, token = (request.headers.get("authorization") or "").strip().partition(" ")
        if scheme.lower() != "dpop" or not token.strip():
            return None
        return HTTPAuthorizationCredentials(scheme=dpop.DPOP_SCHEME, credentials=token.strip())


bearer = _BearerOrDpop(
    auto_error=False, scheme_name="bearer",
    description="An access token from POST /oauth2/token (client credentials), or the admin token "
                "(DANCU_ADMIN_TOKEN) on admin routes. A DPoP-bound token comes as "
                "`Authorization: DPoP <token>` with a `DPoP` proof header (RFC 9449).")
BearerDep = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]


class Credentials(Protocol):
    """What :func:`authenticate` reads of the presented credentials: :data:`bearer`'s
    ``HTTPAuthorizationCredentials``, or :func:`presented_bearer`'s :class:`Presented`."""

    @property
    def scheme(self) -> str: ...

    @property
    def credentials(self) -> str: ...


class Presented(NamedTuple):
    """An ``Authorization`` header's scheme (``Bearer``, or ``DPoP``) and token, as
    :func:`presented_bearer` reads them (a tuple: the pydantic model cost ~2 us to build)."""

    scheme: str
    credentials: str


@dataclass(frozen=True, slots=True)
class Caller:
    """The authenticated party of one request."""

    client_id: str
    scopes: frozenset[str]
    purposes: tuple[str, ...]
    purpose: str
    request_id: str
    sandbox: bool = False
    admin: bool = False
    token_id: str | None = None
    data_basis: str = "statutory_task"  # "consent": each citizen's consent is checked

    def has(self, scope: str) -> bool:
        return self.admin or scope in self.scopes

    def has_any(self, scopes: tuple[str, ...]) -> bool:
        return bool(scopes) and (self.admin or not self.scopes.isdisjoint(scopes))

    @property
    def needs_consent(self) -> bool:
        return self.data_basis == "consent"


class InvalidToken(Unauthorized):
    code, title = "invalid-token", "The access token is missing, invalid or expired"


class InsufficientScope(Forbidden):
    code, title = (
        "insufficient-scope",
        "The access token does not carry the scope this request needs",
    )


class PurposeNotRegistered(Forbidden):
    code, title = "purpose-not-registered", "The client did not register this purpose"


class AdminTokenRequired(Unauthorized):
    code, title = "admin-token-required", "This route needs the admin token"


class AdminOnly(Forbidden):
    code, title = "admin-only", "Client access tokens cannot use admin routes"


def _invalid_token(*, had_token: bool) -> InvalidToken:
    error = InvalidToken()
    error.headers["WWW-Authenticate"] = oauth.bearer_challenge(
        oauth.InvalidToken() if had_token else None, realm=REALM
    )
    return error


def _insufficient(scopes: Sequence[str]) -> InsufficientScope:
    error = InsufficientScope(required=list(scopes))
    error.headers["WWW-Authenticate"] = oauth.bearer_challenge(
        oauth.InsufficientScope(), realm=REALM, scope=scopes
    )
    return error


def dpop_refusal(error: oauth.OAuthError) -> InvalidToken:
    """RFC 9449 §7.1: a DPoP request refused, with the ``DPoP`` challenge (and nonce)."""
    rendered = dpop.resource_error_response(error, realm=REALM)
    refused = InvalidToken(detail=error.description, error=error.error)
    refused.headers.update(rendered.headers)
    return refused


def _remember_proof(request: Request, proof: dpop.DpopProof, now: datetime) -> None:
    with get_database(request).write() as session:
        client_auth.remember_proof(session, proof, now)


async def spend_proof(request: Request, proof: dpop.DpopProof, now: datetime) -> None:
    """Record a resource request's DPoP proof (RFC 9449 §11.1); ``invalid_dpop_proof`` if it
    was used before. A write: from a worker thread (see :func:`_count_request`)."""
    await runtime(request).run_in_thread(lambda: _remember_proof(request, proof, now))


def nonce_key_for(request: Request, client_requires: bool) -> bytes | None:
    """The DPoP nonce key if nonces are required (by the deployment or the client)."""
    settings = get_settings_dep(request)
    if not (settings.dpop_nonce_required or client_requires):
        return None
    return tokens.nonce_key(settings)


async def _check_dpop(request: Request, credentials: Credentials,
                      claims: AccessTokenClaims, client: ClientSnapshot, now: datetime) -> None:
    """RFC 9449 §7 for the data API (only DPoP requests and DPoP-bound tokens come here)."""
    if claims.content.jkt is None:
        raise _invalid_token(had_token=True)  # an unbound token under the DPoP scheme
    if credentials.scheme.lower() != "dpop":
        raise dpop_refusal(dpop.BoundTokenAsBearer())
    url = get_settings_dep(request).issuer_url + request.url.path
    try:
        proof = dpop.request_header(request.headers.getlist("dpop"))
        if proof is None:
            raise dpop.InvalidDpopProof("A DPoP-bound access token needs a DPoP proof.")
        checked = dpop.verify_proof(proof, method=request.method, url=url, now=now,
                                    access_token=credentials.credentials,
                                    nonce_key=nonce_key_for(request, client.require_dpop_nonce),
                                    algorithms=dpop.algorithms_for(client.security_profile))
        if checked.jkt != claims.content.jkt:
            raise dpop.InvalidDpopProof("The DPoP proof is not signed by the token's key.")
        await spend_proof(request, checked, now)
    except oauth.OAuthError as error:
        raise dpop_refusal(error) from None


def presented_bearer(request: Request) -> Presented | None:
    """What :data:`bearer` gives (the first ``Authorization`` header's bearer or DPoP token,
    ``None`` without one), read from the raw headers: the express lookup (:mod:`app.routers.hot`)
    needs nothing else of the dependency."""
    for name, value in request.scope["headers"]:
        if name == b"authorization":
            scheme, _, credentials = value.decode("latin-1").partition(" ")
            credentials = credentials.strip()
            if not (scheme and credentials):
                return None
            if scheme.lower() == "dpop":  # a DPoP-bound token (RFC 9449 §7), as :data:`bearer`
                scheme = dpop.DPOP_SCHEME
            elif scheme.lower() != "bearer":
                return None
            return Presented(scheme, credentials)
    return None


def request_id(request: Request) -> str:
    return getattr(request.state, "request_id", None) or uuid.uuid4().hex


def runtime(request: Request) -> Runtime:
    """This process's caches and audit writer for the app, created on first use."""
    state = request.app.state
    found = getattr(state, "sharing_runtime", None)
    if found is None:
        found = state.sharing_runtime = new_runtime(get_database(request))
    return found


def new_runtime(database: Database) -> Runtime:
    """A runtime with the domains' audit writer and citizen readers plugged in."""
    made = Runtime(database)
    made.audit = AuditWriter(database, made.run_in_thread)
    made.citizens = citizen_reader(database)
    made.citizens_async = None if database.is_sqlite else AsyncPostgresCitizens(database)
    return made


def key_store(request: Request) -> KeyStore:
    return runtime(request).keys


def end_unusable_accounts(request: Request, session: Session) -> None:
    """The write session's hook (``app.state.end_unusable_accounts``, called by
    :func:`app.dependencies.get_write_session` before it commits): end the login sessions of the
    accounts the route locked or closed, and tell the relying parties once it has committed."""
    from app.services.vneid import backchannel

    notices = backchannel.end_unusable_accounts(session, keys=key_store(request),
                                                settings=get_settings_dep(request))
    send_logouts(request, session, notices)


def logouts(request: Request) -> Logouts:
    """What ending login sessions needs for work a route runs in write sessions of its own (the
    life-event simulation): the process's keys, the settings, the application's dispatcher."""
    from app.services.vneid import backchannel

    return backchannel.Logouts(key_store(request), get_settings_dep(request),
                               backchannel.dispatcher(request.app))


def send_logouts(request: Request, session: Session, notices: list[Notice]) -> None:
    """Back-Channel Logout: hand the logout tokens to the application's dispatcher once the
    route's write session has committed (nothing is sent if it rolls back)."""
    if not notices:
        return
    from app.services.vneid import backchannel

    settings, now = get_settings_dep(request), get_clock(request).now()
    after_commit(session, lambda: backchannel.dispatcher(request.app).submit(
        get_database(request), notices, settings=settings, now=now))


async def request_now(request: Request) -> datetime:
    """The sandbox clock's now, without a thread hop (for async routes)."""
    return get_clock(request).now()


RequestNow = Annotated[datetime, Depends(request_now)]


def _is_admin_token(request: Request, token: str) -> bool:
    expected = get_settings_dep(request).admin_token.encode()
    return hmac.compare_digest(token.encode("utf-8", "replace"), expected)


is_admin_token = _is_admin_token  # also an initial access token (app.services.vneid.registration)


def source_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def checked_secret(request: Request, *, matches: bool, count: bool = True) -> bool:
    """Whether a presented secret (the admin token, the console's) ``matches``, guesses throttled
    per source address (app.services.kit.throttle): while the source is locked out, 429
    ``too-many-failures`` whatever it presents; a wrong guess is counted (``count``)."""
    per_source, _ = throttle.credential_limits(get_settings_dep(request))
    checks, now = [(per_source, source_address(request))], get_clock(request).now()
    with get_database(request).read() as session:
        wait = throttle.locked(session, checks, now=now)
    if wait:
        raise throttle.too_many(wait)
    if not matches and count:
        with get_database(request).write() as session:
            throttle.count_failure(session, checks, now=now)
    return matches


def _admin_attempt(request: Request, token: str) -> bool:
    return checked_secret(request, matches=_is_admin_token(request, token))


async def off_loop(work: Callable[[], T]) -> T:
    """``work()`` in a worker thread on anyio's own limiter, which belongs to the running event
    loop: the runtime's limiter is bound to the loop that first waited on it, and an app driven
    from several loops at once (test clients in threads) then waits on it forever. For the
    throttles' few statements, so they never hold the loop (SQLite's lock, see _count_request)."""
    return await anyio.to_thread.run_sync(work)


def _verify(request: Request, token: str, now: datetime) -> AccessTokenClaims:
    """Verify (or recall a verified) client-credentials token for the data API; 401 otherwise."""
    cache = runtime(request).tokens
    claims = cache.get(token, now=now)
    if claims is not None:
        return claims
    try:
        claims = tokens.verify_api_token(token, store=key_store(request),
                                         settings=get_settings_dep(request), now=now)
    except TokenRejected as rejected:
        log.info("access token rejected: %s", rejected.reason.value)
        raise _invalid_token(had_token=True) from None
    cache.put(token, claims)
    return claims


async def _claims(request: Request, cache: Runtime, token: str,
                  now: datetime) -> AccessTokenClaims:
    """A token not (or no longer) in the cache of verified ones, verified."""
    return await cache.run_blocking(lambda: _verify(request, token, now))


# Reloads in flight, per runtime, event loop, kind and client: when a cached client snapshot
# expires or a quota lease runs out, every request in flight at that moment would otherwise reload
# it, each in a worker thread on PostgreSQL (32 at 32 connections; bench/RESULTS.md "Third pass
# on the lookup"); the others wait for the one, then read the cache again.
_FLIGHTS: dict[tuple[int, int, str, str], asyncio.Future[None]] = {}


def _flight_key(cache: Runtime, kind: str, client_id: str) -> tuple[int, int, str, str]:
    return id(cache), id(asyncio.get_running_loop()), kind, client_id


async def _joined(cache: Runtime, kind: str, client_id: str) -> bool:
    """Wait for the same reload in flight on this loop, if there is one; whether there was."""
    flight = _FLIGHTS.get(_flight_key(cache, kind, client_id))
    if flight is None:
        return False
    await asyncio.wait({flight})  # a waiter cancelled does not cancel the reload's future
    return True


@asynccontextmanager
async def _leading(cache: Runtime, kind: str, client_id: str) -> AsyncIterator[None]:
    key = _flight_key(cache, kind, client_id)
    flight = _FLIGHTS[key] = asyncio.get_running_loop().create_future()
    try:
        yield
    finally:
        _landed(key, flight)


def _landed(key: tuple[int, int, str, str], flight: asyncio.Future[None]) -> None:
    """The flight is over: forgotten (unless another took its place) and its waiters woken."""
    if _FLIGHTS.get(key) is flight:
        del _FLIGHTS[key]
    if not flight.done():
        flight.set_result(None)


def _load_client(request: Request, client_id: str) -> ClientSnapshot | None:
    with get_database(request).read() as session:
        return runtime(request).clients.load(session, client_id)


async def _active_client(request: Request, cache: Runtime, client_id: str) -> ClientSnapshot:
    """The token's client, if still registered and active (cached for at most two seconds)."""
    client = cache.clients.get(client_id)
    if client is False and await _joined(cache, "client", client_id):
        client = cache.clients.get(client_id)
    if client is False:
        async with _leading(cache, "client", client_id):
            if cache.charges is not None:  # PostgreSQL: from the loop, no worker thread
                client = await cache.clients.load_async(cache.charges, client_id)
            else:
                client = await cache.run_blocking(lambda: _load_client(request, client_id))
    if client is None or client is False or not client.active:
        log.info("token of an unknown or disabled client refused")
        raise _invalid_token(had_token=True)
    return client


def _keep(cache: Runtime, client: ClientSnapshot, now: datetime,
          decision: rate_limit.RateDecision, *, used: int, window: int | None) -> None:
    """Keep a granted lease: for the current window (``used`` of it taken by the request asking),
    or for the later ``window`` it was leased for (refused, kept as an empty block: the window's
    other requests do not lease ahead again, its first request leases as before)."""
    if window is not None:
        cache.quotas.add_next(client.client_id, now=now, window_start=window,
                              requests=decision.granted)
    elif decision.allowed:
        cache.quotas.add(client.client_id, now=now, requests=decision.granted - used,
                         ahead=used == 0)


def _charged(request: Request, client: ClientSnapshot, now: datetime, session: Session, *,
             used: int, window: int | None = None) -> rate_limit.RateDecision:
    decision = rate_limit.charge(session, client_id=client.client_id, limit=client.rate_limit,
                                 now=now, cost=rate_limit.lease_size(client.rate_limit),
                                 minimum=1, window_start=window)
    _keep(runtime(request), client, now, decision, used=used, window=window)
    return decision


def _lease(request: Request, client: ClientSnapshot, now: datetime, *,
           used: int = 1, window: int | None = None) -> rate_limit.RateDecision:
    """Lease a block of the client's quota; ``used`` of it (the request asking) taken at once.
    ``window``: a later window's block (leased ahead, nothing used)."""
    with get_database(request).write() as session:
        return _charged(request, client, now, session, used=used, window=window)


async def _lease_now(request: Request, client: ClientSnapshot, now: datetime, cache: Runtime, *,
                     used: int = 1, window: int | None = None) -> rate_limit.RateDecision:
    """:func:`_lease`, from the event loop where nothing can make the loop wait: on PostgreSQL
    over an async connection (``Runtime.charges``); on SQLite inline when the writers' lock and
    SQLite's are free at once (``units.write_at_once``, as the audit trail's group commits), else
    in a worker thread. A write never waits for a lock on the loop: inline on SQLite it once
    blocked the event loop on the database lock while a sync route holding that lock waited for
    the loop to commit (both stalled for the 30 s busy timeout, then a 500; found by the
    reliability suite's races). In a worker thread, the lease's ORM work took the GIL from the
    busy loop and held it up 5-12 ms at each lease (bench/RESULTS.md, "The lookup's tail")."""
    if cache.charges is not None:
        decision = await cache.charges.charge(
            client_id=client.client_id, limit=client.rate_limit, now=now,
            cost=rate_limit.lease_size(client.rate_limit), minimum=1, window_start=window)
        _keep(cache, client, now, decision, used=used, window=window)
        return decision
    decided: list[rate_limit.RateDecision] = []
    if units.write_at_once(get_database(request), lambda session: decided.append(
            _charged(request, client, now, session, used=used, window=window))):
        return decided[0]
    return await cache.run_in_thread(
        lambda: _lease(request, client, now, used=used, window=window))


_AHEAD: set[asyncio.Task[None]] = set()  # the leases ahead in flight (a task needs a reference)


def _lease_ahead(request: Request, client: ClientSnapshot, now: datetime,
                 cache: Runtime) -> None:
    """Lease the client's next block while this one still has a quarter left, in the background.

    Leasing only once a block was used up made every request that arrived during the lease wait
    for it: a write transaction in a worker thread, 5-40 ms on SQLite under load (the thread
    waits for the GIL the busy event loop holds, up to the 5 ms switch interval at each of its
    statements). At 2,100 lookups/s that was one stall every ~0.5 s: the lookup's open-loop p99
    (bench/RESULTS.md, "The lookup's tail: stalls"). Every request is still counted against the
    shared counter before it is served; a process only holds up to 1.25 blocks instead of one
    (what a window's end may leave unused). Blocks of one request (quotas under 400 a minute)
    are not leased ahead: those stay counted exactly. The lease itself runs on the loop where it
    can (:func:`_lease_now`): in a worker thread it still held the loop up 5-12 ms each time.
    In a window's last :data:`TURN_SECONDS`, the next window's first block is leased too (counted
    in that window), so the turn of the window makes no request wait either."""
    size = rate_limit.lease_size(client.rate_limit)
    if size < 4:
        return
    if cache.quotas.left(client.client_id, now=now) == size // 4:
        _start_lease_ahead(request, client, now, cache, "lease", None)
    elif rate_limit.seconds_left(now) <= TURN_SECONDS:
        window = rate_limit.window_of(now) + rate_limit.WINDOW_SECONDS
        if not cache.quotas.holds_next(client.client_id, window_start=window):
            _start_lease_ahead(request, client, now, cache, "lease-next", window)


# How long before a window ends its successor's first block is leased. At the turn, the old
# window's block is void: without a block leased ahead, the new window's first request leased
# one and every request arriving meanwhile waited for it, once a minute (the async lease's 43 ms
# on a loaded machine; bench/RESULTS.md "The tail, sixth pass").
TURN_SECONDS = 1.0


def _start_lease_ahead(request: Request, client: ClientSnapshot, now: datetime, cache: Runtime,
                       kind: str, window: int | None) -> None:
    key = _flight_key(cache, kind, client.client_id)
    if _FLIGHTS.get(key) is not None:
        return
    # The flight is ours from now, not from the task's first step: a request finding the block
    # empty before that step would lease too, and the two flights under one key replaced each
    # other (one's end then failed on the other's key, a 500, and its waiters waited for ever).
    loop = asyncio.get_running_loop()
    flight = _FLIGHTS[key] = loop.create_future()
    task = loop.create_task(_leased_ahead(request, client, now, cache, key, flight, window))
    _AHEAD.add(task)
    task.add_done_callback(_AHEAD.discard)


async def _leased_ahead(request: Request, client: ClientSnapshot, now: datetime,
                        cache: Runtime, key: tuple[int, int, str, str],
                        flight: asyncio.Future[None], window: int | None) -> None:
    try:
        await _lease_now(request, client, now, cache, used=0, window=window)
    except Exception:  # the request that finds the block empty leases (and fails) itself
        log.warning("leasing a client's quota ahead failed", exc_info=True)
    finally:
        _landed(key, flight)


async def _count_request(request: Request, client: ClientSnapshot, now: datetime,
                         cache: Runtime) -> None:
    """Use a request this process leased for the client, or lease a block; 429 when none is left."""
    while not cache.quotas.take(client.client_id, now=now):
        if await _joined(cache, "lease", client.client_id):
            continue  # another request leased a block meanwhile: take from it
        async with _leading(cache, "lease", client.client_id):
            decision = await _lease_now(request, client, now, cache)
        if not decision.allowed:
            raise _rate_limited(decision)
        return


def _charge(request: Request, client_id: str, cost: int, now: datetime) -> rate_limit.RateDecision:
    with get_database(request).write() as session:
        client = session.get(Client, client_id)
        limit = client.rate_limit if client is not None else 0
        return rate_limit.charge(session, client_id=client_id, limit=limit, now=now, cost=cost)


async def charge_more(request: Request, caller: Caller, *, cost: int) -> None:
    """Count ``cost`` more requests against the caller's quota (a batch counts every item beyond
    the first, already counted); 429 when that goes over it, and then nothing is counted."""
    if caller.admin or cost <= 0:
        return
    now = get_clock(request).now()
    decision = await runtime(request).run_in_thread(  # a write: see _count_request
        lambda: _charge(request, caller.client_id, cost, now))
    if not decision.allowed:
        raise _rate_limited(decision)


def _rate_limited(decision: rate_limit.RateDecision) -> RateLimited:
    error = RateLimited(limit=decision.limit, window_seconds=rate_limit.WINDOW_SECONDS)
    error.headers["Retry-After"] = str(decision.retry_after)
    return error


_PURPOSE = PURPOSE_HEADER.lower().encode()


def _purpose(request: Request, client: ClientSnapshot) -> str:
    # the first X-Purpose header, as request.headers.get gives it (without building Headers)
    wanted = next((value.decode("latin-1") for name, value in request.scope["headers"]
                   if name == _PURPOSE), None)
    if wanted is None:
        return client.purposes[0]
    if wanted not in client.purposes:
        raise PurposeNotRegistered(registered=list(client.purposes))
    return wanted


def _admin_caller(request: Request) -> Caller:
    return Caller(client_id=ADMIN_CLIENT_ID, scopes=frozenset(), purposes=("oversight",),
                  purpose="oversight", request_id=request_id(request), admin=True)


async def authenticate(request: Request, credentials: Credentials | None, *,
                       allow_admin: bool = False) -> Caller:
    """The :class:`Caller` behind the bearer token, or a 401/403/429 problem."""
    if credentials is None:
        raise _invalid_token(had_token=False)
    token = credentials.credentials
    if allow_admin and (token.count(".") != 2 or _is_admin_token(request, token)):
        # not a JWT: a try at the admin token
        if not await off_loop(lambda: _admin_attempt(request, token)):
            raise _invalid_token(had_token=True)
        request.state.client_id = ADMIN_CLIENT_ID  # for the request log
        return _admin_caller(request)
    now, cache = get_clock(request).now(), runtime(request)
    # The caches' hits are read here, the misses awaited: a coroutine per step cost more than
    # the step itself on the data API's every request.
    claims = cache.tokens.get(token, now=now) or await _claims(request, cache, token, now)
    client = cache.clients.get(claims.content.client_id)
    if not (isinstance(client, ClientSnapshot) and client.active):
        client = await _active_client(request, cache, claims.content.client_id)
    if claims.content.jkt is not None or credentials.scheme == dpop.DPOP_SCHEME:
        await _check_dpop(request, credentials, claims, client, now)
    purpose = _purpose(request, client)
    if cache.quotas.take(client.client_id, now=now):
        _lease_ahead(request, client, now, cache)
    else:
        await _count_request(request, client, now, cache)
    scopes = frozenset(claims.content.scope) & client.scopes
    request.state.client_id = client.client_id  # for the request log
    return Caller(client_id=client.client_id, scopes=scopes, purposes=client.purposes,
                  purpose=purpose, request_id=request_id(request), sandbox=client.sandbox,
                  token_id=claims.jti, data_basis=client.data_basis)


def require_scope(*names: str, allow_admin: bool = False) -> Callable[..., Awaitable[Caller]]:
    """A dependency giving the caller when its token carries every scope in ``names``."""

    async def dependency(request: Request, credentials: BearerDep) -> Caller:
        caller = await authenticate(request, credentials, allow_admin=allow_admin)
        if not all(caller.has(name) for name in names):
            raise _insufficient(names)
        return caller

    return dependency


def require_any_scope(*names: str) -> Callable[..., Awaitable[Caller]]:
    """A dependency giving the caller when its token carries at least one scope in ``names``."""

    async def dependency(request: Request, credentials: BearerDep) -> Caller:
        caller = await authenticate(request, credentials)
        if not caller.has_any(names):
            raise _insufficient(names)
        return caller

    return dependency


async def any_caller(request: Request, credentials: BearerDep) -> Caller:
    """Any authenticated client (or the admin token), whatever its scopes."""
    return await authenticate(request, credentials, allow_admin=True)


def require_admin(request: Request, credentials: BearerDep) -> Caller:
    """The admin token (``Authorization: Bearer <DANCU_ADMIN_TOKEN>``), constant-time compared;
    wrong ones are throttled per source address (:func:`checked_secret`)."""
    if credentials is not None and _is_client_token(request, credentials.credentials):
        raise AdminOnly()
    if credentials is not None and _admin_attempt(request, credentials.credentials):
        request.state.client_id = ADMIN_CLIENT_ID  # for the request log
        return _admin_caller(request)
    error = AdminTokenRequired()
    error.headers["WWW-Authenticate"] = f'Bearer realm="{ADMIN_REALM}"'
    raise error


def _is_client_token(request: Request, token: str) -> bool:
    try:
        _verify(request, token, get_clock(request).now())
    except InvalidToken:
        return False
    return True
