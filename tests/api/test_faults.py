"""Fault injection: X-Sandbox-Fault per request, rules per client, "fail only the first N times"
counted in the database, the formats each endpoint answers in, and the refusal of every caller
that is not a sandbox client or the admin."""

from __future__ import annotations

import base64
import json
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from joserfc import jwt
from joserfc.errors import BadSignatureError
from joserfc.jwk import KeySet

from app.main import create_app
from app.settings import Settings
from tests.api.sandbox_support import Sleeps, catalogue, sandbox_client, sleeps, token
from tests.api.sharing_support import admin_headers, bearer, clock_guard

__all__ = ["admin_headers", "clock_guard", "sleeps"]
FAULT = "X-Sandbox-Fault"


@pytest.fixture(scope="module")
def tester(client: TestClient, admin_headers: dict[str, str]) -> tuple[str, str]:
    return sandbox_client(client, admin_headers)


@pytest.fixture(scope="module")
def access(client: TestClient, tester: tuple[str, str]) -> dict[str, str]:
    return bearer(token(client, tester))


@pytest.fixture(scope="module")
def pin(client: TestClient, admin_headers: dict[str, str]) -> str:
    return str(catalogue(client, admin_headers)["valid-adult-level2"]["pin"])


def _code(response: Any) -> str:
    return str(response.json()["type"]).rsplit("/", 1)[-1]


def test_latency_waits_through_the_sandbox_sleep_then_answers(
        client: TestClient, access: dict[str, str], pin: str, sleeps: Sleeps) -> None:
    response = client.get(f"/v1/citizens/{pin}", headers={**access, FAULT: "latency=750ms"})
    assert response.status_code == 200
    assert sleeps.waits == [0.75]


def test_timeout_holds_the_request_then_answers_504(
        client: TestClient, access: dict[str, str], pin: str, sleeps: Sleeps) -> None:
    response = client.get(f"/v1/citizens/{pin}", headers={**access, FAULT: "timeout=12s"})
    assert (response.status_code, _code(response)) == (504, "timeout")
    assert sleeps.waits == [12.0]
    default = client.get(f"/v1/citizens/{pin}", headers={**access, FAULT: "timeout"})
    assert default.status_code == 504
    assert sleeps.waits[-1] == 30.0


@pytest.mark.parametrize(("status", "problem"), [
    (429, "rate-limited"), (500, "internal-error"), (503, "service-unavailable"),
    (504, "timeout")])
def test_status_answers_the_problem_of_that_status_instead_of_the_route(
        client: TestClient, access: dict[str, str], pin: str, status: int, problem: str) -> None:
    response = client.get(f"/v1/citizens/{pin}", headers={**access, FAULT: f"status={status}"})
    assert (response.status_code, _code(response)) == (status, problem)
    assert response.headers["content-type"] == "application/problem+json"
    assert ("retry-after" in response.headers) == (status in (429, 503))


def test_a_fault_problem_names_the_route_template_never_the_pin(
        client: TestClient, access: dict[str, str], pin: str) -> None:
    response = client.get(f"/v1/citizens/{pin}", headers={**access, FAULT: "status=503"})
    assert response.status_code == 503
    assert response.json()["instance"] == "/v1/citizens/{pin}"
    assert pin not in response.text


def test_retry_after_is_the_faults_own(client: TestClient, access: dict[str, str],
                                        pin: str) -> None:
    response = client.get(f"/v1/citizens/{pin}",
                          headers={**access, FAULT: "status=429; retry-after=7"})
    assert response.headers["retry-after"] == "7"


def test_oauth_endpoints_answer_faults_in_their_rfc_format_and_pages_as_pages(
        client: TestClient, tester: tuple[str, str]) -> None:
    refused = client.post("/oauth2/token", data={"grant_type": "client_credentials"},
                          auth=tester, headers={FAULT: "status=503"})
    assert refused.status_code == 503
    assert refused.json()["error"] == "temporarily_unavailable"
    broken = client.post("/oauth2/token", data={"grant_type": "client_credentials"},
                         auth=tester, headers={FAULT: "status=500"})
    assert broken.json()["error"] == "server_error"
    page = client.get("/oauth2/authorize", params={"client_id": tester[0]},
                      headers={**bearer(token(client, tester)), FAULT: "status=503"})
    assert page.status_code == 503
    assert page.headers["content-type"].startswith("text/html")


def _jwks(client: TestClient) -> KeySet:
    return KeySet.import_key_set(client.get("/.well-known/jwks.json").json())


def test_bad_signature_keeps_header_and_claims_but_the_signature_fails(
        client: TestClient, tester: tuple[str, str]) -> None:
    form = {"grant_type": "client_credentials"}
    genuine = client.post("/oauth2/token", data=form, auth=tester).json()["access_token"]
    forged = client.post("/oauth2/token", data=form, auth=tester,
                         headers={FAULT: "bad-signature"}).json()["access_token"]
    jwt.decode(genuine, _jwks(client))
    with pytest.raises(BadSignatureError):
        jwt.decode(forged, _jwks(client))
    header = json.loads(base64.urlsafe_b64decode(forged.split(".")[0] + "=="))
    assert header["kid"] == json.loads(base64.urlsafe_b64decode(genuine.split(".")[0] + "=="))[
        "kid"]
    assert client.get("/v1/sandbox/personas", headers=bearer(forged)).status_code == 401


def test_malformed_body_keeps_status_and_type_but_does_not_parse(
        client: TestClient, access: dict[str, str], pin: str) -> None:
    response = client.get(f"/v1/citizens/{pin}", headers={**access, FAULT: "malformed-body"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    with pytest.raises(json.JSONDecodeError):
        json.loads(response.content)


def test_fail_first_fails_n_times_then_lets_requests_through(
        client: TestClient, access: dict[str, str], pin: str) -> None:
    headers = {**access, FAULT: "fail-first=2; status=503; key=fail-first-test"}
    statuses = [client.get(f"/v1/citizens/{pin}", headers=headers).status_code
                for _ in range(4)]
    assert statuses == [503, 503, 200, 200]


def test_fail_first_is_counted_in_the_database_across_processes(
        client: TestClient, settings: Settings, database: Any, access: dict[str, str],
        pin: str) -> None:
    """A second app on the same database stands for another worker process: it shares
    nothing in memory with the first, only the database."""
    headers = {**access, FAULT: "fail-first=2; status=503; key=two-processes"}
    assert client.get(f"/v1/citizens/{pin}", headers=headers).status_code == 503
    with TestClient(create_app(settings, database=database, migrate_on_start=False)) as other:
        assert other.get(f"/v1/citizens/{pin}", headers=headers).status_code == 503
        assert other.get(f"/v1/citizens/{pin}", headers=headers).status_code == 200
    assert client.get(f"/v1/citizens/{pin}", headers=headers).status_code == 200


@pytest.mark.parametrize("fault", ["status=404", "latency=5", "timeout; status=503", "nonsense",
                                   "bad-signature; status=500", "fail-first=0; status=500"])
def test_an_invalid_fault_is_a_validation_problem_naming_the_rule(
        client: TestClient, access: dict[str, str], pin: str, fault: str) -> None:
    response = client.get(f"/v1/citizens/{pin}", headers={**access, FAULT: fault})
    assert (response.status_code, _code(response)) == (422, "invalid-fault")
    assert "rule" in response.json()


def test_faults_are_refused_to_clients_that_are_not_sandbox_clients(
        client: TestClient, admin_headers: dict[str, str], pin: str) -> None:
    production = sandbox_client(client, admin_headers, sandbox=False)
    access = bearer(token(client, production, scope="citizen.basic"))
    response = client.get(f"/v1/citizens/{pin}", headers={**access, FAULT: "status=503"})
    assert (response.status_code, _code(response)) == (403, "sandbox-client-required")
    anonymous = client.get("/.well-known/jwks.json", headers={FAULT: "status=503"})
    assert anonymous.status_code == 403
    rules = client.post("/v1/sandbox/faults", json={"fault": "status=503"}, headers=access)
    assert (rules.status_code, _code(rules)) == (403, "sandbox-client-required")


def test_the_admin_token_may_inject_faults(client: TestClient, admin_headers: dict[str, str],
                                           pin: str) -> None:
    response = client.get("/v1/sandbox/personas", headers={**admin_headers, FAULT: "status=500"})
    assert response.status_code == 500


def test_rules_apply_to_the_clients_matching_requests_until_deleted(
        client: TestClient, access: dict[str, str], pin: str, admin_headers: dict[str, str]
) -> None:
    created = client.post("/v1/sandbox/faults", headers=access, json={
        "fault": "status=503", "method": "GET", "path": "/v1/citizens/{pin}"})
    assert created.status_code == 201, created.text
    rule = created.json()
    assert client.get(f"/v1/citizens/{pin}", headers=access).status_code == 503
    assert client.get(f"/v1/citizens/{pin}/residence", headers=access).status_code != 503
    assert client.get(f"/v1/citizens/{pin}", headers=admin_headers).status_code != 503
    listed = client.get("/v1/sandbox/faults", headers=access).json()["rules"]
    assert [r["id"] for r in listed] == [rule["id"]]
    assert client.delete(f"/v1/sandbox/faults/{rule['id']}", headers=access).status_code == 204
    assert client.get(f"/v1/citizens/{pin}", headers=access).status_code == 200
    assert client.delete(f"/v1/sandbox/faults/{rule['id']}", headers=access).status_code == 404


def test_a_fail_first_rule_counts_per_rule_and_clearing_resets_it(
        client: TestClient, access: dict[str, str], pin: str) -> None:
    client.post("/v1/sandbox/faults", headers=access, json={
        "fault": "fail-first=1; status=500", "path": "/v1/citizens/*"})
    assert client.get(f"/v1/citizens/{pin}", headers=access).status_code == 500
    assert client.get(f"/v1/citizens/{pin}", headers=access).status_code == 200
    assert client.delete("/v1/sandbox/faults", headers=access).status_code == 204
    assert client.get("/v1/sandbox/faults", headers=access).json() == {"rules": []}


def test_the_admin_sets_rules_for_a_client_and_an_invalid_rule_is_refused(
        client: TestClient, admin_headers: dict[str, str], tester: tuple[str, str],
        access: dict[str, str], pin: str) -> None:
    made = client.post("/v1/sandbox/faults", headers=admin_headers, json={
        "fault": "status=429", "client_id": tester[0], "path": "/v1/citizens/{pin}"})
    assert made.status_code == 201
    assert client.get(f"/v1/citizens/{pin}", headers=access).status_code == 429
    client.delete(f"/v1/sandbox/faults/{made.json()['id']}", headers=admin_headers)
    invalid = client.post("/v1/sandbox/faults", headers=access, json={"fault": "status=418"})
    assert (invalid.status_code, _code(invalid)) == (422, "invalid-fault")
    other = client.post("/v1/sandbox/faults", headers=access,
                        json={"fault": "status=500", "client_id": "demo"})
    assert other.status_code == 403


def test_rules_and_counters_of_a_client_are_not_set_off_by_an_unproven_client_id(
        client: TestClient, access: dict[str, str], tester: tuple[str, str], pin: str,
        clock_guard: Any) -> None:
    """Only the client a request authenticates as has faults: a client id claimed in a query or
    form, a wrong secret, an expired token set off nothing and use up no ``fail-first``."""
    client.post("/v1/sandbox/faults", headers=access, json={
        "fault": "fail-first=1; status=503", "path": "/v1/citizens/*"})
    expired = token(client, tester)
    clock_guard.advance(timedelta(hours=1))
    wrong = base64.b64encode(f"{tester[0]}:wrong-secret".encode()).decode()
    strangers = [client.get(f"/v1/citizens/{pin}", params={"client_id": tester[0]}),
                 client.get(f"/v1/citizens/{pin}", headers={"Authorization": f"Basic {wrong}"}),
                 client.get(f"/v1/citizens/{pin}", headers=bearer(expired))]
    assert [r.status_code for r in strangers] == [401, 401, 401]
    fresh = bearer(token(client, tester))
    assert client.get(f"/v1/citizens/{pin}", headers=fresh).status_code == 503
    assert client.get(f"/v1/citizens/{pin}", headers=fresh).status_code == 200
    client.delete("/v1/sandbox/faults", headers=fresh)
    anonymous = client.get("/.well-known/jwks.json", params={"client_id": tester[0]},
                           headers={FAULT: "status=503"})
    assert anonymous.status_code == 403


def test_a_clients_fail_first_counters_are_bounded_the_least_recent_forgotten(
        client: TestClient, admin_headers: dict[str, str], pin: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Each new ``key=`` makes a counter: a loop of new keys must not grow the table without
    end. Beyond the bound the least recently counted is forgotten (it starts again at 0)."""
    from app.services.sandbox import faults

    monkeypatch.setattr(faults, "MAX_COUNTERS", 3)
    headers = bearer(token(client, sandbox_client(client, admin_headers)))

    def status(key: str) -> int:
        return client.get(f"/v1/citizens/{pin}", headers={
            **headers, FAULT: f"fail-first=1; status=503; key={key}"}).status_code

    assert [status(key) for key in ("k1", "k2", "k3", "k4", "k5")] == [503] * 5
    assert [status(key) for key in ("k5", "k4", "k3")] == [200] * 3  # still counted
    assert status("k1") == 503  # forgotten: counted again from 0


def test_the_demo_client_sets_no_rule_in_the_deployment_every_organisation_shares(
        client: TestClient, settings: Settings, pin: str) -> None:
    """Its credentials are public: a rule of the demo client in the deployment would fail every
    organisation's demo requests (the README's quick start among them)."""
    demo = bearer(token(client, (settings.demo_client_id,
                                 settings.demo_client_secret)))
    refused = client.post("/v1/sandbox/faults", headers=demo, json={"fault": "status=503"})
    assert (refused.status_code, _code(refused)) == (403, "own-client-required")
    assert client.get("/v1/sandbox/faults", headers=demo).json() == {"rules": []}
    assert client.get(f"/v1/citizens/{pin}", headers=demo).status_code == 200
    one_request = client.get(f"/v1/citizens/{pin}", headers={**demo, FAULT: "status=503"})
    assert one_request.status_code == 503  # a fault of one request stays the caller's own
