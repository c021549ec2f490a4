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
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.routing import APIRoute
from pydantic import BaseModel, ValidationError
from starlette.routing import Match, Route
from starlette.types import Receive, Scope, Send

from app.middleware import read_body, replay
from app.routers import citizens, health, oauth, token

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
            try:
                parsed = self.model.model_validate_json(body)
            except ValidationError:
                parsed = None
            if parsed is not None:
                response = await self.fast(Request(scope, receive, send), parsed)
                await response(scope, receive, send)
                return
        await self.route(scope, receive, send)


def _api_route(router: APIRouter, path: str, method: str) -> APIRoute:
    return next(route for route in router.routes if isinstance(route, APIRoute)
                and route.path == path and method in route.methods)


def serve_first(app: FastAPI) -> None:
    """Put the hot routes ahead of every other route of ``app``."""
    forwarded = [HotRoute(path, _Forward(path, method, load), (method,))
                 for path, method, load in FORWARDED]
    app.router.routes[:0] = [*(HotRoute(path, endpoint, methods)
                               for path, endpoint, methods in HOT), *forwarded]
