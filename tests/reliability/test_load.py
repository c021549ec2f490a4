"""Bounded load on loopback: ``bench/load.py`` (wrk + ``bench/load_mix.lua``) drives a real
``dancu serve`` on the session's database for a fixed few seconds with a mix of lookups,
verifications, chip verifications and headless logins. Zero errors (unexpected statuses or socket
errors) and every kind served; the throughput is reported, never asserted (a shared machine).
``bench/load.sh`` is the longer run."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from fastapi.testclient import TestClient

from app.settings import Settings
from tests.reliability.processes import ROOT, running_server
from tests.reliability.support import record
from tests.system_tools import require_tool

DURATION = os.environ.get("DANCU_LOAD_DURATION", "8s")
CONNECTIONS = int(os.environ.get("DANCU_LOAD_CONNECTIONS", "8"))


def test_a_mixed_load_is_served_without_errors(client: TestClient, settings: Settings) -> None:
    """``client`` first: the in-process app has bootstrapped the shared test database."""
    require_tool("wrk", debian="wrk")
    with running_server(settings.database_url, name="load", DANCU_AUTO_SEED="false",
                        DANCU_SEED=str(settings.seed), DANCU_ADMIN_TOKEN=settings.admin_token,
                        DANCU_DELIVERY_WORKER="false") as server:
        result = subprocess.run(
            [sys.executable, str(ROOT / "bench" / "load.py"), "--base", server.base,
             "--duration", DURATION, "--connections", str(CONNECTIONS)],
            capture_output=True, text=True, timeout=300,
            env={**os.environ, "DANCU_ADMIN_TOKEN": settings.admin_token})
    assert result.stdout.strip(), result.stderr
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    record("load", "duration", DURATION)
    record("load", "requests", figures["requests"])
    record("load", "errors", figures["errors"] + figures["socket_errors"])
    record("load", "requests/s", figures["rps"])
    record("load", "p50/p99 ms", f"{figures['p50_ms']}/{figures['p99_ms']}")
    assert figures["errors"] == 0, figures
    assert figures["socket_errors"] == 0, figures
    assert all(done > 0 for done, _ in figures["kinds"].values()), figures
    assert result.returncode == 0
