"""Hostile and malformed input on the data-sharing API: 4xx problems that never echo the input,
413 before parsing, request ids, and never a 5xx."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from app.settings import Settings
from tests.api.sharing_support import *  # noqa: F403
from tests.api.sharing_support import People, bearer

MALFORMED_PINS = [
    ("00109304706", "pin.length", "11 digits"),
    ("0010930470641", "pin.length", "13 digits"),
    ("00109304706a", "pin.format", "a letter"),
    ("００１０９３０４７０６４", "pin.format", "full-width digits"),
    ("٠٠١٠٩٣٠٤٧٠٦٤", "pin.format", "Arabic-Indic digits"),
    (" 001093047064", "pin.format", "leading space"),
    ("001093047064 ", "pin.format", "trailing space"),
    ("001093 047064", "pin.format", "inner space"),
    ("001093047064\t", "pin.format", "tab"),
    ("0010-9304-7064", "pin.format", "dashes"),
    ("001.093.047.064", "pin.format", "dots"),
    ("003093047064", "pin.place", "unused province code"),
    ("9" * 300, "pin.length", "very long"),
]


def _assert_invalid_pin(response: Any, rule: str, value: str) -> None:
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["type"] == "https://dancu.sandbox/problems/invalid-pin"
    assert body["rule"] == rule
    assert value.strip() not in response.text
    assert quote(value) not in response.text


@pytest.mark.parametrize(
    ("value", "rule", "case"), MALFORMED_PINS, ids=[c[2] for c in MALFORMED_PINS]
)
def test_malformed_pin_in_the_path_is_422_naming_the_rule_without_echo(
    client: TestClient, demo_token: str, value: str, rule: str, case: str
) -> None:
    response = client.get(f"/v1/citizens/{quote(value)}", headers=bearer(demo_token))
    if "\t" in value:  # refused at the edge, like any control character in a path
        assert response.status_code == 422
        assert response.json()["errors"][0]["rule"] == "control_character"
        assert quote(value) not in response.text
        return
    _assert_invalid_pin(response, rule, value)


@pytest.mark.parametrize(
    ("value", "rule", "case"), MALFORMED_PINS[:-1], ids=[c[2] for c in MALFORMED_PINS[:-1]]
)
def test_malformed_pin_in_a_verify_body_is_422_naming_the_rule_without_echo(
    client: TestClient, demo_token: str, value: str, rule: str, case: str
) -> None:
    response = client.post(
        "/v1/citizens/verify", json={"pin": value, "sex": "M"}, headers=bearer(demo_token)
    )
    _assert_invalid_pin(response, rule, value)


def test_authentication_is_checked_before_the_pin(client: TestClient) -> None:
    assert client.get("/v1/citizens/not-a-pin").status_code == 401


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/v1/citizens/verify", {"pin": "001093047064", "sex": "M", "loa": 2}),
        (
            "/v1/citizens/verify/batch",
            {"items": [{"pin": "001093047064", "sex": "M", "is_admin": True}]},
        ),
        ("/v1/citizens/verify/batch", {"items": [{"pin": "001093047064", "sex": "M"}], "extra": 1}),
        ("/v1/citizens/resolve-cmnd", {"old_id_number": "012345678", "pin": "x"}),
    ],
)
def test_unknown_fields_are_rejected(
    client: TestClient, demo_token: str, path: str, body: dict[str, Any]
) -> None:
    response = client.post(path, json=body, headers=bearer(demo_token))
    assert response.status_code == 422
    assert any(error["rule"] == "extra_forbidden" for error in response.json()["errors"])


def test_unknown_fields_are_rejected_by_the_admin_api(
    client: TestClient, admin_headers: dict[str, str]
) -> None:
    response = client.post(
        "/v1/admin/clients",
        headers=admin_headers,
        json={"name": "x", "scopes": ["citizen.basic"], "purposes": ["kyc"], "status": "active"},
    )
    assert response.status_code == 422


def _raw(client: TestClient, token: str, content: bytes, path: str = "/v1/citizens/verify") -> Any:
    return client.post(
        path, content=content, headers={**bearer(token), "Content-Type": "application/json"}
    )


@pytest.mark.parametrize(
    ("content", "case"),
    [
        (b'{"pin": "001093047064", "full_name": "\\ud800"}', "lone surrogate"),
        (b'{"pin": "001093047064", "full_name": "An\\u0000"}', "NUL character"),
        (b'{"pin": "001093047064", "full_name": "' + "ễ".encode() * 300 + b'"}', "name too long"),
        (b'{"pin": "001093047064", "full_name": "\xc3\x28"}', "invalid UTF-8"),
        (b'{"pin": "001093047064", "birth_date": "1990-02-30"}', "impossible date"),
        (b'{"pin": "001093047064", "sex": "X"}', "unknown sex"),
        (b'{"pin": 1093047064, "sex": "M"}', "PIN as a number"),
        (b'{"pin": "001093047064", "sex": "M"', "truncated JSON"),
        (b"[" * 50_000 + b"]" * 50_000, "deep nesting"),
        (
            b'{"pin": "001093047064", "sex": "M", "accent_insensitive": 1' + b"0" * 5000 + b"}",
            "huge number",
        ),
        (b"", "empty body"),
        (b"null", "null"),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_hostile_bodies_get_a_4xx_problem_never_a_5xx(
    client: TestClient, demo_token: str, content: bytes, case: str
) -> None:
    response = _raw(client, demo_token, content)
    assert 400 <= response.status_code < 500
    assert response.headers["content-type"] == "application/problem+json"
    assert "Traceback" not in response.text
    assert "ễễễ" not in response.text


def test_oversized_body_is_413_before_authentication_or_parsing(
    client: TestClient, settings: Settings
) -> None:
    junk = b"{" * (settings.max_body_bytes + 1)  # neither authenticated nor valid JSON
    response = client.post(
        "/v1/citizens/verify", content=junk, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 413
    assert response.json()["type"] == "https://dancu.sandbox/problems/payload-too-large"
    assert response.headers["x-request-id"]


def test_oversized_streamed_body_is_413(
    client: TestClient, settings: Settings, demo_token: str
) -> None:
    def chunks() -> Iterator[bytes]:  # no Content-Length: the bytes are counted as they arrive
        for _ in range(settings.max_body_bytes // 1024 + 2):
            yield b" " * 1024

    response = client.post(
        "/v1/citizens/verify",
        content=chunks(),
        headers={**bearer(demo_token), "Content-Type": "application/json"},
    )
    assert response.status_code == 413


def test_oversized_token_request_is_413(client: TestClient, settings: Settings) -> None:
    response = client.post(
        "/oauth2/token",
        content=b"a" * (settings.max_body_bytes + 1),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 413


def test_request_id_is_echoed_when_given_and_generated_when_absent(client: TestClient) -> None:
    given_id = client.get("/healthz", headers={"X-Request-ID": "abc-123.DEF"})
    generated = [client.get("/healthz").headers["x-request-id"] for _ in range(2)]
    assert given_id.headers["x-request-id"] == "abc-123.DEF"
    assert all(len(value) == 32 for value in generated)
    assert generated[0] != generated[1]


@pytest.mark.parametrize("unsafe", ["a" * 65, "two words", "x\u00e9", "<script>"])
def test_unsafe_request_id_is_replaced(client: TestClient, unsafe: str) -> None:
    response = client.get("/healthz", headers={"X-Request-ID": unsafe.encode()})
    assert response.headers["x-request-id"] != unsafe
    assert len(response.headers["x-request-id"]) == 32


def test_data_responses_are_not_cacheable(
    client: TestClient, people: People, demo_token: str
) -> None:
    response = client.get(f"/v1/citizens/{people.mother}", headers=bearer(demo_token))
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["x-content-type-options"] == "nosniff"


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=12,
)
verify_bodies = st.fixed_dictionaries(
    {},
    optional={
        "pin": st.text(max_size=20) | st.just("001093047064"),
        "full_name": st.text(),
        "birth_date": st.text(max_size=12),
        "sex": st.text(max_size=2),
        "old_id_number": st.text(max_size=12),
        "phone": st.text(max_size=20),
        "accent_insensitive": json_values,
        "extra": json_values,
    },
)


@hypothesis_settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(body=verify_bodies | json_values)
def test_no_verify_body_gives_a_5xx(client: TestClient, demo_token: str, body: Any) -> None:
    response = _raw(client, demo_token, json.dumps(body).encode())
    assert response.status_code < 500


@hypothesis_settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(pin=st.text(min_size=1, max_size=40))
def test_no_path_pin_gives_a_5xx(client: TestClient, demo_token: str, pin: str) -> None:
    response = client.get(f"/v1/citizens/{quote(pin, safe='')}", headers=bearer(demo_token))
    assert response.status_code < 500
