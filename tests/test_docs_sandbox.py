"""The sandbox-clock example of docs/sandbox.md runs in order, as written, without locking its
caller out: its block runs with bash against a real ``dancu serve`` on a database of its own
(moving the deployment's clock must not move the session's), and every call answers the clock."""

from __future__ import annotations

import json
import os
import re
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.reliability.processes import running_server
from tests.system_tools import require_tool

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "sandbox.md"


def clock_example() -> str:
    block = re.search(r"<!-- sandbox-clock: tested -->\n```sh\n(.*?)```",
                      DOC.read_text("utf-8"), re.S)
    assert block, "docs/sandbox.md marks its clock example"
    return block[1]


@pytest.fixture(scope="module")
def answers(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, object]]:
    require_tool("curl", debian="curl")
    folder = tmp_path_factory.mktemp("clock-example")
    database = f"sqlite:///{folder / 'clock.db'}"
    with running_server(database, name="clock-example", DANCU_POPULATION_SIZE="100",
                        DANCU_DELIVERY_WORKER="false") as server:
        done = subprocess.run(["bash", "-e", "-o", "pipefail", "-c", clock_example()],
                              cwd=folder, env={**os.environ, "BASE": server.base},
                              capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in done.stdout.splitlines()]


def test_every_step_of_the_clock_example_answers_the_clock(
        answers: list[dict[str, object]]) -> None:
    assert len(answers) == 5
    assert all("now" in answer for answer in answers), [a.get("title") for a in answers]


def test_the_clock_example_freezes_advances_unfreezes_and_resets(
        answers: list[dict[str, object]]) -> None:
    shown, frozen, advanced, unfrozen, reset = answers
    assert (frozen["now"], frozen["frozen"]) == ("2030-01-01T00:00:00Z", True)
    assert (advanced["now"], advanced["frozen"]) == ("2031-01-01T00:00:00Z", True)
    assert unfrozen["frozen"] is False
    assert (reset["frozen"], reset["offset_seconds"]) == (False, 0.0)
    now = datetime.fromisoformat(str(reset["now"]))
    assert abs(now - datetime.now(UTC)) < timedelta(hours=1), "back at real time"
    assert [a["version"] for a in answers] == sorted({a["version"] for a in answers})
