"""Pure ASGI middleware: request ids, response headers, the request-body size limit, and the
input guard (control characters in the URL and form bodies, unambiguous plain JSON bodies).

Pure ASGI (not ``BaseHTTPMiddleware``) so a refused body is never buffered, and streaming and
background tasks keep working.
"""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.errors import PROBLEM_MEDIA_TYPE, DomainError, PayloadTooLarge, ValidationFailed

REQUEST_ID_HEADER = "x-request-id"
# A caller's id is echoed only when it is short and plain, so it cannot inject into logs or headers.
_SAFE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")
# Responses under these prefixes may carry personal data or credentials
# (RFC 6749 §5.1, ASVS 14.3.2).
NO_STORE_PREFIXES = ("/v1/", "/oauth2/")


class BodyTooLarge(HTTPException):
    """Raised from ``receive`` when a streamed body passes the limit; FastAPI re-raises it as is."""

    def __init__(self) -> None:
        super().__init__(status_code=413)


def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            return value
    return None


def _declared_length(scope: Scope) -> int | None:
    raw = _header(scope, b"content-length")
    if raw is None or not raw.isdigit():
        return None
    return int(raw)


async def send_problem(
    send: Send, error: DomainError, extra: list[tuple[bytes, bytes]]
) -> None:
    body = json.dumps(error.to_problem()).encode()
    headers = [
        (b"content-type", PROBLEM_MEDIA_TYPE.encode()),
        (b"content-length", str(len(body)).encode()),
        (b"connection", b"close"),
        *extra,
    ]
    await send({"type": "http.response.start", "status": error.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class BodyLimitMiddleware:
    """Refuse bodies over ``max_bytes`` with 413: by ``Content-Length`` before the app runs, and by
    counting streamed (chunked) bytes as the app reads them."""

    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _declared_length(scope)
        if declared is not None and declared > self.max_bytes:
            await send_problem(send, PayloadTooLarge(), [])
            return
        await self._guarded(scope, receive, send)

    async def _guarded(self, scope: Scope, receive: Receive, send: Send) -> None:
        received = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise BodyTooLarge()
            return message

        async def watching_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, watching_send)
        except BodyTooLarge:
            if started:
                raise
            await send_problem(send, PayloadTooLarge(), [])


class RequestContextMiddleware:
    """Give every request an id (``X-Request-ID``: the caller's if safe, else a new one), keep it in
    ``request.state.request_id``, echo it, and add the headers every response needs."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = incoming_request_id(scope) or uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        no_store = scope.get("path", "").startswith(NO_STORE_PREFIXES)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = _with_headers(message.get("headers", []), request_id, no_store)
            await send(message)

        await self.app(scope, receive, send_with_headers)


def incoming_request_id(scope: Scope) -> str | None:
    raw = _header(scope, REQUEST_ID_HEADER.encode())
    if raw is None:
        return None
    value = raw.decode("latin-1")
    return value if _SAFE_REQUEST_ID.fullmatch(value) else None


def _with_headers(
    headers: list[tuple[bytes, bytes]], request_id: str, no_store: bool
) -> list[tuple[bytes, bytes]]:
    names = {name.lower() for name, _ in headers}
    extra = [(REQUEST_ID_HEADER.encode(), request_id.encode())]
    if b"x-content-type-options" not in names:
        extra.append((b"x-content-type-options", b"nosniff"))
    if no_store and b"cache-control" not in names:
        extra.append((b"cache-control", b"no-store"))
    return [(n, v) for n, v in headers if n.lower() != REQUEST_ID_HEADER.encode()] + extra


# --- JSON bodies: one meaning per document --------------------------------------------------------

MAX_JSON_DEPTH = 32


class JsonBodyRejected(ValidationFailed):
    """A JSON body the API refuses before any route sees it; ``rule`` says why, never where."""

    def __init__(self, rule: str, message: str) -> None:
        super().__init__(errors=[{"loc": ["body"], "rule": rule, "message": message}])


def _reject_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [key for key, _ in pairs]
    if len(set(keys)) != len(keys):
        # Parsers disagree on which duplicate wins (first, last, error): refuse the ambiguity.
        raise JsonBodyRejected("json.duplicate_key", "An object repeats a member name.")
    return dict(pairs)


def _check_value(value: Any, depth: int = 1) -> None:
    if depth > MAX_JSON_DEPTH:
        raise JsonBodyRejected("json.depth", f"JSON nests deeper than {MAX_JSON_DEPTH} levels.")
    if isinstance(value, str):
        _check_text(value)
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_text(key)
            _check_value(item, depth + 1)
    elif isinstance(value, list):
        for item in value:
            _check_value(item, depth + 1)


def _check_text(text: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise JsonBodyRejected("json.surrogate", "Text must be valid Unicode.") from None
    if _CONTROL.search(text):
        raise JsonBodyRejected("json.control_character",
                               "Text must not contain control characters.")


# C0 controls but TAB, LF and CR; DEL; C1 controls (NEL U+0085 is whitespace to str.strip).
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def check_json_body(body: bytes) -> None:
    """Raise :class:`JsonBodyRejected` for a body that is not one unambiguous, plain JSON text."""
    try:
        document = json.loads(body, object_pairs_hook=_reject_duplicates)
    except RecursionError:
        raise JsonBodyRejected("json.depth", f"JSON nests deeper than {MAX_JSON_DEPTH} levels.") \
            from None
    except (ValueError, UnicodeDecodeError):
        return  # not JSON at all: the route's own parser answers (422)
    _check_value(document)


def _is_json(scope: Scope) -> bool:
    raw = _header(scope, b"content-type")
    if raw is None:
        return False
    media = raw.split(b";", 1)[0].strip().lower()
    return media == b"application/json" or media.endswith(b"+json")


async def read_body(receive: Receive) -> bytes:
    """The whole request body (what a middleware reads before the route, see :func:`replay`)."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def replay(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that hands the route the body a middleware has already read."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if sent:
            return await receive()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay


# --- control characters in the URL and in form bodies ---------------------------------------------

# In a path or query (percent-decoded): any C0 control, DEL or C1 control. In a form body the
# same but TAB, LF and CR (a text area may send them). Raw bytes are found with bytes.translate,
# escapes by an expression on the lowered bytes: a few microseconds for an authorization
# request's query, a third to a half of what one expression for both took (measured in isolation).
_RAW_URL = bytes(range(0x20)) + b"\x7f"
_RAW_FORM = bytes(set(_RAW_URL) - set(b"\t\n\r"))
_URL_CONTROL = re.compile(rb"%(?:[01][0-9a-f]|7f|c2%[89][0-9a-f])|\xc2[\x80-\x9f]")
_FORM_CONTROL = re.compile(rb"%(?:0[0-8bcef]|1[0-9a-f]|7f|c2%[89][0-9a-f])|\xc2[\x80-\x9f]")


def _has_control(data: bytes, *, raw: bytes, encoded: re.Pattern[bytes]) -> bool:
    if len(data.translate(None, raw)) != len(data):
        return True
    if b"%" not in data and b"\xc2" not in data:
        return False
    return encoded.search(data.lower()) is not None


_ANY_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")  # a decoded path
_FORM_MEDIA = b"application/x-www-form-urlencoded"
# Pages a browser shows (an HTML error page), and the endpoints answering RFC 6749 §5.2 JSON;
# the rest (the app's QR approval too) answer problem+json.
_OAUTH_PAGES = ("/oauth2/authorize", "/oauth2/logout", "/oauth2/login/", "/oauth2/otp/",
                "/oauth2/consent/", "/oauth2/account/")
_OAUTH_JSON = ("/oauth2/token", "/oauth2/introspect", "/oauth2/revoke", "/oauth2/userinfo")
_CONTROL_DESCRIPTION = "The request contains control characters."


def _url_has_control(scope: Scope) -> str | None:
    """``path`` or ``query`` when that part of the URL holds a control character."""
    if _ANY_CONTROL.search(scope.get("path", "")):
        return "path"
    if _has_control(scope.get("query_string", b""), raw=_RAW_URL, encoded=_URL_CONTROL):
        return "query"
    return None


def _is_form(scope: Scope) -> bool:
    raw = _header(scope, b"content-type")
    return raw is not None and raw.split(b";", 1)[0].strip().lower() == _FORM_MEDIA


async def _refuse_control(scope: Scope, receive: Receive, send: Send, part: str) -> None:
    """The endpoint's own 4xx: an HTML error page, an RFC 6749 error, or a problem (422)."""
    path = scope.get("path", "")
    if path.startswith(_OAUTH_PAGES):
        from starlette.requests import Request

        from app.routers import html

        response = html.error_page(Request(scope, receive), lang="vi",
                                   message=html.text("vi", "error_title"),
                                   error_code="invalid_request",
                                   description=_CONTROL_DESCRIPTION)
        await response(scope, receive, send)
    elif path in _OAUTH_JSON:
        body = json.dumps({"error": "invalid_request",
                           "error_description": _CONTROL_DESCRIPTION}).encode()
        await send({"type": "http.response.start", "status": 400, "headers": [
            (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
            (b"cache-control", b"no-store")]})
        await send({"type": "http.response.body", "body": body})
    else:
        await send_problem(send, ValidationFailed(errors=[{
            "loc": [part], "rule": "control_character",
            "message": "Text must not contain control characters."}]), [])


class InputGuardMiddleware:
    """Refuse, before any route: a path, a query or a form body holding a control character (a
    NUL made PostgreSQL fail with 500 on ids and parameters) -- HTML pages with an error page,
    the RFC 6749 endpoints with ``invalid_request``, the rest with a ``validation-error`` problem
    whose rule is ``control_character``; and a JSON body (read whole, already bounded by
    :class:`BodyLimitMiddleware`) with duplicate member names, nesting deeper than
    ``MAX_JSON_DEPTH``, lone surrogates or control characters (422). The route then reads the
    same bytes. One middleware for both, so a request pays for one layer."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        part = _url_has_control(scope)
        if part is not None:
            await _refuse_control(scope, receive, send, part)
            return
        if _is_json(scope):
            await self._json(scope, receive, send)
        elif _is_form(scope):
            await self._form(scope, receive, send)
        else:
            await self.app(scope, receive, send)

    async def _json(self, scope: Scope, receive: Receive, send: Send) -> None:
        body = await read_body(receive)
        try:
            check_json_body(body)
        except JsonBodyRejected as error:
            await send_problem(send, error, [])
            return
        await self.app(scope, replay(body, receive), send)

    async def _form(self, scope: Scope, receive: Receive, send: Send) -> None:
        body = await read_body(receive)
        if _has_control(body, raw=_RAW_FORM, encoded=_FORM_CONTROL):
            await _refuse_control(scope, replay(body, receive), send, "body")
            return
        await self.app(scope, replay(body, receive), send)
