"""A test that needs a missing system tool says which Debian package brings it, and under CI
(``CI=true``) fails instead of skipping."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.system_tools import require_tool

ROOT = Path(__file__).resolve().parents[1]
MISSING = "dancu-no-such-tool"


def test_an_installed_tool_is_found() -> None:
    assert require_tool("sh", debian="dash").endswith("/sh")


def test_a_missing_tool_skips_naming_its_debian_package(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match=r"apt-get install dancu-tools"):
        require_tool(MISSING, debian="dancu-tools")


@pytest.mark.parametrize("value", ["true", "TRUE", "1"])
def test_a_missing_tool_fails_under_ci(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("CI", value)
    with pytest.raises(pytest.fail.Exception, match=r"apt-get install dancu-tools"):
        require_tool(MISSING, debian="dancu-tools")


def test_tests_look_for_system_tools_only_through_require_tool() -> None:
    """A bare ``skipif(not exists)`` or ``shutil.which`` would skip silently in CI."""
    allowed = {"tests/system_tools.py", "tests/test_system_tools.py",
               "tests/test_project_files.py"}  # hadolint: a wheel of the [test] extra
    pattern = re.compile(r"shutil\.which\(|/usr/bin/|\.exists\(\),\s*\n?\s*reason=")
    offenders = [str(path.relative_to(ROOT)) for path in ROOT.glob("tests/**/*.py")
                 if str(path.relative_to(ROOT)) not in allowed
                 and pattern.search(path.read_text("utf-8"))]
    assert not offenders


def test_readme_lists_the_system_packages_the_tests_require() -> None:
    readme = (ROOT / "README.md").read_text("utf-8")
    used = set()
    for path in ROOT.glob("tests/**/*.py"):
        used |= set(re.findall(r'debian="([\w.+-]+)"', path.read_text("utf-8")))
    install = re.search(r"apt-get install -y ([^\n`]+)", readme)
    assert install, "the README's Tests section has the apt-get line"
    assert used - {"dash", "dancu-tools"} <= set(install[1].split())


def test_ci_installs_the_system_packages_the_readme_lists() -> None:
    readme = (ROOT / "README.md").read_text("utf-8")
    ci = (ROOT / ".ci" / "run").read_text("utf-8")
    install = re.search(r"apt-get install -y ([^\n`]+)", readme)
    loop = re.search(r"for tool in ([^;\n]+); do", ci)
    assert install
    assert loop, ".ci/run installs the system tools in one loop"
    assert set(install[1].split()) <= set(loop[1].split())
