"""The back-channel logout dispatcher: fair between clients, bounded per client and at shutdown,
and stopped with its tenant, whose database a late delivery never recreates.

The receivers here are stand-ins for ``_send`` (the HTTP delivery is tested in
test_oidc_backchannel_logout): each is held on an event the test releases, so what happens while a
receiver is slow is observed without any timing; the outcomes are recorded in the real database.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.engine import make_url

from app.db import Database
from app.edge import tenants as edge_tenants
from app.models.oidc import BackchannelDelivery
from app.services.sandbox import tenants
from app.services.vneid import backchannel
from app.settings import Settings
from tests.api.sharing_support import admin_headers

__all__ = ["admin_headers"]
NOW = datetime(2026, 1, 1, tzinfo=UTC)


class Receivers:
    """``_send`` stand-in: clients named in ``held`` wait for ``release``; every send is noted."""

    def __init__(self, *held: str) -> None:
        self.held = set(held)
        self.release = threading.Event()
        self.sent: list[str] = []
        self.under_way = threading.Semaphore(0)  # one per held send started
        self.fast_done: dict[str, threading.Event] = {}
        self._guard = threading.Lock()

    def send(self, notice: backchannel.Notice, settings: Settings) -> backchannel.Outcome:
        with self._guard:
            self.sent.append(notice.client_id)
        if notice.client_id in self.held:
            self.under_way.release()
            assert self.release.wait(60), "the test never released the receiver"
        else:
            self.fast_done.setdefault(notice.client_id, threading.Event()).set()
        return backchannel.Outcome(notice, 200, None)

    def done(self, client_id: str) -> threading.Event:
        with self._guard:
            return self.fast_done.setdefault(client_id, threading.Event())


@pytest.fixture
def receivers(monkeypatch: pytest.MonkeyPatch) -> Iterator[Receivers]:
    made = Receivers()
    monkeypatch.setattr(backchannel, "_send", made.send)
    yield made
    made.release.set()


def _client() -> str:
    return f"bcl-{secrets.token_hex(6)}"


def _notices(client_id: str, count: int) -> list[backchannel.Notice]:
    return [backchannel.Notice(client_id, f"sid-{secrets.token_hex(4)}",
                               "https://rp.example/logout", "token") for _ in range(count)]


def _outcomes(database: Database, client_id: str) -> list[tuple[int | None, str | None]]:
    with database.read() as session:
        rows = session.scalars(select(BackchannelDelivery).where(
            BackchannelDelivery.client_id == client_id)).all()
    return sorted(((row.status_code, row.error) for row in rows), key=repr)


def test_a_slow_receiver_holds_one_thread_while_the_other_clients_logouts_go_on(
        receivers: Receivers, database: Database, settings: Settings) -> None:
    slow, first, second = _client(), _client(), _client()
    receivers.held.add(slow)
    dispatcher = backchannel.Dispatcher(threads=2)
    dispatcher.submit(database, _notices(slow, 5), settings=settings, now=NOW)
    dispatcher.submit(database, _notices(first, 1) + _notices(second, 1), settings=settings,
                      now=NOW)
    assert receivers.done(first).wait(60)
    assert receivers.done(second).wait(60)
    assert receivers.sent.count(slow) == 1  # the slow client's others wait their turn
    receivers.release.set()
    assert dispatcher.wait(60)
    assert _outcomes(database, slow) == [(200, None)] * 5
    assert dispatcher.close()


def test_clients_with_queued_logouts_are_served_in_turns(
        receivers: Receivers, database: Database, settings: Settings) -> None:
    one, two = _client(), _client()
    dispatcher = backchannel.Dispatcher(threads=1)
    dispatcher.submit(database, _notices(one, 3) + _notices(two, 3), settings=settings, now=NOW)
    assert dispatcher.wait(60)
    assert receivers.sent == [one, two] * 3
    assert dispatcher.close()


def test_past_the_per_client_cap_a_delivery_is_recorded_as_dropped_never_lost(
        receivers: Receivers, database: Database, settings: Settings) -> None:
    crowded, other = _client(), _client()
    receivers.held.add(crowded)
    dispatcher = backchannel.Dispatcher(threads=2, per_client=2)
    dispatcher.submit(database, _notices(crowded, 5) + _notices(other, 2), settings=settings,
                      now=NOW)
    receivers.release.set()
    assert dispatcher.wait(60)
    assert _outcomes(database, crowded) == sorted(
        [(200, None)] * 2 + [(None, backchannel.DROPPED_QUEUE_FULL)] * 3, key=repr)
    assert _outcomes(database, other) == [(200, None)] * 2  # the cap is per client
    assert dispatcher.close()


def test_shutdown_waits_a_bounded_time_and_records_the_logouts_it_did_not_make(
        receivers: Receivers, database: Database, settings: Settings,
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """A receiver that never answers (as if the delivery deadline did not hold) cannot hang the
    shutdown: ``close`` returns ``False``, the queued logouts are recorded as not made, and the
    one under way, ending after ``close`` gave up on it (its database may be gone by then), is
    logged, not recorded."""
    monkeypatch.setattr(backchannel, "DELIVERY_DEADLINE_SECONDS", 0.2)
    stuck = _client()
    receivers.held.add(stuck)
    dispatcher = backchannel.Dispatcher(threads=1)
    dispatcher.submit(database, _notices(stuck, 3), settings=settings, now=NOW)
    assert receivers.under_way.acquire(timeout=60)
    assert dispatcher.close(patience=0.1) is False
    assert _outcomes(database, stuck) == [(None, backchannel.NOT_MADE_STOPPED)] * 2
    dispatcher.submit(database, _notices(stuck, 1), settings=settings, now=NOW)  # after: none
    receivers.release.set()
    assert dispatcher.wait(60)
    assert dispatcher.join(60)
    assert dispatcher.threads_alive() == 0
    assert _outcomes(database, stuck) == [(None, backchannel.NOT_MADE_STOPPED)] * 2
    assert receivers.sent == [stuck]
    assert any(stuck in line and "not recorded" in line for line in caplog.messages)


# --- tenants --------------------------------------------------------------------------------------


def _tenant(client: TestClient, headers: dict[str, str]) -> str:
    made = client.post("/v1/sandbox/tenants", json={"size": 300}, headers=headers)
    assert made.status_code == 201, made.text
    tenant_id = str(made.json()["id"])
    inside = client.get("/v1/sandbox/clock", headers={**headers, "X-Sandbox-Tenant": tenant_id})
    assert inside.status_code == 200, inside.text  # its app is built
    return tenant_id


def _built(app: FastAPI, tenant_id: str) -> Any:
    return edge_tenants.tenant_apps(app)._apps[tenant_id]


def _hold_a_delivery(built: Any, receivers: Receivers, settings: Settings
                     ) -> backchannel.Dispatcher:
    """A tenant logout under way (held) and one queued behind it."""
    client_id = _client()
    receivers.held.add(client_id)
    dispatcher = backchannel.dispatcher(built.app)
    dispatcher.submit(built.database, _notices(client_id, 2), settings=settings, now=NOW)
    assert receivers.under_way.acquire(timeout=60)
    return dispatcher


def _files(settings: Settings, tenant_id: str) -> list[Path]:
    path = make_url(tenants.database_url(settings.database_url, tenant_id)).database or ""
    return [Path(f"{path}{suffix}") for suffix in ("", "-wal", "-shm", "-journal")]


def test_deleting_a_tenant_stops_its_logout_threads_and_no_late_delivery_recreates_its_database(
        app: FastAPI, client: TestClient, admin_headers: dict[str, str], settings: Settings,
        receivers: Receivers, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(backchannel, "DELIVERY_DEADLINE_SECONDS", 0.2)
    tenant_id = _tenant(client, admin_headers)
    built = _built(app, tenant_id)
    dispatcher = _hold_a_delivery(built, receivers, settings)
    assert client.delete(f"/v1/sandbox/tenants/{tenant_id}",
                         headers=admin_headers).status_code == 204
    assert dispatcher.closed
    receivers.release.set()  # the held delivery ends after the drop: its record fails
    assert dispatcher.wait(60)
    assert dispatcher.join(60)
    assert dispatcher.threads_alive() == 0
    if settings.database_url.startswith("sqlite"):
        assert [path for path in _files(settings, tenant_id) if path.exists()] == []


def test_resetting_a_tenant_stops_its_logout_threads_before_its_database_is_replaced(
        app: FastAPI, client: TestClient, admin_headers: dict[str, str], settings: Settings,
        receivers: Receivers, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(backchannel, "DELIVERY_DEADLINE_SECONDS", 0.2)
    tenant_id = _tenant(client, admin_headers)
    try:
        built = _built(app, tenant_id)
        dispatcher = _hold_a_delivery(built, receivers, settings)
        assert client.post(f"/v1/sandbox/tenants/{tenant_id}/reset",
                           headers=admin_headers).status_code == 200
        assert dispatcher.closed
        receivers.release.set()
        assert dispatcher.wait(60)
        assert dispatcher.join(60)
        assert dispatcher.threads_alive() == 0
        fresh = Database.connect(tenants.database_url(settings.database_url, tenant_id),
                                 existing=True)
        try:
            with fresh.read() as session:  # the reset database: nothing of the old one's
                assert session.scalars(select(BackchannelDelivery)).all() == []
        finally:
            fresh.dispose()
    finally:
        client.delete(f"/v1/sandbox/tenants/{tenant_id}", headers=admin_headers)


def test_a_tenant_app_evicted_from_the_cache_stops_its_logout_threads_once_its_queue_is_sent(
        app: FastAPI, client: TestClient, admin_headers: dict[str, str], settings: Settings,
        receivers: Receivers, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(backchannel, "STOP_PATIENCE_SECONDS", 60.0)  # all queued are sent
    first = _tenant(client, admin_headers)
    second = None
    try:
        built = _built(app, first)
        dispatcher = _hold_a_delivery(built, receivers, settings)
        monkeypatch.setattr(edge_tenants, "MAX_CACHED", 1)
        second = _tenant(client, admin_headers)  # its app pushes the first one's out
        assert first not in edge_tenants.tenant_apps(app)._apps
        receivers.release.set()
        assert dispatcher.join(60)
        assert dispatcher.closed
        assert dispatcher.threads_alive() == 0
        with built.database.read() as session:  # the tenant lives on: both were sent
            assert [row.status_code for row in session.scalars(
                select(BackchannelDelivery))] == [200, 200]
    finally:
        for tenant_id in (first, second):
            if tenant_id is not None:
                client.delete(f"/v1/sandbox/tenants/{tenant_id}", headers=admin_headers)


def test_a_tenant_database_is_never_created_by_opening_it(tmp_path: Path) -> None:
    missing = tmp_path / "gone.db"
    database = Database.connect(f"sqlite:///{missing}", existing=True)
    try:
        with pytest.raises(Exception, match="unable to open"), database.write() as session:
            session.execute(select(1))
    finally:
        database.dispose()
    assert list(tmp_path.iterdir()) == []
