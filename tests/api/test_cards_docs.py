"""The chip-card API is documented: every operation in the OpenAPI document, every problem type
in docs/errors.md, every persona and step code in docs/cards.md."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.errors import DomainError
from app.routers import cards as cards_router
from app.services.cards import access, chip, holder
from app.services.cards import issuance as cards
from app.services.cards.failure_cards import PERSONAS

DOCS = Path(__file__).resolve().parents[2] / "docs"
OPERATIONS = [
    ("get", "/v1/cards/{pin}"), ("get", "/v1/cards/{pin}/image/{side}.svg"),
    ("get", "/v1/cards/{pin}/chip"), ("post", "/v1/cards/{pin}/chip/internal-authenticate"),
    ("post", "/v1/cards/verify"), ("get", "/v1/sandbox/personas/cards"),
    ("post", "/v1/admin/cards/{pin}/{action}"), ("get", "/v1/pki"), ("get", "/v1/pki/csca.pem"),
    ("get", "/v1/pki/csca.der"), ("get", "/v1/pki/crl.der"), ("get", "/v1/pki/masterlist"),
]
STEP_CODES = ["input.decode", "sod.parse", "dg.hash", "sod.signed_attrs", "sod.signature",
              "dsc.chain", "dsc.validity", "dsc.revocation", "card.expiry", "chip.active_auth",
              "db.card_status", "db.holder_alive", "db.data_current"]


@pytest.fixture(scope="module")
def openapi(client: TestClient) -> dict[str, Any]:
    return dict(client.get("/openapi.json").json())


@pytest.mark.parametrize(("method", "path"), OPERATIONS)
def test_every_card_operation_is_in_the_openapi_document(openapi: dict[str, Any], method: str,
                                                         path: str) -> None:
    assert openapi["paths"][path][method]["summary"]


def test_verify_request_and_card_carry_examples(openapi: dict[str, Any]) -> None:
    schemas = openapi["components"]["schemas"]
    assert schemas["VerifyRequest"]["examples"]
    assert schemas["Card"]["examples"]


def _problems() -> list[type[DomainError]]:
    found = {value for module in (cards, access, holder, chip, cards_router)
             for value in vars(module).values()
             if isinstance(value, type) and issubclass(value, DomainError)}
    return sorted(found, key=lambda c: c.code)


@pytest.mark.parametrize("problem", _problems(), ids=lambda c: c.code)
def test_every_card_problem_type_is_in_docs_errors(problem: type[DomainError]) -> None:
    table = (DOCS / "errors.md").read_text()
    row = re.search(rf"^\| `{re.escape(problem.code)}` \| (\d+) \|", table, re.M)
    assert row is not None
    assert row.group(1) == str(problem.status)


@pytest.mark.parametrize("persona", PERSONAS, ids=lambda p: p.key)
def test_every_persona_and_its_failures_are_in_docs_cards(persona: Any) -> None:
    rows = [line for line in (DOCS / "cards.md").read_text().splitlines()
            if line.startswith(f"| `{persona.key}` | ") and "must" not in line]
    described = next(row for row in rows if "`" in row.split("|")[3])
    assert all(f"`{code}`" in described and f"`{reason}`" in described
               for code, reason in persona.failing)


@pytest.mark.parametrize("code", STEP_CODES)
def test_every_step_code_is_in_docs_cards(code: str) -> None:
    assert f"| `{code}`" in (DOCS / "cards.md").read_text()
