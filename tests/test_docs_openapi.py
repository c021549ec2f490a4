"""Every operation of the OpenAPI document shows an example of its request body and of its
success answer, documents at least one error answer, and every JSON example validates against
its schema (examples are what the exported collection sends)."""

from __future__ import annotations

from typing import Any

import jsonschema_rs
import pytest

from app.main import create_app
from app.settings import load_settings


def _document() -> dict[str, Any]:
    settings = load_settings(database_url="sqlite:///:memory:", auto_seed=False)
    return create_app(settings, migrate_on_start=False).openapi()


DOCUMENT = _document()
OPERATIONS = [(path, method, operation) for path, item in DOCUMENT["paths"].items()
              for method, operation in item.items()]


def _has_example(media: dict[str, Any]) -> bool:
    return "example" in media or bool(media.get("examples"))


def _example(media: dict[str, Any]) -> Any:
    if "example" in media:
        return media["example"]
    return next(iter(media["examples"].values()))["value"]


def _validate(schema: dict[str, Any], value: Any) -> list[str]:
    """Errors of ``value`` against ``schema``, its ``#/components/...`` references resolved
    against the document's components (carried in the root)."""
    rooted = {"allOf": [schema], "components": DOCUMENT["components"]}
    validator = jsonschema_rs.Draft202012Validator(rooted)
    return [error.message for error in validator.iter_errors(value)]


@pytest.mark.parametrize(("path", "method", "operation"), OPERATIONS,
                         ids=[f"{m.upper()} {p}" for p, m, _ in OPERATIONS])
def test_every_operation_has_examples_and_documents_an_error(
        path: str, method: str, operation: dict[str, Any]) -> None:
    body = operation.get("requestBody")
    if body is not None:
        assert all(_has_example(media) for media in body["content"].values()), "request example"
    responses = operation["responses"]
    successes = [r for code, r in responses.items() if code[0] in "23"]
    assert successes, "a success (or redirect) response"
    for response in successes:
        for media in (response.get("content") or {}).values():
            assert _has_example(media), "success response example"
    assert any(code[0] in "45" or code == "default" for code in responses), "an error response"


@pytest.mark.parametrize(("path", "method", "operation"), OPERATIONS,
                         ids=[f"{m.upper()} {p}" for p, m, _ in OPERATIONS])
def test_json_examples_match_their_schemas(path: str, method: str,
                                           operation: dict[str, Any]) -> None:
    medias = [media for media_type, media in
              (operation.get("requestBody") or {}).get("content", {}).items()
              if media_type.endswith("json")]
    for code, response in operation["responses"].items():
        if code.startswith("2"):
            medias += [m for t, m in (response.get("content") or {}).items() if t.endswith("json")]
    for media in medias:
        if "schema" in media and _has_example(media):
            assert _validate(media["schema"], _example(media)) == []


def test_the_document_says_any_route_may_answer_an_injected_fault() -> None:
    described = {op["responses"]["default"]["description"] for _, _, op in OPERATIONS}
    assert len(described) == 1
    assert "X-Sandbox-Fault" in described.pop()
