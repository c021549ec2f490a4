"""Idempotency-Key: the same key and body give the same result once recorded; another body under
the key is refused. Concurrent births never share a PIN, on SQLite and PostgreSQL alike."""

from __future__ import annotations

import random
import threading
from datetime import date

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from app.db import Database
from app.models.events import LifeEvent
from app.schemas.events import BirthRequest
from app.services.cards.issuance import local_date
from app.services.events import life_events
from app.services.events.birth import register_birth
from app.settings import Settings
from tests.api.events_support import (  # noqa: F401 - frozen_today: the today fixture
    admin,
    event_count,
    frozen_today,
    married_couple,
    record,
)


def _birth(mother: str, today: date, name: str = "Hoa") -> dict[str, str]:
    return {"mother_pin": mother, "surname": "Đỗ", "given_name": name, "sex": "F",
            "birth_date": today.isoformat()}


def test_same_key_and_body_return_the_first_result_without_a_second_event(
        client: TestClient, database: Database, settings: Settings, today: date) -> None:
    family = married_couple(database)
    key = {"Idempotency-Key": "birth-1-" + family.wife}
    first = record(client, admin(settings), "births", _birth(family.wife, today), **key)
    events_after_first = event_count(database)
    again = record(client, admin(settings), "births", _birth(family.wife, today), **key)
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert event_count(database) == events_after_first


def test_same_key_with_another_body_is_refused(
        client: TestClient, database: Database, settings: Settings, today: date) -> None:
    family = married_couple(database)
    key = {"Idempotency-Key": "birth-2-" + family.wife}
    assert record(client, admin(settings), "births", _birth(family.wife, today),
                  **key).status_code == 201
    other = record(client, admin(settings), "births", _birth(family.wife, today, "Lan"), **key)
    assert other.status_code == 422
    assert other.json()["type"].endswith("/idempotency-key-reused")


def test_without_a_key_each_request_is_a_new_event(
        client: TestClient, database: Database, settings: Settings, today: date) -> None:
    family = married_couple(database)
    pins = {record(client, admin(settings), "births", _birth(family.wife, today)).json()["pin"]
            for _ in range(2)}
    assert len(pins) == 2  # twins


def test_a_refused_event_stores_nothing_under_its_key_so_it_can_be_corrected(
        client: TestClient, database: Database, settings: Settings, today: date) -> None:
    family = married_couple(database)
    key = {"Idempotency-Key": "death-" + family.husband}
    future = {"pin": family.husband, "date_of_death": "2999-01-01"}
    assert record(client, admin(settings), "deaths", future, **key).status_code == 422
    fixed = record(client, admin(settings), "deaths", {"pin": family.husband}, **key)
    assert fixed.status_code == 201
    again = record(client, admin(settings), "deaths", {"pin": family.husband}, **key)
    assert again.json() == fixed.json()


def _births_in_threads(database: Database, mother: str, today: date, *, threads: int,
                       each: int) -> list[str]:
    """Births in parallel transactions, every one drawing the same random numbers: without the
    serialisation they would all pick the same PIN."""
    pins: list[str] = []
    errors: list[BaseException] = []
    lock, start = threading.Lock(), threading.Barrier(threads)
    body = BirthRequest(mother_pin=mother, surname="Vũ", given_name="Minh", sex="M",
                        birth_date=today)

    def work() -> None:
        start.wait()
        try:
            for _ in range(each):
                with database.write() as session:
                    result = life_events.record(
                        session, "births", body, handler=register_birth,
                        now=_now(today), actor="concurrency-test",
                        tools=life_events.Tools(rng=random.Random(0)))
                with lock:
                    pins.append(str(result.body["pin"]))
        except BaseException as error:
            errors.append(error)

    workers = [threading.Thread(target=work) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert errors == []
    return pins


def _now(today: date):  # type: ignore[no-untyped-def]
    from datetime import UTC, datetime, time

    return datetime.combine(today, time(3), tzinfo=UTC)


def test_concurrent_births_in_one_bucket_never_share_a_pin(database: Database) -> None:
    today = local_date(_now(date.today()))
    family = married_couple(database)
    pins = _births_in_threads(database, family.wife, today, threads=8, each=3)
    assert len(pins) == 24
    assert len(set(pins)) == 24
    assert {p[:6] for p in pins} == {f"0012{today.year % 100:02d}"}
    with database.read() as session:
        seqs = list(session.scalars(select(LifeEvent.seq).where(LifeEvent.pin.in_(pins))))
        assert len(seqs) == len(set(seqs)) == 48  # each birth and its insurance event
        assert session.scalar(select(func.count()).select_from(LifeEvent)
                              .where(LifeEvent.recorded_by == "concurrency-test")) == 48



def test_concurrent_requests_with_one_key_record_one_event(database: Database) -> None:
    family = married_couple(database)
    body = BirthRequest(mother_pin=family.wife, surname="Vũ", given_name="Lam", sex="M",
                        birth_date=local_date(_now(date.today())))
    answers: list[dict[str, object]] = []
    start = threading.Barrier(6)

    def work() -> None:
        start.wait()
        with database.write() as session:
            result = life_events.record(
                session, "births", body, handler=register_birth, now=_now(date.today()),
                actor="same-key-test", idempotency_key="one-birth",
                tools=life_events.Tools(rng=random.Random()))
        answers.append(result.body)

    workers = [threading.Thread(target=work) for _ in range(6)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert len(answers) == 6
    assert all(answer == answers[0] for answer in answers)
    with database.read() as session:
        assert session.scalar(select(func.count()).select_from(LifeEvent)
                              .where(LifeEvent.recorded_by == "same-key-test")) == 2
