"""The pytest plugin shipped with the package (``dancu_testing``, entry point ``dancu``): loaded in
every pytest run of any project that has dancu-sandbox installed, so it must cost nothing at load,
stay out of this project's own fixtures, and show the server's log when a test fails."""

from __future__ import annotations

import ast
import importlib.metadata
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PLUGIN_FIXTURES = {"dancu_server", "dancu_tenant", "dancu_client", "dancu_client_factory",
                   "persona", "oidc_login", "read_chip", "sandbox_clock", "fault"}
# Test modules whose own fixture of the same name shadows the plugin's there (pytest's rule).
SHADOWED_IN_MODULES = {("tests/e2e/test_console.py", "persona")}
HEAVY = ("httpx", "fastapi", "starlette", "sqlalchemy", "pydantic", "joserfc", "app", "seed",
         "dancu_testing.kit", "dancu_testing.server")

pytest_plugins = ["pytester"]


def test_the_package_declares_the_plugin_entry_point() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))
    assert project["project"]["entry-points"]["pytest11"] == {"dancu": "dancu_testing.plugin"}
    installed = {ep.name: ep.value for ep in importlib.metadata.entry_points(group="pytest11")}
    assert installed.get("dancu") == "dancu_testing.plugin"


def test_loading_the_plugin_imports_nothing_heavy() -> None:
    probe = (f"import sys, dancu_testing.plugin; heavy = {HEAVY!r}; "
             "print(','.join(m for m in heavy if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          check=True, cwd=ROOT)
    assert done.stdout.strip() == ""


def test_the_plugin_defines_the_documented_fixtures() -> None:
    tree = ast.parse((ROOT / "dancu_testing" / "plugin.py").read_text("utf-8"))
    defined = {node.name for node in tree.body if isinstance(node, ast.FunctionDef)
               and any("fixture" in ast.unparse(d) for d in node.decorator_list)}
    assert defined == PLUGIN_FIXTURES
    documented = (ROOT / "docs" / "testing.md").read_text("utf-8")
    assert all(f"### `{name}`" in documented or f"`{name}`" in documented for name in defined)


def _fixtures_defined(path: Path) -> set[str]:
    tree = ast.parse(path.read_text("utf-8"))
    return {node.name for node in ast.walk(tree) if isinstance(node, ast.FunctionDef)
            and any("fixture" in ast.unparse(d) for d in node.decorator_list)}


def test_the_plugin_fixtures_do_not_collide_with_this_projects_suite() -> None:
    """No conftest of the suite defines a plugin fixture's name (a conftest fixture would hide
    the plugin's from whole directories); the one test module that has a ``persona`` of its
    own is listed, where pytest's rule makes its own win."""
    collisions = {(str(path.relative_to(ROOT)), name)
                  for path in sorted((ROOT / "tests").rglob("*.py"))
                  for name in _fixtures_defined(path) & PLUGIN_FIXTURES}
    assert collisions == SHADOWED_IN_MODULES


def test_the_plugin_is_loaded_in_this_projects_own_run(request: pytest.FixtureRequest) -> None:
    if not request.config.pluginmanager.has_plugin("dancu"):
        pytest.skip("plugin autoloading is disabled (PYTEST_DISABLE_PLUGIN_AUTOLOAD)")
    assert request.config.pluginmanager.get_plugin("dancu").__name__ == "dancu_testing.plugin"


FAILING_SUITE = '''
import pytest
from dancu_testing import plugin

class Stub:
    def __init__(self, path):
        self.path = path
    def log_size(self):
        return self.path.stat().st_size
    def log_tail(self, offset=0):
        return self.path.read_text()[offset:]

@pytest.fixture(scope="session")
def dancu_server(request, tmp_path_factory):
    log = tmp_path_factory.mktemp("log") / "serve.log"
    log.write_text("line before the test\\n")
    request.config.stash[plugin._SERVER] = Stub(log)
    yield log

def test_fails(dancu_server):
    dancu_server.write_text(dancu_server.read_text() + "GET /v1/citizens/{pin} 503\\n")
    assert False

def test_passes(dancu_server):
    pass
'''


def test_a_failing_test_shows_the_server_log_written_during_it(
        pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_inner=FAILING_SUITE)
    result = pytester.runpytest_subprocess("-p", "dancu", "-p", "no:cacheprovider", "-rA")
    result.assert_outcomes(passed=1, failed=1)
    output = result.stdout.str()
    assert "dancu serve log" in output
    assert "GET /v1/citizens/{pin} 503" in output
    assert "line before the test" not in output, "only the lines of the failing test"


def test_the_image_installs_the_package_the_entry_point_names() -> None:
    """The Dockerfile's ``pip install .`` (and .ci/fresh_install.sh, which copies the same
    files) must see ``dancu_testing``: the entry point is declared either way, and pytest fails
    on an entry point whose module is missing."""
    dockerfile = (ROOT / "Dockerfile").read_text("utf-8")
    assert "COPY dancu_testing ./dancu_testing" in dockerfile
