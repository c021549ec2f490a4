"""The HTTP collection in docs/collection/ is what ``dancu export-collection`` makes from the
current OpenAPI document (regenerate it after changing an endpoint), and it covers every
operation once."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from app.cli import app as cli_app
from app.cli.sandbox import openapi_document
from app.services import sandbox_collection

COLLECTION = Path(__file__).parents[1] / "docs" / "collection"


@pytest.mark.parametrize("kind", ["http", "postman"])
def test_the_committed_collection_is_in_step_with_the_openapi_document(
        kind: str, tmp_path: Path) -> None:
    result = CliRunner().invoke(cli_app, ["export-collection", "--format", kind,
                                          "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    made = {p.relative_to(tmp_path): p.read_text("utf-8") for p in tmp_path.rglob("*.*")}
    committed = {p.relative_to(COLLECTION): p.read_text("utf-8")
                 for p in (COLLECTION / ("http" if kind == "http" else "")).rglob("*.*")
                 if kind == "http" or p.suffix == ".json"}
    assert made == committed, "run: dancu export-collection --format " + kind


def test_every_operation_is_one_request_of_the_collection() -> None:
    document = openapi_document()
    operations = sum(len(item) for item in document["paths"].values())
    http = "".join(sandbox_collection.http_files(document).values())
    assert http.count("\n### ") + http.startswith("### ") == operations
    postman = sandbox_collection.postman(document)
    assert sum(len(folder["item"]) for folder in postman["item"]) == operations
    assert json.loads(json.dumps(postman))["info"]["schema"].endswith("v2.1.0/collection.json")
