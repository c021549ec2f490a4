"""System tools some tests drive (not Python packages: pip cannot install them).

``require_tool("wrk", debian="wrk")`` returns the tool's path. When it is missing, the test is
skipped with the ``apt-get install`` line that brings it; under CI (``CI=true``, as ``.ci/run``
runs) a missing tool fails the test instead, so a green CI never hides a test that did not run.
The README's Tests section lists the same packages."""

from __future__ import annotations

import fcntl
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"true", "1"}


def require_tool(name: str, *, debian: str) -> str:
    path = shutil.which(name)
    if path is not None:
        return path
    reason = f"{name} is not installed (apt-get install {debian})"
    if in_ci():
        pytest.fail(f"{reason}; CI needs every test to run", pytrace=False)
    pytest.skip(reason)


@contextmanager
def machine_turn(resource: str) -> Iterator[None]:
    """Waits for, then holds, this machine's one turn at ``resource``: something two test runs
    cannot use at once (the system's pcscd socket, a shared install folder), as the SQLite and
    PostgreSQL runs of ``.ci/run`` side by side would. An advisory lock file in the temporary
    directory; closing it (or the process dying) gives the turn back."""
    path = Path(tempfile.gettempdir()) / f"dancu-tests-{resource}.lock"
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)
