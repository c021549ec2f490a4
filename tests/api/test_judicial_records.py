"""The criminal-record certificate (phiếu lý lịch tư pháp) as the national portal's e-service
calls it: VNeID login (authorization code + PKCE, X-Sandbox-Login), the pre-filled request, its
status on the sandbox clock, and the signed certificate verified as a relying party would, with
joserfc and the published test root only."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from cryptography import x509
from fastapi import FastAPI
from fastapi.testclient import TestClient
from joserfc import jws
from joserfc.errors import BadSignatureError
from joserfc.jwk import ECKey
from sqlalchemy import select

from app.clock import SandboxClock
from app.db import Database
from app.models.audit import AuditRecord
from app.models.population import Citizen
from app.services.population.citizens import full_name
from app.settings import Settings
from tests.api.oidc_support import *  # noqa: F403
from tests.api.oidc_support import (
    LOGIN_SCOPES,
    Rp,
    authorize,
    browser,
    browsing,
    citizen_with_contact,
    jwt_header,
    password_login,
    register_rp,
    tokens_for,
)

SCOPE = "openid vneid.judicial_record"


class CertificateRegistry(jws.JWSRegistry):
    """joserfc refuses protected headers over 512 bytes by default; the x5c header carries a
    certificate (docs/documents.md says so)."""

    max_header_length = 4096
BASE = "/v1/me/judicial-records"


@pytest.fixture(scope="module")
def portal(client: TestClient, admin: dict[str, str]) -> Rp:
    """The national portal's e-service (a sandbox relying party)."""
    return register_rp(client, admin, name="Cổng Dịch vụ công quốc gia (thử nghiệm)",
                       scopes=[*LOGIN_SCOPES, "vneid.history", "vneid.judicial_record",
                               "vneid.documents"])


@pytest.fixture
def agent(app: FastAPI) -> Iterator[TestClient]:
    with browsing(app) as fresh:
        yield fresh


@pytest.fixture
def citizen(client: TestClient, admin: dict[str, str], database: Database) -> str:
    pin = citizen_with_contact(database)
    opened = client.post("/v1/admin/accounts", headers=admin,
                         json={"pin": pin, "level": 2, "password": "Vneid@2025",
                               "passcode": "123456"})
    assert opened.status_code == 201, opened.text
    return pin


def _login(agent: TestClient, portal: Rp, pin: str, scope: str = SCOPE) -> dict[str, str]:
    """VNeID sign-in at the portal (code + PKCE, X-Sandbox-Login): the bearer header."""
    token = tokens_for(agent, portal, pin, scope=scope)["access_token"]
    return {"Authorization": f"Bearer {token}"}


def _device(client: TestClient, admin: dict[str, str], pin: str) -> dict[str, str]:
    bound = client.post(f"/v1/admin/accounts/{pin}/device", json={"name": "Test phone"},
                        headers=admin)
    assert bound.status_code == 200, bound.text
    return {"Authorization": f"Bearer {bound.json()['device_token']}"}


def _problem(response: Any) -> str:
    return str(response.json()["type"]).rsplit("/", 1)[-1]


def _request(client: TestClient, headers: dict[str, str], certificate_type: int = 1) -> Any:
    body = {"certificate_type": certificate_type, "purpose": "Bổ sung hồ sơ xin việc"}
    response = client.post(BASE, json=body, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()


def _issue(client: TestClient, admin: dict[str, str], request_id: int) -> None:
    """Force the request through checking and the decision (the sandbox control)."""
    for _ in range(2):
        forced = client.post(f"/v1/sandbox/judicial-records/{request_id}/advance", headers=admin)
        assert forced.status_code == 200, forced.text


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def verify_certificate(client: TestClient, token: str, *, now: datetime) -> dict[str, Any]:
    """As a relying party: the published root is the only trust anchor; the x5c certificate
    must chain to it and be valid, and the JWS must verify with its key (joserfc)."""
    root = x509.load_pem_x509_certificate(
        client.get("/v1/judicial-records/authority/root.pem").content)
    header = jwt_header(token)
    assert header["alg"] == "ES256"
    assert header["typ"] == "lltp+jwt"
    leaf = x509.load_der_x509_certificate(base64.b64decode(header["x5c"][0]))
    leaf.verify_directly_issued_by(root)
    assert leaf.not_valid_before_utc <= now <= leaf.not_valid_after_utc
    key = ECKey.import_key(leaf.public_key())
    verified = jws.deserialize_compact(token, key, registry=CertificateRegistry(
        algorithms=["ES256"]))
    return dict(json.loads(verified.payload))


# --- end to end -----------------------------------------------------------------------------------


def test_certificate_runs_end_to_end_from_vneid_login_to_a_verified_signature(
        client: TestClient, agent: TestClient, portal: Rp, citizen: str, clock: SandboxClock,
        database: Database) -> None:
    headers = _login(agent, portal, citizen)
    form = client.get(f"{BASE}/prefill", params={"certificate_type": 1}, headers=headers)
    assert form.status_code == 200, form.text
    with database.read() as session:
        person = session.get(Citizen, citizen)
        assert person is not None
        assert form.json()["full_name"] == full_name(person)
        assert form.json()["birth_date"] == person.birth_date.isoformat()
    submitted = _request(client, headers)
    assert submitted["status"] == "submitted"
    assert submitted["declaration"]["pin"] == citizen
    assert _at(submitted["decision_due_at"]) - _at(submitted["submitted_at"]) == \
        timedelta(days=10)
    early = client.get(f"{BASE}/{submitted['id']}/certificate", headers=headers)
    assert early.status_code == 409
    assert _problem(early) == "certificate-not-issued"

    clock.advance(timedelta(days=10, hours=1))
    headers = _login(agent, portal, citizen)  # days later: the citizen signs in again
    followed = client.get(f"{BASE}/{submitted['id']}", headers=headers).json()
    assert followed["status"] == "delivered"
    assert [step["status"] for step in followed["timeline"]] == [
        "submitted", "checking", "issued", "delivered"]
    fetched = client.get(followed["certificate_url"], headers=headers)
    assert fetched.status_code == 200, fetched.text
    claims = verify_certificate(client, fetched.json()["jws"], now=clock.now())
    assert claims["lltp"]["person"]["pin"] == citizen
    assert claims["lltp"]["type"] == 1
    assert claims["lltp"]["criminal_record"]["text"] == "Không có án tích"
    assert claims["jti"] == fetched.json()["number"] == followed["certificate_number"]


def test_forced_steps_issue_a_certificate_without_moving_the_clock(
        client: TestClient, agent: TestClient, portal: Rp, citizen: str,
        admin: dict[str, str]) -> None:
    headers = _login(agent, portal, citizen)
    made = _request(client, headers)
    statuses = [client.post(f"/v1/sandbox/judicial-records/{made['id']}/advance",
                            headers=admin).json()["status"] for _ in range(3)]
    assert statuses == ["checking", "issued", "delivered"]
    final = client.post(f"/v1/sandbox/judicial-records/{made['id']}/advance", headers=admin)
    assert final.status_code == 409
    assert _problem(final) == "judicial-request-final"
    fetched = client.get(f"{BASE}/{made['id']}/certificate", headers=headers)
    assert fetched.status_code == 200, fetched.text


def test_forced_decision_can_reject_with_a_reason(
        client: TestClient, agent: TestClient, portal: Rp, citizen: str,
        admin: dict[str, str]) -> None:
    headers = _login(agent, portal, citizen)
    made = _request(client, headers)
    path = f"/v1/sandbox/judicial-records/{made['id']}/advance"
    client.post(path, headers=admin)
    rejected = client.post(path, headers=admin,
                           json={"outcome": "reject", "rejection_code": "not-entitled"}).json()
    assert rejected["status"] == "rejected"
    assert rejected["rejection"]["code"] == "not-entitled"
    refused = client.get(f"{BASE}/{made['id']}/certificate", headers=headers)
    assert refused.status_code == 409


def test_the_certificate_is_signed_once_and_served_identically(
        client: TestClient, agent: TestClient, portal: Rp, citizen: str,
        admin: dict[str, str]) -> None:
    headers = _login(agent, portal, citizen)
    made = _request(client, headers)
    _issue(client, admin, made["id"])
    first = client.get(f"{BASE}/{made['id']}/certificate", headers=headers).json()["jws"]
    assert client.get(f"{BASE}/{made['id']}/certificate", headers=headers).json()["jws"] == first


def test_relying_party_fetch_is_audited_for_the_citizen(
        client: TestClient, agent: TestClient, portal: Rp, citizen: str,
        admin: dict[str, str], database: Database) -> None:
    headers = _login(agent, portal, citizen)
    made = _request(client, headers)
    _issue(client, admin, made["id"])
    assert client.get(f"{BASE}/{made['id']}/certificate", headers=headers).status_code == 200
    with database.read() as session:
        actions = session.scalars(select(AuditRecord.client_id).where(
            AuditRecord.pin == citizen, AuditRecord.action == "judicial_certificate")).all()
    assert actions == [portal.client_id]


def test_my_documents_list_delivered_and_pending_certificates_as_vneid_shows_them(
        client: TestClient, agent: TestClient, portal: Rp, citizen: str,
        admin: dict[str, str]) -> None:
    device = _device(client, admin, citizen)
    delivered = _request(client, device)
    for _ in range(3):
        assert client.post(f"/v1/sandbox/judicial-records/{delivered['id']}/advance",
                           headers=admin).status_code == 200
    pending = _request(client, device, certificate_type=2)
    rejected = _request(client, device)
    path = f"/v1/sandbox/judicial-records/{rejected['id']}/advance"
    client.post(path, headers=admin)
    assert client.post(path, headers=admin, json={"outcome": "reject"}).status_code == 200
    response = client.get("/v1/me/documents", headers=device)
    assert response.status_code == 200, response.text
    shown = response.json()["judicial_records"]
    assert [(item["request_id"], item["certificate_type"], item["status"]) for item in shown] == [
        (pending["id"], 2, "submitted"), (delivered["id"], 1, "delivered")]
    waiting, done = shown
    assert (waiting["certificate_url"], waiting["issued_on"]) == (None, None)
    assert done["title"] == "PHIẾU LÝ LỊCH TƯ PHÁP SỐ 1"
    assert done["issued_on"] is not None
    assert done["request_url"] == f"{BASE}/{delivered['id']}"
    fetched = client.get(done["certificate_url"], headers=device)
    assert fetched.status_code == 200, fetched.text
    assert fetched.json()["number"] == done["certificate_number"]


def test_my_documents_show_a_relying_party_the_certificates_only_with_the_judicial_scope(
        client: TestClient, agent: TestClient, portal: Rp, citizen: str,
        admin: dict[str, str]) -> None:
    both = _login(agent, portal, citizen, scope="openid vneid.documents vneid.judicial_record")
    first = _request(client, both)
    _request(client, both, certificate_type=2)  # the person's alone (Art. 43)
    documents_only = _login(agent, portal, citizen, scope="openid vneid.documents")
    assert "judicial_records" not in client.get("/v1/me/documents",
                                                headers=documents_only).json()
    shown = client.get("/v1/me/documents", headers=both).json()["judicial_records"]
    assert [(item["request_id"], item["certificate_type"]) for item in shown] == [
        (first["id"], 1)]


def test_a_relying_party_sees_only_the_requests_its_own_e_service_submitted(
        client: TestClient, agent: TestClient, admin: dict[str, str], citizen: str) -> None:
    """Several organisations share the deployment: a bank holding the citizen's token with
    vneid.judicial_record must not learn of the requests the citizen made in VNeID or through
    another e-service (their purpose, their rejection), nor fetch their certificates; the
    citizen's own app still sees them all."""
    spec = {"scopes": [*LOGIN_SCOPES, "vneid.judicial_record", "vneid.documents"]}
    mine = register_rp(client, admin, name="Bank A e-service", **spec)
    theirs = register_rp(client, admin, name="Bank B e-service", **spec)
    scope = "openid vneid.documents vneid.judicial_record"
    device = _device(client, admin, citizen)
    in_app = _request(client, device)
    _issue(client, admin, in_app["id"])
    headers = _login(agent, mine, citizen, scope=scope)
    own = _request(client, headers)
    with browser(client.app) as second:
        other = _login(second, theirs, citizen, scope=scope)
    elsewhere = _request(client, other)
    path = f"/v1/sandbox/judicial-records/{elsewhere['id']}/advance"
    client.post(path, headers=admin)
    assert client.post(path, headers=admin, json={"outcome": "reject"}).status_code == 200
    listed = client.get(BASE, headers=headers).json()["requests"]
    assert [item["id"] for item in listed] == [own["id"]]
    for hidden in (in_app, elsewhere):
        for url in (f"{BASE}/{hidden['id']}", f"{BASE}/{hidden['id']}/certificate"):
            refused = client.get(url, headers=headers)
            assert refused.status_code == 404, url
            assert _problem(refused) == "judicial-request-not-found"
            assert "purpose" not in refused.text
    shown = client.get("/v1/me/documents", headers=headers).json()["judicial_records"]
    assert [item["request_id"] for item in shown] == [own["id"]]
    assert [item["id"] for item in client.get(BASE, headers=device).json()["requests"]] == [
        elsewhere["id"], own["id"], in_app["id"]]
    app_view = client.get("/v1/me/documents", headers=device).json()["judicial_records"]
    assert [item["request_id"] for item in app_view] == [own["id"], in_app["id"]]


# --- who may do what ------------------------------------------------------------------------------


def test_token_without_the_judicial_scope_is_refused(
        client: TestClient, agent: TestClient, portal: Rp, citizen: str) -> None:
    headers = _login(agent, portal, citizen, scope="openid vneid.history")
    refused = client.get(BASE, headers=headers)
    assert refused.status_code == 403
    assert _problem(refused) == "judicial-record-scope-required"


def test_consent_page_describes_the_judicial_record_scope(
        agent: TestClient, admin: dict[str, str], portal: Rp, citizen: str) -> None:
    flow = authorize(agent, portal, scope=SCOPE)
    after_code = password_login(agent, admin, flow.location, citizen)
    assert after_code.headers["location"].startswith("/oauth2/consent/")
    page = agent.get(after_code.headers["location"])
    assert "Phiếu lý lịch tư pháp" in page.text


def test_no_token_is_refused(client: TestClient) -> None:
    refused = client.get(BASE)
    assert refused.status_code == 401
    assert _problem(refused) == "citizen-token-required"


def test_certificate_no2_goes_to_the_citizens_app_never_to_a_relying_party(
        client: TestClient, agent: TestClient, portal: Rp, citizen: str,
        admin: dict[str, str]) -> None:
    headers = _login(agent, portal, citizen)
    made = _request(client, headers, certificate_type=2)
    assert {"father", "mother", "spouse"} <= set(made["declaration"])
    _issue(client, admin, made["id"])
    refused = client.get(f"{BASE}/{made['id']}/certificate", headers=headers)
    assert refused.status_code == 403
    assert _problem(refused) == "certificate-first-party-only"
    own = client.get(f"{BASE}/{made['id']}/certificate", headers=_device(client, admin, citizen))
    assert own.status_code == 200, own.text
    assert "position_ban" in verify_certificate(client, own.json()["jws"],
                                                now=datetime.now().astimezone())["lltp"]


def test_another_citizens_request_is_not_found(
        client: TestClient, agent: TestClient, portal: Rp, citizen: str,
        database: Database, admin: dict[str, str]) -> None:
    made = _request(client, _login(agent, portal, citizen))
    other = citizen_with_contact(database)
    assert client.post("/v1/admin/accounts", headers=admin,
                       json={"pin": other, "level": 2}).status_code == 201
    with browser(client.app) as second:
        response = client.get(f"{BASE}/{made['id']}", headers=_login(second, portal, other))
    assert response.status_code == 404
    assert _problem(response) == "judicial-request-not-found"


def _data_token(client: TestClient, rp: Rp) -> dict[str, str]:
    """The e-service's own client_credentials token (what the sandbox controls take)."""
    issued = client.post("/oauth2/token", auth=(rp.client_id, rp.secret or ""),
                         data={"grant_type": "client_credentials", "scope": "citizen.basic"})
    assert issued.status_code == 200, issued.text
    return {"Authorization": f"Bearer {issued.json()['access_token']}"}


def test_a_sandbox_client_forces_only_the_requests_its_own_e_service_submitted(
        client: TestClient, agent: TestClient, admin: dict[str, str], citizen: str) -> None:
    """The deployment is shared by several organisations: one may not read another's requests
    (the declaration: PIN, name, residences) nor move them along, any more than its clock."""
    spec = {"scopes": [*LOGIN_SCOPES, "vneid.judicial_record", "citizen.basic"],
            "grant_types": ["authorization_code", "client_credentials"]}
    mine = register_rp(client, admin, name="Bank A e-service", **spec)
    theirs = register_rp(client, admin, name="Bank B e-service", **spec)
    made = _request(client, _login(agent, mine, citizen))
    path = f"/v1/sandbox/judicial-records/{made['id']}/advance"
    refused = client.post(path, headers=_data_token(client, theirs))
    assert refused.status_code == 404
    assert _problem(refused) == "judicial-request-not-found"
    assert "declaration" not in refused.text
    forced = client.post(path, headers=_data_token(client, mine))
    assert forced.status_code == 200, forced.text
    assert forced.json()["status"] == "checking"
    assert client.post(path, headers=admin).json()["status"] == "issued"


def test_a_sandbox_client_cannot_force_the_deployments_persona_requests(
        client: TestClient, admin: dict[str, str], persona_pins: dict[str, str]) -> None:
    """A persona's request is every organisation's fixture: the admin forces it, not a client
    (in a tenant of its own a client may)."""
    spec = {"scopes": [*LOGIN_SCOPES, "citizen.basic"],
            "grant_types": ["authorization_code", "client_credentials"]}
    someone = register_rp(client, admin, name="Another organisation", **spec)
    device = _device(client, admin, persona_pins["judicial-record-pending"])
    (pending,) = client.get(BASE, headers=device).json()["requests"]
    refused = client.post(f"/v1/sandbox/judicial-records/{pending['id']}/advance",
                          headers=_data_token(client, someone))
    assert refused.status_code == 404
    assert client.get(f"{BASE}/{pending['id']}", headers=device).json()["status"] == "checking"


# --- the published keys ---------------------------------------------------------------------------


def test_jwks_publishes_the_authority_key_with_its_certificate(
        client: TestClient, settings: Settings) -> None:
    jwks = client.get("/v1/judicial-records/authority/jwks.json").json()
    (key,) = jwks["keys"]
    assert "d" not in key
    leaf = x509.load_der_x509_certificate(base64.b64decode(key["x5c"][0]))
    assert ECKey.import_key(leaf.public_key()).thumbprint() == key["kid"]
    index = client.get("/v1/judicial-records/authority").json()
    assert index["kid"] == key["kid"]


def test_authority_keys_come_from_the_deployment_secret_not_the_seed() -> None:
    from app.services.documents import judicial_pki
    from app.settings import load_settings

    first = judicial_pki.authority(load_settings(secret_key="a" * 32, seed=6))
    other_secret = judicial_pki.authority(load_settings(secret_key="b" * 32, seed=6))
    other_seed = judicial_pki.authority(load_settings(secret_key="a" * 32, seed=7))
    assert first.kid != other_secret.kid
    assert first.kid == other_seed.kid
    assert first.root_der == other_seed.root_der


# --- personas -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def persona_pins(client: TestClient, admin: dict[str, str]) -> dict[str, str]:
    listed = client.get("/v1/sandbox/personas", headers=admin).json()["personas"]
    return {p["key"]: p["pin"] for p in listed if p["key"].startswith("judicial-record-")}


def _persona_requests(client: TestClient, agent: TestClient, portal: Rp, admin: dict[str, str],
                      pin: str) -> tuple[dict[str, str], list[dict[str, Any]]]:
    """The persona's requests as their VNeID app lists them (they were made there, so no
    relying party sees them), and the portal's bearer header for new requests."""
    device = _device(client, admin, pin)
    return _login(agent, portal, pin), client.get(BASE, headers=device).json()["requests"]


def test_pending_persona_stays_checking_whatever_the_clock(
        client: TestClient, agent: TestClient, portal: Rp, persona_pins: dict[str, str],
        clock: SandboxClock, admin: dict[str, str]) -> None:
    _, requests = _persona_requests(client, agent, portal, admin,
                                    persona_pins["judicial-record-pending"])
    assert requests[-1]["status"] == "checking"
    assert requests[-1]["decision_due_at"] is None
    clock.advance(timedelta(days=60))
    _, requests = _persona_requests(client, agent, portal, admin,
                                    persona_pins["judicial-record-pending"])
    assert requests[-1]["status"] == "checking"


def test_rejected_persona_has_a_rejected_request_with_a_reason(
        client: TestClient, agent: TestClient, portal: Rp,
        persona_pins: dict[str, str], admin: dict[str, str]) -> None:
    _, requests = _persona_requests(client, agent, portal, admin,
                                    persona_pins["judicial-record-rejected"])
    assert requests[-1]["status"] == "rejected"
    assert requests[-1]["rejection"]["code"] == "outside-competence"


def test_clean_persona_holds_a_delivered_certificate_without_conviction(
        client: TestClient, agent: TestClient, portal: Rp,
        persona_pins: dict[str, str], admin: dict[str, str]) -> None:
    pin = persona_pins["judicial-record-clean"]
    headers, requests = _persona_requests(client, agent, portal, admin, pin)
    assert requests[-1]["status"] == "delivered"
    refused = client.get(requests[-1]["certificate_url"], headers=headers)
    assert refused.status_code == 404  # made in VNeID: not the portal's request
    device = _device(client, admin, pin)
    token = client.get(requests[-1]["certificate_url"], headers=device).json()["jws"]
    record = verify_certificate(client, token, now=datetime.now().astimezone())
    assert record["lltp"]["criminal_record"]["status"] == "no_conviction"


@pytest.mark.parametrize(("persona", "shown"), [
    ("judicial-record-clean", [(1, "delivered")]),
    ("judicial-record-pending", [(1, "checking")]),
    ("judicial-record-rejected", []),
    ("judicial-record-convictions", [(2, "delivered")]),
])
def test_judicial_personas_show_their_certificates_in_my_documents(
        client: TestClient, admin: dict[str, str], persona_pins: dict[str, str], persona: str,
        shown: list[tuple[int, str]]) -> None:
    response = client.get("/v1/me/documents",
                          headers=_device(client, admin, persona_pins[persona]))
    assert response.status_code == 200, response.text
    assert [(item["certificate_type"], item["status"])
            for item in response.json()["judicial_records"]] == shown


def test_convictions_persona_no2_shows_both_no1_only_the_current_one(
        client: TestClient, agent: TestClient, portal: Rp, persona_pins: dict[str, str],
        admin: dict[str, str]) -> None:
    pin = persona_pins["judicial-record-convictions"]
    headers, requests = _persona_requests(client, agent, portal, admin, pin)
    no2 = client.get(requests[-1]["certificate_url"], headers=_device(client, admin, pin))
    shown2 = verify_certificate(client, no2.json()["jws"], now=datetime.now().astimezone())
    assert len(shown2["lltp"]["criminal_record"]["convictions"]) == 2
    made = _request(client, headers)
    assert _at(made["decision_due_at"]) - _at(made["submitted_at"]) == timedelta(days=15)
    _issue(client, admin, made["id"])
    no1 = client.get(f"{BASE}/{made['id']}/certificate", headers=headers).json()["jws"]
    record = verify_certificate(client, no1, now=datetime.now().astimezone())["lltp"]
    assert record["criminal_record"]["text"] == "Có án tích"
    assert [c["expunged_on"] for c in record["criminal_record"]["convictions"]] == [None]


# --- faults ---------------------------------------------------------------------------------------


def test_fault_header_answers_503_on_the_certificate_service(
        client: TestClient, agent: TestClient, portal: Rp, citizen: str) -> None:
    headers = _login(agent, portal, citizen)
    response = client.get(BASE, headers={**headers, "X-Sandbox-Fault": "status=503"})
    assert response.status_code == 503
    assert _problem(response) == "service-unavailable"


def test_bad_signature_fault_makes_the_certificate_fail_verification(
        client: TestClient, agent: TestClient, portal: Rp, citizen: str,
        admin: dict[str, str]) -> None:
    headers = _login(agent, portal, citizen)
    made = _request(client, headers)
    _issue(client, admin, made["id"])
    forged = client.get(f"{BASE}/{made['id']}/certificate",
                        headers={**headers, "X-Sandbox-Fault": "bad-signature"}).json()["jws"]
    with pytest.raises(BadSignatureError):
        verify_certificate(client, forged, now=datetime.now().astimezone())
