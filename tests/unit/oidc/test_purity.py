"""CONTRIBUTING purity line: app/oidc imports only the stdlib, cryptography and joserfc."""

import ast
import sys
from pathlib import Path

import pytest

import app.oidc

ALLOWED_ROOTS = set(sys.stdlib_module_names) | {"cryptography", "joserfc", "__future__"}
MODULES = sorted(Path(app.oidc.__file__).parent.glob("*.py"))


def _imported_roots(path: Path) -> set[str]:
    roots = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            roots.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module)
    return roots


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.name)
def test_oidc_module_imports_only_allowed_packages(path):
    outside = {
        name
        for name in _imported_roots(path)
        if name.split(".")[0] not in ALLOWED_ROOTS and not name.startswith("app.oidc")
    }
    assert outside == set()
