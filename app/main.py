"""Application factory: ``create_app(settings)`` wires the database, clock, routers and errors."""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from app import migrations, openapi
from app import openapi_examples as sandbox_openapi
from app.bootstrap import bootstrap, startup_turn
from app.clock import SandboxClock
from app.db import Database
from app.edge import SandboxEdge
from app.edge.tenants import tenant_apps
from app.errors import install_error_handlers
from app.routers import api_docs, health, hot, html, lazy
from app.security import end_unusable_accounts
from app.services.events import webhook_sender, webhooks_worker
from app.settings import Settings, get_settings

log = logging.getLogger("dancu")

DESCRIPTION = """
A simulated Vietnamese national citizen-identity service for integration testing: the national
population database (CSDL quốc gia về dân cư), chip identity cards (căn cước) and VNeID-style
electronic identity. All people are synthetic, generated deterministically from a seed.
"""

# (module, router, the path prefixes of its routes), in matching order: a request under none of a
# router's prefixes cannot match its routes, so it does not load it (tests/test_fast_start.py
# checks that the prefixes cover every route).
ROUTERS: tuple[tuple[str, str, tuple[str, ...]], ...] = tuple(
    (f"app.routers.{module}", attribute, prefixes) for module, attribute, prefixes in (
        ("token", "router", ("/oauth2/",)),
        ("oauth", "router", ("/oauth2/",)),
        ("wellknown", "router", ("/.well-known/",)),
        ("citizens", "router", ("/v1/citizens",)),
        ("audit", "router", ("/v1/audit",)),
        ("admin_clients", "router", ("/v1/admin/",)),
        ("accounts_admin", "router", ("/v1/admin/accounts",)),
        ("accounts_admin", "consents_router", ("/v1/admin/consents/",)),
        ("oauth", "app_router", ("/v1/me/",)),
        ("oauth", "sandbox_router", ("/v1/sandbox/",)),
        ("login", "router", ("/oauth2/",)),
        ("cards", "router", ("/v1/cards/",)),
        ("cards_apdu", "router", ("/v1/cards/",)),
        ("cards", "admin_router", ("/v1/admin/cards/",)),
        ("cards", "sandbox_router", ("/v1/sandbox/personas/",)),
        ("pki", "router", ("/v1/pki",)),
        ("events", "router", ("/v1/life-events/",)),
        ("events", "feed_router", ("/v1/events",)),
        ("events", "admin_router", ("/v1/admin/",)),
        ("events", "delivery_router", ("/v1/admin/events/deliver",)),
        ("subscriptions", "router", ("/v1/subscriptions",)),
        ("me", "router", ("/v1/me/",)),
        ("me", "admin_router", ("/v1/admin/consents",)),
        ("me", "pages_router", ("/oauth2/account/",)),
        ("documents", "router", ("/v1/citizens/",)),
        ("documents", "sectors_router", ("/v1/sectors/",)),
        ("documents", "me_router", ("/v1/me/",)),
        ("documents", "admin_router", ("/v1/admin/documents/",)),
        ("judicial", "router", ("/v1/me/judicial-records",)),
        ("judicial", "authority_router", ("/v1/judicial-records/authority",)),
        ("judicial", "sandbox_router", ("/v1/sandbox/judicial-records/",)),
        ("sandbox", "router", ("/v1/sandbox/",)),
        ("sandbox", "tenants_router", ("/v1/sandbox/tenants",)),
        ("metrics", "router", ("/metrics",)),
        ("console", "router", ("/console",)),
    ))


def _freeze_imports() -> None:
    """The server's process (``dancu serve``, app.asgi) imports and builds the app with the
    collector off: that makes ~140,000 objects and almost no garbage (~700 unreachable objects),
    and the collector's passes over them were ~10 % of a restart's imports. They are frozen as
    they are, and the collector turned on for the start-up steps (a first start generates the
    population)."""
    gc.freeze()
    gc.enable()


def _settle_garbage_collector() -> None:
    """Freeze what start-up built (modules, routes, schemas, compiled statements) so that the
    collector's full collections stop walking it again and again. Those pauses were the tail of
    every endpoint's latency: at 32 connections on one worker, /healthz p99 132 -> 16 ms and the
    lookup's 146 -> 41 ms (bench/RESULTS.md, Data-sharing API). Only the young generations are
    collected first: a full collection over those objects was a third of a restart, for the
    little start-up garbage it would have kept out of the freeze."""
    gc.collect(1)
    gc.freeze()


def _freeze_again(app: FastAPI) -> None:
    """A router loaded after the start-up freeze: its routes and schemas join the frozen objects,
    as they would have had they been built at start."""
    if app.state.settle_gc and gc.get_freeze_count():
        gc.freeze()


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    database: Database = app.state.database
    if app.state.settle_gc and not gc.isenabled():
        _freeze_imports()
    # Several processes starting at once (--workers 2) migrate and bootstrap one at a time.
    with startup_turn(database):
        if app.state.migrate_on_start:  # a restart on a current database: one query, no alembic
            migrations.upgrade_unless_current(database.engine)
        app.state.settings = bootstrap(database=database, settings=app.state.settings,
                                       clock=app.state.clock)
    app.state.clock_sync, worker = webhooks_worker.start(
        database=database, clock=app.state.clock,
        sender=webhook_sender.for_settings(app.state.settings),
        enabled=app.state.settings.delivery_worker)
    if app.state.settle_gc:
        _settle_garbage_collector()
    yield
    if worker is not None:
        worker.stop()
    if (logouts := getattr(app.state, "logout_dispatcher", None)) is not None:
        # The back-channel logouts queued get a bounded time (off the event loop); those not
        # sent by then are recorded as not made.
        await asyncio.to_thread(logouts.close)
    await asyncio.to_thread(tenant_apps(app).stop_deliveries)
    if (shared := getattr(app.state, "sharing_runtime", None)) is not None:
        await shared.audit.aclose()  # this loop's audit connections (PostgreSQL)
        if shared.charges is not None:
            await shared.charges.aclose()  # and its quota leases' connections
    tenant_apps(app).forget_all()
    database.dispose()


def create_app(
    settings: Settings | None = None,
    *,
    database: Database | None = None,
    migrate_on_start: bool = True,
    tenant: str | None = None,
    settle_gc: bool = False,
) -> FastAPI:
    settings = settings or get_settings()
    app = FastAPI(
        title="dancu-sandbox",
        version="0.1.0",
        description=DESCRIPTION,
        lifespan=_lifespan,
        docs_url=None,  # served offline by app.routers.api_docs
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.database = database or Database.connect(
        settings.database_url, lookup_url=settings.read_database_url)
    app.state.clock = SandboxClock()
    app.state.migrate_on_start = migrate_on_start
    app.state.settle_gc = settle_gc  # a server process's app (app.asgi), not tests' many apps
    app.state.tenant = tenant  # an isolated tenant's app (docs/sandbox.md), else None
    app.state.end_unusable_accounts = end_unusable_accounts  # the write sessions' hook
    app.state.app_factory = create_app  # what the tenant dispatch builds tenants' apps with
    install_error_handlers(app)
    lazy.loading_all_first(app)  # before them: they complete the document of every route
    openapi.install(app)
    sandbox_openapi.install(app)  # after: examples for the answers app.openapi documented
    app.include_router(health.router)
    # Routes are matched in order: the OAuth endpoints every login hits come first. Each router
    # is imported and built by the first request under its prefixes (app.routers.lazy).
    lazy.include(app, ROUTERS, after_load=lambda: _freeze_again(app))
    api_docs.install(app)
    app.mount("/static", StaticFiles(directory=html.STATIC_DIR), name="static")
    hot.serve_first(app)  # the login flow's endpoints, without FastAPI's per-request handling
    # One pass for request ids, observation, tenants, faults, body limit and input guard; a
    # tenant's requests come through the deployment's edge first (ids, observation, dispatch).
    # The lookup and /healthz are handed from it straight to their pure-ASGI handlers.
    app.add_middleware(SandboxEdge, max_bytes=settings.max_body_bytes, deployment=tenant is None,
                       express=hot.express(app))
    return app
