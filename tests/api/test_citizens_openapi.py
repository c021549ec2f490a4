"""The data-sharing API is documented: OpenAPI operations with responses and examples, every scope
in docs/scopes.md, every problem type in docs/errors.md."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app import security
from app.errors import DomainError
from app.routers import audit as audit_router
from app.routers import citizens as citizens_router
from app.services.kit import pagination
from app.services.population import citizens
from app.services.sharing import clients
from app.services.sharing.scopes import CATALOGUE
from app.services.vneid import discovery

DOCS = Path(__file__).resolve().parents[2] / "docs"
OPERATIONS = [
    ("get", "/v1/citizens/{pin}"), ("get", "/v1/citizens/{pin}/residence"),
    ("post", "/v1/citizens/verify"), ("post", "/v1/citizens/verify/batch"),
    ("post", "/v1/citizens/resolve-cmnd"), ("get", "/v1/citizens"), ("get", "/v1/audit"),
    ("post", "/v1/admin/clients"), ("get", "/v1/admin/clients"),
    ("post", "/v1/admin/clients/{client_id}/rotate-secret"),
    ("post", "/v1/admin/clients/{client_id}/disable"), ("post", "/oauth2/token"),
    ("get", "/.well-known/jwks.json"), ("get", "/.well-known/openid-configuration"),
    ("get", "/.well-known/oauth-authorization-server"),
]


@pytest.fixture(scope="module")
def openapi(client: TestClient) -> dict[str, Any]:
    return dict(client.get("/openapi.json").json())


@pytest.mark.parametrize(("method", "path"), OPERATIONS)
def test_every_data_sharing_operation_is_in_the_openapi_document(
    openapi: dict[str, Any], method: str, path: str
) -> None:
    operation = openapi["paths"][path][method]
    assert operation["summary"]


@pytest.mark.parametrize(("method", "path"), [op for op in OPERATIONS if op[1].startswith("/v1")])
def test_protected_operations_document_their_error_responses(
    openapi: dict[str, Any], method: str, path: str
) -> None:
    responses = openapi["paths"][path][method]["responses"]
    assert {"401", "403"} <= set(responses)


def test_requests_and_responses_carry_examples(openapi: dict[str, Any]) -> None:
    schemas = openapi["components"]["schemas"]
    assert schemas["CitizenVerifyRequest"]["examples"]
    assert schemas["CitizenRecord"]["examples"]
    token = openapi["paths"]["/oauth2/token"]["post"]
    example = token["responses"]["200"]["content"]["application/json"]["example"]
    assert example["token_type"] == "Bearer"
    assert "application/x-www-form-urlencoded" in token["requestBody"]["content"]


@pytest.mark.parametrize("scope", CATALOGUE, ids=lambda s: s.name)
def test_every_scope_and_its_fields_are_in_docs_scopes(scope: Any) -> None:
    rows = [line for line in (DOCS / "scopes.md").read_text().splitlines()
            if line.startswith(f"| `{scope.name}` |")]
    assert len(rows) == 1
    assert all(f"`{field}`" in rows[0] for field in scope.fields)


def _problem_classes() -> set[type[DomainError]]:
    modules = (security, citizens, clients, discovery, pagination, citizens_router, audit_router)
    return {value for module in modules for value in vars(module).values()
            if isinstance(value, type) and issubclass(value, DomainError)}


@pytest.mark.parametrize("problem", sorted(_problem_classes(), key=lambda c: c.code),
                         ids=lambda c: c.code)
def test_every_problem_type_is_in_docs_errors(problem: type[DomainError]) -> None:
    table = (DOCS / "errors.md").read_text()
    row = re.search(rf"^\| `{re.escape(problem.code)}` \| (\d+|any) \| (.+?) \|", table, re.M)
    assert row is not None
    assert row.group(1) in (str(problem.status), "any")
