"""The back-channel logout dispatcher: fair between clients, bounded per client and at shutdown.

The receivers here are stand-ins for ``_send`` (the HTTP delivery is tested in
test_oidc_backchannel_logout): each is held on an event the test releases, so what happens while a
receiver is slow is observed without any timing; the outcomes are recorded in the real database.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from app.db import Database
from app.models.oidc import BackchannelDelivery
from app.services.vneid import backchannel
from app.settings import Settings

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
