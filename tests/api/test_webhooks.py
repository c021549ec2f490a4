"""Webhook deliveries seen from the subscriber's side, with a real HTTP receiver on a local port:
signed (verified here with hmac, independently of the service), cut to the subscription's scopes,
never blocking the event when the receiver is down, retried with exponential backoff on the
sandbox clock, recorded attempt by attempt, failed after the last attempt and replayable."""

from __future__ import annotations

import select
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select as select_rows

from app.clock import SandboxClock
from app.db import Database
from app.models.events import Delivery
from app.services.events import webhook_sender, webhooks
from app.services.events.webhooks_worker import BackgroundWorker
from app.services.kit.shared_clock import ClockSync
from app.settings import Settings
from tests.api.events_support import (
    Receiver,
    admin,
    free_port,
    married_couple,
    record,
    running_receiver,
    single,
    verify_signature,
)
from tests.api.sharing_support import admin_headers, issue_token, new_client  # noqa: F401


@dataclass
class Subscriber:
    client: TestClient
    client_id: str
    secret: str

    @property
    def headers(self) -> dict[str, str]:
        """A fresh token each time: tests move the sandbox clock past token lifetimes."""
        return {"Authorization": f"Bearer {issue_token(self.client, self.client_id, self.secret)}"}


@pytest.fixture
def clock(app: FastAPI) -> Iterator[SandboxClock]:
    app.state.clock.freeze()
    yield app.state.clock
    app.state.clock.reset()


def _new_subscriber(client: TestClient, admin_headers: dict[str, str]) -> Iterator[Subscriber]:  # noqa: F811
    client_id, secret = new_client(client, admin_headers, scopes=["citizen.basic", "events.read"],
                                   purposes=["pension-office"])
    found = Subscriber(client, client_id, secret)
    yield found
    headers = found.headers
    for sub in client.get("/v1/subscriptions", headers=headers).json()["subscriptions"]:
        client.delete(f"/v1/subscriptions/{sub['id']}", headers=headers)


@pytest.fixture
def subscriber(client: TestClient, admin_headers: dict[str, str]) -> Iterator[Subscriber]:  # noqa: F811
    yield from _new_subscriber(client, admin_headers)


@pytest.fixture
def other_subscriber(client: TestClient,
                     admin_headers: dict[str, str]) -> Iterator[Subscriber]:  # noqa: F811
    yield from _new_subscriber(client, admin_headers)


@pytest.fixture
def change_settings(app: FastAPI, settings: Settings) -> Iterator[Callable[..., None]]:
    """Run the app with some settings changed (restored after the test)."""

    def change(**values: Any) -> None:
        app.state.settings = settings.model_copy(update=values)

    yield change
    app.state.settings = settings


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    yield from running_receiver(Receiver())


def _subscribe(client: TestClient, who: Subscriber, url: str, **extra: Any) -> dict[str, Any]:
    body = {"url": url, "event_types": ["death.registered"]} | extra
    response = client.post("/v1/subscriptions", json=body, headers=who.headers)
    assert response.status_code == 201, response.text
    return dict(response.json())


def _deliver(client: TestClient, settings: Settings) -> dict[str, int]:
    response = client.post("/v1/admin/events/deliver", headers=admin(settings))
    assert response.status_code == 200, response.text
    return dict(response.json())


def _deliveries(client: TestClient, who: Subscriber, sub: dict[str, Any]) -> list[Any]:
    response = client.get(f"/v1/subscriptions/{sub['id']}/deliveries", headers=who.headers)
    assert response.status_code == 200, response.text
    return list(response.json()["deliveries"])


def _death(client: TestClient, database: Database, settings: Settings) -> str:
    pin = married_couple(database).husband
    assert record(client, admin(settings), "deaths", {"pin": pin}).status_code == 201
    return pin


def test_delivery_is_signed_and_carries_only_the_subscription_scopes(
        client: TestClient, database: Database, settings: Settings, subscriber: Subscriber,
        receiver: Receiver, clock: SandboxClock) -> None:
    sub = _subscribe(client, subscriber, receiver.url, scopes=["citizen.basic"])
    receiver.secret = sub["secret"]
    pin = _death(client, database, settings)
    assert _deliver(client, settings)["delivered"] >= 1
    [body] = [b for b in receiver.verified() if b["pin"] == pin]
    assert body["type"] == "death.registered"
    assert set(body["data"]) == {"status", "status_date", "full_name"}  # no residence, spouse
    message = next(m for m in receiver.received if m.json()["pin"] == pin)
    assert message.headers["X-Dancu-Event-Type"] == "death.registered"
    assert not verify_signature(message, "whsec_wrong")
    tampered = type(message)(message.headers, message.body.replace(b"deceased", b"alive"))
    assert not verify_signature(tampered, sub["secret"])
    [delivery] = _deliveries(client, subscriber, sub)
    assert delivery["status"] == "delivered"
    assert [a["status_code"] for a in delivery["history"]] == [204]


def test_a_receiver_that_is_down_never_blocks_the_event_and_is_retried_with_backoff(
        client: TestClient, database: Database, settings: Settings, subscriber: Subscriber,
        clock: SandboxClock) -> None:
    port = free_port()
    sub = _subscribe(client, subscriber, f"http://127.0.0.1:{port}/hooks")
    pin = _death(client, database, settings)  # committed although nobody listens
    assert _deliver(client, settings)["retrying"] >= 1
    [first] = _deliveries(client, subscriber, sub)
    assert (first["status"], first["attempts"], first["last_status_code"]) == ("pending", 1, None)
    assert first["history"][0]["error"] == "delivery failed: no acceptable HTTP response"
    _deliver(client, settings)  # not due yet: 30 s of sandbox time must pass
    assert _deliveries(client, subscriber, sub)[0]["attempts"] == 1
    clock.advance(timedelta(seconds=31))
    _deliver(client, settings)
    [second] = _deliveries(client, subscriber, sub)
    assert second["attempts"] == 2
    receiver = Receiver(secret=sub["secret"])
    for _ in running_receiver(receiver, port):
        clock.advance(timedelta(seconds=59))
        _deliver(client, settings)  # the second delay is 60 s
        assert _deliveries(client, subscriber, sub)[0]["attempts"] == 2
        clock.advance(timedelta(seconds=2))
        _deliver(client, settings)
    [done] = _deliveries(client, subscriber, sub)
    assert done["status"] == "delivered"
    assert [a["status_code"] for a in done["history"]] == [None, None, 204]
    assert [b["pin"] for b in receiver.verified()] == [pin]


def test_backoff_doubles_and_the_delivery_fails_after_the_last_attempt(
        client: TestClient, database: Database, settings: Settings, subscriber: Subscriber,
        receiver: Receiver, clock: SandboxClock) -> None:
    assert [webhooks.backoff(n).total_seconds() for n in (1, 2, 3, 8, 20)] == [
        30, 60, 120, 3600, 3600]
    receiver.status = 503
    sub = _subscribe(client, subscriber, receiver.url)
    _death(client, database, settings)
    for attempt in range(1, webhooks.MAX_ATTEMPTS + 1):
        _deliver(client, settings)
        clock.advance(webhooks.backoff(attempt) + timedelta(seconds=1))
    [failed] = _deliveries(client, subscriber, sub)
    assert (failed["status"], failed["attempts"]) == ("failed", webhooks.MAX_ATTEMPTS)
    assert {a["status_code"] for a in failed["history"]} == {503}
    _deliver(client, settings)
    assert len(receiver.received) == webhooks.MAX_ATTEMPTS  # a failed delivery is left alone


def test_failed_deliveries_can_be_replayed_one_or_all(
        client: TestClient, database: Database, settings: Settings, subscriber: Subscriber,
        receiver: Receiver, clock: SandboxClock) -> None:
    receiver.status = 500
    sub = _subscribe(client, subscriber, receiver.url)
    receiver.secret = sub["secret"]
    pins = [_death(client, database, settings) for _ in range(2)]
    for attempt in range(1, webhooks.MAX_ATTEMPTS + 1):
        _deliver(client, settings)
        clock.advance(webhooks.backoff(attempt) + timedelta(seconds=1))
    first, second = sorted(_deliveries(client, subscriber, sub), key=lambda d: d["id"])
    assert {first["status"], second["status"]} == {"failed"}
    receiver.status, refused = 200, len(receiver.received)
    replayed = client.post(f"/v1/subscriptions/{sub['id']}/deliveries/{first['id']}/replay",
                           headers=subscriber.headers)
    assert replayed.status_code == 200, replayed.text
    assert (replayed.json()["status"], replayed.json()["attempts"]) == ("pending", 0)
    _deliver(client, settings)
    statuses = {d["id"]: d["status"] for d in _deliveries(client, subscriber, sub)}
    assert statuses == {first["id"]: "delivered", second["id"]: "failed"}
    bulk = client.post(f"/v1/subscriptions/{sub['id']}/replay", headers=subscriber.headers)
    assert bulk.json() == {"replayed": 1}
    _deliver(client, settings)
    assert {d["status"] for d in _deliveries(client, subscriber, sub)} == {"delivered"}
    accepted = receiver.received[refused:]
    assert all(verify_signature(m, sub["secret"]) for m in accepted)
    assert sorted(m.json()["pin"] for m in accepted) == sorted(pins)


def test_a_paused_subscription_keeps_its_deliveries_until_resumed(
        client: TestClient, database: Database, settings: Settings, subscriber: Subscriber,
        receiver: Receiver, clock: SandboxClock) -> None:
    sub = _subscribe(client, subscriber, receiver.url)
    paused = client.patch(f"/v1/subscriptions/{sub['id']}", json={"status": "paused"},
                          headers=subscriber.headers)
    assert paused.json()["status"] == "paused"
    _death(client, database, settings)
    _deliver(client, settings)
    assert receiver.received == []
    client.patch(f"/v1/subscriptions/{sub['id']}", json={"status": "active"},
                 headers=subscriber.headers)
    clock.advance(webhooks.LEASE + timedelta(seconds=1))
    _deliver(client, settings)
    assert len(receiver.received) == 1


def test_only_subscribed_event_types_are_delivered(
        client: TestClient, database: Database, settings: Settings, subscriber: Subscriber,
        receiver: Receiver, clock: SandboxClock) -> None:
    sub = _subscribe(client, subscriber, receiver.url, event_types=["name.changed"])
    _death(client, database, settings)
    pin = single(database, sex="F", born=date(1991, 1, 1))
    assert record(client, admin(settings), "name-changes",
                  {"pin": pin, "given_name": "Nga"}).status_code == 201
    _deliver(client, settings)
    assert [(m.json()["type"], m.json()["pin"]) for m in receiver.received] == [
        ("name.changed", pin)]
    assert len(_deliveries(client, subscriber, sub)) == 1


@pytest.mark.parametrize(("change", "problem"), [
    ({"url": "http://rp.example/hooks"}, "url: must use https"),
    ({"url": "http://[::1/hooks"}, "url: must be an absolute URI"),
    ({"url": "https://rp.example/ho oks"},
     "url: must not contain whitespace or control characters"),
    ({"event_types": ["birth.happened"]}, "event_types: unknown type"),
    ({"scopes": ["citizen.residence"]}, "scopes: 'citizen.residence' is not a payload scope"),
    ({"scopes": []}, "scopes: at least one payload scope"),
    ({"purpose": "marketing"}, "purpose: not one of the client's purposes"),
])
def test_subscription_rules_are_enforced(client: TestClient, subscriber: Subscriber,
                                         change: dict[str, Any], problem: str) -> None:
    body = {"url": "https://rp.example/hooks", "event_types": ["*"]} | change
    response = client.post("/v1/subscriptions", json=body, headers=subscriber.headers)
    assert response.status_code == 422
    assert response.json()["type"].endswith("/invalid-subscription")
    assert any(p.startswith(problem) for p in response.json()["problems"])


@pytest.mark.parametrize("field", ["event_types", "scopes"])
@pytest.mark.parametrize("value", ["Nguyễn Văn An 001087012345", "x" * 5000])
def test_a_refused_subscription_never_echoes_what_was_sent(
        client: TestClient, subscriber: Subscriber, field: str, value: str) -> None:
    """Personal data put where a type or a scope goes, or an oversized one, is not sent back."""
    body = {"url": "https://rp.example/hooks", "event_types": ["*"], field: [value]}
    response = client.post("/v1/subscriptions", json=body, headers=subscriber.headers)
    assert response.status_code == 422
    assert "001087012345" not in response.text
    assert "Nguy" not in response.text
    assert len(response.text) < 1000


def test_a_client_sees_only_its_own_subscriptions(
        client: TestClient, subscriber: Subscriber, admin_headers: dict[str, str],  # noqa: F811
        receiver: Receiver) -> None:
    sub = _subscribe(client, subscriber, receiver.url)
    other_id, secret = new_client(client, admin_headers, scopes=["citizen.basic", "events.read"])
    other = {"Authorization": f"Bearer {issue_token(client, other_id, secret)}"}
    assert client.get(f"/v1/subscriptions/{sub['id']}", headers=other).status_code == 404
    assert client.get("/v1/subscriptions", headers=other).json() == {"subscriptions": []}
    assert client.get("/v1/subscriptions").status_code == 401
    listed = client.get(f"/v1/subscriptions/{sub['id']}", headers=subscriber.headers).json()
    assert "secret" not in listed


def test_the_background_worker_delivers_without_a_manual_pass(
        client: TestClient, database: Database, settings: Settings, subscriber: Subscriber,
        receiver: Receiver, app: FastAPI) -> None:
    sub = _subscribe(client, subscriber, receiver.url)
    receiver.secret = sub["secret"]
    worker = BackgroundWorker(database, app.state.clock, ClockSync(app.state.clock),
                              sender=webhook_sender.for_settings(settings), interval=0.05)
    worker.start()
    try:
        pin = _death(client, database, settings)
        assert receiver.arrived.wait(30)
    finally:
        worker.stop()
    assert [b["pin"] for b in receiver.verified()] == [pin]


@pytest.mark.parametrize("url", [
    "https://rp.example/hooks\r\nX-Injected: 1", "https://rp.example/hooks\n", "https://rp.example/\t",
    "https://rp.example/\u0085hooks", "https://rp.example/\x00", "https://rp.example/\u2028"])
def test_urls_with_control_characters_are_refused(client: TestClient,
                                                  subscriber: Subscriber, url: str) -> None:
    """Refused with a 422 problem (here or at the service's edge), never stored."""
    response = client.post("/v1/subscriptions", json={"url": url, "event_types": ["*"]},
                           headers=subscriber.headers)
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/problem+json")
    assert client.get("/v1/subscriptions", headers=subscriber.headers).json() == {
        "subscriptions": []}


@pytest.mark.parametrize(("url", "problem"), [
    ("https://169.254.169.254/latest/meta-data/", "url: a cloud metadata address is not allowed"),
    ("https://[::ffff:169.254.169.254]/latest", "url: a cloud metadata address is not allowed"),
    ("https://10.0.0.1/hooks", "url: a private address is not allowed"),
    ("https://[fc00::1]/hooks", "url: a private address is not allowed"),
    ("https://100.64.0.1/hooks", "url: a shared (CGNAT) address is not allowed"),
    ("https://[fe80::1]/hooks", "url: a link-local address is not allowed"),
    ("https://0.0.0.0/hooks", "url: an unspecified address is not allowed"),
    ("https://224.0.0.1/hooks", "url: a multicast address is not allowed"),
    ("https://2130706433/hooks",
     "url: an IP address not written as four decimal numbers is not allowed"),
    ("https://0x7f.1/hooks",
     "url: an IP address not written as four decimal numbers is not allowed"),
    ("http://127.0.0.1:8000/v1/admin/clients", "url: the service's own address is not allowed"),
])
def test_subscriptions_to_addresses_webhooks_may_not_reach_are_refused(
        client: TestClient, subscriber: Subscriber, url: str, problem: str) -> None:
    body = {"url": url, "event_types": ["*"]}
    response = client.post("/v1/subscriptions", json=body, headers=subscriber.headers)
    assert response.status_code == 422, response.text
    assert response.json()["type"].endswith("/webhook-address-refused")
    assert response.json()["problems"] == [problem]


def test_loopback_subscriptions_follow_the_setting(
        client: TestClient, subscriber: Subscriber,
        change_settings: Callable[..., None]) -> None:
    urls = ["http://127.0.0.1:9/hooks", "http://localhost:9/hooks", "http://[::1]:9/hooks"]
    for url in urls:
        _subscribe(client, subscriber, url)  # allowed in the sandbox by default
    change_settings(webhook_allow_loopback=False)
    for url in urls:
        response = client.post("/v1/subscriptions", json={"url": url, "event_types": ["*"]},
                               headers=subscriber.headers)
        assert response.status_code == 422, response.text
        assert response.json()["problems"] == ["url: a loopback address is not allowed"]
    [sub, *_] = client.get("/v1/subscriptions", headers=subscriber.headers).json()["subscriptions"]
    moved = client.patch(f"/v1/subscriptions/{sub['id']}", json={"url": "http://127.0.0.1:7/"},
                         headers=subscriber.headers)
    assert moved.json()["type"].endswith("/webhook-address-refused")


def test_a_name_that_resolves_to_a_refused_address_fails_at_delivery(
        client: TestClient, database: Database, settings: Settings, subscriber: Subscriber,
        receiver: Receiver, clock: SandboxClock, monkeypatch: pytest.MonkeyPatch,
        change_settings: Callable[..., None]) -> None:
    port = receiver.url.split(":")[2].split("/")[0]
    sub = _subscribe(client, subscriber, f"https://hooks.rebind.test:{port}/hooks")
    monkeypatch.setattr(webhook_sender, "lookup", lambda host, port: ["127.0.0.1"])
    change_settings(webhook_allow_loopback=False)
    _death(client, database, settings)
    _deliver(client, settings)
    [delivery] = _deliveries(client, subscriber, sub)
    assert [(a["status_code"], a["error"]) for a in delivery["history"]] == [
        (None, "delivery refused: address not allowed")]
    assert receiver.received == []


# --- a slow subscriber ----------------------------------------------------------------------------

TRICKLED_REPLY = b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n"


@dataclass
class Trickler:
    """A receiver that answers one byte every 0.5 s and notes how its answer ended, and how many
    deliveries the other (fast) receiver had received by then."""

    url: str
    fast: Receiver
    ended: str = ""
    fast_received_by_then: int = -1
    done: threading.Event = field(default_factory=threading.Event)

    def end(self, how: str) -> None:
        self.ended, self.fast_received_by_then = how, len(self.fast.received)
        self.done.set()


def _read_request(connection: socket.socket) -> None:
    data = b""
    while b"\r\n\r\n" not in data:
        data += connection.recv(65536) or b"\r\n\r\n"
    head, _, body = data.partition(b"\r\n\r\n")
    length = next((int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                   if line.lower().startswith(b"content-length:")), 0)
    while len(body) < length:
        body += connection.recv(65536) or b" " * length


def _trickle(connection: socket.socket) -> str:
    _read_request(connection)
    for byte in TRICKLED_REPLY:
        closed, _, _ = select.select([connection], [], [], 0.5)
        try:
            if closed and not connection.recv(1):
                return "cut off"
            connection.sendall(bytes([byte]))
        except OSError:
            return "cut off"
    return "finished"


def _trickling(fast: Receiver) -> Iterator[Trickler]:
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(60)
    trickler = Trickler(f"http://127.0.0.1:{server.getsockname()[1]}/hooks", fast)

    def serve() -> None:
        with server:
            connection = server.accept()[0]
            with connection:
                trickler.end(_trickle(connection))

    threading.Thread(target=serve, daemon=True).start()
    yield trickler


def _claimed_first(database: Database, sub: dict[str, Any]) -> None:
    """Make the subscription's delivery due a second before the others (claimed first)."""
    with database.write() as session:
        delivery = session.scalars(select_rows(Delivery).where(
            Delivery.subscription_id == sub["id"])).one()
        delivery.next_attempt_at -= timedelta(seconds=1)


def test_a_slow_subscriber_neither_delays_another_nor_outlasts_the_deadline(
        client: TestClient, database: Database, settings: Settings, subscriber: Subscriber,
        other_subscriber: Subscriber, receiver: Receiver, clock: SandboxClock,
        change_settings: Callable[..., None]) -> None:
    change_settings(webhook_deadline_seconds=2.0)
    for trickler in _trickling(receiver):
        slow = _subscribe(client, subscriber, trickler.url)
        fast = _subscribe(client, other_subscriber, receiver.url)
        _death(client, database, settings)
        _claimed_first(database, slow)
        _deliver(client, settings)
        assert trickler.done.wait(60)
    assert trickler.ended == "cut off"  # the attempt ended at its deadline, not after the trickle
    assert trickler.fast_received_by_then == 1  # the other client was served meanwhile
    [slow_delivery] = _deliveries(client, subscriber, slow)
    assert [(a["status_code"], a["error"]) for a in slow_delivery["history"]] == [
        (None, "delivery failed: no acceptable HTTP response")]
    assert _deliveries(client, other_subscriber, fast)[0]["status"] == "delivered"


def test_after_an_attempt_without_answer_a_subscription_waits_for_the_next_pass(
        client: TestClient, database: Database, settings: Settings, subscriber: Subscriber,
        clock: SandboxClock) -> None:
    sub = _subscribe(client, subscriber, f"http://127.0.0.1:{free_port()}/hooks")
    _death(client, database, settings)
    _death(client, database, settings)
    _deliver(client, settings)
    first, second = sorted(_deliveries(client, subscriber, sub), key=lambda d: d["id"])
    assert (first["attempts"], second["attempts"], second["status"]) == (1, 0, "pending")
    _deliver(client, settings)  # the second is due at once, the first only after 30 s
    first, second = sorted(_deliveries(client, subscriber, sub), key=lambda d: d["id"])
    assert (first["attempts"], second["attempts"]) == (1, 1)


def _subscriptions_with_due_deliveries(database: Database, clock: SandboxClock) -> int:
    """Subscriptions with deliveries due now (other tests' too: the database is shared)."""
    with database.read() as session:
        return len(set(session.scalars(select_rows(Delivery.subscription_id).where(
            Delivery.status == "pending", Delivery.next_attempt_at <= clock.now()))))


def test_a_subscription_with_a_backlog_never_starves_the_others_in_a_pass(
        client: TestClient, database: Database, settings: Settings, subscriber: Subscriber,
        other_subscriber: Subscriber, receiver: Receiver, clock: SandboxClock,
        monkeypatch: pytest.MonkeyPatch) -> None:
    down = _subscribe(client, subscriber, f"http://127.0.0.1:{free_port()}/hooks")
    for _ in range(3):
        _death(client, database, settings)
    up = _subscribe(client, other_subscriber, receiver.url)
    receiver.secret = up["secret"]
    # a pass smaller than the backlog: one slot per subscription with deliveries due, one more
    busy = _subscriptions_with_due_deliveries(database, clock)
    monkeypatch.setattr(webhooks, "PASS_SIZE", busy + 2)
    pin = _death(client, database, settings)  # the receiver that is up has one delivery
    _deliver(client, settings)
    assert [b["pin"] for b in receiver.verified()] == [pin]
    assert _deliveries(client, other_subscriber, up)[0]["status"] == "delivered"
    assert sorted(d["attempts"] for d in _deliveries(client, subscriber, down)) == [0, 0, 0, 1]
