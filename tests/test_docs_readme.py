"""The README's curl quick start works as written: its block runs with bash against a real
``dancu serve --workers 2`` (on the session's database) and ends with a verified chip and a
completed login. The same server shows the structured JSON log lines (no PIN, no token) and the
Prometheus metrics added up over both workers."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from app.settings import Settings
from tests.conftest import TEST_SECRET_KEY
from tests.e2e.conftest import free_port
from tests.system_tools import require_tool

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"


def quick_start() -> str:
    text = README.read_text("utf-8")
    block = re.search(r"<!-- quick-start: tested -->\n```sh\n(.*?)```", text, re.S)
    assert block, "the README marks its quick start block"
    return block[1]


class Served:
    def __init__(self, base: str, log: Path) -> None:
        self.base, self.log = base, log


@pytest.fixture(scope="module")
def served(client: TestClient, settings: Settings, tmp_path_factory: pytest.TempPathFactory
           ) -> Iterator[Served]:
    """``client`` first: the in-process app has bootstrapped the session's database."""
    port = free_port()
    folder = Path(os.environ.get("DANCU_TEST_LOG_DIR") or tmp_path_factory.mktemp("serve"))
    log = folder / f"readme-serve-{port}.log"
    env = {**os.environ, "DANCU_DATABASE_URL": settings.database_url, "DANCU_PORT": str(port),
           "DANCU_SEED": str(settings.seed), "DANCU_AUTO_SEED": "false",
           "DANCU_ADMIN_TOKEN": settings.admin_token, "DANCU_SECRET_KEY": TEST_SECRET_KEY}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    with open(log, "ab") as sink:
        dancu = str(Path(sys.executable).parent / "dancu")
        process = subprocess.Popen([dancu, "serve", "--workers", "2"], cwd=ROOT, env=env,
                                   stdout=subprocess.DEVNULL, stderr=sink)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            assert process.poll() is None, "dancu serve exited"
            try:
                if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        yield Served(base, log)
    finally:
        process.terminate()
        process.wait(timeout=20)


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("tour")


@pytest.fixture(scope="module")
def tour(served: Served, folder: Path) -> str:
    require_tool("curl", debian="curl")  # the block's prerequisites (python3 runs the tests)
    require_tool("openssl", debian="openssl")
    done = subprocess.run(["bash", "-e", "-o", "pipefail", "-c", quick_start()], cwd=folder,
                          env={**os.environ, "BASE": served.base}, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_the_readme_quick_start_ends_with_a_verified_chip_and_a_login(tour: str) -> None:
    lines = tour.splitlines()
    assert lines[0].startswith("citizen: ")
    assert "chip verdict: pass" in lines
    assert "login: LoA2" in lines


def test_serve_writes_one_json_object_per_line_without_personal_data(
        served: Served, tour: str, folder: Path) -> None:
    records = [json.loads(line) for line in served.log.read_text("utf-8").splitlines()
               if line.startswith("{")]
    access = [r for r in records if r["logger"] == "dancu.access"]
    assert {"time", "level", "logger", "message", "request_id", "method", "path", "status",
            "duration_ms"} <= set(access[-1])
    assert {"/v1/cards/verify", "/oauth2/token", "/v1/citizens/{pin}"} <= {r["path"]
                                                                          for r in access}
    assert any(r.get("client_id") == "demo" for r in access)
    text = served.log.read_text("utf-8")
    persona = next(p for p in json.loads((folder / "personas.json").read_text("utf-8"))[
        "personas"] if p["key"] == "valid-adult-level2")
    assert persona["pin"] not in text, "no PIN in the log"
    assert persona["full_name"] not in text, "no name in the log"
    assert "eyJ" not in text, "no token in the log"


def test_metrics_add_up_both_workers(served: Served, tour: str) -> None:
    scraped = httpx.get(f"{served.base}/metrics").text

    def total(name: str, **labels: str) -> float:
        found = 0.0
        for line in scraped.splitlines():
            if line.startswith(name + "{") and all(f'{k}="{v}"' in line
                                                    for k, v in labels.items()):
                found += float(line.rsplit(" ", 1)[1])
        return found

    assert total("dancu_http_requests_total", route="/v1/cards/verify", status="200") >= 1
    assert total("dancu_tokens_issued_total", grant_type="client_credentials") >= 1
    assert total("dancu_tokens_issued_total", grant_type="authorization_code") >= 1
    assert total("dancu_verifications_total", kind="chip", verdict="pass") >= 1
    assert total("dancu_population_people", status="alive") > 0
    histogram = total("dancu_http_request_duration_seconds_count", route="/readyz")
    assert histogram >= 1
