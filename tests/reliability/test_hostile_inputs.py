"""Input hardening through HTTP, on every operation that takes a body (read from the OpenAPI
document, so a new one is covered the day it appears): a body over the limit is refused before it
is parsed; duplicate member names, deep nesting, lone surrogates, control characters, invalid
UTF-8 and 5 MB strings get a clear 4xx problem that never echoes the input, and never a 5xx.
Full-width digits in every ``{pin}`` path are refused without echo."""

from __future__ import annotations

import unicodedata
from collections.abc import Iterator
from datetime import date
from typing import Any
from urllib.parse import quote

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from app.models.population import Citizen
from app.settings import Settings
from tests.api.events_support import married_couple
from tests.api.sharing_support import basic, bearer, issue_token
from tests.reliability.conftest import Isolated
from tests.reliability.support import (
    Operation,
    document_operations,
    example_path,
    operations,
    record,
)

MARKER = "HOSTILE7731"
_NESTING = 100_000
# (case, raw body, the 4xx statuses allowed, the rule a problem must name, if any)
HOSTILE_BODIES: list[tuple[str, bytes, set[int], str | None]] = [
    ("duplicate keys", b'{"' + MARKER.encode() + b'": 1, "' + MARKER.encode() + b'": 2}',
     {422}, "json.duplicate_key"),
    ("deep nesting", b"[" * _NESTING + b"]" * _NESTING, {422}, "json.depth"),
    ("deep objects", b'{"a":' * 5_000 + b"1" + b"}" * 5_000, {422}, "json.depth"),
    ("lone surrogate", b'{"name": "' + MARKER.encode() + b'\\ud800"}', {422}, "json.surrogate"),
    ("NUL character", b'{"name": "' + MARKER.encode() + b'\\u0000"}', {422},
     "json.control_character"),
    ("NEL character", b'{"name": "' + MARKER.encode() + b'\\u0085"}', {422},
     "json.control_character"),
    # raw (unescaped) in an otherwise plain body: the edge's fast path for escape-free ASCII bodies
    ("raw DEL character", b'{"name": "' + MARKER.encode() + b'\x7f"}', {422},
     "json.control_character"),
    ("raw NEL character", b'{"name": "' + MARKER.encode() + b'\xc2\x85"}', {422},
     "json.control_character"),
    ("invalid UTF-8", b'{"name": "' + MARKER.encode() + b'\xff\xfe"}', {422}, None),
    ("truncated JSON", b'{"name": "' + MARKER.encode(), {422}, None),
    ("5 MB string", b'{"name": "' + MARKER.encode() * (5_000_000 // len(MARKER)) + b'"}', {413},
     None),
]


ALL_OPERATIONS = document_operations()
BODY_OPERATIONS = [op for op in ALL_OPERATIONS if op.takes_body]
JSON_OPERATIONS = [op for op in BODY_OPERATIONS if op.json_body]
PIN_OPERATIONS = [op for op in ALL_OPERATIONS if "{pin}" in op.path]
COUNTS: dict[str, int] = {"requests": 0, "5xx": 0, "echoes": 0}


@pytest.fixture(scope="module")
def credentials(client: TestClient, settings: Settings) -> dict[str, dict[str, str]]:
    demo = issue_token(client, settings.demo_client_id, settings.demo_client_secret)
    return {"admin": bearer(settings.admin_token), "client": bearer(demo), "user": bearer(demo),
            "basic": basic(settings.demo_client_id, settings.demo_client_secret), "none": {}}


@pytest.fixture(scope="module", autouse=True)
def figures() -> Iterator[None]:
    yield
    record("hostile input", "body operations", len(BODY_OPERATIONS))
    record("hostile input", "requests", COUNTS["requests"])
    record("hostile input", "5xx", COUNTS["5xx"])
    record("hostile input", "inputs echoed", COUNTS["echoes"])


def _send(client: TestClient, operation: Operation, headers: dict[str, str], body: bytes,
          content_type: str = "application/json") -> Any:
    path = example_path(operation.path, {"pin": "001093047064", "action": "issue"})
    response = client.request(operation.method, path, content=body,
                              headers={**headers, "Content-Type": content_type})
    COUNTS["requests"] += 1
    COUNTS["5xx"] += response.status_code >= 500
    COUNTS["echoes"] += MARKER in response.text
    return response


@pytest.mark.parametrize("operation", JSON_OPERATIONS, ids=lambda op: op.id)
@pytest.mark.parametrize(("case", "body", "statuses", "rule"), HOSTILE_BODIES,
                         ids=[c[0] for c in HOSTILE_BODIES])
def test_hostile_json_bodies_get_a_clear_4xx_without_echo(
        client: TestClient, credentials: dict[str, dict[str, str]], operation: Operation,
        case: str, body: bytes, statuses: set[int], rule: str | None) -> None:
    response = _send(client, operation, credentials[operation.identity], body)
    assert response.status_code in statuses, (response.status_code, response.text[:300])
    assert response.headers["content-type"] == "application/problem+json"
    assert MARKER not in response.text
    if rule:
        assert rule in {error["rule"] for error in response.json()["errors"]}


@pytest.mark.parametrize("operation", BODY_OPERATIONS, ids=lambda op: op.id)
def test_a_body_over_the_limit_is_refused_before_it_is_read(
        client: TestClient, settings: Settings, operation: Operation) -> None:
    """By the declared length: no credentials needed, nothing parsed, no 5xx."""
    oversized = b"{" + b" " * settings.max_body_bytes + b"}"
    response = _send(client, operation, {}, oversized,
                     content_type="application/json" if operation.json_body
                     else "application/x-www-form-urlencoded")
    assert response.status_code == 413
    assert response.headers["content-type"] == "application/problem+json"


FORM_OPERATIONS = [op for op in BODY_OPERATIONS if not op.json_body]
HOSTILE_FORMS = [
    ("NUL", "grant_type=client_credentials&scope=" + quote(MARKER + "\x00")),
    ("invalid UTF-8", "grant_type=client_credentials&scope=" + MARKER + "%FF%FE"),
    ("repeated parameter", "grant_type=client_credentials&grant_type=" + MARKER),
    ("huge value", "grant_type=client_credentials&scope=" + MARKER * 50_000),
]


@pytest.mark.parametrize("operation", FORM_OPERATIONS, ids=lambda op: op.id)
@pytest.mark.parametrize(("case", "form"), HOSTILE_FORMS, ids=[c[0] for c in HOSTILE_FORMS])
def test_hostile_form_bodies_get_a_4xx_without_echo(
        client: TestClient, credentials: dict[str, dict[str, str]], operation: Operation,
        case: str, form: str) -> None:
    response = _send(client, operation, credentials[operation.identity], form.encode(),
                     content_type="application/x-www-form-urlencoded")
    assert response.status_code < 500
    assert MARKER not in response.text
    if operation.path in ("/oauth2/token", "/oauth2/userinfo"):
        assert 400 <= response.status_code < 500


FULL_WIDTH_PIN = "００１０９３０４７０６４"


@pytest.mark.parametrize("operation", PIN_OPERATIONS, ids=lambda op: op.id)
def test_full_width_digits_in_a_pin_path_are_refused_without_echo(
        client: TestClient, credentials: dict[str, dict[str, str]], operation: Operation) -> None:
    path = example_path(operation.path, {"pin": quote(FULL_WIDTH_PIN), "action": "issue",
                                         "side": "front"})
    headers = credentials[operation.identity]
    kwargs: dict[str, Any] = {"json": {}} if operation.json_body else {}
    response = client.request(operation.method, path, headers=headers, **kwargs)
    COUNTS["requests"] += 1
    assert 400 <= response.status_code < 500
    assert FULL_WIDTH_PIN not in response.text
    assert quote(FULL_WIDTH_PIN) not in response.text


def test_every_json_operation_is_in_the_matrix(app: FastAPI) -> None:
    """A new body-taking route is covered without anyone adding it here."""
    live = {op.id for op in operations(app) if op.json_body}
    assert live == {op.id for op in JSON_OPERATIONS}


# --- NFC and NFD: the same name, whichever form it is typed in ----------------------------------

LONG_GIVEN = " ".join(["Thuỷ"] * 8)  # 39 characters in NFC, 47 in NFD


@pytest.mark.parametrize("form", ["NFC", "NFD"])
def test_a_name_is_the_same_in_nfc_and_nfd_and_measured_after_nfc(
        isolated: Isolated, form: str) -> None:
    """A birth registered with a decomposed name is stored composed, and the 40-character
    limit counts the composed form (NFD is longer: it must not be refused for that)."""
    admin = bearer(isolated.settings.admin_token)
    mother = married_couple(isolated.database).wife
    born = isolated.client.post("/v1/life-events/births", headers=admin, json={
        "mother_pin": mother, "surname": unicodedata.normalize(form, "Nguyễn"),
        "given_name": unicodedata.normalize(form, LONG_GIVEN), "sex": "F",
        "birth_date": date.today().isoformat()})
    assert born.status_code == 201, born.text
    with isolated.database.read() as session:
        child = session.get(Citizen, born.json()["pin"])
        assert child is not None
        assert (child.surname, child.given_name) == ("Nguyễn", LONG_GIVEN)
