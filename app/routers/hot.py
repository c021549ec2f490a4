"""The login flow's three endpoints, the data-sharing lookup and the liveness probe, served by
plain Starlette routes matched before FastAPI's.

FastAPI's handling of a request -- walking the included routers, solving the dependencies even of
an endpoint that has none, the per-request exit stack -- cost ~0.5 ms of a login flow's ~3.9 ms of
CPU (authorize -> token -> userinfo; paired in-process runs, bench/RESULTS.md). These endpoints
take only the ``Request`` and return a ``Response``, so FastAPI does nothing for them that is lost
here; their FastAPI routes stay registered, for the OpenAPI description. The same exception
handlers and middleware apply to both kinds of route.

``POST /v1/cards/verify`` (FORWARDED) is matched first too. A JSON body that validates against
its typed schema goes to :func:`app.routers.cards.verify_first` (the same dependencies, called
there); any other request (another media type, a body that does not validate) is handed, body
replayed, to its FastAPI route, whose own answers (422 with FastAPI's error list, 401/403 first
where FastAPI gives them) are thereby unchanged.

The two busiest of them, the data-sharing lookup and ``/healthz``, are also served *express*
(:func:`express`): the sandbox edge (:mod:`app.edge`), once it has done its own pass (request
id, observation, tenant, faults, limits), hands a ``GET`` of their paths straight to a pure-ASGI
handler here instead of to the app, so Starlette's exception middleware, FastAPI's exit stack,
the router's matching and the ``Response`` object are skipped (a third of the lookup's CPU
outside its own work, bench/RESULTS.md "Third pass on the lookup"). What they did is done here:
the route is noted in the scope (metrics, access log, problem ``instance``), domain errors and
HTTP exceptions go to the app's own exception handlers, anything else propagates to the server
error middleware as before. The login flow's three endpoints are served express too; their
common requests (the headless authorization, the token request with a form body, userinfo by
``GET``) are answered as bytes by :mod:`app.routers.express_login`, any other by the endpoint.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.routing import APIRoute
from pydantic import BaseModel, ValidationError
from starlette._utils import get_route_path
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Match, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from app.errors import DomainError
from app.middleware import read_body, replay
from app.routers import citizens, express_login, health, oauth, token

HOT: tuple[tuple[str, Callable[..., Any], tuple[str, ...]], ...] = (
    ("/healthz", health.healthz, ("GET",)),
    ("/oauth2/authorize", oauth.authorize, ("GET", "POST")),
    ("/oauth2/token", token.token, ("POST",)),
    ("/oauth2/userinfo", oauth.userinfo, ("GET", "POST")),
    # the data-sharing lookup; no other GET route matches /v1/citizens/<one segment>
    ("/v1/citizens/{pin}", citizens.get_citizen_first, ("GET",)),
)


Target = tuple[APIRouter, type[BaseModel], Callable[..., Any]]


def _cards_verify() -> Target:
    # imported by the first verification, not at start: the cards router is one of the lazy
    # ones (app.routers.lazy), and a restart imports no router it does not need
    from app.routers import cards
    from app.schemas import cards as card_schemas

    return cards.router, card_schemas.VerifyRequest, cards.verify_first


# FastAPI routes matched ahead of the others: (path, method, what loads the route's router, the
# JSON body's model and what serves a request whose body validates); anything else is handled by
# the FastAPI route.
FORWARDED: tuple[tuple[str, str, Callable[[], Target]], ...] = (
    ("/v1/cards/verify", "POST", _cards_verify),
)


class HotRoute(Route):
    """A Starlette route that, like FastAPI's, names itself in ``scope["route"]`` (the metrics
    and the request log label requests by it) and does not answer ``HEAD`` for ``GET``."""

    def __init__(self, path: str, endpoint: Callable[..., Any], methods: tuple[str, ...]) -> None:
        super().__init__(path, endpoint, methods=list(methods))
        assert self.methods is not None
        self.methods.discard("HEAD")

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        match, child_scope = super().matches(scope)
        if match is not Match.NONE:
            child_scope["route"] = self
        return match, child_scope


def _json_media(scope: Scope) -> bool:
    for name, value in scope["headers"]:
        if name == b"content-type":
            media = value.split(b";", 1)[0].strip().lower()
            return media == b"application/json" or (
                media.startswith(b"application/") and media.endswith(b"+json"))
    return False


class _Forward:
    """An ASGI app serving a JSON request whose body validates with ``fast``, and handing any
    other to its FastAPI route (whose matching sets ``scope["route"]``, then FastAPI's request
    handling runs as it would have, on the body replayed)."""

    def __init__(self, path: str, method: str, load: Callable[[], Target]) -> None:
        self.path, self.method, self.load = path, method, load
        self.route: APIRoute | None = None

    def _loaded(self) -> None:
        router, self.model, self.fast = self.load()
        self.route = _api_route(router, self.path, self.method)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.route is None:
            self._loaded()
        assert self.route is not None
        if _json_media(scope):
            body = await read_body(receive)
            receive = replay(body, receive)
            parsed = self.validated(body)
            if parsed is not None:
                response = await self.fast(Request(scope, receive, send), parsed)
                await response(scope, receive, send)
                return
        await self.route(scope, receive, send)

    def validated(self, body: bytes) -> BaseModel | None:
        if self.route is None:
            self._loaded()
        try:
            return self.model.model_validate_json(body)
        except ValidationError:
            return None

    def express(self, app: FastAPI, route: HotRoute, inner: ASGIApp) -> ASGIApp:
        """The edge's pure-ASGI handler of a JSON request to this route (as
        :func:`_login_handler` does for the login flow): a body that validates is served by
        ``fast`` here, without the app's exception middleware, exit stack and router; any other
        is handed, replayed, to ``inner`` (what the edge would have called: the app, whose router
        brings it to this route and then to its FastAPI route, as before)."""
        router = app.router

        async def serve(scope: Scope, receive: Receive, send: Send) -> None:
            body = await read_body(receive)
            receive = replay(body, receive)
            parsed = self.validated(body)
            if parsed is None:
                await inner(scope, receive, send)
                return
            scope["route"] = route
            scope["endpoint"] = route.endpoint
            scope.setdefault("router", router)
            scope.setdefault("path_params", {})
            request = Request(scope, receive, send)
            try:
                response = await self.fast(request, parsed)
            except (DomainError, HTTPException) as error:
                handler = _handler(app, error)
                if handler is None:
                    raise
                response = await handler(request, error)
            await response(scope, receive, send)

        return serve


def _api_route(router: APIRouter, path: str, method: str) -> APIRoute:
    return next(route for route in router.routes if isinstance(route, APIRoute)
                and route.path == path and method in route.methods)


def serve_first(app: FastAPI) -> None:
    """Put the hot routes ahead of every other route of ``app``."""
    forwarded = [HotRoute(path, _Forward(path, method, load), (method,))
                 for path, method, load in FORWARDED]
    app.router.routes[:0] = [*(HotRoute(path, endpoint, methods)
                               for path, endpoint, methods in HOT), *forwarded]



LOOKUP_PATH, HEALTH_PATH = "/v1/citizens/{pin}", "/healthz"
_LOOKUP_PREFIX = "/v1/citizens/"
_JSON = (b"content-type", b"application/json")
Express = Callable[[Scope, ASGIApp | None], ASGIApp | None]


def _handler(app: FastAPI, error: Exception) -> Callable[..., Any] | None:
    """The app's exception handler for ``error``, as Starlette's exception middleware picks it
    (nearest class first); ``None`` for what that middleware leaves to the server error one."""
    handlers = app.exception_handlers
    for kind in type(error).__mro__:
        if kind is Exception:
            return None
        if kind in handlers:
            return handlers[kind]
    return None


async def _send_json(send: Send, body: bytes) -> None:
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-length", str(len(body)).encode()), _JSON]})
    await send({"type": "http.response.body", "body": body})


def express(app: FastAPI) -> Express:
    """For the edge of ``app``: the pure-ASGI handler of a request the hot lookup or health
    route would answer, or ``None`` (the request then goes through the app as usual)."""
    routes = {route.path: route for route in app.router.routes if isinstance(route, HotRoute)}
    lookup_route, health_route = routes[LOOKUP_PATH], routes[HEALTH_PATH]

    async def lookup(scope: Scope, receive: Receive, send: Send) -> None:
        scope["route"] = lookup_route
        scope["endpoint"] = lookup_route.endpoint
        scope["path_params"] = {"pin": get_route_path(scope)[len(_LOOKUP_PREFIX):]}
        request = Request(scope, receive, send)
        try:
            answer = await citizens.lookup_answer(request)
        except (DomainError, HTTPException) as error:
            handler = _handler(app, error)
            if handler is None:
                raise
            answer = await handler(request, error)
        if isinstance(answer, Response):
            await answer(scope, receive, send)
        else:
            await _send_json(send, answer)

    async def healthz(scope: Scope, receive: Receive, send: Send) -> None:
        scope["route"] = health_route
        scope["endpoint"] = health_route.endpoint
        await _send_json(send, health.OK)

    login = {(path, method): _login_handler(app, routes[path])
             for path in LOGIN_PATHS for method in routes[path].methods or ()}

    forwarded = {(route.path, method): route for route in routes.values()
                 if isinstance(route.endpoint, _Forward) for method in route.methods or ()}
    served: dict[tuple[str, ASGIApp], ASGIApp] = {}

    def pick(scope: Scope, inner: ASGIApp | None = None) -> ASGIApp | None:
        """The handler of ``scope``; ``inner``: what the edge calls otherwise (needed by the
        forwarded routes, which hand it a body that does not validate)."""
        path, method = get_route_path(scope), scope["method"]
        if method == "GET":
            if path == HEALTH_PATH:
                return healthz
            if path.startswith(_LOOKUP_PREFIX) and len(path) > len(_LOOKUP_PREFIX) \
                    and "/" not in path[len(_LOOKUP_PREFIX):]:
                return lookup
        found = forwarded.get((path, method))
        if found is not None:
            if inner is None or not _json_media(scope):
                return None
            handler = served.get((found.path, inner))
            if handler is None:  # one per edge (the deployment's, a tenant app's)
                forward = found.endpoint
                assert isinstance(forward, _Forward)
                handler = served[found.path, inner] = forward.express(app, found, inner)
            return handler
        return login.get((path, method))

    return pick


# The login flow's endpoints, served express too (with or without a form body: the edge checks
# and replays a body first). Each takes only the Request and returns a Response; their common
# requests are answered as bytes (app.routers.express_login).
LOGIN_PATHS = ("/oauth2/authorize", "/oauth2/token", "/oauth2/userinfo")


async def _send_raw(send: Send, answer: express_login.Raw) -> None:
    status, headers, body = answer
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _login_handler(app: FastAPI, route: HotRoute) -> ASGIApp:
    """What the hot ``route`` did through the app, as one ASGI call: the route and endpoint
    noted in the scope (metrics, access log, problem ``instance``), the router named (for
    ``url_for`` in an error page), domain errors and HTTP exceptions answered by the app's own
    exception handlers, anything else left to the server error middleware. A request its
    ``fast`` function answers gets that answer (bytes or a Response); any other the endpoint's."""
    endpoint, router, path = route.endpoint, app.router, route.path

    async def serve(scope: Scope, receive: Receive, send: Send) -> None:
        scope["route"] = route
        scope["endpoint"] = endpoint
        scope.setdefault("router", router)
        scope.setdefault("path_params", {})
        request = Request(scope, receive, send)
        try:
            answer = await express_login.FAST[path](request)  # looked up here: tests swap it
            if answer is None:
                answer = await endpoint(request)
        except (DomainError, HTTPException) as error:
            handler = _handler(app, error)
            if handler is None:
                raise
            answer = await handler(request, error)
        if isinstance(answer, Response):
            await answer(scope, receive, send)
        else:
            await _send_raw(send, answer)

    return serve
