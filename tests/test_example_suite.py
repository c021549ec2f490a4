"""The example e-service suite (examples/bank_onboarding) passes with nothing but the pytest plugin
against a real ``dancu serve``: a fresh tenant per test, 20 tests or more. It runs as a user's
suite would, in a subprocess with plugin autoloading off and ``-p dancu``, on SQLite, or on the
PostgreSQL server of the session's run; its time goes to the CI summary (no timing assertion: the
machine is shared)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import xml.etree.ElementTree as ElementTree
from pathlib import Path
from typing import NamedTuple

import pytest

from tests.reliability.support import record

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "bank_onboarding"
# The suite's own settings, not this session's (a shared deployment, a tenant size).
NOT_INHERITED = ("DANCU_TEST_BASE_URL", "DANCU_TEST_ADMIN_TOKEN", "DANCU_TEST_CLIENT_ID",
                 "DANCU_TEST_CLIENT_SECRET", "DANCU_TEST_TENANT_SIZE", "DANCU_TEST_TENANT_SEED",
                 "DANCU_TEST_POPULATION_SIZE", "DANCU_TEST_SERVER_DATABASE_URL", "PYTEST_ADDOPTS")


class Run(NamedTuple):
    done: subprocess.CompletedProcess[str]
    junit: ElementTree.Element
    seconds: float


@pytest.fixture(scope="module")
def example_run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    junit = tmp_path_factory.mktemp("example") / "junit.xml"
    env = {name: value for name, value in os.environ.items() if name not in NOT_INHERITED}
    env["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    if os.environ.get("DANCU_TEST_DATABASE_URL", "").startswith("postgresql"):
        # the PostgreSQL run: the plugin's server and its tenants live on that server too
        env["DANCU_TEST_SERVER_DATABASE_URL"] = os.environ["DANCU_TEST_DATABASE_URL"]
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "pytest", "-p", "dancu", "-q",
                           f"--junitxml={junit}", "--durations=5"],
                          cwd=EXAMPLE, env=env, capture_output=True, text=True, timeout=1800)
    seconds = time.monotonic() - started
    record("testing", "bank onboarding example (s)", round(seconds, 1))
    suite = ElementTree.parse(junit).getroot() if junit.exists() else ElementTree.Element("none")
    found = suite.find("testsuite") if suite.tag == "testsuites" else suite
    return Run(done, found if found is not None else suite, seconds)


@pytest.mark.slow
def test_the_bank_onboarding_example_passes_with_only_the_plugin(example_run: Run) -> None:
    done = example_run.done
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-3000:]


@pytest.mark.slow
def test_the_example_has_twenty_tests_or_more_each_in_a_tenant(example_run: Run) -> None:
    assert int(example_run.junit.get("tests", 0)) >= 20
    source = (EXAMPLE / "test_onboarding.py").read_text("utf-8")
    conftest = (EXAMPLE / "conftest.py").read_text("utf-8")
    assert "dancu_tenant" in conftest, "the bank is built on the test's own tenant"
    assert "scope=" not in conftest + source, "no fixture outlives a test"
