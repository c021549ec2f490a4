"""A real ``uvicorn`` server for the end-to-end tests (one per test session), with two worker
processes so that every flow may hop between processes (state lives in the database) and
concurrent writers meet across processes.

It serves the test database the in-process app has already migrated and seeded (so it starts
with ``DANCU_AUTO_SEED=false``) on a free loopback port, with that address as its issuer. Clients
talk to it over real HTTP: an independent OpenID client library and a headless Chromium.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import httpx
import pytest
from fastapi.testclient import TestClient

from app.settings import Settings
from tests.conftest import TEST_SECRET_KEY

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass(frozen=True)
class Server:
    base: str
    admin: dict[str, str]


def wait_ready(base: str, process: subprocess.Popen[bytes]) -> None:
    for _ in range(600):
        if process.poll() is not None:
            raise RuntimeError("a server process exited during start-up")
        try:
            if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError("a server did not become ready")


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()


def server_env(settings: Settings, issuer: str, **extra: str) -> dict[str, str]:
    """A server on the test database the in-process app has already migrated and seeded."""
    return {**os.environ, "DANCU_DATABASE_URL": settings.database_url,
            "DANCU_SEED": str(settings.seed), "DANCU_AUTO_SEED": "false", "DANCU_ISSUER": issuer,
            "DANCU_ADMIN_TOKEN": settings.admin_token,
            "DANCU_SECRET_KEY": TEST_SECRET_KEY, **extra}


def server_log(name: str) -> BinaryIO:
    """Where the session's logs go: the privacy scan reads them (tests/conftest.py)."""
    return open(Path(os.environ["DANCU_TEST_LOG_DIR"]) / name, "ab")


@contextmanager
def uvicorn_server(settings: Settings, *, workers: int, log_name: str,
                   **extra_env: str) -> Iterator[str]:
    """``uvicorn app.asgi:app`` on a free loopback port, that address as its issuer; yields it."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = server_log(f"{log_name}-{port}.log")
    process = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "app.asgi:app", "--host", "127.0.0.1", "--port",
         str(port), "--workers", str(workers), "--log-level", "info", "--no-access-log"],
        cwd=ROOT, env=server_env(settings, base, **extra_env), stdout=log,
        stderr=subprocess.STDOUT)
    try:
        wait_ready(base, process)
        yield base
    finally:
        stop(process)
        log.close()


@pytest.fixture(scope="session")
def server(client: TestClient, settings: Settings) -> Iterator[Server]:
    """``client`` first: the in-process app has bootstrapped the shared test database."""
    with uvicorn_server(settings, workers=2, log_name="e2e-server") as base:
        yield Server(base, {"Authorization": f"Bearer {settings.admin_token}"})
