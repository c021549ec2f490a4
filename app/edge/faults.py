"""Fault injection at the edge (:class:`app.edge.SandboxEdge`): applies ``X-Sandbox-Fault``, the
caller's rules and the fault personas to the requests of sandbox clients and the admin
(see :mod:`app.services.sandbox.faults`).

It runs in every app (the deployment and each tenant) before the body limit and the routes. A
request without the header, from a deployment without rules, that names no fault persona passes
through without any work beyond a header look-up and a scan of the path for a known PIN.

Who is calling is the client the request's credentials prove, checked here (only when a fault
could apply: the header, a rule, a persona): the admin token; an unexpired access token signed by
the provider (``typ`` ``at+jwt``: its ``client_id``; an ID token's audience is no proof, as
others see ID tokens); client credentials (HTTP Basic, or a ``client_secret``/``client_assertion``
form) checked by the token endpoint's rules. A ``client_id`` that is only claimed (a query or form
parameter) names nobody: otherwise an anonymous request could set off another client's rules and
use up its ``fail-first`` counters.
"""

from __future__ import annotations

import base64
import hmac
import json
import logging
import re
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

import anyio
from joserfc import jws, jwt
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, Key, RSAKey
from sqlalchemy.exc import SQLAlchemyError
from starlette.requests import Request
from starlette.types import Message, Receive, Scope, Send

from app.errors import (
    PROBLEM_MEDIA_TYPE,
    DomainError,
    InternalError,
    RateLimited,
    problem_body,
    route_template,
)
from app.errors import ServiceUnavailable as Unavailable
from app.middleware import read_body, replay
from app.oidc.tokens import ACCESS_TOKEN_TYP
from app.services.sandbox import faults
from app.services.sandbox.faults import Fault, InjectedTimeout, InvalidFault, SandboxClientRequired

log = logging.getLogger("dancu.faults")
HEADER = faults.FAULT_HEADER.lower().encode()
RULES_SECONDS = 2.0  # a rule set through another process applies within this delay
PERSONAS_SECONDS = 30.0
MAX_SCANNED_BODY = 65_536
_PIN = re.compile(rb"(?<![0-9])[0-9]{12}(?![0-9])")
_JWT = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")
OAUTH_JSON_PATHS = ("/oauth2/token", "/oauth2/introspect", "/oauth2/revoke", "/oauth2/userinfo")
PAGE_PREFIXES = ("/oauth2/authorize", "/oauth2/login", "/oauth2/otp", "/oauth2/consent",
                 "/oauth2/logout", "/oauth2/account")
QUIET_PATHS = ("/healthz", "/readyz", "/metrics", "/static/")  # only the header applies there
Sleep = Callable[[float], Awaitable[None]]


@dataclass
class _Caller:
    client_id: str
    allowed: bool  # a sandbox client of a sandbox deployment, or the admin


@dataclass
class FaultState:
    """What one app's middleware remembers: fault personas, rules, who a token belongs to."""

    personas: dict[bytes, Fault] = field(default_factory=dict)
    personas_at: float = -1e9
    rules: dict[str, list[tuple[Any, Fault]]] = field(default_factory=dict)
    rules_at: float = -1e9
    token_clients: dict[str, tuple[str | None, int]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def rules_changed(self) -> None:
        self.rules_at = -1e9


def fault_state(app: Any) -> FaultState:
    found = getattr(app.state, "sandbox_faults", None)
    if found is None:
        found = app.state.sandbox_faults = FaultState()
    return found


def sleeper(app: Any) -> Sleep:
    """The app's sleep: ``anyio.sleep`` unless a test put another in ``app.state.sandbox_sleep``."""
    return getattr(app.state, "sandbox_sleep", None) or anyio.sleep


# --- reading the request --------------------------------------------------------------------------


def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            return value
    return None


def _media_type(scope: Scope) -> bytes:
    raw = _header(scope, b"content-type") or b""
    return raw.split(b";", 1)[0].strip().lower()


def _scannable(scope: Scope) -> bool:
    length = _header(scope, b"content-length")
    media = _media_type(scope)
    return (length is not None and length.isdigit() and int(length) <= MAX_SCANNED_BODY
            and (media == b"application/x-www-form-urlencoded" or media.endswith(b"json")))


def _mentioned_pins(scope: Scope, body: bytes) -> set[bytes]:
    """The PINs a request names, and the persona key ``X-Sandbox-Login`` may name instead."""
    login = (_header(scope, b"x-sandbox-login") or b"").strip()
    places = [scope.get("path", "").encode(), scope.get("query_string", b""), login, body]
    return {match for place in places for match in _PIN.findall(place)} | {login}


# --- who is calling -------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Presented:
    """The credentials a request carries: a bearer token, or client credentials (HTTP Basic, or
    ``client_secret``/``client_assertion`` in a form body) as the token endpoint reads them."""

    token: str | None = None
    authorization: str | None = None
    form: dict[str, str] = field(default_factory=dict)


def _presented(scope: Scope, body: bytes) -> _Presented | None:
    authorization = (_header(scope, b"authorization") or b"").decode("latin-1")
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() == "bearer" and value:
        return _Presented(token=value.strip())
    form = dict(parse_qsl(body.decode("latin-1"))) \
        if _media_type(scope).startswith(b"application/x-www") else {}
    if scheme.lower() == "basic" or form.get("client_secret") or form.get("client_assertion"):
        return _Presented(authorization=authorization or None, form=form)
    return None  # a client_id alone (the authorization endpoint) proves nothing


def claimed_client_id(scope: Scope, body: bytes) -> str | None:
    """The client id a request names (HTTP Basic, a ``client_id`` form or query parameter): for
    the request log only (who tried), never to decide anything, since it proves nothing. Only
    one shaped as client ids are (:func:`_plausible`): the log must not carry whatever a caller
    sends in its place (3,000 characters, a citizen's number)."""
    scheme, _, value = (_header(scope, b"authorization") or b"").decode("latin-1").partition(" ")
    if scheme.lower() == "basic" and value:
        try:
            return _plausible(base64.b64decode(value.strip(), validate=True).decode()
                              .split(":")[0])
        except (ValueError, UnicodeDecodeError):
            return None
    for source in (body if _media_type(scope).startswith(b"application/x-www") else b"",
                   scope.get("query_string", b"")):
        found = dict(parse_qsl(source.decode("latin-1"))).get("client_id")
        if found:
            return _plausible(found)
    return None


def _plausible(claimed: str) -> str | None:
    from app.services.sharing.clients import CLIENT_ID_SHAPE  # by the first claim, not at start

    return claimed if CLIENT_ID_SHAPE.fullmatch(claimed) else None


def _token_client(request: Request, token: str) -> tuple[str | None, int]:
    """(client, expiry) of a token the provider signed and that has not expired; else None."""
    from app.security import key_store

    if not _JWT.fullmatch(token):
        return None, 0
    now = request.app.state.clock.now()
    try:
        keys = key_store(request).ring_for(token).verification_keys(now=now)
        decoded = jwt.decode(token, keys)
        claims = decoded.claims
        jwt.JWTClaimsRegistry(now=int(now.timestamp()), leeway=0,
                              exp={"essential": True}).validate(claims)
    except (JoseError, ValueError, TypeError, KeyError):
        return None, 0
    # Only an access token proves its bearer is its client: an ID token (its aud, its azp) or a
    # logout token names a client too, yet passes through others' hands (a citizen's browser
    # carries the ID token of an RP-initiated logout's id_token_hint), and would let them set off
    # that client's fault rules, use up its fail-first counters and write into its request list.
    if decoded.header.get("typ") != ACCESS_TOKEN_TYP or not claims.get("client_id"):
        return None, 0
    return str(claims["client_id"]), int(claims["exp"])


def _credentials_client(request: Request, presented: _Presented) -> str | None:
    """The client whose credentials check out by the token endpoint's own rules, else None."""
    from app.oidc import errors as oauth
    from app.security import runtime
    from app.services.sharing import client_auth, tokens

    settings, now = request.app.state.settings, request.app.state.clock.now()
    asked = tokens.TokenRequest(presented.form, presented.authorization)
    try:
        with runtime(request).database.read() as session:
            client, _ = client_auth.identify(session, asked, settings=settings, now=now,
                                             token_endpoint=tokens.token_endpoint(settings))
    except oauth.OAuthError:
        return None
    return str(client.client_id)


async def _bearer_client(request: Request, state: FaultState, token: str) -> str | None:
    from app.security import runtime

    now = int(request.app.state.clock.now().timestamp())
    remembered = state.token_clients.get(token)
    if remembered is None or remembered[1] <= now:
        remembered = await runtime(request).run_blocking(lambda: _token_client(request, token))
        with state.lock:
            if len(state.token_clients) > 4096:
                state.token_clients.clear()
            state.token_clients[token] = remembered
    return remembered[0] if remembered[1] > now else None


async def _admin(request: Request, token: str, *, asks: bool) -> _Caller | None:
    """The admin, if ``token`` is the admin token; throttled like the admin routes (a wrong token
    is counted when it ``asks`` for a fault, or the header would tell a guesser when a guess is
    right; other opaque tokens, the VNeID app's, are no guesses)."""
    from app.security import checked_secret, off_loop

    settings = request.app.state.settings
    right = hmac.compare_digest(token.encode("utf-8", "replace"), settings.admin_token.encode())
    if right or asks:
        await off_loop(lambda: checked_secret(request, matches=right, count=asks))
    return _Caller("admin", bool(settings.sandbox)) if right else None


async def _caller(request: Request, state: FaultState, body: bytes, *,
                  asks: bool) -> _Caller | None:
    """The authenticated caller only: a claimed, unproven client id would let anyone set off (and
    use up the ``fail-first`` counters of) another client's faults."""
    from app.security import runtime

    presented = _presented(request.scope, body)
    if presented is None:
        return None
    token = presented.token
    settings = request.app.state.settings
    if token is not None and (not _JWT.fullmatch(token) or hmac.compare_digest(
            token.encode("utf-8", "replace"), settings.admin_token.encode())):
        # not a JWT: the admin token, or nobody
        return await _admin(request, token, asks=asks)
    if token is not None:
        client_id = await _bearer_client(request, state, token)
    else:
        client_id = await runtime(request).run_blocking(
            lambda: _credentials_client(request, presented))
    return await _known(request, client_id) if client_id else None


async def _known(request: Request, client_id: str) -> _Caller:
    from app.security import runtime

    settings = request.app.state.settings
    shared = runtime(request)
    snapshot = shared.clients.get(client_id)
    if snapshot is False:
        def load() -> Any:
            with shared.database.read() as session:
                return shared.clients.load(session, client_id)
        snapshot = await shared.run_blocking(load)
    sandbox = bool(snapshot and snapshot.sandbox and settings.sandbox)  # type: ignore[union-attr]
    return _Caller(client_id, sandbox)


# --- what the sandbox remembers -------------------------------------------------------------------


def _load_personas(request: Request) -> dict[bytes, Fault]:
    from app.security import runtime
    from app.services.sandbox import personas

    with runtime(request).database.read() as session:
        pins = personas.fault_pins(session)
    return {pin.encode(): faults.parse(text) for pin, text in pins.items()}


def _load_rules(request: Request) -> dict[str, list[tuple[Any, Fault]]]:
    from app.security import runtime

    found: dict[str, list[tuple[Any, Fault]]] = {}
    with runtime(request).database.read() as session:
        for rule in faults.all_rules(session):
            session.expunge(rule)
            found.setdefault(rule.client_id, []).append((rule, faults.parse(rule.fault)))
    return found


async def _refresh(request: Request, state: FaultState) -> None:
    """Reload what is stale; a database that cannot answer (down, not migrated) means none."""
    from app.security import runtime

    now = time.monotonic()
    try:
        if now - state.personas_at > PERSONAS_SECONDS:
            state.personas_at = now
            state.personas = await runtime(request).run_blocking(lambda: _load_personas(request))
        if now - state.rules_at > RULES_SECONDS:
            state.rules_at = now
            state.rules = await runtime(request).run_blocking(lambda: _load_rules(request))
    except SQLAlchemyError:
        log.warning("fault personas and rules not read: the database does not answer")


# --- answering ------------------------------------------------------------------------------------


def _error_of(fault: Fault) -> DomainError:
    if fault.timeout_ms is not None or fault.status == 504:
        return InjectedTimeout("Injected by the sandbox (X-Sandbox-Fault).")
    if fault.status == 429:
        error: DomainError = RateLimited("Injected by the sandbox (X-Sandbox-Fault).")
    elif fault.status == 503:
        error = Unavailable("Injected by the sandbox (X-Sandbox-Fault).")
    else:
        return InternalError("Injected by the sandbox (X-Sandbox-Fault).")
    error.headers["Retry-After"] = str(fault.retry_after)
    return error


def _oauth_body(error: DomainError) -> bytes:
    code = "server_error" if error.status == 500 else "temporarily_unavailable"
    return json.dumps({"error": code, "error_description": error.detail or error.title}).encode()


def _page_body(error: DomainError) -> bytes:
    return (f"<!doctype html><html lang=en><meta charset=utf-8><title>{error.status}</title>"
            f"<h1>{error.title}</h1><p>{error.detail}</p></html>").encode()


async def send_error(send: Send, error: DomainError, scope: Scope) -> None:
    """The error in the format the endpoint answers in: RFC 6749 JSON, an HTML page, or
    problem+json (its ``instance`` the route template, never the path)."""
    path = scope.get("path", "")
    if path in OAUTH_JSON_PATHS:
        body, media = _oauth_body(error), b"application/json"
    elif path.startswith(PAGE_PREFIXES):
        body, media = _page_body(error), b"text/html; charset=utf-8"
    else:
        body = problem_body(error, route_template(scope))
        media = PROBLEM_MEDIA_TYPE.encode()
    headers = [(b"content-type", media), (b"content-length", str(len(body)).encode()),
               (b"cache-control", b"no-store"),
               *((k.lower().encode(), v.encode()) for k, v in error.headers.items())]
    await send({"type": "http.response.start", "status": error.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


_FORGERS: dict[str, Key] = {}


def _forger(alg: str) -> Key:
    """A key nobody publishes, made once per process."""
    family = "RSA" if alg.startswith(("RS", "PS")) else "EC"
    if family not in _FORGERS:
        _FORGERS[family] = (RSAKey.generate_key(2048) if family == "RSA"
                            else ECKey.generate_key("P-256"))
    return _FORGERS[family]


class _WideHeaders(jws.JWSRegistry):
    """joserfc's default refuses headers over 512 bytes; a signed document's ``x5c`` is longer."""

    max_header_length = 8192


def forge(token: str) -> str:
    """The same header and claims, signed with an unknown key (the ``kid`` still names ours)."""
    signed = jws.extract_compact(token.encode(), registry=_WideHeaders())
    header, payload = dict(signed.protected), signed.payload
    alg = str(header.get("alg", "ES256"))
    forged = jws.serialize_compact(header, payload, _forger(alg),
                                   registry=_WideHeaders(algorithms=[alg]))
    return str(forged)


def _forged_body(body: bytes) -> bytes:
    try:
        document = json.loads(body)
    except ValueError:
        return body
    if isinstance(document, dict):
        for name, value in document.items():
            if isinstance(value, str) and _JWT.fullmatch(value) and value.count(".") == 2:
                try:
                    document[name] = forge(value)
                except (JoseError, ValueError):
                    continue
    return json.dumps(document).encode()


def rewritten(fault: Fault, body: bytes) -> bytes:
    if fault.bad_signature:
        return _forged_body(body)
    cut = body[: max(1, len(body) // 2)]
    return cut if cut != body else b"{"


async def _rewriting(app: Rest, fault: Fault, scope: Scope, receive: Receive,
                     send: Send) -> None:
    start: Message | None = None
    chunks: list[bytes] = []

    async def capture(message: Message) -> None:
        nonlocal start
        if message["type"] == "http.response.start":
            start = message
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    await app(scope, receive, capture)
    assert start is not None
    body = rewritten(fault, b"".join(chunks))
    headers = [(k, v) for k, v in start.get("headers", []) if k.lower() != b"content-length"]
    headers.append((b"content-length", str(len(body)).encode()))
    await send({**start, "headers": headers})
    await send({"type": "http.response.body", "body": body})


# --- the edge's fault step ----------------------------------------------------------------------

Rest = Callable[[Scope, Receive, Send], Awaitable[None]]


def quiet(host: Any, header: bytes | None, path: str) -> bool:
    """No fault can apply: no header, and a deployment that is no sandbox or a probe's path."""
    return header is None and (not host.state.settings.sandbox or path.startswith(QUIET_PATHS))


async def decide(scope: Scope, receive: Receive,
                 header: bytes | None) -> tuple[Fault | DomainError | None, Receive]:
    """The fault a request asked for (``None``: none), and the ``receive`` the rest reads from
    (the body replayed when it had to be read). Without the header, rules or a mentioned fault
    persona, this is a clock read, a dictionary look-up and a scan for PINs: nothing is read from
    the database but the rules and personas, refreshed at most every :data:`RULES_SECONDS`."""
    host = scope["app"]
    state = fault_state(host)
    now = time.monotonic()
    if now - state.rules_at > RULES_SECONDS or now - state.personas_at > PERSONAS_SECONDS:
        await _refresh(Request(scope), state)
    if header is None and not state.rules:
        if not state.personas:
            return None, receive
        body, receive = await _scanned_body(scope, receive)
        if not any(pin in state.personas for pin in _mentioned_pins(scope, body)):
            return None, receive
    else:
        body, receive = await _scanned_body(scope, receive)
    return await _choose(Request(scope), state, header, body), receive


async def _scanned_body(scope: Scope, receive: Receive) -> tuple[bytes, Receive]:
    if not _scannable(scope):
        return b"", receive
    body = await read_body(receive)  # an empty body too: replay it, or the route waits forever
    return body, replay(body, receive)


async def _choose(request: Request, state: FaultState, header: bytes | None,
                  body: bytes) -> Fault | DomainError | None:
    persona = next((state.personas[pin] for pin in _mentioned_pins(request.scope, body)
                    if pin in state.personas), None)
    if header is None and persona is None and not state.rules:
        return None
    try:
        caller = await _caller(request, state, body, asks=header is not None)
    except DomainError as refused:  # a source locked out after wrong admin tokens
        return refused
    if caller is not None:
        request.scope.setdefault("state", {})["sandbox_fault_client"] = caller.client_id
    if header is not None:
        if caller is None or not caller.allowed:
            return SandboxClientRequired(
                "X-Sandbox-Fault is honoured for sandbox clients and the admin only.")
        try:
            return faults.parse(header.decode("latin-1"))
        except InvalidFault as invalid:
            return invalid
    rule = _rule(request, state, caller) if caller and caller.allowed else None
    if rule is not None or persona is None:
        return rule
    if caller is None and request.url.path.startswith(PAGE_PREFIXES):
        # A browser on the login pages carries no client credentials: the client the
        # authorization request names chooses a persona's fault (the persona's, not the
        # client's: it changes this one answer and counts nothing).
        claimed = claimed_client_id(request.scope, body)
        caller = await _known(request, claimed) if claimed else None
    return persona if caller is not None and caller.allowed else None


def _rule(request: Request, state: FaultState, caller: _Caller) -> Fault | None:
    for rule, fault in state.rules.get(caller.client_id, ()):
        if faults.matches(rule, method=request.method, path=request.url.path):
            request.scope["state"]["sandbox_fault_rule"] = rule.id
            return fault
    return None


async def inject(fault: Fault, rest: Rest, scope: Scope, receive: Receive, send: Send) -> None:
    """Answer with ``fault``: wait, answer an error instead, or let ``rest`` (the remaining edge
    and the routes) answer and rewrite its body."""
    host = scope["app"]
    if fault.fail_first is not None and not await _still_failing(host, fault, scope):
        await rest(scope, receive, send)
        return
    scope.setdefault("state", {})["sandbox_fault"] = fault.text
    sleep = sleeper(host)
    if fault.latency_ms:
        await sleep(fault.latency_ms / 1000)
    if fault.timeout_ms is not None:
        await sleep(fault.timeout_ms / 1000)
    if fault.answers_instead:
        await send_error(send, _error_of(fault), scope)
    elif fault.rewrites_body:
        await _rewriting(rest, fault, scope, receive, send)
    else:
        await rest(scope, receive, send)


async def _still_failing(host: Any, fault: Fault, scope: Scope) -> bool:
    """Count this request against ``fail-first``: whether it is still among the first N."""
    from app.security import runtime

    request = Request(scope)
    state = scope.get("state", {})
    client_id = state.get("sandbox_fault_client") or "anonymous"
    key = faults.counter_key(fault, method=request.method, path=request.url.path,
                             rule_id=state.get("sandbox_fault_rule"))
    shared = runtime(request)
    now = host.state.clock.now()

    def count() -> int:
        with shared.database.write() as session:
            return faults.count_request(session, client_id=client_id, key=key, now=now)

    return await shared.run_blocking(count) <= (fault.fail_first or 0)
