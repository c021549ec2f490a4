"""Helpers of the reliability suite: the route table read from the service itself, the identity a
route needs, and the figures each family reports to CI.

Figures go to the JSON-lines file named by ``DANCU_FIGURES`` (``.ci/run`` sets it and tabulates
the lines); without it they are not written.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI

FIGURES_ENV = "DANCU_FIGURES"
# Routes that accept a user's (citizen's) access token from the login flow, not a client's.
USER_TOKEN_PATHS = ("/oauth2/userinfo", "/v1/me/")
# Routes that take the admin token only.
ADMIN_PREFIXES = ("/v1/admin/", "/v1/sandbox/qr/")
# Client-authenticated OAuth endpoints (HTTP Basic or client_secret_post, not a bearer token).
CLIENT_AUTH_PATHS = ("/oauth2/token", "/oauth2/introspect", "/oauth2/revoke", "/oauth2/par")


def record(family: str, figure: str, value: Any, *, backend: str | None = None) -> None:
    """Append one figure for the CI summary (no-op unless ``DANCU_FIGURES`` is set)."""
    target = os.environ.get(FIGURES_ENV)
    if not target:
        return
    backend = backend or ("postgresql" if os.environ.get("DANCU_TEST_DATABASE_URL") else "sqlite")
    os.makedirs(os.path.dirname(os.path.abspath(target)), exist_ok=True)
    line = {"family": family, "figure": figure, "value": value, "backend": backend}
    with open(target, "a", encoding="utf-8") as out:
        out.write(json.dumps(line, ensure_ascii=False) + "\n")


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    spec: dict[str, Any]

    @property
    def id(self) -> str:
        return f"{self.method} {self.path}"

    @property
    def bearer(self) -> bool:
        """The document says the route takes a bearer token."""
        return any("bearer" in item for item in self.spec.get("security", []))

    @property
    def takes_body(self) -> bool:
        return "requestBody" in self.spec

    @property
    def json_body(self) -> bool:
        return "application/json" in self.spec.get("requestBody", {}).get("content", {})

    @property
    def identity(self) -> str:
        """Which credential the route expects: admin, user, client (bearer), basic or none."""
        if self.path.startswith(ADMIN_PREFIXES):
            return "admin"
        if self.path.startswith(USER_TOKEN_PATHS):
            return "user"
        if self.path in CLIENT_AUTH_PATHS:
            return "basic"
        return "client" if self.bearer else "none"


def operations(app: FastAPI) -> list[Operation]:
    """Every operation of the service's OpenAPI document, in document order."""
    return list(_walk(app.openapi()))


def document_operations() -> list[Operation]:
    """The operations, read without a database (for parametrising at collection time)."""
    from app.main import create_app
    from app.settings import load_settings

    settings = load_settings(database_url="sqlite:///:memory:", auto_seed=False)
    return operations(create_app(settings, migrate_on_start=False))


def _walk(document: dict[str, Any]) -> Iterator[Operation]:
    for path, items in document["paths"].items():
        for method, spec in items.items():
            yield Operation(method.upper(), path, spec)


def example_path(path: str, values: dict[str, str]) -> str:
    """Fill a path template: known parameters from ``values``, the rest with ``1``."""
    filled = path
    while "{" in filled:
        start = filled.index("{")
        name = filled[start + 1:filled.index("}", start)]
        filled = filled.replace("{" + name + "}", values.get(name, "1"), 1)
    return filled
