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
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from app.settings import Settings

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass(frozen=True)
class Server:
    base: str
    admin: dict[str, str]


def _wait_ready(base: str, process: subprocess.Popen[bytes]) -> None:
    for _ in range(200):
        if process.poll() is not None:
            raise RuntimeError("the server process exited during start-up")
        try:
            if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError("the server did not become ready")


@pytest.fixture(scope="session")
def server(client: TestClient, settings: Settings) -> Iterator[Server]:
    """``client`` first: the in-process app has bootstrapped the shared test database."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {**os.environ, "DANCU_DATABASE_URL": settings.database_url,
           "DANCU_SEED": str(settings.seed), "DANCU_AUTO_SEED": "false", "DANCU_ISSUER": base,
           "DANCU_ADMIN_TOKEN": settings.admin_token}
    # Its log goes where the session's logs go: the privacy scan reads it (tests/conftest.py).
    log = open(Path(os.environ["DANCU_TEST_LOG_DIR"]) / f"e2e-server-{port}.log", "ab")
    process = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "app.asgi:app", "--host", "127.0.0.1", "--port",
         str(port), "--workers", "2", "--log-level", "info", "--no-access-log"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        _wait_ready(base, process)
        yield Server(base, {"Authorization": f"Bearer {settings.admin_token}"})
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()
