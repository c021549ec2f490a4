"""Routers imported and built on the first request under their paths, so that a restart imports
only what answers at once (the probes, the hot routes, the edge).

Declaring a FastAPI route builds its dependants and response models; with the schemas and
services behind them that was ~40 % of importing the app (bench/RESULTS.md, "Start-up and
tenants"). Each :class:`LazyRouter` stands, in the app's route list, where its router was
included and names the path prefixes of that router's routes: a request under none of them is
not its (as before: none of its routes could have matched), the first request under one imports
the router's module and includes the router (once, under a lock), then it matches as if it had
been included at start. Matching order, 404 and 405 answers are therefore unchanged. The OpenAPI
document loads every router first (:func:`load_all`); the test suite checks that the prefixes
cover every route.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable, Iterator
from typing import Any

from fastapi import APIRouter, FastAPI
from starlette.routing import Match, get_route_path
from starlette.types import Scope

try:  # a FastAPI that includes a router by reference and asks it to match (0.165, as tested)
    from fastapi.routing import _IncludedRouter  # noqa: F401
    BY_REFERENCE = True
except ImportError:  # an older FastAPI copies the routes at inclusion: every router loads then
    BY_REFERENCE = False


class LazyRouter(APIRouter):
    """Stands for ``module.attribute`` (an ``APIRouter``), serving the paths under ``prefixes``."""

    def __init__(self, module: str, attribute: str, prefixes: tuple[str, ...],
                 app: FastAPI, after_load: Callable[[], None] | None = None) -> None:
        super().__init__(dependency_overrides_provider=app)
        self.module = module
        self.attribute = attribute
        self.prefixes = prefixes
        self.after_load = after_load
        self.loaded = False
        self._lock = threading.Lock()

    def load(self) -> None:
        """Import the router's module and include its router, once (thread-safe)."""
        if self.loaded:
            return
        with self._lock:
            if self.loaded:
                return
            router = getattr(importlib.import_module(self.module), self.attribute)
            self.include_router(router)
            self.loaded = True  # after the include: a matcher never sees it half done
            if self.after_load is not None:
                self.after_load()

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if not self.loaded:
            if not get_route_path(scope).startswith(self.prefixes):
                return Match.NONE, {}
            self.load()
        return super().matches(scope)


def include(app: FastAPI, routers: tuple[tuple[str, str, tuple[str, ...]], ...],
            after_load: Callable[[], None] | None = None) -> None:
    """Include ``(module, attribute, prefixes)`` routers in ``app``, in order, each loaded by its
    first request (or by :func:`load_all`), then ``after_load`` called."""
    included: list[LazyRouter] = []
    app.state.lazy_routers = included
    for module, attribute, prefixes in routers:
        router = LazyRouter(module, attribute, prefixes, app, after_load)
        if not BY_REFERENCE:
            router.load()
        app.include_router(router)
        included.append(router)


def lazy_routers(app: FastAPI) -> Iterator[LazyRouter]:
    yield from getattr(app.state, "lazy_routers", ())


def load_all(app: FastAPI) -> FastAPI:
    """Load every lazy router of ``app`` (what the OpenAPI document and ``app.routes`` need)."""
    for router in lazy_routers(app):
        router.load()
    return app


def loading_all_first(app: FastAPI) -> None:
    """Make ``app.openapi()`` (/openapi.json, /docs, the exported collection) list every route."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        load_all(app)
        return generate()

    app.openapi = openapi  # type: ignore[method-assign]
