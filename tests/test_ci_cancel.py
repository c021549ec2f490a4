"""``.ci/run`` cancelled (SIGINT, SIGTERM, SIGHUP) stops everything it started: each step's
process group, SIGINT first (pytest then drops its databases and stops its servers), and any
process left that carries the run's ``CI_RUN_ID`` (a daemon that left the group). Exercised on
the runner the script sources (``.ci/steps.sh``) with stub steps instead of the suite: each
stub writes down that SIGINT reached it and starts a daemon in a session of its own."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

HARNESS = """
set -euo pipefail
cd "$ROOT"
CI_OUT="$DIR/out"
mkdir -p "$CI_OUT"
source .ci/steps.sh
INT_GRACE=3
TERM_GRACE=2
trap_cancels
export CI_RUN_ID="ci-cancel-test-$$"
started=$(date +%s)
first() { bash "$DIR/stub.sh" first; }
second() { bash "$DIR/stub.sh" second; }
steps=(first second)
commands=(first second)
serial=""
run_steps
echo finished >"$DIR/finished"
"""

STUB = """
name=$1
if [ "$DEAF" = 1 ]; then
    trap '' INT  # a step that does not stop on SIGINT: TERM follows
else
    trap 'echo torn-down >"$DIR/$name.teardown"; exit 130' INT
fi
setsid sleep 600 </dev/null >/dev/null 2>&1 &  # a daemon that left the step's group
echo $! >"$DIR/$name.daemon"
echo $$ >"$DIR/$name.pid"
while :; do sleep 0.2; done
"""


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False
    return state != "Z"


def _started(directory: Path, harness: subprocess.Popen[bytes]) -> list[int]:
    files = [
        directory / f"{name}.{kind}" for name in ("first", "second") for kind in ("pid", "daemon")
    ]
    for _ in range(200):
        if all(file.exists() and file.read_text().strip() for file in files):
            return [int(file.read_text()) for file in files]
        assert harness.poll() is None, "the runner ended before its steps started"
        time.sleep(0.1)
    raise AssertionError("the stub steps did not start")


@pytest.mark.parametrize(
    ("sent", "code", "deaf"),
    [
        (signal.SIGINT, 130, False),
        (signal.SIGTERM, 143, False),
        (signal.SIGHUP, 129, False),
        (signal.SIGTERM, 143, True),
    ],
    ids=["sigint", "sigterm", "sighup", "sigterm-step-deaf-to-sigint"],
)
def test_a_cancelled_ci_run_stops_every_process_it_started(
    tmp_path: Path, sent: signal.Signals, code: int, deaf: bool
) -> None:
    (tmp_path / "stub.sh").write_text(STUB)
    environment = {**os.environ, "ROOT": str(ROOT), "DIR": str(tmp_path), "DEAF": str(int(deaf))}
    environment.pop("CI_RUN_ID", None)
    harness = subprocess.Popen(
        ["bash", "-c", HARNESS],
        env=environment,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    started: list[int] = []
    try:
        started = _started(tmp_path, harness)
        harness.send_signal(sent)
        _, stderr = harness.communicate(timeout=60)
        assert harness.returncode == code, stderr.decode()
        assert b"stopping the steps and the processes they started" in stderr
        assert not (tmp_path / "finished").exists()
        for _ in range(20):  # killed ones may take a moment to leave /proc
            if not any(_alive(pid) for pid in started):
                break
            time.sleep(0.1)
        assert [pid for pid in started if _alive(pid)] == []
        torn_down = {
            name for name in ("first", "second") if (tmp_path / f"{name}.teardown").exists()
        }
        assert torn_down == (set() if deaf else {"first", "second"})  # SIGINT came first
    finally:
        for pid in started:
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
        if harness.poll() is None:
            os.killpg(harness.pid, signal.SIGKILL)
            harness.wait()
