"""Pure ASGI middleware: request ids, response headers, and the request-body size limit.

Pure ASGI (not ``BaseHTTPMiddleware``) so a refused body is never buffered, and streaming and
background tasks keep working.
"""

from __future__ import annotations

import json
import re
import uuid

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.errors import PROBLEM_MEDIA_TYPE, PayloadTooLarge

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
    send: Send, error: PayloadTooLarge, extra: list[tuple[bytes, bytes]]
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
