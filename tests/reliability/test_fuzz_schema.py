"""API fuzzing: schemathesis generates positive and negative requests for every operation of the
service's own OpenAPI document and checks each answer: no 5xx, a documented status code and
content type, a body that matches the documented schema.

Bounded for CI (``DANCU_FUZZ_EXAMPLES`` per operation, default 12, derandomised); the longer run
is ``bench/fuzz.sh``. The service runs on a database of its own, since generated requests change
state at random. Every request carries the credential its route expects (admin token, a
citizen's access token, the demo client's token, or its HTTP Basic credentials), so the fuzzer
gets past authentication; the access-control family covers the refusals.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from app.main import create_app
from app.settings import load_settings
from tests.reliability.conftest import Isolated, as_dict, identities
from tests.reliability.support import Operation, record

EXAMPLES = int(os.environ.get("DANCU_FUZZ_EXAMPLES", "12"))
# The browser flow (redirects, cookies, PKCE state) is the OAuth family's, not a schema's.
# Tenant creation and reset each build a whole database, and moving the sandbox clock or adding
# fault rules changes what every later request may answer (a rule's latency really waits): the
# sandbox tests cover them (tests/api/test_tenants.py, test_sandbox_clock.py, test_faults.py).
EXCLUDED = ("/oauth2/authorize", "/v1/sandbox/tenants", "/v1/sandbox/tenants/{tenant_id}/reset",
            "/v1/sandbox/clock/freeze", "/v1/sandbox/clock/advance", "/v1/sandbox/faults")
# A token lives for minutes: identities are renewed well before.
RENEW_AFTER_S = 120


class Tally:
    def __init__(self) -> None:
        self.cases: Counter[str] = Counter()
        self.modes: Counter[str] = Counter()
        self.server_errors: list[str] = []


@pytest.fixture(scope="module")
def tally() -> Iterator[Tally]:
    counts = Tally()
    yield counts
    record("fuzz", "operations", len(counts.cases))
    record("fuzz", "cases", sum(counts.cases.values()))
    record("fuzz", "negative cases", counts.modes.get("negative", 0))
    record("fuzz", "5xx", len(counts.server_errors))


def _document() -> dict[str, Any]:
    """The OpenAPI document, built without a database (the schema needs none)."""
    settings = load_settings(database_url="sqlite:///:memory:", auto_seed=False)
    return create_app(settings, migrate_on_start=False).openapi()


def _schema() -> Any:
    loaded = schemathesis.openapi.from_dict(_document())
    # No generated credentials: every request carries the real one its route expects.
    loaded.config.generation.update(max_examples=EXAMPLES, deterministic=True,
                                    with_security_parameters=False)
    return loaded.exclude(path=list(EXCLUDED))


class Credentials:
    def __init__(self, isolated: Isolated) -> None:
        self.isolated = isolated
        self.issued_at = 0.0
        self.headers: dict[str, dict[str, str]] = {}

    def for_(self, operation: Operation) -> dict[str, str]:
        if time.monotonic() - self.issued_at > RENEW_AFTER_S:
            self.headers = identities(self.isolated)
            self.issued_at = time.monotonic()
        return self.headers[operation.identity]

    def values(self, operation: Operation) -> dict[str, str]:
        kind = "admin values" if operation.identity == "admin" else "values"
        return self.headers[kind] if self.headers else {}


@pytest.fixture(scope="module")
def credentials(isolated: Isolated) -> Credentials:
    return Credentials(isolated)


schema = _schema()


@schema.parametrize()
@hypothesis_settings(deadline=None, derandomize=True, database=None, print_blob=False,
                     suppress_health_check=list(HealthCheck))
def test_every_operation_answers_as_documented_and_never_5xx(
        case: Any, isolated: Isolated, credentials: Credentials, tally: Tally) -> None:
    operation = Operation(case.operation.method.upper(), case.operation.path,
                          case.operation.definition.raw)
    mode = getattr(getattr(case.meta, "generation", None), "mode", None)
    mode = str(getattr(mode, "value", mode))
    identity = credentials.for_(operation)
    if mode == "positive" and sum(tally.cases.values()) % 2:
        _use_known_values(case, credentials.values(operation))
    _spare_the_demo_client(case, isolated.settings.demo_client_id, credentials.values(operation))
    _spare_the_world(case)
    kwargs = case.as_transport_kwargs(base_url="http://testserver")
    headers = {**as_dict(kwargs.pop("headers", None)), **identity}
    cookies = as_dict(kwargs.pop("cookies", None))
    if cookies:
        headers["Cookie"] = "; ".join(f"{name}={value}" for name, value in cookies.items())
    response = isolated.client.request(
        kwargs.pop("method"), kwargs.pop("url"), headers=headers, params=kwargs.pop("params", None),
        **_body(kwargs))
    tally.cases[operation.id] += 1
    tally.modes[mode] += 1
    if response.status_code >= 500:
        tally.server_errors.append(operation.id)
    assert response.status_code < 500, (operation.id, response.status_code)
    case.validate_response(response, checks=[status_code_conformance, content_type_conformance,
                                             response_schema_conformance])


def _use_known_values(case: Any, values: dict[str, str]) -> None:
    """Half the positive cases name a real citizen and client instead of a random one."""
    for name, value in values.items():
        if name in (case.path_parameters or {}):
            case.path_parameters[name] = value


def _spare_the_demo_client(case: Any, demo: str, values: dict[str, str]) -> None:
    """The documented examples name the demo client, whose credentials the identities are
    renewed with: an admin route (rotate its secret, disable it) gets the fuzz target instead.
    Renewal comes after RENEW_AFTER_S, so a slow run (PostgreSQL on a busy machine) failed every
    later case with invalid_client."""
    if (case.path_parameters or {}).get("client_id") == demo and "client_id" in values:
        case.path_parameters["client_id"] = values["client_id"]


def _spare_the_world(case: Any) -> None:
    """A valid simulation moves the isolated world up to ten years on: the login persona's card
    expires (its account locks) or the persona dies, and every identity renewed after that fails.
    A valid ``days`` becomes one day; invalid ones are still sent as generated."""
    body = case.body
    if (case.operation.path == "/v1/admin/simulate" and isinstance(body, dict)
            and isinstance(body.get("days"), int) and 1 <= body["days"] <= 3660):
        body["days"] = 1


def _body(kwargs: dict[str, Any]) -> dict[str, Any]:
    """requests-style body arguments as httpx takes them."""
    if "json" in kwargs:
        return {"json": kwargs["json"]}
    data = kwargs.get("data")
    if isinstance(data, (bytes, str)):
        return {"content": data}
    if data is not None:
        return {"data": data}
    if kwargs.get("files"):
        return {"files": kwargs["files"]}
    return {}
