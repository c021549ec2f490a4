"""``dancu serve`` for one test session: a free loopback port, a throw-away SQLite database, a
deployment secret and an admin token of its own; its output goes to a log file the plugin shows
when a test fails."""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx

LOG_TAIL_LINES = 200


class ServerFailed(RuntimeError):
    pass


@dataclass
class LocalServer:
    process: subprocess.Popen[bytes]
    base_url: str
    admin_token: str
    log_path: Path
    cleanup: list[Callable[[], None]] = field(default_factory=list)

    def log_tail(self, offset: int = 0, lines: int = LOG_TAIL_LINES) -> str:
        try:
            with open(self.log_path, "rb") as log:
                log.seek(offset)
                text = log.read().decode("utf-8", "replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def log_size(self) -> int:
        try:
            return self.log_path.stat().st_size
        except OSError:
            return 0

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=30)
        for step in self.cleanup:
            step()


def dancu_command() -> list[str]:
    """The ``dancu`` of this interpreter's environment (a venv's bin/), else the one on PATH."""
    beside = Path(sys.executable).with_name("dancu")
    found = str(beside) if beside.exists() else shutil.which("dancu")
    if not found:
        raise ServerFailed("the dancu command is not installed (pip install dancu-sandbox)")
    return [found]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def postgres_database(server_url: str) -> tuple[str, Callable[[], None]]:
    """A new database on the PostgreSQL server of ``server_url`` (a SQLAlchemy URL), and what
    drops it again with the tenant databases named after it (``<name>_<tenant id>``)."""
    import psycopg

    parts = urlsplit(server_url)
    name = f"dancu_pytest_{secrets.token_hex(4)}"
    admin = urlunsplit(("postgresql", parts.netloc, "/postgres", parts.query, ""))
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')

    def drop() -> None:
        with psycopg.connect(admin, autocommit=True) as connection:
            found = connection.execute("SELECT datname FROM pg_database WHERE datname = %s "
                                       "OR datname LIKE %s", (name, f"{name}\\_%")).fetchall()
            for (database,) in found:
                connection.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')

    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, "")), drop


def start(folder: Path, *, population: int, ready_timeout: float, database_server: str = "",
          extra_env: dict[str, str] | None = None) -> LocalServer:
    """``dancu serve`` on a throw-away database: SQLite in ``folder``, or a new database on the
    PostgreSQL server ``database_server`` names."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    admin_token = secrets.token_urlsafe(24)
    cleanup: list[Callable[[], None]] = []
    database = f"sqlite:///{folder / 'dancu.db'}"
    if database_server.startswith("postgresql"):
        database, drop = postgres_database(database_server)
        cleanup.append(drop)
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "DANCU_DATABASE_URL": database,
           "DANCU_SECRET_KEY": secrets.token_urlsafe(32), "DANCU_ADMIN_TOKEN": admin_token,
           "DANCU_ISSUER": base, "DANCU_SANDBOX": "true",
           "DANCU_POPULATION_SIZE": str(population), **(extra_env or {})}
    log_path = folder / "dancu-serve.log"
    with open(log_path, "ab") as output:  # the child keeps its own descriptor
        process = subprocess.Popen([*dancu_command(), "serve", "--port", str(port)],
                                   cwd=folder, env=env, stdout=output, stderr=subprocess.STDOUT)
    server = LocalServer(process, base, admin_token, log_path, cleanup)
    try:
        wait_ready(server, timeout=ready_timeout)
    except BaseException:
        server.stop()
        raise
    return server


def wait_ready(server: LocalServer, *, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    with httpx.Client(timeout=2) as http:
        while time.monotonic() < deadline:
            if server.process.poll() is not None:
                raise ServerFailed(f"dancu serve exited ({server.process.returncode}) during "
                                   f"start-up; its log:\n{server.log_tail()}")
            try:
                if http.get(f"{server.base_url}/readyz").status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
    raise ServerFailed(f"dancu serve was not ready after {timeout:.0f} s; its log:\n"
                       f"{server.log_tail()}")
