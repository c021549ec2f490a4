"""A first start of several processes at once on a fresh, empty database (``dancu serve
--workers 2``, or two ``dancu serve`` on one database): the start-up steps (migrations, the
deployment secret, the population, cards, signing keys, accounts, personas) run one process at a
time (app/bootstrap.py, ``startup_turn``), so every process comes up, with one population, one
deployment secret and one set of signing keys, and every process answers alike.

Each test makes its own empty database: a SQLite file, or a PostgreSQL database (``workers_``
prefix, dropped after) on the session's server when ``DANCU_TEST_DATABASE_URL`` names one."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, text

from tests.conftest import TEST_SEED, _postgres_database
from tests.e2e.conftest import ROOT, free_port, server_log, stop, wait_ready

DANCU = Path(sys.executable).with_name("dancu")
POPULATION = 100  # the smallest allowed: the test is about who generates it, not how many
ADMIN_TOKEN = "first-start-workers-admin-token"


@pytest.fixture
def empty_database(tmp_path: Path) -> Iterator[str]:
    server = os.environ.get("DANCU_TEST_DATABASE_URL", "")
    if not server.startswith("postgresql"):
        yield f"sqlite:///{tmp_path / 'first-start.db'}"
        return
    yield from _postgres_database(server)  # the suite's own: made, then dropped


def _env(database_url: str, port: int, issuer: str) -> dict[str, str]:
    """No ``DANCU_SECRET_KEY``: the first start makes the stored deployment secret."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("DANCU_")
           or key == "DANCU_TEST_LOG_DIR"}
    return env | {"DANCU_DATABASE_URL": database_url, "DANCU_SEED": str(TEST_SEED),
                  "DANCU_POPULATION_SIZE": str(POPULATION), "DANCU_AUTO_SEED": "true",
                  "DANCU_DELIVERY_WORKER": "false", "DANCU_ADMIN_TOKEN": ADMIN_TOKEN,
                  "DANCU_ISSUER": issuer, "DANCU_HOST": "127.0.0.1", "DANCU_PORT": str(port)}


@contextmanager
def _start(commands: list[tuple[int, list[str]]], database_url: str, issuer: str,
           log_name: str) -> Iterator[list[str]]:
    """Start every command at once (none waits for another to be ready), then wait for all."""
    processes, logs = [], []
    try:
        for port, arguments in commands:
            logs.append(server_log(f"{log_name}-{port}.log"))
            processes.append(subprocess.Popen(
                [str(DANCU), "serve", *arguments], cwd=ROOT, env=_env(database_url, port, issuer),
                stdout=logs[-1], stderr=subprocess.STDOUT))
        bases = [f"http://127.0.0.1:{port}" for port, _ in commands]
        for base, process in zip(bases, processes, strict=True):
            wait_ready(base, process)
        yield bases
    finally:
        for process in processes:
            stop(process)
        for log in logs:
            log.close()


def _counts(database_url: str) -> dict[str, object]:
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            def count(table: str) -> int:
                return connection.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()

            return {"runs": connection.execute(text("SELECT size FROM population_run")).all(),
                    "citizens": count("citizen"), "secrets": count("deployment_secret"),
                    "migrations": count("alembic_version")}
    finally:
        engine.dispose()


def _answers_alike(base: str, requests: int = 8) -> dict[str, object]:
    """What one server says (each of ``requests`` times: with several workers, each request may
    reach another one): readiness, and the public signing keys, the same from every process."""
    seen = set()
    for _ in range(requests):
        assert httpx.get(f"{base}/healthz").status_code == 200
        ready = httpx.get(f"{base}/readyz")
        assert ready.status_code == 200, ready.text
        jwks = httpx.get(f"{base}/.well-known/jwks.json")
        assert jwks.status_code == 200, jwks.text
        seen.add(jwks.text)
    assert len(seen) == 1, "workers answered with different signing keys"
    return {"jwks": seen.pop()}


def _assert_one_of_everything(database_url: str) -> None:
    """One population run of the configured size (its people, and the few the sandbox personas
    add: not a second population), one deployment secret, one migration head."""
    counts = _counts(database_url)
    assert counts["runs"] == [(POPULATION,)]
    assert POPULATION <= counts["citizens"] < 2 * POPULATION  # type: ignore[operator]
    assert (counts["secrets"], counts["migrations"]) == (1, 1)


def test_two_workers_first_started_on_an_empty_database_both_come_up_with_one_population(
        empty_database: str) -> None:
    port = free_port()
    issuer = f"http://127.0.0.1:{port}"
    with _start([(port, ["--workers", "2"])], empty_database, issuer,
                "first-start-workers") as (base,):
        _answers_alike(base, requests=16)
        _assert_one_of_everything(empty_database)


def test_two_servers_first_started_on_one_empty_database_both_come_up_alike(
        empty_database: str) -> None:
    ports = free_port(), free_port()
    issuer = f"http://127.0.0.1:{ports[0]}"  # one issuer, as behind a load balancer
    with _start([(port, []) for port in ports], empty_database, issuer,
                "first-start-servers") as (a, b):
        assert _answers_alike(a) == _answers_alike(b)
        _assert_one_of_everything(empty_database)
