"""Integrated documents through HTTP (docs/documents.md): the citizen's view with a VNeID token,
the documents of a PIN for clients with the document's scope, the sector checks, the OIDC claims,
consent, audit, life events and fault injection."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from app.db import Database
from app.models.audit import AuditRecord
from app.models.population import Citizen
from app.services.documents import integrated as documents
from app.services.population.reference import reference
from app.services.sandbox import personas
from app.settings import Settings
from tests.api.events_support import Receiver, admin, record, running_receiver, single
from tests.api.oidc_support import (
    authorize,
    browsing,
    password_login,
    register_rp,
    tokens_for,
    userinfo,
)
from tests.api.sharing_support import admin_headers, bearer, issue_token  # noqa: F401 - fixture

TODAY_SCOPES = ("document.health_insurance document.driving_licence "
                "document.vehicle_registration document.tax_registration "
                "document.social_insurance document.vaccination sector.telecom sector.bank")


def _problem(response: Any) -> str:
    return str(response.json()["type"]).rsplit("/", 1)[-1]


def _documents(database: Database, app: FastAPI, pin: str) -> dict[str, list[dict[str, Any]]]:
    with database.read() as session:
        citizen = session.get(Citizen, pin)
        return documents.documents_of(session, reference(session), citizen,
                                      now=app.state.clock.now())


def _citizen_with(database: Database, app: FastAPI, kind: str, *, sex: str = "M",
                  born: date = date(1980, 5, 5), **where: Any) -> str:
    """A new citizen (with a household and a permanent residence) who has a ``kind`` document
    matching ``where`` (the generator decides who has which document)."""
    for year in range(born.year, born.year + 40):
        pin = single(database, sex=sex, born=born.replace(year=year))
        found = _documents(database, app, pin)[kind]
        if any(all(d.get(k) == v for k, v in where.items()) for d in found):
            return pin
    raise AssertionError(f"no citizen with a {kind} {where}")


def _level2(client: TestClient, settings: Settings, pin: str, level: int = 2) -> dict[str, str]:
    """A card, an active account of ``level`` and the app's bound-device token."""
    assert record(client, admin(settings), "card-changes", {
        "pin": pin, "action": "issued", "reason": "first_issue"}).status_code == 201
    opened = client.post("/v1/admin/accounts", json={"pin": pin, "level": level},
                         headers=admin(settings))
    assert opened.status_code == 201, opened.text
    bound = client.post(f"/v1/admin/accounts/{pin}/device", json={"name": "Phone"},
                        headers=admin(settings))
    assert bound.status_code == 200, bound.text
    return bearer(bound.json()["device_token"])


@pytest.fixture(scope="module")
def agency(client: TestClient, admin_headers: dict[str, str]) -> dict[str, str]:  # noqa: F811
    rp = register_rp(client, admin_headers, name="Sở Y tế thử nghiệm",
                     scopes=TODAY_SCOPES.split(), purposes=["care"], legal_basis="test",
                     grant_types=["client_credentials"])
    return {"id": rp.client_id, "secret": rp.secret or ""}


def _token(client: TestClient, agency: dict[str, str], scope: str) -> dict[str, str]:
    return bearer(issue_token(client, agency["id"], agency["secret"], scope))


# --- the citizen's view ---------------------------------------------------------------------------


def test_a_level2_citizen_sees_every_integrated_document_in_the_app(
        client: TestClient, database: Database, app: FastAPI, settings: Settings) -> None:
    pin = _citizen_with(database, app, "health_insurance")
    response = client.get("/v1/me/documents", headers=_level2(client, settings, pin))
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["pin"], body["account_level"]) == (pin, 2)
    assert set(body["documents"]) == {"health_insurance", "driving_licence",
                                      "vehicle_registration", "tax_registration",
                                      "social_insurance", "vaccination"}
    [card] = body["documents"]["health_insurance"]
    assert card["pin"] == pin
    assert card["card_code"].endswith(card["legacy_number"])
    assert card["number"] == pin  # the PIN since 2025-08-01


def test_a_level1_account_sees_no_integrated_documents(
        client: TestClient, database: Database, settings: Settings) -> None:
    pin = single(database, sex="F", born=date(1985, 1, 2))
    response = client.get("/v1/me/documents", headers=_level2(client, settings, pin, level=1))
    assert (response.status_code, _problem(response)) == (403, "level-2-required")


def test_a_relying_party_token_needs_vneid_documents(
        client: TestClient, database: Database, app: FastAPI, settings: Settings,
        admin_headers: dict[str, str]) -> None:  # noqa: F811
    pin = single(database, sex="M", born=date(1979, 3, 3))
    _level2(client, settings, pin)
    rp = register_rp(client, admin_headers, name="Cổng dịch vụ công",
                     scopes=["openid", "profile", "vneid.documents"])
    with browsing(app) as agent:
        without = tokens_for(agent, rp, pin, scope="openid profile")["access_token"]
        refused = client.get("/v1/me/documents", headers=bearer(without))
        assert (refused.status_code, _problem(refused)) == (403, "documents-scope-required")
        allowed = tokens_for(agent, rp, pin, scope="openid vneid.documents")["access_token"]
        response = client.get("/v1/me/documents", headers=bearer(allowed))
    assert response.status_code == 200, response.text
    assert response.json()["documents"] == client.get(
        "/v1/me/documents", headers=_device(client, settings, pin)).json()["documents"]


def _device(client: TestClient, settings: Settings, pin: str) -> dict[str, str]:
    bound = client.post(f"/v1/admin/accounts/{pin}/device", json={"name": "Phone 2"},
                        headers=admin(settings))
    return bearer(bound.json()["device_token"])


def test_without_a_token_the_documents_are_refused(client: TestClient) -> None:
    response = client.get("/v1/me/documents")
    assert (response.status_code, _problem(response)) == (401, "citizen-token-required")


# --- relying parties ------------------------------------------------------------------------------


def test_a_client_reads_the_documents_of_its_scope_only(
        client: TestClient, database: Database, app: FastAPI,
        agency: dict[str, str]) -> None:
    pin = _citizen_with(database, app, "driving_licence")
    headers = _token(client, agency, "document.driving_licence")
    response = client.get(f"/v1/citizens/{pin}/documents/driving_licence", headers=headers)
    assert response.status_code == 200, response.text
    assert response.json()["documents"] == _json(_documents(database, app, pin)
                                                 ["driving_licence"])
    other = client.get(f"/v1/citizens/{pin}/documents/tax_registration", headers=headers)
    assert other.status_code == 403
    assert "document.tax_registration" in other.headers["WWW-Authenticate"]


def _json(value: Any) -> Any:
    import json

    from pydantic_core import to_json
    return json.loads(to_json(value))


def test_every_disclosure_of_a_document_is_audited(
        client: TestClient, database: Database, app: FastAPI,
        agency: dict[str, str]) -> None:
    pin = single(database, sex="F", born=date(1990, 9, 9))
    response = client.get(f"/v1/citizens/{pin}/documents/tax_registration",
                          headers=_token(client, agency, "document.tax_registration"))
    assert response.status_code == 200, response.text
    with database.read() as session:
        [entry] = session.scalars(select(AuditRecord).where(
            AuditRecord.request_id == response.headers["x-request-id"]))
    assert (entry.client_id, entry.action, entry.pin, entry.fields, entry.result) == (
        agency["id"], "documents", pin, "tax_registration", "disclosed")


def test_the_citizen_sees_who_read_their_documents(
        client: TestClient, database: Database, settings: Settings,
        agency: dict[str, str]) -> None:
    pin = single(database, sex="M", born=date(1986, 6, 6))
    me = _level2(client, settings, pin)
    client.get(f"/v1/citizens/{pin}/documents/social_insurance",
               headers=_token(client, agency, "document.social_insurance"))
    history = client.get("/v1/me/access-history", headers=me).json()["items"]
    assert (agency["id"], "documents", ["social_insurance"], "disclosed") in [
        (i["client_id"], i["action"], i["fields"], i["result"]) for i in history]


def test_an_unknown_pin_or_kind_is_refused(client: TestClient, agency: dict[str, str]) -> None:
    headers = _token(client, agency, "document.tax_registration")
    missing = client.get("/v1/citizens/001099999999/documents/tax_registration", headers=headers)
    assert (missing.status_code, _problem(missing)) == (404, "citizen-not-found")
    unknown = client.get("/v1/citizens/001099999999/documents/passport", headers=headers)
    assert unknown.status_code == 422


def test_the_vaccination_scope_needs_a_legal_basis(
        client: TestClient, admin_headers: dict[str, str]) -> None:  # noqa: F811
    response = client.post("/v1/admin/clients", headers=admin_headers, json={
        "name": "No basis", "scopes": ["document.vaccination"], "purposes": ["care"],
        "grant_types": ["client_credentials"]})
    assert response.status_code == 422, response.text


def test_a_hospital_checks_health_insurance_and_its_registered_facility(
        client: TestClient, database: Database, app: FastAPI,
        agency: dict[str, str]) -> None:
    pin = _citizen_with(database, app, "health_insurance", status="valid")
    [card] = _documents(database, app, pin)["health_insurance"]
    facility = card["registered_facility"]["code"]
    response = client.post("/v1/sectors/health/insurance-check",
                           headers=_token(client, agency, "document.health_insurance"),
                           json={"pin": pin, "facility_code": facility})
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["insured"], body["valid"], body["at_registered_facility"]) == (True, True, True)
    assert (body["benefit_level"], body["registered_facility"]["code"]) == (
        card["benefit_level"], facility)


def test_a_death_ends_the_health_insurance_and_voids_the_licences(
        client: TestClient, database: Database, app: FastAPI, settings: Settings,
        agency: dict[str, str]) -> None:
    pin = _citizen_with(database, app, "driving_licence", born=date(1970, 2, 2))
    today = app.state.clock.now().date()
    died = record(client, admin(settings), "deaths", {"pin": pin,
                                                      "date_of_death": today.isoformat()})
    assert died.status_code == 201, died.text
    found = _documents(database, app, pin)
    assert {d["status"] for d in found["driving_licence"]} == {"void"}
    assert all(c["status"] in ("ended", "expired") and c["valid_to"] <= today
               for c in found["health_insurance"])
    check = client.post("/v1/sectors/health/insurance-check",
                        headers=_token(client, agency, "document.health_insurance"),
                        json={"pin": pin})
    assert (check.json()["citizen_status"], check.json()["valid"]) == ("deceased", False)


@pytest.mark.parametrize(("path", "scope", "card"), [
    ("/v1/sectors/telecom/subscriber-check", "sector.telecom", False),
    ("/v1/sectors/bank/customer-check", "sector.bank", True)])
def test_telecoms_and_banks_check_an_identity_without_reading_it(
        client: TestClient, database: Database, agency: dict[str, str], path: str, scope: str,
        card: bool) -> None:
    pin = single(database, sex="F", born=date(1992, 2, 29))
    headers = _token(client, agency, scope)
    same = client.post(path, headers=headers, json={"pin": pin, "full_name": "Lê Thị Hà",
                                                    "birth_date": "1992-02-29"})
    assert same.status_code == 200, same.text
    assert (same.json()["verdict"], same.json()["status"]) == ("match", "alive")
    assert ("card_valid" in same.json()) is card
    other = client.post(path, headers=headers, json={"pin": pin, "full_name": "Lê Thị Hoa",
                                                     "birth_date": "1992-02-29"})
    assert other.json()["fields"]["full_name"]["result"] == "no_match"
    with database.read() as session:
        [entry] = session.scalars(select(AuditRecord).where(
            AuditRecord.request_id == other.headers["x-request-id"]))
    assert (entry.action, entry.pin, entry.result) == (path.rsplit("/", 1)[-1].replace("-", "_"),
                                                       pin, "no_match")
    assert ("card_valid" in entry.fields.split()) is card


def test_a_consent_based_client_needs_the_citizens_consent(
        client: TestClient, database: Database,
        admin_headers: dict[str, str]) -> None:  # noqa: F811
    rp = register_rp(client, admin_headers, name="Ngân hàng", scopes=["sector.bank"],
                     purposes=["onboarding"], data_basis="consent",
                     grant_types=["client_credentials"])
    pin = single(database, sex="M", born=date(1988, 8, 8))
    response = client.post("/v1/sectors/bank/customer-check",
                           headers=bearer(issue_token(client, rp.client_id, rp.secret or "")),
                           json={"pin": pin, "full_name": "Lê Văn Hà", "birth_date": "1988-08-08"})
    assert (response.status_code, _problem(response)) == (403, "consent-required")


def test_fault_injection_applies_to_the_document_endpoints(
        client: TestClient, database: Database, agency: dict[str, str]) -> None:
    pin = single(database, sex="M", born=date(1975, 7, 7))
    response = client.get(f"/v1/citizens/{pin}/documents/vehicle_registration",
                          headers=_token(client, agency, "document.vehicle_registration")
                          | {"X-Sandbox-Fault": "status=503"})
    assert response.status_code == 503


# --- an authority's decisions (admin) -------------------------------------------------------------


def test_an_authority_suspends_a_card_and_deducts_licence_points(
        client: TestClient, database: Database, app: FastAPI, settings: Settings,
        agency: dict[str, str]) -> None:
    pin = _citizen_with(database, app, "driving_licence", status="valid", points=12)
    [licence, *_] = [d for d in _documents(database, app, pin)["driving_licence"]
                     if d["points"] == 12]
    deducted = client.post(f"/v1/admin/documents/{pin}/changes", headers=admin(settings), json={
        "kind": "driving_licence", "number": licence["number"], "points_deducted": 4,
        "reason": "speeding"})
    assert deducted.status_code == 201, deducted.text
    [after] = [d for d in deducted.json()["documents"] if d["number"] == licence["number"]]
    assert (after["points"], after["status"]) == (8, "valid")
    revoked = client.post(f"/v1/admin/documents/{pin}/changes", headers=admin(settings), json={
        "kind": "driving_licence", "status": "revoked", "reason": "court_order"})
    assert {(d["status"], d["status_reason"]) for d in revoked.json()["documents"]} == {
        ("revoked", "court_order")}
    seen = client.get(f"/v1/citizens/{pin}/documents/driving_licence",
                      headers=_token(client, agency, "document.driving_licence"))
    assert seen.json()["documents"] == revoked.json()["documents"]


@pytest.mark.parametrize("body", [
    {"kind": "health_insurance"},  # nothing changed
    {"kind": "health_insurance", "points_deducted": 2},  # points are a licence's
    {"kind": "driving_licence", "points_deducted": 13},
    {"kind": "driving_licence", "status": "valid"}])
def test_a_change_that_changes_nothing_or_breaks_a_rule_is_refused(
        client: TestClient, database: Database, settings: Settings, body: dict[str, Any]) -> None:
    pin = single(database, sex="M", born=date(1984, 4, 4))
    response = client.post(f"/v1/admin/documents/{pin}/changes", headers=admin(settings),
                           json=body)
    assert response.status_code == 422


def test_changing_documents_needs_the_admin_token(client: TestClient, agency: dict[str, str]
                                                  ) -> None:
    response = client.post("/v1/admin/documents/001099999999/changes",
                           headers=_token(client, agency, "document.health_insurance"),
                           json={"kind": "health_insurance", "status": "suspended"})
    assert response.status_code in (401, 403)


def test_a_fault_persona_named_in_a_document_request_answers_its_fault(
        client: TestClient, listed: dict[str, Any], agency: dict[str, str]) -> None:
    pin = listed["fault-unavailable"]["pin"]
    response = client.post("/v1/sectors/health/insurance-check", json={"pin": pin},
                           headers=_token(client, agency, "document.health_insurance"))
    assert (response.status_code, _problem(response)) == (503, "service-unavailable")


# --- OpenID Connect -------------------------------------------------------------------------------


def test_document_scopes_release_their_claims_at_userinfo(
        client: TestClient, database: Database, app: FastAPI, settings: Settings,
        admin_headers: dict[str, str]) -> None:  # noqa: F811
    pin = _citizen_with(database, app, "health_insurance")
    _level2(client, settings, pin)
    rp = register_rp(client, admin_headers, name="Bệnh viện",
                     scopes=["openid", "vneid.health_insurance", "vneid.tax"])
    with browsing(app) as agent:
        token = tokens_for(agent, rp, pin, scope="openid vneid.health_insurance vneid.tax")
        claims = userinfo(agent, token["access_token"]).json()
    expected = _json(_documents(database, app, pin))
    assert claims["health_insurance"] == expected["health_insurance"][0]
    if expected["tax_registration"]:
        assert claims["tax_id"] == expected["tax_registration"][0]["tax_id"]
    else:
        assert "tax_id" not in claims
    assert "driving_licences" not in claims


def test_the_consent_page_lists_each_document_scope_asked_for(
        client: TestClient, app: FastAPI, settings: Settings, listed: dict[str, Any],
        admin_headers: dict[str, str]) -> None:  # noqa: F811
    pin = listed["valid-adult-level2"]["pin"]  # an account with the sandbox password
    rp = register_rp(client, admin_headers, name="Bảo hiểm",
                     scopes=["openid", "vneid.health_insurance", "vneid.driving_licence"])
    with browsing(app) as agent:
        flow = authorize(agent, rp, scope="openid vneid.health_insurance vneid.driving_licence")
        after = password_login(agent, admin(settings), flow.location, pin)
        page = agent.get(after.headers["location"], params={"lang": "en"})
    assert "Health-insurance card: number, benefit level" in page.text
    assert "Driving licences: number, class, validity, points" in page.text


def test_discovery_lists_the_document_scopes_and_claims(client: TestClient) -> None:
    metadata = client.get("/.well-known/openid-configuration").json()
    assert {"vneid.documents", "vneid.health_insurance", "vneid.driving_licence",
            "document.health_insurance", "sector.bank"} <= set(metadata["scopes_supported"])
    assert {"health_insurance", "driving_licences", "vehicle_registrations", "tax_id",
            "social_insurance"} <= set(metadata["claims_supported"])


# --- personas -------------------------------------------------------------------------------------

DOCUMENT_PERSONAS = [spec for spec in personas.SPECS if spec.document]


@pytest.fixture(scope="module")
def listed(client: TestClient, admin_headers: dict[str, str]) -> dict[str, Any]:  # noqa: F811
    response = client.get("/v1/sandbox/personas", headers=admin_headers)
    assert response.status_code == 200, response.text
    return {p["key"]: p for p in response.json()["personas"]}


@pytest.mark.parametrize("spec", DOCUMENT_PERSONAS, ids=lambda spec: spec.key)
def test_document_persona_shows_its_document_in_the_documented_state(
        spec: Any, client: TestClient, listed: dict[str, Any], agency: dict[str, str]) -> None:
    persona = listed[spec.key]
    kind, status, reason = spec.document
    assert persona["document"] | {"request": None} == {
        "request": None, "kind": kind, "status": status, "reason": reason}
    response = client.get(f"/v1/citizens/{persona['pin']}/documents/{kind}",
                          headers=_token(client, agency, f"document.{kind}"))
    assert response.status_code == 200, response.text
    assert (status, reason) in {(d["status"], d["status_reason"])
                                for d in response.json()["documents"]}


def test_the_suspended_health_insurance_persona_is_not_valid_at_the_hospital(
        client: TestClient, listed: dict[str, Any], agency: dict[str, str]) -> None:
    pin = listed["health-insurance-suspended"]["pin"]
    check = client.post("/v1/sectors/health/insurance-check", json={"pin": pin},
                        headers=_token(client, agency, "document.health_insurance"))
    assert (check.json()["insured"], check.json()["valid"], check.json()["status"]) == (
        True, False, "suspended")


def test_the_no_points_persona_may_sit_the_knowledge_test_six_months_later(
        client: TestClient, listed: dict[str, Any], agency: dict[str, str]) -> None:
    pin = listed["licence-no-points"]["pin"]
    response = client.get(f"/v1/citizens/{pin}/documents/driving_licence",
                          headers=_token(client, agency, "document.driving_licence"))
    [licence] = [d for d in response.json()["documents"] if d["status"] == "suspended"]
    assert licence["points"] == 0
    assert date.fromisoformat(licence["knowledge_test_from"]) > date.fromisoformat(
        licence["last_deduction_on"])


def test_docs_list_every_document_persona() -> None:
    text = (Path(__file__).parents[2] / "docs" / "personas.md").read_text("utf-8")
    assert personas.document_table() in text


# --- an authority's decisions as life events ------------------------------------------------------


def _reader(client: TestClient, headers: dict[str, str], scopes: list[str]) -> dict[str, str]:
    rp = register_rp(client, headers, name="Cảnh sát giao thông thử nghiệm",
                     scopes=["events.read", *scopes], purposes=["traffic"],
                     legal_basis="test", grant_types=["client_credentials"])
    return bearer(issue_token(client, rp.client_id, rp.secret or "",
                              " ".join(["events.read", *scopes])))


def _feed(client: TestClient, headers: dict[str, str], event_type: str) -> list[dict[str, Any]]:
    response = client.get("/v1/events", params={"type": event_type, "limit": 500},
                          headers=headers)
    assert response.status_code == 200, response.text
    items = response.json()["items"]
    while response.json()["items"]:
        response = client.get("/v1/events", params={"type": event_type, "limit": 500,
                                                    "cursor": response.json()["next_cursor"]},
                              headers=headers)
        items += response.json()["items"]
    return list(items)


@pytest.fixture
def hooks(client: TestClient) -> Iterator[list[tuple[dict[str, str], str]]]:
    """Subscriptions a test made (headers, id), deleted after it: their URLs answer nobody, and
    an active one would gather deliveries from every later test of the session."""
    made: list[tuple[dict[str, str], str]] = []
    yield made
    for headers, subscription_id in made:
        assert client.delete(f"/v1/subscriptions/{subscription_id}",
                             headers=headers).status_code == 204


def _hook(client: TestClient, hooks: list[tuple[dict[str, str], str]], headers: dict[str, str],
          body: dict[str, Any]) -> dict[str, Any]:
    hooked = client.post("/v1/subscriptions", headers=headers, json=body)
    assert hooked.status_code == 201, hooked.text
    hooks.append((headers, hooked.json()["id"]))
    return dict(hooked.json())


def test_an_authoritys_document_change_is_a_life_event_in_the_feed_and_webhooks(
        client: TestClient, database: Database, app: FastAPI, settings: Settings,
        admin_headers: dict[str, str], hooks: list[tuple[dict[str, str], str]]) -> None:  # noqa: F811
    police = _reader(client, admin_headers, ["document.driving_licence"])
    telecom = _reader(client, admin_headers, ["citizen.basic"])
    hooked = _hook(client, hooks, police, {
        "url": "https://rp.example/hooks", "event_types": ["driving_licence.changed"]})
    assert hooked["scopes"] == ["document.driving_licence"]
    pin = _citizen_with(database, app, "driving_licence", status="valid", points=12)
    [licence, *_] = [d for d in _documents(database, app, pin)["driving_licence"]
                     if d["points"] == 12]
    assert record(client, admin(settings), "card-changes", {  # a card.changed event
        "pin": pin, "action": "issued", "reason": "first_issue"}).status_code == 201
    changed = client.post(f"/v1/admin/documents/{pin}/changes", headers=admin(settings), json={
        "kind": "driving_licence", "number": licence["number"], "points_deducted": 4,
        "reason": "speeding"})
    assert changed.status_code == 201, changed.text
    [event] = [e for e in _feed(client, police, "driving_licence.changed") if e["pin"] == pin]
    assert event["id"] == changed.json()["event_id"]
    assert (event["data"]["kind"], event["data"]["action"], event["data"]["reason"]) == (
        "driving_licence", "points_deducted", "speeding")
    assert event["data"]["change"]["points_deducted"] == 4
    [after] = event["data"]["documents"]
    assert (after["number"], after["points"]) == (licence["number"], 8)
    # a reader without the document's scope never sees the event (feed nor webhooks)
    assert [e for e in _feed(client, telecom, "driving_licence.changed") if e["pin"] == pin] == []
    deliveries = client.get(f"/v1/subscriptions/{hooked['id']}/deliveries",
                            headers=police).json()["deliveries"]
    assert [d["event_id"] for d in deliveries] == [event["id"]]
    # and a reader holding document scopes only sees nothing but its documents' events
    assert {e["type"] for e in _feed(client, police, "driving_licence.changed")} | {
        e["type"] for e in client.get("/v1/events", params={"limit": 500},
                                      headers=police).json()["items"]} == {
        "driving_licence.changed"}


def test_a_webhook_without_the_documents_scope_receives_no_document_event(
        client: TestClient, database: Database, app: FastAPI, settings: Settings,
        admin_headers: dict[str, str], hooks: list[tuple[dict[str, str], str]]) -> None:  # noqa: F811
    insurer = _reader(client, admin_headers, ["citizen.basic", "document.health_insurance"])
    hooked = _hook(client, hooks, insurer, {
        "url": "https://rp.example/hooks", "event_types": ["*"], "scopes": ["citizen.basic"]})
    pin = _citizen_with(database, app, "health_insurance")
    assert client.post(f"/v1/admin/documents/{pin}/changes", headers=admin(settings), json={
        "kind": "health_insurance", "status": "suspended", "reason": "unpaid"}).status_code == 201
    assert client.get(f"/v1/subscriptions/{hooked['id']}/deliveries",
                      headers=insurer).json()["deliveries"] == []
    [event] = [e for e in _feed(client, insurer, "health_insurance.changed") if e["pin"] == pin]
    assert event["data"]["action"] == "suspended"
    assert {d["status"] for d in event["data"]["documents"]} == {"suspended"}


def test_a_webhook_receives_a_document_event_whole_with_the_scope_and_nothing_without_it(
        client: TestClient, database: Database, app: FastAPI, settings: Settings,
        admin_headers: dict[str, str], hooks: list[tuple[dict[str, str], str]]) -> None:  # noqa: F811
    insurer = _reader(client, admin_headers, ["citizen.basic", "document.health_insurance"])
    for receiver in running_receiver(Receiver()):
        whole = _hook(client, hooks, insurer, {
            "url": receiver.url, "event_types": ["health_insurance.changed"],
            "scopes": ["citizen.basic", "document.health_insurance"]})
        without = _hook(client, hooks, insurer, {
            "url": receiver.url, "event_types": ["*"], "scopes": ["citizen.basic"]})
        receiver.secret = whole["secret"]
        pin = _citizen_with(database, app, "health_insurance")
        changed = client.post(f"/v1/admin/documents/{pin}/changes", headers=admin(settings),
                              json={"kind": "health_insurance", "status": "suspended",
                                    "reason": "unpaid"})
        assert changed.status_code == 201, changed.text
        assert client.post("/v1/admin/events/deliver", headers=admin(settings)).status_code == 200
    [body] = [b for b in receiver.verified() if b["pin"] == pin]
    assert (body["id"], body["type"]) == (changed.json()["event_id"], "health_insurance.changed")
    assert (body["data"]["action"], body["data"]["change"]["status"]) == ("suspended", "suspended")
    assert {d["status"] for d in body["data"]["documents"]} == {"suspended"}
    assert [m.headers["X-Dancu-Subscription-Id"] for m in receiver.received
            if m.json()["pin"] == pin] == [whole["id"]]
    assert client.get(f"/v1/subscriptions/{without['id']}/deliveries",
                      headers=insurer).json()["deliveries"] == []


def test_a_subscription_to_a_document_event_without_the_documents_scope_is_refused(
        client: TestClient, admin_headers: dict[str, str],  # noqa: F811
        hooks: list[tuple[dict[str, str], str]]) -> None:
    """Accepted, it would never receive anything (the webhooks skip a document event for a
    subscription without that document's scope): refused when it is made or changed."""
    insurer = _reader(client, admin_headers, ["citizen.basic", "document.health_insurance"])
    telecom = _reader(client, admin_headers, ["citizen.basic"])
    for headers, body in (
            (insurer, {"event_types": ["health_insurance.changed"], "scopes": ["citizen.basic"]}),
            (telecom, {"event_types": ["driving_licence.changed", "death.registered"]}),
            (insurer, {"event_types": ["death.registered"],
                       "scopes": ["document.health_insurance"]})):  # no record scope
        refused = client.post("/v1/subscriptions", headers=headers,
                              json={"url": "https://rp.example/hooks", **body})
        assert refused.status_code == 422, refused.text
        problem = refused.json()
        assert problem["type"] == "https://dancu.sandbox/problems/event-type-unreadable"
        assert len(problem["problems"]) == 1
    (message,) = client.post("/v1/subscriptions", headers=telecom, json={
        "url": "https://rp.example/hooks",
        "event_types": ["driving_licence.changed"]}).json()["problems"]
    assert "'document.driving_licence'" in message
    # a change that would leave a named document event unreadable is refused too
    hooked = _hook(client, hooks, insurer, {
        "url": "https://rp.example/hooks", "event_types": ["health_insurance.changed"]})
    narrowed = client.patch(f"/v1/subscriptions/{hooked['id']}", headers=insurer,
                            json={"scopes": ["citizen.basic"]})
    assert narrowed.status_code == 422, narrowed.text
    assert narrowed.json()["type"].endswith("/event-type-unreadable")
    renamed = client.patch(f"/v1/subscriptions/{hooked['id']}", headers=insurer,
                           json={"event_types": ["driving_licence.changed"]})
    assert renamed.status_code == 422, renamed.text
    kept = client.get(f"/v1/subscriptions/{hooked['id']}", headers=insurer).json()
    assert (kept["event_types"], kept["scopes"]) == (
        ["health_insurance.changed"], ["citizen.basic", "document.health_insurance"])
    # "*" names no type: it receives what its scopes show
    assert _hook(client, hooks, telecom, {"url": "https://rp.example/hooks",
                                          "event_types": ["*"]})["scopes"] == ["citizen.basic"]
