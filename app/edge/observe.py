"""What the deployment records of every request (by the deployment's edge, :mod:`app.edge`,
around the tenant dispatch): the headers every answer carries, the JSON access line, the
Prometheus metrics and the recent-request ring buffer. It reads the route template the router
leaves in the scope, the client the authentication noted, the tenant and the injected fault; for
the token endpoint the grant type, for verifications the verdict. Never a raw path, a body value
or a credential.
"""

from __future__ import annotations

import json
import logging
import time
from collections import Counter as Tally
from typing import Any
from urllib.parse import parse_qsl

from starlette.types import Message, Receive, Scope, Send

from app.clock import system_now
from app.edge.faults import claimed_client_id
from app.middleware import NO_STORE_PREFIXES as NO_STORE
from app.middleware import REQUEST_ID_HEADER
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


class Watch:
    """What one request showed while it was answered; its ``send`` also adds the headers every
    response carries (the request id, ``nosniff``, ``no-store`` under the API prefixes)."""

    __slots__ = ("scope", "host", "request_id", "status", "request_body", "response_body",
                 "keep_request", "keep_response", "_send", "started")

    def __init__(self, scope: Scope, send: Send, request_id: str) -> None:
        self.scope = scope
        self.host = scope["app"]  # the deployment's (a tenant's app puts itself in the scope)
        self.request_id = request_id
        self.status = 500
        self.keep_request = scope["path"] == TOKEN_PATH
        self.request_body = bytearray() if self.keep_request else b""
        self.response_body = b""
        self.keep_response = False
        self._send = send
        self.started = time.perf_counter()

    def wrap_receive(self, receive: Receive) -> Receive:
        if not self.keep_request:
            return receive

        async def watched() -> Message:
            message = await receive()
            if message["type"] == "http.request" and len(self.request_body) < MAX_KEPT:
                self.request_body.extend(message.get("body", b""))  # type: ignore[union-attr]
            return message

        return watched

    async def send(self, message: Message) -> None:
        kind = message["type"]
        if kind == "http.response.start":
            self.status = int(message["status"])
            message["headers"] = with_headers(message.get("headers", []), self.request_id,
                                              no_store=self.scope["path"].startswith(NO_STORE))
            # the answer's verdicts, unless the route noted them (state "verdicts")
            self.keep_response = route_of(self.scope) in VERIFY_ROUTES and \
                "verdicts" not in self.scope.get("state", {})
            if self.keep_response:
                self.response_body = bytearray()
        elif (kind == "http.response.body" and self.keep_response
              and len(self.response_body) < MAX_KEPT):
            self.response_body.extend(message.get("body", b""))  # type: ignore[union-attr]
        await self._send(message)

    def client_id(self) -> tuple[str | None, bool]:
        """The client and whether the request proved it is that client: noted by the route's
        or the fault step's authentication; else, at the token endpoint, the client id the
        request only names (who tried), never attributed to that client's own list."""
        noted = self.scope.get("state", {})
        found = noted.get("client_id") or noted.get("sandbox_fault_client")
        if found or not self.keep_request:
            return found, found is not None
        return claimed_client_id(self.scope, bytes(self.request_body)), False

    def grant_type(self) -> str:
        grant = self.scope.get("state", {}).get("grant_type")  # noted by the token route
        if grant is None:
            fields = dict(parse_qsl(bytes(self.request_body).decode("latin-1")))
            grant = fields.get("grant_type", "unknown")
        return grant if len(grant) <= 64 else "unknown"

    def record(self) -> None:
        """The access line, the metrics and the ring buffer's entry of the answered request."""
        _record(self.host, self, time.perf_counter() - self.started)


_REQUEST_ID = REQUEST_ID_HEADER.encode()
_NOSNIFF = (b"x-content-type-options", b"nosniff")
_NO_STORE = (b"cache-control", b"no-store")


def with_headers(headers: Any, request_id: str, *, no_store: bool) -> list[tuple[bytes, bytes]]:
    """The response's headers, its ``X-Request-ID`` replaced by ours, ``nosniff`` and (``no_store``)
    ``Cache-Control: no-store`` added unless the route set its own."""
    kept: list[tuple[bytes, bytes]] = []
    sniff = cache = False
    for name, value in headers:
        lowered = name.lower()
        if lowered == _REQUEST_ID:
            continue
        sniff = sniff or lowered == b"x-content-type-options"
        cache = cache or lowered == b"cache-control"
        kept.append((name, value))
    kept.append((_REQUEST_ID, request_id.encode()))
    if not sniff:
        kept.append(_NOSNIFF)
    if no_store and not cache:
        kept.append(_NO_STORE)
    return kept


def _record(host: Any, watch: Watch, seconds: float) -> None:
    scope, route = watch.scope, route_of(watch.scope)
    state = scope.get("state", {})
    client_id, proven = watch.client_id()
    fields = {"request_id": watch.request_id, "method": scope.get("method", ""),
              "path": route, "status": watch.status, "duration_ms": round(seconds * 1000, 2),
              "client_id": client_id, "client_authenticated": proven,
              "tenant": state.get("tenant"), "fault": state.get("sandbox_fault")}
    metrics.observe(method=fields["method"], route=route, status=watch.status, seconds=seconds)
    if fields["fault"]:
        metrics.FAULTS.labels(faults.kind(fields["fault"])).inc()
    if route == TOKEN_PATH and watch.status == 200:
        metrics.TOKENS.labels(watch.grant_type()).inc()
    if route in VERIFY_ROUTES and watch.status == 200:
        noted = state.get("verdicts")
        verdicts = _verdicts(bytes(watch.response_body)) if noted is None else Tally(noted)
        for verdict, count in verdicts.items():
            metrics.VERIFICATIONS.labels(VERIFY_ROUTES[route], verdict).inc(count)
    ring(host).add(Seen(at=system_now(), **fields))  # real time: when it was answered
    if log.isEnabledFor(logging.INFO):
        logging_json.access(**fields)
