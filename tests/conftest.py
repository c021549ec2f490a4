"""Shared fixtures: one migrated, seeded database per test session (SQLite or PostgreSQL).

``DANCU_TEST_DATABASE_URL`` selects PostgreSQL: the suite creates a fresh database on that server
(named ``dancu_test_<random>``), so parallel runs never meet, and drops it at the end.
Without it the suite runs on a SQLite file in a temporary directory.
"""

from __future__ import annotations

import gc
import logging
import os
import secrets
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import make_url

from app import migrations
from app.db import Database
from app.main import create_app
from app.settings import Settings, load_settings


@pytest.fixture(autouse=True)
def _collector_left_on() -> Iterator[None]:
    """A test that leaves the garbage collector off (``dancu serve`` and ``app.asgi`` turn it off
    while importing) makes every later test of the process keep its garbage: on PostgreSQL each
    TestClient request's event loop then keeps its audit connections open until the server has
    no connection left (tests/reliability/test_races.py failed so, far from the cause)."""
    yield
    if not gc.isenabled():
        gc.enable()
        pytest.fail("the test left the garbage collector disabled")


TEST_SEED = 6
TEST_SECRET_KEY = "test-deployment-secret-not-for-production"
# Every test calls from one address ("testclient") and many fail authentication on purpose: the
# failure throttles stay out of their way here, and tests/api/test_throttles.py sets its own.
for _throttle in ("FAILURES_PER_SOURCE", "FAILURES_PER_CLIENT", "CHIP_FAILURES_PER_CARD",
                  "CHIP_FAILURES_PER_CLIENT"):
    os.environ.setdefault(f"DANCU_{_throttle}", "1000000")
TEST_POPULATION = int(os.environ.get("DANCU_TEST_POPULATION", "3000"))
# Every log line of the session (in-process, and servers and CLIs the tests start) lands in this
# directory; tests/reliability/test_privacy.py, run last, scans it for personal data and tokens.
LOG_DIR_ENV = "DANCU_TEST_LOG_DIR"
PRIVACY_MODULE = "tests/reliability/test_privacy.py"


def pytest_configure(config: pytest.Config) -> None:
    directory = os.environ.get(LOG_DIR_ENV) or tempfile.mkdtemp(prefix="dancu-test-logs-")
    os.environ[LOG_DIR_ENV] = directory
    Path(directory).mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(Path(directory) / f"pytest-{os.getpid()}.log", encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    handler.addFilter(_service_records)
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(min(root.level or logging.WARNING, logging.INFO))


def _service_records(record: logging.LogRecord) -> bool:
    """The service's records, not the test clients' own request lines (httpx logs each URL the
    tests call, PINs in paths included: that is the test talking, not the service)."""
    return not record.name.startswith(("httpx", "httpcore", "hpack"))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The privacy scan reads the logs of everything else, so it runs last."""
    items.sort(key=lambda item: item.nodeid.startswith(PRIVACY_MODULE))


def _postgres_database(server_url: str) -> Iterator[str]:
    import psycopg

    url = make_url(server_url)
    name = f"dancu_test_{secrets.token_hex(4)}"
    admin_dsn = url.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(admin_dsn, autocommit=True) as conn:
            # its tenants' and tenant templates' databases too
            # (app/services/sandbox/tenant_templates.py)
            left = conn.execute("SELECT datname FROM pg_database WHERE starts_with(datname, %s)",
                                (f"{name}_",)).fetchall()
            for (database,) in [*left, (name,)]:
                conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    server = os.environ.get("DANCU_TEST_DATABASE_URL")
    if server and server.startswith("postgresql"):
        yield from _postgres_database(server)
    else:
        yield f"sqlite:///{tmp_path_factory.mktemp('db') / 'dancu-test.db'}"


@pytest.fixture(scope="session")
def is_postgres(database_url: str) -> bool:
    return database_url.startswith("postgresql")


@pytest.fixture(scope="session")
def settings(database_url: str) -> Settings:
    # No background delivery thread: webhook tests run their passes themselves (no timing).
    # A pinned deployment secret: the keys and pairwise subjects repeat from run to run.
    return load_settings(database_url=database_url, seed=TEST_SEED,
                         population_size=TEST_POPULATION, auto_seed=True, delivery_worker=False,
                         secret_key=TEST_SECRET_KEY)


@pytest.fixture(scope="session")
def database(settings: Settings) -> Iterator[Database]:
    """Migrated and populated once per session; tests that change data make their own rows."""
    from seed.populate import populate

    db = Database.connect(settings.database_url)
    migrations.upgrade(db.engine)
    populate(db, size=TEST_POPULATION, seed=TEST_SEED)
    yield db
    db.dispose()


@pytest.fixture(scope="session")
def app(settings: Settings, database: Database):  # type: ignore[no-untyped-def]
    return create_app(settings, database=database)


@pytest.fixture(scope="session")
def client(app) -> Iterator[TestClient]:  # type: ignore[no-untyped-def]
    with TestClient(app) as test_client:
        yield test_client


@pytest.fixture
def data_dir() -> Path:
    return Path(__file__).parent / "data"
