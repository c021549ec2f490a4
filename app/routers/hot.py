"""The login flow's three endpoints, the data-sharing lookup and the liveness probe, served by
plain Starlette routes matched before FastAPI's.

FastAPI's handling of a request -- walking the included routers, solving the dependencies even of
an endpoint that has none, the per-request exit stack -- cost ~0.5 ms of a login flow's ~3.9 ms of
CPU (authorize -> token -> userinfo; paired in-process runs, bench/RESULTS.md). These endpoints
take only the ``Request`` and return a ``Response``, so FastAPI does nothing for them that is lost
here; their FastAPI routes stay registered, for the OpenAPI description. The same exception
handlers and middleware apply to both kinds of route.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.routing import APIRoute
from starlette.routing import Match, Route
from starlette.types import Receive, Scope, Send

from app.routers import cards, citizens, health, oauth, token

HOT: tuple[tuple[str, Callable[..., Any], tuple[str, ...]], ...] = (
    ("/healthz", health.healthz, ("GET",)),
    ("/oauth2/authorize", oauth.authorize, ("GET", "POST")),
    ("/oauth2/token", token.token, ("POST",)),
    ("/oauth2/userinfo", oauth.userinfo, ("GET", "POST")),
    # the data-sharing lookup; no other GET route matches /v1/citizens/<one segment>
    ("/v1/citizens/{pin}", citizens.get_citizen_first, ("GET",)),
)


# FastAPI routes matched ahead of the others, still handled by FastAPI: (router, path, method).
FORWARDED: tuple[tuple[APIRouter, str, str], ...] = (
    (cards.router, "/v1/cards/verify", "POST"),
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


class _Forward:
    """An ASGI app handing the request to a FastAPI route (its own matching sets
    ``scope["route"]``, then FastAPI's request handling runs as it would have)."""

    def __init__(self, route: APIRoute) -> None:
        self.route = route

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.route(scope, receive, send)


def _api_route(router: APIRouter, path: str, method: str) -> APIRoute:
    return next(route for route in router.routes if isinstance(route, APIRoute)
                and route.path == path and method in route.methods)


def serve_first(app: FastAPI) -> None:
    """Put the hot routes ahead of every other route of ``app``."""
    forwarded = [HotRoute(path, _Forward(_api_route(router, path, method)), (method,))
                 for router, path, method in FORWARDED]
    app.router.routes[:0] = [*(HotRoute(path, endpoint, methods)
                               for path, endpoint, methods in HOT), *forwarded]
