"""Real processes for the crash and load families: ``dancu serve`` on a loopback port, and the
``dancu`` CLI, with their output kept in the session's log directory (the privacy family reads it).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.conftest import TEST_SECRET_KEY

ROOT = Path(__file__).resolve().parents[2]
DANCU = str(Path(sys.executable).with_name("dancu"))
LOG_DIR_ENV = "DANCU_TEST_LOG_DIR"


def log_dir() -> Path:
    """Where test-started processes write their output (set by ``tests/conftest.py``)."""
    path = Path(os.environ.get(LOG_DIR_ENV) or ROOT / ".ci" / "out" / "logs")
    path.mkdir(parents=True, exist_ok=True)
    return path


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def environment(database_url: str, **extra: str) -> dict[str, str]:
    return {**os.environ, "DANCU_DATABASE_URL": database_url, "PYTHONUNBUFFERED": "1",
            "DANCU_SECRET_KEY": TEST_SECRET_KEY, **extra}


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    base: str

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs (a crash)."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.kill()


def _wait_ready(server: Server, *, attempts: int = 1200) -> None:
    for _ in range(attempts):
        if server.process.poll() is not None:
            raise RuntimeError(f"dancu serve exited during start-up ({server.process.returncode})")
        try:
            if httpx.get(f"{server.base}/readyz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError("dancu serve did not become ready")


def start_server(database_url: str, *, name: str, workers: int = 1, issuer: str | None = None,
                 **env: str) -> Server:
    """``issuer``: the public base URL when the server runs behind a load balancer (default:
    its own address)."""
    return start_servers(database_url, names=[name], workers=workers, issuer=issuer, **env)[0]


def start_servers(database_url: str, *, names: list[str], workers: int = 1,
                  issuer: str | None = None, **env: str) -> list[Server]:
    """Several servers started at once (their start-ups overlap), each ready when returned."""
    servers = [_launch(database_url, name=name, workers=workers, issuer=issuer, **env)
               for name in names]
    try:
        for server in servers:
            _wait_ready(server)
    except BaseException:
        for server in servers:
            if server.process.poll() is None:
                server.kill()
        raise
    return servers


def _launch(database_url: str, *, name: str, workers: int, issuer: str | None,
            **env: str) -> Server:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    output = open(log_dir() / f"{name}-{port}.log", "ab")  # the process owns it
    process = subprocess.Popen(
        [DANCU, "serve", "--port", str(port), "--workers", str(workers)],
        cwd=ROOT, stdout=output, stderr=subprocess.STDOUT,
        env=environment(database_url, DANCU_ISSUER=issuer or base, **env))
    return Server(process, base)


@contextmanager
def running_server(database_url: str, *, name: str, **env: str) -> Iterator[Server]:
    server = start_server(database_url, name=name, **env)
    try:
        yield server
    finally:
        if server.process.poll() is None:
            server.stop()


def dancu(*args: str, database_url: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    """Run the CLI to completion; its output is returned and appended to the log directory."""
    result = subprocess.run([DANCU, *args, "--database-url", database_url], cwd=ROOT,
                            capture_output=True, text=True, timeout=timeout,
                            env=environment(database_url))
    with open(log_dir() / "cli.log", "a", encoding="utf-8") as log:
        log.write(result.stdout + result.stderr)
    return result
