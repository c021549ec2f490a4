"""``dancu serve`` and ``dancu migrate``."""

from __future__ import annotations

import typer

from app.cli.base import cli, console, fail, settings_from


@cli.command()
def serve(
    host: str | None = typer.Option(None, help="Listen address (DANCU_HOST)."),
    port: int | None = typer.Option(None, help="Listen port (DANCU_PORT)."),
    database_url: str | None = typer.Option(None, help="DANCU_DATABASE_URL"),
    workers: int = typer.Option(1, min=1, help="Worker processes."),
    open_docs: bool = typer.Option(False, "--open", help="Open /docs in a browser when ready."),
) -> None:
    """Migrate the database, seed it on first start, and serve the API."""
    import gc

    if workers == 1:  # this process serves: no collection until start-up's objects are frozen
        gc.disable()  # (app.asgi; app.main._freeze_imports turns it back on)
    try:
        _serve(host, port, database_url, workers, open_docs)
    finally:
        # Served, or failed before serving: the collector is on again for whatever runs next in
        # this process (a test calling the command, a program embedding the CLI), or objects in
        # reference cycles -- event loops and the connections they hold -- would never be freed.
        gc.enable()


def _serve(host: str | None, port: int | None, database_url: str | None, workers: int,
           open_docs: bool) -> None:
    import os

    import uvicorn

    from app import http_protocol
    from app.services.kit import logging_json

    settings = settings_from(host=host, port=port, database_url=database_url)
    for name, value in (("HOST", settings.host), ("PORT", settings.port),
                        ("DATABASE_URL", settings.database_url)):
        os.environ[f"DANCU_{name}"] = str(value)
    _check_database(settings.database_url)
    base = f"http://{settings.host}:{settings.port}"
    console.print(f"dancu-sandbox starting on {base} (the first start generates "
                  f"{settings.population_size:,} people)\nAPI docs: {base}/docs", highlight=False)
    if exposed := settings.public_defaults_exposed:
        console.print(f"warning: {' and '.join(exposed)} keep their published defaults while "
                      f"listening on {settings.host}: anyone who reaches this port is the admin. "
                      "Set them before sharing the deployment (docs/reliability.md).",
                      highlight=False)
    if open_docs:
        _open_when_ready(f"{base}/docs", health=f"{base}/healthz")
    _metrics_across_workers(workers)
    # One JSON object per line (app/services/kit/logging_json.py); the access line is dancu.access.
    # The request head is bounded (app/http_protocol.py): httptools alone has no limit.
    uvicorn.run("app.asgi:app", host=settings.host, port=settings.port, workers=workers,
                http=http_protocol.PROTOCOL, log_level=settings.log_level, access_log=False,
                log_config=logging_json.config(settings.log_level))


def _metrics_across_workers(workers: int) -> None:
    """Several workers: prometheus-client's multiprocess mode, in a fresh directory (set before
    the workers import it), so /metrics adds up every worker's counters."""
    import os
    import tempfile

    from app.services.kit import metrics

    if workers > 1 and not os.environ.get(metrics.MULTIPROCESS_ENV):
        os.environ[metrics.MULTIPROCESS_ENV] = tempfile.mkdtemp(prefix="dancu-metrics-")


@cli.command()
def migrate(database_url: str | None = typer.Option(None, help="DANCU_DATABASE_URL")) -> None:
    """Apply all database migrations."""
    from sqlalchemy.exc import SQLAlchemyError

    from app import migrations
    from app.bootstrap import startup_turn
    from app.db import Database

    settings = settings_from(database_url=database_url)
    database = Database.connect(settings.database_url)
    try:
        with startup_turn(database):  # not while a starting server migrates or bootstraps
            migrations.upgrade(database.engine)
    except SQLAlchemyError as exc:
        fail(f"migration failed: {type(exc).__name__}")
    finally:
        database.dispose()
    console.print("database is at the latest migration")


def _check_database(url: str) -> None:
    from sqlalchemy.exc import OperationalError

    from app.db import Database

    database = Database.connect(url)
    try:
        with database.engine.connect():
            pass
    except OperationalError:
        fail("cannot reach the database (check DANCU_DATABASE_URL)")
    finally:
        database.dispose()


def _open_when_ready(url: str, *, health: str) -> None:
    """Open the docs in a browser once the server answers (in the background)."""
    import threading
    import time
    import urllib.request
    import webbrowser

    def wait_and_open() -> None:
        for _ in range(600):
            try:
                with urllib.request.urlopen(health, timeout=1):
                    break
            except OSError:
                time.sleep(0.5)
        console.print(f"ready: {url}", highlight=False)
        webbrowser.open(url)

    threading.Thread(target=wait_and_open, daemon=True).start()
