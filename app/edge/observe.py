"""What the deployment records of every request (pure ASGI, just inside the request-id
middleware, outside the tenant dispatch): the JSON access line, the Prometheus metrics and the
recent-request ring buffer. It reads the route template the router leaves in the scope, the
client the authentication noted, the tenant and the injected fault; for the token endpoint the
grant type, for verifications the verdict. Never a raw path, a body value or a credential.
"""

from __future__ import annotations

import json
import logging
import time
from collections import Counter as Tally
from typing import Any
from urllib.parse import parse_qsl

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.clock import system_now
from app.edge.faults import claimed_client_id
from app.services.kit import logging_json, metrics
from app.services.sandbox import faults
from app.services.sandbox.recorded_requests import Seen, ring

log = logging.getLogger("dancu.access")
VERIFY_ROUTES = {"/v1/citizens/verify": "citizen", "/v1/citizens/verify/batch": "citizen",
                 "/v1/cards/verify": "chip"}
TOKEN_PATH = "/oauth2/token"
MAX_KEPT = 65_536


def route_of(scope: Scope) -> str:
    """The route template; files under the static mount count as one route; anything the router
    did not match as ``<unmatched>`` (a label per raw path would grow without bound)."""
    route = scope.get("route")
    if getattr(route, "path", None):
        return str(route.path)  # type: ignore[union-attr]
    return "/static/{path}" if scope.get("path", "").startswith("/static/") else "<unmatched>"


def _verdicts(body: bytes) -> Tally[str]:
    try:
        answer = json.loads(body)
    except ValueError:
        return Tally()
    if isinstance(answer.get("summary"), dict):  # a batch: one count per item
        return Tally({str(k): int(v) for k, v in answer["summary"].items()})
    return Tally([str(answer["verdict"])]) if "verdict" in answer else Tally()


class _Watch:
    """What one request showed while it was answered."""

    def __init__(self, scope: Scope) -> None:
        self.scope = scope
        self.status = 500
        self.request_body = bytearray()
        self.response_body = bytearray()
        self.keep_request = scope.get("path") == TOKEN_PATH
        self.keep_response = False

    def wrap_receive(self, receive: Receive) -> Receive:
        if not self.keep_request:
            return receive

        async def watched() -> Message:
            message = await receive()
            if message["type"] == "http.request" and len(self.request_body) < MAX_KEPT:
                self.request_body.extend(message.get("body", b""))
            return message

        return watched

    def wrap_send(self, send: Send) -> Send:
        async def watched(message: Message) -> None:
            if message["type"] == "http.response.start":
                self.status = int(message["status"])
                self.keep_response = route_of(self.scope) in VERIFY_ROUTES
            elif (message["type"] == "http.response.body" and self.keep_response
                  and len(self.response_body) < MAX_KEPT):
                self.response_body.extend(message.get("body", b""))
            await send(message)

        return watched

    def client_id(self) -> str | None:
        noted = self.scope.get("state", {})
        found = noted.get("client_id") or noted.get("sandbox_fault_client")
        if found or not self.keep_request:
            return found
        return claimed_client_id(self.scope, bytes(self.request_body))

    def grant_type(self) -> str:
        fields = dict(parse_qsl(bytes(self.request_body).decode("latin-1")))
        grant = fields.get("grant_type", "unknown")
        return grant if len(grant) <= 64 else "unknown"


class ObserveMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        host, watch, started = scope["app"], _Watch(scope), time.perf_counter()
        try:
            await self.app(scope, watch.wrap_receive(receive), watch.wrap_send(send))
        finally:
            _record(host, watch, time.perf_counter() - started)


def _record(host: Any, watch: _Watch, seconds: float) -> None:
    scope, route = watch.scope, route_of(watch.scope)
    state = scope.get("state", {})
    fields = {"request_id": state.get("request_id", ""), "method": scope.get("method", ""),
              "path": route, "status": watch.status, "duration_ms": round(seconds * 1000, 2),
              "client_id": watch.client_id(), "tenant": state.get("tenant"),
              "fault": state.get("sandbox_fault")}
    metrics.observe(method=fields["method"], route=route, status=watch.status, seconds=seconds)
    if fields["fault"]:
        metrics.FAULTS.labels(faults.kind(fields["fault"])).inc()
    if route == TOKEN_PATH and watch.status == 200:
        metrics.TOKENS.labels(watch.grant_type()).inc()
    if route in VERIFY_ROUTES and watch.status == 200:
        for verdict, count in _verdicts(bytes(watch.response_body)).items():
            metrics.VERIFICATIONS.labels(VERIFY_ROUTES[route], verdict).inc(count)
    ring(host).add(Seen(at=system_now(), **fields))  # real time: when it was answered
    if log.isEnabledFor(logging.INFO):
        logging_json.access(**fields)
