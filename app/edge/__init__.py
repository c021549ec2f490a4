"""The sandbox edge: one pure-ASGI pass doing, for every HTTP request, what six middlewares did.

The deployment's app (``deployment=True``):

1. the request id (``X-Request-ID``: the caller's if short and plain, else a new one), kept in
   ``scope["state"]["request_id"]``; the headers every answer carries; the access line, metrics
   and recent-request entry of the answer (:mod:`app.edge.observe`);
2. the tenant dispatch: a request naming a tenant goes to the tenant's app, whose own edge does
   the rest (:mod:`app.edge.tenants`);

every app (the deployment and each tenant's):

3. fault injection (:mod:`app.edge.faults`);
4. the body limit: 413 by ``Content-Length`` before the app runs, or by counting a chunked body;
5. the input guard: control characters in the URL or a form body, ambiguous JSON
   (:mod:`app.middleware`);
6. the express routes: a request that ``express`` (the app's, :func:`app.routers.hot.express`)
   names a handler for goes to that pure-ASGI handler instead of through the app (a JSON or form
   body checked and replayed first; a chunked one always goes through the app).

The fast path -- no tenant named, no fault header, rules or persona, no body -- reads the
headers once, and allocates the request id, the watch of the answer and its headers; no database,
no lock, no thread. Pure ASGI (not ``BaseHTTPMiddleware``): a refused body is never buffered and
streaming answers stream.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.edge import faults as faults
from app.edge import tenants as tenants
from app.edge.observe import Watch
from app.errors import DomainError, PayloadTooLarge
from app.middleware import (
    BodyTooLarge,
    JsonBodyRejected,
    check_json_body,
    form_has_control,
    read_body,
    refuse_control,
    refuse_json,
    replay,
    send_problem,
    url_has_control,
)

# A caller's id is echoed only when it is short and plain, so it cannot inject into logs or headers.
_SAFE_REQUEST_ID = re.compile(rb"[A-Za-z0-9._:-]{1,64}")
_TENANT_PREFIX = tenants.tenants.PATH_PREFIX
_FORM = b"application/x-www-form-urlencoded"


def incoming_request_id(value: bytes) -> str | None:
    return value.decode("ascii") if _SAFE_REQUEST_ID.fullmatch(value) else None


def _body_kind(media: bytes | None) -> str | None:
    """``json``, ``form`` or ``None`` (a body the edge does not read) by ``Content-Type``."""
    if media is None:
        return None
    media = media.split(b";", 1)[0].strip().lower()
    if media == b"application/json" or media.endswith(b"+json"):
        return "json"
    return "form" if media == _FORM else None


class SandboxEdge:
    """The one middleware of every app (see the module). ``deployment``: the deployment's app
    (request ids, observation, tenant dispatch); a tenant's app has only its own part."""

    def __init__(self, app: ASGIApp, *, max_bytes: int, deployment: bool,
                 express: Callable[[Scope, ASGIApp | None], ASGIApp | None] | None = None) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.deployment = deployment
        self.express = express

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
        elif self.deployment:
            await self._deployment(scope, receive, send)
        else:
            await self._own(scope, receive, send)

    async def _deployment(self, scope: Scope, receive: Receive, send: Send) -> None:
        request_id, named = None, False
        for name, value in scope["headers"]:
            if name == b"x-request-id":
                request_id = incoming_request_id(value)
            elif name == b"x-sandbox-tenant" or name == b"cookie":
                named = True
        request_id = request_id or os.urandom(16).hex()  # secrets.token_hex(16), a call less
        state = scope.get("state")
        if state is None:
            state = scope["state"] = {}
        state["request_id"] = request_id
        watch = Watch(scope, send, request_id)
        receive, send = watch.wrap_receive(receive), watch.send
        try:
            by_path = scope["path"].startswith(_TENANT_PREFIX)
            if named or by_path:
                tenant_id, scope = tenants.tenant_of(scope, named=named)
                watch.scope = scope  # the route the tenant's (or our) router notes is in it
                if tenant_id is not None:
                    if by_path:
                        send = tenants.paths_kept(send, scope, tenant_id)
                    await tenants.serve(tenant_id, scope, receive, send)
                    return
            await self._own(scope, receive, send)
        finally:
            watch.record()

    async def _own(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Faults, the body limit, the input guard, then the app."""
        fault_header = length = media = None
        chunked = False
        for name, value in scope["headers"]:
            if name == b"content-length":
                length = value
            elif name == b"content-type":
                media = value
            elif name == b"x-sandbox-fault":
                fault_header = value
            elif name == b"transfer-encoding":
                chunked = True
        if not faults.quiet(scope["app"], fault_header, scope["path"]):
            chosen, receive = await faults.decide(scope, receive, fault_header)
            if isinstance(chosen, DomainError):
                await faults.send_error(send, chosen, scope)
                return
            if chosen is not None:
                await faults.inject(chosen, self._guarding(length, media, chunked), scope,
                                    receive, send)
                return
        await self._guarded(scope, receive, send, length=length, media=media, chunked=chunked)

    def _guarding(self, length: bytes | None, media: bytes | None,
                  chunked: bool) -> Callable[[Scope, Receive, Send], Any]:
        async def guarded(scope: Scope, receive: Receive, send: Send) -> None:
            await self._guarded(scope, receive, send, length=length, media=media, chunked=chunked)

        return guarded

    async def _guarded(self, scope: Scope, receive: Receive, send: Send, *,
                       length: bytes | None, media: bytes | None, chunked: bool) -> None:
        declared = int(length) if length is not None and length.isdigit() else None
        if declared is not None and declared > self.max_bytes:
            await send_problem(send, PayloadTooLarge(), [])
            return
        part = url_has_control(scope)
        if part is not None:
            await refuse_control(scope, receive, send, part)
            return
        kind = _body_kind(media)
        if declared is None and chunked:
            await self._counted(scope, receive, send, kind)
        elif kind is None:
            handler = None if self.express is None else self.express(scope, self.app)
            await (self.app if handler is None else handler)(scope, receive, send)
        else:
            await self._checked(scope, receive, send, kind)

    async def _checked(self, scope: Scope, receive: Receive, send: Send, kind: str) -> None:
        """A JSON or form body, read whole (already bounded), checked, then replayed."""
        body = await read_body(receive)
        if kind == "json":
            try:
                check_json_body(body)
            except JsonBodyRejected as error:
                await refuse_json(scope, send, error)
                return
        elif form_has_control(body):
            await refuse_control(scope, replay(body, receive), send, "body")
            return
        handler = None if self.express is None else self.express(scope, self.app)
        await (self.app if handler is None else handler)(scope, replay(body, receive), send)

    async def _counted(self, scope: Scope, receive: Receive, send: Send,
                       kind: str | None) -> None:
        """A chunked body: 413 once more than ``max_bytes`` have come (unless already answering)."""
        received, started = 0, False

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
            if kind is None:
                await self.app(scope, counting_receive, watching_send)
            else:
                await self._checked(scope, counting_receive, watching_send, kind)
        except BodyTooLarge:
            if started:
                raise
            await send_problem(send, PayloadTooLarge(), [])
