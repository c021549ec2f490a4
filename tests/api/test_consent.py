"""Consent and a citizen's access history (Law 91/2025, Decree 356/2025).

A consent-based client (a bank) is refused without the citizen's consent in force; the citizen,
signed in with VNeID, gives consent by API or on the consent screen, sees who accessed which data
and why, and withdraws it; the bank's next request is refused again. State agencies (statutory
task) need no consent."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from app.db import Database
from app.settings import Settings
from tests.api.events_support import admin, record, single
from tests.api.oidc_support import Rp, authorize, browsing, register_rp, tokens_for
from tests.api.sharing_support import admin_headers, issue_token  # noqa: F401 - fixture

PURPOSE = "account-opening"
BANK_SCOPES = ["citizen.basic", "citizen.residence", "citizen.verify", "events.read", "openid",
               "profile", "vneid.history", "vneid.data_sharing", "vneid.identity"]


@dataclass
class Bank:
    rp: Rp
    client: TestClient

    @property
    def headers(self) -> dict[str, str]:
        token = issue_token(self.client, self.rp.client_id, self.rp.secret or "",
                            "citizen.basic citizen.residence citizen.verify events.read")
        return {"Authorization": f"Bearer {token}"}

    def lookup(self, pin: str) -> Any:
        return self.client.get(f"/v1/citizens/{pin}", headers=self.headers)


@pytest.fixture(scope="module")
def bank(client: TestClient, admin_headers: dict[str, str]) -> Bank:  # noqa: F811
    rp = register_rp(client, admin_headers, name="Ngân hàng Thử nghiệm", scopes=BANK_SCOPES,
                     purposes=[PURPOSE, "marketing"], data_basis="consent",
                     grant_types=["client_credentials", "authorization_code"])
    return Bank(rp, client)


@pytest.fixture
def citizen(client: TestClient, database: Database, settings: Settings) -> str:
    """A citizen with a chip card and an active VNeID account."""
    pin = single(database, sex="F", born=date(1994, 4, 4))
    assert record(client, admin(settings), "card-changes", {
        "pin": pin, "action": "issued", "reason": "first_issue"}).status_code == 201
    opened = client.post("/v1/admin/accounts", json={"pin": pin, "level": 2},
                         headers=admin(settings))
    assert opened.status_code == 201, opened.text
    return pin


@pytest.fixture
def agent(app: FastAPI) -> Iterator[TestClient]:
    with browsing(app) as fresh:
        yield fresh


def _vneid(agent: TestClient, bank: Bank, pin: str, scope: str = "openid vneid.history") -> dict:
    """The citizen signs in to the bank with VNeID; the access token's bearer header."""
    token = tokens_for(agent, bank.rp, pin, scope=scope)["access_token"]
    return {"Authorization": f"Bearer {token}"}


def _app(client: TestClient, settings: Settings, pin: str) -> dict[str, str]:
    """The citizen's own VNeID app: the bound-device token's bearer header."""
    bound = client.post(f"/v1/admin/accounts/{pin}/device", json={"name": "Test phone"},
                        headers=admin(settings))
    assert bound.status_code == 200, bound.text
    return {"Authorization": f"Bearer {bound.json()['device_token']}"}


def _problem(response: Any) -> str:
    return str(response.json()["type"]).rsplit("/", 1)[-1]


def test_end_to_end_consent_given_used_seen_and_withdrawn(
        client: TestClient, bank: Bank, citizen: str, agent: TestClient,
        settings: Settings) -> None:
    refused = bank.lookup(citizen)
    assert (refused.status_code, _problem(refused)) == (403, "consent-required")
    me = _vneid(agent, bank, citizen)
    given = client.post("/v1/me/data-consents", headers=_app(client, settings, citizen), json={
        "client_id": bank.rp.client_id, "purpose": PURPOSE, "scopes": ["citizen.basic"]})
    assert given.status_code == 201, given.text
    assert (given.json()["method"], given.json()["in_force"]) == ("api", True)
    allowed = bank.lookup(citizen)
    assert allowed.status_code == 200, allowed.text
    assert "full_name" in allowed.json()
    assert "permanent_residence" not in allowed.json()  # the token may, the consent does not
    residence = client.get(f"/v1/citizens/{citizen}/residence", headers=bank.headers)
    assert _problem(residence) == "consent-required"
    history = client.get("/v1/me/access-history", headers=me)
    assert history.status_code == 200, history.text
    seen = [(i["client_id"], i["action"], i["result"], i["purpose"])
            for i in history.json()["items"]]
    assert (bank.rp.client_id, "lookup", "disclosed", PURPOSE) in seen
    assert (bank.rp.client_id, "lookup", "consent_required", PURPOSE) in seen
    assert (bank.rp.client_id, "residence", "consent_required", PURPOSE) in seen
    disclosed = next(i for i in history.json()["items"] if i["result"] == "disclosed")
    assert "full_name" in disclosed["fields"]
    assert disclosed["client_name"] == "Ngân hàng Thử nghiệm"
    withdrawn = client.post(f"/v1/me/data-consents/{given.json()['id']}/withdraw", headers=me)
    assert withdrawn.status_code == 200, withdrawn.text
    assert withdrawn.json()["in_force"] is False
    again = bank.lookup(citizen)
    assert (again.status_code, _problem(again)) == (403, "consent-required")


def test_consent_covers_one_purpose_only(client: TestClient, bank: Bank, citizen: str,
                                         settings: Settings) -> None:
    assert client.post("/v1/me/data-consents", headers=_app(client, settings, citizen), json={
        "client_id": bank.rp.client_id, "purpose": PURPOSE,
        "scopes": ["citizen.basic"]}).status_code == 201
    other_purpose = client.get(f"/v1/citizens/{citizen}",
                               headers=bank.headers | {"X-Purpose": "marketing"})
    assert _problem(other_purpose) == "consent-required"


def test_approving_data_sharing_on_the_vneid_consent_screen_records_a_consent(
        client: TestClient, bank: Bank, citizen: str, agent: TestClient) -> None:
    me = _vneid(agent, bank, citizen, scope="openid vneid.history vneid.data_sharing")
    consents = client.get("/v1/me/data-consents", headers=me).json()["consents"]
    assert [(c["purpose"], c["method"], c["in_force"]) for c in consents] == [
        (PURPOSE, "sandbox_header", True)]
    assert set(consents[0]["scopes"]) == {"citizen.basic", "citizen.residence", "citizen.verify"}
    assert bank.lookup(citizen).status_code == 200
    verified = client.post("/v1/citizens/verify", headers=bank.headers,
                           json={"pin": citizen, "birth_date": "1994-04-04"})
    assert verified.json()["verdict"] == "match"


def test_batch_verification_names_the_items_without_consent(
        client: TestClient, bank: Bank, citizen: str, database: Database) -> None:
    stranger = single(database, sex="M", born=date(1980, 1, 1))
    response = client.post("/v1/citizens/verify/batch", headers=bank.headers, json={"items": [
        {"pin": citizen, "birth_date": "1994-04-04"}, {"pin": "12", "sex": "M"},
        {"pin": stranger, "sex": "M"}]})
    assert (response.status_code, _problem(response)) == (403, "consent-required")
    assert response.json()["missing_items"] == [0, 2]
    cmnd = client.post("/v1/citizens/resolve-cmnd", headers=bank.headers,
                       json={"old_id_number": "012345678"})
    assert cmnd.status_code == 403


def test_the_consent_gates_the_feed_of_a_consent_based_client(
        client: TestClient, bank: Bank, citizen: str, agent: TestClient, database: Database,
        settings: Settings) -> None:
    from app.services.events import feed as events
    from app.services.kit.pagination import encode_cursor

    with database.read() as session:
        cursor = encode_cursor("events", events.last_seq(session))
    stranger = single(database, sex="M", born=date(1980, 1, 1))
    client.post("/v1/me/data-consents", headers=_app(client, settings, citizen), json={
        "client_id": bank.rp.client_id, "purpose": PURPOSE, "scopes": ["citizen.basic"]})
    for pin in (citizen, stranger):
        assert record(client, admin(settings), "name-changes",
                      {"pin": pin, "given_name": "Hạnh"}).status_code == 201
    page = client.get("/v1/events", params={"cursor": cursor}, headers=bank.headers).json()
    assert [i["pin"] for i in page["items"]] == [citizen]


def test_the_history_needs_a_citizen_token_with_vneid_history(
        client: TestClient, bank: Bank, citizen: str, agent: TestClient) -> None:
    without = client.get("/v1/me/access-history")
    assert (without.status_code, _problem(without)) == (401, "citizen-token-required")
    assert without.headers["WWW-Authenticate"].startswith('Bearer realm="vneid"')
    profile_only = client.get("/v1/me/access-history",
                              headers=_vneid(agent, bank, citizen, scope="openid profile"))
    assert (profile_only.status_code, _problem(profile_only)) == (403, "history-scope-required")
    machine = client.get("/v1/me/access-history", headers=bank.headers)
    assert machine.status_code == 401


def test_the_vneid_app_device_token_opens_the_history_too(
        client: TestClient, citizen: str, settings: Settings) -> None:
    assert client.get("/v1/me/access-history",
                      headers=_app(client, settings, citizen)).status_code == 200


@pytest.mark.parametrize("scopes", [["citizen.basic"], ["citizen.basic", "citizen.sensitive"]])
def test_a_relying_party_token_cannot_give_consent_to_itself_or_another_client(
        client: TestClient, bank: Bank, citizen: str, agent: TestClient,
        admin_headers: dict[str, str], scopes: list[str]) -> None:  # noqa: F811
    other = register_rp(client, admin_headers, name="Other", purposes=[PURPOSE],
                        scopes=[*BANK_SCOPES, "citizen.sensitive"], data_basis="consent",
                        legal_basis="Decree 356/2025, test",
                        grant_types=["client_credentials", "authorization_code"])
    me = _vneid(agent, bank, citizen)
    for target in (bank.rp.client_id, other.client_id):
        given = client.post("/v1/me/data-consents", headers=me, json={
            "client_id": target, "purpose": PURPOSE, "scopes": scopes})
        assert (given.status_code, _problem(given)) == (403, "citizen-interaction-required")
    assert client.get("/v1/me/data-consents", headers=me).json()["consents"] == []
    assert _problem(bank.lookup(citizen)) == "consent-required"


def test_a_relying_party_token_may_still_withdraw_a_consent(
        client: TestClient, bank: Bank, citizen: str, agent: TestClient,
        settings: Settings) -> None:
    given = client.post("/v1/me/data-consents", headers=_app(client, settings, citizen), json={
        "client_id": bank.rp.client_id, "purpose": PURPOSE, "scopes": ["citizen.basic"]})
    assert given.status_code == 201, given.text
    withdrawn = client.post(f"/v1/me/data-consents/{given.json()['id']}/withdraw",
                            headers=_vneid(agent, bank, citizen))
    assert (withdrawn.status_code, withdrawn.json()["in_force"]) == (200, False)


@pytest.mark.parametrize(("scope", "whole"), [("openid vneid.history", False),
                                              ("openid vneid.history vneid.identity", True)])
def test_the_history_shows_the_pin_only_under_vneid_identity(
        client: TestClient, bank: Bank, citizen: str, agent: TestClient, settings: Settings,
        scope: str, whole: bool) -> None:
    client.post("/v1/admin/consents", headers=admin(settings), json={
        "pin": citizen, "client_id": bank.rp.client_id, "purpose": PURPOSE,
        "scopes": ["citizen.basic"]})
    assert bank.lookup(citizen).status_code == 200
    items = client.get("/v1/me/access-history",
                       headers=_vneid(agent, bank, citizen, scope=scope)).json()["items"]
    assert items
    expected = citizen if whole else f"{citizen[:4]}****{citizen[8:]}"
    assert {i["pin"] for i in items} == {expected}
    app_items = client.get("/v1/me/access-history",
                           headers=_app(client, settings, citizen)).json()["items"]
    assert {i["pin"] for i in app_items} == {citizen}


@pytest.mark.parametrize(("change", "problem"), [
    ({"scopes": ["citizen.family"]}, "scopes: 'citizen.family'"),
    ({"purpose": "lottery"}, "purpose:"),
    ({"client_id": "no-such-bank"}, "client_id:"),
    ({"expires_at": "2001-01-01T00:00:00Z"}, "expires_at:"),
])
def test_invalid_consents_are_refused(client: TestClient, bank: Bank, citizen: str,
                                      settings: Settings, change: dict[str, Any],
                                      problem: str) -> None:
    body = {"client_id": bank.rp.client_id, "purpose": PURPOSE, "scopes": ["citizen.basic"]}
    response = client.post("/v1/me/data-consents", headers=_app(client, settings, citizen),
                           json=body | change)
    assert (response.status_code, _problem(response)) == (422, "invalid-consent")
    assert any(p.startswith(problem) for p in response.json()["problems"])


@pytest.mark.parametrize("scope", ["Nguyễn Văn An 001087012345", "s" * 5000])
def test_a_refused_consent_never_echoes_what_was_sent(
        client: TestClient, bank: Bank, citizen: str, settings: Settings, scope: str) -> None:
    response = client.post("/v1/admin/consents", headers=admin(settings), json={
        "pin": citizen, "client_id": bank.rp.client_id, "purpose": PURPOSE, "scopes": [scope]})
    assert (response.status_code, _problem(response)) == (422, "invalid-consent")
    assert response.json()["problems"] == [
        "scopes: item 0 is not a data-sharing scope of this client"]


def test_an_administrator_records_a_written_consent(
        client: TestClient, bank: Bank, citizen: str, settings: Settings) -> None:
    response = client.post("/v1/admin/consents", headers=admin(settings), json={
        "pin": citizen, "client_id": bank.rp.client_id, "purpose": PURPOSE,
        "scopes": ["citizen.basic"], "method": "written"})
    assert response.status_code == 201, response.text
    assert bank.lookup(citizen).status_code == 200


def test_statutory_clients_need_no_consent(client: TestClient, citizen: str,
                                           admin_headers: dict[str, str]) -> None:  # noqa: F811
    from tests.api.sharing_support import new_client

    client_id, secret = new_client(client, admin_headers, scopes=["citizen.basic"])
    token = issue_token(client, client_id, secret)
    found = client.get(f"/v1/citizens/{citizen}", headers={"Authorization": f"Bearer {token}"})
    assert found.status_code == 200


def test_the_history_page_lists_accesses_for_the_signed_in_citizen(
        client: TestClient, app: FastAPI, bank: Bank, citizen: str, settings: Settings) -> None:
    client.post("/v1/admin/consents", headers=admin(settings), json={
        "pin": citizen, "client_id": bank.rp.client_id, "purpose": PURPOSE,
        "scopes": ["citizen.basic"]})
    assert bank.lookup(citizen).status_code == 200
    with browsing(app) as page_agent:
        assert page_agent.get("/oauth2/account/history").status_code == 401  # not signed in
        authorize(page_agent, bank.rp, pin=citizen)  # signs in: the session cookie is set
        page = page_agent.get("/oauth2/account/history?lang=en")
    assert page.status_code == 200, page.text
    assert "Ngân hàng Thử nghiệm" in page.text
    assert PURPOSE in page.text
    assert citizen not in page.text  # the page shows what was accessed, not the PIN


@pytest.fixture
def rival(client: TestClient, admin_headers: dict[str, str]) -> Bank:  # noqa: F811
    """Another organisation's relying party on the same deployment."""
    rp = register_rp(client, admin_headers, name="Ngân hàng Khác", scopes=BANK_SCOPES,
                     purposes=[PURPOSE], data_basis="consent",
                     grant_types=["client_credentials", "authorization_code"])
    return Bank(rp, client)


def test_a_relying_party_token_shows_only_that_partys_accesses_and_consents(
        client: TestClient, bank: Bank, rival: Bank, citizen: str, agent: TestClient,
        settings: Settings) -> None:
    device = _app(client, settings, citizen)
    for party in (bank, rival):
        assert client.post("/v1/me/data-consents", headers=device, json={
            "client_id": party.rp.client_id, "purpose": PURPOSE,
            "scopes": ["citizen.basic"]}).status_code == 201
        assert party.lookup(citizen).status_code == 200
    me = _vneid(agent, bank, citizen)
    seen = {i["client_id"] for i in client.get("/v1/me/access-history",
                                               headers=me).json()["items"]}
    assert seen == {bank.rp.client_id}, "another party's accesses are not the bank's to see"
    listed = {c["client_id"] for c in client.get("/v1/me/data-consents",
                                                 headers=me).json()["consents"]}
    assert listed == {bank.rp.client_id}
    everything = {i["client_id"] for i in client.get("/v1/me/access-history",
                                                     headers=device).json()["items"]}
    assert {bank.rp.client_id, rival.rp.client_id} <= everything  # the citizen's app sees all


def test_a_relying_party_token_cannot_withdraw_another_partys_consent(
        client: TestClient, bank: Bank, rival: Bank, citizen: str, agent: TestClient,
        settings: Settings) -> None:
    rivals = client.post("/v1/me/data-consents", headers=_app(client, settings, citizen), json={
        "client_id": rival.rp.client_id, "purpose": PURPOSE, "scopes": ["citizen.basic"]})
    assert rivals.status_code == 201, rivals.text
    rival_login = _vneid(agent, rival, citizen)  # the citizen also signs in to the rival
    sign_in = [c["id"] for c in client.get(
        f"/v1/admin/accounts/{citizen}/consents",
        headers=admin(settings)).json()["consents"] if c["client_id"] == rival.rp.client_id
        and c["status"] == "granted" and c["purpose"] != PURPOSE]
    assert sign_in
    me = _vneid(agent, bank, citizen)
    for consent_id in (rivals.json()["id"], *sign_in):
        refused = client.post(f"/v1/me/data-consents/{consent_id}/withdraw", headers=me)
        assert (refused.status_code, _problem(refused)) == (404, "consent-not-found")
    assert rival.lookup(citizen).status_code == 200, "the rival's consent still holds"
    assert client.get("/v1/me/access-history", headers=rival_login).status_code == 200
