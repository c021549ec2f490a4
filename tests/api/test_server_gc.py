"""A server process freezes what its start-up built, so the collector's full collections stop
walking it (they were the tail of every endpoint's latency, bench/RESULTS.md); the tests' many
in-process apps do not (frozen objects are never collected)."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from app.db import Database
from app.main import create_app
from app.settings import Settings


@pytest.fixture
def unfrozen() -> Iterator[None]:
    gc.unfreeze()
    yield
    gc.unfreeze()


def test_the_served_app_freezes_its_start_up_objects(
        settings: Settings, database: Database, unfrozen: None) -> None:
    app = create_app(settings, database=database, migrate_on_start=False, settle_gc=True)
    with TestClient(app):
        assert gc.get_freeze_count() > 10_000


def test_an_app_built_by_the_factory_leaves_the_collector_alone(
        settings: Settings, database: Database, unfrozen: None) -> None:
    app = create_app(settings, database=database, migrate_on_start=False)
    with TestClient(app):
        assert gc.get_freeze_count() == 0


def test_uvicorn_serves_the_settling_app() -> None:
    try:
        from app import asgi  # it imports with the collector off, as a server process does

        assert asgi.app.state.settle_gc is True
    finally:
        gc.enable()  # this test process has no lifespan of that app to turn it back on


def test_a_server_started_with_the_collector_off_turns_it_on_once_frozen(
        settings: Settings, database: Database, unfrozen: None) -> None:
    gc.disable()  # as app.asgi leaves it during the import
    try:
        app = create_app(settings, database=database, migrate_on_start=False, settle_gc=True)
        with TestClient(app):
            assert gc.isenabled()
            assert gc.get_freeze_count() > 10_000
    finally:
        gc.enable()


def test_a_router_the_served_app_loads_after_start_up_is_frozen_too(
        settings: Settings, database: Database, unfrozen: None) -> None:
    app = create_app(settings, database=database, migrate_on_start=False, settle_gc=True)
    with TestClient(app) as client:
        frozen = gc.get_freeze_count()
        assert client.get("/v1/pki/csca.pem").status_code == 200  # loads app.routers.pki
        assert gc.get_freeze_count() > frozen
