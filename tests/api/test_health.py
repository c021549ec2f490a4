"""Liveness and readiness probes."""

from __future__ import annotations

from fastapi.testclient import TestClient

from app.db import Database
from app.main import create_app
from app.settings import load_settings


def test_healthz_answers_ok(client: TestClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_readyz_reports_database_and_migrations_current(client: TestClient) -> None:
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok", "migrations": "current"}


def test_readyz_reports_pending_migrations(tmp_path) -> None:  # type: ignore[no-untyped-def]
    settings = load_settings(database_url=f"sqlite:///{tmp_path / 'empty.db'}", auto_seed=False)
    app = create_app(settings, migrate_on_start=False)
    with TestClient(app) as fresh:
        response = fresh.get("/readyz")
    assert response.status_code == 503
    assert response.json()["migrations"] == "pending"


def test_readyz_reports_unreachable_database() -> None:
    url = "postgresql+psycopg://nobody@127.0.0.1:1/nothing"
    settings = load_settings(database_url=url, auto_seed=False)
    app = create_app(settings, database=Database.connect(url, pool_pre_ping=False),
                     migrate_on_start=False)
    with TestClient(app) as fresh:
        response = fresh.get("/readyz")
    assert response.status_code == 503
    assert response.json()["database"] == "unreachable"


def test_unknown_path_is_a_problem_document(client: TestClient) -> None:
    response = client.get("/no/such/thing")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"] == "https://dancu.sandbox/problems/not-found"
