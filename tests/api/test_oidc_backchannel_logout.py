"""OpenID Connect Back-Channel Logout 1.0 through HTTP: clients register a
``backchannel_logout_uri``; when a login session ends (RP-initiated logout, an account lock) each
client that received tokens in it gets a logout token, POSTed as a form to a relying party's
receiver (a local HTTP server) and validated there with joserfc against the published JWKS; the
webhooks' address rules apply at registration and at delivery."""

from __future__ import annotations

import socket
import threading
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from joserfc import jwt
from joserfc.jwk import KeySet
from sqlalchemy import select
from typer.testing import CliRunner

from app.cli import cli as cli_app
from app.clock import SandboxClock
from app.db import Database
from app.models.account import Account
from app.models.client import Client
from app.models.oidc import BackchannelDelivery, BrowserSession
from app.models.population import Citizen
from app.schemas.events import DeathRequest
from app.services.cards.pki import card_pki
from app.services.events import simulation, webhook_sender
from app.services.kit.keys import KeyStore
from app.services.vneid import accounts, backchannel
from tests.api.events_support import Receiver, free_port, running_receiver
from tests.api.oidc_support import *  # noqa: F403
from tests.api.oidc_support import (
    DEMO_REDIRECT,
    LOGIN_SCOPES,
    Rp,
    browser,
    citizen_with_contact,
    jwt_claims,
    logouts_delivered,
    refresh,
    register_rp,
    tokens_for,
)
from tests.api.test_webhooks import _trickling
from tests.conftest import TEST_SECRET_KEY, TEST_SEED

BACKCHANNEL_EVENT = "http://schemas.openid.net/event/backchannel-logout"


@pytest.fixture(scope="module")
def listening() -> Iterator[Receiver]:
    yield from running_receiver(Receiver())


@pytest.fixture
def receiver(listening: Receiver, app: FastAPI) -> Receiver:
    logouts_delivered(app)  # none left over from an earlier test
    listening.received.clear()
    listening.status = 200
    return listening


@pytest.fixture
def agent(app: FastAPI) -> TestClient:
    return browser(app)


@pytest.fixture
def pin(personas: dict[str, Any]) -> str:
    return str(personas["citizen-l2"]["pin"])


def _logout_tokens(receiver: Receiver, app: FastAPI) -> list[str]:
    """The logout tokens the receiver got, once every delivery has been made."""
    logouts_delivered(app)
    tokens = []
    for message in receiver.received:
        assert message.headers["Content-Type"] == "application/x-www-form-urlencoded"
        form = dict(pair.split("=", 1) for pair in message.body.decode().split("&"))
        assert set(form) == {"logout_token"}
        tokens.append(form["logout_token"])
    return tokens


def _verified_logout_token(token: str, client: TestClient, *, audience: str) -> dict[str, Any]:
    """Validate as a relying party does (Back-Channel Logout §2.6), with the JWKS only."""
    jwks = client.get("/.well-known/jwks.json").json()
    issuer = client.get("/.well-known/openid-configuration").json()["issuer"]
    decoded = jwt.decode(token, KeySet.import_key_set(jwks))
    assert decoded.header["typ"] == "logout+jwt"
    jwt.JWTClaimsRegistry(iss={"essential": True, "value": issuer},
                          aud={"essential": True, "value": audience},
                          iat={"essential": True}, exp={"essential": True},
                          jti={"essential": True}, leeway=5).validate(decoded.claims)
    assert decoded.claims["events"] == {BACKCHANNEL_EVENT: {}}
    assert "nonce" not in decoded.claims
    return dict(decoded.claims)


def _id_claims(token: str) -> dict[str, Any]:
    return jwt_claims(token)


def _deliveries(database: Database, client_id: str, app: FastAPI) -> list[BackchannelDelivery]:
    """The recorded outcomes, once every delivery has been made."""
    logouts_delivered(app)
    with database.read() as session:
        rows = list(session.scalars(select(BackchannelDelivery)
                                    .where(BackchannelDelivery.client_id == client_id)))
        session.expunge_all()
        return rows


def test_discovery_announces_back_channel_logout_with_sid(client: TestClient) -> None:
    document = client.get("/.well-known/openid-configuration").json()
    assert document["backchannel_logout_supported"] is True
    assert document["backchannel_logout_session_supported"] is True


def test_a_client_registers_its_backchannel_logout_uri(
        client: TestClient, admin: dict[str, str], receiver: Receiver) -> None:
    created = client.post("/v1/admin/clients", headers=admin, json={
        "name": "BCL RP", "scopes": LOGIN_SCOPES, "purposes": ["login-tests"], "sandbox": True,
        "grant_types": ["authorization_code"], "redirect_uris": [DEMO_REDIRECT],
        "backchannel_logout_uri": receiver.url,
        "backchannel_logout_session_required": True}).json()
    assert created["backchannel_logout_uri"] == receiver.url
    assert created["backchannel_logout_session_required"] is True


def test_rp_initiated_logout_sends_each_rp_a_logout_token_with_sub_and_sid(
        app: FastAPI, agent: TestClient, client: TestClient, admin: dict[str, str], pin: str,
        receiver: Receiver, database: Database) -> None:
    rp = register_rp(client, admin, backchannel_logout_uri=receiver.url,
                     backchannel_logout_session_required=True)
    id_token = tokens_for(agent, rp, pin)["id_token"]
    id_claims = _id_claims(id_token)
    assert id_claims["sid"]  # ID tokens carry the session (Back-Channel Logout §2.1)
    answer = agent.get("/oauth2/logout", params={"id_token_hint": id_token})
    assert answer.status_code == 200, answer.text
    (token,) = _logout_tokens(receiver, app)
    claims = _verified_logout_token(token, client, audience=rp.client_id)
    assert (claims["sub"], claims["sid"]) == (id_claims["sub"], id_claims["sid"])
    assert [(d.status_code, d.error) for d in _deliveries(database, rp.client_id, app)] == [
        (200, None)]


def test_logout_confirmed_in_the_browser_without_a_hint_also_notifies(
        app: FastAPI, agent: TestClient, client: TestClient, admin: dict[str, str], pin: str,
        receiver: Receiver) -> None:
    rp = register_rp(client, admin, backchannel_logout_uri=receiver.url)
    sid = _id_claims(tokens_for(agent, rp, pin)["id_token"])["sid"]
    page = agent.get("/oauth2/logout")
    assert page.status_code == 200  # asked to confirm first
    assert not receiver.received
    confirm = page.text.split('name="confirm" value="', 1)[1].split('"', 1)[0]
    assert agent.post("/oauth2/logout", data={"confirm": confirm}).status_code == 200
    (token,) = _logout_tokens(receiver, app)
    assert _verified_logout_token(token, client, audience=rp.client_id)["sid"] == sid


def test_only_clients_that_received_tokens_in_the_session_are_told(
        app: FastAPI, agent: TestClient, client: TestClient, admin: dict[str, str], pin: str,
        receiver: Receiver) -> None:
    told = register_rp(client, admin, backchannel_logout_uri=receiver.url)
    register_rp(client, admin, backchannel_logout_uri=receiver.url)  # no tokens in the session
    silent = register_rp(client, admin)  # tokens, but no back-channel URI
    tokens_for(agent, silent, pin)
    id_token = tokens_for(agent, told, pin)["id_token"]
    agent.get("/oauth2/logout", params={"id_token_hint": id_token})
    assert [jwt_aud(t) for t in _logout_tokens(receiver, app)] == [told.client_id]


def test_an_expired_open_registration_is_told_nothing(
        app: FastAPI, client: TestClient, admin: dict[str, str], receiver: Receiver,
        database: Database) -> None:
    """An open registration past its end can no longer authenticate: it is refused as a disabled
    client is, so it gets no logout token either (the address it registered may by then be
    someone else's)."""
    pin = citizen_with_contact(database)
    opened = client.post("/v1/admin/accounts", headers=admin,
                         json={"pin": pin, "level": 2, "password": "Vneid@2025"})
    assert opened.status_code == 201, opened.text
    told = register_rp(client, admin, backchannel_logout_uri=receiver.url)
    ended = register_rp(client, admin, backchannel_logout_uri=receiver.url)
    agent = browser(app)
    tokens_for(agent, ended, pin)
    tokens_for(agent, told, pin)
    with database.write() as session:
        row = session.get(Client, ended.client_id)
        assert row is not None
        row.expires_at = app.state.clock.now() - timedelta(seconds=1)
    locked = client.post(f"/v1/admin/accounts/{pin}/lock", headers=admin,
                         json={"reason": "authority"})
    assert locked.status_code == 200, locked.text
    assert [jwt_aud(t) for t in _logout_tokens(receiver, app)] == [told.client_id]
    assert _deliveries(database, ended.client_id, app) == []


def jwt_aud(token: str) -> str:
    return str(_id_claims(token)["aud"])


def test_a_failed_delivery_does_not_fail_the_logout_and_is_recorded(
        app: FastAPI, agent: TestClient, client: TestClient, admin: dict[str, str], pin: str,
        database: Database) -> None:
    closed = f"http://127.0.0.1:{free_port()}/logout"  # nothing listens there
    rp = register_rp(client, admin, backchannel_logout_uri=closed)
    id_token = tokens_for(agent, rp, pin)["id_token"]
    answer = agent.get("/oauth2/logout", params={"id_token_hint": id_token})
    assert answer.status_code == 200
    assert [(d.status_code, d.error) for d in _deliveries(database, rp.client_id, app)] == [
        (None, "delivery failed: no acceptable HTTP response")]


def test_delivery_checks_the_address_a_name_resolves_to(
        app: FastAPI, agent: TestClient, client: TestClient, admin: dict[str, str], pin: str,
        receiver: Receiver, database: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    system = webhook_sender.lookup
    monkeypatch.setattr(webhook_sender, "lookup", lambda host, port: ["10.0.0.7"]
                        if host == "internal.test" else system(host, port))
    rp = register_rp(client, admin, backchannel_logout_uri="https://internal.test/logout")
    agent.get("/oauth2/logout", params={"id_token_hint": tokens_for(agent, rp, pin)["id_token"]})
    assert [(d.status_code, d.error) for d in _deliveries(database, rp.client_id, app)] == [
        (None, "delivery refused: address not allowed")]
    assert not receiver.received


@pytest.mark.parametrize("uri", [
    "http://10.0.0.1/logout", "https://169.254.169.254/latest", "https://[fd00:ec2::254]/",
    "https://192.168.1.1/logout", "http://rp.example/logout", "https://rp.example/logout#x",
    "https://2130706433/logout", "http://127.0.0.1:8000/v1/admin/clients",
    "https://rp.example/log out",
])
def test_registration_refuses_a_backchannel_uri_webhooks_could_not_reach(
        client: TestClient, admin: dict[str, str], uri: str) -> None:
    response = client.post("/v1/admin/clients", headers=admin, json={
        "name": "BCL RP", "scopes": LOGIN_SCOPES, "purposes": ["login-tests"], "sandbox": True,
        "grant_types": ["authorization_code"], "redirect_uris": [DEMO_REDIRECT],
        "backchannel_logout_uri": uri})
    assert response.status_code == 422, response.text
    assert any("backchannel_logout_uri" in p for p in response.json()["problems"])


def test_dynamic_registration_takes_and_checks_the_backchannel_uri(
        client: TestClient, admin: dict[str, str], receiver: Receiver) -> None:
    document = {"redirect_uris": [DEMO_REDIRECT], "backchannel_logout_uri": receiver.url,
                "backchannel_logout_session_required": True}
    registered = client.post("/oauth2/register", json=document, headers=admin)
    assert registered.status_code == 201, registered.text
    body = registered.json()
    assert (body["backchannel_logout_uri"], body["backchannel_logout_session_required"]) == (
        receiver.url, True)
    refused = client.post("/oauth2/register", headers=admin, json={
        **document, "backchannel_logout_uri": "https://169.254.169.254/"})
    assert refused.status_code == 400
    assert refused.json()["error"] == "invalid_client_metadata"
    manage = {"Authorization": f"Bearer {body['registration_access_token']}"}
    path = f"/oauth2/register/{body['client_id']}"
    moved = client.put(path, headers=manage, json={  # RFC 7592 update: the same rules
        **document, "client_id": body["client_id"], "backchannel_logout_uri": "http://10.0.0.1/"})
    assert moved.status_code == 400
    assert moved.json()["error"] == "invalid_client_metadata"
    cleared = client.put(path, headers=manage, json={"client_id": body["client_id"],
                                                     "redirect_uris": [DEMO_REDIRECT]})
    assert cleared.status_code == 200, cleared.text
    assert "backchannel_logout_uri" not in cleared.json()
    assert cleared.json()["backchannel_logout_session_required"] is False


def test_offline_access_refresh_tokens_outlive_the_session(
        app: FastAPI, agent: TestClient, client: TestClient, admin: dict[str, str], pin: str,
        receiver: Receiver) -> None:
    """§2.7: refresh tokens with offline_access are not revoked by a logout (the only kind this
    provider issues); the relying party is still told."""
    rp = register_rp(client, admin, backchannel_logout_uri=receiver.url)
    body = tokens_for(agent, rp, pin, scope="openid offline_access", prompt="consent")
    agent.get("/oauth2/logout", params={"id_token_hint": body["id_token"]})
    assert len(_logout_tokens(receiver, app)) == 1
    assert refresh(agent, rp, body["refresh_token"]).status_code == 200


def test_an_account_lock_ends_its_sessions_and_tells_the_relying_parties(
        app: FastAPI, client: TestClient, admin: dict[str, str], database: Database,
        receiver: Receiver) -> None:
    pin = citizen_with_contact(database)
    opened = client.post("/v1/admin/accounts", headers=admin,
                         json={"pin": pin, "level": 2, "password": "Vneid@2025"})
    assert opened.status_code == 201, opened.text
    rp: Rp = register_rp(client, admin, backchannel_logout_uri=receiver.url)
    agent = browser(app)
    sid = _id_claims(tokens_for(agent, rp, pin)["id_token"])["sid"]
    locked = client.post(f"/v1/admin/accounts/{pin}/lock", headers=admin,
                         json={"reason": "authority"})
    assert locked.status_code == 200, locked.text
    (token,) = _logout_tokens(receiver, app)
    assert _verified_logout_token(token, client, audience=rp.client_id)["sid"] == sid


def test_a_receiver_answering_a_byte_at_a_time_is_cut_off_at_the_delivery_deadline(
        app: FastAPI, agent: TestClient, client: TestClient, admin: dict[str, str], pin: str,
        receiver: Receiver, database: Database) -> None:
    # Each byte comes well within the per-step timeout (0.5 s of 2 s); the whole answer (~23 s)
    # does not come within the delivery's deadline: the delivery must end at that deadline, not
    # hold its worker thread for the trickle (with many logouts, every worker thread).
    for trickler in _trickling(receiver):
        rp = register_rp(client, admin, backchannel_logout_uri=trickler.url)
        hint = tokens_for(agent, rp, pin)["id_token"]
        agent.get("/oauth2/logout", params={"id_token_hint": hint})
        assert trickler.done.wait(60)
    assert trickler.ended == "cut off"
    assert [(d.status_code, d.error) for d in _deliveries(database, rp.client_id, app)] == [
        (None, "delivery failed: no acceptable HTTP response")]


# --- the account becomes unusable: every ground ends its sessions ---------------------------------


def _signed_in(app: FastAPI, client: TestClient, admin: dict[str, str],
               receiver: Receiver) -> tuple[str, Rp, dict[str, Any]]:
    """A citizen of their own (an account opened for the test), logged in at a relying party
    registered for Back-Channel Logout: the PIN, the relying party, the ID token's claims."""
    pin = citizen_with_contact(database_of(app), active_card=True)  # the cards commands hold it
    opened = client.post("/v1/admin/accounts", headers=admin,
                         json={"pin": pin, "level": 2, "password": "Vneid@2025"})
    assert opened.status_code == 201, opened.text
    rp = register_rp(client, admin, backchannel_logout_uri=receiver.url)
    return pin, rp, _id_claims(tokens_for(browser(app), rp, pin)["id_token"])


def database_of(app: FastAPI) -> Database:
    return app.state.database  # type: ignore[no-any-return]


def _told(app: FastAPI, client: TestClient, receiver: Receiver, rp: Rp,
          id_claims: dict[str, Any]) -> None:
    """The relying party got one logout token naming the citizen and the session it knows."""
    (token,) = _logout_tokens(receiver, app)
    claims = _verified_logout_token(token, client, audience=rp.client_id)
    assert (claims["sub"], claims["sid"]) == (id_claims["sub"], id_claims["sid"])
    assert [(d.status_code, d.error) for d in _deliveries(database_of(app), rp.client_id, app)] \
        == [(200, None)]


@pytest.mark.parametrize("action", ["revoke", "hold"])
def test_a_card_revoked_or_held_by_an_administrator_ends_the_sessions_and_tells_the_rps(
        app: FastAPI, client: TestClient, admin: dict[str, str], receiver: Receiver,
        action: str) -> None:
    pin, rp, id_claims = _signed_in(app, client, admin, receiver)
    changed = client.post(f"/v1/admin/cards/{pin}/{action}", headers=admin)
    assert changed.status_code == 200, changed.text
    _told(app, client, receiver, rp, id_claims)


def test_a_card_revoked_through_a_life_event_ends_the_sessions_and_tells_the_rps(
        app: FastAPI, client: TestClient, admin: dict[str, str], receiver: Receiver) -> None:
    pin, rp, id_claims = _signed_in(app, client, admin, receiver)
    changed = client.post("/v1/life-events/card-changes", headers=admin,
                          json={"pin": pin, "action": "revoked", "reason": "fraud"})
    assert changed.status_code in (200, 201), changed.text
    _told(app, client, receiver, rp, id_claims)


def test_a_card_reported_lost_keeps_the_sessions(
        app: FastAPI, client: TestClient, admin: dict[str, str], receiver: Receiver,
        database: Database) -> None:
    """A loss does not lock the account (the rules keep it while the loss is reported)."""
    pin, rp, _ = _signed_in(app, client, admin, receiver)
    assert client.post(f"/v1/admin/cards/{pin}/lost", headers=admin).status_code == 200
    assert _logout_tokens(receiver, app) == []
    assert _deliveries(database, rp.client_id, app) == []


def test_a_death_closes_the_account_ends_the_sessions_and_tells_the_rps(
        app: FastAPI, client: TestClient, admin: dict[str, str], receiver: Receiver) -> None:
    pin, rp, id_claims = _signed_in(app, client, admin, receiver)
    died = client.post("/v1/life-events/deaths", headers=admin, json={"pin": pin})
    assert died.status_code in (200, 201), died.text
    _told(app, client, receiver, rp, id_claims)


def test_a_reestablished_pin_ends_the_sessions_with_the_subject_the_rp_knows(
        app: FastAPI, client: TestClient, admin: dict[str, str], receiver: Receiver,
        database: Database) -> None:
    pin, rp, id_claims = _signed_in(app, client, admin, receiver)
    with database.read() as session:
        born = session.get(Citizen, pin).birth_date  # type: ignore[union-attr]
    moved = client.post("/v1/life-events/pin-reestablishments", headers=admin, json={
        "pin": pin, "reason": "birth_year_corrected",
        "birth_date": born.replace(year=born.year - 1, day=min(born.day, 28)).isoformat()})
    assert moved.status_code in (200, 201), moved.text
    assert moved.json()["pin"] != pin
    _told(app, client, receiver, rp, id_claims)  # the old number's pairwise sub


def test_closing_an_account_ends_its_sessions_and_tells_the_rps(
        app: FastAPI, client: TestClient, admin: dict[str, str], receiver: Receiver) -> None:
    pin, rp, id_claims = _signed_in(app, client, admin, receiver)
    closed = client.post(f"/v1/admin/accounts/{pin}/close", headers=admin,
                         json={"reason": "authority"})
    assert closed.status_code == 200, closed.text
    _told(app, client, receiver, rp, id_claims)


def test_a_further_lock_ground_tells_nobody_twice(
        app: FastAPI, client: TestClient, admin: dict[str, str], receiver: Receiver,
        database: Database) -> None:
    """The sessions ended with the first ground; a card held afterwards finds none to end."""
    pin, rp, id_claims = _signed_in(app, client, admin, receiver)
    assert client.post(f"/v1/admin/accounts/{pin}/lock", headers=admin,
                       json={"reason": "authority"}).status_code == 200
    _told(app, client, receiver, rp, id_claims)
    receiver.received.clear()
    assert client.post(f"/v1/admin/cards/{pin}/hold", headers=admin).status_code == 200
    assert _logout_tokens(receiver, app) == []
    assert len(_deliveries(database, rp.client_id, app)) == 1
    with database.read() as session:
        account_id = session.scalar(select(Account.id).where(Account.pin == pin))
        live = session.scalars(select(BrowserSession.id).where(
            BrowserSession.account_id == account_id, BrowserSession.ended_at.is_(None))).all()
    assert live == []


def test_the_logout_is_answered_without_waiting_for_the_back_channel_delivery(
        app: FastAPI, agent: TestClient, client: TestClient, admin: dict[str, str], pin: str,
        database: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    """The delivery runs outside the request (its time is not the request's, nor in its access
    line): the logout is answered while the receiver still holds the logout token's request, and
    the outcome is recorded once it lets go."""
    monkeypatch.setattr(backchannel, "DELIVERY_DEADLINE_SECONDS", 60.0)  # held, not cut off
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(60)
    release = threading.Event()

    def hold() -> None:
        with server:
            connection = server.accept()[0]
            with connection:
                release.wait(60)  # answers nothing; closes when released

    holder = threading.Thread(target=hold, daemon=True)
    holder.start()
    rp = register_rp(client, admin, backchannel_logout_uri=(
        f"http://127.0.0.1:{server.getsockname()[1]}/logout"))
    hint = tokens_for(agent, rp, pin)["id_token"]
    try:
        assert agent.get("/oauth2/logout", params={"id_token_hint": hint}).status_code == 200
        with database.read() as session:  # answered; the delivery is still held
            assert session.scalars(select(BackchannelDelivery).where(
                BackchannelDelivery.client_id == rp.client_id)).all() == []
    finally:
        release.set()
    holder.join(60)
    assert [(d.status_code, d.error) for d in _deliveries(database, rp.client_id, app)] == [
        (None, "delivery failed: no acceptable HTTP response")]


# --- the same ending outside a route: the command line, the simulation, the start-up -------------


@pytest.mark.parametrize("command", [["lock", "--reason", "tos_violation"],
                                     ["close", "--reason", "authority"]])
def test_the_accounts_command_ends_the_sessions_and_tells_the_rps(
        app: FastAPI, client: TestClient, admin: dict[str, str], receiver: Receiver,
        database: Database, command: list[str]) -> None:
    pin, rp, id_claims = _signed_in(app, client, admin, receiver)
    done = CliRunner().invoke(cli_app, ["accounts", command[0], pin, *command[1:],
                                        "--database-url", database.url],
                              env={"DANCU_SECRET_KEY": TEST_SECRET_KEY})
    assert done.exit_code == 0, done.output
    _told(app, client, receiver, rp, id_claims)  # sent before the command returned
    assert _live_sessions(database, pin) == []


def _live_sessions(database: Database, pin: str) -> list[str]:
    with database.read() as session:
        account_id = session.scalar(select(Account.id).where(Account.pin == pin))
        return list(session.scalars(select(BrowserSession.id).where(
            BrowserSession.account_id == account_id, BrowserSession.ended_at.is_(None))))


def test_a_death_in_the_simulation_ends_the_sessions_and_tells_the_rps(
        app: FastAPI, client: TestClient, admin: dict[str, str], receiver: Receiver,
        database: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    """One simulated day in which the signed-in citizen dies (the day's draws replaced, the
    stored clock left alone: other tests share this database)."""
    pin, rp, id_claims = _signed_in(app, client, admin, receiver)

    def dies(day: simulation.Day, population: int) -> Counter[str]:
        assert day.run("deaths", DeathRequest(pin=pin, date_of_death=day.today))
        return Counter(deaths=1)

    monkeypatch.setattr(simulation, "simulate_day", dies)
    monkeypatch.setattr(simulation.shared_clock, "save", lambda session, clock: None)
    logouts = backchannel.Logouts(KeyStore(database), app.state.settings,
                                  backchannel.dispatcher(app))
    day_before = SandboxClock()  # the simulated day ends now: the session still lives
    day_before.freeze(app.state.clock.now() - timedelta(days=1))
    simulation.simulate(database, days=1, seed=1, clock=day_before, logouts=logouts,
                        pki=lambda now: card_pki(database, seed=TEST_SEED, key_type="ec",
                                                 now=now))
    _told(app, client, receiver, rp, id_claims)
    assert _live_sessions(database, pin) == []


def _dies_in_the_simulation(monkeypatch: pytest.MonkeyPatch, pin: str) -> None:
    """The simulated day's draws replaced by the death of ``pin``; the stored clock left alone
    (other tests share this database)."""
    def dies(day: simulation.Day, population: int) -> Counter[str]:
        assert day.run("deaths", DeathRequest(pin=pin, date_of_death=day.today))
        return Counter(deaths=1)

    monkeypatch.setattr(simulation, "simulate_day", dies)
    monkeypatch.setattr(simulation.shared_clock, "save", lambda session, clock: None)


def _dead_closed_and_revoked(database: Database, pin: str) -> None:
    """What a death recorded directly does: deceased, account closed, no card left usable, no
    login session left."""
    from app.models.card import Card

    with database.read() as session:
        assert session.scalar(select(Citizen.status).where(Citizen.pin == pin)) == "deceased"
        assert session.scalar(select(Account.state).where(Account.pin == pin)) == accounts.CLOSED
        usable = session.scalars(select(Card.id).where(
            Card.pin == pin, Card.status.in_(("active", "held", "lost")))).all()
        assert usable == []
    assert _live_sessions(database, pin) == []


def test_a_death_simulated_through_the_admin_api_ends_the_sessions_and_tells_the_rps(
        app: FastAPI, client: TestClient, admin: dict[str, str], receiver: Receiver,
        database: Database, clock: SandboxClock, monkeypatch: pytest.MonkeyPatch) -> None:
    """POST /v1/admin/simulate hands the simulation the app's logouts, as the direct paths do."""
    pin, rp, id_claims = _signed_in(app, client, admin, receiver)
    _dies_in_the_simulation(monkeypatch, pin)
    clock.freeze(clock.now() - timedelta(days=1))  # the simulated day ends now: the session lives
    answered = client.post("/v1/admin/simulate", headers=admin, json={"days": 1})
    assert answered.status_code == 200, answered.text
    assert answered.json()["counts"] == {"deaths": 1}
    _told(app, client, receiver, rp, id_claims)
    _dead_closed_and_revoked(database, pin)


def test_a_death_simulated_by_the_command_line_ends_the_sessions_and_tells_the_rps(
        app: FastAPI, client: TestClient, admin: dict[str, str], receiver: Receiver,
        database: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    """`dancu simulate` sends the logouts itself (backchannel.own_logouts) before it returns."""
    from app.cli import events as events_cli

    pin, rp, id_claims = _signed_in(app, client, admin, receiver)
    _dies_in_the_simulation(monkeypatch, pin)
    day_before = SandboxClock()  # the stored clock as the command reads it, a day back
    day_before.freeze(app.state.clock.now() - timedelta(days=1))
    monkeypatch.setattr(events_cli, "_clock", lambda database: day_before)
    done = CliRunner().invoke(cli_app, ["simulate", "--days", "1", "--database-url", database.url],
                              env={"DANCU_SECRET_KEY": TEST_SECRET_KEY})
    assert done.exit_code == 0, done.output
    _told(app, client, receiver, rp, id_claims)  # sent before the command returned
    _dead_closed_and_revoked(database, pin)


def test_a_persona_locked_again_at_start_up_ends_its_sessions(
        app: FastAPI, client: TestClient, admin: dict[str, str], receiver: Receiver,
        database: Database) -> None:
    """The start-up's writes (personas shaped again) go through the same helper."""
    pin, rp, id_claims = _signed_in(app, client, admin, receiver)
    with backchannel.own_logouts(database, app.state.settings,
                                 now=app.state.clock.now()) as logouts, \
            logouts.write(database) as session:
        accounts.lock(session, accounts.get(session, pin), reason="authority",
                      now=app.state.clock.now(), actor="generator")
    _told(app, client, receiver, rp, id_claims)
    assert _live_sessions(database, pin) == []


@pytest.mark.parametrize("command", [["cards", "revoke"], ["cards", "hold"], ["events", "record"]],
                         ids=["cards-revoke", "cards-hold", "events-record-death"])
def test_the_other_commands_that_lock_or_close_end_the_sessions_too(
        app: FastAPI, client: TestClient, admin: dict[str, str], receiver: Receiver,
        database: Database, command: list[str]) -> None:
    """A card revoked or held locks the account, a death closes it: from the command line as
    from the API (docs/vneid.md, Back-Channel Logout)."""
    pin, rp, id_claims = _signed_in(app, client, admin, receiver)
    arguments = [*command, pin] if command[0] == "cards" else \
        [*command, "deaths", DeathRequest(pin=pin, date_of_death=app.state.clock.now().date())
         .model_dump_json()]
    done = CliRunner().invoke(cli_app, [*arguments, "--database-url", database.url],
                              env={"DANCU_SECRET_KEY": TEST_SECRET_KEY})
    assert done.exit_code == 0, done.output
    _told(app, client, receiver, rp, id_claims)  # sent before the command returned
    assert _live_sessions(database, pin) == []
