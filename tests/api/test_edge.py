"""The sandbox edge (app.edge): one pass does what six middlewares did. A request that names no
tenant, asks for no fault and has no body costs no database statement and no thread; the
deployment's records (request id, access line) come from the same pass; the tenant dispatch is
handed its app factory (no service imports the application)."""

from __future__ import annotations

import logging
import subprocess
import sys
import threading
from collections.abc import Iterator
from io import StringIO
from typing import Any

import anyio.to_thread
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import event

from app.db import Database
from app.edge import SandboxEdge
from app.edge import faults as faults_middleware
from app.main import create_app
from app.services.kit import logging_json


@pytest.fixture
def statements(database: Database, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The SQL the service runs while the test does; rules and personas never stale."""
    monkeypatch.setattr(faults_middleware, "RULES_SECONDS", 3600.0)
    monkeypatch.setattr(faults_middleware, "PERSONAS_SECONDS", 3600.0)
    seen: list[str] = []

    def note(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(statement)

    engines = {database.engine, getattr(database, "lookup_engine", database.engine)}
    for engine in engines:
        event.listen(engine, "before_cursor_execute", note)
    yield seen
    for engine in engines:
        event.remove(engine, "before_cursor_execute", note)


@pytest.fixture
def thread_hops(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    hops: list[str] = []
    original = anyio.to_thread.run_sync

    async def counted(work: Any, *args: Any, **kwargs: Any) -> Any:
        hops.append(getattr(work, "__name__", "?"))
        return await original(work, *args, **kwargs)

    monkeypatch.setattr(anyio.to_thread, "run_sync", counted)
    return hops


@pytest.mark.parametrize("path", ["/healthz", "/no/such/thing", "/openapi.json"])
def test_a_request_naming_no_tenant_no_fault_and_no_body_runs_no_sql_and_no_thread(
        client: TestClient, statements: list[str], thread_hops: list[str], path: str) -> None:
    client.get(path)  # the first request of a process reads the fault rules and personas
    statements.clear()
    thread_hops.clear()
    answers = [client.get(path).status_code for _ in range(5)]
    assert len(set(answers)) == 1
    assert statements == []
    assert thread_hops == []


def test_the_app_has_one_middleware_of_its_own(app: FastAPI) -> None:
    assert [m.cls for m in app.user_middleware] == [SandboxEdge]


def test_the_health_probes_are_answered_on_the_event_loop() -> None:
    import inspect

    from app.routers import health

    assert inspect.iscoroutinefunction(health.healthz)
    assert inspect.iscoroutinefunction(health.readyz)


def test_every_answer_has_a_request_id_and_the_access_line_names_it_and_the_route(
        client: TestClient, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger=logging_json.ACCESS_LOGGER)
    pin = "079012345678"
    response = client.get(f"/v1/citizens/{pin}", headers={"X-Request-ID": "edge-1"})
    assert response.headers["x-request-id"] == "edge-1"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["cache-control"] == "no-store"
    lines = [r for r in caplog.records if r.name == logging_json.ACCESS_LOGGER
             and getattr(r, "request_id", None) == "edge-1"]
    assert len(lines) == 1
    assert (lines[0].path, lines[0].status) == ("/v1/citizens/{pin}", 401)  # type: ignore[attr-defined]
    assert pin not in lines[0].getMessage()


@pytest.mark.parametrize(("claimed", "logged"), [
    ("bank-a.app_1", "bank-a.app_1"),  # shaped as client ids are: who tried
    ("Z" * 3000, None), ("079012345678\n", None), ("<script>", None), ("a b", None)])
def test_the_access_line_records_a_claimed_client_id_only_when_shaped_as_one(
        client: TestClient, caplog: pytest.LogCaptureFixture, claimed: str,
        logged: str | None) -> None:
    """An unauthenticated token request names any client id it likes: the log must not carry
    3,000 characters, a line break or markup in its place."""
    caplog.set_level(logging.INFO, logger=logging_json.ACCESS_LOGGER)
    client.post("/oauth2/token", headers={"X-Request-ID": "edge-claim"},
                data={"grant_type": "authorization_code", "client_id": claimed})
    (line,) = [r for r in caplog.records if r.name == logging_json.ACCESS_LOGGER
               and getattr(r, "request_id", None) == "edge-claim"]
    assert getattr(line, "client_id", None) == logged


def test_access_lines_are_written_by_the_log_thread_never_by_the_caller() -> None:
    writers: list[int] = []

    class Stream(StringIO):
        def write(self, text: str) -> int:
            writers.append(threading.get_ident())
            return super().write(text)

    stream = Stream()
    handler = logging_json.queued(stream)
    logger = logging.getLogger("dancu.access.test")
    logger.addHandler(handler)
    logger.propagate = False
    logger.setLevel(logging.INFO)
    try:
        logger.info("%s %s %s", "GET", "/healthz", 200,
                    extra={"request_id": "r1", "method": "GET", "path": "/healthz",
                           "status": 200, "duration_ms": 0.1})
        for _ in range(500):  # the writer thread's line
            if stream.getvalue():
                break
            threading.Event().wait(0.01)
    finally:
        logger.removeHandler(handler)
    assert '"request_id": "r1"' in stream.getvalue()
    assert '"path": "/healthz"' in stream.getvalue()
    assert writers
    assert threading.get_ident() not in writers


def test_no_service_imports_the_application_factory() -> None:
    code = ("import sys, app.edge.tenants, app.edge.faults, "
            "app.edge.observe; print('app.main' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True)
    assert done.stdout.strip() == "False"


def test_tenant_apps_are_built_with_the_factory_the_deployment_was_given(app: FastAPI) -> None:
    assert app.state.app_factory is create_app
