"""The layout as rules (issue 23; docs/architecture.md): the import-linter contracts of
pyproject.toml hold, no module imports itself back through others, use cases live in domain
packages, and a domain package is used from outside only through the modules it exports."""

from __future__ import annotations

import importlib
import logging
import subprocess
import sys
from pathlib import Path

import grimp
import pytest
from importlinter import cli

ROOT = Path(__file__).resolve().parents[1]
SERVICES = ROOT / "app" / "services"
DOMAINS = sorted(p.name for p in SERVICES.iterdir() if (p / "__init__.py").exists())


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    return grimp.build_graph("app")


def test_import_contracts_of_pyproject_hold(monkeypatch: pytest.MonkeyPatch) -> None:
    """...and checking them leaves the process's logging as it was: import-linter's
    ``lint_imports`` configures logging with ``dictConfig``, whose default
    ``disable_existing_loggers`` disabled every logger created before (the app's), so tests run
    after this one in the same session saw no log records."""
    monkeypatch.chdir(ROOT)
    monkeypatch.setattr(sys, "path", list(sys.path))  # lint_imports puts the directory first
    monkeypatch.setattr(cli, "_configure_logging", lambda verbose: None)
    existing = logging.getLogger("dancu.test-architecture")
    assert cli.lint_imports(config_filename="pyproject.toml", no_cache=True) == 0
    assert not existing.disabled


def _cycles(graph: grimp.ImportGraph) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in sorted(graph.modules):
        if root in index:
            continue
        work = [(root, iter(sorted(graph.find_modules_directly_imported_by(root))))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    grandchildren = sorted(graph.find_modules_directly_imported_by(child))
                    work.append((child, iter(grandchildren)))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_no_module_imports_itself_back_through_others(graph: grimp.ImportGraph) -> None:
    # Every import counts: at module level, inside functions and under TYPE_CHECKING.
    assert _cycles(graph) == []


def test_the_cycle_finder_finds_a_cycle() -> None:
    class Two:
        modules = {"a", "b", "c"}

        @staticmethod
        def find_modules_directly_imported_by(module: str) -> set[str]:
            return {"a": {"b"}, "b": {"a"}, "c": {"a"}}[module]

    assert _cycles(Two()) == [["a", "b"]]  # type: ignore[arg-type]


def test_every_use_case_module_lives_in_a_domain_package() -> None:
    flat = sorted(p.name for p in SERVICES.glob("*.py") if p.name != "__init__.py")
    assert flat == []
    assert DOMAINS == ["cards", "documents", "events", "kit", "population", "sandbox", "sharing",
                       "storage", "vneid"]


@pytest.mark.parametrize("domain", DOMAINS)
def test_a_domain_package_says_what_it_owns_and_exports_existing_modules(domain: str) -> None:
    package = importlib.import_module(f"app.services.{domain}")
    assert len(package.__doc__ or "") > 80
    modules = {p.stem for p in (SERVICES / domain).glob("*.py") if p.stem != "__init__"}
    assert set(package.__all__) <= modules
    assert package.__all__ == sorted(package.__all__)


def _domain(module: str) -> str | None:
    parts = module.split(".")
    return parts[2] if parts[:2] == ["app", "services"] and len(parts) > 3 else None


def test_other_packages_use_a_domain_only_through_the_modules_it_exports(
        graph: grimp.ImportGraph) -> None:
    private = []
    for module in sorted(graph.modules):
        for imported in sorted(graph.find_modules_directly_imported_by(module)):
            domain = _domain(imported)
            if domain is None or _domain(module) == domain:
                continue
            exported = importlib.import_module(f"app.services.{domain}").__all__
            if imported.split(".")[3] not in exported:
                private.append(f"{module} -> {imported}")
    assert private == []


def test_importing_a_domain_package_imports_none_of_its_modules() -> None:
    # __init__ only documents: importing app.services.cards must not pull in the chip's crypto.
    code = ("import sys, app.services.cards, app.services.kit; "
            "print(sorted(m for m in sys.modules if m.startswith('app.services.')))")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True, cwd=ROOT).stdout
    assert loaded.strip() == "['app.services.cards', 'app.services.kit']"
