"""Application factory: ``create_app(settings)`` wires the database, clock, routers and errors."""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from app import migrations, openapi
from app import openapi_examples as sandbox_openapi
from app.bootstrap import bootstrap
from app.clock import SandboxClock
from app.db import Database
from app.edge import SandboxEdge
from app.edge.tenants import tenant_apps
from app.errors import install_error_handlers
from app.routers import (
    accounts_admin,
    admin_clients,
    api_docs,
    audit,
    cards,
    cards_apdu,
    citizens,
    console,
    documents,
    events,
    health,
    hot,
    html,
    judicial,
    login,
    me,
    metrics,
    oauth,
    pki,
    sandbox,
    subscriptions,
    token,
    wellknown,
)
from app.services.events import webhook_sender, webhooks_worker
from app.settings import Settings, get_settings

log = logging.getLogger("dancu")

DESCRIPTION = """
A simulated Vietnamese national citizen-identity service for integration testing: the national
population database (CSDL quốc gia về dân cư), chip identity cards (căn cước) and VNeID-style
electronic identity. All people are synthetic, generated deterministically from a seed.
"""


def _settle_garbage_collector() -> None:
    """Freeze what start-up built (modules, routes, schemas, compiled statements: ~200,000
    objects) so that the collector's full collections stop walking it again and again. Those
    pauses were the tail of every endpoint's latency: at 32 connections on one worker, /healthz
    p99 132 -> 16 ms and the lookup's 146 -> 41 ms (bench/RESULTS.md, Data-sharing API).
    Only the young generations are collected first: a full collection over those objects was a
    third of a restart, for the little start-up garbage it would have kept out of the freeze."""
    gc.collect(1)
    gc.freeze()


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    database: Database = app.state.database
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
    app.state.app_factory = create_app  # what the tenant dispatch builds tenants' apps with
    install_error_handlers(app)
    openapi.install(app)
    sandbox_openapi.install(app)  # after: examples for the answers app.openapi documented
    app.include_router(health.router)
    # Routes are matched in order: the OAuth endpoints every login hits come first.
    for router in (token.router, oauth.router, wellknown.router, citizens.router, audit.router,
                   admin_clients.router, accounts_admin.router, accounts_admin.consents_router,
                   oauth.app_router, oauth.sandbox_router, login.router,
                   cards.router, cards_apdu.router, cards.admin_router, cards.sandbox_router,
                   pki.router,
                   events.router, events.feed_router, events.admin_router, subscriptions.router,
                   me.router, me.admin_router, me.pages_router,
                   documents.router, documents.sectors_router, documents.me_router,
                   documents.admin_router,
                   judicial.router, judicial.authority_router, judicial.sandbox_router,
                   sandbox.router, sandbox.tenants_router, metrics.router, console.router):
        app.include_router(router)
    api_docs.install(app)
    app.mount("/static", StaticFiles(directory=html.STATIC_DIR), name="static")
    hot.serve_first(app)  # the login flow's endpoints, without FastAPI's per-request handling
    # One pass for request ids, observation, tenants, faults, body limit and input guard; a
    # tenant's requests come through the deployment's edge first (ids, observation, dispatch).
    # The lookup and /healthz are handed from it straight to their pure-ASGI handlers.
    app.add_middleware(SandboxEdge, max_bytes=settings.max_body_bytes, deployment=tenant is None,
                       express=hot.express(app))
    return app
