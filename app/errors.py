"""Domain errors rendered as RFC 9457 ``application/problem+json``.

Every problem has a stable ``type`` URI ``https://dancu.sandbox/problems/<code>``; the table of
codes is ``docs/errors.md``. A problem never contains the caller's input or personal data.
OAuth/OIDC endpoints do not use this family (they answer in RFC 6749 / RFC 6750 formats).
"""

from __future__ import annotations

import logging
import re
from typing import Any, ClassVar

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match, Mount, compile_path
from starlette.types import Scope

from app.db import database_unreachable

PROBLEM_BASE = "https://dancu.sandbox/problems/"
PROBLEM_MEDIA_TYPE = "application/problem+json"
_MEMBERS = ("type", "title", "status", "detail", "instance")
log = logging.getLogger("dancu.errors")


# What a vocabulary word looks like (a scope, an event type: ``citizen.basic``,
# ``death.registered``). A refused value of that shape may be named in a problem; any other -- a
# PIN, a person's name, a megabyte a caller put there -- only by its position (:func:`named`).
_WORD_SHAPE = re.compile(r"[a-z][a-z0-9_]{0,31}(?:\.[a-z][a-z0-9_]{0,31}){0,2}\Z")


def named(value: str, index: int) -> str:
    """How a problem names a refused list item: quoted when it has a word's shape, otherwise
    ``item <index>``."""
    return repr(value) if _WORD_SHAPE.match(value) else f"item {index}"


class DomainError(Exception):
    """Base of all domain errors. Subclasses set ``code``, ``status`` and ``title``."""

    code: ClassVar[str] = "bad-request"
    status: ClassVar[int] = 400
    title: ClassVar[str] = "Bad request"

    def __init__(self, detail: str | None = None, **extensions: Any) -> None:
        super().__init__(detail or self.title)
        self.detail = detail
        self.extensions = extensions
        self.headers: dict[str, str] = {}

    def to_problem(self, instance: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {"type": PROBLEM_BASE + self.code, "title": self.title,
                                "status": self.status}
        if self.detail:
            body["detail"] = self.detail
        if instance:
            body["instance"] = instance
        # Extensions never replace the RFC 9457 members (a "status" extension once did).
        body.update({k: v for k, v in self.extensions.items() if k not in _MEMBERS})
        return body


class NotFound(DomainError):
    code, status, title = "not-found", 404, "Not found"


class MethodNotAllowed(DomainError):
    code, status, title = "method-not-allowed", 405, "Method not allowed"


class ValidationFailed(DomainError):
    code, status, title = "validation-error", 422, "The request is not valid"


class PayloadTooLarge(DomainError):
    code, status, title = "payload-too-large", 413, "The request body is too large"


class Unauthorized(DomainError):
    code, status, title = "unauthorized", 401, "Authentication required"


class Forbidden(DomainError):
    code, status, title = "forbidden", 403, "Not allowed"


class Conflict(DomainError):
    code, status, title = "conflict", 409, "Conflict"


class RateLimited(DomainError):
    code, status, title = "rate-limited", 429, "Too many requests"


class ServiceUnavailable(DomainError):
    code, status, title = "service-unavailable", 503, "Service unavailable"


class DatabaseUnavailable(DomainError):
    """The database could not be reached, or lost its primary mid-request (a failover): nothing
    of the request was committed (one transaction per request), so the client may send it again
    after ``Retry-After`` (with the same ``Idempotency-Key`` where the endpoint takes one)."""

    code, status, title = "database-unavailable", 503, "The database is unavailable; retry later"
    RETRY_AFTER_SECONDS = 1

    def __init__(self) -> None:
        super().__init__()
        self.headers["Retry-After"] = str(self.RETRY_AFTER_SECONDS)


class InternalError(DomainError):
    code, status, title = "internal-error", 500, "Internal server error"


class HttpProblem(DomainError):
    """Any other HTTP error raised by the framework (kept generic on purpose)."""

    code, title = "http-error", "HTTP error"

    def __init__(self, status: int) -> None:
        super().__init__()
        self.status = status  # type: ignore[misc]


def route_template(scope: Scope) -> str | None:
    """The route template (``/v1/citizens/{pin}``), never the path: a path may carry personal
    data. Before routing (a middleware answering), the template of the route the path would
    reach; ``None`` when no route matches."""
    route = getattr(scope.get("route"), "path", None)
    if route is not None or not isinstance(scope.get("app"), FastAPI):
        return route
    path = scope.get("path", "")
    return next((template for template, pattern in _templates(scope["app"])
                 if pattern.fullmatch(path)), None)


def _templates(app: FastAPI) -> list[tuple[str, re.Pattern[str]]]:
    """The documented route templates of ``app`` and their patterns, built once per app."""
    made = getattr(app.state, "route_templates", None)
    if made is None:
        made = [(template, compile_path(template)[0]) for template in app.openapi()["paths"]]
        app.state.route_templates = made
    return made


def _instance(request: Request) -> str | None:
    return route_template(request.scope)


def problem_body(error: DomainError, instance: str | None = None) -> bytes:
    """The problem document as :func:`problem_response` renders it (JSONResponse: UTF-8,
    compact), for the edge's answers sent before any route, so that every problem has one shape."""
    return JSONResponse(error.to_problem(instance)).body


def problem_response(error: DomainError, request: Request | None = None) -> JSONResponse:
    instance = _instance(request) if request is not None else None
    response = JSONResponse(error.to_problem(instance), status_code=error.status,
                            media_type=PROBLEM_MEDIA_TYPE)
    response.headers.update(error.headers)
    return response


UNKNOWN_MEMBER = "(unknown member)"
CALLER_KEY = "(key)"
# A location step the API names itself: a field name, an index, pydantic's own tags.
_OWN_STEP = re.compile(r"[A-Za-z0-9_.\-]{1,64}")


def _loc(err: dict[str, Any]) -> list[str]:
    """Where, in the API's words: an unknown member's name and a caller-chosen key (a mapping's)
    are the caller's text, so they are named by the rule, not repeated."""
    steps = [str(p) for p in err.get("loc", ())]
    if err.get("type") == "extra_forbidden" and len(steps) > 1:
        steps[-1] = UNKNOWN_MEMBER
    return [step if step == UNKNOWN_MEMBER or _OWN_STEP.fullmatch(step) else CALLER_KEY
            for step in steps][:8]


def _validation_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    """Where and which rule, never the rejected value (it may be personal data or huge)."""
    return [
        {"loc": _loc(err), "rule": err.get("type", "invalid"), "message": _safe_message(err)}
        for err in exc.errors()[:20]
    ]


# A broken bound is named with the bound (the schema's, never the value sent): pydantic's own
# messages say "Input should be ...", which the rule below would hide entirely.
_BOUNDS = {"less_than_equal": ("le", "must be at most {}"),
           "greater_than_equal": ("ge", "must be at least {}"),
           "less_than": ("lt", "must be less than {}"),
           "greater_than": ("gt", "must be greater than {}"),
           "literal_error": ("expected", "must be {}")}


def _safe_message(err: dict[str, Any]) -> str:
    ctx = err.get("ctx") or {}
    if isinstance(ctx.get("error"), ValueError) and getattr(ctx["error"], "rule", None):
        return str(ctx["error"])
    bound = _BOUNDS.get(str(err.get("type")))
    if bound is not None and bound[0] in ctx and len(str(ctx[bound[0]])) <= 200:
        return bound[1].format(ctx[bound[0]])
    message = str(err.get("msg", "invalid"))
    return message if len(message) <= 200 and "input" not in message.lower() else "invalid value"


async def _on_domain_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, DomainError)
    return problem_response(exc, request)


async def _on_validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    return problem_response(ValidationFailed(errors=_validation_errors(exc)), request)


# FastAPI's answer to a body it cannot decode (not UTF-8, nesting deeper than the parser's
# recursion limit): an invalid request like any other, so the documented 422, not a bare 400.
_UNPARSABLE_BODY = "There was an error parsing the body"


async def _on_http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    mapped: DomainError
    if exc.status_code == 400 and exc.detail == _UNPARSABLE_BODY:
        mapped = ValidationFailed(errors=[{"loc": ["body"], "rule": "body_invalid",
                                           "message": "The body is not valid JSON text."}])
    elif exc.status_code == 404:
        mapped = NotFound("No such resource.")
    elif exc.status_code == 405:
        mapped = MethodNotAllowed()
    elif exc.status_code == 413:
        mapped = PayloadTooLarge()
    elif exc.status_code == 401:
        mapped = Unauthorized()
    else:
        mapped = HttpProblem(exc.status_code)
    response = problem_response(mapped, request)
    if exc.headers:
        response.headers.update(exc.headers)
    if exc.status_code == 405:
        allowed = _allowed_methods(request.scope)
        if allowed:
            response.headers["Allow"] = allowed
    return response


_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")


def _allowed_methods(scope: Scope) -> str:
    """Every method some route of the app serves at this path (RFC 9110 §15.5.6). The router
    answers 405 with the methods of the first route matching the path only, and one path's
    methods are often several routes (a router each, ``GET`` and ``POST`` declared apart).
    Mounts (the static files) match any method: they are left to say it themselves."""
    router = getattr(scope.get("app"), "router", None)
    if router is None:
        return ""
    routes = [route for route in router.routes if not isinstance(route, Mount)]
    return ", ".join(method for method in _METHODS if any(
        route.matches({**scope, "method": method})[0] is Match.FULL for route in routes))


async def _on_unexpected(request: Request, exc: Exception) -> JSONResponse:
    if database_unreachable(exc):
        # The type only: the message may name hosts, and never the statement's values.
        log.warning("database unavailable on %s %s: %s", request.method, _instance(request),
                    type(exc).__name__)
        return problem_response(DatabaseUnavailable(), request)
    # The route template, not the path: a path may carry a PIN.
    log.exception("unhandled error on %s %s", request.method, _instance(request))
    return problem_response(InternalError(), request)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(DomainError, _on_domain_error)
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(StarletteHTTPException, _on_http_error)
    app.add_exception_handler(Exception, _on_unexpected)
